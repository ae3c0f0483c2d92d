#!/usr/bin/env node
// End-to-end check of the stomp-relay demo page against two running nodes.
//
//   NODE_A_URL=http://127.0.0.1:8080 NODE_B_URL=http://127.0.0.1:8081 \
//   SCREENSHOT_PATH=/tmp/two-nodes.png npm run e2e
//
// Env: NODE_A_URL, NODE_B_URL (required), SCREENSHOT_PATH (optional),
//      CHROMIUM_PATH (default /usr/bin/chromium), E2E_ONLY=<part of a test name>,
//      E2E_VERBOSE=1 (page console), E2E_HEADFUL=1 (debugging with a display).
// Prints "N passed, M failed" as the last line; exit code 1 on any failure.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const NODE_A_URL = process.env.NODE_A_URL;
const NODE_B_URL = process.env.NODE_B_URL;
const SCREENSHOT_PATH = process.env.SCREENSHOT_PATH || '';
const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const WAIT_MS = 10_000; // upper bound for every single wait
const QUIET_MS = 1_000; // how long counts must stay unchanged
const PRESENCE_MS = 2_000; // the demo's promise: a sign-in or sign-out shows on every page within 2 s
const KICK_MS = 1_000 + PRESENCE_MS; // a disconnected user's sessions close within 1 s, then leave the lists within 2 s
const NO_RECONNECT_MS = 2_500; // watch a page disconnected by the server this long (stompjs would retry after 1 s)

if (!NODE_A_URL || !NODE_B_URL) {
  console.error('NODE_A_URL and NODE_B_URL must be set, e.g. http://127.0.0.1:8080 and http://127.0.0.1:8081');
  console.log('0 passed, 1 failed');
  process.exit(2);
}

const RUN = crypto.randomBytes(3).toString('hex');
let userSeq = 0;
/** Random, valid ([A-Za-z0-9_.-]{1,32}) and unique per run. */
const randomUser = (prefix) => `${prefix}_${RUN}_${++userSeq}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sel = (testId) => `[data-testid="${testId}"]`;

// --------------------------------------------------------------------------
// Browser & tab helpers
// --------------------------------------------------------------------------

let browser;
/** every context opened by the current test, closed after it */
let openContexts = [];
/** uncaught exceptions in pages of the current test */
let pageErrors = [];

async function openTab(baseUrl, { user = null, width = 640, height = 900, label = '', frames = false } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  openContexts.push(context);
  if (frames) await context.addInitScript(recordFrames);
  context.setDefaultTimeout(WAIT_MS);
  context.setDefaultNavigationTimeout(WAIT_MS);
  const page = await context.newPage();
  const name = label || `${user ?? 'anonymous'}@${new URL(baseUrl).host}`;
  page.on('pageerror', (err) => pageErrors.push(`${name}: ${err.message}`));
  if (process.env.E2E_VERBOSE) page.on('console', (m) => console.log(`  [${name}] ${m.type()}: ${m.text()}`));
  await page.goto(new URL('/', baseUrl).toString());
  await waitForState(page, 'connected', `${name} connects`);
  if (user) {
    await page.fill(sel('username'), user);
    await page.click(sel('sign-in'));
    await page.waitForFunction(
      (u) => window.__stompRelay?.username === u && window.__stompRelay.state === 'connected',
      user,
      { timeout: WAIT_MS },
    ).catch(async (e) => {
      throw new Error(`${name}: sign-in did not complete (${e.message.split('\n')[0]}); errors on page: ${JSON.stringify(await errorLines(page))}`);
    });
  }
  return page;
}

/** Opens tabs one after another (parallel opening only adds CPU contention on small machines). */
async function openTabs(openers) {
  const pages = [];
  for (const open of openers) pages.push(await open());
  return pages;
}

async function waitForState(page, state, what = `state ${state}`) {
  try {
    await page.waitForFunction((s) => document.querySelector('[data-testid="state"]')?.textContent === s, state, {
      timeout: WAIT_MS,
      polling: 50,
    });
  } catch (e) {
    const current = await page.textContent(sel('state')).catch(() => '?');
    throw new Error(`timed out waiting for: ${what} (state is "${current}"); errors on page: ${JSON.stringify(await errorLines(page))}`);
  }
}

async function nodeOf(page) {
  return (await page.textContent(sel('node')))?.trim();
}

/** [{value, origin}] in arrival order (the page lists newest first). */
async function events(page) {
  const items = await page.$$eval(`${sel('events')} ${sel('event')}`, (els) =>
    els.map((e) => ({ value: e.dataset.value, origin: e.dataset.origin, text: e.querySelector('.main')?.textContent ?? e.textContent })),
  );
  return items.reverse();
}

async function itemTexts(page, listId, itemId) {
  const texts = await page.$$eval(`${sel(listId)} ${sel(itemId)}`, (els) =>
    els.map((e) => [...e.children].map((c) => c.textContent).join(' | ') || (e.textContent ?? '')),
  );
  return texts.reverse();
}

async function errorLines(page) {
  return page
    .$$eval(`${sel('errors')} ${sel('error-item')}`, (els) => els.map((e) => e.querySelector('.main')?.textContent ?? e.textContent ?? ''))
    .catch(() => []);
}

async function waitForCount(page, listId, itemId, count, what) {
  try {
    await page.waitForFunction(
      ({ list, item, n }) => document.querySelectorAll(`[data-testid="${list}"] [data-testid="${item}"]`).length >= n,
      { list: listId, item: itemId, n: count },
      { timeout: WAIT_MS, polling: 50 },
    );
  } catch {
    const have = await itemTexts(page, listId, itemId);
    throw new Error(`timed out waiting for ${what}: have ${JSON.stringify(have)}; errors on page: ${JSON.stringify(await errorLines(page))}`);
  }
}

async function waitForText(page, listId, itemId, text, what) {
  try {
    await page.waitForFunction(
      ({ list, item, t }) =>
        [...document.querySelectorAll(`[data-testid="${list}"] [data-testid="${item}"]`)].some((e) => e.textContent?.includes(t)),
      { list: listId, item: itemId, t: text },
      { timeout: WAIT_MS, polling: 50 },
    );
  } catch {
    const have = await itemTexts(page, listId, itemId);
    throw new Error(`timed out waiting for ${what}: have ${JSON.stringify(have)}; errors on page: ${JSON.stringify(await errorLines(page))}`);
  }
}

async function assertEvents(page, expectedOrigin, who) {
  const got = await events(page);
  assert.deepEqual(
    got.map((e) => e.value),
    ['1', '2', '3'],
    `${who}: expected events 1,2,3 exactly once, got ${JSON.stringify(got.map((e) => e.text))}`,
  );
  if (expectedOrigin) {
    for (const e of got) assert.equal(e.origin, expectedOrigin, `${who}: event "${e.text}" should come from ${expectedOrigin}`);
  }
}

async function assertNoEvents(page, who) {
  const got = await events(page);
  assert.equal(got.length, 0, `${who}: expected no events, got ${JSON.stringify(got.map((e) => e.text))}`);
}

/** The Online panel's rows: [{user, name, sessions, nodes, disconnect}] in page order. */
async function onlineRows(page) {
  return page
    .$$eval(`${sel('online')} ${sel('online-user')}`, (els) =>
      els.map((e) => ({
        user: e.dataset.user,
        name: e.querySelector('[data-testid="online-name"]')?.textContent,
        sessions: e.querySelector('[data-testid="online-sessions"]')?.textContent,
        nodes: e.querySelector('[data-testid="online-nodes"]')?.textContent,
        disconnect: Boolean(e.querySelector('[data-testid="disconnect"]')),
      })),
    )
    .catch(() => []);
}

/**
 * Waits until the page's Online panel shows every user of `expected` exactly as given
 * ({user: {sessions: '2 sessions', nodes: 'node-a, node-b'}}) and none of those given as null,
 * at most `timeout` ms after `since`. Returns the ms from `since`.
 */
async function waitForOnline(page, expected, what, { since = Date.now(), timeout = PRESENCE_MS } = {}) {
  try {
    await page.waitForFunction(
      (exp) => {
        const rows = new Map(
          [...document.querySelectorAll('[data-testid="online"] [data-testid="online-user"]')].map((e) => [e.dataset.user, e]),
        );
        const text = (row, id) => row.querySelector(`[data-testid="${id}"]`)?.textContent;
        return Object.entries(exp).every(([user, want]) => {
          const row = rows.get(user);
          if (want === null) return !row;
          return Boolean(row) && text(row, 'online-name') === user && text(row, 'online-sessions') === want.sessions && text(row, 'online-nodes') === want.nodes;
        });
      },
      expected,
      { timeout: Math.max(1, since + timeout - Date.now()), polling: 50 },
    );
  } catch {
    const summary = await page.textContent(sel('online-summary')).catch(() => '?');
    throw new Error(
      `not within ${timeout} ms: ${what}; expected ${JSON.stringify(expected)}; the page shows "${summary}" ${JSON.stringify(await onlineRows(page))}; errors on page: ${JSON.stringify(await errorLines(page))}`,
    );
  }
  return Date.now() - since;
}

/** Records every state the page's badge shows from now on (read back with seenStates). */
async function recordStates(page) {
  await page.evaluate(() => {
    const el = document.querySelector('[data-testid="state"]');
    window.__seenStates = [el.textContent];
    new MutationObserver(() => window.__seenStates.push(el.textContent)).observe(el, { childList: true, characterData: true, subtree: true });
  });
}

const seenStates = (page) => page.evaluate(() => window.__seenStates);

const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function sendChat(page, text) {
  await page.fill(sel('chat-text'), text);
  await page.click(sel('chat-send'));
}

async function sendDirect(page, to, text) {
  await page.fill(sel('direct-to'), to);
  await page.fill(sel('direct-text'), text);
  await page.click(sel('direct-send'));
}

async function announce(page, text) {
  await page.fill(sel('announce-text'), text);
  await page.click(sel('announce-send'));
}

// --------------------------------------------------------------------------
// History and recovery helpers
// --------------------------------------------------------------------------

/**
 * Runs in the page before its scripts (openTab's `frames` option): records every STOMP frame the
 * page sends and receives in `window.__frames` ({dir: 'out' | 'in', data}, heart-beats left out).
 * While `window.__forgeResumeFrom` is set, an outgoing SUBSCRIBE to `/topic/chat` carries that
 * value as its `resume-from` instead of the page's own: a position the server never issued.
 */
function recordFrames() {
  const Native = window.WebSocket;
  window.__frames = [];
  // Each state the page shows, with how many frames it had seen or sent by then.
  window.__states = [];
  document.addEventListener('DOMContentLoaded', () => {
    const el = document.querySelector('[data-testid="state"]');
    new MutationObserver(() => window.__states.push({ state: el.textContent, frames: window.__frames.length }))
      .observe(el, { childList: true, characterData: true, subtree: true });
  });
  const record = (dir, data) => {
    if (typeof data === 'string' && data.trim()) window.__frames.push({ dir, data });
  };
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => record('in', e.data));
    }
    send(data) {
      const forged = window.__forgeResumeFrom;
      if (forged && typeof data === 'string' && /^SUBSCRIBE\n/.test(data) && /\ndestination:\/topic\/chat\n/.test(data)) {
        data = data.replace(/\nresume-from:[^\n]*\n/, `\nresume-from:${forged}\n`);
      }
      record('out', data);
      super.send(data);
    }
  };
}

/** STOMP 1.2 header value escapes. */
const unescapeHeader = (v) => v.replace(/\\([rnc\\])/g, (_, c) => ({ r: '\r', n: '\n', c: ':', '\\': '\\' })[c]);

/** The frames recorded by recordFrames, parsed: [{dir, command, headers}] (bodies left out). */
async function stompFrames(page) {
  const raw = await page.evaluate(() => window.__frames);
  return raw.map(({ dir, data }) => {
    const [command, ...lines] = data.replace(/^\n+/, '').split('\0')[0].split('\n');
    const headers = {};
    for (const line of lines) {
      if (line === '') break;
      const colon = line.indexOf(':');
      const name = unescapeHeader(line.slice(0, colon));
      if (!(name in headers)) headers[name] = unescapeHeader(line.slice(colon + 1)); // the first one counts
    }
    return { dir, command: command.replace(/\r$/, ''), headers };
  });
}

const summarize = (frames) => frames.map((f) => `${f.dir} ${f.command} ${JSON.stringify(f.headers)}`);

let adminToken = null;

/** POST /api/messages/<path> through the HTTP push API with an admin token (the demo gives user admin that role). */
async function push(baseUrl, path, destination, payload) {
  if (!adminToken) {
    const res = await fetch(new URL('/api/demo/token', baseUrl), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'admin' }),
      signal: AbortSignal.timeout(WAIT_MS),
    });
    assert.equal(res.status, 200, 'POST /api/demo/token for admin');
    adminToken = (await res.json()).token;
  }
  const res = await fetch(new URL(`/api/messages/${path}`, baseUrl), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${adminToken}` },
    body: JSON.stringify({ destination, payload }),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const body = await res.text();
  assert.equal(res.status, 202, `POST /api/messages/${path} ${destination}: ${body}`);
}

/**
 * Cuts the page's connection and keeps it cut until the returned function is called: the next
 * connect attempt (stompjs retries 1 s after the drop) waits in beforeConnect until then.
 */
async function cutConnection(page) {
  await page.evaluate(() => {
    const client = window.__stompRelay.client;
    const beforeConnect = client.beforeConnect;
    const held = new Promise((resolve) => (window.__letReconnect = resolve));
    client.beforeConnect = async (c) => {
      await held;
      client.beforeConnect = beforeConnect;
      await beforeConnect(c);
    };
    client.forceDisconnect();
  });
  await waitForState(page, 'reconnecting', 'state "reconnecting" after the cut');
  return () => page.evaluate(() => window.__letReconnect());
}

/** The `main` texts of a list's items, oldest first. */
async function mainTexts(page, listId, itemId) {
  const texts = await page.$$eval(`${sel(listId)} ${sel(itemId)}`, (els) => els.map((e) => e.querySelector('.main')?.textContent ?? ''));
  return texts.reverse();
}

async function waitForNotice(page, testId, text, what) {
  try {
    await page.waitForFunction(
      ({ id, t }) => {
        const el = document.querySelector(`[data-testid="${id}"]`);
        return Boolean(el) && !el.hidden && el.textContent === t;
      },
      { id: testId, t: text },
      { timeout: WAIT_MS, polling: 50 },
    );
  } catch {
    const shown = await page.$eval(sel(testId), (el) => (el.hidden ? '(hidden)' : el.textContent)).catch(() => '?');
    const receipts = summarize((await stompFrames(page).catch(() => [])).filter((f) => f.command === 'RECEIPT' || f.command === 'ERROR'));
    throw new Error(`timed out waiting for ${what}: "${text}"; the page shows "${shown}"; receipts and errors received: ${JSON.stringify(receipts)}`);
  }
}

// --------------------------------------------------------------------------
// Tests
// --------------------------------------------------------------------------

const tests = [];
const test = (name, fn) => tests.push({ name, fn });
const SKIP = Symbol('skip');

test('both nodes answer /api/demo/info and are different nodes', async () => {
  const info = async (base) => {
    const res = await fetch(new URL('/api/demo/info', base), { signal: AbortSignal.timeout(WAIT_MS) });
    assert.equal(res.status, 200, `GET ${base}/api/demo/info status`);
    const body = await res.json();
    assert.equal(typeof body.node, 'string', `node id in ${JSON.stringify(body)}`);
    assert.equal(typeof body.tokenTtlSeconds, 'number', `tokenTtlSeconds in ${JSON.stringify(body)}`);
    return body.node;
  };
  const [a, b] = [await info(NODE_A_URL), await info(NODE_B_URL)];
  assert.notEqual(a, b, `NODE_A_URL and NODE_B_URL must reach different nodes (both are ${a})`);
  return `${a} and ${b}`;
});

test('same user on node A and node B both get events 1,2,3 exactly once; another user gets nothing', async () => {
  const user = randomUser('ev');
  const [tab1, tab2, other] = await openTabs([
    () => openTab(NODE_A_URL, { user }),
    () => openTab(NODE_B_URL, { user }),
    () => openTab(NODE_B_URL, { user: randomUser('other') }),
  ]);
  const [nodeA, nodeB] = [await nodeOf(tab1), await nodeOf(tab2)];
  assert.ok(nodeA && nodeB, 'both tabs show a node id');
  assert.notEqual(nodeA, nodeB, `NODE_A_URL and NODE_B_URL must reach different nodes (both say ${nodeA})`);

  await tab1.click(sel('send-events'));
  await waitForCount(tab1, 'events', 'event', 3, 'tab 1 (node A) to receive 3 events');
  await waitForCount(tab2, 'events', 'event', 3, 'tab 2 (node B) to receive 3 events');
  await sleep(QUIET_MS); // duplicates would show up now
  await assertEvents(tab1, nodeA, 'tab 1 (node A)');
  await assertEvents(tab2, nodeA, 'tab 2 (node B)');
  await assertNoEvents(other, 'other user');
});

test('chat from a signed-in tab on node A appears in an anonymous tab on node B', async () => {
  const user = randomUser('chat');
  const [sender, reader] = await openTabs([() => openTab(NODE_A_URL, { user }), () => openTab(NODE_B_URL)]);
  const text = `hello from ${user} ${crypto.randomBytes(2).toString('hex')}`;
  await sendChat(sender, text);
  await waitForText(reader, 'chat', 'chat-item', text, 'the chat line on the anonymous node-B tab');
  const line = (await itemTexts(reader, 'chat', 'chat-item')).find((t) => t.includes(text));
  assert.ok(line.includes(user), `chat line names the sender: ${line}`);
  await waitForText(sender, 'chat', 'chat-item', text, 'the chat line on the sender tab');
});

test('direct message from node A reaches the recipient on node B only', async () => {
  const [from, to, third] = [randomUser('dmfrom'), randomUser('dmto'), randomUser('dm3rd')];
  const [sender, recipient, bystanderB, bystanderA] = await openTabs([
    () => openTab(NODE_A_URL, { user: from }),
    () => openTab(NODE_B_URL, { user: to }),
    () => openTab(NODE_B_URL, { user: third }),
    () => openTab(NODE_A_URL, { user: third }),
  ]);
  const text = `psst ${crypto.randomBytes(2).toString('hex')}`;
  await sendDirect(sender, to, text);
  await waitForText(recipient, 'direct', 'direct-item', text, 'the direct message at the recipient');
  await sleep(QUIET_MS);
  const got = await itemTexts(recipient, 'direct', 'direct-item');
  assert.equal(got.filter((t) => t.includes(text)).length, 1, `recipient gets it exactly once: ${JSON.stringify(got)}`);
  assert.ok(got[0].includes(from), `direct message names the sender: ${got[0]}`);
  for (const [tab, who] of [[bystanderB, 'third user on node B'], [bystanderA, 'third user on node A']]) {
    const theirs = await itemTexts(tab, 'direct', 'direct-item');
    assert.equal(theirs.length, 0, `${who} must get nothing, got ${JSON.stringify(theirs)}`);
  }
});

test('anonymous tab gets its own events 1,2,3; other anonymous tabs get nothing', async () => {
  const [anon, otherA, otherB] = await openTabs([
    () => openTab(NODE_A_URL, { label: 'anon-1@A' }),
    () => openTab(NODE_A_URL, { label: 'anon-2@A' }),
    () => openTab(NODE_B_URL, { label: 'anon-3@B' }),
  ]);
  await anon.click(sel('send-events'));
  await waitForCount(anon, 'events', 'event', 3, 'the anonymous tab to receive 3 events');
  await sleep(QUIET_MS);
  await assertEvents(anon, await nodeOf(anon), 'anonymous tab');
  await assertNoEvents(otherA, 'another anonymous tab on node A');
  await assertNoEvents(otherB, 'another anonymous tab on node B');
});

test('announcements reach signed-in tabs on both nodes; anonymous tabs neither see the panel nor get them', async () => {
  const [author, listener, anon] = await openTabs([
    () => openTab(NODE_A_URL, { user: randomUser('ann') }),
    () => openTab(NODE_B_URL, { user: randomUser('lis') }),
    () => openTab(NODE_B_URL),
  ]);
  assert.equal(await anon.isVisible(sel('announcements-panel')), false, 'announcements panel hidden when anonymous');
  assert.equal(await listener.isVisible(sel('announcements-panel')), true, 'announcements panel visible when signed in');
  const text = `maintenance at ${crypto.randomBytes(2).toString('hex')}`;
  await announce(author, text);
  await waitForText(listener, 'announcements', 'announcement', text, 'the announcement on node B');
  await sleep(QUIET_MS / 2);
  assert.equal((await itemTexts(anon, 'announcements', 'announcement')).length, 0, 'anonymous tab gets no announcement');
});

test('a rejected user name shows the server error on the page', async () => {
  const tab = await openTab(NODE_A_URL);
  await tab.fill(sel('username'), 'not valid!');
  await tab.click(sel('sign-in'));
  await waitForCount(tab, 'errors', 'error-item', 1, 'an error line for the bad user name');
  const [line] = await errorLines(tab);
  assert.match(line, /sign-in failed/i, `readable error line: ${line}`);
  assert.equal(await tab.textContent(sel('user')), 'anonymous', 'still anonymous');
  await waitForState(tab, 'connected');
});

test('a page shows "connected" only once each of its SUBSCRIBEs has its RECEIPT', async () => {
  // What lets every other test act the moment a page is connected, with no pause first.
  const tab = await openTab(NODE_A_URL, { user: randomUser('ready'), frames: true });
  const frames = await stompFrames(tab);
  const states = await tab.evaluate(() => window.__states);
  const connectedAt = states.filter((s, i) => s.state === 'connected' && states[i - 1]?.state !== 'connected').map((s) => s.frames);
  assert.equal(connectedAt.length, 2, 'connected twice: anonymous, then signed in');
  for (const seen of connectedAt) {
    const before = frames.slice(0, seen);
    const connect = before.map((f) => f.command).lastIndexOf('CONNECT');
    const subscribes = before.slice(connect).filter((f) => f.dir === 'out' && f.command === 'SUBSCRIBE');
    const receipts = new Set(before.slice(connect).filter((f) => f.command === 'RECEIPT').map((f) => f.headers['receipt-id']));
    assert.ok(subscribes.length >= 3, `the page subscribed: ${JSON.stringify(summarize(subscribes))}`);
    const unconfirmed = subscribes.filter((f) => !f.headers.receipt || !receipts.has(f.headers.receipt));
    assert.deepEqual(summarize(unconfirmed), [], 'SUBSCRIBEs without their RECEIPT when the page showed "connected"');
  }
  assert.equal(frames.slice(0, connectedAt[1]).filter((f) => f.dir === 'out' && f.command === 'SUBSCRIBE').length, 3 + 5,
    'three subscriptions anonymous, five signed in');
});

test('tab recovers after its WebSocket is dropped and events still work', async () => {
  const user = randomUser('rc');
  const tab = await openTab(NODE_B_URL, { user });
  const nodeBefore = await nodeOf(tab);
  await recordStates(tab);
  const hadSocket = await tab.evaluate(() => {
    const ws = window.__stompRelay.client.webSocket;
    ws?.close();
    return Boolean(ws);
  });
  assert.ok(hadSocket, 'test hook exposes the WebSocket');
  await waitForState(tab, 'reconnecting', 'state "reconnecting" after the drop');
  await waitForState(tab, 'connected', 'state "connected" again');
  const seen = await seenStates(tab);
  assert.ok(seen.indexOf('reconnecting') < seen.lastIndexOf('connected'), `states seen: ${seen.join(' → ')}`);
  assert.equal(await tab.textContent(sel('user')), user, 'still signed in after reconnect');
  assert.equal(await nodeOf(tab), nodeBefore, 'node shown again');

  await tab.click(sel('send-events'));
  await waitForCount(tab, 'events', 'event', 3, '3 events after the reconnect');
  await sleep(QUIET_MS);
  await assertEvents(tab, nodeBefore, 'reconnected tab');

  // The second way to drop it: stompjs' own forceDisconnect().
  await tab.evaluate(() => window.__stompRelay.client.forceDisconnect());
  await waitForState(tab, 'reconnecting', 'state "reconnecting" after forceDisconnect()');
  await waitForState(tab, 'connected', 'state "connected" after forceDisconnect()');
});

test('Online panel: users on node A and node B show on both pages with their nodes within 2 s; a sign-out leaves within 2 s', async () => {
  const [u1, u2] = [randomUser('on1'), randomUser('on2')];
  const pageA = await openTab(NODE_A_URL, { user: u1 });
  const pageB = await openTab(NODE_B_URL, { user: u2 });
  const signedIn = Date.now();
  const [nodeA, nodeB] = [await nodeOf(pageA), await nodeOf(pageB)];
  assert.notEqual(nodeA, nodeB, 'the two pages are on different nodes');
  const both = { [u1]: { sessions: '1 session', nodes: nodeA }, [u2]: { sessions: '1 session', nodes: nodeB } };
  const listedA = await waitForOnline(pageA, both, `the node-A page lists ${u1} on ${nodeA} and ${u2} on ${nodeB}`, { since: signedIn });
  const listedB = await waitForOnline(pageB, both, `the node-B page lists ${u1} on ${nodeA} and ${u2} on ${nodeB}`, { since: signedIn });
  for (const [page, who] of [[pageA, u1], [pageB, u2]]) {
    assert.match(await page.textContent(sel('online-summary')), /^\d+ users? online\.$/, `${who}: summary line`);
    assert.equal(await page.locator(sel('disconnect')).count(), 0, `${who} is no admin: no disconnect buttons`);
  }

  // A second session of u1, on node B: one row, two sessions, both nodes.
  await openTab(NODE_B_URL, { user: u1 });
  const second = Date.now();
  const twice = { [u1]: { sessions: '2 sessions', nodes: [nodeA, nodeB].sort().join(', ') } };
  const secondA = await waitForOnline(pageA, twice, `the node-A page counts ${u1}'s second session`, { since: second });
  await waitForOnline(pageB, twice, `the node-B page counts ${u1}'s second session`, { since: second });

  // u2 signs out on node B: gone from the node-A page; the node-B page is anonymous and lists nobody.
  await pageB.click(sel('sign-out'));
  const signedOut = Date.now();
  const goneA = await waitForOnline(pageA, { ...twice, [u2]: null }, `${u2} leaves the node-A page after signing out`, { since: signedOut });
  await waitForState(pageB, 'connected', 'the node-B page connected again, anonymously');
  assert.equal(await pageB.textContent(sel('user')), 'anonymous');
  assert.equal(await pageB.textContent(sel('online-summary')), 'Sign in to see who is online.');
  assert.equal(await pageB.isVisible(sel('online')), false, 'an anonymous page shows no list');
  return `listed after ${listedA}/${listedB} ms, second session after ${secondA} ms, sign-out seen after ${goneA} ms`;
});

test('admin disconnects a user on both nodes: their pages show "disconnected by server" and stay disconnected; another user stays connected', async () => {
  const [victim, bystander] = [randomUser('kick'), randomUser('stay')];
  const [victimA, victimB, stay, admin] = await openTabs([
    () => openTab(NODE_A_URL, { user: victim }),
    () => openTab(NODE_B_URL, { user: victim }),
    () => openTab(NODE_A_URL, { user: bystander }),
    () => openTab(NODE_B_URL, { user: 'admin' }),
  ]);
  const ready = Date.now();
  const [nodeA, nodeB] = [await nodeOf(victimA), await nodeOf(admin)];
  const others = { [bystander]: { sessions: '1 session', nodes: nodeA }, admin: { sessions: '1 session', nodes: nodeB } };
  await waitForOnline(admin, { ...others, [victim]: { sessions: '2 sessions', nodes: [nodeA, nodeB].sort().join(', ') } },
    `the admin page lists ${victim} on both nodes`, { since: ready });
  const rows = await onlineRows(admin);
  assert.ok(rows.length >= 3 && rows.every((r) => r.disconnect), `every row on the admin page has a disconnect button: ${JSON.stringify(rows)}`);
  await waitForOnline(stay, { [victim]: { sessions: '2 sessions', nodes: [nodeA, nodeB].sort().join(', ') } }, `the bystander's page lists ${victim}`);
  assert.equal(await stay.locator(sel('disconnect')).count(), 0, 'no disconnect buttons for a user who is not admin');

  for (const page of [victimA, victimB, stay]) await recordStates(page);
  await admin.click(`${sel('online-user')}[data-user="${victim}"] ${sel('disconnect')}`);
  const asked = Date.now();

  await admin.waitForFunction(() => document.querySelector('[data-testid="online-outcome"]')?.dataset.outcome, null, { timeout: WAIT_MS });
  const outcome = await admin.textContent(sel('online-outcome'));
  assert.match(outcome, new RegExp(`^Asked every node to disconnect ${escapeRegExp(victim)} \\(request [^)]+\\)\\.$`), `admin outcome: ${outcome}`);
  assert.equal(await admin.getAttribute(sel('online-outcome'), 'data-outcome'), 'ok');

  const notice = `Disconnected by the server: an administrator ended every session of ${victim}. This page does not reconnect on its own.`;
  for (const [page, where] of [[victimA, 'node A'], [victimB, 'node B']]) {
    await waitForState(page, 'disconnected', `${victim}'s page on ${where} is disconnected`);
    assert.equal(await page.textContent(sel('kicked')), notice, `${where}: the notice`);
    assert.ok(await page.isVisible(sel('reconnect')), `${where}: a Reconnect button`);
    const errors = await errorLines(page);
    assert.deepEqual(errors, ['Server error: disconnected by server'], `${where}: the server's ERROR, once, and nothing else`);
  }
  const gone = await waitForOnline(admin, { ...others, [victim]: null }, `${victim} leaves the admin page; the others stay`, { since: asked, timeout: KICK_MS });
  await waitForOnline(stay, { [bystander]: others[bystander], [victim]: null }, `${victim} leaves the bystander's page`, { since: asked, timeout: KICK_MS });

  // No reconnect loop: stompjs would reconnect 1 s after the close; watch both pages for longer.
  const reconnected = await Promise.all(
    [victimA, victimB].map((page) =>
      page
        .waitForFunction(() => window.__stompRelay.state !== 'disconnected', null, { timeout: NO_RECONNECT_MS, polling: 50 })
        .then(() => true, () => false),
    ),
  );
  assert.deepEqual(reconnected, [false, false], `the disconnected pages must not reconnect on their own within ${NO_RECONNECT_MS} ms`);
  for (const [page, where] of [[victimA, 'node A'], [victimB, 'node B']]) {
    assert.deepEqual(await seenStates(page), ['connected', 'disconnected'], `${where}: states since the disconnect`);
  }
  const after = await onlineRows(admin);
  assert.ok(!after.some((r) => r.user === victim), `${victim} is still gone after ${NO_RECONNECT_MS} ms: ${JSON.stringify(after)}`);

  // The other user was never disconnected and still gets events.
  assert.deepEqual(await seenStates(stay), ['connected'], 'the bystander stayed connected throughout');
  await stay.click(sel('send-events'));
  await waitForCount(stay, 'events', 'event', 3, 'events on the bystander page');
  assert.deepEqual(await errorLines(stay), [], 'no errors on the bystander page');

  // Reconnect on request: the notice goes, the user is back (one session, node A).
  await victimA.click(sel('reconnect'));
  await waitForState(victimA, 'connected', `${victim} reconnects on node A on request`);
  assert.equal(await victimA.isVisible(sel('kicked-panel')), false, 'the notice is gone after reconnecting');
  await waitForOnline(admin, { [victim]: { sessions: '1 session', nodes: nodeA } }, `${victim} is back on the admin page`);
  return `gone from the list after ${gone} ms`;
});

test('history: a tab cut off for a while gets the missed chat, direct messages and announcements exactly once, in order, then live ones', async () => {
  const user = randomUser('hist');
  const tag = `h${crypto.randomBytes(2).toString('hex')}`;
  const tab = await openTab(NODE_B_URL, { user, frames: true }); // the messages come in through node A
  const chat = (text) => ({ from: 'e2e', text: `${tag} ${text}` });
  const expectChat = (text) => `e2e: ${tag} ${text}`;

  // One message on each stream, so the page has a position on each. The first connect subscribed
  // without resume-from (there was no position yet).
  await push(NODE_A_URL, 'all', '/topic/chat', chat('before'));
  await push(NODE_A_URL, `users/${user}`, '/queue/direct', chat('direct before'));
  await push(NODE_A_URL, 'authenticated', '/topic/announcements', chat('announcement before'));
  await waitForText(tab, 'chat', 'chat-item', expectChat('before'), 'the first chat line');
  await waitForText(tab, 'direct', 'direct-item', expectChat('direct before'), 'the first direct message');
  await waitForText(tab, 'announcements', 'announcement', expectChat('announcement before'), 'the first announcement');
  const streams = ['/topic/chat', '/user/queue/direct', '/topic/announcements'];
  const before = await tab.evaluate(() => window.__stompRelay.streamPositions);
  for (const destination of streams) {
    assert.equal(typeof before[destination], 'string',
      `a stream-position seen on ${destination} (is it in stomp-relay.history.destinations?): ${JSON.stringify(before)}`);
  }
  const firstSubscribes = (await stompFrames(tab)).filter((f) => f.dir === 'out' && f.command === 'SUBSCRIBE');
  for (const destination of streams) {
    const mine = firstSubscribes.filter((f) => f.headers.destination === destination);
    assert.ok(mine.length > 0 && mine.every((f) => !('resume-from' in f.headers)),
      `${destination}: subscribed without resume-from before any position was seen: ${JSON.stringify(summarize(mine))}`);
  }

  // Cut: 3 chat lines and 2 direct messages while the page is away, no announcement.
  const framesBeforeCut = (await stompFrames(tab)).length;
  const reconnect = await cutConnection(tab);
  for (const n of [1, 2, 3]) await push(NODE_A_URL, 'all', '/topic/chat', chat(`missed ${n}`));
  for (const n of [1, 2]) await push(NODE_A_URL, `users/${user}`, '/queue/direct', chat(`direct missed ${n}`));
  await reconnect();
  await waitForState(tab, 'connected', 'connected again after the cut');

  await waitForNotice(tab, 'chat-recovery', '3 missed messages recovered', 'the chat notice');
  await waitForNotice(tab, 'direct-recovery', '2 missed messages recovered', 'the direct-messages notice');
  await waitForNotice(tab, 'announcements-recovery', '0 missed messages recovered', 'the announcements notice');

  // Live again: one more of each after the recovered ones.
  await push(NODE_A_URL, 'all', '/topic/chat', chat('live'));
  await push(NODE_A_URL, `users/${user}`, '/queue/direct', chat('direct live'));
  await push(NODE_A_URL, 'authenticated', '/topic/announcements', chat('announcement live'));
  await waitForText(tab, 'chat', 'chat-item', expectChat('live'), 'the live chat line');
  await waitForText(tab, 'direct', 'direct-item', expectChat('direct live'), 'the live direct message');
  await waitForText(tab, 'announcements', 'announcement', expectChat('announcement live'), 'the live announcement');
  await sleep(QUIET_MS); // duplicates would show up now
  assert.deepEqual(await mainTexts(tab, 'chat', 'chat-item'),
    ['before', 'missed 1', 'missed 2', 'missed 3', 'live'].map(expectChat), 'chat: each line once, in order');
  assert.deepEqual(await mainTexts(tab, 'direct', 'direct-item'),
    ['direct before', 'direct missed 1', 'direct missed 2', 'direct live'].map(expectChat), 'direct messages: each once, in order');
  assert.deepEqual(await mainTexts(tab, 'announcements', 'announcement'),
    ['announcement before', 'announcement live'].map(expectChat), 'announcements: each once, in order');

  // On the wire: each stream resumed from the last position the page had seen, asking for a receipt.
  const after = (await stompFrames(tab)).slice(framesBeforeCut);
  for (const destination of streams) {
    const subscribes = after.filter((f) => f.dir === 'out' && f.command === 'SUBSCRIBE' && f.headers.destination === destination);
    assert.equal(subscribes.length, 1, `${destination}: one SUBSCRIBE after the cut: ${JSON.stringify(summarize(subscribes))}`);
    assert.equal(subscribes[0].headers['resume-from'], before[destination], `${destination}: resume-from is the last stream-position seen`);
    const receipt = after.find((f) => f.command === 'RECEIPT' && f.headers['receipt-id'] === subscribes[0].headers.receipt);
    assert.ok(receipt, `${destination}: a RECEIPT for ${subscribes[0].headers.receipt}`);
  }
  assert.deepEqual(await errorLines(tab), [], 'no errors on the page');
  return 'recovered 3 chat lines, 2 direct messages, 0 announcements';
});

test('history: a position the server does not know gets "could not recover: reloaded" and a fresh panel', async () => {
  const user = randomUser('lost');
  const tag = `l${crypto.randomBytes(2).toString('hex')}`;
  const tab = await openTab(NODE_A_URL, { user, frames: true });
  const chat = (text) => ({ from: 'e2e', text: `${tag} ${text}` });
  const expectChat = (text) => `e2e: ${tag} ${text}`;
  await push(NODE_B_URL, 'all', '/topic/chat', chat('before'));
  await waitForText(tab, 'chat', 'chat-item', expectChat('before'), 'the first chat line');
  const positions = await tab.evaluate(() => window.__stompRelay.streamPositions);
  assert.equal(typeof positions['/topic/chat'], 'string', `a stream-position seen on /topic/chat: ${JSON.stringify(positions)}`);
  const reconnect = await cutConnection(tab);
  await push(NODE_B_URL, 'all', '/topic/chat', chat('missed'));
  await tab.evaluate((forged) => (window.__forgeResumeFrom = forged), `unknown-${RUN}`);
  await reconnect();
  await waitForState(tab, 'connected', 'connected again after the cut');
  await waitForNotice(tab, 'chat-recovery', 'could not recover: reloaded', 'the chat notice');
  assert.equal(await tab.getAttribute(sel('chat-recovery'), 'data-outcome'), 'reloaded');
  const forged = (await stompFrames(tab)).filter((f) => f.dir === 'out' && f.command === 'SUBSCRIBE' && f.headers['resume-from'] === `unknown-${RUN}`);
  assert.equal(forged.length, 1, 'the SUBSCRIBE to /topic/chat carried the forged position');
  const receipt = (await stompFrames(tab)).find((f) => f.command === 'RECEIPT' && f.headers['receipt-id'] === forged[0].headers.receipt);
  assert.equal(receipt?.headers.recovered, 'false', `RECEIPT of the forged resume: ${JSON.stringify(receipt?.headers)}`);

  // The panel starts afresh: the old line is gone, the missed one was not replayed, live ones come in.
  await push(NODE_B_URL, 'all', '/topic/chat', chat('live'));
  await waitForText(tab, 'chat', 'chat-item', expectChat('live'), 'the live chat line');
  await sleep(QUIET_MS);
  assert.deepEqual(await mainTexts(tab, 'chat', 'chat-item'), [expectChat('live')], 'chat after the failed recovery');
  assert.deepEqual(await errorLines(tab), [], 'no errors on the page');
});

test('screenshot: node A and node B side by side', async () => {
  if (!SCREENSHOT_PATH) return { [SKIP]: 'SCREENSHOT_PATH not set' };
  // The point of the demo: the same user in two tabs, one per node. A third, hidden tab (bob on
  // node B) sends the direct message and the announcement, which reach both of alice's tabs.
  const [alice, bob] = [randomUser('alice'), randomUser('bob')];
  const [left, right, hidden] = await openTabs([
    () => openTab(NODE_A_URL, { user: alice, width: 640, height: 900 }),
    () => openTab(NODE_B_URL, { user: alice, width: 640, height: 900 }),
    () => openTab(NODE_B_URL, { user: bob }),
  ]);
  const everyone = { [alice]: { sessions: '2 sessions', nodes: [await nodeOf(left), await nodeOf(right)].sort().join(', ') },
    [bob]: { sessions: '1 session', nodes: await nodeOf(hidden) } };
  // The screenshot shows the Online panels: wait until both list everyone.
  for (const tab of [left, right]) {
    await waitForOnline(tab, everyone, 'the Online panel lists alice on both nodes and bob', { timeout: WAIT_MS });
  }
  await sendChat(left, `Hi, this is ${alice} on node A`);
  await waitForText(right, 'chat', 'chat-item', 'on node A', 'chat on the right tab');
  await sendDirect(hidden, alice, `hello ${alice}, from ${bob} on node B`);
  await waitForText(left, 'direct', 'direct-item', `from ${bob}`, 'direct message on the left tab');
  await waitForText(right, 'direct', 'direct-item', `from ${bob}`, 'direct message on the right tab');
  await announce(hidden, 'Scheduled restart of node B at 18:00');
  await waitForText(left, 'announcements', 'announcement', 'Scheduled restart', 'announcement on the left tab');
  await left.click(sel('send-events'));
  await waitForCount(left, 'events', 'event', 3, 'events on the left tab');
  await waitForCount(right, 'events', 'event', 3, 'events on the right tab (same user, other node)');
  for (const tab of [left, right]) {
    await waitForOnline(tab, everyone, 'the Online panel lists alice on both nodes and bob', { timeout: WAIT_MS });
    // Users of earlier tests leave as their tabs close: wait for a list of exactly these two.
    await tab.waitForFunction(() => document.querySelectorAll('[data-testid="online-user"]').length === 2, null, { timeout: WAIT_MS });
  }
  await sleep(300);

  const shots = [await left.screenshot({ fullPage: true }), await right.screenshot({ fullPage: true })];
  const composerContext = await browser.newContext({ viewport: { width: 1290, height: 1000 } });
  openContexts.push(composerContext);
  const canvasPage = await composerContext.newPage();
  await canvasPage.setContent(`<!doctype html><html><body style="margin:0;background:#1d2433">
    <div id="pair" style="display:flex;align-items:flex-start;gap:10px;width:max-content">
      ${shots.map((b) => `<img style="display:block" src="data:image/png;base64,${b.toString('base64')}">`).join('')}
    </div></body></html>`);
  await canvasPage.waitForFunction(() => [...document.images].every((i) => i.complete && i.naturalWidth > 0), null, { timeout: WAIT_MS });
  fs.mkdirSync(path.dirname(path.resolve(SCREENSHOT_PATH)), { recursive: true });
  await canvasPage.locator('#pair').screenshot({ path: SCREENSHOT_PATH });
  return `wrote ${SCREENSHOT_PATH}`;
});

// --------------------------------------------------------------------------
// Runner
// --------------------------------------------------------------------------

/** First part of an error message, without Playwright's call log and colours. */
function describeError(e) {
  const text = String(e?.message ?? e).replace(/\u001b\[[0-9;]*m/g, '');
  return text.split(/\n\s*Call log:/)[0].trim();
}

let passed = 0;
let failed = 0;
let exitCode = 0;
try {
  browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: !process.env.E2E_HEADFUL,
    timeout: WAIT_MS,
    // Playwright adds a fresh temporary --user-data-dir itself (and rejects
    // one passed in args), so it is not listed here.
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ].filter((a) => !(a === '--headless' && process.env.E2E_HEADFUL)),
  });
  console.log(`stomp-relay e2e (run ${RUN}) against A=${NODE_A_URL} B=${NODE_B_URL} with ${CHROMIUM_PATH}`);

  const only = process.env.E2E_ONLY?.toLowerCase();
  for (const { name, fn } of tests.filter((t) => !only || t.name.toLowerCase().includes(only))) {
    const started = Date.now();
    openContexts = [];
    pageErrors = [];
    try {
      const note = await fn();
      assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
      if (note?.[SKIP]) {
        console.log(`skip  ${name} — ${note[SKIP]}`);
      } else {
        passed++;
        console.log(`ok    ${name} (${Date.now() - started} ms)${note ? ` — ${note}` : ''}`);
      }
    } catch (e) {
      failed++;
      console.log(`FAIL  ${name} (${Date.now() - started} ms)\n      ${describeError(e).split('\n').join('\n      ')}`);
    } finally {
      await Promise.all(openContexts.map((c) => c.close().catch(() => {})));
    }
  }
} catch (e) {
  failed++;
  console.log(`FAIL  setup: ${describeError(e)}`);
} finally {
  await browser?.close().catch(() => {});
}
if (failed > 0) exitCode = 1;
console.log(`${passed} passed, ${failed} failed`);
process.exit(exitCode);
