//! A child process writing messages and their audit records is killed with SIGKILL at random
//! points; after every kill, everything committed is whole and the audit chain verifies.

use std::{collections::HashSet, process::Command, time::Duration};

use tenancy::{MasterKey, Store, audit};

use crate::support::{ADMIN, Env, SYSTEM, at, inbound, master, pg_url};

crate::on_every_backend!(sigkill_50_times_leaves_everything_whole);

const CHILD_ENV: &str = "WAB24_CRASH_CHILD";
/// The PostgreSQL application_name of the children, to wait for the server to drop them.
const CHILD_APP: &str = "wab24_crash_child";

/// The child: writes messages forever until killed. Runs only when the parent asks for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by sigkill_50_times_leaves_everything_whole as a child process"]
async fn crash_child_writer() {
    let Ok(spec) = std::env::var(CHILD_ENV) else { return };
    let mut parts = spec.splitn(4, '|');
    let (backend, place, member, round) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let store = open(backend, place, master()).await;
    let t = store.tenant(member).await.unwrap();
    let line = t.lines(SYSTEM).await.unwrap()[0].id;
    for i in 0u64.. {
        let jid = format!("{}@s.whatsapp.net", i % 5);
        let mut m = inbound(line, &jid, &format!("R{round}-{i}"), "payload");
        m.raw = format!("{{\"round\":{round},\"i\":{i}}}").into_bytes();
        t.record_inbound(SYSTEM, &m, at(1000)).await.unwrap();
    }
}

async fn open(backend: &str, place: &str, key: MasterKey) -> Store {
    match backend {
        "sqlite" => Store::open_sqlite(std::path::Path::new(place), key).await.unwrap(),
        _ => Store::open_postgres(&with_app_name(&pg_url()), place, key).await.unwrap(),
    }
}

async fn sigkill_50_times_leaves_everything_whole(env: Env) {
    let t = env.tenant("crash", 1).await;
    t.create_line(ADMIN, "L", None, at(2)).await.unwrap();
    let (backend, place) = match (&env.dir, &env.control) {
        (Some(dir), _) => ("sqlite", dir.path().display().to_string()),
        (None, Some(control)) => ("pg", control.clone()),
        _ => unreachable!(),
    };
    let exe = std::env::current_exe().unwrap();
    // Deterministic kill points: 20 ms to 400 ms after spawning, from a fixed seed.
    let mut seed: u64 = 0x5EED_0FC0_FFEE;
    let mut seen_counts = Vec::new();
    for round in 0..50 {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let delay = 20 + (seed >> 33) % 380;
        let mut child = Command::new(&exe)
            .args([
                "crash::crash_child_writer",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, format!("{backend}|{place}|{}|{round}", t.member_id()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(delay)).await;
        child.kill().unwrap(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        assert!(!status.success(), "round {round}: the child exited on its own: {status}");
        if backend == "pg" {
            wait_for_server_to_drop_children().await;
        }
        seen_counts.push(check_whole(&t).await);
    }
    let total = *seen_counts.last().unwrap();
    assert!(total > 50, "the children committed only {total} messages; the test proved little");
}

/// Every committed message has its audit record (and vice versa), the chain verifies, and every
/// conversation's counters agree with its messages. Returns the number of messages.
async fn check_whole(t: &tenancy::Tenant) -> usize {
    t.verify_audit(ADMIN).await.unwrap();
    let line = t.lines(ADMIN).await.unwrap()[0].id;
    let mut message_ids = HashSet::new();
    for c in t.conversations(ADMIN, line).await.unwrap() {
        let mut before = None;
        let mut count = 0;
        let mut newest = None;
        loop {
            let page = t.history(ADMIN, c.id, before, 200).await.unwrap();
            for m in &page.messages {
                newest = newest.max(Some(m.id));
                message_ids.insert(m.id);
                count += 1;
            }
            match page.next {
                Some(n) => before = Some(n),
                None => break,
            }
        }
        assert_eq!(c.unread, count, "conversation {} unread count disagrees", c.id);
        assert_eq!(c.last_message_id, newest, "conversation {} last message disagrees", c.id);
    }
    let mut audited = HashSet::new();
    let mut q = audit::Query {
        kind: Some(audit::Kind::MessageReceived),
        limit: 1000,
        ..Default::default()
    };
    loop {
        let page = t.audit_query(ADMIN, &q).await.unwrap();
        for r in &page.records {
            let id: i64 = r.subject.strip_prefix("message:").unwrap().parse().unwrap();
            audited.insert(id);
        }
        match page.next {
            Some(n) => q.after_seq = Some(n),
            None => break,
        }
    }
    assert_eq!(message_ids, audited, "messages and their audit records differ");
    message_ids.len()
}

/// A killed client's last COMMIT may still be in flight at the server; wait until the server has
/// finished with every child connection before checking.
async fn wait_for_server_to_drop_children() {
    use sqlx::{Connection, Row};
    let mut c = sqlx::AnyConnection::connect(&pg_url()).await.unwrap();
    for _ in 0..200 {
        let n: i64 =
            sqlx::query("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1")
                .bind(CHILD_APP)
                .fetch_one(&mut c)
                .await
                .unwrap()
                .get(0);
        if n == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the server kept a killed child's connection for 2 s");
}

fn with_app_name(url: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}application_name={CHILD_APP}")
}
