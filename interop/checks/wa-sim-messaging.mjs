// Two unmodified Baileys 7.0.0-rc14 clients on two wa-sim accounts, both paired through the
// control API, exchange 1:1 text through the simulator's routing: each decrypts the other's
// message (messages.upsert), delivery and read receipts reach the sender (messages.update status), a
// message sent while the recipient is offline arrives once on reconnect (offline queue), and a
// quoted reply arrives carrying the quoted stanza id.
import { WA_CERT_DETAILS } from '@whiskeysockets/baileys';
import { tally } from './lib/rust-peer.mjs';
import { cleanup, connect, control, noUnhandledIqs, pairAndOpen, startSim } from './lib/wa-sim.mjs';

const ALICE = '15550002222';
const BOB = '15550003333';
const t = tally('wa-sim-messaging');
// Online, so Baileys sends plain delivery receipts (offline it sends type="inactive", which it
// does not itself count as a delivery when it receives one). Baileys sends `available` only with a
// push name.
const ONLINE = { markOnlineOnConnect: true };
const online = async (c, auth, name) => {
  auth.creds.me.name = name;
  await c.sock.sendPresenceUpdate('available');
};
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

const step = async (what, fn) => {
  try { return await fn(); } catch (error) { t.ok(false, `${what}: ${error.message}`); return undefined; }
};
const textOf = (m) => m.message?.conversation ?? m.message?.extendedTextMessage?.text;
const received = (c, id) => c.seen.messages.filter((m) => m.key.id === id && !m.key.fromMe);
// Delivery (3) or read (4) status for message `id`, from a receipt.
const delivered = (c, id) => c.seen.updates.some((u) => u.key.id === id && (u.update.status ?? 0) >= 3);

try {
  const info = await startSim(11);
  WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(info.root_key, 'hex');
  for (const phone of [ALICE, BOB]) await control(info, 'POST', '/accounts', { phone });

  const alice = await pairAndOpen(info, ALICE, ONLINE);
  const bob = await pairAndOpen(info, BOB, ONLINE);
  t.ok(alice.c.seen.open && bob.c.seen.open, 'both accounts paired through the control API and open');
  // Alice's second companion: usync lists it, so both senders encrypt to it too.
  const alice2 = await step('second alice device', () => pairAndOpen(info, ALICE, ONLINE));
  t.ok(alice2?.paired.device === 2 && alice2.c.seen.open, `a second companion on alice's account (${alice2?.paired.jid})`);
  await online(alice.c, alice.auth, 'Alice');
  await online(bob.c, bob.auth, 'Bob');
  if (alice2) await online(alice2.c, alice2.auth, 'Alice');
  await sleep(300);
  const aliceJid = `${ALICE}@s.whatsapp.net`;
  const bobJid = `${BOB}@s.whatsapp.net`;

  // 1. Alice -> Bob (pkmsg: first message of a session).
  const m1 = await step('alice sends', () => alice.c.sock.sendMessage(bobJid, { text: 'hello bob' }));
  await step('bob receives', () => bob.c.until(() => received(bob.c, m1?.key.id).length > 0, 'message at bob'));
  const got1 = received(bob.c, m1?.key.id)[0];
  t.ok(textOf(got1) === 'hello bob', `bob decrypted alice's message (${textOf(got1)})`);
  t.ok(got1?.key.remoteJid?.startsWith(ALICE), `bob sees it in alice's chat (${got1?.key.remoteJid})`);
  await step('receipt at alice', () => alice.c.until(() => delivered(alice.c, m1?.key.id), 'delivery receipt at alice'));
  t.ok(delivered(alice.c, m1?.key.id), 'alice got the delivery receipt (messages.update status)');
  // Alice's other device gets its own copy (a DeviceSentMessage), in the chat with Bob.
  await step('own copy', () => alice2?.c.until((s) => s.messages.some((m) => m.key.id === m1?.key.id), 'own copy at alice:2'));
  const copy = alice2?.c.seen.messages.find((m) => m.key.id === m1?.key.id);
  t.ok(copy?.key.fromMe === true && copy.key.remoteJid === bobJid && textOf(copy) === 'hello bob',
    `alice's second device decrypted its copy of the sent message (${copy?.key.remoteJid} fromMe=${copy?.key.fromMe} ${textOf(copy)})`);

  // 2. Bob -> Alice.
  const m2 = await step('bob sends', () => bob.c.sock.sendMessage(aliceJid, { text: 'hi alice' }));
  await step('alice receives', () => alice.c.until(() => received(alice.c, m2?.key.id).length > 0, 'message at alice'));
  t.ok(textOf(received(alice.c, m2?.key.id)[0]) === 'hi alice', 'alice decrypted bob\'s reply');
  await step('bob -> alice:2', () => alice2?.c.until(() => received(alice2.c, m2?.key.id).length > 0, 'message at alice:2'));
  t.ok(alice2 && textOf(received(alice2.c, m2?.key.id)[0]) === 'hi alice', 'alice\'s second device decrypted bob\'s reply too');
  await step('receipt at bob', () => bob.c.until(() => delivered(bob.c, m2?.key.id), 'delivery receipt at bob'));
  t.ok(delivered(bob.c, m2?.key.id), 'bob got the delivery receipt');

  // 3. Bob offline: Alice's message is queued and arrives once on Bob's next login.
  bob.c.sock.end(undefined);
  await step('bob closed', () => bob.c.until((s) => s.close, 'bob close'));
  await sleep(200);
  const m3 = await step('alice sends while bob is offline', () => alice.c.sock.sendMessage(bobJid, { text: 'while you were away' }));
  await sleep(500);
  t.ok(!delivered(alice.c, m3?.key.id), 'no delivery receipt while bob is offline');
  const bob2 = connect(info, bob.auth, ONLINE);
  await step('bob reconnects', () => bob2.until((s) => s.open, 'bob open again'));
  await online(bob2, bob.auth, 'Bob');
  await step('queued message', () => bob2.until(() => received(bob2, m3?.key.id).length > 0, 'queued message at bob'));
  t.ok(textOf(received(bob2, m3?.key.id)[0]) === 'while you were away', 'the queued message arrived on reconnect and decrypted');
  // Bob decrypts the queued message during login, before he is online, so Baileys answers with
  // an `inactive` receipt (no messages.update status at Alice); check the relayed stanza itself.
  // (Bob's simulated phone, always online, answers at once: look for his companion's receipt.)
  const receiptFor = (c, id) => c.seen.receipts.find((r) => r.id === id && r.from === `${BOB}:1@s.whatsapp.net`);
  await step('receipt after reconnect', () => alice.c.until(() => receiptFor(alice.c, m3?.key.id), 'receipt for the queued message'));
  const r3 = receiptFor(alice.c, m3?.key.id);
  t.ok(r3?.from === `${BOB}:1@s.whatsapp.net` && (r3.type === undefined || r3.type === 'inactive'),
    `alice got bob's receipt for the queued message once he was back (${JSON.stringify(r3)})`);
  await sleep(500);
  t.ok(received(bob2, m3?.key.id).length === 1, `the queued message arrived exactly once (${received(bob2, m3?.key.id).length})`);
  // Acked stanzas leave the queue: a further reconnect gets nothing old.
  bob2.sock.end(undefined);
  await step('bob closed again', () => bob2.until((s) => s.close, 'bob close'));
  const bob3 = connect(info, bob.auth, ONLINE);
  await step('bob open a third time', () => bob3.until((s) => s.open, 'bob open'));
  await online(bob3, bob.auth, 'Bob');
  await sleep(700);
  t.ok(bob3.seen.messages.filter((m) => !m.key.fromMe && [m1, m3].some((x) => x?.key.id === m.key.id)).length === 0,
    'acked messages are not redelivered on the next login');

  // 4. A quoted reply from Bob to Alice's message.
  const m4 = await step('quoted reply', () => bob3.sock.sendMessage(aliceJid, { text: 'replying' }, { quoted: got1 }));
  await step('alice receives the reply', () => alice.c.until(() => received(alice.c, m4?.key.id).length > 0, 'reply at alice'));
  const reply = received(alice.c, m4?.key.id)[0];
  const context = reply?.message?.extendedTextMessage?.contextInfo;
  t.ok(textOf(reply) === 'replying' && context?.stanzaId === m1?.key.id,
    `the quoted reply arrived with the quoted stanza id (${context?.stanzaId} vs ${m1?.key.id})`);

  // 5. Read receipts: Alice reads Bob's reply; Bob's message turns READ (status 4).
  const readBy = (c, id) => c.seen.updates.some((u) => u.key.id === id && (u.update.status ?? 0) >= 4);
  t.ok(!readBy(bob3, m4?.key.id), 'the reply is not read before alice reads it');
  await step('alice reads', () => alice.c.sock.readMessages([reply.key]));
  await step('read receipt at bob', () => bob3.until(() => readBy(bob3, m4?.key.id), 'read receipt at bob'));
  t.ok(readBy(bob3, m4?.key.id), 'bob saw his reply turn read (messages.update status 4) after alice read it');

  await sleep(300);
  const r = await control(info, 'GET', '/counters');
  t.ok(r.body.routed === r.body.acked && r.body.routed >= 12 && r.body.handshake_failures === 0, `counters (${JSON.stringify(r.body)})`);
  await noUnhandledIqs(t, info);
} catch (error) {
  t.ok(false, `unexpected: ${error.stack}`);
}
t.finish('wa-sim + two Baileys clients: 1:1 text both ways (pkmsg and msg), delivery and read receipts, offline queue with redelivery on login and removal on ack, quoted reply');
cleanup();
process.exit(process.exitCode ?? 0);
