'use strict';
// Benchmark peer: one socket.io 4 node. Nodes share Redis through @socket.io/redis-adapter,
// so io.to(room).emit() reaches the room's sockets on every node. Each socket authenticates
// with an HS256 JWT (handshake auth.token) and joins "user:<sub>" and "all".
// POST /api/loadtest/runs has the same semantics as the Java publisher in
// src/main/java/io/stomprelay/loadtest: open loop, payload carries the scheduled send time.
//
// env: PORT, REDIS_URL, JWT_SECRET, NODE_ID, PERMESSAGE_DEFLATE=1 (off by default)

const http = require('node:http');
const crypto = require('node:crypto');
const { performance } = require('node:perf_hooks');
const { Server } = require('socket.io');
const { createAdapter } = require('@socket.io/redis-adapter');
const { createClient } = require('redis');

const PORT = Number(process.env.PORT || 3000);
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const SECRET = process.env.JWT_SECRET;
const NODE_ID = process.env.NODE_ID || 'node';
if (!SECRET || SECRET.length < 32) {
  console.error('JWT_SECRET (>= 32 chars) is required');
  process.exit(2);
}

const b64url = (buf) => buf.toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');

/** Verifies an HS256 JWT and returns its sub claim; throws otherwise. */
function verifyJwt(token) {
  const parts = String(token || '').split('.');
  if (parts.length !== 3) throw new Error('malformed token');
  const sig = b64url(crypto.createHmac('sha256', SECRET).update(parts[0] + '.' + parts[1]).digest());
  const a = Buffer.from(sig);
  const b = Buffer.from(parts[2]);
  if (a.length !== b.length || !crypto.timingSafeEqual(a, b)) throw new Error('bad signature');
  const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  if (typeof claims.exp !== 'number' || claims.exp < Date.now() / 1000) throw new Error('expired');
  if (!claims.sub) throw new Error('no sub');
  return claims.sub;
}

const epochMicros = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

let io;
let running = false;
let runIds = 0;

/** Open-loop publisher: message i is due at start + i/rate; bounded by seconds + 2 s. */
function publish(req) {
  return new Promise((resolve) => {
    const mode = req.mode || 'user';
    const users = req.users || 200;
    const prefix = req.userPrefix || 'u';
    const rate = req.rate || 1000;
    const seconds = req.seconds || 10;
    const runId = req.runId != null ? req.runId : ++runIds;
    const pad = 'x'.repeat(Math.max(0, (req.payloadBytes || 100) - 60));
    const planned = Math.floor(rate * seconds);
    const periodNs = 1e9 / rate;
    const cutoffNs = seconds * 1e9 + 2e9;
    const start = process.hrtime.bigint();
    const startMicros = epochMicros();
    let sent = 0;
    let maxLag = 0;
    const done = () => resolve({ runId, mode, planned, sent, elapsedMillis: Math.round(Number(process.hrtime.bigint() - start) / 1e6), maxLagMicros: Math.round(maxLag) });
    const tick = () => {
      const el = Number(process.hrtime.bigint() - start);
      if (el > cutoffNs) return done();
      const due = Math.min(planned, Math.floor(el / periodNs) + 1);
      while (sent < due) {
        const offset = sent * periodNs;
        const payload = `{"run":${runId},"seq":${sent},"sent":${startMicros + Math.floor(offset / 1000)},"pad":"${pad}"}`;
        if (mode === 'topic') io.to('all').emit('bench', payload);
        else io.to('user:' + prefix + Math.floor(Math.random() * users)).emit('bench', payload);
        sent++;
      }
      maxLag = Math.max(maxLag, (el - (sent - 1) * periodNs) / 1000);
      if (sent >= planned) return done();
      const waitMs = (sent * periodNs - Number(process.hrtime.bigint() - start)) / 1e6;
      setTimeout(tick, Math.max(0, Math.floor(waitMs)));
    };
    tick();
  });
}

function handleHttp(req, res) {
  const reply = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.method !== 'POST' || req.url !== '/api/loadtest/runs') return reply(404, { error: 'not found' });
  let raw = '';
  req.on('data', (c) => { raw += c; if (raw.length > 65536) req.destroy(); });
  req.on('end', async () => {
    let body;
    try { body = JSON.parse(raw || '{}'); } catch { return reply(400, { error: 'bad json' }); }
    if (!['user', 'topic'].includes(body.mode || 'user') || !(body.rate > 0 && body.rate <= 1e6) ||
        !((body.seconds || 10) >= 1 && (body.seconds || 10) <= 120)) {
      return reply(400, { error: 'mode user|topic, 0<rate<=1e6, 1<=seconds<=120' });
    }
    if (running) return reply(409, { error: 'a load-test run is already in progress' });
    running = true;
    try { reply(200, await publish(body)); } finally { running = false; }
  });
}

async function main() {
  const server = http.createServer(handleHttp);
  const deflate = process.env.PERMESSAGE_DEFLATE === '1';
  io = new Server(server, { transports: ['websocket'], serveClient: false, perMessageDeflate: deflate ? { threshold: 0 } : false });
  const pub = createClient({ url: REDIS_URL });
  const sub = pub.duplicate();
  // node-redis reconnects on its own; without these the adapter only warns "missing 'error' handler"
  for (const [name, client] of [['pub', pub], ['sub', sub]]) {
    client.on('error', (e) => console.error(`redis ${name}: ${e.message}`));
    client.on('reconnecting', () => console.error(`redis ${name}: reconnecting`));
    client.on('ready', () => console.error(`redis ${name}: ready`));
  }
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub));
  io.use((socket, next) => {
    try {
      socket.data.user = verifyJwt(socket.handshake.auth && socket.handshake.auth.token);
      next();
    } catch (e) {
      next(new Error('unauthorized: ' + e.message));
    }
  });
  io.on('connection', (socket) => socket.join(['user:' + socket.data.user, 'all']));
  server.listen(PORT, '127.0.0.1', () => console.log(`socket.io node ${NODE_ID} on ${PORT}, redis ${REDIS_URL}`));
  const stop = () => { io.close(); pub.quit().catch(() => {}); sub.quit().catch(() => {}); setTimeout(() => process.exit(0), 500).unref(); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => { console.error(e); process.exit(1); });
