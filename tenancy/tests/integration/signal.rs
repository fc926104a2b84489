//! wa-session's store conformance suite and a real conversation on `LineSignalStore`, on SQLite
//! and (with `pg-tests`) PostgreSQL; each test on fresh tenants.

use std::{cell::RefCell, future::Future, sync::Arc};

use sqlx::{AssertSqlSafe, Row};
use tenancy::{
    Clock, LineSignalStore, ManualClock, Tenant,
    wa_session::{
        self, IdentityKeyPair, KeyPair, PrivateKey,
        signal::{SessionRecord, cipher},
        store::{
            CommitStore, IdentityStore, MessageCommit, PreKeyStore, ProtocolAddress, SenderKeyName,
            SessionStore, SignedPreKeyStore,
            conformance::{TestRng, device_keys},
        },
    },
};

use crate::support::{ADMIN, Env, SYSTEM, at};

thread_local! {
    /// The environments (temporary directories, PostgreSQL schemas) of the conformance test
    /// running on this thread; released, and so cleaned up, when the test ends.
    static HELD: RefCell<Vec<Env>> = const { RefCell::new(Vec::new()) };
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(ManualClock::new(1_700_000_000))
}

/// Drives one conformance test on a tokio runtime, then drops the environments it made (also if
/// it panicked).
pub(crate) fn run<F: Future>(future: F) -> F::Output {
    struct Release(tokio::runtime::Handle);
    impl Drop for Release {
        fn drop(&mut self) {
            let _in_runtime = self.0.enter();
            drop(HELD.with(|held| std::mem::take(&mut *held.borrow_mut())));
        }
    }
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let _release = Release(rt.handle().clone());
    rt.block_on(future)
}

/// A fresh tenant with one line, and that line's Signal store for `identity`.
async fn line_store(env: &Env, name: &str, identity: &IdentityKeyPair, reg: u32) -> (Tenant, i64) {
    let t = env.tenant(name, 5).await;
    let line = t.create_line(ADMIN, "Line", None, at(2)).await.unwrap().id;
    t.create_signal_store(SYSTEM, line, identity, reg, clock()).await.unwrap();
    (t, line)
}

pub(crate) async fn make(env: Env, identity: IdentityKeyPair, reg: u32) -> LineSignalStore {
    let (t, line) = line_store(&env, "s", &identity, reg).await;
    HELD.with(|held| held.borrow_mut().push(env));
    t.signal_store(SYSTEM, line, clock()).await.unwrap()
}

/// wa-session's suite; the PostgreSQL half sits in a `pg` module for the pg suite's filter.
mod conformance {
    mod sqlite {
        use tenancy::wa_session;

        wa_session::store_conformance_tests!(
            |identity, reg| async move {
                crate::signal::make(crate::support::Env::sqlite().await, identity, reg).await
            },
            crate::signal::run
        );
    }

    #[cfg(feature = "pg-tests")]
    mod pg {
        use tenancy::wa_session;

        wa_session::store_conformance_tests!(
            |identity, reg| async move {
                crate::signal::make(crate::support::Env::postgres().await, identity, reg).await
            },
            crate::signal::run
        );
    }
}

crate::on_every_backend!(
    signal_commit_failing_midway_writes_nothing,
    signal_records_are_encrypted_at_rest,
    signal_conversation_survives_restart,
    signal_store_needs_an_identity_and_the_server,
);

fn device(seed: u8) -> (IdentityKeyPair, u32) {
    (KeyPair::from_private(PrivateKey::from_bytes([seed; 32])), 2000 + u32::from(seed))
}

/// A database trigger refuses the sender-key row, the last write of the commit: the session,
/// identity and prekey deletion written before it in the same transaction must all be gone.
async fn signal_commit_failing_midway_writes_nothing(env: Env) {
    let (identity, reg) = device(1);
    let (t, line) = line_store(&env, "a", &identity, reg).await;
    let store = t.signal_store(SYSTEM, line, clock()).await.unwrap();
    let mut rng = TestRng(9);
    let bob = device_keys(2, &mut rng);
    store.save_pre_key(&bob.one_time).await.unwrap();
    let addr = ProtocolAddress::new("bob", 1);
    let mut record = SessionRecord::new();
    wa_session::signal::session::initiate(&mut record, &identity, reg, &bob.bundle, &mut rng)
        .unwrap();
    let mut sender_key = wa_session::signal::SenderKeyRecord::new();
    let _ = sender_key.create_distribution(&mut rng);
    let name = SenderKeyName::new("1@g.us", addr.clone());
    let commit = || {
        let mut c = MessageCommit::default();
        c.session = Some((addr.clone(), record.clone()));
        c.identity = Some((addr.clone(), bob.device.identity.public));
        c.consumed_pre_key = Some(bob.one_time.id);
        c.sender_key = Some((name.clone(), sender_key.clone()));
        c
    };

    let mut raw = env.raw(t.member_id()).await;
    let trigger = if env.dir.is_some() {
        "CREATE TRIGGER fail_sender_key BEFORE INSERT ON device_store \
         WHEN NEW.namespace = 'signal.sender_key' BEGIN SELECT RAISE(ABORT, 'injected'); END;"
    } else {
        "CREATE FUNCTION fail_sender_key() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         IF NEW.namespace = 'signal.sender_key' THEN RAISE EXCEPTION 'injected'; END IF; \
         RETURN NEW; END $$; CREATE TRIGGER fail_sender_key BEFORE INSERT ON device_store \
         FOR EACH ROW EXECUTE FUNCTION fail_sender_key();"
    };
    sqlx::raw_sql(AssertSqlSafe(trigger)).execute(&mut raw).await.unwrap();
    // Read first, so that the store's cache holds these entries when the commit fails.
    assert!(store.session(&addr).await.unwrap().is_none());
    assert!(store.pre_key(bob.one_time.id).await.unwrap().is_some());

    let err = store.commit(commit()).await.unwrap_err();
    assert!(matches!(err, wa_session::Error::Store(_)), "{err:?}");
    assert!(store.session(&addr).await.unwrap().is_none(), "session rolled back");
    assert_eq!(store.identity(&addr).await.unwrap(), None, "identity rolled back");
    assert!(store.pre_key(bob.one_time.id).await.unwrap().is_some(), "prekey deletion rolled back");
    let rows: i64 = sqlx::query("SELECT COUNT(*) FROM device_store WHERE namespace <> 'signal.local' AND namespace <> 'signal.prekey'")
        .fetch_one(&mut raw)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(rows, 0);

    // Without the fault the same commit applies entirely.
    let drop_trigger = if env.dir.is_some() {
        "DROP TRIGGER fail_sender_key"
    } else {
        "DROP TRIGGER fail_sender_key ON device_store"
    };
    sqlx::raw_sql(drop_trigger).execute(&mut raw).await.unwrap();
    store.commit(commit()).await.unwrap();
    // The store that wrote (its cache) and a fresh one (the database) agree.
    let fresh = t.signal_store(SYSTEM, line, clock()).await.unwrap();
    for store in [&store, &fresh] {
        assert!(store.session(&addr).await.unwrap().is_some());
        assert_eq!(store.identity(&addr).await.unwrap(), Some(bob.device.identity.public));
        assert!(store.pre_key(bob.one_time.id).await.unwrap().is_none());
    }
}

/// No stored value contains the private keys or the session record in the clear, and a value
/// moved to another key no longer opens.
async fn signal_records_are_encrypted_at_rest(env: Env) {
    let (identity, reg) = device(3);
    let (t, line) = line_store(&env, "a", &identity, reg).await;
    let store = t.signal_store(SYSTEM, line, clock()).await.unwrap();
    let mut rng = TestRng(4);
    let bob = device_keys(4, &mut rng);
    store.save_pre_key(&bob.one_time).await.unwrap();
    let secrets: Vec<Vec<u8>> = vec![
        identity.private.secret_bytes().to_vec(),
        bob.one_time.key_pair.private.secret_bytes().to_vec(),
    ];
    let mut raw = env.raw(t.member_id()).await;
    let rows =
        sqlx::query("SELECT key, value FROM device_store").fetch_all(&mut raw).await.unwrap();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        let value: Vec<u8> = row.try_get(1).unwrap();
        for secret in &secrets {
            assert!(!value.windows(32).any(|w| w == secret.as_slice()), "a private key in clear");
        }
    }
    // Swap the prekey's sealed value under another id: it must not open there.
    sqlx::query(
        "INSERT INTO device_store (line_id, namespace, key, value, updated_at) \
         SELECT line_id, namespace, '99', value, updated_at FROM device_store \
         WHERE namespace = 'signal.prekey'",
    )
    .execute(&mut raw)
    .await
    .unwrap();
    let err = store.pre_key(99).await.unwrap_err();
    assert!(matches!(&err, wa_session::Error::Store(m) if m.contains("decrypt")), "{err:?}");
    assert_eq!(store.pre_key(bob.one_time.id).await.unwrap(), Some(bob.one_time));
}

/// Two lines of two tenants talk through wa-session's cipher API; every store is dropped and
/// reopened from the database midway (a restart), and the conversation continues.
async fn signal_conversation_survives_restart(mut env: Env) {
    let mut rng = TestRng(21);
    let (alice_id, alice_reg) = device(5);
    let bob_keys = device_keys(6, &mut rng);
    let (ta, line_a) = line_store(&env, "alice", &alice_id, alice_reg).await;
    let (tb, line_b) =
        line_store(&env, "bob", &bob_keys.device.identity, bob_keys.device.registration_id).await;
    let (to_bob, to_alice) = (ProtocolAddress::new("bob", 1), ProtocolAddress::new("alice", 1));
    let group_own = SenderKeyName::new("9@g.us", ProtocolAddress::new("me", 1));
    let group_alice = SenderKeyName::new("9@g.us", to_alice.clone());

    let (alice, bob) = (
        ta.signal_store(SYSTEM, line_a, clock()).await.unwrap(),
        tb.signal_store(SYSTEM, line_b, clock()).await.unwrap(),
    );
    bob.save_signed_pre_key(&bob_keys.signed).await.unwrap();
    bob.save_pre_key(&bob_keys.one_time).await.unwrap();
    cipher::process_pre_key_bundle(&alice, &to_bob, &bob_keys.bundle, &mut rng).await.unwrap();
    let first = cipher::encrypt(&alice, &to_bob, b"hello 0").await.unwrap();
    let plain = cipher::decrypt_pre_key_message(&bob, &to_alice, first.serialized(), &mut rng)
        .await
        .unwrap();
    assert_eq!(plain, b"hello 0");
    let skdm = cipher::create_sender_key_distribution(&alice, &group_own, &mut rng).await.unwrap();
    cipher::process_sender_key_distribution(&bob, &group_alice, skdm.serialized()).await.unwrap();
    let mut held_back = None;
    for i in 1..6u8 {
        let reply = cipher::encrypt(&bob, &to_alice, &[b'b', i]).await.unwrap();
        assert_eq!(
            cipher::decrypt_message(&alice, &to_bob, reply.serialized(), &mut rng).await.unwrap(),
            [b'b', i]
        );
        let m = cipher::encrypt(&alice, &to_bob, &[b'a', i]).await.unwrap();
        if i == 3 {
            held_back = Some(m); // delivered after the restart, out of order
        } else {
            assert_eq!(
                cipher::decrypt_message(&bob, &to_alice, m.serialized(), &mut rng).await.unwrap(),
                [b'a', i]
            );
        }
    }
    let g1 = cipher::group_encrypt(&alice, &group_own, b"group before", &mut rng).await.unwrap();

    // Restart: drop every handle and the store itself, reopen from storage.
    drop((alice, bob, ta, tb));
    env.reopen().await;
    let ta = env.store.tenant(&env.member("alice")).await.unwrap();
    let tb = env.store.tenant(&env.member("bob")).await.unwrap();
    let alice = ta.signal_store(SYSTEM, line_a, clock()).await.unwrap();
    let bob = tb.signal_store(SYSTEM, line_b, clock()).await.unwrap();
    assert_eq!(alice.identity_key_pair().await.unwrap(), alice_id);
    assert_eq!(bob.identity(&to_alice).await.unwrap(), Some(alice_id.public));
    assert!(bob.pre_key(bob_keys.one_time.id).await.unwrap().is_none(), "prekey stays consumed");

    let held_back = held_back.unwrap();
    assert_eq!(
        cipher::decrypt_message(&bob, &to_alice, held_back.serialized(), &mut rng).await.unwrap(),
        b"a\x03"
    );
    assert!(matches!(
        cipher::decrypt_message(&bob, &to_alice, held_back.serialized(), &mut rng).await,
        Err(wa_session::Error::Signal(wa_session::SignalError::DuplicateMessage { .. }))
    ));
    assert_eq!(
        cipher::group_decrypt(&bob, &group_alice, g1.serialized()).await.unwrap(),
        b"group before"
    );
    for i in 6..12u8 {
        let m = cipher::encrypt(&alice, &to_bob, &[b'a', i]).await.unwrap();
        assert_eq!(m.enc_type(), "msg");
        assert_eq!(
            cipher::decrypt_message(&bob, &to_alice, m.serialized(), &mut rng).await.unwrap(),
            [b'a', i]
        );
        let r = cipher::encrypt(&bob, &to_alice, &[b'b', i]).await.unwrap();
        assert_eq!(
            cipher::decrypt_message(&alice, &to_bob, r.serialized(), &mut rng).await.unwrap(),
            [b'b', i]
        );
    }
    let g2 = cipher::group_encrypt(&alice, &group_own, b"group after", &mut rng).await.unwrap();
    assert_eq!(
        cipher::group_decrypt(&bob, &group_alice, g2.serialized()).await.unwrap(),
        b"group after"
    );
}

/// A line without a stored identity has no Signal store; only the server may open one; a
/// tenant's line id does not open another tenant's store.
async fn signal_store_needs_an_identity_and_the_server(env: Env) {
    let (identity, reg) = device(7);
    let (t, line) = line_store(&env, "a", &identity, reg).await;
    let other = env.tenant("b", 5).await;
    let bare = other.create_line(ADMIN, "Bare", None, at(2)).await.unwrap().id;
    assert!(matches!(
        other.signal_store(SYSTEM, bare, clock()).await,
        Err(tenancy::Error::NotFound("signal identity"))
    ));
    assert!(matches!(
        t.signal_store(ADMIN, line, clock()).await,
        Err(tenancy::Error::Forbidden(_))
    ));
    assert!(matches!(
        t.signal_store(SYSTEM, line + 100, clock()).await,
        Err(tenancy::Error::NotFound("line"))
    ));
    let store = t.signal_store(SYSTEM, line, clock()).await.unwrap();
    assert_eq!(store.local_registration_id().await.unwrap(), reg);
    // A deleted line's store refuses writes with a store error.
    t.delete_line(ADMIN, line, at(3)).await.unwrap();
    let err = store.remove_pre_key(1).await.unwrap_err();
    assert!(matches!(&err, wa_session::Error::Store(m) if m.contains("not found")), "{err:?}");
}
