// Two unmodified Baileys 7.0.0-rc14 clients on two wa-sim accounts exchange media through the
// simulator's blob host: Alice sends Bob an image with a caption and a voice note (ptt); Baileys
// encrypts and uploads each to the host `media_conn` advertises (HTTPS, self-signed certificate:
// this harness turns Node's certificate check off), Bob receives the messages, downloads and
// decrypts them with `downloadMediaMessage`, and gets Alice's bytes back.
import { randomBytes } from 'node:crypto';
import { WA_CERT_DETAILS, downloadMediaMessage } from '@whiskeysockets/baileys';
import { tally } from './lib/rust-peer.mjs';
import { cleanup, control, noUnhandledIqs, pairAndOpen, startSim } from './lib/wa-sim.mjs';

// The blob host's certificate is made at start and self-signed (loopback only).
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

const ALICE = '15550004444';
const BOB = '15550005555';
const t = tally('wa-sim-media');
const step = async (what, fn) => {
  try { return await fn(); } catch (error) { t.ok(false, `${what}: ${error.message}`); return undefined; }
};
const received = (c, id) => c.seen.messages.find((m) => m.key.id === id && !m.key.fromMe);

try {
  const info = await startSim(13);
  t.ok(info.media_url?.startsWith('https://127.0.0.1:'), `wa-sim serves a media host (${info.media_url})`);
  WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(info.root_key, 'hex');
  for (const phone of [ALICE, BOB]) await control(info, 'POST', '/accounts', { phone });
  const alice = await pairAndOpen(info, ALICE);
  const bob = await pairAndOpen(info, BOB);
  t.ok(alice.c.seen.open && bob.c.seen.open, 'both accounts paired and open');
  const bobJid = `${BOB}@s.whatsapp.net`;

  // 1. An image with a caption (arbitrary bytes: Baileys' thumbnail step may fail, which it tolerates).
  const image = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), randomBytes(3000)]);
  const m1 = await step('alice sends an image', () => alice.c.sock.sendMessage(bobJid, { image, caption: 'a picture' }));
  const sent1 = m1?.message?.imageMessage;
  t.ok(sent1?.url?.startsWith(info.media_url) && sent1?.directPath?.startsWith('/v/'),
    `the image was uploaded to the sim's host (${sent1?.url})`);
  await step('bob receives the image', () => bob.c.until(() => received(bob.c, m1?.key.id), 'image at bob'));
  const got1 = received(bob.c, m1?.key.id);
  t.ok(got1?.message?.imageMessage?.caption === 'a picture', `bob got an imageMessage with the caption (${got1?.message?.imageMessage?.caption})`);
  const bytes1 = await step('bob downloads the image', () => downloadMediaMessage(got1, 'buffer', {}));
  t.ok(bytes1 && Buffer.compare(bytes1, image) === 0, `the downloaded image equals what alice sent (${bytes1?.length} vs ${image.length} bytes)`);

  // 2. A voice note.
  const audio = Buffer.concat([Buffer.from('OggS'), randomBytes(5000)]);
  const m2 = await step('alice sends a voice note', () => alice.c.sock.sendMessage(bobJid, { audio, ptt: true, mimetype: 'audio/ogg; codecs=opus' }));
  t.ok(m2?.message?.audioMessage?.url?.startsWith(info.media_url), 'the voice note was uploaded to the sim\'s host');
  await step('bob receives the voice note', () => bob.c.until(() => received(bob.c, m2?.key.id), 'voice note at bob'));
  const got2 = received(bob.c, m2?.key.id)?.message?.audioMessage;
  t.ok(got2?.ptt === true && got2?.mimetype === 'audio/ogg; codecs=opus',
    `bob got an audioMessage with ptt=true (ptt=${got2?.ptt} ${got2?.mimetype})`);
  const bytes2 = await step('bob downloads the voice note', () => downloadMediaMessage(received(bob.c, m2?.key.id), 'buffer', {}));
  t.ok(bytes2 && Buffer.compare(bytes2, audio) === 0, `the downloaded voice note equals what alice sent (${bytes2?.length} vs ${audio.length} bytes)`);

  // 3. The host refuses an unknown direct path (Baileys' download fails).
  const bogus = { ...got2, directPath: '/v/t62.audio/unknown', url: info.media_url + '/v/t62.audio/unknown' };
  const bad = await downloadMediaMessage({ key: m2.key, message: { audioMessage: bogus } }, 'buffer', {}).then(() => 'downloaded', (e) => e);
  const status = bad?.output?.statusCode ?? bad?.status;
  t.ok(bad !== 'downloaded' && status === 404, `an unknown direct path is refused with 404 (${status} ${bad?.message})`);
  await noUnhandledIqs(t, info);
} catch (error) {
  t.ok(false, `unexpected: ${error.stack}`);
}
t.finish('wa-sim + two Baileys clients: image with caption and ptt voice note uploaded to the sim\'s HTTPS blob host, received, downloaded and byte-equal; unknown direct path refused');
cleanup();
process.exit(process.exitCode ?? 0);
