//! A fresh database per test.

use sqlx::{AnyConnection, AssertSqlSafe, Connection};

/// One test's database: an SQLite file of its own, or a PostgreSQL schema of its own.
pub(crate) struct Db {
    pub(crate) conn: AnyConnection,
    pub(crate) backend: audit::Backend,
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    pub(crate) async fn sqlite() -> Db {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("audit.db").display());
        let mut conn = AnyConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(audit::schema_sql(audit::Backend::Sqlite)).execute(&mut conn).await.unwrap();
        Db { conn, backend: audit::Backend::Sqlite, _dir: Some(dir) }
    }

    #[allow(dead_code)]
    pub(crate) async fn postgres() -> Db {
        sqlx::any::install_default_drivers();
        let url = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let mut conn = AnyConnection::connect(&url).await.unwrap_or_else(|e| {
            panic!("pg-tests asked for but PostgreSQL at {url} is unreachable: {e}")
        });
        let schema = format!("audit_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE SCHEMA {schema}; SET search_path TO {schema};"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        sqlx::raw_sql(audit::schema_sql(audit::Backend::Postgres))
            .execute(&mut conn)
            .await
            .unwrap();
        Db { conn, backend: audit::Backend::Postgres, _dir: None }
    }

    /// Runs `sql` as a superuser going around the append-only triggers.
    pub(crate) async fn bypass_triggers(&mut self, sql: &str) {
        match self.backend {
            audit::Backend::Sqlite => {
                let script = format!(
                    "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; \
                     DROP TRIGGER audit_head_forward; {sql};"
                );
                sqlx::raw_sql(AssertSqlSafe(script)).execute(&mut self.conn).await.unwrap();
            }
            _ => {
                let script = format!(
                    "SET session_replication_role = replica; {sql}; SET session_replication_role = DEFAULT;"
                );
                sqlx::raw_sql(AssertSqlSafe(script)).execute(&mut self.conn).await.unwrap();
            }
        }
    }
}
