//! Connections, transactions and versioned migrations for both backends.

use std::{path::Path, time::Duration};

use sqlx::{Any, AnyPool, Row, Transaction, any::AnyPoolOptions};

use crate::Result;

pub(crate) use audit::Backend;

/// Where one schema lives: its own SQLite file, or a named schema in a shared PostgreSQL pool.
#[derive(Clone, Debug)]
pub(crate) enum Db {
    Sqlite(AnyPool),
    Postgres { pool: AnyPool, schema: String },
}

/// Connections per SQLite file (WAL lets readers run beside the one writer).
const SQLITE_CONNECTIONS: u32 = 4;

impl Db {
    /// Opens (creating if needed) an SQLite file in WAL mode with a busy timeout.
    pub(crate) async fn open_sqlite(path: &Path) -> Result<AnyPool> {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let pool = AnyPoolOptions::new()
            .max_connections(SQLITE_CONNECTIONS)
            .min_connections(0)
            .idle_timeout(Some(Duration::from_secs(60)))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::raw_sql(
                        "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                         PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;",
                    )
                    .execute(conn)
                    .await
                    .map(|_| ())
                })
            })
            .connect(&url)
            .await?;
        Ok(pool)
    }

    pub(crate) fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres { .. } => Backend::Postgres,
        }
    }

    /// A transaction that will write. SQLite takes the write lock up front (`BEGIN IMMEDIATE`) so
    /// a read-then-write transaction never fails on upgrade; PostgreSQL pins `search_path` to this
    /// schema for the transaction only.
    pub(crate) async fn write(&self) -> Result<Transaction<'static, Any>> {
        match self {
            Db::Sqlite(pool) => Ok(pool.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres { pool, schema } => Db::pg_write(pool, schema).await,
        }
    }

    /// A transaction that only reads: one consistent snapshot on both backends (SQLite's read
    /// transaction; PostgreSQL's REPEATABLE READ), so multi-statement reads such as the audit
    /// chain walk never mix two states.
    pub(crate) async fn read(&self) -> Result<Transaction<'static, Any>> {
        match self {
            Db::Sqlite(pool) => Ok(pool.begin().await?),
            Db::Postgres { pool, schema } => {
                let mut tx =
                    pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
                pin_schema(&mut tx, schema).await?;
                Ok(tx)
            }
        }
    }

    /// A READ COMMITTED read-write transaction pinned to `schema` (write() on PostgreSQL).
    async fn pg_write(pool: &AnyPool, schema: &str) -> Result<Transaction<'static, Any>> {
        let mut tx = pool.begin().await?;
        pin_schema(&mut tx, schema).await?;
        Ok(tx)
    }

    /// Applies every migration newer than the schema's version, each in its own transaction.
    pub(crate) async fn migrate(&self, set: MigrationSet) -> Result<()> {
        if let Db::Postgres { pool, schema } = self {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS {schema}")))
                .execute(pool)
                .await
                .map(|_| ())
                .or_else(ignore_concurrent_create)?;
        }
        let mut tx = self.write().await?;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations \
             (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        for (version, sql) in migrations(set, self.backend()) {
            let mut tx = self.write().await?;
            if let Db::Postgres { .. } = self {
                // Serialise concurrent migrators of the same schema.
                sqlx::query("SELECT pg_advisory_xact_lock(hashtext(current_schema()))")
                    .execute(&mut *tx)
                    .await?;
            }
            let done = sqlx::query("SELECT COUNT(*) FROM schema_migrations WHERE version = $1")
                .bind(version)
                .fetch_one(&mut *tx)
                .await?
                .try_get::<i64, _>(0)?;
            if done == 0 {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)")
                    .bind(version)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// The versions applied so far, ascending.
    pub(crate) async fn applied_migrations(&self) -> Result<Vec<i64>> {
        let mut tx = self.read().await?;
        let rows = sqlx::query("SELECT version FROM schema_migrations ORDER BY version")
            .fetch_all(&mut *tx)
            .await?;
        rows.iter().map(|r| Ok(r.try_get::<i64, _>(0)?)).collect()
    }
}

/// Pins `search_path` to one schema for the rest of the transaction only.
async fn pin_schema(tx: &mut sqlx::AnyConnection, schema: &str) -> Result<()> {
    sqlx::query("SELECT set_config('search_path', $1, true)")
        .bind(schema)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Two processes creating the same schema at once: the loser's error is harmless.
fn ignore_concurrent_create(e: sqlx::Error) -> Result<(), sqlx::Error> {
    match &e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => Ok(()),
        _ => Err(e),
    }
}

/// Which schema a migration list is for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum MigrationSet {
    Control,
    Tenant,
}

/// The ordered migrations of a schema. Versions are never renumbered or edited once released.
fn migrations(set: MigrationSet, backend: Backend) -> Vec<(i64, &'static str)> {
    let first = match (set, backend) {
        (MigrationSet::Control, Backend::Sqlite) => include_str!("sql/control_sqlite.sql"),
        (MigrationSet::Control, _) => include_str!("sql/control_postgres.sql"),
        (MigrationSet::Tenant, Backend::Sqlite) => include_str!("sql/tenant_sqlite.sql"),
        (MigrationSet::Tenant, _) => include_str!("sql/tenant_postgres.sql"),
    };
    vec![(1, first), (2, audit::schema_sql(backend))]
}
