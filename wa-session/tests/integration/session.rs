//! Sessions between two wa-session devices, with the pure API.

use wa_session::{
    Error, KeyPair, PrivateKey, SignalError,
    signal::{
        CiphertextMessage, PreKeySignalMessage, SessionRecord, SignalMessage, padding, session,
    },
    store::conformance::{TestRng, device_keys},
};

fn decrypt(record: &mut SessionRecord, message: &CiphertextMessage, rng: &mut TestRng) -> Vec<u8> {
    match message {
        CiphertextMessage::Whisper(m) => {
            session::decrypt(record, &SignalMessage::deserialize(m.serialized()).unwrap(), rng)
                .unwrap()
        }
        CiphertextMessage::PreKey(_) => unreachable!("only msg after the first exchange"),
    }
}

#[test]
fn long_shuffled_conversation_and_stable_records() {
    let mut rng = TestRng(9);
    let alice_identity = KeyPair::from_private(PrivateKey::from_bytes([1; 32]));
    let bob = device_keys(2, &mut rng);
    let mut alice = SessionRecord::new();
    session::initiate(&mut alice, &alice_identity, 11, &bob.bundle, &mut rng).unwrap();
    let first = session::encrypt(&mut alice, &padding::pad(b"hi", &mut rng)).unwrap();
    let CiphertextMessage::PreKey(first) = first else { panic!("expected a pkmsg") };
    let first = PreKeySignalMessage::deserialize(first.serialized()).unwrap();
    let mut bob_record = SessionRecord::new();
    let outcome = session::decrypt_pre_key(
        &mut bob_record,
        &bob.device.identity,
        bob.device.registration_id,
        &first,
        session::PreKeys {
            signed_pre_key: Some(&bob.signed.key_pair),
            one_time_pre_key: Some(&bob.one_time.key_pair),
        },
        &mut rng,
    )
    .unwrap();
    assert_eq!(padding::unpad(&outcome.plaintext).unwrap(), b"hi");
    assert_eq!(outcome.consumed_pre_key, Some(31));

    let mut total = 0;
    for turn in 0..60u32 {
        let (sender, receiver) = if turn % 2 == 0 {
            (&mut bob_record, &mut alice)
        } else {
            (&mut alice, &mut bob_record)
        };
        let burst = 1 + (turn * 7) % 23;
        let mut sent: Vec<(Vec<u8>, CiphertextMessage)> = (0..burst)
            .map(|i| {
                let plain = format!("turn {turn} message {i}").into_bytes();
                let message = session::encrypt(sender, &plain).unwrap();
                (plain, message)
            })
            .collect();
        sent.reverse();
        let len = sent.len();
        sent.rotate_left((turn as usize) % len);
        for (plain, message) in &sent {
            assert_eq!(&decrypt(receiver, message, &mut rng), plain);
            total += 1;
        }
        let before = receiver.serialize();
        let CiphertextMessage::Whisper(replay) = &sent[0].1 else { panic!("msg expected") };
        assert!(matches!(
            session::decrypt(receiver, replay, &mut rng),
            Err(Error::Signal(SignalError::DuplicateMessage { .. }))
        ));
        assert_eq!(*receiver.serialize(), *before, "a refused message changes nothing");
        let restored = SessionRecord::deserialize(&receiver.serialize()).unwrap();
        assert_eq!(*restored.serialize(), *receiver.serialize());
        *receiver = restored;
    }
    assert!(total > 600);
    insta::assert_snapshot!(format!("{alice:?}\n{bob_record:?}"));
}

#[test]
fn session_record_serialization_is_pinned() {
    let mut rng = TestRng(4);
    let bob = device_keys(2, &mut rng);
    let mut alice = SessionRecord::new();
    let identity = KeyPair::from_private(PrivateKey::from_bytes([1; 32]));
    session::initiate(&mut alice, &identity, 11, &bob.bundle, &mut rng).unwrap();
    let _ = session::encrypt(&mut alice, b"x").unwrap();
    insta::assert_snapshot!(hex::encode(alice.serialize().as_slice()));
    assert!(matches!(
        SessionRecord::deserialize(&[0x08, 0x02]),
        Err(Error::UnsupportedRecordVersion { version: 2, .. })
    ));
    assert!(SessionRecord::deserialize(&[0xFF, 0xFF]).is_err());
}
