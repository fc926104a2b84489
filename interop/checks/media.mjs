// Media blobs between wa-session and Baileys 7.0.0-rc14 for every media type Baileys knows:
// Baileys' encryptedStream -> rust decrypt (hashes compared); rust encrypt -> Baileys'
// downloadContentFromMessage over a local HTTP server.
import { createServer } from 'node:http';
import { readFile, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { encryptedStream, downloadContentFromMessage, getMediaKeys } from '@whiskeysockets/baileys';
import { startRustPeer, hex, unhex, tally } from './lib/rust-peer.mjs';

const TYPES = ['image', 'sticker', 'product', 'biz-cover-photo', 'video', 'gif', 'ptv', 'audio', 'ptt', 'document',
  'md-msg-hist', 'md-app-state', 'thumbnail-image', 'thumbnail-video', 'thumbnail-document', 'thumbnail-link', 'payment-bg-image'];
const SIZES = [0, 1, 15, 16, 17, 1000, 65536 + 3];
const t = tally('media');
const rust = startRustPeer();

let blobs = new Map();
const server = createServer((req, res) => { const b = blobs.get(req.url); res.writeHead(b ? 200 : 404); res.end(b); });
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const base = `http://127.0.0.1:${server.address().port}`;

for (const type of TYPES) {
  for (const size of SIZES) {
    const plain = randomBytes(size);
    // Baileys encrypts, rust decrypts.
    const enc = await encryptedStream(plain, type);
    const blob = await readFile(enc.encFilePath);
    await rm(enc.encFilePath, { force: true });
    let r = await rust.call({ op: 'media_decrypt', type, key: hex(enc.mediaKey), blob: hex(blob) });
    t.ok(r.plain === hex(plain), `rust decrypts Baileys ${type} (${size} bytes) ${r.error ?? ''}`);
    const tampered = Buffer.from(blob); tampered[tampered.length - 11] ^= 1;
    r = await rust.call({ op: 'media_decrypt', type, key: hex(enc.mediaKey), blob: hex(tampered) });
    t.ok(r.error && /MAC/.test(r.error), `rust refuses tampered Baileys ${type}`);
    // rust encrypts, Baileys downloads and decrypts.
    const key = randomBytes(32);
    r = await rust.call({ op: 'media_encrypt', type, key: hex(key), plain: hex(plain) });
    t.ok(r.file_sha256 === hex(enc.fileSha256) && r.file_length === size, `rust fileSha256/fileLength match Baileys for ${type}`);
    const keys = await getMediaKeys(key, type);
    const ourBlob = unhex(r.blob);
    const expectedMac = (await import('node:crypto')).createHmac('sha256', keys.macKey).update(keys.iv).update(ourBlob.subarray(0, -10)).digest().subarray(0, 10);
    t.ok(expectedMac.equals(ourBlob.subarray(-10)), `rust blob MAC matches Baileys keys for ${type}`);
    const path = `/${type}-${size}`;
    blobs.set(path, ourBlob);
    const chunks = [];
    for await (const chunk of await downloadContentFromMessage({ mediaKey: key, url: base + path }, type)) chunks.push(chunk);
    t.ok(Buffer.concat(chunks).equals(plain), `Baileys decrypts rust ${type} (${size} bytes)`);
  }
}
server.close();
rust.close();
t.finish(`${TYPES.length} media types x ${SIZES.length} sizes, both directions, tampering refused`);
