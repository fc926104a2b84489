// 1:1 Signal sessions between wa-session and libsignal-node (libsignal@6.0.0), both directions:
// session setup from a bundle each way, then a 1,000-message conversation with ratchet turns both
// ways and shuffled delivery inside the skip window, plus replays that must be refused.
import { startRustPeer, hex, unhex, tally, seeded, shuffle } from './lib/rust-peer.mjs';
import { nodeDevice, nodeEncrypt, nodeDecrypt } from './lib/libsignal-node.mjs';

const t = tally('signal-session');
const random = seeded(20260601);

async function conversation(rust, node, nodeCipher, rustAddr, label, total) {
  // rustAddr: how the Rust peer names the node device.
  let sent = 0, turns = 0, replays = 0;
  let fromRust = true;
  while (sent < total) {
    const burst = Math.min(total - sent, 1 + Math.floor(random() * 25));
    const messages = [];
    for (let i = 0; i < burst; i++) {
      const plain = Buffer.from(`${label} ${fromRust ? 'rust' : 'node'} #${sent + i} ${'x'.repeat((sent + i) % 37)}`);
      if (fromRust) {
        const r = await rust.call({ op: 'encrypt', ...rustAddr, plain: hex(plain) });
        messages.push({ plain, type: r.type, body: unhex(r.body) });
      } else {
        messages.push({ plain, ...(await nodeEncrypt(nodeCipher, plain)) });
      }
    }
    const order = shuffle(messages, random);
    for (const m of order) {
      if (fromRust) {
        let got;
        try { got = await nodeDecrypt(nodeCipher, m.type, m.body); } catch (e) { got = e; }
        t.ok(Buffer.isBuffer(got) && got.equals(m.plain), `${label}: libsignal-node decrypts rust ${m.type} (${got?.message ?? ''})`);
      } else {
        const r = await rust.call({ op: 'decrypt', ...rustAddr, type: m.type, body: hex(m.body) });
        t.ok(r.plain === hex(m.plain), `${label}: rust decrypts libsignal-node ${m.type} (${r.error ?? ''})`);
      }
    }
    if (!fromRust && order.length) {
      const again = order[Math.floor(random() * order.length)];
      const r = await rust.call({ op: 'decrypt', ...rustAddr, type: again.type, body: hex(again.body) });
      t.ok(r.error !== undefined && /duplicate|replay/i.test(r.error), `${label}: rust refuses a replayed message (${JSON.stringify(r)})`);
      replays++;
    }
    sent += burst;
    turns++;
    fromRust = !fromRust;
  }
  return { turns, replays };
}

// Direction 1: wa-session starts the session from libsignal-node's bundle.
{
  const rust = startRustPeer();
  const node = nodeDevice();
  const b = node.bundle(3);
  await rust.call({ op: 'process_bundle', name: 'node', device: 1, registration_id: b.registrationId,
    identity: hex(b.identityKey), signed_pre_key_id: b.signedPreKey.keyId, signed_pre_key: hex(b.signedPreKey.publicKey),
    signature: hex(b.signedPreKey.signature), pre_key_id: 3, pre_key: hex(b.preKey.publicKey) });
  const cipher = node.cipher('rust', 1);
  const r = await rust.call({ op: 'encrypt', name: 'node', device: 1, plain: hex(Buffer.from('first from rust')) });
  t.ok(r.type === 'pkmsg', 'rust opens with a pkmsg');
  const got = await nodeDecrypt(cipher, r.type, unhex(r.body));
  t.ok(got.toString() === 'first from rust', 'libsignal-node decrypts the rust pkmsg');
  t.ok(!node.preKeys.has(3), 'libsignal-node consumed the one-time prekey');
  const stats = await conversation(rust, node, cipher, { name: 'node', device: 1 }, 'rust-initiated', 1000);
  console.log(`rust-initiated: 1000 messages, ${stats.turns} turns, ${stats.replays} replays refused`);
  rust.close();
}

// Direction 2: libsignal-node starts the session from wa-session's bundle.
{
  const rust = startRustPeer();
  const node = nodeDevice();
  const rb = await rust.call({ op: 'bundle' });
  const pk = rb.pre_keys[4];
  await node.initOutgoing('rust', 1, {
    registrationId: rb.registration_id, identityKey: unhex(rb.identity),
    signedPreKey: { keyId: rb.signed_pre_key.id, publicKey: unhex(rb.signed_pre_key.public), signature: unhex(rb.signed_pre_key.signature) },
    preKey: { keyId: pk.id, publicKey: unhex(pk.public) },
  });
  const cipher = node.cipher('rust', 1);
  // Several pkmsgs before any answer, delivered out of order.
  const first = [];
  for (let i = 0; i < 5; i++) first.push({ plain: Buffer.from(`node pkmsg ${i}`), ...(await nodeEncrypt(cipher, Buffer.from(`node pkmsg ${i}`))) });
  t.ok(first.every((m) => m.type === 'pkmsg'), 'libsignal-node opens with pkmsgs');
  for (const m of shuffle(first, random)) {
    const r = await rust.call({ op: 'decrypt', name: 'node', device: 1, type: m.type, body: hex(m.body) });
    t.ok(r.plain === hex(m.plain), `rust decrypts libsignal-node pkmsg (${r.error ?? ''})`);
  }
  const replay = await rust.call({ op: 'decrypt', name: 'node', device: 1, type: 'pkmsg', body: hex(first[0].body) });
  t.ok(replay.error !== undefined, 'rust refuses a replayed pkmsg');
  const stats = await conversation(rust, node, cipher, { name: 'node', device: 1 }, 'node-initiated', 1000);
  console.log(`node-initiated: 1000 messages, ${stats.turns} turns, ${stats.replays} replays refused`);
  rust.close();
}

t.finish('sessions both ways (rust bundle -> node, node bundle -> rust), 2 x 1,000 shuffled messages with ratchet turns');
