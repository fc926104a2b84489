// wa-sim against an unmodified Baileys client (7.0.0-rc14): only `waWebSocketUrl` and
// WA_CERT_DETAILS.PUBLIC_KEY (the simulator's test root) are changed. Baileys connects, shows a QR,
// is paired through the control API (the simulator plays the phone: ADV signed with the account
// key, HMAC with the ADV secret from the QR, device signature verified), restarts after 515, logs
// in, uploads prekeys and reaches `open`; restarted with its saved creds it logs in with no QR.
// Then the control API's stream errors and kick, and a QR with a wrong ADV secret (refused by
// Baileys' HMAC check, so the pairing fails). Last, a fresh Baileys pairs and opens over wss://
// with an https.Agent trusting only the simulator's self-signed certificate; on it, added latency
// and a black-holed connection, which Baileys' keepalive must declare lost.
import { randomBytes } from 'node:crypto';
import https from 'node:https';
import { WA_CERT_DETAILS, DisconnectReason } from '@whiskeysockets/baileys';
import { tally } from './lib/rust-peer.mjs';
import { cleanup, connect, control, freshAuth, noUnhandledIqs, pairAndOpen, silent, startSim } from './lib/wa-sim.mjs';

const PHONE = '15550001111';
const OTHER = '15550001112';
const NOBODY = '15550001199';
const t = tally('wa-sim-baileys');
const figures = {};

const step = async (what, fn) => {
  try { return await fn(); } catch (error) { t.ok(false, `${what}: ${error.message}`); return undefined; }
};

try {
  const info = await startSim();
  t.ok(/^ws:\/\/127\.0\.0\.1:\d+\/ws\/chat$/.test(info.ws_url) && info.root_key.length === 64, 'wa-sim serve prints ws URL and root key');
  WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(info.root_key, 'hex');

  let r = await control(info, 'POST', '/accounts', { phone: PHONE });
  t.ok(r.status === 200 && r.body.jid === `${PHONE}@s.whatsapp.net` && /@lid$/.test(r.body.lid), 'control: create account');
  const accountLid = r.body.lid.split('@')[0];
  r = await control(info, 'POST', '/accounts', { phone: PHONE });
  t.ok(r.status === 409, 'control: duplicate account refused');

  const auth = freshAuth();

  // 1. Registration: pair-device -> QR.
  let c = connect(info, auth);
  const qr = await step('QR shown', async () => (await c.until((s) => s.qrs.length > 0, 'qr')).qrs[0]);
  t.ok(typeof qr === 'string' && qr.startsWith('https://wa.me/settings/linked_devices#') && qr.split(',').length === 5,
    'Baileys completed the Noise handshake (chain under the sim root) and shows a 5-field QR');

  // 2. Scan as the phone.
  const t0 = performance.now();
  r = await step('scan', () => control(info, 'POST', '/scan', { qr, phone: PHONE }));
  t.ok(r?.status === 200 && r.body.device >= 1, `control: scan paired the device (${JSON.stringify(r?.body)})`);
  const paired = r?.body ?? {};
  await step('515 after pairing', () => c.until((s) => s.close, 'close after pairing'));
  t.ok(c.seen.close?.statusCode === DisconnectReason.restartRequired, `Baileys closed with 515 restart required (${JSON.stringify(c.seen.close)})`);
  t.ok(auth.creds.me?.id === paired.jid, `Baileys stored its jid ${auth.creds.me?.id} (sim says ${paired.jid})`);
  t.ok(auth.creds.me?.lid === paired.lid, `Baileys stored its lid ${auth.creds.me?.lid}`);
  t.ok(auth.creds.account?.accountSignatureKey?.length === 32 && auth.creds.platform === 'android', 'Baileys accepted the ADV identity (account key, platform)');

  // 3. Restart after 515: login with the saved creds, prekeys, open.
  c = connect(info, auth);
  await step('open after 515', () => c.until((s) => s.open, 'open after restart'));
  t.ok(c.seen.open && c.seen.qrs.length === 0, 'restarted socket logged in and reached open with no QR');
  figures.scanToOpenMs = Math.round(performance.now() - t0);
  await new Promise((res) => setTimeout(res, 500));
  r = await control(info, 'GET', `/accounts/${PHONE}/devices`);
  const device = r.body.find?.((d) => d.device === paired.device);
  t.ok(device && device.prekeys >= 30 && device.connections === 1, `prekeys uploaded and stored (${device?.prekeys})`);
  t.ok(device?.lid === `${accountLid}:${paired.device}@lid`, 'device listed with its LID');
  const pong = await step('ping', () => c.sock.query({ tag: 'iq', attrs: { to: '@s.whatsapp.net', type: 'get', xmlns: 'w:p' }, content: [{ tag: 'ping', attrs: {} }] }));
  t.ok(pong?.attrs?.type === 'result', 'w:p ping answered');
  const devices = await step('usync', () => c.sock.onWhatsApp(PHONE));
  t.ok(Array.isArray(devices) && devices[0]?.exists === true, `usync contact lookup (${JSON.stringify(devices)})`);
  // "Is this number on WhatsApp" for others (wab24's writing first asks the same usync contact
  // query): a registered number is there with its JID, one nobody registered is answered
  // type="out", which Baileys' onWhatsApp leaves out of its list.
  await control(info, 'POST', '/accounts', { phone: OTHER });
  const lookup = await step('usync in/out', () => c.sock.onWhatsApp(`+${OTHER}`, NOBODY));
  t.ok(Array.isArray(lookup) && lookup.length === 1 && lookup[0].exists === true && lookup[0].jid === `${OTHER}@s.whatsapp.net`,
    `onWhatsApp: a registered number is in with its jid, one not on WhatsApp is not (${JSON.stringify(lookup)})`);
  c.sock.end(undefined);
  await step('close', () => c.until((s) => s.close, 'close'));

  // 4. Restart with saved creds: no QR, open again.
  const t1 = performance.now();
  c = connect(info, auth);
  await step('open with saved creds', () => c.until((s) => s.open, 'open with saved creds'));
  t.ok(c.seen.open && c.seen.qrs.length === 0, 'logged in again with saved creds, no QR');
  figures.reloginToOpenMs = Math.round(performance.now() - t1);

  // 5. Stream errors from the control API.
  r = await control(info, 'POST', '/stream-error', { phone: PHONE, error: '503' });
  await step('503', () => c.until((s) => s.close, 'close on 503'));
  t.ok(r.body.closed === 1 && c.seen.close?.statusCode === 503, `injected 503 (${JSON.stringify(c.seen.close)})`);
  c = connect(info, auth);
  await step('open after 503', () => c.until((s) => s.open, 'open after 503'));
  const second = connect(info, auth);
  await step('replaced', () => c.until((s) => s.close, 'close on replaced'));
  t.ok(c.seen.close?.statusCode === DisconnectReason.connectionReplaced, `a second login replaced the first (${JSON.stringify(c.seen.close)})`);
  await step('second open', () => second.until((s) => s.open, 'second open'));
  c = second;

  // 6. Kick: 401 device_removed, then login refused with failure 401.
  r = await control(info, 'POST', '/kick', { phone: PHONE, device: paired.device });
  await step('kick', () => c.until((s) => s.close, 'close on kick'));
  t.ok(r.body.closed === 1 && c.seen.close?.statusCode === DisconnectReason.loggedOut, `kick -> 401 device_removed (${JSON.stringify(c.seen.close)})`);
  c = connect(info, auth);
  await step('refused', () => c.until((s) => s.close, 'close on refused login'));
  t.ok(!c.seen.open && c.seen.close?.statusCode === 401, `removed device's login refused with failure 401 (${JSON.stringify(c.seen.close)})`);

  // 7. A QR with a wrong ADV secret: Baileys' HMAC check refuses pair-success, pairing fails.
  const other = freshAuth();
  c = connect(info, other);
  const qr2 = await step('second QR', async () => (await c.until((s) => s.qrs.length > 0, 'qr')).qrs[0]);
  const fields = (qr2 ?? '').split(',');
  fields[3] = randomBytes(32).toString('base64');
  r = await control(info, 'POST', '/scan', { qr: fields.join(','), phone: PHONE });
  t.ok(r.status === 422 && !other.creds.me, `a wrong ADV secret fails pairing (${r.status} ${JSON.stringify(r.body)})`);
  r = await control(info, 'POST', '/scan', { qr: 'not a qr', phone: PHONE });
  t.ok(r.status === 400, 'control: malformed QR refused');

  r = await control(info, 'GET', '/counters');
  const k = r.body;
  t.ok(k.pairings === 1 && k.pair_device_sent === 2 && k.logins >= 4 && k.login_failures === 1 && k.handshake_failures === 0,
    `counters (${JSON.stringify(k)})`);

  // 8. wss://: a fresh Baileys pairs and opens over TLS, trusting only the simulator's
  // self-signed certificate (an https.Agent with it as the CA; verification stays on).
  t.ok(/^wss:\/\/127\.0\.0\.1:\d+\/ws\/chat$/.test(info.wss_url ?? '') && info.certificate_pem?.startsWith('-----BEGIN CERTIFICATE-----'),
    `wa-sim serve --tls prints wss_url and the certificate (${info.wss_url})`);
  const overTls = { ...info, ws_url: info.wss_url };
  const untrusted = connect(overTls, freshAuth());
  await step('untrusted wss', () => untrusted.until((s) => s.close, 'close without trust'));
  t.ok(!untrusted.seen.open && untrusted.seen.qrs.length === 0, `without the certificate Baileys cannot connect over wss (${JSON.stringify(untrusted.seen.close)})`);
  untrusted.sock.end(undefined);
  const agent = new https.Agent({ ca: info.certificate_pem });
  const tls = await step('pair over wss', () => pairAndOpen(overTls, PHONE, { agent }));
  t.ok(tls?.c.seen.open === true, 'Baileys paired and reached connection: open over wss://');
  const pongTls = await step('ping over wss', () => tls.c.sock.query({ tag: 'iq', attrs: { to: '@s.whatsapp.net', type: 'get', xmlns: 'w:p' }, content: [{ tag: 'ping', attrs: {} }] }));
  t.ok(pongTls?.attrs?.type === 'result', 'w:p ping answered over wss');
  r = await control(info, 'GET', '/counters');
  t.ok(r.body.tls_connections >= 2 && r.body.tls_failures >= 1 && r.body.pairings === 2,
    `counters count the TLS connections and the refused one (${r.body.tls_connections} tls, ${r.body.tls_failures} failed)`);

  // 9. Faults against Baileys: with 300 ms of added latency a ping still comes back (late); a
  // black-holed connection (silent, TCP open) is declared lost by Baileys' own keepalive (1 s
  // interval here; seen in its log, since Baileys then waits for ws's 30 s close timeout before
  // it reports the close), and the client logs in again.
  tls?.c.sock.end(undefined);
  let lostTrace = null;
  const watcher = {
    ...silent,
    child() { return watcher; },
    info(obj, msg) { if (msg === 'connection errored') lostTrace = String(obj?.trace ?? ''); },
  };
  let f = connect(overTls, tls?.auth ?? freshAuth(), { agent, keepAliveIntervalMs: 1000, logger: watcher });
  await step('open for faults', () => f.until((s) => s.open, 'open for faults'));
  await control(info, 'POST', '/faults/latency', { phone: PHONE, send_ms: 300 });
  const t2 = performance.now();
  const late = await step('ping with latency', () => f.sock.query({ tag: 'iq', attrs: { to: '@s.whatsapp.net', type: 'get', xmlns: 'w:p' }, content: [{ tag: 'ping', attrs: {} }] }));
  const rtt = Math.round(performance.now() - t2);
  t.ok(late?.attrs?.type === 'result' && rtt >= 300, `with 300 ms latency a ping is answered after ${rtt} ms`);
  figures.pingWith300msLatencyMs = rtt;
  r = await control(info, 'POST', '/faults/clear');
  t.ok(r.body.cleared === 1, 'faults cleared');
  r = await control(info, 'POST', '/faults/black-hole', { phone: PHONE });
  const t3 = performance.now();
  while (lostTrace === null && performance.now() - t3 < 15000) await new Promise((res) => setTimeout(res, 100));
  figures.deadSocketDetectedMs = Math.round(performance.now() - t3);
  t.ok(r.body.black_holed === 1 && lostTrace?.includes('Connection was lost'),
    `black hole: Baileys' keepalive declared the connection lost after ${Math.round(performance.now() - t3)} ms (${lostTrace?.split('\n')[0]})`);
  f = connect(overTls, tls?.auth ?? freshAuth(), { agent });
  await step('open after the dead socket', () => f.until((s) => s.open, 'open after the dead socket'));
  t.ok(f.seen.open, 'logged in again after the dead connection');
  await noUnhandledIqs(t, info);
} catch (error) {
  t.ok(false, `unexpected: ${error.stack}`);
}
console.log(`wa-sim-baileys: figures ${JSON.stringify(figures)}`);
t.finish('wa-sim serve + Baileys: handshake under the sim root, QR (5-field), pairing by the control API with ADV signatures, 515 restart, login, prekey upload, open, ping, usync, re-login with saved creds, 503, replaced, kick (401), refused login, wrong ADV secret, pairing and open over wss:// trusting the sim certificate, latency and a black-holed connection caught by the Baileys keepalive');
cleanup();
process.exit(process.exitCode ?? 0);
