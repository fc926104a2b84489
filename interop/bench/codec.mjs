// scripts/bench codec: WABinary decode+encode throughput, wa-proto versus Baileys, on one corpus.
//
// The corpus is interop/lib/corpus.mjs encoded by Baileys (frames with the flags byte), without the
// few frames over 64 KiB (the 1 MiB binaries of the interop check), which would measure only byte
// copying. Both sides do the same work per frame: decode it, then encode the decoded node. Baileys
// runs its synchronous decoder core (decodeDecompressedBinaryNode; the public decodeBinaryNode adds
// a promise per frame) and encodeBinaryNode; wa-proto runs decode and encode in its `codec` bench
// (cargo bench --bench codec, release profile). One second of warm-up each, then BENCH_SECONDS
// (default 3) of whole passes over the corpus. Throughput is MB (10^6 bytes) of input frames per
// second. The last line is `codec: ours=<MB/s> peer=<MB/s> ratio=<ours/peer> MB/s`.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeDecompressedBinaryNode, encodeBinaryNode } from '@whiskeysockets/baileys';
import * as constants from '@whiskeysockets/baileys/lib/WABinary/constants.js';
import { generateCorpus, toBaileys } from '../lib/corpus.mjs';
import { ROOT } from '../lib/tree.mjs';

const MAX_FRAME = 64 * 1024;
const seconds = Number(process.env.BENCH_SECONDS ?? 3);

const all = generateCorpus().map((entry) => encodeBinaryNode(toBaileys(entry.node)));
const frames = all.filter((frame) => frame.length <= MAX_FRAME);
const bytes = frames.reduce((sum, frame) => sum + frame.length, 0);
console.log(`codec: corpus ${frames.length} frames, ${bytes} bytes (left out ${all.length - frames.length} frames over ${MAX_FRAME} bytes)`);

// --- ours --------------------------------------------------------------------------------------
const dir = mkdtempSync(join(tmpdir(), 'wab24-bench-'));
let ours;
try {
  const file = join(dir, 'corpus.bin');
  const parts = [];
  for (const frame of frames) {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(frame.length);
    parts.push(len, frame);
  }
  writeFileSync(file, Buffer.concat(parts));
  const run = spawnSync('cargo', ['bench', '--locked', '-q', '-p', 'wa-proto', '--bench', 'codec', '--', file], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_SECONDS: String(seconds) },
  });
  if (run.status !== 0) throw new Error(`cargo bench failed (${run.status ?? run.error})`);
  const line = run.stdout.split('\n').find((l) => l.startsWith('{'));
  if (!line) throw new Error(`no result from cargo bench: ${run.stdout}`);
  ours = JSON.parse(line);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (ours.frames !== frames.length || ours.bytes !== bytes) {
  throw new Error(`the Rust bench read ${ours.frames} frames / ${ours.bytes} bytes`);
}

// --- Baileys -----------------------------------------------------------------------------------
// Every frame must round-trip through Baileys first, as through ours.
for (const frame of frames) encodeBinaryNode(decodeDecompressedBinaryNode(frame.subarray(1), constants));

function measure(atLeastMs) {
  let sink = 0;
  let passes = 0;
  const start = process.hrtime.bigint();
  for (;;) {
    for (const frame of frames) {
      const node = decodeDecompressedBinaryNode(frame.subarray(1), constants);
      sink += encodeBinaryNode(node).length;
    }
    passes++;
    const elapsed = Number(process.hrtime.bigint() - start) / 1e6;
    if (elapsed >= atLeastMs) return { passes, ms: elapsed, sink };
  }
}
measure(1000);
const { passes, ms } = measure(seconds * 1000);
const peer = { passes, seconds: ms / 1000, mb_per_s: (bytes * passes) / (ms / 1000) / 1e6, frames_per_s: (frames.length * passes) / (ms / 1000) };

const f = (x) => x.toFixed(2);
console.log(`codec: wa-proto ${f(ours.mb_per_s)} MB/s, ${Math.round(ours.frames_per_s)} frames/s (${ours.passes} passes in ${ours.seconds} s)`);
console.log(`codec: Baileys ${f(peer.mb_per_s)} MB/s, ${Math.round(peer.frames_per_s)} frames/s (${peer.passes} passes in ${peer.seconds.toFixed(3)} s, node ${process.version})`);
console.log(`codec: ours=${f(ours.mb_per_s)} peer=${f(peer.mb_per_s)} ratio=${f(ours.mb_per_s / peer.mb_per_s)} MB/s`);
