// scripts/bench signal: 1:1 Signal encrypt+decrypt round trips per second, wa-session versus
// libsignal-node (libsignal@6.0.0), on the same workload in one run.
//
// Both sides: Alice and Bob with in-memory stores and an established session (a pkmsg and a reply
// already exchanged). A round is 100 round trips; the direction changes every 10 messages, so each
// round has 10 ratchet turns, both ways; plaintexts cycle through 32, 256 and 1024 bytes. A round
// trip is the sender's encrypt plus the receiver's decrypt through the store-backed API
// (SessionCipher for libsignal-node, whose store keeps SessionRecord objects; wa-session's
// `cipher` over its MemoryStore, which keeps records serialized and so parses and writes them on
// every call). One second of warm-up, then BENCH_SECONDS (default 3) of whole rounds each. The
// last line is `signal: ours=<round trips/s> peer=<round trips/s> ratio=<ours/peer> round-trips/s`.

import { spawnSync } from 'node:child_process';
import { nodeDevice } from '../checks/lib/libsignal-node.mjs';
import { ROOT } from '../lib/tree.mjs';

const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const ROUND = 100;
const TURN_EVERY = 10;
const PLAINTEXTS = [32, 256, 1024].map((size) => Buffer.alloc(size, 0x61));

// --- ours --------------------------------------------------------------------------------------
const run = spawnSync('cargo', ['bench', '--locked', '-q', '-p', 'wa-session', '--bench', 'signal', '--', 'measure'], {
  cwd: ROOT,
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, BENCH_SECONDS: String(seconds) },
});
if (run.status !== 0) throw new Error(`cargo bench failed (${run.status ?? run.error})`);
const line = run.stdout.split('\n').find((l) => l.startsWith('{'));
if (!line) throw new Error(`no result from cargo bench: ${run.stdout}`);
const ours = JSON.parse(line);

// --- libsignal-node ----------------------------------------------------------------------------
const alice = nodeDevice(1);
const bob = nodeDevice(1);
await alice.initOutgoing('bob', 1, bob.bundle(1));
const toBob = alice.cipher('bob', 1);
const toAlice = bob.cipher('alice', 1);
const first = await toBob.encrypt(Buffer.from('hello'));
await toAlice.decryptPreKeyWhisperMessage(Buffer.from(first.body, 'binary'));
const reply = await toAlice.encrypt(Buffer.from('hi'));
await toBob.decryptWhisperMessage(Buffer.from(reply.body, 'binary'));

async function round() {
  for (let index = 0; index < ROUND; index++) {
    const [sender, receiver] = Math.floor(index / TURN_EVERY) % 2 === 0 ? [toBob, toAlice] : [toAlice, toBob];
    const plain = PLAINTEXTS[index % PLAINTEXTS.length];
    const { type, body } = await sender.encrypt(plain);
    if (type !== 1) throw new Error(`expected a whisper message, got type ${type}`);
    const back = await receiver.decryptWhisperMessage(Buffer.from(body, 'binary'));
    if (back.length !== plain.length) throw new Error('decrypted to other bytes');
  }
}

async function measure(atLeastMs) {
  let rounds = 0;
  const start = process.hrtime.bigint();
  for (;;) {
    await round();
    rounds++;
    const elapsed = Number(process.hrtime.bigint() - start) / 1e6;
    if (elapsed >= atLeastMs) return { rounds, ms: elapsed };
  }
}
await measure(1000);
const { rounds, ms } = await measure(seconds * 1000);
const peer = { round_trips: rounds * ROUND, seconds: ms / 1000, round_trips_per_s: (rounds * ROUND) / (ms / 1000) };

const f = (x) => x.toFixed(1);
console.log(`signal: wa-session ${f(ours.round_trips_per_s)} round trips/s (${ours.round_trips} in ${ours.seconds} s, ${ours.turns} ratchet turns)`);
console.log(`signal: libsignal-node ${f(peer.round_trips_per_s)} round trips/s (${peer.round_trips} in ${peer.seconds.toFixed(3)} s, node ${process.version})`);
console.log(`signal: ours=${f(ours.round_trips_per_s)} peer=${f(peer.round_trips_per_s)} ratio=${(ours.round_trips_per_s / peer.round_trips_per_s).toFixed(2)} round-trips/s`);
