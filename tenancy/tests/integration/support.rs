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
        let control = format!("c_{}", uuid::Uuid::new_v4().simple());
        let store = Store::open_postgres(&url, &control, master())
            .await
            .unwrap_or_else(|e| panic!("pg-tests asked for but PostgreSQL at {url} failed: {e}"));
        Env { store, dir: None, member_prefix: "m".to_owned(), control: Some(control) }
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
    }
}
