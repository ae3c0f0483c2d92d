import { Client, type IFrame, type IMessage, type StompHeaders } from '@stomp/stompjs';
import {
  ApiError,
  disconnectUser,
  fetchInfo,
  fetchOnline,
  fetchToken,
  webSocketUrl,
  type DemoToken,
  type Online,
} from './api';
import './style.css';

// ---------------------------------------------------------------------------
// Types & state
// ---------------------------------------------------------------------------

export type ConnState = 'connecting' | 'connected' | 'reconnecting' | 'disconnected';

interface ChatMessage {
  from?: string;
  text?: string;
  node?: string;
  ts?: number | string;
}

/**
 * A panel fed by a destination the server may keep a history of
 * (`stomp-relay.history.destinations`): its messages then carry `stream-position`.
 */
interface Stream {
  destination: string;
  list: HTMLUListElement;
  /** one line: "3 missed messages recovered", "could not recover: reloaded" */
  notice: HTMLElement;
}

interface HeldToken {
  value: string;
  /** local clock, ms */
  receivedAt: number;
  /** local clock, ms (adjusted for clock skew, see adoptToken) */
  expiresAt: number;
}

const RECONNECT_DELAY_MS = 1000;
const HEARTBEAT_MS = 10_000;
/** Renew the token when this fraction of its lifetime has passed. */
const RENEW_AT_FRACTION = 0.8;
const RENEW_RETRY_MS = 5000;
const MAX_LIST_ITEMS = 200;
const USERNAME_KEY = 'stomp-relay.username';
/** How often the Online panel asks who is online, while signed in. */
const ONLINE_POLL_MS = 1000;
const ONLINE_TIMEOUT_MS = 5000;
/** The demo token endpoint gives this user role admin (DemoTokenController). */
const ADMIN_USER = 'admin';
/** The ERROR message of DELETE /api/users/{user}/sessions. */
const DISCONNECTED_BY_SERVER = 'disconnected by server';
const CLOSE_CODES: Record<number, string> = {
  1002: 'protocol error',
  1003: 'unsupported data',
  1006: 'connection lost',
  1007: 'invalid data',
  1008: 'policy violation',
  1009: 'message too big',
  1011: 'server error',
  1012: 'server restarting',
  1013: 'server overloaded, try again later',
};

let pageNode: string | null = null; // node that served the page (/api/demo/info)
let connectedNode: string | null = null; // node named by the CONNECTED frame
let tokenTtlSeconds: number | null = null;
let username: string | null = null; // null = anonymous
let token: HeldToken | null = null;
let tokenStale = false; // server told us the token is expired/invalid
let renewTimer: number | undefined;
let restarting = false; // deliberate reconnect (sign-in/out, token renewal)
let stompErrorOnThisSocket = false;
let disconnectedOnThisSocket = false; // ERROR "disconnected by server" on the current socket
/** The user whose sessions the server ended; the page stays disconnected until asked to reconnect. */
let disconnectedByServer: string | null = null;
let online: Online | null = null; // last answer of /api/demo/online
let onlineError: string | null = null; // why the last poll failed
let onlineFetching = false;
let onlineRendered = ''; // what the list shows now, to rebuild it only on change
let state: ConnState = 'disconnected';
let tokenFetch: Promise<void> | null = null;
/**
 * The last `stream-position` seen per destination (opaque, compared for equality only). In memory
 * only: a reload starts with empty panels, so it subscribes afresh instead of replaying a gap into them.
 */
const streamPositions = new Map<string, string>();
/** The user whose `/user/...` streams the panels and positions belong to. */
let streamsUser: string | null = null;
let receiptSeq = 0;

// ---------------------------------------------------------------------------
// DOM helpers
// ---------------------------------------------------------------------------

function $<T extends HTMLElement = HTMLElement>(testId: string): T {
  const el = document.querySelector<T>(`[data-testid="${testId}"]`);
  if (!el) throw new Error(`missing element ${testId}`);
  return el;
}

const ui = {
  node: $('node'),
  pageNode: $('page-node'),
  state: $('state'),
  user: $('user'),
  tokenInfo: $('token-info'),
  signInForm: $<HTMLFormElement>('sign-in-form'),
  username: $<HTMLInputElement>('username'),
  signIn: $<HTMLButtonElement>('sign-in'),
  signOut: $<HTMLButtonElement>('sign-out'),
  kickedPanel: $('kicked-panel'),
  kicked: $('kicked'),
  reconnect: $<HTMLButtonElement>('reconnect'),
  onlineSummary: $('online-summary'),
  online: $<HTMLUListElement>('online'),
  onlineOutcome: $('online-outcome'),
  errorsPanel: $('errors-panel'),
  errors: $<HTMLUListElement>('errors'),
  errorsClear: $<HTMLButtonElement>('errors-clear'),
  sendEvents: $<HTMLButtonElement>('send-events'),
  events: $<HTMLUListElement>('events'),
  eventsClear: $<HTMLButtonElement>('events-clear'),
  chatForm: $<HTMLFormElement>('chat-form'),
  chatText: $<HTMLInputElement>('chat-text'),
  chatSend: $<HTMLButtonElement>('chat-send'),
  chat: $<HTMLUListElement>('chat'),
  directForm: $<HTMLFormElement>('direct-form'),
  directTo: $<HTMLInputElement>('direct-to'),
  directText: $<HTMLInputElement>('direct-text'),
  directSend: $<HTMLButtonElement>('direct-send'),
  direct: $<HTMLUListElement>('direct'),
  announcementsPanel: $('announcements-panel'),
  announceForm: $<HTMLFormElement>('announce-form'),
  announceText: $<HTMLInputElement>('announce-text'),
  announceSend: $<HTMLButtonElement>('announce-send'),
  announcements: $<HTMLUListElement>('announcements'),
};

const streams = {
  chat: { destination: '/topic/chat', list: ui.chat, notice: $('chat-recovery') },
  direct: { destination: '/user/queue/direct', list: ui.direct, notice: $('direct-recovery') },
  announcements: { destination: '/topic/announcements', list: ui.announcements, notice: $('announcements-recovery') },
} satisfies Record<string, Stream>;

function timeLabel(ts?: number | string): string {
  let d: Date;
  if (typeof ts === 'number') d = new Date(ts < 1e12 ? ts * 1000 : ts); // seconds or millis
  else if (typeof ts === 'string' && ts) d = new Date(ts);
  else d = new Date();
  if (Number.isNaN(d.getTime())) d = new Date();
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
}

function addItem(
  list: HTMLUListElement,
  testId: string,
  parts: { main: string; meta?: string; attrs?: Record<string, string> },
): HTMLLIElement {
  const li = document.createElement('li');
  li.dataset.testid = testId;
  for (const [k, v] of Object.entries(parts.attrs ?? {})) li.setAttribute(`data-${k}`, v);
  const main = document.createElement('span');
  main.className = 'main';
  main.textContent = parts.main;
  li.append(main);
  if (parts.meta) {
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.textContent = parts.meta;
    li.append(meta);
  }
  list.prepend(li); // newest first
  while (list.children.length > MAX_LIST_ITEMS) list.lastElementChild?.remove();
  return li;
}

/** Shows a readable error line; identical consecutive errors are folded ("×3"). */
function showError(message: string): void {
  console.warn('[stomp-relay]', message);
  ui.errorsPanel.hidden = false;
  const first = ui.errors.firstElementChild as HTMLLIElement | null;
  if (first && first.dataset.message === message) {
    const count = Number(first.dataset.count ?? '1') + 1;
    first.dataset.count = String(count);
    const meta = first.querySelector('.meta');
    if (meta) meta.textContent = `${timeLabel()} ×${count}`;
    return;
  }
  const li = addItem(ui.errors, 'error-item', { main: message, meta: timeLabel() });
  li.dataset.message = message;
  li.dataset.count = '1';
}

function describe(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

function parseJson<T>(body: string): T | null {
  try {
    return JSON.parse(body) as T;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------
// Rendering of connection / identity
// ---------------------------------------------------------------------------

function setState(next: ConnState): void {
  state = next;
  render();
}

function render(): void {
  ui.state.textContent = state;
  ui.state.dataset.state = state;
  ui.node.textContent = connectedNode ?? pageNode ?? '–';
  ui.pageNode.textContent = pageNode ?? '–';
  ui.user.textContent = username ?? 'anonymous';
  ui.user.dataset.anonymous = String(username === null);

  const signedIn = username !== null;
  const connected = state === 'connected';
  ui.signOut.hidden = !signedIn;
  ui.signIn.textContent = signedIn ? 'Switch user' : 'Sign in';
  ui.announcementsPanel.hidden = !signedIn;

  ui.sendEvents.disabled = !connected;
  for (const input of [ui.chatText, ui.directTo, ui.directText, ui.announceText]) {
    input.disabled = !signedIn;
  }
  ui.chatText.placeholder = signedIn ? 'Say something' : 'Sign in to chat';
  ui.directText.placeholder = signedIn ? 'Message' : 'Sign in to send direct messages';
  for (const button of [ui.chatSend, ui.directSend, ui.announceSend]) {
    button.disabled = !signedIn || !connected;
  }
  ui.kickedPanel.hidden = disconnectedByServer === null;
  ui.kicked.textContent = disconnectedByServer
    ? `Disconnected by the server: an administrator ended every session of ${disconnectedByServer}. ` +
      'This page does not reconnect on its own.'
    : '';
  renderTokenInfo();
  renderOnline();
}

function renderTokenInfo(): void {
  if (!username) {
    ui.tokenInfo.textContent = 'Anonymous session: you can trigger events and read chat. Sign in to write.';
    return;
  }
  if (!token) {
    ui.tokenInfo.textContent = `Signed in as ${username}; fetching a token…`;
    return;
  }
  const left = Math.max(0, Math.round((token.expiresAt - Date.now()) / 1000));
  ui.tokenInfo.textContent = `Signed in as ${username}. Token expires in ${left} s and is renewed automatically.`;
}

// ---------------------------------------------------------------------------
// Token handling
// ---------------------------------------------------------------------------

function adoptToken(t: DemoToken): void {
  const now = Date.now();
  let lifetimeMs = t.expiresAt * 1000 - now;
  // If the client clock is off, fall back to the TTL the server advertised.
  const ttlMs = tokenTtlSeconds ? tokenTtlSeconds * 1000 : null;
  if (ttlMs && (lifetimeMs <= 0 || lifetimeMs > ttlMs * 1.5)) lifetimeMs = ttlMs;
  if (lifetimeMs <= 0) lifetimeMs = 60_000;
  token = { value: t.token, receivedAt: now, expiresAt: now + lifetimeMs };
  tokenStale = false;
  scheduleRenewal(Math.max(1000, lifetimeMs * RENEW_AT_FRACTION));
  renderTokenInfo();
}

function clearToken(): void {
  token = null;
  tokenStale = false;
  window.clearTimeout(renewTimer);
  renewTimer = undefined;
}

function scheduleRenewal(delayMs: number): void {
  window.clearTimeout(renewTimer);
  renewTimer = window.setTimeout(() => void renewToken(), delayMs);
}

function tokenNeedsRefresh(): boolean {
  if (!token || tokenStale) return true;
  const lifetime = token.expiresAt - token.receivedAt;
  return Date.now() >= token.receivedAt + lifetime * RENEW_AT_FRACTION;
}

/** Fetches a token for the current user (single flight). Throws on failure. */
function refreshToken(): Promise<void> {
  const user = username;
  if (!user) return Promise.resolve();
  if (!tokenFetch) {
    tokenFetch = fetchToken(user)
      .then((t) => {
        if (username === user) adoptToken(t);
      })
      .finally(() => {
        tokenFetch = null;
      });
  }
  return tokenFetch;
}

const sleep = (ms: number) => new Promise<void>((resolve) => window.setTimeout(resolve, ms));

/**
 * Called from beforeConnect: a signed-in tab must never silently connect as
 * anonymous, so without a usable token it keeps retrying (server down) or
 * falls back to anonymous explicitly (server rejects the user name).
 */
async function ensureToken(): Promise<void> {
  while (username && tokenNeedsRefresh()) {
    const user = username;
    try {
      await refreshToken();
      return;
    } catch (e) {
      if (username !== user) continue;
      if (e instanceof ApiError && e.status >= 400 && e.status < 500) {
        showError(`Could not get a token for "${user}": ${describe(e)}. Continuing anonymously.`);
        username = null;
        sessionStorage.removeItem(USERNAME_KEY);
        clearToken();
        render();
        return;
      }
      showError(`Could not get a token: ${describe(e)}`);
      // An old token that has not expired yet is still worth a try.
      if (token && !tokenStale && token.expiresAt > Date.now() + 2000) return;
      await sleep(RECONNECT_DELAY_MS * 2);
    }
  }
}

/**
 * Proactive renewal: get a fresh token while still connected, then reconnect
 * with it (the server only checks the token in the CONNECT frame).
 */
async function renewToken(): Promise<void> {
  if (!username) return;
  try {
    await refreshToken();
  } catch (e) {
    showError(`Token renewal failed: ${describe(e)}`);
    scheduleRenewal(RENEW_RETRY_MS);
    return;
  }
  // If we are not connected right now, the next (re)connect picks the new token up.
  if (client.connected) await restart();
}

// ---------------------------------------------------------------------------
// STOMP client
// ---------------------------------------------------------------------------

const client = new Client({
  brokerURL: webSocketUrl(),
  reconnectDelay: RECONNECT_DELAY_MS,
  heartbeatIncoming: HEARTBEAT_MS,
  heartbeatOutgoing: HEARTBEAT_MS,
  connectionTimeout: 10_000,
  debug: (msg) => {
    if (debugEnabled) console.debug('[stomp]', msg);
  },

  // Runs before every connect and reconnect: make sure the CONNECT frame
  // carries a valid token. Must never throw (stompjs would stop reconnecting).
  beforeConnect: async (c) => {
    stompErrorOnThisSocket = false;
    disconnectedOnThisSocket = false;
    await ensureToken();
    c.connectHeaders = username && token ? { Authorization: `Bearer ${token.value}` } : {};
  },

  onConnect: (frame: IFrame) => {
    connectedNode = frame.headers['node'] || pageNode;
    // `connected` once every SUBSCRIBE is confirmed: the server sends a RECEIPT only when the
    // subscription is live on every node, so a message published after that is not missed.
    subscribeAll(() => setState('connected'));
  },

  onStompError: (frame: IFrame) => {
    stompErrorOnThisSocket = true;
    const message = frame.headers['message'] || 'unknown error';
    const body = frame.body?.trim();
    showError(`Server error: ${message}${body && body !== message ? ` (${body.slice(0, 200)})` : ''}`);
    if (/token/i.test(message)) tokenStale = true; // "token expired", "invalid token"
    if (message === DISCONNECTED_BY_SERVER) disconnectedOnThisSocket = true;
  },

  onWebSocketClose: (evt: CloseEvent) => {
    connectedNode = null;
    if (disconnectedOnThisSocket && !restarting) {
      // An administrator ended this user's sessions everywhere. Reconnecting (the token is still
      // valid) would undo that within a second, so stop here and let the user decide.
      // Called before stompjs schedules its reconnect: deactivate() cancels it.
      disconnectedByServer = username ?? 'this anonymous session';
      void client.deactivate();
      setState('disconnected');
      return;
    }
    // 1000 normal, 1001 going away, 1005 no status (e.g. our own close()).
    const unremarkable = evt.code === 1000 || evt.code === 1001 || evt.code === 1005;
    if (!restarting && !stompErrorOnThisSocket && (evt.reason || !unremarkable)) {
      const what = CLOSE_CODES[evt.code] ?? 'connection closed';
      showError(`WebSocket closed: ${evt.reason || what} (code ${evt.code}), retrying`);
    }
    // Called before stompjs schedules the reconnect; `active` tells whether it will.
    setState(client.active || restarting ? 'reconnecting' : 'disconnected');
  },

  onWebSocketError: () => {
    // A close event always follows; it is reported there.
  },
});

const debugEnabled = new URLSearchParams(window.location.search).has('debug');

/** Bumped by each connection's subscribeAll: a receipt of an earlier connection confirms nothing. */
let subscriptionRound = 0;

/**
 * Subscribes this connection to everything the page shows, each SUBSCRIBE with a `receipt`, and
 * calls `onReady` once all of them are confirmed.
 */
function subscribeAll(onReady: () => void): void {
  const round = ++subscriptionRound;
  let unconfirmed = 0;
  // Receipts arrive on later turns of the event loop, so every SUBSCRIBE below is counted first.
  const withReceipt = (onReceipt?: (frame: IFrame) => void): StompHeaders => {
    const receipt = `sub-${++receiptSeq}`;
    unconfirmed++;
    client.watchForReceipt(receipt, (frame) => {
      onReceipt?.(frame);
      if (round === subscriptionRound && --unconfirmed === 0) onReady();
    });
    return { receipt };
  };

  client.subscribe('/user/queue/events', (m: IMessage) => {
    const origin = m.headers['origin-node'] || '?';
    const value = m.body;
    addItem(ui.events, 'event', {
      main: `${value} from ${origin}`,
      meta: timeLabel(),
      attrs: { value, origin },
    });
  }, withReceipt());

  // Another user's direct messages and position are not this one's.
  if (username !== streamsUser) {
    resetStream(streams.direct);
    streamsUser = username;
  }

  subscribeStream(streams.chat, (m) => renderChat(ui.chat, 'chat-item', m), withReceipt);

  client.subscribe('/user/queue/errors', (m) => {
    const body = parseJson<{ error?: unknown }>(m.body);
    const text = body && typeof body.error === 'string' ? body.error : m.body;
    showError(`Server: ${text}`);
  }, withReceipt());

  if (username) {
    subscribeStream(streams.direct, (m) => renderChat(ui.direct, 'direct-item', m, true), withReceipt);
    // Only delivered to authenticated sessions; anonymous sessions do not subscribe.
    subscribeStream(streams.announcements, (m) => renderChat(ui.announcements, 'announcement', m), withReceipt);
  }
}

// ---------------------------------------------------------------------------
// History and recovery: after a reconnect, resume each stream where it stopped
// ---------------------------------------------------------------------------

/**
 * Subscribes to a stream, with the `receipt` header `withReceipt` makes. With a position from an
 * earlier connection it asks the server to resume from there (`resume-from`): the messages missed
 * in between arrive first, then live ones, and the RECEIPT says whether that worked.
 */
function subscribeStream(
  stream: Stream,
  onMessage: (m: IMessage) => void,
  withReceipt: (onReceipt?: (frame: IFrame) => void) => StompHeaders,
): void {
  const position = streamPositions.get(stream.destination);
  let headers: StompHeaders;
  if (position === undefined) {
    headers = withReceipt();
  } else {
    const shownBefore = [...stream.list.children]; // what a failed recovery makes stale
    headers = { ...withReceipt((frame) => onResumed(stream, frame, shownBefore)), 'resume-from': position };
  }
  client.subscribe(
    stream.destination,
    (m) => {
      const gap = m.headers['stream-gap'];
      if (gap !== undefined) {
        // The server could not deliver messages before this one: what the panel shows is incomplete.
        stream.list.replaceChildren();
        showRecovery(stream, `could not recover ${missedMessages(gap)}: reloaded`, 'gap');
      }
      onMessage(m);
      const next = m.headers['stream-position'];
      if (next !== undefined) streamPositions.set(stream.destination, next);
    },
    headers,
  );
}

function onResumed(stream: Stream, frame: IFrame, shownBefore: Element[]): void {
  if (frame.headers['recovered'] === 'true') {
    showRecovery(stream, `${missedMessages(frame.headers['recovered-count'])} recovered`, 'recovered');
    return;
  }
  // Nothing was replayed (position unknown, too old, or too far behind): the panel cannot be
  // trusted. A real app would reload its state from its own API; the demo starts the panel afresh
  // (keeping live messages that already arrived on the new subscription).
  for (const item of shownBefore) item.remove();
  showRecovery(stream, 'could not recover: reloaded', 'reloaded');
}

/** "3 missed messages", "1 missed message"; "missed messages" when the header holds no count. */
function missedMessages(count: string | undefined): string {
  const n = Number.parseInt(count ?? '', 10);
  return Number.isNaN(n) ? 'missed messages' : plural(n, 'missed message', 'missed messages');
}

function showRecovery(stream: Stream, text: string, outcome: 'recovered' | 'reloaded' | 'gap'): void {
  stream.notice.hidden = false;
  stream.notice.dataset.outcome = outcome;
  stream.notice.textContent = text;
  stream.notice.title = `${text} at ${timeLabel()}`;
}

/** Empties a panel and forgets its position: the next subscription starts afresh. */
function resetStream(stream: Stream): void {
  stream.list.replaceChildren();
  stream.notice.hidden = true;
  stream.notice.textContent = '';
  streamPositions.delete(stream.destination);
}

function renderChat(list: HTMLUListElement, testId: string, m: IMessage, direct = false): void {
  const msg = parseJson<ChatMessage>(m.body);
  if (!msg || typeof msg !== 'object') {
    addItem(list, testId, { main: m.body, meta: timeLabel() });
    return;
  }
  const from = msg.from ?? '?';
  const text = msg.text ?? '';
  const via = msg.node ? ` via ${msg.node}` : '';
  addItem(list, testId, {
    main: `${from}: ${text}`,
    meta: `${direct ? 'direct · ' : ''}${timeLabel(msg.ts)}${via}`,
    attrs: { from, node: msg.node ?? '' },
  });
}

/** Reconnect on purpose (new identity or renewed token). */
async function restart(): Promise<void> {
  restarting = true;
  disconnectedByServer = null;
  if (state !== 'disconnected') setState('reconnecting');
  try {
    await client.deactivate();
  } finally {
    restarting = false;
    connectedNode = null;
    if (state === 'disconnected') setState('connecting');
    client.activate();
  }
}

function publish(destination: string, body: unknown): boolean {
  if (!client.connected) {
    showError(`Not connected: cannot send to ${destination}`);
    return false;
  }
  try {
    client.publish({
      destination,
      body: body === undefined ? '' : JSON.stringify(body),
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
    });
    return true;
  } catch (e) {
    showError(`Send to ${destination} failed: ${describe(e)}`);
    return false;
  }
}

// ---------------------------------------------------------------------------
// Who is online (polls GET /api/demo/online while signed in)
// ---------------------------------------------------------------------------

async function pollOnline(): Promise<void> {
  const asked = username;
  if (!asked || onlineFetching) return;
  onlineFetching = true;
  try {
    online = await fetchOnline(ONLINE_TIMEOUT_MS);
    onlineError = null;
  } catch (e) {
    onlineError = describe(e);
  } finally {
    onlineFetching = false;
  }
  if (username !== asked) online = null; // signed out or switched meanwhile
  renderOnline();
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

function renderOnline(): void {
  if (!username) {
    ui.onlineSummary.textContent = 'Sign in to see who is online.';
    ui.online.hidden = true;
    ui.online.replaceChildren();
    ui.onlineOutcome.hidden = true;
    onlineRendered = '';
    return;
  }
  const failed = onlineError ? `Who is online could not be read (${onlineError}); retrying.` : '';
  if (!online) {
    ui.onlineSummary.textContent = failed || 'Asking who is online…';
    return;
  }
  ui.onlineSummary.textContent =
    (online.total === 0 ? 'No users online.' : `${plural(online.total, 'user', 'users')} online.`) +
    (failed ? ` ${failed}` : '');
  ui.online.hidden = false;
  const admin = username === ADMIN_USER;
  const key = JSON.stringify([username, admin, online.users, online.more]);
  if (key === onlineRendered) return; // unchanged: keep the buttons under the pointer
  onlineRendered = key;
  const rows = online.users.map((u) => {
    const li = document.createElement('li');
    li.dataset.testid = 'online-user';
    li.dataset.user = u.user;
    li.dataset.sessions = String(u.sessions);
    li.dataset.nodes = u.nodes.join(',');
    if (u.user === username) li.classList.add('me');
    const name = document.createElement('span');
    name.className = 'main';
    name.dataset.testid = 'online-name';
    name.textContent = u.user;
    const sessions = document.createElement('span');
    sessions.dataset.testid = 'online-sessions';
    sessions.textContent = plural(u.sessions, 'session', 'sessions');
    const nodes = document.createElement('span');
    nodes.dataset.testid = 'online-nodes';
    nodes.textContent = u.nodes.join(', ');
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.append(sessions, ' on ', nodes);
    li.append(name, meta);
    if (admin) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'secondary compact';
      button.dataset.testid = 'disconnect';
      button.textContent = 'disconnect';
      button.title = `End every session of ${u.user} on every node`;
      li.append(button);
    }
    return li;
  });
  if (online.more > 0) {
    const more = document.createElement('li');
    more.dataset.testid = 'online-more';
    more.className = 'more';
    more.textContent = `+${online.more} more`;
    rows.push(more);
  }
  ui.online.replaceChildren(...rows);
}

function showOutcome(text: string, ok: boolean): void {
  ui.onlineOutcome.hidden = false;
  ui.onlineOutcome.dataset.outcome = ok ? 'ok' : 'failed';
  ui.onlineOutcome.textContent = text;
}

/** Admin only: DELETE /api/users/{user}/sessions with this tab's (admin) token. */
async function disconnect(user: string, button: HTMLButtonElement): Promise<void> {
  if (!token) {
    showOutcome(`Could not disconnect ${user}: this tab has no token yet.`, false);
    return;
  }
  button.disabled = true;
  try {
    const { id } = await disconnectUser(user, token.value);
    showOutcome(`Asked every node to disconnect ${user} (request ${id}).`, true);
    void pollOnline();
  } catch (e) {
    showOutcome(`Could not disconnect ${user}: ${describe(e)}`, false);
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------
// Sign in / out
// ---------------------------------------------------------------------------

async function signIn(name: string): Promise<void> {
  ui.signIn.disabled = true;
  try {
    const t = await fetchToken(name);
    username = name;
    sessionStorage.setItem(USERNAME_KEY, name);
    adoptToken(t);
    online = null;
    onlineError = null;
    ui.onlineOutcome.hidden = true;
    render();
    void pollOnline();
    await restart();
  } catch (e) {
    showError(`Sign-in failed: ${describe(e)}`);
  } finally {
    ui.signIn.disabled = false;
  }
}

async function signOut(): Promise<void> {
  username = null;
  sessionStorage.removeItem(USERNAME_KEY);
  clearToken();
  online = null;
  onlineError = null;
  resetStream(streams.direct);
  resetStream(streams.announcements);
  render();
  await restart();
}

// ---------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------

ui.signInForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const name = ui.username.value.trim();
  if (!name) {
    showError('Enter a user name to sign in');
    return;
  }
  void signIn(name);
});

ui.signOut.addEventListener('click', () => void signOut());

ui.sendEvents.addEventListener('click', () => {
  publish('/app/events', undefined);
});

ui.chatForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const text = ui.chatText.value.trim();
  if (!text) return;
  if (publish('/app/chat', { text })) ui.chatText.value = '';
});

ui.directForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const to = ui.directTo.value.trim();
  const text = ui.directText.value.trim();
  if (!to || !text) {
    showError('A direct message needs a recipient and a text');
    return;
  }
  if (publish('/app/direct', { to, text })) {
    ui.directText.value = '';
    addItem(ui.direct, 'direct-sent', { main: `→ ${to}: ${text}`, meta: `sent · ${timeLabel()}`, attrs: { to } });
  }
});

ui.announceForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const text = ui.announceText.value.trim();
  if (!text) return;
  if (publish('/app/announce', { text })) ui.announceText.value = '';
});

ui.reconnect.addEventListener('click', () => void restart());

ui.online.addEventListener('click', (e) => {
  const button = (e.target as Element).closest<HTMLButtonElement>('[data-testid="disconnect"]');
  const user = button?.closest<HTMLLIElement>('[data-testid="online-user"]')?.dataset.user;
  if (button && user) void disconnect(user, button);
});

ui.errorsClear.addEventListener('click', () => {
  ui.errors.replaceChildren();
  ui.errorsPanel.hidden = true;
});
ui.eventsClear.addEventListener('click', () => ui.events.replaceChildren());

window.setInterval(renderTokenInfo, 1000);
window.setInterval(() => void pollOnline(), ONLINE_POLL_MS);

// Test hook: lets e2e tests drop the socket, e.g. __stompRelay.client.webSocket?.close().
declare global {
  interface Window {
    __stompRelay: {
      client: Client;
      readonly state: ConnState;
      readonly node: string | null;
      readonly username: string | null;
      readonly disconnectedByServer: string | null;
      /** the last stream-position seen per destination */
      readonly streamPositions: Record<string, string>;
      renewToken: () => Promise<void>;
    };
  }
}
window.__stompRelay = {
  client,
  get state() {
    return state;
  },
  get node() {
    return connectedNode ?? pageNode;
  },
  get username() {
    return username;
  },
  get disconnectedByServer() {
    return disconnectedByServer;
  },
  get streamPositions() {
    return Object.fromEntries(streamPositions);
  },
  renewToken,
};

async function start(): Promise<void> {
  render();
  try {
    const info = await fetchInfo();
    pageNode = info.node;
    tokenTtlSeconds = Number.isFinite(info.tokenTtlSeconds) ? info.tokenTtlSeconds : null;
  } catch (e) {
    showError(`Could not load node info: ${describe(e)}`);
  }
  // A tab remembers its sign-in (per tab, not shared between tabs).
  const remembered = sessionStorage.getItem(USERNAME_KEY);
  if (remembered) {
    username = remembered;
    ui.username.value = remembered;
  }
  setState('connecting');
  client.activate();
  void pollOnline();
}

void start();
