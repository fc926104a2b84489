//! The log's contract, on every backend.

use audit::{ChainKey, Entry, Error, Kind, Query, TamperReason};
use sqlx::Connection;
use time::OffsetDateTime;

use crate::support::Db;

fn at(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap()
}

/// The key of every test chain (the embedding application derives it from a secret kept apart).
fn key() -> ChainKey {
    ChainKey::from_bytes([7; 32])
}

const KINDS: [Kind; 3] = [Kind::MessageReceived, Kind::StatusUpdate, Kind::LineCreated];

/// Appends `n` records, each in its own transaction: record i has time 1000*i, kind KINDS[i % 3],
/// subject "line:{i % 2}" and payload "payload {i}".
async fn fill(db: &mut Db, n: i64) {
    for i in 1..=n {
        let mut tx = db.conn.begin().await.unwrap();
        let subject = format!("line:{}", i % 2);
        let payload = format!("payload {i}");
        let kind = KINDS[usize::try_from(i % 3).unwrap()];
        let e = Entry { kind, actor: "system", subject: &subject, payload: payload.as_bytes() };
        let r = audit::append(&mut tx, &key(), e, at(1000 * i)).await.unwrap();
        assert_eq!(r.seq, i);
        tx.commit().await.unwrap();
    }
}

crate::on_every_backend!(
    chain_verifies_and_links,
    rollback_leaves_no_record,
    triggers_refuse_update_and_delete,
    changed_payload_is_detected,
    changed_time_is_detected,
    deleted_middle_record_is_detected,
    deleted_last_record_is_detected,
    anchor_detects_truncation_with_rewritten_head,
    query_filters_and_pages,
    export_writes_one_line_per_record,
);

async fn chain_verifies_and_links(mut db: Db) {
    assert_eq!(audit::verify(&mut db.conn, &key()).await.unwrap().seq, 0);
    fill(&mut db, 25).await;
    let head = audit::verify(&mut db.conn, &key()).await.unwrap();
    assert_eq!(head.seq, 25);
    let page = audit::query(&mut db.conn, &Query::default()).await.unwrap();
    assert_eq!(page.records.len(), 25);
    assert_eq!(page.records[0].prev_hash, audit::GENESIS);
    for w in page.records.windows(2) {
        assert_eq!(w[1].prev_hash, w[0].hash);
    }
    assert_eq!(page.records[24].hash, head.hash);
    assert_eq!(page.records[3].payload, b"payload 4");
}

async fn rollback_leaves_no_record(mut db: Db) {
    fill(&mut db, 2).await;
    let mut tx = db.conn.begin().await.unwrap();
    let e = Entry { kind: Kind::LineDeleted, actor: "user:1", subject: "line:9", payload: b"x" };
    audit::append(&mut tx, &key(), e, at(5)).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(audit::verify(&mut db.conn, &key()).await.unwrap().seq, 2);
    fill_one(&mut db).await;
    assert_eq!(audit::verify(&mut db.conn, &key()).await.unwrap().seq, 3);
}

async fn fill_one(db: &mut Db) {
    let mut tx = db.conn.begin().await.unwrap();
    let e = Entry { kind: Kind::AuthIssued, actor: "user:2", subject: "user:2", payload: b"" };
    assert_eq!(audit::append(&mut tx, &key(), e, at(6)).await.unwrap().seq, 3);
    tx.commit().await.unwrap();
}

async fn triggers_refuse_update_and_delete(mut db: Db) {
    fill(&mut db, 3).await;
    for sql in [
        "UPDATE audit_log SET payload = payload WHERE seq = 2",
        "DELETE FROM audit_log WHERE seq = 3",
        "DELETE FROM audit_log",
        "DELETE FROM audit_head",
        "UPDATE audit_head SET seq = 1",
    ] {
        let err = sqlx::query(sql).execute(&mut db.conn).await;
        assert!(err.is_err(), "{sql} was allowed");
    }
    if db.backend == audit::Backend::Postgres {
        assert!(sqlx::query("TRUNCATE audit_log").execute(&mut db.conn).await.is_err());
    }
    assert_eq!(audit::verify(&mut db.conn, &key()).await.unwrap().seq, 3);
}

fn tampered(r: audit::Result<audit::Head>) -> (i64, TamperReason) {
    match r {
        Err(Error::Tampered { seq, reason }) => (seq, reason),
        other => panic!("expected tampering to be detected, got {other:?}"),
    }
}

async fn changed_payload_is_detected(mut db: Db) {
    fill(&mut db, 10).await;
    db.bypass_triggers(
        "UPDATE audit_log SET payload = $$x$$ WHERE seq = 4".replace("$$", "'").as_str(),
    )
    .await;
    assert_eq!(
        tampered(audit::verify(&mut db.conn, &key()).await),
        (4, TamperReason::ContentChanged)
    );
}

async fn changed_time_is_detected(mut db: Db) {
    fill(&mut db, 10).await;
    db.bypass_triggers("UPDATE audit_log SET at = at + 1 WHERE seq = 7").await;
    assert_eq!(
        tampered(audit::verify(&mut db.conn, &key()).await),
        (7, TamperReason::ContentChanged)
    );
}

async fn deleted_middle_record_is_detected(mut db: Db) {
    fill(&mut db, 10).await;
    db.bypass_triggers("DELETE FROM audit_log WHERE seq = 5").await;
    assert_eq!(tampered(audit::verify(&mut db.conn, &key()).await), (5, TamperReason::Missing));
}

async fn deleted_last_record_is_detected(mut db: Db) {
    fill(&mut db, 10).await;
    db.bypass_triggers("DELETE FROM audit_log WHERE seq = 10").await;
    assert_eq!(tampered(audit::verify(&mut db.conn, &key()).await), (10, TamperReason::Missing));
}

async fn anchor_detects_truncation_with_rewritten_head(mut db: Db) {
    fill(&mut db, 10).await;
    let anchor = audit::verify(&mut db.conn, &key()).await.unwrap();
    // Remove the last two records and rewrite the head to match record 8: the chain alone is
    // consistent again, but the anchor kept outside the database is gone.
    db.bypass_triggers(
        "DELETE FROM audit_log WHERE seq > 8; \
         UPDATE audit_head SET seq = 8, hash = (SELECT hash FROM audit_log WHERE seq = 8)",
    )
    .await;
    assert_eq!(audit::verify(&mut db.conn, &key()).await.unwrap().seq, 8);
    assert_eq!(
        tampered(audit::verify_anchored(&mut db.conn, &key(), anchor).await),
        (10, TamperReason::Missing)
    );
}

async fn query_filters_and_pages(mut db: Db) {
    fill(&mut db, 30).await;
    // kind StatusUpdate is i % 3 == 1: 1, 4, ..., 28 (10 records); subject line:0 is even i.
    let q = Query {
        kind: Some(Kind::StatusUpdate),
        subject: Some("line:0".to_owned()),
        since: Some(at(4000)),
        until: Some(at(28000)),
        limit: 2,
        ..Query::default()
    };
    let mut seqs = Vec::new();
    let mut q2 = q.clone();
    loop {
        let page = audit::query(&mut db.conn, &q2).await.unwrap();
        assert!(page.records.len() <= 2);
        seqs.extend(page.records.iter().map(|r| r.seq));
        match page.next {
            Some(next) => q2.after_seq = Some(next),
            None => break,
        }
    }
    assert_eq!(seqs, vec![4, 10, 16, 22]);
    let by = |actor: &str| Query { actor: Some(actor.to_owned()), ..Query::default() };
    assert_eq!(audit::query(&mut db.conn, &by("system")).await.unwrap().records.len(), 30);
    assert!(audit::query(&mut db.conn, &by("user:1")).await.unwrap().records.is_empty());
    let too_big = Query { limit: audit::MAX_PAGE + 1, ..Query::default() };
    assert!(matches!(audit::query(&mut db.conn, &too_big).await, Err(Error::InvalidQuery(_))));
}

async fn export_writes_one_line_per_record(mut db: Db) {
    fill(&mut db, 12).await;
    let mut out = Vec::new();
    let q = Query { limit: 5, ..Query::default() };
    assert_eq!(audit::export_ndjson(&mut db.conn, &q, &mut out).await.unwrap(), 12);
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 12);
    assert_eq!(lines[2]["seq"], 3);
    assert_eq!(lines[2]["kind"], "wa.message_received");
    assert_eq!(lines[2]["payload"], hex::encode("payload 3"));
}
