// XEdDSA signatures and X25519 agreement: wa-session against libsignal-node (libsignal@6.0.0) and
// Signal's own @signalapp/libsignal-client, in both directions, with negative cases.
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import * as client from '@signalapp/libsignal-client';
import { startRustPeer, hex, unhex, tally } from './lib/rust-peer.mjs';

const require = createRequire(import.meta.url);
const curve = require('libsignal/src/curve');
const t = tally('xeddsa');
const rust = startRustPeer();
const ROUNDS = 40;

for (let i = 0; i < ROUNDS; i++) {
  const message = randomBytes(1 + (i * 7) % 200);

  // libsignal-node signs, we verify; we sign with its private key, it verifies.
  const node = curve.generateKeyPair();
  const nodeSig = curve.calculateSignature(node.privKey, message);
  let r = await rust.call({ op: 'verify', public: hex(node.pubKey), message: hex(message), signature: hex(nodeSig) });
  t.ok(r.valid === true, `rust verifies libsignal-node signature ${i}`);
  const bad = Buffer.from(nodeSig); bad[i % 64] ^= 1 << (i % 8);
  r = await rust.call({ op: 'verify', public: hex(node.pubKey), message: hex(message), signature: hex(bad) });
  t.ok(r.valid === false, `rust rejects flipped libsignal-node signature ${i}`);
  r = await rust.call({ op: 'verify', public: hex(node.pubKey), message: hex(message), signature: hex(Buffer.alloc(64)) });
  t.ok(r.valid === false, `rust rejects zero signature ${i}`);
  r = await rust.call({ op: 'public', private: hex(node.privKey) });
  t.ok(r.public === hex(node.pubKey.subarray(1)), `public key from libsignal-node private key ${i}`);
  r = await rust.call({ op: 'sign', private: hex(node.privKey), message: hex(message) });
  t.ok(curve.verifySignature(node.pubKey, message, unhex(r.signature)) === true, `libsignal-node verifies rust signature ${i}`);
  t.ok(curve.verifySignature(node.pubKey, Buffer.concat([message, Buffer.from([1])]), unhex(r.signature)) === false, `libsignal-node rejects rust signature on another message ${i}`);

  // @signalapp/libsignal-client: the same both ways, plus agreement.
  const priv = client.PrivateKey.generate();
  const pub = priv.getPublicKey();
  const sig = priv.sign(message);
  r = await rust.call({ op: 'verify', public: hex(pub.serialize()), message: hex(message), signature: hex(sig) });
  t.ok(r.valid === true, `rust verifies libsignal-client signature ${i}`);
  r = await rust.call({ op: 'verify', public: hex(node.pubKey), message: hex(message), signature: hex(sig) });
  t.ok(r.valid === false, `rust rejects a signature under the wrong key ${i}`);
  r = await rust.call({ op: 'sign', private: hex(priv.serialize()), message: hex(message) });
  t.ok(pub.verify(message, unhex(r.signature)) === true, `libsignal-client verifies rust signature ${i}`);

  const other = client.PrivateKey.generate();
  const expected = Buffer.from(priv.agree(other.getPublicKey()));
  r = await rust.call({ op: 'agree', private: hex(priv.serialize()), public: hex(other.getPublicKey().serialize()) });
  t.ok(r.shared === hex(expected), `X25519 agreement matches libsignal-client ${i}`);
  const nodeShared = curve.calculateAgreement(node.pubKey, Buffer.from(priv.serialize()));
  r = await rust.call({ op: 'agree', private: hex(priv.serialize()), public: hex(node.pubKey) });
  t.ok(r.shared === hex(nodeShared), `X25519 agreement matches libsignal-node ${i}`);
}
rust.close();
t.finish(`${ROUNDS} key pairs from each library: signatures both ways, bit-flip/zero/wrong-key rejections, public keys, agreement`);
