//! Appending, reading and verifying the log through a caller's connection or transaction.

use std::{fmt, io::Write};

use sqlx::{AnyConnection, AssertSqlSafe, Row, any::AnyRow};
use time::OffsetDateTime;

use crate::{
    Error, Kind, Result, TamperReason,
    chain::{self, ChainKey, Fields, GENESIS, Hash, Version},
};

/// The database kinds this crate runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// SQLite (one file per tenant).
    Sqlite,
    /// PostgreSQL (one schema per tenant, selected by `search_path`).
    Postgres,
}

impl Backend {
    /// The backend behind an [`AnyConnection`].
    pub fn of(conn: &AnyConnection) -> Result<Self> {
        match conn.backend_name() {
            "SQLite" => Ok(Backend::Sqlite),
            "PostgreSQL" => Ok(Backend::Postgres),
            other => Err(Error::UnsupportedBackend(other.to_owned())),
        }
    }
}

/// The SQL that creates the audit tables and their triggers in the current schema. Run it once,
/// as one step of the embedding crate's versioned migrations.
pub fn schema_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => include_str!("sql/sqlite.sql"),
        Backend::Postgres => include_str!("sql/postgres.sql"),
    }
}

/// An event to append.
#[derive(Clone, Copy)]
pub struct Entry<'a> {
    /// What happened.
    pub kind: Kind,
    /// Who caused it (`system`, `user:42`, `line:7`, ...).
    pub actor: &'a str,
    /// What it is about (`line:7`, `message:91`, ...).
    pub subject: &'a str,
    /// The raw payload, stored byte for byte.
    pub payload: &'a [u8],
}

impl fmt::Debug for Entry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("kind", &self.kind)
            .field("actor", &self.actor)
            .field("subject", &self.subject)
            .field("payload", &format_args!("<{} bytes>", self.payload.len()))
            .finish()
    }
}

/// One stored record.
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    /// Sequence number: 1, 2, 3, ... without gaps.
    pub seq: i64,
    /// When it was appended, in Unix milliseconds (the `now` the caller passed).
    pub at_ms: i64,
    /// What happened.
    pub kind: Kind,
    /// Who caused it.
    pub actor: String,
    /// What it is about.
    pub subject: String,
    /// The raw payload.
    pub payload: Vec<u8>,
    /// The hash of the record before ([`GENESIS`] for the first).
    pub prev_hash: Hash,
    /// The hash of this record.
    pub hash: Hash,
}

/// Payloads are user data: Debug shows only their size.
impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("seq", &self.seq)
            .field("at_ms", &self.at_ms)
            .field("kind", &self.kind)
            .field("actor", &self.actor)
            .field("subject", &self.subject)
            .field("payload", &format_args!("<{} bytes>", self.payload.len()))
            .field("hash", &hex::encode(self.hash))
            .finish()
    }
}

/// The chain's last position: give it to [`verify_anchored`] later to detect truncation even by
/// someone who also rewrote the head row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The last sequence number (0 for an empty log).
    pub seq: i64,
    /// The last record's hash ([`GENESIS`] for an empty log).
    pub hash: Hash,
}

/// Unix milliseconds of a timestamp, saturating outside the `i64` range.
pub fn unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Appends one record, keyed with `key`, inside the caller's transaction (pass `&mut *tx`): it
/// commits or rolls back with the change it describes. Appenders are serialised by the head row's
/// lock.
pub async fn append(
    conn: &mut AnyConnection,
    key: &ChainKey,
    entry: Entry<'_>,
    now: OffsetDateTime,
) -> Result<Record> {
    // Moving the head first takes its row lock (PostgreSQL) or the write lock (SQLite) before the
    // previous hash is read, so two appenders can never fork the chain.
    let row = sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
        .fetch_one(&mut *conn)
        .await?;
    let seq: i64 = row.try_get(0)?;
    let prev_hash = hash_col(&row, 1, seq - 1)?;
    let at_ms = unix_ms(now);
    let kind = entry.kind.as_str();
    let hash = chain::keyed_hash(
        key,
        &Fields {
            seq,
            at_ms,
            kind,
            actor: entry.actor,
            subject: entry.subject,
            payload: entry.payload,
            prev_hash: &prev_hash,
        },
    );
    sqlx::query(
        "INSERT INTO audit_log (seq, at, kind, actor, subject, payload, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(seq)
    .bind(at_ms)
    .bind(kind)
    .bind(entry.actor)
    .bind(entry.subject)
    .bind(entry.payload.to_vec())
    .bind(prev_hash.to_vec())
    .bind(hash.to_vec())
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(hash.to_vec())
        .execute(&mut *conn)
        .await?;
    Ok(Record {
        seq,
        at_ms,
        kind: entry.kind,
        actor: entry.actor.to_owned(),
        subject: entry.subject.to_owned(),
        payload: entry.payload.to_vec(),
        prev_hash,
        hash,
    })
}

fn hash_col(row: &AnyRow, idx: usize, seq: i64) -> Result<Hash> {
    let bytes: Vec<u8> = row.try_get(idx)?;
    Hash::try_from(bytes.as_slice()).map_err(|_| Error::Corrupt { seq, what: "hash length" })
}

fn record_from_row(row: &AnyRow) -> Result<Record> {
    let seq: i64 = row.try_get("seq")?;
    let kind: String = row.try_get("kind")?;
    Ok(Record {
        seq,
        at_ms: row.try_get("at")?,
        kind: kind.parse().map_err(|_| Error::Corrupt { seq, what: "kind" })?,
        actor: row.try_get("actor")?,
        subject: row.try_get("subject")?,
        payload: row.try_get("payload")?,
        prev_hash: hash_col(row, 6, seq)?,
        hash: hash_col(row, 7, seq)?,
    })
}

const COLUMNS: &str = "seq, at, kind, actor, subject, payload, prev_hash, hash";

/// The chain head as stored.
pub async fn head(conn: &mut AnyConnection) -> Result<Head> {
    let row =
        sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(&mut *conn).await?;
    let seq: i64 = row.try_get(0)?;
    Ok(Head { seq, hash: hash_col(&row, 1, seq)? })
}

/// Records read per round trip while verifying.
const VERIFY_BATCH: i64 = 1000;

/// What [`walk`] found in a chain whose links and hashes are intact.
struct Walked {
    /// The last record.
    head: Head,
    /// The first keyed record, `None` when no record is keyed.
    keyed_from: Option<i64>,
}

/// Walks the whole chain: every record must be present (1..=head without gaps), link to its
/// predecessor and carry either its keyed hash under `key` or, only before the first keyed record,
/// its unkeyed (version 1) hash; the head must be the last record.
async fn walk(conn: &mut AnyConnection, key: &ChainKey) -> Result<Walked> {
    let mut expected_seq = 1;
    let mut prev = GENESIS;
    let mut keyed_from = None;
    loop {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2"
        )))
        .bind(expected_seq)
        .bind(VERIFY_BATCH)
        .fetch_all(&mut *conn)
        .await?;
        let n = rows.len();
        for row in &rows {
            let seq: i64 = row.try_get("seq")?;
            if seq != expected_seq {
                return Err(Error::Tampered { seq: expected_seq, reason: TamperReason::Missing });
            }
            let r = record_from_row(row).map_err(|e| match e {
                // An unreadable value (unknown kind, a hash of the wrong length, a column whose
                // type was changed) means the row was edited.
                Error::Corrupt { .. } | Error::Database(sqlx::Error::ColumnDecode { .. }) => {
                    Error::Tampered { seq, reason: TamperReason::ContentChanged }
                }
                other => other,
            })?;
            if r.prev_hash != prev {
                return Err(Error::Tampered { seq, reason: TamperReason::BrokenLink });
            }
            match (chain::check(key, &fields_of(&r), &r.hash), keyed_from) {
                (None, _) => {
                    return Err(Error::Tampered { seq, reason: TamperReason::ContentChanged });
                }
                (Some(Version::Unkeyed), Some(_)) => {
                    return Err(Error::Tampered { seq, reason: TamperReason::Unkeyed });
                }
                (Some(Version::Keyed), None) => keyed_from = Some(seq),
                (Some(_), _) => {}
            }
            prev = r.hash;
            expected_seq += 1;
        }
        if i64::try_from(n).unwrap_or(i64::MAX) < VERIFY_BATCH {
            break;
        }
    }
    let stored = head(conn).await?;
    let last = Head { seq: expected_seq - 1, hash: prev };
    if stored.seq > last.seq {
        return Err(Error::Tampered { seq: last.seq + 1, reason: TamperReason::Missing });
    }
    if stored != last {
        return Err(Error::Tampered { seq: last.seq, reason: TamperReason::HeadMismatch });
    }
    Ok(Walked { head: last, keyed_from })
}

fn fields_of(r: &Record) -> Fields<'_> {
    Fields {
        seq: r.seq,
        at_ms: r.at_ms,
        kind: r.kind.as_str(),
        actor: &r.actor,
        subject: &r.subject,
        payload: &r.payload,
        prev_hash: &r.prev_hash,
    }
}

/// Verifies the whole chain under `key`: every record must be present (1..=head without gaps) and
/// link to its predecessor, the head must be the last record, and the chain must be keyed: records
/// may carry the unkeyed version 1 hash only before the first keyed record (logs written before
/// chains were keyed, see [`seal`]) and a non-empty chain must end with a keyed record. Someone who
/// rewrites rows without the key cannot make the result verify. Returns the head.
///
/// Run it inside one snapshot (an SQLite transaction; PostgreSQL `REPEATABLE READ`): under
/// READ COMMITTED a concurrent append between its statements looks like a missing record.
pub async fn verify(conn: &mut AnyConnection, key: &ChainKey) -> Result<Head> {
    let walked = walk(conn, key).await?;
    if walked.head.seq > 0 && walked.keyed_from.is_none() {
        // Every record carries a hash anyone can recompute: nothing vouches for any of them.
        return Err(Error::Tampered { seq: 1, reason: TamperReason::Unkeyed });
    }
    Ok(walked.head)
}

/// [`verify`], and also check that the chain still contains a head saved earlier (kept outside the
/// database), so that removing records from the end and rewriting the head row is detected too.
pub async fn verify_anchored(
    conn: &mut AnyConnection,
    key: &ChainKey,
    anchor: Head,
) -> Result<Head> {
    let head = verify(conn, key).await?;
    if anchor.seq == 0 {
        return Ok(head);
    }
    let row = sqlx::query("SELECT hash FROM audit_log WHERE seq = $1")
        .bind(anchor.seq)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else {
        return Err(Error::Tampered { seq: anchor.seq, reason: TamperReason::Missing });
    };
    if hash_col(&row, 0, anchor.seq)? != anchor.hash {
        return Err(Error::Tampered { seq: anchor.seq, reason: TamperReason::ContentChanged });
    }
    Ok(head)
}

/// Migrates a log written before chains were keyed: when the chain is intact but ends with an
/// unkeyed (version 1) record, appends an [`Kind::AuditKeyed`] record keyed with `key`, whose hash
/// covers the whole unkeyed prefix; from then on [`verify`] accepts the log and refuses any
/// unkeyed record after it. Returns the appended record, or `None` when the chain is empty or
/// already keyed. Run it once per log, in a write transaction: it trusts the unkeyed prefix as it
/// is now (see the README for what that means).
pub async fn seal(
    conn: &mut AnyConnection,
    key: &ChainKey,
    now: OffsetDateTime,
) -> Result<Option<Record>> {
    let walked = walk(conn, key).await?;
    if walked.head.seq == 0 || walked.keyed_from.is_some() {
        return Ok(None);
    }
    let payload = serde_json::json!({
        "sealed_seq": walked.head.seq,
        "sealed_hash": hex::encode(walked.head.hash),
    })
    .to_string();
    let entry = Entry {
        kind: Kind::AuditKeyed,
        actor: "system",
        subject: "audit",
        payload: payload.as_bytes(),
    };
    append(conn, key, entry, now).await.map(Some)
}

/// Whether a record read back carries its keyed hash under `key` (it was written by a holder of
/// the key, unless the chain is broken).
pub fn is_keyed(key: &ChainKey, record: &Record) -> bool {
    chain::check(key, &fields_of(record), &record.hash) == Some(Version::Keyed)
}

/// A filtered, paginated read of the log, in sequence order.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Only records at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Only records strictly before this time.
    pub until: Option<OffsetDateTime>,
    /// Only records of this kind.
    pub kind: Option<Kind>,
    /// Only records about this subject.
    pub subject: Option<String>,
    /// Only records by this actor (`system`, `admin:1`, `user:2`).
    pub actor: Option<String>,
    /// Only records after this sequence number (the previous page's [`Page::next`]).
    pub after_seq: Option<i64>,
    /// Page size, 1 to [`MAX_PAGE`]; 0 means [`MAX_PAGE`].
    pub limit: u32,
}

/// The largest page [`query`] returns.
pub const MAX_PAGE: u32 = 1000;

/// One page of [`query`].
#[derive(Debug, Clone)]
pub struct Page {
    /// The records, in sequence order.
    pub records: Vec<Record>,
    /// Pass as [`Query::after_seq`] for the next page; `None` when this was the last page.
    pub next: Option<i64>,
}

/// Reads one page of records matching `q`.
pub async fn query(conn: &mut AnyConnection, q: &Query) -> Result<Page> {
    let limit = match q.limit {
        0 => MAX_PAGE,
        n if n > MAX_PAGE => return Err(Error::InvalidQuery("limit above MAX_PAGE")),
        n => n,
    };
    let mut sql = format!("SELECT {COLUMNS} FROM audit_log WHERE seq > $1");
    let mut n = 1;
    let mut next_param = |sql: &mut String, cond: &str| {
        n += 1;
        sql.push_str(&format!(" AND {cond} ${n}"));
    };
    if q.since.is_some() {
        next_param(&mut sql, "at >=");
    }
    if q.until.is_some() {
        next_param(&mut sql, "at <");
    }
    if q.kind.is_some() {
        next_param(&mut sql, "kind =");
    }
    if q.subject.is_some() {
        next_param(&mut sql, "subject =");
    }
    if q.actor.is_some() {
        next_param(&mut sql, "actor =");
    }
    n += 1;
    sql.push_str(&format!(" ORDER BY seq LIMIT ${n}"));
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(q.after_seq.unwrap_or(0));
    if let Some(t) = q.since {
        query = query.bind(unix_ms(t));
    }
    if let Some(t) = q.until {
        query = query.bind(unix_ms(t));
    }
    if let Some(k) = q.kind {
        query = query.bind(k.as_str());
    }
    if let Some(s) = &q.subject {
        query = query.bind(s.clone());
    }
    if let Some(a) = &q.actor {
        query = query.bind(a.clone());
    }
    // One extra row tells whether another page exists.
    let rows = query.bind(i64::from(limit) + 1).fetch_all(&mut *conn).await?;
    let mut records = rows.iter().map(record_from_row).collect::<Result<Vec<_>>>()?;
    let more = records.len() > limit as usize;
    records.truncate(limit as usize);
    let next = if more { records.last().map(|r| r.seq) } else { None };
    Ok(Page { records, next })
}

/// Writes every record matching `q` (all pages, from `q.after_seq`) as NDJSON: one JSON object per
/// line with `seq`, `at_ms`, `kind`, `actor`, `subject`, `payload` (the raw bytes, hex),
/// `prev_hash` and `hash` (hex). Returns the number of records written.
pub async fn export_ndjson(
    conn: &mut AnyConnection,
    q: &Query,
    out: &mut impl Write,
) -> Result<u64> {
    let mut q = q.clone();
    let mut written = 0;
    loop {
        let page = query(conn, &q).await?;
        for r in &page.records {
            let line = serde_json::json!({
                "seq": r.seq,
                "at_ms": r.at_ms,
                "kind": r.kind.as_str(),
                "actor": r.actor,
                "subject": r.subject,
                "payload": hex::encode(&r.payload),
                "prev_hash": hex::encode(r.prev_hash),
                "hash": hex::encode(r.hash),
            });
            serde_json::to_writer(&mut *out, &line).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
            written += 1;
        }
        match page.next {
            Some(seq) => q.after_seq = Some(seq),
            None => return Ok(written),
        }
    }
}
