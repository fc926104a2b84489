// Spawns wa-session's interop_peer example (built by scripts/test) and talks JSON lines to it.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, 'target');
export const peerBinary = path.join(targetDir, 'release', 'examples', 'interop_peer');

export function startRustPeer() {
  const child = spawn(peerBinary, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const waiting = [];
  lines.on('line', (line) => waiting.shift()(JSON.parse(line)));
  return {
    call(request) {
      return new Promise((resolve) => {
        waiting.push(resolve);
        child.stdin.write(JSON.stringify(request) + '\n');
      });
    },
    close() { child.stdin.end(); },
  };
}

export const hex = (bytes) => Buffer.from(bytes).toString('hex');
export const unhex = (text) => Buffer.from(text, 'hex');

// Counts named checks and prints the one RESULT line scripts/test sums.
export function tally(name) {
  let passed = 0, failed = 0;
  const failures = [];
  return {
    ok(condition, what) {
      if (condition) passed++; else { failed++; if (failures.length < 20) failures.push(what); }
    },
    finish(covered) {
      console.log(`${name}: covered ${covered}`);
      for (const f of failures) console.log(`  FAILED: ${f}`);
      console.log(`RESULT passed=${passed} failed=${failed}`);
      process.exitCode = failed ? 1 : 0;
    },
  };
}

// A deterministic shuffle inside a window (a seeded LCG), so failures reproduce.
export function seeded(seed) {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
}

export function shuffle(items, random) {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
