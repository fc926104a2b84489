//! `scripts/bench store [MESSAGES]`: inbound message inserts per second and history page latency
//! with a conversation of MESSAGES messages (100k by default there, 1M here), on SQLite or
//! PostgreSQL. scripts/bench runs both and reports SQLite as "ours", PostgreSQL as "peer".
//!
//! ```text
//! cargo run --release -p tenancy --example bench_store -- sqlite [MESSAGES] [INSERTS]
//! cargo run --release -p tenancy --example bench_store -- pg [MESSAGES] [INSERTS]   # TEST_DATABASE_URL
//! ```
//!
//! The history fixture is bulk-loaded with one SQL statement (it is what is being read, not what is
//! being measured); the inserts go through `Tenant::record_inbound`, one transaction each with its
//! contact and conversation upserts, the unread bump and the audit record.
#![allow(clippy::disallowed_methods)] // a benchmark measures wall time
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::cast_possible_truncation)]

use std::time::{Duration, Instant};

use sqlx::{AnyConnection, AssertSqlSafe, Connection};
use tenancy::{Caller, Inbound, Install, MasterKey, MessageKind, Store};
use time::OffsetDateTime;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let backend = args.get(1).map(String::as_str).unwrap_or("sqlite").to_owned();
    let messages: i64 = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(1_000_000);
    let inserts: i64 = args.get(3).map(|s| s.parse().unwrap()).unwrap_or(5_000);
    let url = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let dir = tempfile::tempdir().unwrap();
    let control = format!("bench_{}", std::process::id());
    let key = MasterKey::from_bytes([3; 32]);
    let store = match backend.as_str() {
        "sqlite" => Store::open_sqlite(dir.path(), key).await.unwrap(),
        "pg" => Store::open_postgres(&url, &control, key).await.unwrap(),
        other => panic!("unknown backend {other} (sqlite or pg)"),
    };
    let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    let member = "bench";
    let install = Install {
        member_id: member.into(),
        domain: "bench.example".into(),
        plan: "bench".into(),
        line_quota: 10,
        trial_ends_at: None,
        tokens: None,
    };
    store.install(&install, now).await.unwrap();
    let t = store.tenant(member).await.unwrap();
    let line = t.create_line(Caller::System, "Bench", None, now).await.unwrap().id;
    let inbound = |jid: String, wa_id: String| Inbound {
        line_id: line,
        jid,
        phone: None,
        push_name: Some("Customer".into()),
        wa_id,
        kind: MessageKind::Text,
        text: Some("a typical short customer message, about sixty bytes long".into()),
        media: None,
        quoted_wa_id: None,
        raw: vec![b'x'; 300],
        note: None,
    };
    let first = t
        .record_inbound(Caller::System, &inbound("big@s.whatsapp.net".into(), "seed".into()), now)
        .await
        .unwrap();
    let conv = first.message.conversation_id;

    // Fixture: one conversation with `messages` messages.
    let started = Instant::now();
    let mut raw = raw_connection(&backend, dir.path(), &url, &store.storage_name(member)).await;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {messages}) \
         INSERT INTO messages (conversation_id, line_id, wa_id, direction, kind, body, status, sender, at) \
         SELECT {conv}, {line}, 'bulk-' || i, 'in', 'text', 'bulk message ' || i, 2, 'big@s.whatsapp.net', i FROM s"
    )))
    .execute(&mut raw)
    .await
    .unwrap();
    if backend == "pg" {
        sqlx::raw_sql("ANALYZE messages").execute(&mut raw).await.unwrap();
    }
    println!("fixture: {messages} messages loaded in {:.1} s", started.elapsed().as_secs_f64());

    // Inserts through the API, spread over 50 conversations.
    let started = Instant::now();
    for i in 0..inserts {
        let m = inbound(format!("{}@s.whatsapp.net", i % 50), format!("ins-{i}"));
        t.record_inbound(Caller::System, &m, now).await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    let per_sec = inserts as f64 / secs;
    println!(
        "inbound inserts: {inserts} in {secs:.2} s = {per_sec:.0} msg/s (one transaction each, with audit)"
    );

    // History pages of 50: the newest page, and pages deep in the conversation (keyset cursor).
    let admin = Caller::Admin(1);
    let mut newest = Vec::new();
    let mut deep = Vec::new();
    for i in 0..500 {
        let s = Instant::now();
        let p = t.history(admin, conv, None, 50).await.unwrap();
        newest.push(s.elapsed());
        assert_eq!(p.messages.len(), 50);
        let cursor = Some(1 + (i * 1_999) % messages.max(1));
        let s = Instant::now();
        t.history(admin, conv, cursor, 50).await.unwrap();
        deep.push(s.elapsed());
    }
    let (n50, n99) = percentiles(&mut newest);
    let (d50, d99) = percentiles(&mut deep);
    println!(
        "history page (50 of {messages}): newest p50 {n50:.2} ms p99 {n99:.2} ms; deep p50 {d50:.2} ms p99 {d99:.2} ms"
    );
    println!("store-{backend}: ours={per_sec:.0} msg/s inserts, {n99:.2} ms history p99");

    if backend == "pg" {
        let mut c = AnyConnection::connect(&url).await.unwrap();
        let schema = store.storage_name(member);
        sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP SCHEMA {schema} CASCADE; DROP SCHEMA {control} CASCADE"
        )))
        .execute(&mut c)
        .await
        .unwrap();
    }
}

fn percentiles(v: &mut [Duration]) -> (f64, f64) {
    v.sort();
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1e3;
    (at(0.5), at(0.99))
}

async fn raw_connection(
    backend: &str,
    dir: &std::path::Path,
    url: &str,
    name: &str,
) -> AnyConnection {
    if backend == "sqlite" {
        let path = dir.join("tenants").join(name);
        AnyConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap()
    } else {
        let mut c = AnyConnection::connect(url).await.unwrap();
        sqlx::raw_sql(AssertSqlSafe(format!("SET search_path TO {name}")))
            .execute(&mut c)
            .await
            .unwrap();
        c
    }
}
