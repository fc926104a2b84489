//! A fresh database per test.

use sqlx::{AnyConnection, AssertSqlSafe, Connection};

/// One test's database: an SQLite file of its own, or a PostgreSQL schema of its own.
pub(crate) struct Db {
    pub(crate) conn: AnyConnection,
    pub(crate) backend: audit::Backend,
    _dir: Option<tempfile::TempDir>,
    /// The PostgreSQL schema, dropped with the Db so the shared test database does not grow.
    schema: Option<(String, String)>,
}

impl Drop for Db {
    fn drop(&mut self) {
        let Some((url, schema)) = self.schema.take() else { return };
        // A thread and runtime of its own: Drop may run inside the test's runtime.
        let dropped = std::thread::spawn(move || -> Result<(), sqlx::Error> {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async {
                let mut c = AnyConnection::connect(&url).await?;
                // The test's own connection may still sit in a transaction holding locks.
                sqlx::query(
                    "SELECT pg_terminate_backend(l.pid) FROM pg_locks l \
                     JOIN pg_class r ON r.oid = l.relation \
                     JOIN pg_namespace n ON n.oid = r.relnamespace \
                     WHERE n.nspname = $1 AND l.pid <> pg_backend_pid()",
                )
                .bind(&schema)
                .execute(&mut c)
                .await?;
                sqlx::raw_sql(AssertSqlSafe(format!(
                    "SET lock_timeout = '20s'; DROP SCHEMA IF EXISTS {schema} CASCADE"
                )))
                .execute(&mut c)
                .await
                .map(|_| ())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop the test schema: {e}");
        }
    }
}

impl Db {
    pub(crate) async fn sqlite() -> Db {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("audit.db").display());
        let mut conn = AnyConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(audit::schema_sql(audit::Backend::Sqlite)).execute(&mut conn).await.unwrap();
        Db { conn, backend: audit::Backend::Sqlite, _dir: Some(dir), schema: None }
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
        Db { conn, backend: audit::Backend::Postgres, _dir: None, schema: Some((url, schema)) }
    }

    /// Turns the append-only triggers off for the rest of this connection, as an attacker with
    /// database access would.
    pub(crate) async fn disable_triggers(&mut self) {
        let sql = match self.backend {
            audit::Backend::Sqlite => {
                "DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete; \
                 DROP TRIGGER IF EXISTS audit_head_forward;"
            }
            _ => "SET session_replication_role = replica;",
        };
        sqlx::raw_sql(sql).execute(&mut self.conn).await.unwrap();
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
