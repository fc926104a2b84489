// wa-sim's simulated phones against unmodified Baileys 7.0.0-rc14: the phone of account PHONE
// sends a Baileys client on account PEER a text, a quoted reply, an image (downloaded byte-equal)
// and a voice note (ptt), which Baileys decrypts; Baileys replies and the phone's `received` shows
// the decrypted text; with auto-answer on, the phone answers what Baileys writes and Baileys
// decrypts the answer; a Baileys companion of the phone's own account sees the phone's message
// as fromMe (DeviceSentMessage); delivery receipts reach both sides.
import { randomBytes } from 'node:crypto';
import { WA_CERT_DETAILS, downloadMediaMessage } from '@whiskeysockets/baileys';
import { tally } from './lib/rust-peer.mjs';
import { cleanup, control, noUnhandledIqs, pairAndOpen, startSim } from './lib/wa-sim.mjs';

// The blob host's certificate is self-signed (loopback only).
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

const PHONE = '15550006666';
const PEER = '15550007777';
const t = tally('wa-sim-phone');
const ONLINE = { markOnlineOnConnect: true };
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
const step = async (what, fn) => {
  try { return await fn(); } catch (error) { t.ok(false, `${what}: ${error.message}`); return undefined; }
};
const textOf = (m) => m?.message?.conversation ?? m?.message?.extendedTextMessage?.text;
const find = (c, id) => c.seen.messages.find((m) => m.key.id === id);
const delivered = (c, id) => c.seen.updates.some((u) => u.key.id === id && (u.update.status ?? 0) >= 3);

try {
  const info = await startSim(17);
  WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(info.root_key, 'hex');
  for (const phone of [PHONE, PEER]) await control(info, 'POST', '/accounts', { phone });
  const peer = await pairAndOpen(info, PEER, ONLINE);
  const own = await pairAndOpen(info, PHONE, ONLINE);
  t.ok(peer.c.seen.open && own.c.seen.open, 'a Baileys client on each account, paired and open');
  for (const [c, auth, name] of [[peer.c, peer.auth, 'Peer'], [own.c, own.auth, 'Own']]) {
    auth.creds.me.name = name;
    await c.sock.sendPresenceUpdate('available');
  }
  await sleep(300);
  const send = async (body) => {
    const r = await control(info, 'POST', `/phones/${PHONE}/send`, { to: PEER, ...body });
    if (r.status !== 200) throw new Error(`send: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.id;
  };

  // 1. Text from the phone: Baileys decrypts it; the phone's own companion gets it as fromMe.
  const id1 = await step('phone sends text', () => send({ text: 'hello from the phone' }));
  await step('peer receives', () => peer.c.until(() => find(peer.c, id1), 'text at peer'));
  const got1 = find(peer.c, id1);
  t.ok(textOf(got1) === 'hello from the phone' && got1.key.fromMe === false && got1.key.remoteJid?.startsWith(PHONE),
    `Baileys decrypted the phone's text (${textOf(got1)} in ${got1?.key.remoteJid})`);
  await step('own copy', () => own.c.until(() => find(own.c, id1), 'copy at own companion'));
  const copy = find(own.c, id1);
  t.ok(copy?.key.fromMe === true && textOf(copy) === 'hello from the phone' && copy.key.remoteJid?.startsWith(PEER),
    `the phone's own Baileys companion sees it as fromMe in the chat with the peer (${copy?.key.remoteJid} fromMe=${copy?.key.fromMe})`);
  const receipts = async (id) => (await control(info, 'GET', `/phones/${PHONE}/received`)).body.receipts.filter((r) => r.id === id);
  await step('receipt at phone', async () => {
    for (let i = 0; i < 50 && !(await receipts(id1)).some((r) => r.kind === 'delivered'); i++) await sleep(100);
  });
  const r1 = await receipts(id1);
  t.ok(r1.some((r) => r.kind === 'delivered' && r.from.startsWith(PEER)), `the peer's delivery receipt reached the phone (${JSON.stringify(r1)})`);

  // 2. A quoted reply.
  const id2 = await step('phone sends a quoted reply', () => send({ text: 'quoting', quoted: { id: id1, participant: `${PHONE}@s.whatsapp.net`, text: 'hello from the phone' } }));
  await step('peer receives the reply', () => peer.c.until(() => find(peer.c, id2), 'reply at peer'));
  const context = find(peer.c, id2)?.message?.extendedTextMessage?.contextInfo;
  t.ok(textOf(find(peer.c, id2)) === 'quoting' && context?.stanzaId === id1,
    `Baileys decrypted the quoted reply with the quoted id (${context?.stanzaId})`);

  // 3. An image, downloaded and decrypted by Baileys byte-equal.
  const image = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), randomBytes(2500)]);
  const id3 = await step('phone sends an image', () => send({ image: image.toString('base64'), mimetype: 'image/png', caption: 'from the phone' }));
  await step('peer receives the image', () => peer.c.until(() => find(peer.c, id3), 'image at peer'));
  const got3 = find(peer.c, id3);
  t.ok(got3?.message?.imageMessage?.caption === 'from the phone', `an imageMessage with the caption (${got3?.message?.imageMessage?.caption})`);
  const bytes3 = await step('download image', () => downloadMediaMessage(got3, 'buffer', {}));
  t.ok(bytes3 && Buffer.compare(bytes3, image) === 0, `the image downloads byte-equal (${bytes3?.length} vs ${image.length})`);

  // 4. A voice note (minimal bytes behind an OggS magic; nobody plays them).
  const voice = Buffer.concat([Buffer.from('OggS'), randomBytes(1500)]);
  const id4 = await step('phone sends a voice note', () => send({ voice: voice.toString('base64'), seconds: 2 }));
  await step('peer receives the voice note', () => peer.c.until(() => find(peer.c, id4), 'voice at peer'));
  const audio = find(peer.c, id4)?.message?.audioMessage;
  t.ok(audio?.ptt === true && audio?.mimetype === 'audio/ogg; codecs=opus' && audio?.seconds === 2,
    `an audioMessage with ptt=true (${audio?.ptt} ${audio?.mimetype} ${audio?.seconds}s)`);
  const bytes4 = await step('download voice', () => downloadMediaMessage(find(peer.c, id4), 'buffer', {}));
  t.ok(bytes4 && Buffer.compare(bytes4, voice) === 0, 'the voice note downloads byte-equal');

  // 5. Baileys replies: the phone decrypts it; Baileys gets the phone's delivery receipt.
  const phoneJid = `${PHONE}@s.whatsapp.net`;
  const m5 = await step('peer replies', () => peer.c.sock.sendMessage(phoneJid, { text: 'hi phone' }));
  const phoneGot = async (id) => (await control(info, 'GET', `/phones/${PHONE}/received`)).body.messages.find((m) => m.id === id);
  await step('phone decrypts', async () => {
    for (let i = 0; i < 50 && !(await phoneGot(m5?.key.id)); i++) await sleep(100);
  });
  const got5 = await phoneGot(m5?.key.id);
  t.ok(got5?.text === 'hi phone' && got5.error === null, `the phone decrypted Baileys' reply (${JSON.stringify(got5)})`);
  await step('receipt at peer', () => peer.c.until(() => delivered(peer.c, m5?.key.id), 'delivery receipt at peer'));
  t.ok(delivered(peer.c, m5?.key.id), 'Baileys got the phone\'s delivery receipt');
  // The phone's own companion got its copy of the peer's message too.
  await step('own companion gets the peer message', () => own.c.until(() => find(own.c, m5?.key.id), 'peer message at own companion'));
  t.ok(textOf(find(own.c, m5?.key.id)) === 'hi phone', 'the phone\'s own Baileys companion decrypted the peer\'s message too');

  // 6. Auto-answer.
  const a = await control(info, 'POST', `/phones/${PHONE}/auto-answer`, { enabled: true, template: 'echo: {text}' });
  t.ok(a.status === 200, `auto-answer on (${JSON.stringify(a.body)})`);
  await step('peer writes', () => peer.c.sock.sendMessage(phoneJid, { text: 'ping' }));
  await step('answer at peer', () => peer.c.until((s) => s.messages.some((m) => !m.key.fromMe && textOf(m) === 'echo: ping'), 'auto answer'));
  t.ok(peer.c.seen.messages.some((m) => !m.key.fromMe && textOf(m) === 'echo: ping'), 'Baileys decrypted the phone\'s automatic answer');
  await noUnhandledIqs(t, info);
} catch (error) {
  t.ok(false, `unexpected: ${error.stack}`);
}
t.finish('wa-sim simulated phone + Baileys: text, quoted reply, image and voice note from the phone decrypted (media byte-equal); Baileys\' reply decrypted by the phone; auto-answer; the phone\'s own companion sees its messages fromMe; delivery receipts both ways');
cleanup();
process.exit(process.exitCode ?? 0);
