//! The conformance suite every store backend runs, through [`store_conformance_tests!`].
//!
//! Each check is an async function over a fresh store made by the backend's constructor; the macro
//! expands one `#[test]` per check.
//!
//! [`store_conformance_tests!`]: crate::store_conformance_tests

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{
    future::Future,
    pin::pin,
    sync::Arc,
    task::{Context, Poll, Wake, Waker},
    thread::{self, Thread},
};

use rand_core::{CryptoRng, Infallible, TryCryptoRng, TryRng};

use super::{DeviceStore, MessageCommit, ProtocolAddress, SenderKeyName, SignalStore};
use crate::{
    CryptoError, Error, KeyPair, PrivateKey, SignalError,
    credentials::{DeviceCredentials, PairedAccount},
    signal::{
        PreKeyBundle, PreKeyRecord, SessionRecord, SignedPreKeyRecord, cipher, generate_pre_keys,
    },
};

/// Runs a future to completion on the current thread (for backends that need no runtime).
pub fn block_on<F: Future>(future: F) -> F::Output {
    struct ThreadWaker(Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        thread::park();
    }
}

/// A small deterministic generator (splitmix64) for reproducible checks. Not for production keys.
#[derive(Debug, Clone)]
pub struct TestRng(pub u64);

impl TryRng for TestRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Ok(z ^ (z >> 31))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let word = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        Ok(())
    }
}

impl TryCryptoRng for TestRng {}

/// A device's identity, registration id and keys, as a backend constructor receives them.
#[derive(Debug, Clone)]
pub struct Device {
    pub identity: KeyPair,
    pub registration_id: u32,
}

pub fn device(seed: u8) -> Device {
    Device {
        identity: KeyPair::from_private(PrivateKey::from_bytes([seed; 32])),
        registration_id: 1000 + u32::from(seed),
    }
}

fn rng(seed: u64) -> impl CryptoRng + Send {
    TestRng(seed)
}

fn address(name: &str) -> ProtocolAddress {
    ProtocolAddress::new(name, 1)
}

pub async fn identities<S: SignalStore>(store: S, device: Device) {
    assert_eq!(store.identity_key_pair().await.unwrap(), device.identity);
    assert_eq!(store.local_registration_id().await.unwrap(), device.registration_id);
    let bob = address("bob");
    let key = KeyPair::from_private(PrivateKey::from_bytes([9; 32])).public;
    let other = KeyPair::from_private(PrivateKey::from_bytes([10; 32])).public;
    assert_eq!(store.identity(&bob).await.unwrap(), None);
    assert!(store.is_trusted_identity(&bob, &key).await.unwrap(), "trust on first use");
    assert!(!store.save_identity(&bob, &key).await.unwrap());
    assert_eq!(store.identity(&bob).await.unwrap(), Some(key));
    assert!(store.is_trusted_identity(&bob, &key).await.unwrap());
    assert!(
        !store.is_trusted_identity(&bob, &other).await.unwrap(),
        "a changed key is not trusted"
    );
    assert!(store.save_identity(&bob, &other).await.unwrap(), "replacing reports a change");
    assert!(store.is_trusted_identity(&bob, &other).await.unwrap());
    assert!(store.is_trusted_identity(&ProtocolAddress::new("bob", 2), &key).await.unwrap());
}

pub async fn pre_keys<S: SignalStore>(store: S, device: Device) {
    let mut rng = rng(1);
    let keys = generate_pre_keys(1, 3, &mut rng);
    for key in &keys {
        store.save_pre_key(key).await.unwrap();
    }
    assert_eq!(store.pre_key(2).await.unwrap().as_ref(), Some(&keys[1]));
    store.remove_pre_key(2).await.unwrap();
    assert_eq!(store.pre_key(2).await.unwrap(), None);
    assert_eq!(store.pre_key(3).await.unwrap().as_ref(), Some(&keys[2]));
    assert_eq!(store.pre_key(99).await.unwrap(), None);
    store.remove_pre_key(99).await.unwrap();

    let signed = SignedPreKeyRecord::generate(&device.identity, 7, 1_700_000_000, &mut rng);
    assert_eq!(store.signed_pre_key(7).await.unwrap(), None);
    store.save_signed_pre_key(&signed).await.unwrap();
    assert_eq!(store.signed_pre_key(7).await.unwrap(), Some(signed));
}

pub async fn records_round_trip<S: SignalStore>(store: S, device: Device) {
    let mut rng = rng(2);
    let bob = device_keys(3, &mut rng);
    let addr = address("bob");
    assert!(store.session(&addr).await.unwrap().is_none());
    let mut record = SessionRecord::new();
    crate::signal::session::initiate(
        &mut record,
        &device.identity,
        device.registration_id,
        &bob.bundle,
        &mut rng,
    )
    .unwrap();
    store.save_session(&addr, &record).await.unwrap();
    let loaded = store.session(&addr).await.unwrap().unwrap();
    assert_eq!(*loaded.serialize(), *record.serialize());

    let name = SenderKeyName::new("123@g.us", addr.clone());
    assert!(store.sender_key(&name).await.unwrap().is_none());
    let mut sender_key = crate::signal::SenderKeyRecord::new();
    let _ = sender_key.create_distribution(&mut rng);
    store.save_sender_key(&name, &sender_key).await.unwrap();
    let loaded = store.sender_key(&name).await.unwrap().unwrap();
    assert_eq!(*loaded.serialize(), *sender_key.serialize());
}

pub async fn sessions_move_between_addresses<S: SignalStore>(store: S, device: Device) {
    let mut rng = rng(5);
    let bob = device_keys(6, &mut rng);
    let (pn, lid, other) = (address("5511"), address("777_1"), address("888_1"));
    assert!(!store.move_session(&pn, &lid).await.unwrap(), "nothing to move");
    let mut record = SessionRecord::new();
    crate::signal::session::initiate(
        &mut record,
        &device.identity,
        device.registration_id,
        &bob.bundle,
        &mut rng,
    )
    .unwrap();
    store.save_session(&pn, &record).await.unwrap();
    store.save_identity(&pn, &bob.device.identity.public).await.unwrap();
    assert!(store.move_session(&pn, &lid).await.unwrap());
    assert!(store.session(&pn).await.unwrap().is_none(), "the old address keeps no copy");
    let moved = store.session(&lid).await.unwrap().unwrap();
    assert_eq!(*moved.serialize(), *record.serialize());
    assert_eq!(store.identity(&lid).await.unwrap(), Some(bob.device.identity.public));
    // Back again, and never over a session that exists.
    assert!(store.move_session(&lid, &pn).await.unwrap());
    store.save_session(&other, &SessionRecord::new()).await.unwrap();
    assert!(!store.move_session(&pn, &other).await.unwrap());
    assert_eq!(*store.session(&pn).await.unwrap().unwrap().serialize(), *record.serialize());
    assert!(!store.move_session(&pn, &pn).await.unwrap());
    assert!(store.session(&pn).await.unwrap().is_some());
}

pub async fn commit_applies_everything<S: SignalStore>(store: S, device: Device) {
    let mut rng = rng(3);
    let keys = generate_pre_keys(1, 2, &mut rng);
    for key in &keys {
        store.save_pre_key(key).await.unwrap();
    }
    let bob = device_keys(4, &mut rng);
    let addr = address("bob");
    let mut record = SessionRecord::new();
    crate::signal::session::initiate(
        &mut record,
        &device.identity,
        device.registration_id,
        &bob.bundle,
        &mut rng,
    )
    .unwrap();
    let mut sender_key = crate::signal::SenderKeyRecord::new();
    let _ = sender_key.create_distribution(&mut rng);
    let name = SenderKeyName::new("1@g.us", addr.clone());
    store
        .commit(MessageCommit {
            session: Some((addr.clone(), record.clone())),
            identity: Some((addr.clone(), bob.device.identity.public)),
            consumed_pre_key: Some(1),
            sender_key: Some((name.clone(), sender_key.clone())),
        })
        .await
        .unwrap();
    assert_eq!(*store.session(&addr).await.unwrap().unwrap().serialize(), *record.serialize());
    assert_eq!(store.identity(&addr).await.unwrap(), Some(bob.device.identity.public));
    assert_eq!(store.pre_key(1).await.unwrap(), None);
    assert!(store.pre_key(2).await.unwrap().is_some());
    assert_eq!(
        *store.sender_key(&name).await.unwrap().unwrap().serialize(),
        *sender_key.serialize()
    );
}

/// A remote device's published keys, for checks that need a peer.
pub struct PeerKeys {
    pub device: Device,
    pub signed: SignedPreKeyRecord,
    pub one_time: PreKeyRecord,
    pub bundle: PreKeyBundle,
}

pub fn device_keys(seed: u8, rng: &mut impl CryptoRng) -> PeerKeys {
    let device = device(seed);
    let signed = SignedPreKeyRecord::generate(&device.identity, 1, 1_700_000_000, rng);
    let one_time = PreKeyRecord { id: 31, key_pair: KeyPair::generate(rng) };
    let bundle = PreKeyBundle {
        registration_id: device.registration_id,
        device_id: 1,
        pre_key: Some((one_time.id, one_time.key_pair.public)),
        signed_pre_key_id: signed.id,
        signed_pre_key: signed.key_pair.public,
        signed_pre_key_signature: signed.signature.to_vec(),
        identity_key: device.identity.public,
    };
    PeerKeys { device, signed, one_time, bundle }
}

/// Two stores of this backend hold a conversation; failures write nothing.
pub async fn conversation<S: SignalStore>(alice: S, bob: S, bob_keys: PeerKeys) {
    let mut rng = rng(5);
    bob.save_signed_pre_key(&bob_keys.signed).await.unwrap();
    bob.save_pre_key(&bob_keys.one_time).await.unwrap();
    let (to_bob, to_alice) = (address("bob"), address("alice"));

    assert!(matches!(
        cipher::encrypt(&alice, &to_bob, b"x").await,
        Err(Error::Signal(SignalError::NoSession { .. }))
    ));
    let mut forged = bob_keys.bundle.clone();
    forged.signed_pre_key_signature[5] ^= 1;
    assert!(matches!(
        cipher::process_pre_key_bundle(&alice, &to_bob, &forged, &mut rng).await,
        Err(Error::Crypto(CryptoError::BadSignature(_)))
    ));
    assert!(alice.session(&to_bob).await.unwrap().is_none(), "nothing written on failure");

    cipher::process_pre_key_bundle(&alice, &to_bob, &bob_keys.bundle, &mut rng).await.unwrap();
    let first = cipher::encrypt(&alice, &to_bob, b"hello bob").await.unwrap();
    assert_eq!(first.enc_type(), "pkmsg");
    let second = cipher::encrypt(&alice, &to_bob, b"again").await.unwrap();

    let mut tampered = first.serialized().to_vec();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(cipher::decrypt_pre_key_message(&bob, &to_alice, &tampered, &mut rng).await.is_err());
    assert!(bob.session(&to_alice).await.unwrap().is_none(), "nothing written on failure");
    assert!(bob.pre_key(31).await.unwrap().is_some(), "prekey kept on failure");

    let plain = cipher::decrypt_pre_key_message(&bob, &to_alice, first.serialized(), &mut rng)
        .await
        .unwrap();
    assert_eq!(plain, b"hello bob");
    assert!(bob.pre_key(31).await.unwrap().is_none(), "one-time prekey consumed in the commit");
    assert_eq!(bob.identity(&to_alice).await.unwrap(), Some(device(1).identity.public));
    assert!(matches!(
        cipher::decrypt_pre_key_message(&bob, &to_alice, first.serialized(), &mut rng).await,
        Err(Error::Signal(SignalError::DuplicateMessage { index: 0 }))
    ));
    assert_eq!(
        cipher::decrypt_pre_key_message(&bob, &to_alice, second.serialized(), &mut rng)
            .await
            .unwrap(),
        b"again"
    );

    let reply = cipher::encrypt(&bob, &to_alice, b"hi alice").await.unwrap();
    assert_eq!(reply.enc_type(), "msg");
    let before = alice.session(&to_bob).await.unwrap().unwrap().serialize();
    let mut bad = reply.serialized().to_vec();
    bad[3] ^= 0x40;
    assert!(cipher::decrypt_message(&alice, &to_bob, &bad, &mut rng).await.is_err());
    assert_eq!(*alice.session(&to_bob).await.unwrap().unwrap().serialize(), *before);
    assert_eq!(
        cipher::decrypt_message(&alice, &to_bob, reply.serialized(), &mut rng).await.unwrap(),
        b"hi alice"
    );
    assert!(matches!(
        cipher::decrypt_message(&alice, &to_bob, reply.serialized(), &mut rng).await,
        Err(Error::Signal(SignalError::DuplicateMessage { .. }))
    ));
    let after = cipher::encrypt(&alice, &to_bob, b"now a msg").await.unwrap();
    assert_eq!(after.enc_type(), "msg", "an answered session stops announcing X3DH");
    assert_eq!(
        cipher::decrypt_message(&bob, &to_alice, after.serialized(), &mut rng).await.unwrap(),
        b"now a msg"
    );

    // Groups: Alice distributes her sender key to Bob.
    let group = SenderKeyName::new("120363@g.us", to_alice.clone());
    let own = SenderKeyName::new("120363@g.us", address("me"));
    let skdm = cipher::create_sender_key_distribution(&alice, &own, &mut rng).await.unwrap();
    cipher::process_sender_key_distribution(&bob, &group, skdm.serialized()).await.unwrap();
    let g1 = cipher::group_encrypt(&alice, &own, b"group one", &mut rng).await.unwrap();
    let g2 = cipher::group_encrypt(&alice, &own, b"group two", &mut rng).await.unwrap();
    assert_eq!(cipher::group_decrypt(&bob, &group, g2.serialized()).await.unwrap(), b"group two");
    assert_eq!(cipher::group_decrypt(&bob, &group, g1.serialized()).await.unwrap(), b"group one");
    assert!(matches!(
        cipher::group_decrypt(&bob, &group, g1.serialized()).await,
        Err(Error::Signal(SignalError::DuplicateMessage { index: 0 }))
    ));
    let stranger = SenderKeyName::new("120363@g.us", address("carol"));
    assert!(matches!(
        cipher::group_decrypt(&bob, &stranger, g1.serialized()).await,
        Err(Error::Signal(SignalError::NoSenderKey { .. }))
    ));
}

/// Device credentials: none at first, saved and replaced whole, cleared.
pub async fn device_credentials<S: SignalStore + DeviceStore>(store: S, device: Device) {
    assert_eq!(store.credentials().await.unwrap(), None);
    store.clear_credentials().await.unwrap();
    let mut rng = TestRng(31);
    let mut credentials = DeviceCredentials::generate_with_identity(
        device.identity.clone(),
        device.registration_id,
        1_700_000_000,
        &mut rng,
    );
    store.save_credentials(&credentials).await.unwrap();
    assert_eq!(store.credentials().await.unwrap().as_ref(), Some(&credentials));

    credentials.next_pre_key_id = 813;
    credentials.push_name = Some("Shop".to_owned());
    credentials.account = Some(PairedAccount {
        jid: "15550001111:3@s.whatsapp.net".parse().unwrap(),
        lid: Some("100200300:3@lid".parse().unwrap()),
        account_key: KeyPair::generate(&mut rng).public,
        key_index: 3,
        signed_identity: vec![9; 80],
        platform: Some("android".to_owned()),
        business_name: Some("Shop Ltd".to_owned()),
    });
    store.save_credentials(&credentials).await.unwrap();
    assert_eq!(store.credentials().await.unwrap().as_ref(), Some(&credentials));
    // The Signal identity is untouched by the credentials.
    assert_eq!(store.identity_key_pair().await.unwrap(), device.identity);

    store.clear_credentials().await.unwrap();
    assert_eq!(store.credentials().await.unwrap(), None);
    store.clear_credentials().await.unwrap();
}

/// Expands the conformance suite for a store backend.
///
/// `make` is an expression callable as `make(identity: KeyPair, registration_id: u32)` returning a
/// future of a fresh, empty store. `run` (optional) drives a future to completion; it defaults to
/// [`block_on`], so pass e.g. a tokio runtime's `block_on` for backends that need one.
///
/// ```
/// wa_session::store_conformance_tests!(|identity, registration_id| async move {
///     wa_session::store::MemoryStore::new(identity, registration_id)
/// });
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance_tests!($make, $crate::store::conformance::block_on);
    };
    ($make:expr, $run:expr) => {
        mod store_conformance {
            #[allow(unused_imports)]
            use super::*;
            use $crate::store::conformance as c;

            fn new_device(seed: u8) -> c::Device {
                c::device(seed)
            }

            #[test]
            fn identities() {
                ($run)(async {
                    let d = new_device(1);
                    c::identities(($make)(d.identity.clone(), d.registration_id).await, d).await
                })
            }

            #[test]
            fn pre_keys() {
                ($run)(async {
                    let d = new_device(1);
                    c::pre_keys(($make)(d.identity.clone(), d.registration_id).await, d).await
                })
            }

            #[test]
            fn records_round_trip() {
                ($run)(async {
                    let d = new_device(1);
                    c::records_round_trip(($make)(d.identity.clone(), d.registration_id).await, d)
                        .await
                })
            }

            #[test]
            fn sessions_move_between_addresses() {
                ($run)(async {
                    let d = new_device(1);
                    c::sessions_move_between_addresses(
                        ($make)(d.identity.clone(), d.registration_id).await,
                        d,
                    )
                    .await
                })
            }

            #[test]
            fn commit_applies_everything() {
                ($run)(async {
                    let d = new_device(1);
                    c::commit_applies_everything(
                        ($make)(d.identity.clone(), d.registration_id).await,
                        d,
                    )
                    .await
                })
            }

            #[test]
            fn device_credentials() {
                ($run)(async {
                    let d = new_device(1);
                    c::device_credentials(($make)(d.identity.clone(), d.registration_id).await, d)
                        .await
                })
            }

            #[test]
            fn conversation() {
                ($run)(async {
                    let a = new_device(1);
                    let mut rng = c::TestRng(77);
                    let bob_keys = c::device_keys(2, &mut rng);
                    let alice = ($make)(a.identity.clone(), a.registration_id).await;
                    let bob =
                        ($make)(bob_keys.device.identity.clone(), bob_keys.device.registration_id)
                            .await;
                    c::conversation(alice, bob, bob_keys).await
                })
            }
        }
    };
}
