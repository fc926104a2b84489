// Shared harness for checks that run wa-sim with unmodified Baileys clients: start the simulator,
// call its control API, keep Baileys' auth state in memory, open sockets and wait on their events,
// and pair a fresh client through `POST /scan`.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import makeWASocket, { initAuthCreds } from '@whiskeysockets/baileys';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(root, 'target');
export const simBinary = path.join(targetDir, 'release', 'wa-sim');
export const VERSION = [2, 3000, 1043857760];
export const debug = !!process.env.WA_SIM_DEBUG;
const children = [];
export const sockets = [];

export function cleanup() {
  for (const sock of sockets) { try { sock.end(undefined); } catch {} }
  for (const child of children) { try { child.kill('SIGKILL'); } catch {} }
}
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => { cleanup(); process.exit(1); });

export const silent = {
  level: 'silent',
  child() { return silent; },
  trace() {}, debug() {}, info() {},
  warn(...a) { if (debug) console.error('baileys warn', ...a); },
  error(...a) { if (debug) console.error('baileys error', ...a); },
  fatal(...a) { if (debug) console.error('baileys fatal', ...a); },
};

// Spawns `wa-sim serve` on loopback with a `wss://` listener too; resolves its JSON line
// {ws_url, wss_url, root_key, control_url, media_url, certificate_pem, ...}.
export function startSim(seed = 7) {
  const child = spawn(simBinary, ['serve', '--addr', '127.0.0.1:0', '--tls', '--seed', String(seed)], {
    stdio: ['ignore', 'pipe', debug ? 'inherit' : 'ignore'],
    env: { ...process.env, RUST_LOG: debug ? 'wa_sim=debug' : 'wa_sim=warn' },
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => resolve(JSON.parse(line)));
    child.once('exit', (code) => reject(new Error(`wa-sim exited with ${code}`)));
  });
}

export async function control(info, method, route, body) {
  const res = await fetch(info.control_url + route, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json() };
}

// Fails the check when the scenario made wa-sim answer an iq it does not implement (wa-sim
// answers those with 501 feature-not-implemented and counts them per namespace in
// `iqs_unhandled_namespaces`), so that a feature the simulator lacks cannot hide.
export async function noUnhandledIqs(t, info) {
  const { body } = await control(info, 'GET', '/counters');
  t.ok(body.iqs_unhandled === 0,
    `no iq went unanswered by wa-sim (${body.iqs_unhandled} unhandled: ${JSON.stringify(body.iqs_unhandled_namespaces)})`);
}

// An in-memory Signal key store in the shape Baileys' auth state expects.
export function memoryKeys() {
  const data = {};
  return {
    async get(type, ids) {
      const out = {};
      for (const id of ids) if (data[type]?.[id] !== undefined) out[id] = data[type][id];
      return out;
    },
    async set(update) {
      for (const type of Object.keys(update)) {
        data[type] ??= {};
        for (const [id, value] of Object.entries(update[type])) {
          if (value === null || value === undefined) delete data[type][id]; else data[type][id] = value;
        }
      }
    },
    count(type) { return Object.keys(data[type] ?? {}).length; },
  };
}

export function freshAuth() {
  return { creds: initAuthCreds(), keys: memoryKeys() };
}

// One Baileys socket. `seen` collects connection events and, with `record`, received messages
// (`messages.upsert`), status updates (`messages.update`) and raw receipt attributes; `until(predicate)` waits on `seen`.
export function connect(info, auth, options = {}) {
  const sock = makeWASocket({
    waWebSocketUrl: info.ws_url,
    auth,
    logger: silent,
    printQRInTerminal: false,
    version: VERSION,
    syncFullHistory: false,
    markOnlineOnConnect: false,
    connectTimeoutMs: 15000,
    defaultQueryTimeoutMs: 15000,
    ...options,
  });
  sockets.push(sock);
  const seen = { qrs: [], open: false, close: null, messages: [], updates: [], receipts: [] };
  const waiters = [];
  const notify = () => { for (const w of waiters.splice(0)) w(); };
  sock.ev.on('creds.update', (update) => Object.assign(auth.creds, update));
  sock.ev.on('connection.update', (u) => {
    if (u.qr) seen.qrs.push(u.qr);
    if (u.connection === 'open') seen.open = true;
    if (u.connection === 'close') {
      seen.close = { statusCode: u.lastDisconnect?.error?.output?.statusCode, message: u.lastDisconnect?.error?.message };
    }
    notify();
  });
  sock.ev.on('messages.upsert', ({ messages }) => { seen.messages.push(...messages); notify(); });
  sock.ev.on('messages.update', (updates) => { seen.updates.push(...updates); notify(); });
  sock.ws.on('CB:receipt', (node) => { seen.receipts.push(node.attrs); notify(); });
  const until = (predicate, what, ms = 20000) => new Promise((resolve, reject) => {
    const check = () => {
      if (predicate(seen)) { clearTimeout(timer); resolve(seen); return true; }
      return false;
    };
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; close=${JSON.stringify(seen.close)}`)), ms);
    if (!check()) {
      const loop = () => { if (!check()) waiters.push(loop); };
      waiters.push(loop);
    }
  });
  return { sock, seen, until };
}

// Pairs a fresh Baileys client with account `phone` (QR, scan, 515) and logs it in again with the
// saved creds (`options` go to makeWASocket); resolves { auth, c, paired } with `c` open.
export async function pairAndOpen(info, phone, options = {}) {
  const auth = freshAuth();
  let c = connect(info, auth, options);
  const qr = (await c.until((s) => s.qrs.length > 0, 'qr')).qrs[0];
  const r = await control(info, 'POST', '/scan', { qr, phone });
  if (r.status !== 200) throw new Error(`scan failed: ${r.status} ${JSON.stringify(r.body)}`);
  await c.until((s) => s.close, 'close after pairing');
  c = connect(info, auth, options);
  await c.until((s) => s.open, 'open after 515');
  return { auth, c, paired: r.body };
}
