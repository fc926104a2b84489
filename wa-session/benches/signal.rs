//! Our half of `scripts/bench signal`: 1:1 encrypt+decrypt round trips on an established session.
//!
//! `cargo bench -p wa-session --bench signal -- measure` prints one JSON line
//! `{"round_trips", "seconds", "round_trips_per_s", "turns"}` after one second of warm-up and
//! `BENCH_SECONDS` (default 3) of whole rounds. `interop/bench/signal.mjs` runs libsignal-node on
//! the same workload: Alice and Bob, each with an in-memory store, have an established session;
//! a round is 100 messages, the direction changes every 10 (so each round has 10 ratchet turns,
//! both ways), plaintexts cycle through 32, 256 and 1024 bytes. A round trip is one `encrypt` by
//! the sender and one `decrypt` by the receiver through the store-backed API ([`cipher`]), which
//! loads and stores the serialized session record each time.
//!
//! Without `measure` (as under `cargo test --all-targets`) it runs one round and exits.

#![expect(clippy::disallowed_methods, reason = "a benchmark measures wall-clock time")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use rand::{SeedableRng, rngs::StdRng};
use wa_session::{
    KeyPair,
    signal::{
        CiphertextMessage, PreKeyBundle, PreKeyRecord, SignedPreKeyRecord, cipher,
        generate_registration_id,
    },
    store::{MemoryStore, PreKeyStore, ProtocolAddress, SignedPreKeyStore, conformance::block_on},
};

const ROUND: usize = 100;
const TURN_EVERY: usize = 10;
const SIZES: [usize; 3] = [32, 256, 1024];

struct Pair {
    alice: MemoryStore,
    bob: MemoryStore,
    to_alice: ProtocolAddress,
    to_bob: ProtocolAddress,
    plaintexts: Vec<Vec<u8>>,
    rng: StdRng,
}

async fn establish() -> Pair {
    let mut rng = StdRng::seed_from_u64(7);
    let alice_identity = KeyPair::generate(&mut rng);
    let bob_identity = KeyPair::generate(&mut rng);
    let alice = MemoryStore::new(alice_identity, generate_registration_id(&mut rng));
    let bob_registration = generate_registration_id(&mut rng);
    let signed = SignedPreKeyRecord::generate(&bob_identity, 1, 0, &mut rng);
    let one_time = PreKeyRecord { id: 1, key_pair: KeyPair::generate(&mut rng) };
    let bundle = PreKeyBundle {
        registration_id: bob_registration,
        device_id: 1,
        pre_key: Some((1, one_time.key_pair.public)),
        signed_pre_key_id: 1,
        signed_pre_key: signed.key_pair.public,
        signed_pre_key_signature: signed.signature.to_vec(),
        identity_key: bob_identity.public,
    };
    let bob = MemoryStore::new(bob_identity, bob_registration);
    bob.save_signed_pre_key(&signed).await.unwrap();
    bob.save_pre_key(&one_time).await.unwrap();
    let (to_alice, to_bob) = (ProtocolAddress::new("alice", 1), ProtocolAddress::new("bob", 1));
    cipher::process_pre_key_bundle(&alice, &to_bob, &bundle, &mut rng).await.unwrap();
    let first = cipher::encrypt(&alice, &to_bob, b"hello").await.unwrap();
    cipher::decrypt_pre_key_message(&bob, &to_alice, first.serialized(), &mut rng).await.unwrap();
    let reply = cipher::encrypt(&bob, &to_alice, b"hi").await.unwrap();
    cipher::decrypt_message(&alice, &to_bob, reply.serialized(), &mut rng).await.unwrap();
    let plaintexts = SIZES.iter().map(|&size| vec![0x61; size]).collect();
    Pair { alice, bob, to_alice, to_bob, plaintexts, rng }
}

/// One round: `ROUND` round trips, the direction changing every `TURN_EVERY`.
async fn round(pair: &mut Pair) {
    for index in 0..ROUND {
        let (sender, receiver, to, from) = if (index / TURN_EVERY).is_multiple_of(2) {
            (&pair.alice, &pair.bob, &pair.to_bob, &pair.to_alice)
        } else {
            (&pair.bob, &pair.alice, &pair.to_alice, &pair.to_bob)
        };
        let plaintext = &pair.plaintexts[index % SIZES.len()];
        let message = cipher::encrypt(sender, to, plaintext).await.unwrap();
        let CiphertextMessage::Whisper(message) = message else { panic!("an established session") };
        let decrypted =
            cipher::decrypt_message(receiver, from, message.serialized(), &mut pair.rng)
                .await
                .unwrap();
        assert_eq!(decrypted.len(), plaintext.len());
        black_box(decrypted);
    }
}

fn measure(pair: &mut Pair, at_least: Duration) -> (usize, Duration) {
    let start = Instant::now();
    let mut rounds = 0;
    loop {
        block_on(round(pair));
        rounds += 1;
        let elapsed = start.elapsed();
        if elapsed >= at_least {
            return (rounds, elapsed);
        }
    }
}

fn main() {
    let mut pair = block_on(establish());
    if !std::env::args().skip(1).any(|arg| arg == "measure") {
        block_on(round(&mut pair));
        println!("signal bench: one round ran (see scripts/bench signal)");
        return;
    }
    let seconds: f64 = std::env::var("BENCH_SECONDS").map_or(3.0, |s| s.parse().unwrap());
    measure(&mut pair, Duration::from_secs(1));
    let (rounds, elapsed) = measure(&mut pair, Duration::from_secs_f64(seconds));
    let round_trips = rounds * ROUND;
    let total = elapsed.as_secs_f64();
    println!(
        "{{\"round_trips\":{round_trips},\"seconds\":{total:.3},\"round_trips_per_s\":{:.1},\"turns\":{}}}",
        round_trips as f64 / total,
        rounds * ROUND / TURN_EVERY,
    );
}
