// WABinary nodes: wa-proto against Baileys (the pinned @whiskeysockets/baileys), both directions.
//
//   node interop/checks/nodes.mjs [--write-vectors]
//
// Generates a deterministic corpus (interop/lib/corpus.mjs), has Baileys encode every node, and
// runs wa-proto's `interop_nodes` example ($CARGO_TARGET_DIR/release/examples, default target/)
// on Baileys' bytes and on the typed trees. Checks, each counted per vector:
//   (a) ours<-baileys: our decoding of Baileys' bytes equals Baileys' own decoding of them;
//   (b) baileys<-ours: Baileys' decoding of our bytes equals the tree we meant;
//   (c) bytes: our bytes equal Baileys' wherever both choose the same encoding; every difference
//       (for our encoding of the typed tree, and for our re-encoding of what we decoded) is one of
//       the listed kinds, checked item by item on the wire.
// Plus: our token tables (wa-proto/data/dictionary-v3.json) equal Baileys' constants.
// --write-vectors writes wa-proto/tests/vectors/nodes/baileys.jsonl for the Rust replay test.
// Ends with `RESULT passed=N failed=M`; exits non-zero on any failure.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { decodeBinaryNode, encodeBinaryNode } from '@whiskeysockets/baileys';
import * as constants from '@whiskeysockets/baileys/lib/WABinary/constants.js';
import { FILL_MIN, SEED, bytesOf, expectedTree, generateCorpus, toBaileys } from '../lib/corpus.mjs';
import { ROOT, compareTrees, fromBaileys, normalize, runTool } from '../lib/tree.mjs';

const writeVectors = process.argv.includes('--write-vectors');
const VECTORS = join(ROOT, 'wa-proto/tests/vectors/nodes/baileys.jsonl');
const BAILEYS_VERSION = JSON.parse(
  readFileSync(join(ROOT, 'interop/node_modules/@whiskeysockets/baileys/package.json'), 'utf8'),
).version;

let passed = 0;
let failed = 0;
const failures = [];
const fail = (what) => {
  failed++;
  if (failures.length < 25) failures.push(what);
};

// --- token tables ------------------------------------------------------------------------------
const dictionary = JSON.parse(readFileSync(join(ROOT, 'wa-proto/data/dictionary-v3.json'), 'utf8'));
const tableChecks = [
  ['single-byte', dictionary.single_byte, constants.SINGLE_BYTE_TOKENS],
  ['double-byte', dictionary.double_byte.flat(), constants.DOUBLE_BYTE_TOKENS.flat()],
];
const tableSummary = [];
for (const [name, ours, theirs] of tableChecks) {
  const same = ours.length === theirs.length && ours.every((token, i) => token === theirs[i]);
  const shape = name === 'double-byte' ? dictionary.double_byte.map((d) => d.length).join('+') : ours.length;
  tableSummary.push(`${name} ${same ? 'equal' : 'DIFFERENT'} (${shape})`);
  if (same) passed++;
  else fail(`token table ${name} differs from Baileys'`);
}
if (dictionary.double_byte.length !== constants.DOUBLE_BYTE_TOKENS.length) fail('dictionary count differs');

// --- corpus through both codecs ----------------------------------------------------------------
const corpus = generateCorpus();
const inputs = [];
for (const entry of corpus) {
  try {
    entry.baileysBytes = encodeBinaryNode(toBaileys(entry.node));
  } catch (error) {
    entry.baileysError = String(error);
  }
  inputs.push({ node: entry.node, baileys: entry.baileysBytes?.toString('base64') ?? '' });
}
let header;
let outputs;
try {
  [header, ...outputs] = runTool('interop_nodes', inputs);
} catch (error) {
  console.log(`nodes: ${error.message}`);
  console.log(`RESULT passed=${passed} failed=${failed + 1}`);
  process.exit(1);
}
const reasons = new Map(header.differences);
if (outputs.length !== corpus.length) {
  fail(`the tool answered ${outputs.length} of ${corpus.length} vectors`);
}

const count = { a: 0, b: 0, c: 0, identical: 0, reidentical: 0 };
const categories = new Map(); // name -> { typed, reencoded, tree }
const bump = (name, field) => {
  if (!reasons.has(name)) throw new Error(`unknown difference ${name}`);
  const entry = categories.get(name) ?? { typed: 0, reencoded: 0, tree: 0 };
  entry[field]++;
  categories.set(name, entry);
};
const kinds = new Map();
const lines = [];

for (const [i, entry] of corpus.entries()) {
  kinds.set(entry.kind, (kinds.get(entry.kind) ?? 0) + 1);
  const out = outputs[i] ?? { error: 'no answer' };
  const where = `vector ${entry.id} (${entry.kind})`;
  if (entry.baileysError || out.error) {
    fail(`${where}: ${entry.baileysError ?? out.error}`);
    failed += 2;
    continue;
  }
  let baileysTree;
  // (a) our decoder on Baileys' bytes
  try {
    baileysTree = fromBaileys(await decodeBinaryNode(entry.baileysBytes));
    if (out.decode_error) throw new Error(`we cannot decode Baileys' bytes: ${out.decode_error}`);
    compareTrees(out.decoded, baileysTree).forEach((name) => bump(name, 'tree'));
    count.a++;
    passed++;
  } catch (error) {
    fail(`${where} ours<-baileys: ${error.message}`);
  }
  // (b) Baileys' decoder on our bytes
  const expected = expectedTree(entry.node);
  try {
    if (out.ours_error) throw new Error(`we cannot encode the tree: ${out.ours_error}`);
    const theirs = fromBaileys(await decodeBinaryNode(Buffer.from(out.ours, 'base64')));
    compareTrees(theirs, normalize(expected), { strict: true });
    count.b++;
    passed++;
  } catch (error) {
    fail(`${where} baileys<-ours: ${error.message}`);
  }
  // (c) bytes, every difference explained
  try {
    if (out.diffs_error || !out.diffs) throw new Error(`typed encoding: ${out.diffs_error ?? out.ours_error}`);
    if (out.rediffs_error || !out.rediffs) throw new Error(`re-encoding: ${out.rediffs_error ?? out.reencoded_error ?? out.decode_error}`);
    out.diffs.forEach((name) => bump(name, 'typed'));
    out.rediffs.forEach((name) => bump(name, 'reencoded'));
    if (out.diffs.length === 0) count.identical++;
    if (out.rediffs.length === 0) count.reidentical++;
    count.c++;
    passed++;
  } catch (error) {
    fail(`${where} bytes: ${error.message}`);
  }
  if (writeVectors && baileysTree) {
    lines.push(vectorLine(entry, baileysTree, expected, out));
  }
}

// --- report ------------------------------------------------------------------------------------
const n = corpus.length;
const bytes = corpus.reduce((sum, e) => sum + (e.baileysBytes?.length ?? 0), 0);
console.log(`nodes: ${n} vectors, ${bytes} bytes from Baileys ${BAILEYS_VERSION} (${[...kinds].map(([k, v]) => `${k} ${v}`).join(', ')})`);
console.log(`nodes: ours<-baileys ${count.a}/${n}, baileys<-ours ${count.b}/${n}, bytes explained ${count.c}/${n}`);
console.log(`nodes: bytes identical for ${count.identical}/${n} typed trees and ${count.reidentical}/${n} re-encodings; the rest differ only as listed:`);
for (const [name, reason] of reasons) {
  const c = categories.get(name) ?? { typed: 0, reencoded: 0, tree: 0 };
  console.log(`  ${name}: ${c.typed} items (typed), ${c.reencoded} (re-encoded), ${c.tree} (decoded trees) - ${reason}`);
}
console.log(`nodes: token tables ${tableSummary.join(', ')}`);
for (const failure of failures) console.log(`FAIL ${failure}`);

if (writeVectors) {
  if (failed) {
    console.log('nodes: not writing vectors from a failing run');
  } else {
    mkdirSync(dirname(VECTORS), { recursive: true });
    const head = {
      format: 'wab24 WABinary node vectors 1',
      peer: `@whiskeysockets/baileys@${BAILEYS_VERSION}`,
      generator: 'node interop/checks/nodes.mjs --write-vectors',
      seed: SEED,
      vectors: lines.length,
    };
    writeFileSync(VECTORS, [head, ...lines].map((l) => JSON.stringify(l)).join('\n') + '\n');
    console.log(`nodes: wrote ${lines.length} vectors to ${VECTORS.slice(ROOT.length + 1)}`);
  }
}

console.log(`RESULT passed=${passed} failed=${failed}`);
process.exit(failed ? 1 : 0);

// --- the committed vector form -----------------------------------------------------------------

/** The fills of a typed tree, as [base64 of the bytes, spec]. */
function fills(node, out = []) {
  const c = node.content;
  if (Array.isArray(c)) c.forEach((child) => fills(child, out));
  else if (c && c.fill) out.push([bytesOf(c), c.fill]);
  return out;
}

/**
 * One line of the vector file. Large binaries stay seeds: Baileys' bytes become parts
 * [base64, { fill }, base64, ...], and a decoded tree's bytes become `{ fill }` again.
 */
function vectorLine(entry, baileysTree, expected, out) {
  const found = fills(entry.node);
  let baileys = entry.baileysBytes.toString('base64');
  if (found.length) {
    const parts = [];
    let at = 0;
    for (const [bytes, spec] of found) {
      const start = entry.baileysBytes.indexOf(bytes, at);
      if (start < 0) throw new Error(`vector ${entry.id}: a fill is not in Baileys' bytes`);
      parts.push(entry.baileysBytes.subarray(at, start).toString('base64'), { fill: spec });
      at = start + bytes.length;
    }
    parts.push(entry.baileysBytes.subarray(at).toString('base64'));
    baileys = parts;
  }
  const bySeed = new Map(found.map(([bytes, spec]) => [bytes.toString('base64'), spec]));
  const compact = (tree) => {
    const c = tree.content;
    let content = c;
    if (Array.isArray(c)) content = c.map(compact);
    else if (c && c.bytes && c.bytes.length >= (FILL_MIN * 4) / 3 && bySeed.has(c.bytes)) content = { fill: bySeed.get(c.bytes) };
    return { ...tree, content };
  };
  const tree = compact(baileysTree);
  const line = { id: entry.id, kind: entry.kind, node: entry.node, baileys, tree };
  // `expected` (what Baileys read from our bytes) is stored only where it is not `tree`.
  if (JSON.stringify(expected) !== JSON.stringify(tree)) line.expected = expected;
  return { ...line, diffs: out.diffs, rediffs: out.rediffs };
}
