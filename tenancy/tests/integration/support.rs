//! A fresh store per test, and small builders.

use std::path::PathBuf;

use sqlx::{AnyConnection, AssertSqlSafe, Connection};
use tenancy::{Caller, Inbound, Install, MasterKey, MessageKind, Store, Tenant, User};
use time::OffsetDateTime;

pub(crate) fn pg_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

pub(crate) fn at(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap()
}

pub(crate) const ADMIN: Caller = Caller::Admin(1);
pub(crate) const ALICE: Caller = Caller::User(2);
pub(crate) const BOB: Caller = Caller::User(3);
pub(crate) const SYSTEM: Caller = Caller::System;

pub(crate) fn master() -> MasterKey {
    MasterKey::from_bytes([9; 32])
}

/// One test's store: its own directory, or its own control schema (tenant schemas are derived
/// from it, so they are fresh too).
pub(crate) struct Env {
    pub(crate) store: Store,
    pub(crate) dir: Option<tempfile::TempDir>,
    pub(crate) member_prefix: String,
    /// The PostgreSQL control schema (None on SQLite).
    pub(crate) control: Option<String>,
}

impl Env {
    pub(crate) async fn sqlite() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(dir.path(), master()).await.unwrap();
        Env { store, dir: Some(dir), member_prefix: "m".to_owned(), control: None }
    }

    #[allow(dead_code)]
    pub(crate) async fn postgres() -> Env {
        let url = pg_url();
        SWEEP.call_once(|| {
            let url = url.clone();
            let _ = std::thread::spawn(move || sweep_leftovers(&url)).join();
        });
        let id = uuid::Uuid::new_v4().simple().to_string();
        let control = format!("{PG_PREFIX}{}_{}", unix_secs(), &id[..16]);
        let store = Store::open_postgres(&url, &control, master())
            .await
            .unwrap_or_else(|e| panic!("pg-tests asked for but PostgreSQL at {url} failed: {e}"));
        Env { store, dir: None, member_prefix: "m".to_owned(), control: Some(control) }
    }

    /// Drops the store and opens a new one on the same directory or control schema (a restart).
    #[allow(dead_code)]
    pub(crate) async fn reopen(&mut self) {
        self.store = match (&self.dir, &self.control) {
            (Some(dir), _) => Store::open_sqlite(dir.path(), master()).await.unwrap(),
            (None, Some(control)) => {
                Store::open_postgres(&pg_url(), control, master()).await.unwrap()
            }
            (None, None) => unreachable!("an Env is on SQLite or on PostgreSQL"),
        };
    }

    pub(crate) fn member(&self, name: &str) -> String {
        format!("{}{name}", self.member_prefix)
    }

    /// Installs a tenant with the given quota and users 1 (admin), 2 (Alice) and 3 (Bob).
    pub(crate) async fn tenant(&self, name: &str, quota: i64) -> Tenant {
        let member_id = self.member(name);
        self.store.install(&install(&member_id, quota), at(1)).await.unwrap();
        let t = self.store.tenant(&member_id).await.unwrap();
        for (id, name, is_admin) in [(1, "Admin", true), (2, "Alice", false), (3, "Bob", false)] {
            let u = User { id, name: name.to_owned(), is_admin };
            t.upsert_user(SYSTEM, &u, at(1)).await.unwrap();
        }
        t
    }

    /// A raw connection to a tenant's storage, as a superuser would have.
    pub(crate) async fn raw(&self, member_id: &str) -> AnyConnection {
        sqlx::any::install_default_drivers();
        let name = self.store.storage_name(member_id);
        match &self.dir {
            Some(dir) => {
                let path: PathBuf = dir.path().join("tenants").join(name);
                AnyConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap()
            }
            None => {
                let mut c = AnyConnection::connect(&pg_url()).await.unwrap();
                sqlx::raw_sql(AssertSqlSafe(format!("SET search_path TO {name}")))
                    .execute(&mut c)
                    .await
                    .unwrap();
                c
            }
        }
    }

    /// A raw connection to the registry (control) storage.
    pub(crate) async fn raw_control(&self) -> AnyConnection {
        sqlx::any::install_default_drivers();
        match (&self.dir, &self.control) {
            (Some(dir), _) => {
                let path: PathBuf = dir.path().join("control.db");
                AnyConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap()
            }
            (None, control) => {
                let mut c = AnyConnection::connect(&pg_url()).await.unwrap();
                let schema = control.as_deref().unwrap_or_default();
                sqlx::raw_sql(AssertSqlSafe(format!("SET search_path TO {schema}")))
                    .execute(&mut c)
                    .await
                    .unwrap();
                c
            }
        }
    }

    /// Runs `sql` on a tenant's storage going around the audit triggers.
    pub(crate) async fn bypass_triggers(&self, member_id: &str, sql: &str) {
        let mut c = self.raw(member_id).await;
        let script = if self.dir.is_some() {
            format!("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; {sql};")
        } else {
            format!("SET session_replication_role = replica; {sql};")
        };
        sqlx::raw_sql(AssertSqlSafe(script)).execute(&mut c).await.unwrap();
    }
}

/// Test control schemas are `ct_<unix seconds>_<random>`; their tenant schemas are listed in their
/// `tenants` table. Each [`Env`] drops its own on drop; [`sweep_leftovers`] removes those of runs
/// that died before dropping (older than [`LEFTOVER_SECS`], so concurrent runs are left alone).
const PG_PREFIX: &str = "ct_";
const LEFTOVER_SECS: u64 = 3 * 3600;
static SWEEP: std::sync::Once = std::sync::Once::new();

#[allow(clippy::disallowed_methods)] // the schema name records when the test ran
fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(control) = self.control.take() {
            let url = pg_url();
            // A thread of its own: Drop may run inside (or outside) a test's runtime.
            let done = std::thread::spawn(move || drop_test_schemas(&url, &[control])).join();
            if let Ok(Err(e)) = done {
                eprintln!("could not drop test schemas: {e}");
            }
        }
    }
}

/// Drops each control schema and every tenant schema it registered.
fn drop_test_schemas(url: &str, controls: &[String]) -> Result<(), sqlx::Error> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let mut c = AnyConnection::connect(url).await?;
        sqlx::raw_sql("SET lock_timeout = '20s'").execute(&mut c).await?;
        for control in controls {
            let tenants: Vec<String> =
                sqlx::query_scalar(AssertSqlSafe(format!("SELECT storage FROM {control}.tenants")))
                    .fetch_all(&mut c)
                    .await
                    .unwrap_or_default();
            for schema in tenants.iter().chain([control]) {
                // Connections the test left idle inside a transaction (a dropped read transaction
                // whose rollback task never ran) hold locks in the schema: end them first.
                sqlx::query(
                    "SELECT pg_terminate_backend(l.pid) FROM pg_locks l \
                     JOIN pg_class r ON r.oid = l.relation \
                     JOIN pg_namespace n ON n.oid = r.relnamespace \
                     WHERE n.nspname = $1 AND l.pid <> pg_backend_pid()",
                )
                .bind(schema)
                .execute(&mut c)
                .await?;
                if schema.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE")))
                        .execute(&mut c)
                        .await?;
                }
            }
        }
        Ok(())
    })
}

/// Drops the test schemas of earlier runs that never cleaned up (killed, aborted).
fn sweep_leftovers(url: &str) {
    let found: Result<Vec<String>, sqlx::Error> = (|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(async {
            sqlx::any::install_default_drivers();
            let mut c = AnyConnection::connect(url).await?;
            sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'ct\\_%'")
                .fetch_all(&mut c)
                .await
        })
    })();
    let cutoff = unix_secs().saturating_sub(LEFTOVER_SECS);
    let old: Vec<String> = found
        .unwrap_or_default()
        .into_iter()
        .filter(|name| {
            let secs = name.strip_prefix(PG_PREFIX).and_then(|r| r.split('_').next());
            secs.and_then(|s| s.parse::<u64>().ok()).is_some_and(|s| s < cutoff)
        })
        .collect();
    if let Err(e) = drop_test_schemas(url, &old) {
        eprintln!("could not sweep leftover test schemas: {e}");
    }
}

/// Counts the schemas of one test run's control schema still present (for the hygiene test).
#[allow(dead_code)]
pub(crate) async fn pg_schemas_named(names: &[String]) -> i64 {
    let mut c = AnyConnection::connect(&pg_url()).await.unwrap();
    let mut n = 0;
    for name in names {
        let found: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_namespace WHERE nspname = $1")
            .bind(name)
            .fetch_one(&mut c)
            .await
            .unwrap();
        n += found;
    }
    n
}

pub(crate) fn install(member_id: &str, quota: i64) -> Install {
    Install {
        member_id: member_id.to_owned(),
        domain: format!("{member_id}.bitrix24.example"),
        plan: "basic".to_owned(),
        line_quota: quota,
        trial_ends_at: None,
        tokens: None,
    }
}

pub(crate) fn inbound(line_id: i64, jid: &str, wa_id: &str, text: &str) -> Inbound {
    Inbound {
        line_id,
        jid: jid.to_owned(),
        phone: None,
        push_name: None,
        wa_id: wa_id.to_owned(),
        kind: MessageKind::Text,
        text: Some(text.to_owned()),
        media: None,
        quoted_wa_id: None,
        raw: format!("{{\"id\":\"{wa_id}\"}}").into_bytes(),
        note: None,
    }
}
