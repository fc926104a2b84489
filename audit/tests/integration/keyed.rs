//! Keyed chains: rows rewritten by someone with database access but without the key.

use audit::{
    ChainKey, Entry, Error, Kind, Query, Record, TamperReason,
    chain::{self, Fields, Hash},
};
use sqlx::Connection;
use time::OffsetDateTime;

use crate::support::Db;

fn key() -> ChainKey {
    ChainKey::from_bytes([7; 32])
}

fn at(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap()
}

async fn fill(db: &mut Db, n: i64) {
    for i in 1..=n {
        let mut tx = db.conn.begin().await.unwrap();
        let payload = format!("payload {i}");
        let e = Entry {
            kind: Kind::MessageReceived,
            actor: "system",
            subject: "line:1",
            payload: payload.as_bytes(),
        };
        audit::append(&mut tx, &key(), e, at(1000 * i)).await.unwrap();
        tx.commit().await.unwrap();
    }
}

fn tampered<T: std::fmt::Debug>(r: Result<T, Error>) -> (i64, TamperReason) {
    match r {
        Err(Error::Tampered { seq, reason }) => (seq, reason),
        other => panic!("expected tampering to be detected, got {other:?}"),
    }
}

async fn records(db: &mut Db) -> Vec<Record> {
    audit::query(&mut db.conn, &Query::default()).await.unwrap().records
}

fn fields<'a>(r: &'a Record, payload: &'a [u8], prev: &'a Hash) -> Fields<'a> {
    Fields {
        seq: r.seq,
        at_ms: r.at_ms,
        kind: r.kind.as_str(),
        actor: &r.actor,
        subject: &r.subject,
        payload,
        prev_hash: prev,
    }
}

/// What an attacker with database access but no key can do: change record `from`'s payload, then
/// recompute the unkeyed hash of it and of every record after it (up to `until`, or the end with
/// the head), so the chain is consistent again.
async fn rewrite_unkeyed(db: &mut Db, from: i64, new_payload: &[u8]) {
    rewrite_unkeyed_until(db, from, i64::MAX, new_payload).await;
}

async fn rewrite_unkeyed_until(db: &mut Db, from: i64, until: i64, new_payload: &[u8]) {
    let all = records(db).await;
    db.disable_triggers().await;
    let mut prev = all[usize::try_from(from - 2).map_or(0, |i| i + 1)].prev_hash;
    for r in all.iter().filter(|r| r.seq >= from && r.seq <= until) {
        let payload = if r.seq == from { new_payload.to_vec() } else { r.payload.clone() };
        let hash = chain::record_hash(&fields(r, &payload, &prev));
        sqlx::query("UPDATE audit_log SET payload = $1, prev_hash = $2, hash = $3 WHERE seq = $4")
            .bind(payload)
            .bind(prev.to_vec())
            .bind(hash.to_vec())
            .bind(r.seq)
            .execute(&mut db.conn)
            .await
            .unwrap();
        prev = hash;
    }
    if until < i64::MAX {
        return;
    }
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(prev.to_vec())
        .execute(&mut db.conn)
        .await
        .unwrap();
}

/// Writes `n` records the way the log did before chains were keyed (version 1 hashes).
async fn fill_unkeyed(db: &mut Db, n: i64) {
    let mut prev = audit::GENESIS;
    for seq in 1..=n {
        let payload = format!("old {seq}");
        let f = Fields {
            seq,
            at_ms: seq,
            kind: "line.created",
            actor: "system",
            subject: "line:1",
            payload: payload.as_bytes(),
            prev_hash: &prev,
        };
        let hash = chain::record_hash(&f);
        sqlx::query(
            "INSERT INTO audit_log (seq, at, kind, actor, subject, payload, prev_hash, hash) \
             VALUES ($1, $2, 'line.created', 'system', 'line:1', $3, $4, $5)",
        )
        .bind(seq)
        .bind(seq)
        .bind(payload.into_bytes())
        .bind(prev.to_vec())
        .bind(hash.to_vec())
        .execute(&mut db.conn)
        .await
        .unwrap();
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(seq)
            .bind(hash.to_vec())
            .execute(&mut db.conn)
            .await
            .unwrap();
        prev = hash;
    }
}

crate::on_every_backend!(
    rewritten_record_with_recomputed_unkeyed_hash_is_detected,
    whole_chain_rewritten_unkeyed_is_detected,
    same_key_verifies_another_key_does_not,
    legacy_log_is_sealed_once_then_protected,
);

async fn rewritten_record_with_recomputed_unkeyed_hash_is_detected(mut db: Db) {
    fill(&mut db, 10).await;
    rewrite_unkeyed(&mut db, 4, b"forged").await;
    assert_eq!(records(&mut db).await[3].payload, b"forged");
    assert_eq!(tampered(audit::verify(&mut db.conn, &key()).await), (4, TamperReason::Unkeyed));
}

async fn whole_chain_rewritten_unkeyed_is_detected(mut db: Db) {
    fill(&mut db, 6).await;
    rewrite_unkeyed(&mut db, 1, b"forged").await;
    assert_eq!(tampered(audit::verify(&mut db.conn, &key()).await), (1, TamperReason::Unkeyed));
    // Sealing is a one-time migration for logs that were never keyed; sealing a rewritten chain
    // is what the embedding application must guard against (tenancy does), and the record it
    // would write still says so.
}

async fn same_key_verifies_another_key_does_not(mut db: Db) {
    fill(&mut db, 5).await;
    assert_eq!(audit::verify(&mut db.conn, &key()).await.unwrap().seq, 5);
    let page = records(&mut db).await;
    assert!(page.iter().all(|r| audit::is_keyed(&key(), r)));
    let other = ChainKey::from_bytes([8; 32]);
    assert!(!audit::is_keyed(&other, &page[0]));
    assert_eq!(
        tampered(audit::verify(&mut db.conn, &other).await),
        (1, TamperReason::ContentChanged)
    );
}

async fn legacy_log_is_sealed_once_then_protected(mut db: Db) {
    fill_unkeyed(&mut db, 4).await;
    // Readable as it is, but nothing vouches for it until it is sealed.
    assert_eq!(records(&mut db).await.len(), 4);
    assert_eq!(tampered(audit::verify(&mut db.conn, &key()).await), (1, TamperReason::Unkeyed));
    let mut tx = db.conn.begin().await.unwrap();
    let seal = audit::seal(&mut tx, &key(), at(10)).await.unwrap().expect("a seal record");
    tx.commit().await.unwrap();
    assert_eq!((seal.seq, seal.kind), (5, Kind::AuditKeyed));
    let sealed: serde_json::Value = serde_json::from_slice(&seal.payload).unwrap();
    assert_eq!(sealed["sealed_seq"], 4);
    assert_eq!(audit::verify(&mut db.conn, &key()).await.unwrap().seq, 5);
    fill(&mut db, 2).await;
    assert_eq!(audit::verify(&mut db.conn, &key()).await.unwrap().seq, 7);
    // A keyed chain is never sealed again.
    let mut tx = db.conn.begin().await.unwrap();
    assert!(audit::seal(&mut tx, &key(), at(11)).await.unwrap().is_none());
    tx.commit().await.unwrap();
    // Rewriting an old record with its unkeyed successors breaks the seal's link; carrying the
    // rewrite on through the keyed records leaves a chain nothing vouches for.
    rewrite_unkeyed_until(&mut db, 2, 4, b"forged").await;
    assert_eq!(tampered(audit::verify(&mut db.conn, &key()).await), (5, TamperReason::BrokenLink));
    rewrite_unkeyed(&mut db, 2, b"forged").await;
    assert_eq!(tampered(audit::verify(&mut db.conn, &key()).await), (1, TamperReason::Unkeyed));
}
