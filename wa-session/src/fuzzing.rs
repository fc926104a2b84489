//! Fuzz harnesses. They live in the library so that they compile with every build; the targets in
//! `fuzz/` call them in one line, and the integration tests replay the committed seed corpora.
//!
//! Each harness is deterministic (keys and randomness come from fixed seeds or from the input) and
//! panics only when it finds a bug: a panic inside the code under test, or a broken property.
//!
//! - [`signal_message`], [`prekey_signal_message`] and [`sender_key_message`] parse arbitrary bytes
//!   and decrypt them against a fixed receiver state that holds sessions (or sender keys) built by
//!   this crate and by libsignal-node (the committed vectors), so that mutations of real messages
//!   reach the ratchet, the MAC and the cipher. Properties: what decrypts once never decrypts
//!   again, and a refused message leaves the record byte for byte as it was.
//! - [`signal_actions`] is a stateful action script: the first 8 bytes seed the randomness, every
//!   further byte is an action of three parties that send, deliver, drop, reorder, duplicate,
//!   restart from serialized records and re-establish sessions. See [`signal_actions`].

#![expect(clippy::panic, reason = "a fuzz harness reports a bug by panicking")]
#![allow(clippy::expect_used, reason = "setup of the fixed states cannot fail on fixed inputs")]

use std::sync::OnceLock;

use crate::{
    KeyPair, PrivateKey, PublicKey,
    signal::{
        MAX_RECEIVER_CHAINS, PreKeyBundle, PreKeyRecord, PreKeySignalMessage, SenderKeyMessage,
        SenderKeyRecord, SessionRecord, SignalMessage, SignedPreKeyRecord,
        message::SenderKeyDistributionMessage, sender_key::MAX_SENDER_KEY_STATES, session,
    },
    store::{
        CommitStore as _, IdentityStore as _, MemoryStore, PreKeyStore as _, ProtocolAddress,
        SenderKeyName, SenderKeyStore as _, SessionStore as _, SignedPreKeyStore as _,
        conformance::{TestRng, block_on},
    },
};

fn hex32(text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    decode_hex(text, &mut out);
    out
}

fn decode_hex(text: &str, out: &mut [u8]) {
    assert_eq!(text.len(), out.len() * 2, "fixed hex constant");
    for (index, byte) in out.iter_mut().enumerate() {
        *byte =
            u8::from_str_radix(&text[2 * index..2 * index + 2], 16).expect("fixed hex constant");
    }
}

/// The receiver of `tests/vectors/signal_session.json` (messages encrypted by libsignal-node).
struct VectorReceiver {
    identity: KeyPair,
    registration_id: u32,
    signed: SignedPreKeyRecord,
    one_time: PreKeyRecord,
}

fn vector_receiver() -> VectorReceiver {
    let mut signature = [0u8; 64];
    decode_hex(
        "d158fb4d2a8238ea6802191948dc4ace34f91882bccdc47c6cac088d0df410f92b304a0919d2400e427c77f3582fd43608cbea5db9ba560ba0dcd93f6fb51b09",
        &mut signature,
    );
    VectorReceiver {
        identity: KeyPair::from_private(PrivateKey::from_bytes(hex32(
            "10b6ab847cdcf3a7a89aea79f1aea063c3e411970fe73f4c63b3c3b7bb30b846",
        ))),
        registration_id: 15,
        signed: SignedPreKeyRecord {
            id: 5,
            key_pair: KeyPair::from_private(PrivateKey::from_bytes(hex32(
                "80546659a219df3c5f3d7c13f8fbc0cdbe5f2031fb1a9a1e2df8a9cb1bd4b06f",
            ))),
            signature,
            timestamp: 0,
        },
        one_time: PreKeyRecord {
            id: 2,
            key_pair: KeyPair::from_private(PrivateKey::from_bytes(hex32(
                "48032dcceb7b0066d37f10561c691d8a4211b4878dfc45d9ed02ee195e42ad4f",
            ))),
        },
    }
}

/// The distribution message of `tests/vectors/sender_key.json` (made by Baileys' libsignal).
const VECTOR_SKDM: &str = "3308b1efe6e60110001a20eeadb47c279532cc7b006beb66d21b5fa817c871e7dc8b13723d1d182bc8236c22210502d0ca49ee3865fb7acd3cc64d81a3cbf5c2d9c4f6d8899ed6f66ef7ebd3c80a";

/// A fixed device: identity from `seed`, signed prekey 1, one-time prekey 31.
struct Device {
    identity: KeyPair,
    registration_id: u32,
    signed: SignedPreKeyRecord,
    one_time: PreKeyRecord,
}

impl Device {
    fn new(seed: u8, rng: &mut TestRng) -> Self {
        let identity = KeyPair::from_private(PrivateKey::from_bytes([seed; 32]));
        let signed = SignedPreKeyRecord::generate(&identity, 1, 1_700_000_000, rng);
        let one_time = PreKeyRecord { id: 31, key_pair: KeyPair::generate(rng) };
        Self { identity, registration_id: 1000 + u32::from(seed), signed, one_time }
    }

    fn bundle(&self, one_time: Option<&PreKeyRecord>) -> PreKeyBundle {
        PreKeyBundle {
            registration_id: self.registration_id,
            device_id: 1,
            pre_key: one_time.map(|record| (record.id, record.key_pair.public)),
            signed_pre_key_id: self.signed.id,
            signed_pre_key: self.signed.key_pair.public,
            signed_pre_key_signature: self.signed.signature.to_vec(),
            identity_key: self.identity.public,
        }
    }

    fn pre_keys(&self) -> session::PreKeys<'_> {
        session::PreKeys {
            signed_pre_key: Some(&self.signed.key_pair),
            one_time_pre_key: Some(&self.one_time.key_pair),
        }
    }
}

/// The fixed 1:1 world: Bob's records after a short exchange, and the messages Alice sent.
struct OneToOne {
    bob: Device,
    vector: VectorReceiver,
    /// Bob's record for Alice: our session current, a libsignal-node session archived.
    bob_record: SessionRecord,
    /// Alice's messages Bob has not read: two on the first chain, two after a ratchet turn.
    signal_seeds: Vec<Vec<u8>>,
    /// Alice's first pkmsgs, none of them read by Bob (who has no record in that harness).
    prekey_seeds: Vec<Vec<u8>>,
}

fn one_to_one() -> &'static OneToOne {
    static WORLD: OnceLock<OneToOne> = OnceLock::new();
    WORLD.get_or_init(build_one_to_one)
}

fn build_one_to_one() -> OneToOne {
    let mut rng = TestRng(0x5EED);
    let alice = Device::new(1, &mut rng);
    let bob = Device::new(2, &mut rng);
    let vector = vector_receiver();
    let mut alice_record = SessionRecord::new();
    session::initiate(
        &mut alice_record,
        &alice.identity,
        alice.registration_id,
        &bob.bundle(Some(&bob.one_time)),
        &mut rng,
    )
    .expect("a valid bundle");
    let mut prekey_seeds = Vec::new();
    for text in ["first", "second", "third"] {
        let message = session::encrypt(&mut alice_record, text.as_bytes()).expect("encrypt");
        prekey_seeds.push(message.serialized().to_vec());
    }
    // Bob's record: first a session made by libsignal-node's first vector message (archived
    // below), then ours from Alice's first pkmsg.
    let mut bob_record = SessionRecord::new();
    let vector_first =
        PreKeySignalMessage::deserialize(&hex_vec(VECTOR_PKMSG)).expect("the vector pkmsg parses");
    session::decrypt_pre_key(
        &mut bob_record,
        &vector.identity,
        vector.registration_id,
        &vector_first,
        session::PreKeys {
            signed_pre_key: Some(&vector.signed.key_pair),
            one_time_pre_key: Some(&vector.one_time.key_pair),
        },
        &mut rng,
    )
    .expect("the vector pkmsg decrypts");
    let first = PreKeySignalMessage::deserialize(&prekey_seeds[0]).expect("our pkmsg parses");
    session::decrypt_pre_key(
        &mut bob_record,
        &bob.identity,
        bob.registration_id,
        &first,
        bob.pre_keys(),
        &mut rng,
    )
    .expect("our pkmsg decrypts");
    // Bob answers, Alice reads the answer and so turns the ratchet.
    let reply = session::encrypt(&mut bob_record, b"reply").expect("encrypt");
    let reply = SignalMessage::deserialize(reply.serialized()).expect("a msg");
    session::decrypt(&mut alice_record, &reply, &mut rng).expect("Alice reads the reply");
    let mut signal_seeds: Vec<Vec<u8>> = prekey_seeds[1..]
        .iter()
        .map(|bytes| {
            PreKeySignalMessage::deserialize(bytes).expect("parses").message.serialized().to_vec()
        })
        .collect();
    for text in ["after the turn", "and again"] {
        let message = session::encrypt(&mut alice_record, text.as_bytes()).expect("encrypt");
        signal_seeds.push(message.serialized().to_vec());
    }
    OneToOne { bob, vector, bob_record, signal_seeds, prekey_seeds }
}

/// The first message of `tests/vectors/signal_session.json` (libsignal-node, counter 31 of the
/// first chain, so Bob keeps 31 skipped keys on the archived session).
const VECTOR_PKMSG: &str = "330802122105dc7a441db332d87ac864c9f8d294b2c980aee9dcdf4a037360ed3eb4167e885e1a21051c97f30488b930d2239d7cf8d0be2c0aa687dbe707aaac2d364620bcfe12bd772252330a2105db3145e8fb50a3f023b66fa868921c9b6ef9f5e6db091ad001871bbaa687d62d101f18002220fc7fd704ec9f956284a5c11ceccd3409a88c54ad4ca23f6431746bdcd689665c2abafb626d6dc15e28fc013005";

fn hex_vec(text: &str) -> Vec<u8> {
    let mut out = vec![0u8; text.len() / 2];
    decode_hex(text, &mut out);
    out
}

/// Seeds for [`signal_message`]: messages of the fixed session that Bob has not read yet.
#[must_use]
pub fn signal_message_seeds() -> Vec<Vec<u8>> {
    one_to_one().signal_seeds.clone()
}

/// Seeds for [`prekey_signal_message`]: pkmsgs to the fixed receiver.
#[must_use]
pub fn prekey_signal_message_seeds() -> Vec<Vec<u8>> {
    one_to_one().prekey_seeds.clone()
}

/// Parses a `msg` and decrypts it with Bob's fixed record (a current session made by this crate
/// with two chains, an archived one made by libsignal-node). Returns whether it decrypted.
///
/// Properties: no panic; a refused message leaves the record unchanged; a decrypted message does
/// not decrypt a second time; the updated record survives serialization.
pub fn signal_message(data: &[u8]) -> bool {
    let Ok(message) = SignalMessage::deserialize(data) else { return false };
    let world = one_to_one();
    let mut record = world.bob_record.clone();
    let mut rng = TestRng(1);
    match session::decrypt(&mut record, &message, &mut rng) {
        Ok(_) => {
            let restored = SessionRecord::deserialize(&record.serialize())
                .unwrap_or_else(|error| panic!("an updated record must deserialize: {error}"));
            assert_eq!(*restored.serialize(), *record.serialize(), "record round trip");
            let mut again = restored.clone();
            if session::decrypt(&mut again, &message, &mut rng).is_ok() {
                panic!("a message decrypted twice: {message:?}");
            }
            assert_eq!(*again.serialize(), *restored.serialize(), "a refused replay changed state");
            true
        }
        Err(_) => {
            assert_eq!(
                *record.serialize(),
                *world.bob_record.serialize(),
                "a refused message changed the record"
            );
            false
        }
    }
}

/// Parses a `pkmsg` and decrypts it as a fresh receiver (no record yet), either Bob of the fixed
/// world or the receiver of the libsignal-node vectors, picked by the signed prekey id. Returns
/// whether it decrypted.
///
/// Properties: no panic; a refused message leaves the record empty; a decrypted message does not
/// decrypt a second time on the record it created, even with the prekeys still offered.
pub fn prekey_signal_message(data: &[u8]) -> bool {
    let Ok(message) = PreKeySignalMessage::deserialize(data) else { return false };
    let world = one_to_one();
    let (identity, registration_id, signed, one_time) =
        if message.signed_pre_key_id == world.vector.signed.id {
            let v = &world.vector;
            (&v.identity, v.registration_id, &v.signed, &v.one_time)
        } else {
            let b = &world.bob;
            (&b.identity, b.registration_id, &b.signed, &b.one_time)
        };
    let pre_keys = session::PreKeys {
        signed_pre_key: (message.signed_pre_key_id == signed.id).then_some(&signed.key_pair),
        one_time_pre_key: (message.pre_key_id == Some(one_time.id)).then_some(&one_time.key_pair),
    };
    let mut record = SessionRecord::new();
    let mut rng = TestRng(2);
    match session::decrypt_pre_key(
        &mut record,
        identity,
        registration_id,
        &message,
        pre_keys,
        &mut rng,
    ) {
        Ok(outcome) => {
            assert_eq!(outcome.remote_identity, message.identity_key);
            assert_eq!(outcome.consumed_pre_key, message.pre_key_id);
            let before = record.serialize();
            let again = session::decrypt_pre_key(
                &mut record,
                identity,
                registration_id,
                &message,
                pre_keys,
                &mut rng,
            );
            if again.is_ok() {
                panic!("a pkmsg decrypted twice: {message:?}");
            }
            assert_eq!(*record.serialize(), *before, "a refused replay changed the record");
            true
        }
        Err(_) => {
            assert!(!record.has_current_session(), "a refused pkmsg created a session");
            false
        }
    }
}

/// The fixed group world: a receiver record holding our sender's key and the vector's key.
struct Group {
    record: SenderKeyRecord,
    seeds: Vec<Vec<u8>>,
}

fn group() -> &'static Group {
    static WORLD: OnceLock<Group> = OnceLock::new();
    WORLD.get_or_init(|| {
        let mut rng = TestRng(0x6209);
        let mut sender = SenderKeyRecord::new();
        let distribution = sender.create_distribution(&mut rng);
        let mut record = SenderKeyRecord::new();
        let vector = SenderKeyDistributionMessage::deserialize(&hex_vec(VECTOR_SKDM))
            .expect("the vector distribution parses");
        record.process_distribution(&vector);
        record.process_distribution(&distribution);
        let mut seeds = Vec::new();
        for index in 0..6u32 {
            let text = format!("group message {index}");
            let message = sender.encrypt(text.as_bytes(), &mut rng).expect("own key");
            // Deliver 0 and 2; leave 1 as a skipped key and 3.. ahead.
            if index == 0 || index == 2 {
                record.decrypt(&message).expect("fresh message");
            } else {
                seeds.push(message.serialized().to_vec());
            }
        }
        Group { record, seeds }
    })
}

/// Seeds for [`sender_key_message`]: group messages the fixed receiver has not read.
#[must_use]
pub fn sender_key_message_seeds() -> Vec<Vec<u8>> {
    group().seeds.clone()
}

/// Parses a group message and decrypts it with the fixed receiver record (our sender's key with a
/// skipped iteration, and Baileys' key from the vectors). Returns whether it decrypted.
///
/// Properties as for [`signal_message`].
pub fn sender_key_message(data: &[u8]) -> bool {
    let Ok(message) = SenderKeyMessage::deserialize(data) else { return false };
    let world = group();
    let mut record = world.record.clone();
    match record.decrypt(&message) {
        Ok(_) => {
            let restored = SenderKeyRecord::deserialize(&record.serialize())
                .unwrap_or_else(|error| panic!("an updated record must deserialize: {error}"));
            assert_eq!(*restored.serialize(), *record.serialize(), "record round trip");
            let mut again = restored.clone();
            if again.decrypt(&message).is_ok() {
                panic!("a group message decrypted twice: {message:?}");
            }
            assert_eq!(*again.serialize(), *restored.serialize(), "a refused replay changed state");
            true
        }
        Err(_) => {
            assert_eq!(
                *record.serialize(),
                *world.record.serialize(),
                "a refused group message changed the record"
            );
            false
        }
    }
}

// ------------------------------------------------------------------------------------------------
// The action script.

/// Most actions one script runs; longer inputs are cut.
const MAX_ACTIONS: usize = 400;
/// Most messages one script sends (1:1 and group together): far inside every skip window.
const MAX_SENDS: usize = 300;
/// Most sessions one script re-establishes: fewer than the archived states a record keeps, so
/// that no base key is forgotten (a forgotten base key without a one-time prekey is replayable by
/// design, in libsignal too).
const MAX_REESTABLISH: u32 = 30;
/// Most sender key rotations one script makes.
const MAX_ROTATIONS: u32 = 20;

const NAMES: [&str; 3] = ["alice", "bob", "carol"];
const GROUP: &str = "120363000000000001@g.us";

fn address(party: usize) -> ProtocolAddress {
    ProtocolAddress::new(NAMES[party], 1)
}

/// A 1:1 message between Alice (0) and Bob (1), as sent.
struct Sent {
    from: usize,
    bytes: Vec<u8>,
    pre_key: bool,
    plaintext: Vec<u8>,
    /// The session epoch it was sent in (every re-establishment starts one).
    epoch: u32,
    /// How many ratchet keys its sender had used before this message's key.
    generation: usize,
    decrypted: bool,
}

/// A group message from Alice, as sent.
struct GroupSent {
    bytes: Vec<u8>,
    plaintext: Vec<u8>,
    key_id: u32,
    iteration: u32,
    decrypted: [bool; 3],
}

struct Party {
    device: Device,
    store: MemoryStore,
    pre_key_ids: Vec<u32>,
    next_pre_key: u32,
}

impl Party {
    fn new(seed: u8, rng: &mut TestRng) -> Self {
        let device = Device::new(seed, rng);
        let store = MemoryStore::new(device.identity.clone(), device.registration_id);
        block_on(async {
            store.save_signed_pre_key(&device.signed).await.expect("memory store");
            store.save_pre_key(&device.one_time).await.expect("memory store");
        });
        let pre_key_ids = vec![device.one_time.id];
        Self { device, store, pre_key_ids, next_pre_key: 100 }
    }

    /// A bundle as the server would hand it out: a fresh one-time prekey, or none.
    fn fetch_bundle(&mut self, with_one_time: bool, rng: &mut TestRng) -> PreKeyBundle {
        if !with_one_time {
            return self.device.bundle(None);
        }
        let record = PreKeyRecord { id: self.next_pre_key, key_pair: KeyPair::generate(rng) };
        self.next_pre_key += 1;
        block_on(self.store.save_pre_key(&record)).expect("memory store");
        self.pre_key_ids.push(record.id);
        self.device.bundle(Some(&record))
    }

    /// A process restart: a new store filled from the serialized contents of the old one.
    fn restart(&mut self) {
        let fresh = MemoryStore::new(self.device.identity.clone(), self.device.registration_id);
        block_on(async {
            let old = &self.store;
            fresh.save_signed_pre_key(&self.device.signed).await.expect("memory store");
            for id in &self.pre_key_ids {
                if let Some(record) = old.pre_key(*id).await.expect("memory store") {
                    fresh.save_pre_key(&record).await.expect("memory store");
                }
            }
            for party in 0..NAMES.len() {
                let peer = address(party);
                if let Some(key) = old.identity(&peer).await.expect("memory store") {
                    fresh.save_identity(&peer, &key).await.expect("memory store");
                }
                if let Some(record) = old.session(&peer).await.expect("memory store") {
                    let record = SessionRecord::deserialize(&record.serialize())
                        .unwrap_or_else(|error| panic!("a stored session must reload: {error}"));
                    fresh.save_session(&peer, &record).await.expect("memory store");
                }
                let name = SenderKeyName::new(GROUP, peer);
                if let Some(record) = old.sender_key(&name).await.expect("memory store") {
                    let record = SenderKeyRecord::deserialize(&record.serialize())
                        .unwrap_or_else(|error| panic!("a sender key must reload: {error}"));
                    fresh.save_sender_key(&name, &record).await.expect("memory store");
                }
            }
        });
        self.store = fresh;
    }

    fn session_bytes(&self, peer: usize) -> Option<Vec<u8>> {
        block_on(self.store.session(&address(peer)))
            .expect("memory store")
            .map(|record| record.serialize().to_vec())
    }

    fn has_session(&self, peer: usize) -> bool {
        block_on(self.store.session(&address(peer)))
            .expect("memory store")
            .is_some_and(|record| record.has_current_session())
    }
}

/// What one group receiver holds of Alice's keys, newest first: (key id, first iteration).
type HeldKeys = Vec<(u32, u32)>;

struct World {
    rng: TestRng,
    parties: [Party; 3],
    log: Vec<Sent>,
    pending: Vec<usize>,
    /// The ratchet keys each of Alice and Bob sent with, in order of first use.
    ratchets: [Vec<PublicKey>; 2],
    epoch: u32,
    /// An older epoch's message decrypted in this epoch (it may have promoted an old session), so
    /// delivery is no longer guaranteed until the next epoch.
    mixed: bool,
    reestablished: u32,
    group_log: Vec<GroupSent>,
    group_pending: Vec<(usize, usize)>,
    held: [HeldKeys; 3],
    rotations: u32,
    sends: usize,
}

/// Runs an action script: `data[..8]` seeds the randomness, each later byte is an action (and
/// some actions read one more byte as their parameter).
///
/// Alice and Bob talk 1:1 (Alice starts the session); Alice also sends to a group whose other
/// members are Bob and Carol. Actions: send either way; deliver the oldest or any pending message
/// (reordering); drop one; deliver again any message ever sent (duplicate or late copy); restart a
/// party from its serialized records; re-establish the session from a fresh bundle (with or
/// without a one-time prekey, either side, so both may start one at once); send to the group;
/// distribute Alice's sender key to a member; deliver, drop or duplicate group messages; rotate
/// Alice's sender key.
///
/// Properties, beyond no panic: whatever decrypts gives exactly the plaintext that was sent; no
/// message decrypts twice; a refused message changes no stored session; every message of the
/// current session epoch decrypts when delivered, whatever the order, as long as its chain is
/// among the newest [`MAX_RECEIVER_CHAINS`] - 1 of its sender; every group message decrypts at a
/// member holding its key from an earlier iteration.
pub fn signal_actions(data: &[u8]) {
    let Some((seed, script)) = data.split_first_chunk::<8>() else { return };
    let mut rng = TestRng(u64::from_le_bytes(*seed));
    let parties = [Party::new(1, &mut rng), Party::new(2, &mut rng), Party::new(3, &mut rng)];
    let mut world = World {
        rng,
        parties,
        log: Vec::new(),
        pending: Vec::new(),
        ratchets: [Vec::new(), Vec::new()],
        epoch: 0,
        mixed: false,
        reestablished: 0,
        group_log: Vec::new(),
        group_pending: Vec::new(),
        held: [Vec::new(), Vec::new(), Vec::new()],
        rotations: 0,
        sends: 0,
    };
    world.establish(0, true);
    let mut bytes = script.iter().copied().take(MAX_ACTIONS);
    while let Some(action) = bytes.next() {
        let mut param = || usize::from(bytes.next().unwrap_or(0));
        match action % 14 {
            0 => world.send(0),
            1 => world.send(1),
            2 => {
                if !world.pending.is_empty() {
                    let index = world.pending.remove(0);
                    world.deliver(index);
                }
            }
            3 => {
                let pick = param();
                if !world.pending.is_empty() {
                    let index = world.pending.remove(pick % world.pending.len());
                    world.deliver(index);
                }
            }
            4 => {
                let pick = param();
                if !world.pending.is_empty() {
                    world.pending.remove(pick % world.pending.len());
                }
            }
            5 => {
                let pick = param();
                if !world.log.is_empty() {
                    world.deliver(pick % world.log.len());
                }
            }
            6 => {
                let party = param() % 3;
                world.parties[party].restart();
            }
            7 => {
                let choice = param();
                if world.reestablished < MAX_REESTABLISH {
                    world.reestablished += 1;
                    world.establish(choice & 1, choice & 2 == 0);
                }
            }
            8 => world.group_send(),
            9 => {
                let member = 1 + param() % 2;
                world.distribute(member);
            }
            10 => {
                let pick = param();
                if !world.group_pending.is_empty() {
                    let (index, member) =
                        world.group_pending.remove(pick % world.group_pending.len());
                    world.group_deliver(index, member);
                }
            }
            11 => {
                let pick = param();
                if !world.group_pending.is_empty() {
                    world.group_pending.remove(pick % world.group_pending.len());
                }
            }
            12 => {
                let pick = param();
                if !world.group_log.is_empty() {
                    world.group_deliver(pick % world.group_log.len(), 1 + (pick >> 7) % 2);
                }
            }
            _ => world.rotate(),
        }
    }
    // Finally every pending message of the current epoch is delivered in order.
    while !world.pending.is_empty() {
        let index = world.pending.remove(0);
        world.deliver(index);
    }
    while !world.group_pending.is_empty() {
        let (index, member) = world.group_pending.remove(0);
        world.group_deliver(index, member);
    }
}

impl World {
    /// `from` (Alice 0 or Bob 1) starts a new session with the other from a fetched bundle.
    fn establish(&mut self, from: usize, with_one_time: bool) {
        let to = 1 - from;
        let bundle = self.parties[to].fetch_bundle(with_one_time, &mut self.rng);
        let store = &self.parties[from].store;
        if let Err(error) = block_on(crate::signal::cipher::process_pre_key_bundle(
            store,
            &address(to),
            &bundle,
            &mut self.rng,
        )) {
            panic!("a valid bundle of a trusted identity was refused: {error}");
        }
        self.epoch += 1;
        self.mixed = false;
    }

    fn send(&mut self, from: usize) {
        if self.sends >= MAX_SENDS || !self.parties[from].has_session(1 - from) {
            return;
        }
        self.sends += 1;
        let plaintext = format!("{} says {}", NAMES[from], self.log.len()).into_bytes();
        let message = match block_on(crate::signal::cipher::encrypt(
            &self.parties[from].store,
            &address(1 - from),
            &plaintext,
        )) {
            Ok(message) => message,
            Err(error) => panic!("encrypting on a current session failed: {error}"),
        };
        let bytes = message.serialized().to_vec();
        let (pre_key, ratchet_key) = match &message {
            crate::signal::CiphertextMessage::PreKey(m) => (true, m.message.ratchet_key),
            crate::signal::CiphertextMessage::Whisper(m) => (false, m.ratchet_key),
        };
        let ratchets = &mut self.ratchets[from];
        if ratchets.last() != Some(&ratchet_key) {
            ratchets.push(ratchet_key);
        }
        let generation = ratchets.len() - 1;
        self.pending.push(self.log.len());
        self.log.push(Sent {
            from,
            bytes,
            pre_key,
            plaintext,
            epoch: self.epoch,
            generation,
            decrypted: false,
        });
    }

    fn deliver(&mut self, index: usize) {
        let sent = &self.log[index];
        let (from, to) = (sent.from, 1 - sent.from);
        let receiver = &self.parties[to];
        let before = receiver.session_bytes(from);
        let sender = address(from);
        let result = block_on(async {
            if sent.pre_key {
                crate::signal::cipher::decrypt_pre_key_message(
                    &receiver.store,
                    &sender,
                    &sent.bytes,
                    &mut self.rng,
                )
                .await
            } else {
                crate::signal::cipher::decrypt_message(
                    &receiver.store,
                    &sender,
                    &sent.bytes,
                    &mut self.rng,
                )
                .await
            }
        });
        let newest = self.ratchets[from].len() - 1;
        let guaranteed = sent.epoch == self.epoch
            && !self.mixed
            && newest - sent.generation + 2 <= MAX_RECEIVER_CHAINS;
        match result {
            Ok(plaintext) => {
                assert!(!sent.decrypted, "message {index} decrypted twice");
                assert_eq!(plaintext, sent.plaintext, "message {index} decrypted to other bytes");
                if sent.epoch != self.epoch {
                    self.mixed = true;
                }
                self.log[index].decrypted = true;
            }
            Err(error) => {
                assert_eq!(
                    receiver.session_bytes(from),
                    before,
                    "refusing message {index} ({error}) changed the session"
                );
                if sent.decrypted {
                    return;
                }
                if guaranteed {
                    panic!("message {index} of the current session was refused: {error}");
                }
            }
        }
    }

    fn own_sender_key(&self) -> SenderKeyName {
        SenderKeyName::new(GROUP, address(0))
    }

    fn group_send(&mut self) {
        if self.sends >= MAX_SENDS {
            return;
        }
        self.sends += 1;
        let own = self.own_sender_key();
        let store = &self.parties[0].store;
        let exists =
            block_on(store.sender_key(&own)).expect("memory store").is_some_and(|r| !r.is_empty());
        if !exists {
            block_on(crate::signal::cipher::create_sender_key_distribution(
                store,
                &own,
                &mut self.rng,
            ))
            .unwrap_or_else(|error| panic!("creating a sender key failed: {error}"));
        }
        let plaintext = format!("to the group {}", self.group_log.len()).into_bytes();
        let message =
            block_on(crate::signal::cipher::group_encrypt(store, &own, &plaintext, &mut self.rng))
                .unwrap_or_else(|error| panic!("group encrypt with our own key failed: {error}"));
        let index = self.group_log.len();
        self.group_pending.push((index, 1));
        self.group_pending.push((index, 2));
        self.group_log.push(GroupSent {
            bytes: message.serialized().to_vec(),
            plaintext,
            key_id: message.key_id,
            iteration: message.iteration,
            decrypted: [false; 3],
        });
    }

    fn distribute(&mut self, member: usize) {
        let own = self.own_sender_key();
        let message = block_on(crate::signal::cipher::create_sender_key_distribution(
            &self.parties[0].store,
            &own,
            &mut self.rng,
        ))
        .unwrap_or_else(|error| panic!("creating a distribution failed: {error}"));
        let name = SenderKeyName::new(GROUP, address(0));
        block_on(crate::signal::cipher::process_sender_key_distribution(
            &self.parties[member].store,
            &name,
            message.serialized(),
        ))
        .unwrap_or_else(|error| panic!("our own distribution was refused: {error}"));
        let held = &mut self.held[member];
        if !held.iter().any(|(key_id, _)| *key_id == message.key_id) {
            held.insert(0, (message.key_id, message.iteration));
            held.truncate(MAX_SENDER_KEY_STATES);
        }
    }

    fn group_deliver(&mut self, index: usize, member: usize) {
        let sent = &self.group_log[index];
        let name = SenderKeyName::new(GROUP, address(0));
        let store = &self.parties[member].store;
        let before =
            block_on(store.sender_key(&name)).expect("memory store").map(|r| r.serialize());
        let result = block_on(crate::signal::cipher::group_decrypt(store, &name, &sent.bytes));
        let guaranteed = self.held[member]
            .iter()
            .any(|(key_id, first)| *key_id == sent.key_id && *first <= sent.iteration);
        match result {
            Ok(plaintext) => {
                assert!(!sent.decrypted[member], "group message {index} decrypted twice");
                assert_eq!(
                    plaintext, sent.plaintext,
                    "group message {index} decrypted to other bytes"
                );
                self.group_log[index].decrypted[member] = true;
            }
            Err(error) => {
                let after =
                    block_on(store.sender_key(&name)).expect("memory store").map(|r| r.serialize());
                assert_eq!(
                    after, before,
                    "refusing group message {index} ({error}) changed the record"
                );
                if guaranteed && !sent.decrypted[member] {
                    panic!(
                        "group message {index} was refused by a member holding its key: {error}"
                    );
                }
            }
        }
    }

    /// Alice drops her sender key; the next send or distribution makes a new one.
    fn rotate(&mut self) {
        if self.rotations >= MAX_ROTATIONS {
            return;
        }
        self.rotations += 1;
        let own = self.own_sender_key();
        block_on(self.parties[0].store.commit(crate::store::MessageCommit {
            sender_key: Some((own, SenderKeyRecord::new())),
            ..crate::store::MessageCommit::default()
        }))
        .expect("memory store");
    }
}

/// Seeds for [`signal_actions`]: a few hand-written scripts (seed, then actions).
#[must_use]
pub fn signal_actions_seeds() -> Vec<Vec<u8>> {
    let scripts: [(u64, &[u8]); 6] = [
        // Alice sends three, Bob reads them, answers twice, Alice reads.
        (1, &[0, 0, 0, 2, 2, 2, 1, 1, 2, 2]),
        // Out of order and a duplicate.
        (2, &[0, 0, 0, 0, 3, 2, 3, 0, 2, 2, 5, 1, 1, 1, 3, 1, 2]),
        // Ratchet turns with drops and restarts.
        (3, &[0, 2, 1, 2, 0, 0, 4, 0, 2, 6, 1, 1, 1, 3, 5, 2, 6, 0, 0, 2, 2, 5, 0]),
        // Both sides re-establish, one without a one-time prekey.
        (4, &[0, 0, 7, 0, 0, 2, 7, 3, 1, 2, 2, 2, 2, 1, 2, 5, 0]),
        // The group: distribute, send, reorder, duplicate, rotate.
        (5, &[9, 1, 8, 8, 9, 0, 8, 10, 3, 10, 0, 12, 0, 13, 8, 9, 1, 8, 10, 1, 11, 0, 12, 129]),
        // Everything.
        (6, &[0, 8, 9, 0, 2, 1, 6, 1, 3, 7, 1, 0, 10, 2, 4, 0, 5, 2, 13, 9, 1, 8, 6, 2, 2, 1]),
    ];
    scripts
        .iter()
        .map(|(seed, actions)| {
            let mut bytes = seed.to_le_bytes().to_vec();
            bytes.extend_from_slice(actions);
            bytes
        })
        .collect()
}

/// Feeds a connection's bytes to a [`FrameDecoder`](crate::noise::FrameDecoder) in both roles,
/// once whole and once in chunks whose size the first input byte chooses.
///
/// Properties: no panic; the chunking never changes the outcome (the same frames, or an error
/// both ways); the decoder never buffers more than one frame.
pub fn noise_frame(data: &[u8]) {
    use crate::noise::{FrameDecoder, MAX_FRAME_LEN};

    let Some((&chunking, stream)) = data.split_first() else { return };
    let step = usize::from(chunking % 32) + 1;
    for make in [FrameDecoder::server as fn() -> FrameDecoder, FrameDecoder::client] {
        let whole = make().feed(stream);
        let mut decoder = make();
        let mut chunked = Ok(Vec::new());
        for chunk in stream.chunks(step) {
            match decoder.feed(chunk) {
                Ok(frames) => {
                    if let Ok(all) = &mut chunked {
                        all.extend(frames);
                    }
                }
                Err(error) => {
                    chunked = Err(error);
                    break;
                }
            }
            assert!(decoder.buffered() <= 3 + MAX_FRAME_LEN, "buffered more than one frame");
        }
        match (whole, chunked) {
            (Ok(whole), Ok(chunked)) => assert_eq!(whole, chunked, "chunking changed the frames"),
            (Err(_), Err(_)) => {}
            (whole, chunked) => {
                panic!("chunks of {step} changed the outcome: whole {whole:?}, chunked {chunked:?}")
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Message stanzas.

/// The fixed receiver of [`message_stanza`]: Bob's companion `5522:1`, with a signed and a
/// one-time prekey; the sender of the seeds is Alice's `5511:1`.
struct StanzaWorld {
    bob: Device,
    bob_own: crate::message::OwnDevice,
    seeds: Vec<Vec<u8>>,
}

fn stanza_bob_store(bob: &Device) -> MemoryStore {
    let store = MemoryStore::new(bob.identity.clone(), bob.registration_id);
    block_on(async {
        store.save_signed_pre_key(&bob.signed).await.expect("memory store");
        store.save_pre_key(&bob.one_time).await.expect("memory store");
    });
    store
}

fn stanza_world() -> &'static StanzaWorld {
    static WORLD: OnceLock<StanzaWorld> = OnceLock::new();
    WORLD.get_or_init(|| {
        use wa_proto::{Jid, Node, proto::e2e};

        use crate::message::{OwnDevice, encrypt_message, receipt};

        let mut rng = TestRng(41);
        let bob = Device::new(52, &mut rng);
        let alice = Device::new(51, &mut rng);
        let alice_jid: Jid = "5511:1@s.whatsapp.net".parse().expect("fixed JID");
        let bob_jid: Jid = "5522:1@s.whatsapp.net".parse().expect("fixed JID");
        let alice_own = OwnDevice {
            jid: alice_jid.clone(),
            lid: None,
            device_identity: Some(b"alice identity".to_vec()),
        };
        let alice_store = MemoryStore::new(alice.identity.clone(), alice.registration_id);
        let mut seeds = Vec::new();
        let deliver = |sent: &Node, kind: &'static str| {
            let participants = sent.child("participants").expect("built with participants");
            let enc = participants.children()[0].child("enc").expect("one enc").clone();
            Node::builder("message")
                .attr("id", sent.attr_str("id").expect("id").to_owned())
                .attr("from", alice_jid.clone())
                .attr("type", kind)
                .attr("t", "1700000000")
                .attr("notify", "Alice")
                .children([enc])
                .build()
        };
        block_on(async {
            crate::signal::cipher::process_pre_key_bundle(
                &alice_store,
                &crate::message::protocol_address(&bob_jid),
                &bob.bundle(Some(&bob.one_time)),
                &mut rng,
            )
            .await
            .expect("fixed bundle");
            let chat = bob_jid.to_non_device();
            for (id, body) in [("3EB0F1", "first"), ("3EB0F2", "second")] {
                let message =
                    e2e::Message { conversation: Some(body.into()), ..Default::default() };
                let sent = encrypt_message(
                    &alice_store,
                    &alice_own,
                    id,
                    &chat,
                    &message,
                    std::slice::from_ref(&bob_jid),
                    &mut rng,
                )
                .await
                .expect("a session exists");
                seeds.push(deliver(&sent.node, "text"));
            }
        });
        let retry =
            receipt::retry_receipt(&seeds[0], 2, &bob.bundle(Some(&bob.one_time)), true, None)
                .expect("well-formed message");
        let mut relayed = retry;
        relayed.attrs.retain(|(key, _)| key != "to");
        relayed.attrs.push(("from".into(), bob_jid.clone().into()));
        seeds.push(relayed);
        let seeds = seeds
            .iter()
            .map(|node| wa_proto::encode(node).expect("encodable").split_off(1))
            .collect();
        let bob_own = OwnDevice { jid: bob_jid, lid: None, device_identity: None };
        StanzaWorld { bob, bob_own, seeds }
    })
}

/// Seeds for [`message_stanza`]: two `<message>`s from Alice (a `pkmsg`, then another `pkmsg` of
/// the same session) and a retry receipt with keys, as node bodies (no frame flags byte).
#[must_use]
pub fn message_stanza_seeds() -> Vec<Vec<u8>> {
    stanza_world().seeds.clone()
}

/// Decodes a node body and runs every message-layer parser over it, then decrypts it as Bob's
/// fixed device. Returns whether it decrypted.
///
/// Properties: no panic; a decrypted message does not decrypt a second time.
pub fn message_stanza(data: &[u8]) -> bool {
    use crate::message::{
        ack, decrypt_message, parse_bundles, parse_devices, parse_message_info, parse_receipt,
    };

    let Ok(node) = wa_proto::decode_node(data) else { return false };
    let world = stanza_world();
    let _ = parse_message_info(&node, &world.bob_own);
    let _ = parse_receipt(&node);
    let _ = parse_devices(&node);
    let _ = parse_bundles(&node);
    let _ = ack(&node, Some(&world.bob_own.jid), None);
    let store = stanza_bob_store(&world.bob);
    let mut rng = TestRng(3);
    block_on(async {
        match decrypt_message(&store, &world.bob_own, &node, &mut rng).await {
            Ok(_) => {
                if decrypt_message(&store, &world.bob_own, &node, &mut rng).await.is_ok() {
                    panic!("a message stanza decrypted twice");
                }
                true
            }
            Err(_) => false,
        }
    })
}
