// wa-session's Client (wa-session/examples/client_peer.rs, a JSON-lines peer) against an
// unmodified Baileys 7.0.0-rc14 through wa-sim, both directions: text, image, voice note (a real
// Ogg Opus stream), document, quoted reply, reaction, delivery and read receipts. Both sides
// download the other's media and compare it byte for byte with what was sent.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { WA_CERT_DETAILS, downloadMediaMessage } from '@whiskeysockets/baileys';
import { tally } from './lib/rust-peer.mjs';
import { silentOggOpus } from './lib/ogg-opus.mjs';
import { cleanup, control, noUnhandledIqs, pairAndOpen, startSim } from './lib/wa-sim.mjs';

// The blob host's certificate is self-signed (loopback only); the Rust peer trusts it explicitly.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

const RUST = '15550008181';
const BAILEYS = '15550008282';
const ONLINE = { markOnlineOnConnect: true };
const WAIT_MS = 20000;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const peerBinary = path.join(process.env.CARGO_TARGET_DIR || path.join(root, 'target'), 'release', 'examples', 'client_peer');
const t = tally('wa-sim-client');
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
const textOf = (m) => m?.conversation ?? m?.extendedTextMessage?.text;
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
const step = async (what, fn) => {
  try { return await fn(); } catch (error) { t.ok(false, `${what}: ${error.message}`); return undefined; }
};
const children = [];
const temporary = [];
process.on('exit', () => { for (const dir of temporary) rmSync(dir, { recursive: true, force: true }); });
// A hang fails the check instead of blocking the suite.
const deadline = setTimeout(() => {
  t.ok(false, 'the whole check took longer than 240 s');
  t.finish('(aborted)');
  for (const child of children) child.kill('SIGKILL');
  cleanup();
  process.exit(1);
}, 240000);

// The Rust peer: `events` collects every stdout line; `call` sends a command and resolves its answer.
function startClientPeer(info) {
  const child = spawn(peerBinary, [], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, WA_URL: info.ws_url, WA_ROOT_KEY: info.root_key, WA_CERT_PEM: info.certificate_pem, RUST_LOG: 'warn' },
  });
  children.push(child);
  const events = [];
  const waiters = [];
  const notify = () => { for (const w of waiters.splice(0)) w(); };
  createInterface({ input: child.stdout }).on('line', (line) => {
    try { events.push(JSON.parse(line)); } catch { events.push({ event: 'garbage', line }); }
    notify();
  });
  let exited = null;
  child.once('exit', (code, signal) => { exited = { code, signal }; notify(); });
  const until = (predicate, what, ms = WAIT_MS) => new Promise((resolve, reject) => {
    const check = () => {
      const found = events.find(predicate);
      if (found) { clearTimeout(timer); resolve(found); return true; }
      if (exited) { clearTimeout(timer); reject(new Error(`client_peer exited (${JSON.stringify(exited)}) before ${what}`)); return true; }
      return false;
    };
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what} at the Rust client`)), ms);
    if (!check()) {
      const loop = () => { if (!check()) waiters.push(loop); };
      waiters.push(loop);
    }
  });
  let req = 0;
  const call = async (op, fields) => {
    const id = ++req;
    child.stdin.write(JSON.stringify({ op, req: id, ...fields }) + '\n');
    const answer = await until((e) => e.req === id && (e.event === 'sent' || e.event === 'error'), `the answer to ${op}`, 30000);
    if (answer.event === 'error') throw new Error(`${op}: ${answer.error}`);
    return answer;
  };
  return { child, events, until, call };
}

try {
  const info = await startSim(19);
  WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(info.root_key, 'hex');
  for (const phone of [RUST, BAILEYS]) await control(info, 'POST', '/accounts', { phone });

  // Baileys, online (it sends plain delivery receipts only then, and `available` needs a push name).
  const b = await pairAndOpen(info, BAILEYS, ONLINE);
  b.auth.creds.me.name = 'Baileys';
  await b.c.sock.sendPresenceUpdate('available');
  const baileysDevice = b.paired.jid;

  // Our Client: it shows a QR, the simulated phone of RUST scans it through the control API.
  const peer = startClientPeer(info);
  const qr = await peer.until((e) => e.event === 'qr', 'a QR code');
  const scan = await control(info, 'POST', '/scan', { qr: qr.code, phone: RUST });
  t.ok(scan.status === 200, `the Client's QR was scanned by the phone of ${RUST} (${scan.status})`);
  const connected = await peer.until((e) => e.event === 'connected', 'connected');
  const rustDevice = connected.jid;
  t.ok(rustDevice?.startsWith(`${RUST}:`) && baileysDevice?.startsWith(`${BAILEYS}:`) && b.c.seen.open,
    `both clients paired and online (Rust ${rustDevice}, Baileys ${baileysDevice})`);
  await sleep(300);
  const rustJid = `${RUST}@s.whatsapp.net`;
  const baileysJid = `${BAILEYS}@s.whatsapp.net`;
  const sameUser = (jid, phone) => typeof jid === 'string' && jid.split(/[:@]/)[0] === phone;

  // What each side saw.
  const atBaileys = (id) => b.c.seen.messages.find((m) => m.key.id === id && !m.key.fromMe);
  const atRust = (id) => peer.events.find((e) => e.event === 'message' && e.id === id);
  const baileysStatus = (id, min) => b.c.seen.updates.some((u) => u.key.id === id && (u.update.status ?? 0) >= min);
  // A receipt stanza at Baileys sent by our Client's device (not by the simulated phone of RUST).
  const baileysReceipt = (id, type) => b.c.seen.receipts.find((r) => r.id === id && r.from === rustDevice && r.type === type);
  const rustReceipt = (id, kind) => peer.events.find((e) => e.event === 'receipt' && e.kind === kind && e.ids.includes(id)
    && e.sender === baileysDevice);
  const waitBaileys = (id, what) => b.c.until(() => atBaileys(id), what, WAIT_MS);
  const waitRust = (id, what) => peer.until((e) => e.event === 'message' && e.id === id, what);

  // 1. Text, Rust -> Baileys; Baileys' delivery receipt reaches the Client.
  const s1 = await step('rust send_text', () => peer.call('send_text', { to: baileysJid, text: 'hello from rust' }));
  await step('text at baileys', () => waitBaileys(s1?.id, 'rust text at baileys'));
  const m1 = atBaileys(s1?.id);
  t.ok(m1?.message?.conversation === 'hello from rust' && sameUser(m1.key.remoteJid, RUST),
    `Baileys decrypted the Client's text (${m1?.message?.conversation} in ${m1?.key.remoteJid})`);
  await step('delivered at rust', () => peer.until(() => rustReceipt(s1?.id, 'delivered'), 'delivery receipt from baileys'));
  t.ok(rustReceipt(s1?.id, 'delivered'), `the Client got Event::Receipt delivered from Baileys' device for ${s1?.id}`);
  t.ok(peer.events.some((e) => e.event === 'ack' && e.id === s1?.id), 'the Client got Event::Sent (the server ack) for its text');

  // 2. Text, Baileys -> Rust; the Client's delivery receipt reaches Baileys.
  const b2 = await step('baileys sends text', () => b.c.sock.sendMessage(rustJid, { text: 'hello from baileys' }));
  await step('text at rust', () => waitRust(b2?.key.id, 'baileys text at rust'));
  const r2 = atRust(b2?.key.id);
  t.ok(r2?.content === 'text' && r2.text === 'hello from baileys' && r2.from_me === false && sameUser(r2.chat, BAILEYS),
    `the Client decrypted Baileys' text (${r2?.text} in ${r2?.chat} from ${r2?.sender})`);
  await step('delivered at baileys', () => b.c.until(() => baileysStatus(b2?.key.id, 3) && baileysReceipt(b2?.key.id, undefined), 'delivery receipt from rust'));
  t.ok(baileysStatus(b2?.key.id, 3) && baileysReceipt(b2?.key.id, undefined),
    'Baileys saw its message delivered (messages.update status >= 3, receipt from the Client\'s device)');

  // 3. Quoted replies both ways.
  const s3 = await step('rust send_reply', () => peer.call('send_reply', { to: baileysJid, text: 'rust quotes you', quoted: b2?.key.id }));
  await step('reply at baileys', () => waitBaileys(s3?.id, 'rust reply at baileys'));
  const m3 = atBaileys(s3?.id)?.message?.extendedTextMessage;
  t.ok(m3?.text === 'rust quotes you' && m3.contextInfo?.stanzaId === b2?.key.id
    && sameUser(m3.contextInfo?.participant, BAILEYS) && textOf(m3.contextInfo?.quotedMessage) === 'hello from baileys',
    `Baileys sees the Client's reply quoting its message (stanzaId ${m3?.contextInfo?.stanzaId}, participant ${m3?.contextInfo?.participant}, quoted ${JSON.stringify(m3?.contextInfo?.quotedMessage)})`);
  // The quote carries the content only, as Baileys quotes: not the message's messageContextInfo
  // (its messageSecret) nor the content's own contextInfo.
  const quotedAtBaileys = m3?.contextInfo?.quotedMessage;
  t.ok(quotedAtBaileys && !quotedAtBaileys.messageContextInfo && !quotedAtBaileys.extendedTextMessage?.contextInfo,
    `the quoted message is the content only (${JSON.stringify(quotedAtBaileys)})`);
  const b3 = await step('baileys replies', () => b.c.sock.sendMessage(rustJid, { text: 'baileys quotes you' }, { quoted: m1 }));
  await step('reply at rust', () => waitRust(b3?.key.id, 'baileys reply at rust'));
  const r3 = atRust(b3?.key.id);
  t.ok(r3?.text === 'baileys quotes you' && r3.quoted_id === s1?.id && sameUser(r3.quoted_participant, RUST),
    `the Client sees Baileys' reply quoting its message (quoted ${r3?.quoted_id}, participant ${r3?.quoted_participant})`);

  // A command naming a message the peer never saw fails with a clear error; the peer goes on.
  const unknown = await peer.call('send_reply', { to: baileysJid, text: 'x', quoted: 'NOT-A-KNOWN-ID' }).then(() => null, (e) => e);
  t.ok(unknown?.message.includes('no message NOT-A-KNOWN-ID'), `a reply to an unknown id is refused (${unknown?.message})`);

  // 4. Reactions both ways.
  const s4 = await step('rust reacts', () => peer.call('send_reaction', { to: baileysJid, target: b2?.key.id, emoji: '👍' }));
  await step('reaction at baileys', () => waitBaileys(s4?.id, 'rust reaction at baileys'));
  const m4 = atBaileys(s4?.id)?.message?.reactionMessage;
  t.ok(m4?.text === '👍' && m4.key?.id === b2?.key.id,
    `Baileys got the Client's reaction to its message (${m4?.text} on ${m4?.key?.id})`);
  const b4 = await step('baileys reacts', () => b.c.sock.sendMessage(rustJid, { react: { text: '❤️', key: m1.key } }));
  await step('reaction at rust', () => waitRust(b4?.key.id, 'baileys reaction at rust'));
  const r4 = atRust(b4?.key.id);
  t.ok(r4?.content === 'reaction' && r4.reaction?.emoji === '❤️' && r4.reaction?.target === s1?.id,
    `the Client got Baileys' reaction to its message (${r4?.reaction?.emoji} on ${r4?.reaction?.target})`);

  // 5. Media, Rust -> Baileys: image, voice note (Ogg Opus), document; Baileys downloads each.
  const voice = silentOggOpus({ frames: 100 });
  const rustMedia = [
    { kind: 'image', bytes: Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), randomBytes(4000)]), mimetype: 'image/png', caption: 'a picture from rust' },
    { kind: 'voice_note', bytes: voice, seconds: 2 },
    { kind: 'document', bytes: Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(3000)]), mimetype: 'application/pdf', file_name: 'report.pdf' },
  ];
  for (const media of rustMedia) {
    const { kind, bytes, ...options } = media;
    // The document goes by file path, the others as base64.
    let source = { data_b64: bytes.toString('base64') };
    if (kind === 'document') {
      const dir = mkdtempSync(path.join(tmpdir(), 'wa-sim-client-'));
      temporary.push(dir);
      const file = path.join(dir, 'report.pdf');
      writeFileSync(file, bytes);
      source = { path: file };
    }
    const sent = await step(`rust sends ${kind}`, () => peer.call('send_media', { to: baileysJid, kind, ...source, ...options }));
    t.ok(sent?.sha256 === sha256(bytes), `the Client uploaded the ${kind} (${sent?.size} bytes)`);
    await step(`${kind} at baileys`, () => waitBaileys(sent?.id, `rust ${kind} at baileys`));
    const got = atBaileys(sent?.id);
    const message = got?.message ?? {};
    if (kind === 'image') {
      t.ok(message.imageMessage?.caption === 'a picture from rust' && message.imageMessage?.mimetype === 'image/png',
        `Baileys got an imageMessage with caption and mimetype (${message.imageMessage?.caption}, ${message.imageMessage?.mimetype})`);
    } else if (kind === 'voice_note') {
      const audio = message.audioMessage;
      t.ok(audio?.ptt === true && audio?.mimetype === 'audio/ogg; codecs=opus' && audio?.seconds === 2,
        `Baileys got a PTT audioMessage (ptt=${audio?.ptt}, ${audio?.mimetype}, ${audio?.seconds} s)`);
    } else {
      const doc = message.documentMessage;
      t.ok(doc?.fileName === 'report.pdf' && doc?.mimetype === 'application/pdf',
        `Baileys got a documentMessage with file name and mimetype (${doc?.fileName}, ${doc?.mimetype})`);
    }
    const downloaded = got ? await step(`baileys downloads the ${kind}`, () => downloadMediaMessage(got, 'buffer', {})) : undefined;
    t.ok(downloaded && Buffer.compare(downloaded, bytes) === 0,
      `Baileys downloaded the Client's ${kind} byte-equal (${downloaded?.length} vs ${bytes.length} bytes)`);
  }

  // 6. Media, Baileys -> Rust; the Client downloads each and reports the bytes.
  const baileysMedia = [
    { kind: 'image', bytes: Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), randomBytes(3500)]), content: (x) => ({ image: x, caption: 'a picture from baileys', mimetype: 'image/png' }) },
    { kind: 'voice_note', bytes: voice, content: (x) => ({ audio: x, ptt: true, mimetype: 'audio/ogg; codecs=opus', seconds: 2 }) },
    { kind: 'document', bytes: Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(2500)]), content: (x) => ({ document: x, mimetype: 'application/pdf', fileName: 'notes.pdf' }) },
  ];
  const baileysSentMedia = [];
  for (const { kind, bytes, content } of baileysMedia) {
    const sent = await step(`baileys sends ${kind}`, () => b.c.sock.sendMessage(rustJid, content(bytes)));
    baileysSentMedia.push(sent);
    await step(`${kind} at rust`, () => waitRust(sent?.key.id, `baileys ${kind} at rust`));
    const got = atRust(sent?.key.id);
    const media = got?.media;
    if (kind === 'image') {
      t.ok(got?.content === 'image' && media?.caption === 'a picture from baileys' && media?.mimetype === 'image/png',
        `the Client got Baileys' image with caption and mimetype (${media?.caption}, ${media?.mimetype})`);
    } else if (kind === 'voice_note') {
      t.ok(got?.content === 'voice_note' && media?.ptt === true && media?.mimetype === 'audio/ogg; codecs=opus' && media?.seconds === 2,
        `the Client got Baileys' voice note (ptt=${media?.ptt}, ${media?.mimetype}, ${media?.seconds} s)`);
    } else {
      t.ok(got?.content === 'document' && media?.file_name === 'notes.pdf' && media?.mimetype === 'application/pdf',
        `the Client got Baileys' document with file name and mimetype (${media?.file_name}, ${media?.mimetype})`);
    }
    const downloaded = media?.data_b64 === undefined ? undefined : Buffer.from(media.data_b64, 'base64');
    t.ok(downloaded && Buffer.compare(downloaded, bytes) === 0 && media.sha256 === sha256(bytes),
      `the Client downloaded Baileys' ${kind} byte-equal (${media?.size} vs ${bytes.length} bytes${media?.download_error ? `; ${media.download_error}` : ''})`);
  }

  // 7. Read receipts both ways.
  t.ok(!baileysStatus(b2?.key.id, 4), 'Baileys\' first message is not read before the Client reads it');
  await step('rust mark_read', () => peer.call('mark_read', { chat: r2.chat, sender: r2.sender, ids: [b2.key.id] }));
  await step('read at baileys', () => b.c.until(() => baileysStatus(b2?.key.id, 4), 'read status at baileys'));
  t.ok(baileysStatus(b2?.key.id, 4) && baileysReceipt(b2?.key.id, 'read'),
    'Baileys saw its message turn read (messages.update status 4, read receipt from the Client\'s device) after mark_read');
  t.ok(!rustReceipt(s1?.id, 'read'), 'the Client\'s first message is not read before Baileys reads it');
  await step('baileys reads', () => b.c.sock.readMessages([m1.key]));
  await step('read at rust', () => peer.until(() => rustReceipt(s1?.id, 'read'), 'read receipt from baileys'));
  t.ok(rustReceipt(s1?.id, 'read'), `the Client got Event::Receipt read from Baileys' device for ${s1?.id}`);

  // 8. Every message of each side was delivered to the other's device, and nothing failed.
  const rustSent = peer.events.filter((e) => e.event === 'sent' && e.op !== 'mark_read').map((e) => e.id);
  await step('all delivered at rust', () => peer.until(() => rustSent.every((id) => rustReceipt(id, 'delivered')), 'delivery receipts for every message'));
  const missing = rustSent.filter((id) => !rustReceipt(id, 'delivered'));
  t.ok(rustSent.length === 6 && missing.length === 0, `Baileys' device sent a delivery receipt for each of the Client's ${rustSent.length} messages (missing ${missing.length})`);
  const baileysSent = [b2, b3, b4, ...baileysSentMedia].map((m) => m?.key.id);
  await step('all delivered at baileys', () => b.c.until(() => baileysSent.every((id) => baileysReceipt(id, undefined)), 'delivery receipts for every message'));
  const missingAtBaileys = baileysSent.filter((id) => !baileysReceipt(id, undefined));
  t.ok(baileysSent.length === 6 && missingAtBaileys.length === 0,
    `the Client sent a delivery receipt for each of Baileys' ${baileysSent.length} messages (missing ${missingAtBaileys.length})`);
  // (The 515 restart after pairing comes before `connected` and is part of pairing.)
  const problems = peer.events.slice(peer.events.indexOf(connected)).filter((e) => !e.error?.includes('NOT-A-KNOWN-ID') && ['error', 'garbage', 'stanza', 'disconnected', 'logged_out', 'pair_error'].includes(e.event));
  t.ok(problems.length === 0, `the Client reported no errors, unhandled stanzas or disconnections (${JSON.stringify(problems).slice(0, 300)})`);
  const counters = (await control(info, 'GET', '/counters')).body;
  t.ok(counters.handshake_failures === 0, `wa-sim counted no handshake failures (${JSON.stringify(counters)})`);

  peer.child.stdin.write(JSON.stringify({ op: 'close' }) + '\n');
  await step('peer closes', () => peer.until((e) => e.event === 'closed', 'closed', 5000));
  await noUnhandledIqs(t, info);
} catch (error) {
  t.ok(false, `unexpected: ${error.stack}`);
}
clearTimeout(deadline);
t.finish('wa-session Client <-> Baileys 7.0.0-rc14 through wa-sim, both directions: text, quoted reply (stanza id), reaction, image, voice note (Ogg Opus, ptt, seconds), document (file name, mimetype), media downloaded byte-equal on both sides, delivered and read receipts both ways');
for (const child of children) child.kill('SIGKILL');
cleanup();
process.exit(process.exitCode ?? 0);
