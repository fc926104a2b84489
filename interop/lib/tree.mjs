// The shared JSON form of a decoded node and its comparison, on the JS side.
//   { tag, attrs: [[key, value]...], content: null | { bytes: base64 } | { text } | [children] }

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fillBytes } from './prng.mjs';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** A BinaryNode as Baileys' decoder returns it, in the shared form. */
export function fromBaileys(node) {
  let content = null;
  if (node.content === undefined || node.content === null) content = null;
  else if (Array.isArray(node.content)) content = node.content.map(fromBaileys);
  else if (typeof node.content === 'string') content = { text: node.content };
  else if (node.content instanceof Uint8Array) content = { bytes: Buffer.from(node.content).toString('base64') };
  else throw new Error(`unexpected content ${typeof node.content} in <${node.tag}>`);
  return { tag: node.tag, attrs: Object.entries(node.attrs ?? {}), content };
}

/** `{ fill: [seed, len] }` replaced by the bytes it stands for. */
export function normalize(tree) {
  const c = tree.content;
  let content = c;
  if (Array.isArray(c)) content = c.map(normalize);
  else if (c && c.fill) content = { bytes: fillBytes(c.fill[0], c.fill[1]).toString('base64') };
  return { ...tree, content };
}

/**
 * Compares our tree with Baileys' tree. Returns the allowed differences found (the only one: a JID
 * pair on msgr or interop, which we print with device 0) or throws naming the first other one.
 * With `strict`, no difference is allowed.
 */
export function compareTrees(ours, peer, { strict = false } = {}) {
  const found = [];
  const walk = (a, b, path) => {
    if (typeof a === 'string' && typeof b === 'string') {
      if (a === b) return;
      const [user, server] = splitOnce(b, '@');
      const allowed =
        !strict &&
        ((server === 'msgr' && a === `${user}:0@msgr`) || (server === 'interop' && a === `0-${user}:0@interop`));
      if (!allowed) throw new Error(`${path}: ours ${JSON.stringify(a)}, Baileys ${JSON.stringify(b)}`);
      found.push('device-less-fb-interop-pair');
      return;
    }
    if (Array.isArray(a) && Array.isArray(b)) {
      if (a.length !== b.length) throw new Error(`${path}: ${a.length} items vs ${b.length}`);
      a.forEach((x, i) => walk(x, b[i], `${path}/${i}`));
      return;
    }
    if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
      const ka = Object.keys(a).sort().join(',');
      const kb = Object.keys(b).sort().join(',');
      if (ka !== kb) throw new Error(`${path}: fields ${ka} vs ${kb}`);
      for (const k of Object.keys(a)) walk(a[k], b[k], `${path}/${k}`);
      return;
    }
    if (a !== b) throw new Error(`${path}: ours ${JSON.stringify(a)?.slice(0, 200)}, Baileys ${JSON.stringify(b)?.slice(0, 200)}`);
  };
  walk(ours, peer, '');
  return found;
}

function splitOnce(s, sep) {
  const i = s.indexOf(sep);
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

/** The path of a wa-proto example built with --release, under $CARGO_TARGET_DIR (default target/). */
export function exampleBinary(name) {
  const targetDir = resolve(ROOT, process.env.CARGO_TARGET_DIR ?? 'target');
  const path = join(targetDir, 'release', 'examples', name);
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: build it with cargo build --release -p wa-proto --examples`);
  }
  return path;
}

/** Runs a wa-proto example on JSON lines; returns its output lines parsed. */
export function runTool(name, lines) {
  const binary = exampleBinary(name);
  const dir = mkdtempSync(join(tmpdir(), 'wab24-interop-'));
  try {
    const input = join(dir, 'input.jsonl');
    writeFileSync(input, lines.map((line) => JSON.stringify(line)).join('\n') + '\n');
    const run = spawnSync(binary, [input], { maxBuffer: 1 << 30, encoding: 'utf8' });
    if (run.error) throw run.error;
    if (run.status !== 0) throw new Error(`${binary} exited with ${run.status}: ${run.stderr}`);
    return run.stdout.split('\n').filter((line) => line.trim()).map((line) => JSON.parse(line));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
