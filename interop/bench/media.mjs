// scripts/bench media: media encryption + decryption throughput, wa-session versus Baileys
// 7.0.0-rc14, same blob sizes (1 MB and 16 MB of random bytes, as images) in one run.
//
// Baileys encrypts with its encryptedStream (HKDF keys, AES-256-CBC, HMAC, both SHA-256s, written
// to a temporary file as it does in production) and decrypts with downloadContentFromMessage from
// a loopback HTTP server (its only decryption path; it checks neither the MAC nor the hashes).
// wa-session encrypts with media::encrypt and decrypts with media::decrypt (which checks the MAC
// and both hashes), in memory, in its `media` bench (cargo bench --bench media, release profile).
// The figure per side is plaintext MB (10^6 bytes) encrypted and decrypted per second of both
// together, over BENCH_SECONDS (default 3) per size after a warm-up pass; the final figure sums
// the sizes' bytes and times. The last line is `media: ours=<MB/s> peer=<MB/s> ratio=<ours/peer> MB/s`.

import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { readFile, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { encryptedStream, downloadContentFromMessage } from '@whiskeysockets/baileys';
import { ROOT } from '../lib/tree.mjs';

const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const SIZES = [1_000_000, 16_000_000];

// --- ours --------------------------------------------------------------------------------------
const run = spawnSync('cargo', ['bench', '--locked', '-q', '-p', 'wa-session', '--bench', 'media', '--', 'measure'], {
  cwd: ROOT,
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, BENCH_SECONDS: String(seconds) },
});
if (run.status !== 0) throw new Error(`cargo bench failed (${run.status ?? run.error})`);
const oursBySize = run.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
if (oursBySize.length !== SIZES.length) throw new Error(`unexpected cargo bench output: ${run.stdout}`);

// --- Baileys -----------------------------------------------------------------------------------
let blob;
const server = createServer((req, res) => { res.writeHead(200); res.end(blob); });
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const url = `http://127.0.0.1:${server.address().port}/blob`;

async function pass(plain) {
  let start = process.hrtime.bigint();
  const enc = await encryptedStream(plain, 'image');
  blob = await readFile(enc.encFilePath);
  await rm(enc.encFilePath, { force: true });
  const encrypt = Number(process.hrtime.bigint() - start) / 1e9;
  start = process.hrtime.bigint();
  const chunks = [];
  for await (const chunk of await downloadContentFromMessage({ mediaKey: enc.mediaKey, url }, 'image')) chunks.push(chunk);
  const decrypt = Number(process.hrtime.bigint() - start) / 1e9;
  if (Buffer.concat(chunks).length !== plain.length) throw new Error('Baileys decrypted to other bytes');
  return { encrypt, decrypt };
}

const peerBySize = [];
for (const size of SIZES) {
  const plain = randomBytes(size);
  await pass(plain);
  let encrypt = 0, decrypt = 0, passes = 0;
  while (encrypt + decrypt < seconds) {
    const r = await pass(plain);
    encrypt += r.encrypt; decrypt += r.decrypt; passes++;
  }
  peerBySize.push({ size, passes, encrypt_s: encrypt, decrypt_s: decrypt, mb_per_s: (2 * size * passes) / (encrypt + decrypt) / 1e6 });
}
server.close();

const total = (rows) => rows.reduce((s, r) => s + 2 * r.size * r.passes, 0) / rows.reduce((s, r) => s + r.encrypt_s + r.decrypt_s, 0) / 1e6;
const f = (x) => x.toFixed(1);
for (let i = 0; i < SIZES.length; i++) {
  const o = oursBySize[i], p = peerBySize[i];
  console.log(`media ${SIZES[i] / 1e6} MB: wa-session ${f(o.mb_per_s)} MB/s (encrypt ${f(2 * o.size * o.passes / 2 / o.encrypt_s / 1e6)}, decrypt ${f(o.size * o.passes / o.decrypt_s / 1e6)}); Baileys ${f(p.mb_per_s)} MB/s (encrypt ${f(p.size * p.passes / p.encrypt_s / 1e6)}, decrypt ${f(p.size * p.passes / p.decrypt_s / 1e6)})`);
}
const ours = total(oursBySize), peer = total(peerBySize);
console.log(`media: ours=${f(ours)} peer=${f(peer)} ratio=${(ours / peer).toFixed(2)} MB/s`);
