// The Noise XX handshake and transport: wa-session's responder (examples/noise_responder.rs, a
// loopback WebSocket endpoint) against a real Baileys client (7.0.0-rc14), once plain and once with
// creds.routingInfo set (the ED edge-routing prefix before WA 06 03).
//
// Baileys trusts our test root (WA_CERT_DETAILS.PUBLIC_KEY); note that its own chain check is only a
// shape check (research/wa-protocol.md 1.3), so the chain verification is proven by wa-session's own
// tests, not here. What this proves: our framing, prologue, key schedule and AES-GCM layout match a
// real client in both transport directions, and we read its registration ClientPayload.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import makeWASocket, { initAuthCreds, WA_CERT_DETAILS } from '@whiskeysockets/baileys';
import { tally } from './lib/rust-peer.mjs';

const PAIR_REF = '2@wab24-noise-responder-ref';
const TIMEOUT_MS = 20000;
const targetDir = process.env.CARGO_TARGET_DIR ?? 'target';
const binary = path.join(targetDir, 'release', 'examples', 'noise_responder');
const t = tally('noise-baileys');

const child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'inherit'] });
const killChild = () => { if (child.exitCode === null) child.kill('SIGTERM'); };
process.on('exit', killChild);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => { killChild(); process.exit(1); });

// Every JSON line the responder prints, and waiters for the next matching one.
const events = [];
const waiters = [];
createInterface({ input: child.stdout }).on('line', (line) => {
  let event;
  try { event = JSON.parse(line); } catch { console.log(`responder: ${line}`); return; }
  events.push(event);
  for (const w of waiters.slice()) {
    if (w.match(event)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(event); }
  }
});

function waitFor(match, what) {
  const seen = events.find(match);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), TIMEOUT_MS);
    waiters.push({ match, resolve: (e) => { clearTimeout(timer); resolve(e); } });
  });
}

const silent = {
  level: 'silent',
  child() { return silent; },
  trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {},
};

const hex = (b) => Buffer.from(b).toString('hex');
const be = (n, bytes) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b.subarray(4 - bytes); };

async function runClient(port, connection, routingInfo) {
  const creds = initAuthCreds();
  if (routingInfo) creds.routingInfo = routingInfo;
  const keys = { get: async () => ({}), set: async () => {} };
  const sock = makeWASocket({
    waWebSocketUrl: `ws://127.0.0.1:${port}/ws/chat`,
    auth: { creds, keys },
    logger: silent,
    printQRInTerminal: false,
    version: [2, 3000, 1035194821],
    connectTimeoutMs: TIMEOUT_MS,
    markOnlineOnConnect: false,
  });
  const label = routingInfo ? 'with routingInfo' : 'plain';
  const qr = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no QR from Baileys')), TIMEOUT_MS);
    sock.ev.on('connection.update', (update) => {
      if (update.qr) { clearTimeout(timer); resolve(update.qr); }
    });
  });
  try {
    const hs = await waitFor((e) => e.event === 'handshake' && e.connection === connection, `handshake ${connection}`);
    const p = hs.payload;
    const d = p.device_pairing_data ?? {};
    t.ok(true, `${label}: handshake completed`);
    t.ok(p.platform === 'WEB', `${label}: platform WEB (got ${p.platform})`);
    t.ok(p.passive === false && p.pull === false, `${label}: registration payload (passive and pull false)`);
    t.ok(Array.isArray(p.app_version) && p.app_version[1] === 3000, `${label}: app version 2.3000.x`);
    t.ok(hs.noise_key === hex(creds.noiseKey.public), `${label}: decrypted client static = Baileys' noise key`);
    t.ok(d.e_ident === hex(creds.signedIdentityKey.public), `${label}: devicePairingData identity key = Baileys' identity key`);
    t.ok(d.e_regid === hex(be(creds.registrationId, 4)), `${label}: registration id`);
    t.ok(d.e_skey_id === hex(be(creds.signedPreKey.keyId, 3)), `${label}: signed prekey id (3 bytes)`);
    t.ok(d.e_skey_val === hex(creds.signedPreKey.keyPair.public), `${label}: signed prekey`);
    t.ok(d.e_skey_sig_valid === true, `${label}: signed prekey signature verifies in Rust`);
    t.ok(d.e_keytype === '05' && typeof d.build_hash === 'string' && d.build_hash.length === 32, `${label}: key type 05 and 16-byte build hash`);
    t.ok(hs.routing_info === (routingInfo ? hex(routingInfo) : null), `${label}: ED routing info read by the responder`);

    // Server -> client transport frame: Baileys decrypted our pair-device iq and built a QR from it.
    const code = await qr;
    const fields = code.split('#').pop().split(',');
    t.ok(fields[0] === PAIR_REF, `${label}: Baileys decrypted our transport frame (QR ref)`);
    t.ok(fields[1] === Buffer.from(creds.noiseKey.public).toString('base64'), `${label}: QR carries the noise key`);
    // Client -> server transport frame: we decrypted Baileys' iq result.
    const reply = await waitFor((e) => e.event === 'node' && e.connection === connection && e.tag === 'iq', `iq reply ${connection}`);
    t.ok(reply.type === 'result' && reply.id === `noise-${connection}`, `${label}: we decrypted Baileys' transport frame (iq result)`);
  } catch (error) {
    t.ok(false, `${label}: ${error.message}`);
  } finally {
    sock.end(undefined);
  }
  const errors = events.filter((e) => e.event === 'error' && e.connection === connection);
  t.ok(errors.length === 0, `${label}: responder reported no error ${JSON.stringify(errors)}`);
}

try {
  const listening = await waitFor((e) => e.event === 'listening', 'the responder to listen');
  WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(listening.root, 'hex');
  await runClient(listening.port, 1, null);
  await runClient(listening.port, 2, Buffer.from('wab24-edge-routing-info'));
} catch (error) {
  t.ok(false, error.message);
} finally {
  killChild();
}
t.finish('Baileys 7.0.0-rc14 against the Rust Noise responder, plain and with the ED prefix: handshake, ClientPayload fields, transport both ways');
process.exit(process.exitCode ?? 0);
