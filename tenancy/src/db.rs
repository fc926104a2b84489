//! Connections, transactions and versioned migrations for both backends.

use std::{
    ops::{Deref, DerefMut},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use sqlx::{Any, AnyConnection, AnyPool, Row, Transaction, any::AnyPoolOptions};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::Result;

pub(crate) use audit::Backend;

/// Where one schema lives: its own SQLite file, or a named schema in a shared PostgreSQL pool.
#[derive(Clone, Debug)]
pub(crate) enum Db {
    Sqlite(SqliteFile),
    Postgres { pool: AnyPool, schema: String },
}

/// One SQLite file: its pool, the lock its writers queue on, and its group commit.
///
/// SQLite admits one writer at a time; writers that found the file busy would sleep in SQLite's
/// busy handler (for up to 100 ms a time), so they wait their turn on `writer` instead, in order.
///
/// Durability is a group commit: connections run with `synchronous = NORMAL`, so a commit appends
/// to the write-ahead log without waiting for the disk, and [`Tx::commit`] returns only once an
/// fsync of the log that started after that commit has completed. One fsync serves every commit
/// made while the previous one ran, and while other writers are under way a commit waits
/// [`LINGER`] for them before it syncs, where `synchronous = FULL` would pay one fsync per
/// commit (the bound on inbound messages per second). What the caller sees is unchanged: a
/// commit that returned is on disk. SQLite itself still syncs the log before each checkpoint,
/// and the database after it.
#[derive(Clone, Debug)]
pub(crate) struct SqliteFile {
    pool: AnyPool,
    writer: Arc<Mutex<()>>,
    durability: Arc<GroupCommit>,
}

impl SqliteFile {
    /// Closes the pool's connections.
    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

/// How long a commit waits for the writers under way to commit too, so that one fsync serves
/// them all (tokio's timer rounds it up to its 1 ms tick). Only when there are such writers: an
/// idle file syncs at once.
const LINGER: Duration = Duration::from_micros(500);

#[derive(Debug)]
struct GroupCommit {
    /// The file's write-ahead log.
    wal: PathBuf,
    /// Write transactions begun or waiting for the writer lock.
    writers: AtomicUsize,
    /// Commits made so far (a sequence number per commit).
    committed: AtomicU64,
    /// Fsyncs run so far.
    syncs: AtomicU64,
    /// Commits known to be on disk; held while an fsync runs, so that waiters queue behind it.
    synced: Mutex<u64>,
}

impl GroupCommit {
    fn new(database: &Path) -> GroupCommit {
        let mut wal = database.as_os_str().to_owned();
        wal.push("-wal");
        GroupCommit {
            wal: wal.into(),
            writers: AtomicUsize::new(0),
            committed: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            synced: Mutex::new(0),
        }
    }

    /// Counts a writer until the returned ticket is dropped.
    fn enter(self: &Arc<Self>) -> WriterTicket {
        self.writers.fetch_add(1, Ordering::SeqCst);
        WriterTicket(self.clone())
    }

    /// Counts a commit just made (under the writer lock) and returns its sequence number.
    fn committed(&self) -> u64 {
        self.committed.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Returns once commit `sequence` is on disk.
    async fn durable(&self, sequence: u64) -> Result<()> {
        let mut synced = self.synced.lock().await;
        if *synced >= sequence {
            return Ok(());
        }
        if self.writers.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(LINGER).await;
        }
        let through = self.committed.load(Ordering::SeqCst);
        let wal = self.wal.clone();
        tokio::task::spawn_blocking(move || sync_file(&wal)).await.map_err(|_| {
            std::io::Error::other("the fsync of the write-ahead log was cancelled")
        })??;
        self.syncs.fetch_add(1, Ordering::Relaxed);
        *synced = through;
        Ok(())
    }
}

/// Flushes a file to disk. A log that is gone was checkpointed into the database, which SQLite
/// synced before removing it.
fn sync_file(path: &Path) -> std::io::Result<()> {
    match std::fs::File::open(path) {
        Ok(file) => file.sync_data(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// A write transaction's place among its file's writers (see [`GroupCommit::enter`]).
#[derive(Debug)]
struct WriterTicket(Arc<GroupCommit>);

impl Drop for WriterTicket {
    fn drop(&mut self) {
        self.0.writers.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A SQLite write transaction's hold on its file.
struct Writing {
    lock: OwnedMutexGuard<()>,
    ticket: WriterTicket,
}

/// A transaction: a connection inside it (`&mut *tx`), committed by [`Tx::commit`] and rolled
/// back when dropped. A SQLite write transaction holds its file's writer lock until then.
pub(crate) struct Tx {
    tx: Transaction<'static, Any>,
    writing: Option<Writing>,
}

impl Tx {
    fn new(tx: Transaction<'static, Any>) -> Tx {
        Tx { tx, writing: None }
    }

    /// Commits; returns once the transaction is durable.
    pub(crate) async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        if let Some(Writing { lock, ticket }) = self.writing {
            let group = ticket.0.clone();
            let sequence = group.committed();
            // The next writer may commit while this one waits for the disk.
            drop(lock);
            drop(ticket);
            group.durable(sequence).await?;
        }
        Ok(())
    }
}

impl Deref for Tx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

/// Creates `dir` (and missing parents) readable by this user only, or makes an existing one so
/// when this user owns it (a folder the operator made for us but owns stays as it is).
pub(crate) fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700).create(dir)?;
        match std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Ok(()),
            other => other,
        }
    }
    #[cfg(not(unix))]
    builder.create(dir)
}

/// Creates the file at `path` empty and readable by this user only, or makes an existing one so.
fn private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600).open(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
    }
    #[cfg(not(unix))]
    options.open(path).map(|_| ())
}

/// Connections per SQLite file (WAL lets readers run beside the one writer).
const SQLITE_CONNECTIONS: u32 = 4;

impl Db {
    /// Opens (creating if needed) an SQLite file in WAL mode with a busy timeout. The file is
    /// readable by this user only (0600); SQLite gives its WAL and shared-memory files the
    /// same mode.
    pub(crate) async fn open_sqlite(path: &Path) -> Result<SqliteFile> {
        private_file(path)?;
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let pool = AnyPoolOptions::new()
            .max_connections(SQLITE_CONNECTIONS)
            .min_connections(0)
            // A local file does not drop connections; the ping would cost a round trip to the
            // connection's worker thread per transaction.
            .test_before_acquire(false)
            .idle_timeout(Some(Duration::from_secs(60)))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::raw_sql(
                        "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                         PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                    )
                    .execute(conn)
                    .await
                    .map(|_| ())
                })
            })
            .connect(&url)
            .await?;
        Ok(SqliteFile {
            pool,
            writer: Arc::default(),
            durability: Arc::new(GroupCommit::new(path)),
        })
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
    pub(crate) async fn write(&self) -> Result<Tx> {
        match self {
            Db::Sqlite(file) => {
                let ticket = file.durability.enter();
                let lock = file.writer.clone().lock_owned().await;
                let tx = file.pool.begin_with("BEGIN IMMEDIATE").await?;
                Ok(Tx { tx, writing: Some(Writing { lock, ticket }) })
            }
            Db::Postgres { pool, schema } => Ok(Tx::new(Db::pg_write(pool, schema).await?)),
        }
    }

    /// A transaction that only reads: one consistent snapshot on both backends (SQLite's read
    /// transaction; PostgreSQL's REPEATABLE READ), so multi-statement reads such as the audit
    /// chain walk never mix two states.
    pub(crate) async fn read(&self) -> Result<Tx> {
        match self {
            Db::Sqlite(file) => Ok(Tx::new(file.pool.begin().await?)),
            Db::Postgres { pool, schema } => {
                let mut tx =
                    pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
                pin_schema(&mut tx, schema).await?;
                Ok(Tx::new(tx))
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

/// The tenant schema's versions after the first two: (version, SQLite, PostgreSQL).
const TENANT_UPGRADES: &[(i64, &str, &str)] = &[
    (3, include_str!("sql/tenant_3_sqlite.sql"), include_str!("sql/tenant_3_postgres.sql")),
    (4, include_str!("sql/tenant_4_sqlite.sql"), include_str!("sql/tenant_4_postgres.sql")),
    (5, include_str!("sql/tenant_5_sqlite.sql"), include_str!("sql/tenant_5_postgres.sql")),
    (6, include_str!("sql/tenant_6_sqlite.sql"), include_str!("sql/tenant_6_postgres.sql")),
    (7, include_str!("sql/tenant_7_sqlite.sql"), include_str!("sql/tenant_7_postgres.sql")),
    (8, include_str!("sql/tenant_8_sqlite.sql"), include_str!("sql/tenant_8_postgres.sql")),
    (9, include_str!("sql/tenant_9_sqlite.sql"), include_str!("sql/tenant_9_postgres.sql")),
];

/// The ordered migrations of a schema. Versions are never renumbered or edited once released.
fn migrations(set: MigrationSet, backend: Backend) -> Vec<(i64, &'static str)> {
    let first = match (set, backend) {
        (MigrationSet::Control, Backend::Sqlite) => include_str!("sql/control_sqlite.sql"),
        (MigrationSet::Control, _) => include_str!("sql/control_postgres.sql"),
        (MigrationSet::Tenant, Backend::Sqlite) => include_str!("sql/tenant_sqlite.sql"),
        (MigrationSet::Tenant, _) => include_str!("sql/tenant_postgres.sql"),
    };
    let mut all = vec![(1, first), (2, audit::schema_sql(backend))];
    if let MigrationSet::Control = set {
        all.push((
            3,
            match backend {
                Backend::Sqlite => include_str!("sql/control_v3_sqlite.sql"),
                _ => include_str!("sql/control_v3_postgres.sql"),
            },
        ));
    }
    if let MigrationSet::Tenant = set {
        for &(version, sqlite, postgres) in TENANT_UPGRADES {
            all.push((version, if backend == Backend::Sqlite { sqlite } else { postgres }));
        }
    }
    all
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_sqlite_writers_all_commit_durably() {
        let dir = tempfile::tempdir().unwrap();
        let file = Db::open_sqlite(&dir.path().join("t.db")).await.unwrap();
        let db = Db::Sqlite(file.clone());
        let mut tx = db.write().await.unwrap();
        sqlx::raw_sql("CREATE TABLE t (n BIGINT PRIMARY KEY)").execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
        let writers = (0..64_i64).map(|n| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut tx = db.write().await?;
                sqlx::query("INSERT INTO t (n) VALUES ($1)").bind(n).execute(&mut *tx).await?;
                tx.commit().await
            })
        });
        for writer in writers.collect::<Vec<_>>() {
            writer.await.unwrap().unwrap();
        }
        let mut tx = db.read().await.unwrap();
        let count: i64 =
            sqlx::query("SELECT COUNT(*) FROM t").fetch_one(&mut *tx).await.unwrap().get(0);
        assert_eq!(count, 64);
        let commits = file.durability.committed.load(Ordering::SeqCst);
        assert_eq!(commits, 65);
        assert_eq!(*file.durability.synced.lock().await, commits, "every commit synced");
        assert!(file.durability.syncs.load(Ordering::SeqCst) <= commits);
    }

    #[tokio::test]
    async fn one_fsync_serves_every_commit_made_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("t.db");
        std::fs::write(dir.path().join("t.db-wal"), b"log").unwrap();
        let group = GroupCommit::new(&database);
        let sequences: Vec<u64> = (0..3).map(|_| group.committed()).collect();
        for sequence in &sequences {
            group.durable(*sequence).await.unwrap();
        }
        assert_eq!(group.syncs.load(Ordering::SeqCst), 1);
        let later = group.committed();
        group.durable(later).await.unwrap();
        assert_eq!(group.syncs.load(Ordering::SeqCst), 2, "a later commit needs its own fsync");
    }

    #[tokio::test]
    async fn a_commit_waits_for_the_writers_under_way_and_syncs_once_for_them() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("t.db");
        std::fs::write(dir.path().join("t.db-wal"), b"log").unwrap();
        let group = Arc::new(GroupCommit::new(&database));
        let other = group.enter();
        let first = group.committed();
        let waiting = tokio::spawn({
            let group = group.clone();
            async move { group.durable(first).await }
        });
        // The first commit is now lingering (this test runs on one thread).
        tokio::task::yield_now().await;
        let second = group.committed();
        drop(other);
        waiting.await.unwrap().unwrap();
        group.durable(second).await.unwrap();
        assert_eq!(group.syncs.load(Ordering::SeqCst), 1);
        assert_eq!(group.writers.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_rolled_back_write_releases_the_writer_lock_and_syncs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = Db::open_sqlite(&dir.path().join("t.db")).await.unwrap();
        let db = Db::Sqlite(file.clone());
        drop(db.write().await.unwrap());
        let tx = tokio::time::timeout(Duration::from_secs(5), db.write()).await;
        tx.unwrap().unwrap().commit().await.unwrap();
        assert_eq!(file.durability.committed.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_missing_log_counts_as_synced() {
        let dir = tempfile::tempdir().unwrap();
        sync_file(&dir.path().join("gone.db-wal")).unwrap();
        std::fs::write(dir.path().join("here"), b"x").unwrap();
        sync_file(&dir.path().join("here")).unwrap();
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn database_files_and_folders_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        // A folder and a database file left readable by everyone by an older version.
        std::fs::create_dir_all(data.join("tenants")).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(data.join("control.db"), b"").unwrap();
        std::fs::set_permissions(data.join("control.db"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let store =
            crate::Store::open_sqlite(&data, crate::MasterKey::from_bytes([7; 32])).await.unwrap();
        let new = Db::open_sqlite(&data.join("tenants").join("t.db")).await.unwrap();
        // Kept open: SQLite removes the WAL file when the last connection closes.
        let db = Db::Sqlite(new);
        let mut tx = db.write().await.unwrap();
        sqlx::query("CREATE TABLE x (a INTEGER)").execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("tenants")), 0o700);
        assert_eq!(mode(&data.join("control.db")), 0o600);
        assert_eq!(mode(&data.join("tenants").join("t.db")), 0o600);
        assert_eq!(mode(&data.join("tenants").join("t.db-wal")), 0o600);
        drop((db, store));
    }
}
