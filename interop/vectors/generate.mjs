// Writes the peer-made vectors that wa-session's `rust` suite replays without Node:
//   node interop/vectors/generate.mjs   (from the repository root; commit the JSON it writes)
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import * as client from '@signalapp/libsignal-client';
import { encryptedStream } from '@whiskeysockets/baileys';
import { GroupCipher, GroupSessionBuilder, SenderKeyName, SenderKeyRecord } from '@whiskeysockets/baileys/lib/Signal/Group/index.js';
import { nodeDevice, nodeEncrypt, libsignal } from '../checks/lib/libsignal-node.mjs';
import { hex, seeded, shuffle } from '../checks/lib/rust-peer.mjs';

const require = createRequire(import.meta.url);
const curve = require('libsignal/src/curve');
const out = new URL('../../wa-session/tests/vectors/', import.meta.url);
const random = seeded(42);

// XEdDSA and X25519.
const signatures = [], agreements = [];
for (let i = 0; i < 16; i++) {
  const message = randomBytes(8 + i * 5);
  const node = curve.generateKeyPair();
  signatures.push({ source: 'libsignal-node', public: hex(node.pubKey), message: hex(message), signature: hex(curve.calculateSignature(node.privKey, message)) });
  const priv = client.PrivateKey.generate();
  signatures.push({ source: 'libsignal-client', public: hex(priv.getPublicKey().serialize()), message: hex(message), signature: hex(priv.sign(message)) });
  const other = client.PrivateKey.generate();
  agreements.push({ private: hex(priv.serialize()), public: hex(other.getPublicKey().serialize()), shared: hex(priv.agree(other.getPublicKey())) });
}
await writeFile(new URL('xeddsa.json', out), JSON.stringify({ signatures, agreements }, null, 1) + '\n');

// Media from Baileys.
const media = [];
for (const type of ['image', 'video', 'audio', 'ptt', 'document', 'sticker', 'md-msg-hist', 'md-app-state', 'thumbnail-link']) {
  const plain = randomBytes(37 + media.length * 11);
  const enc = await encryptedStream(plain, type);
  const blob = await readFile(enc.encFilePath);
  await rm(enc.encFilePath, { force: true });
  media.push({ type, media_key: hex(enc.mediaKey), plain: hex(plain), blob: hex(blob), file_sha256: hex(enc.fileSha256), file_enc_sha256: hex(enc.fileEncSha256) });
}
await writeFile(new URL('media.json', out), JSON.stringify(media, null, 1) + '\n');

// A libsignal-node sender opening a session to a receiver whose keys are in the file, 40 messages
// delivered shuffled.
{
  const bob = nodeDevice(3);
  const alice = nodeDevice(0);
  await alice.initOutgoing('bob', 1, bob.bundle(2));
  const cipher = alice.cipher('bob', 1);
  const messages = [];
  for (let i = 0; i < 40; i++) {
    const plain = Buffer.from(`vector message ${i}`);
    const m = await nodeEncrypt(cipher, plain);
    messages.push({ type: m.type, body: hex(m.body), plain: hex(plain) });
  }
  const file = {
    receiver: {
      identity_private: hex(bob.identity.privKey), identity_public: hex(bob.identity.pubKey), registration_id: bob.registrationId,
      signed_pre_key: { id: bob.signed.keyId, private: hex(bob.signed.keyPair.privKey), signature: hex(bob.signed.signature) },
      pre_key: { id: 2, private: hex(bob.preKeys.get(2).privKey) },
    },
    sender: { identity_public: hex(alice.identity.pubKey), registration_id: alice.registrationId },
    messages: shuffle(messages, random),
  };
  await writeFile(new URL('signal_session.json', out), JSON.stringify(file, null, 1) + '\n');
}

// Baileys' group cipher: a distribution message and 60 group messages, shuffled.
{
  const records = new Map();
  const store = { loadSenderKey: async (n) => records.get(n.toString()) ?? new SenderKeyRecord(), storeSenderKey: async (n, r) => { records.set(n.toString(), r); } };
  const name = new SenderKeyName('120363@g.us', new libsignal.ProtocolAddress('sender', 0));
  const skdm = await new GroupSessionBuilder(store).create(name);
  const cipher = new GroupCipher(store, name);
  const messages = [];
  for (let i = 0; i < 60; i++) {
    const plain = Buffer.from(`group vector ${i}`);
    messages.push({ body: hex(await cipher.encrypt(plain)), plain: hex(plain) });
  }
  await writeFile(new URL('sender_key.json', out), JSON.stringify({ skdm: hex(skdm.serialize()), messages: shuffle(messages, random) }, null, 1) + '\n');
}
console.log('vectors written to wa-session/tests/vectors/');
