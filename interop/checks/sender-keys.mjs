// Group sender keys between wa-session and Baileys' group cipher (Baileys 7.0.0-rc14, built on
// libsignal@6.0.0's primitives), both directions: distribution messages, shuffled delivery, replays.
import { createRequire } from 'node:module';
import { GroupCipher, GroupSessionBuilder, SenderKeyDistributionMessage, SenderKeyName, SenderKeyRecord }
  from '@whiskeysockets/baileys/lib/Signal/Group/index.js';
import { startRustPeer, hex, unhex, tally, seeded, shuffle } from './lib/rust-peer.mjs';

const require = createRequire(import.meta.url);
const { ProtocolAddress } = require('libsignal');
const t = tally('sender-keys');
const random = seeded(777);
const GROUP = '120363025555555555@g.us';
const MESSAGES = 300;

const records = new Map();
const store = {
  loadSenderKey: async (name) => records.get(name.toString()) ?? new SenderKeyRecord(),
  storeSenderKey: async (name, record) => { records.set(name.toString(), record); },
};
const rust = startRustPeer();

// Baileys -> rust.
{
  const me = new SenderKeyName(GROUP, new ProtocolAddress('nodeuser', 0));
  const skdm = await new GroupSessionBuilder(store).create(me);
  let r = await rust.call({ op: 'skdm_process', group: GROUP, name: 'nodeuser', device: 0, skdm: hex(skdm.serialize()) });
  t.ok(!r.error, `rust accepts the Baileys distribution message (${r.error ?? ''})`);
  const cipher = new GroupCipher(store, me);
  const sent = [];
  for (let i = 0; i < MESSAGES; i++) {
    const plain = Buffer.from(`group message ${i} from baileys`);
    sent.push({ plain, body: Buffer.from(await cipher.encrypt(plain)) });
  }
  // Shuffle within windows of 50 (inside the skip window).
  for (let w = 0; w < sent.length; w += 50) {
    for (const m of shuffle(sent.slice(w, w + 50), random)) {
      r = await rust.call({ op: 'group_decrypt', group: GROUP, name: 'nodeuser', device: 0, body: hex(m.body) });
      t.ok(r.plain === hex(m.plain), `rust decrypts a Baileys skmsg (${r.error ?? ''})`);
    }
  }
  r = await rust.call({ op: 'group_decrypt', group: GROUP, name: 'nodeuser', device: 0, body: hex(sent[7].body) });
  t.ok(r.error && /duplicate/i.test(r.error), 'rust refuses a replayed skmsg');
  const forged = Buffer.from(sent[0].body); forged[forged.length - 1] ^= 1;
  r = await rust.call({ op: 'group_decrypt', group: GROUP, name: 'nodeuser', device: 0, body: hex(forged) });
  t.ok(r.error && /signature/i.test(r.error), 'rust refuses an skmsg with a bad signature');
}

// rust -> Baileys.
{
  const r0 = await rust.call({ op: 'skdm_create', group: GROUP, name: 'rustuser', device: 0 });
  const them = new SenderKeyName(GROUP, new ProtocolAddress('rustuser', 0));
  await new GroupSessionBuilder(store).process(them, new SenderKeyDistributionMessage(null, null, null, null, unhex(r0.skdm)));
  const cipher = new GroupCipher(store, them);
  const sent = [];
  for (let i = 0; i < MESSAGES; i++) {
    const plain = Buffer.from(`group message ${i} from rust`);
    const r = await rust.call({ op: 'group_encrypt', group: GROUP, name: 'rustuser', device: 0, plain: hex(plain) });
    sent.push({ plain, body: unhex(r.body) });
  }
  for (let w = 0; w < sent.length; w += 50) {
    for (const m of shuffle(sent.slice(w, w + 50), random)) {
      let got;
      try { got = Buffer.from(await cipher.decrypt(m.body)); } catch (e) { got = e; }
      t.ok(Buffer.isBuffer(got) && got.equals(m.plain), `Baileys decrypts a rust skmsg (${got?.message ?? ''})`);
    }
  }
}
rust.close();
t.finish(`sender keys both ways, ${MESSAGES} messages each, shuffled in windows of 50, replay and bad signature refused`);
