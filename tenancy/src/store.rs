//! The tenants registry and the handles it gives out.

mod audit_keys;
mod lifecycle;

pub use audit_keys::SealedLog;
use lifecycle::LifecycleRecord;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use sha2::{Digest, Sha256};
use sqlx::{AnyPool, Row, any::AnyPoolOptions};
use time::OffsetDateTime;

use crate::{
    Caller, Error, Install, MasterKey, PortalTokens, Result, Tenant, TenantInfo, TenantStatus,
    UserId,
    crypto::{OsRandom, Random, TenantKey, aad, control_audit_key},
    db::{Db, MigrationSet, SqliteFile, Tx},
    model::{check_len, validate_member_id},
};

/// What to do with a tenant's data on uninstall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cleanup {
    /// Keep everything so that a reinstall finds it (the default when the portal does not ask).
    Keep,
    /// The portal's `CLEAN` flag: a soft delete. The data stays in place, unreachable, until
    /// `purge_after`; [`Store::purge_due`] deletes it then, and a reinstall before that restores
    /// everything.
    Clean {
        /// When the data may be purged.
        purge_after: OffsetDateTime,
    },
}

enum Layout {
    /// `dir/control.db` and `dir/tenants/<member_id>.db`.
    Sqlite { dir: PathBuf, pools: Mutex<HashMap<String, SqliteFile>> },
    /// A control schema and one `t_<hash>` schema per tenant in one pool.
    Postgres { pool: AnyPool, control_schema: String },
}

/// The registry of tenants, and the factory of [`Tenant`] handles. Cheap to share (`Arc`).
pub struct Store {
    control: Db,
    layout: Layout,
    master: MasterKey,
    random: Arc<dyn Random>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.control.backend()).finish_non_exhaustive()
    }
}

const PG_CONNECTIONS: u32 = 8;

impl Store {
    /// The embedded default: SQLite files under `dir` (created if needed). `dir` and its
    /// `tenants` folder are made private to this user (0700), the database files 0600.
    pub async fn open_sqlite(dir: &Path, master: MasterKey) -> Result<Store> {
        crate::db::private_dir(dir)?;
        crate::db::private_dir(&dir.join("tenants"))?;
        let control = Db::Sqlite(Db::open_sqlite(&dir.join("control.db")).await?);
        control.migrate(MigrationSet::Control).await?;
        let layout = Layout::Sqlite { dir: dir.to_owned(), pools: Mutex::new(HashMap::new()) };
        Ok(Store { control, layout, master, random: Arc::new(OsRandom) })
    }

    /// PostgreSQL at `url`: the registry in `control_schema`, each tenant in its own schema.
    /// `control_schema` must be a plain lower-case identifier.
    pub async fn open_postgres(
        url: &str,
        control_schema: &str,
        master: MasterKey,
    ) -> Result<Store> {
        let ident_ok = !control_schema.is_empty()
            && control_schema.len() <= 40
            && control_schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !control_schema.as_bytes()[0].is_ascii_digit();
        if !ident_ok {
            return Err(Error::InvalidInput("control schema must be a lower-case identifier"));
        }
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new().max_connections(PG_CONNECTIONS).connect(url).await?;
        let control = Db::Postgres { pool: pool.clone(), schema: control_schema.to_owned() };
        control.migrate(MigrationSet::Control).await?;
        let layout = Layout::Postgres { pool, control_schema: control_schema.to_owned() };
        Ok(Store { control, layout, master, random: Arc::new(OsRandom) })
    }

    /// Replaces the nonce source (tests pass a deterministic one).
    pub fn with_random(mut self, random: Arc<dyn Random>) -> Store {
        self.random = random;
        self
    }

    /// Which database this store runs on.
    pub fn backend(&self) -> audit::Backend {
        self.control.backend()
    }

    /// The storage name of a tenant: its file name under `tenants/` (SQLite) or its schema
    /// (PostgreSQL). For operators and tests; the API never needs it.
    pub fn storage_name(&self, member_id: &str) -> String {
        match &self.layout {
            Layout::Sqlite { .. } => format!("{member_id}.db"),
            Layout::Postgres { control_schema, .. } => {
                let h = Sha256::digest(format!("{control_schema}\0{member_id}").as_bytes());
                format!("t_{}", &hex::encode(h)[..24])
            }
        }
    }

    /// The key of a tenant's audit chain (derived from the master key, never stored).
    fn tenant_audit_key(&self, member_id: &str) -> Result<audit::ChainKey> {
        TenantKey::derive(&self.master, member_id)?.audit_chain_key()
    }

    async fn tenant_db(&self, member_id: &str) -> Result<Db> {
        let name = self.storage_name(member_id);
        match &self.layout {
            Layout::Sqlite { dir, pools } => {
                if let Some(p) = lock(pools)?.get(member_id) {
                    return Ok(Db::Sqlite(p.clone()));
                }
                let pool = Db::open_sqlite(&dir.join("tenants").join(&name)).await?;
                let pool = lock(pools)?.entry(member_id.to_owned()).or_insert(pool).clone();
                Ok(Db::Sqlite(pool))
            }
            Layout::Postgres { pool, .. } => Ok(Db::Postgres { pool: pool.clone(), schema: name }),
        }
    }

    /// Registers (or re-activates) a tenant, creates or migrates its storage, and records
    /// `app.installed` in the registry's audit log. Safe to repeat.
    pub async fn install(&self, install: &Install, now: OffsetDateTime) -> Result<TenantInfo> {
        validate_member_id(&install.member_id)?;
        check_len(&install.domain, 255, "domain longer than 255 bytes")?;
        check_len(&install.plan, 64, "plan longer than 64 bytes")?;
        if install.line_quota < 0 {
            return Err(Error::InvalidInput("negative line quota"));
        }
        let member_id = install.member_id.as_str();
        let db = self.tenant_db(member_id).await?;
        db.migrate(MigrationSet::Tenant).await?;
        {
            let mut tx = db.write().await?;
            sqlx::query("UPDATE settings SET line_quota = $1 WHERE id = 1")
                .bind(install.line_quota)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        let tokens = match &install.tokens {
            Some(t) => Some(self.seal_tokens(member_id, t)?),
            None => None,
        };
        let at = audit::unix_ms(now);
        let mut tx = self.control.write().await?;
        let restored = sqlx::query("SELECT purge_after FROM tenants WHERE member_id = $1")
            .bind(member_id)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get::<Option<i64>, _>(0))
            .transpose()?
            .flatten()
            .is_some();
        sqlx::query(
            "INSERT INTO tenants (member_id, domain, status, plan, line_quota, trial_ends_at, tokens, \
             storage, installed_at, updated_at, generation, purge_after) \
             VALUES ($1, $2, 'active', $3, $4, $5, $6, $7, $8, $8, 1, NULL) \
             ON CONFLICT (member_id) DO UPDATE SET domain = excluded.domain, status = 'active', \
             plan = excluded.plan, line_quota = excluded.line_quota, \
             trial_ends_at = excluded.trial_ends_at, tokens = excluded.tokens, \
             updated_at = excluded.updated_at, generation = tenants.generation + 1, \
             purge_after = NULL",
        )
        .bind(member_id)
        .bind(install.domain.as_str())
        .bind(install.plan.as_str())
        .bind(install.line_quota)
        .bind(install.trial_ends_at)
        .bind(tokens)
        .bind(self.storage_name(member_id))
        .bind(at)
        .execute(&mut *tx)
        .await?;
        let mut payload = serde_json::json!({ "domain": install.domain, "plan": install.plan,
            "line_quota": install.line_quota });
        if restored {
            payload["restored"] = true.into();
        }
        let record = LifecycleRecord::about_tenant(
            audit::Kind::AppInstalled,
            member_id,
            payload.to_string().into_bytes(),
        );
        self.commit_with_registry_record(tx, &record, now).await?;
        // The portal's administrator reads the tenant's own log, not the registry's.
        record.append_to(&db, &self.tenant_audit_key(member_id)?, now).await?;
        self.info(member_id).await
    }

    /// Marks a tenant uninstalled, forgets its portal tokens and bumps its generation (so that
    /// its session tokens stop working). Nothing is deleted here: with [`Cleanup::Clean`] the
    /// data is scheduled for [`Store::purge_due`], and a later [`Store::install`] (before the
    /// purge) finds everything. Recorded as `app.uninstalled` in the registry's log and the
    /// tenant's own.
    pub async fn uninstall(
        &self,
        member_id: &str,
        cleanup: Cleanup,
        now: OffsetDateTime,
    ) -> Result<()> {
        validate_member_id(member_id)?;
        let info = self.info(member_id).await?;
        let purge_after = match cleanup {
            Cleanup::Keep => None,
            Cleanup::Clean { purge_after } => Some(audit::unix_ms(purge_after)),
        };
        let mut payload = serde_json::json!({ "clean": purge_after.is_some() });
        if let Some(at) = purge_after {
            payload["purge_after"] = at.into();
        }
        let record = LifecycleRecord::about_tenant(
            audit::Kind::AppUninstalled,
            member_id,
            payload.to_string().into_bytes(),
        );
        if info.status != TenantStatus::Uninstalled {
            self.append_to_tenant_log(member_id, &record, now).await?;
        }
        let mut tx = self.control.write().await?;
        sqlx::query(
            "UPDATE tenants SET status = 'uninstalled', tokens = NULL, updated_at = $2, \
             generation = generation + 1, purge_after = $3 WHERE member_id = $1",
        )
        .bind(member_id)
        .bind(audit::unix_ms(now))
        .bind(purge_after)
        .execute(&mut *tx)
        .await?;
        self.commit_with_registry_record(tx, &record, now).await
    }

    /// Deletes the data of every tenant whose `CLEAN` uninstall's grace period has ended (its
    /// file and media folder, or its schema), keeping the registry row (so that a later
    /// reinstall keeps its plan and trial), with `app.purged` in the registry's log. Returns the
    /// `member_id`s purged.
    pub async fn purge_due(&self, now: OffsetDateTime) -> Result<Vec<String>> {
        let due: Vec<String> = {
            let mut tx = self.control.read().await?;
            let rows = sqlx::query(
                "SELECT member_id FROM tenants WHERE status = 'uninstalled' \
                 AND purge_after IS NOT NULL AND purge_after <= $1 ORDER BY member_id",
            )
            .bind(audit::unix_ms(now))
            .fetch_all(&mut *tx)
            .await?;
            rows.iter().map(|r| r.try_get(0)).collect::<Result<_, sqlx::Error>>()?
        };
        let mut purged = Vec::with_capacity(due.len());
        for member_id in due {
            if self.purge(&member_id, now).await? {
                purged.push(member_id);
            }
        }
        Ok(purged)
    }

    /// Purges one tenant if it is still uninstalled and due (a reinstall may have come first).
    async fn purge(&self, member_id: &str, now: OffsetDateTime) -> Result<bool> {
        validate_member_id(member_id)?;
        // The row is claimed first (its lock is held across the deletion, on PostgreSQL as on
        // SQLite), so a reinstall's registry update waits and then finds nothing pending; a
        // failed deletion rolls the claim back and the next run tries again.
        let mut tx = self.control.write().await?;
        let claimed = sqlx::query(
            "UPDATE tenants SET purge_after = NULL, updated_at = $3 WHERE member_id = $1 \
             AND status = 'uninstalled' AND purge_after IS NOT NULL AND purge_after <= $2",
        )
        .bind(member_id)
        .bind(audit::unix_ms(now))
        .bind(audit::unix_ms(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            return Ok(false);
        }
        self.delete_storage(member_id).await?;
        let record =
            LifecycleRecord::about_tenant(audit::Kind::AppPurged, member_id, b"{}".to_vec());
        self.commit_with_registry_record(tx, &record, now).await?;
        Ok(true)
    }

    /// Deletes a tenant's file, write-ahead log and media folder (SQLite) or its schema.
    async fn delete_storage(&self, member_id: &str) -> Result<()> {
        match &self.layout {
            Layout::Sqlite { dir, pools } => {
                let pool = lock(pools)?.remove(member_id);
                if let Some(pool) = pool {
                    pool.close().await;
                }
                let base = dir.join("tenants").join(self.storage_name(member_id));
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = base.clone().into_os_string();
                    p.push(suffix);
                    match std::fs::remove_file(&p) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            return Err(e.into());
                        }
                        _ => {}
                    }
                }
                let media = dir.join("tenants").join(member_id);
                if media.is_dir() {
                    std::fs::remove_dir_all(media)?;
                }
            }
            Layout::Postgres { pool, .. } => {
                let schema = self.storage_name(member_id);
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE"
                )))
                .execute(pool)
                .await?;
            }
        }
        Ok(())
    }

    /// Appends a record about a tenant to the registry's audit log (the operator's), for events
    /// decided outside the tenant's data, which stays untouched (a refused uninstall).
    pub async fn audit_registry(
        &self,
        member_id: &str,
        kind: audit::Kind,
        payload: &[u8],
        now: OffsetDateTime,
    ) -> Result<()> {
        validate_member_id(member_id)?;
        let record = LifecycleRecord::about_tenant(kind, member_id, payload.to_vec());
        record.append_to(&self.control, &control_audit_key(&self.master)?, now).await
    }

    /// Ends every session of a user of a tenant: tokens issued up to `now` (Unix seconds, that second included) are
    /// refused from now on. Recorded as `auth.sessions_revoked` in the tenant's log, by `actor`.
    /// Returns the new "not before" (Unix seconds).
    pub async fn revoke_sessions(
        &self,
        member_id: &str,
        user_id: UserId,
        actor: Caller,
        now: OffsetDateTime,
    ) -> Result<i64> {
        let info = self.info(member_id).await?;
        if info.status != TenantStatus::Active {
            return Err(Error::TenantInactive(info.status));
        }
        let not_before = now.unix_timestamp();
        let mut tx = self.control.write().await?;
        sqlx::query(
            "INSERT INTO session_revocations (member_id, user_id, not_before) VALUES ($1, $2, $3) \
             ON CONFLICT (member_id, user_id) DO UPDATE SET not_before = excluded.not_before",
        )
        .bind(member_id)
        .bind(user_id)
        .bind(not_before)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let payload = serde_json::json!({ "user_id": user_id, "not_before": not_before });
        let record = LifecycleRecord::about_user(
            audit::Kind::SessionsRevoked,
            user_id,
            actor,
            payload.to_string().into_bytes(),
        );
        self.append_to_tenant_log(member_id, &record, now).await?;
        Ok(not_before)
    }

    /// When a user's sessions were last ended (Unix seconds): tokens issued up to it (included) are void.
    pub async fn sessions_not_before(
        &self,
        member_id: &str,
        user_id: UserId,
    ) -> Result<Option<i64>> {
        validate_member_id(member_id)?;
        let mut tx = self.control.read().await?;
        let row = sqlx::query(
            "SELECT not_before FROM session_revocations WHERE member_id = $1 AND user_id = $2",
        )
        .bind(member_id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Changes a tenant's plan (the billing hook): name, line quota (the registry and the tenant's
    /// own copy that line creation checks) and trial end, with `app.plan_changed` in the
    /// registry's audit log. Lines above a lowered quota are kept; only new ones are refused.
    pub async fn set_plan(
        &self,
        member_id: &str,
        plan: &str,
        line_quota: i64,
        trial_ends_at: Option<i64>,
        now: OffsetDateTime,
    ) -> Result<TenantInfo> {
        validate_member_id(member_id)?;
        check_len(plan, 64, "plan longer than 64 bytes")?;
        if plan.trim().is_empty() {
            return Err(Error::InvalidInput("plan is empty"));
        }
        if line_quota < 0 {
            return Err(Error::InvalidInput("negative line quota"));
        }
        let info = self.info(member_id).await?;
        let payload =
            serde_json::json!({ "from": { "plan": info.plan, "line_quota": info.line_quota,
            "trial_ends_at": info.trial_ends_at }, "to": { "plan": plan, "line_quota": line_quota,
            "trial_ends_at": trial_ends_at } })
            .to_string();
        let record = LifecycleRecord::about_tenant(
            audit::Kind::PlanChanged,
            member_id,
            payload.into_bytes(),
        );
        if info.status == TenantStatus::Active {
            let db = self.tenant_db(member_id).await?;
            let mut tx = db.write().await?;
            sqlx::query("UPDATE settings SET line_quota = $1 WHERE id = 1")
                .bind(line_quota)
                .execute(&mut *tx)
                .await?;
            // The portal's administrator reads the tenant's own log, not the registry's.
            audit::append(&mut tx, &self.tenant_audit_key(member_id)?, record.entry(), now).await?;
            tx.commit().await?;
        }
        let mut tx = self.control.write().await?;
        sqlx::query(
            "UPDATE tenants SET plan = $2, line_quota = $3, trial_ends_at = $4, updated_at = $5 \
             WHERE member_id = $1",
        )
        .bind(member_id)
        .bind(plan)
        .bind(line_quota)
        .bind(trial_ends_at)
        .bind(audit::unix_ms(now))
        .execute(&mut *tx)
        .await?;
        self.commit_with_registry_record(tx, &record, now).await?;
        self.info(member_id).await
    }

    /// Blocks or unblocks a tenant.
    pub async fn set_status(
        &self,
        member_id: &str,
        status: TenantStatus,
        now: OffsetDateTime,
    ) -> Result<()> {
        validate_member_id(member_id)?;
        let mut tx = self.control.write().await?;
        let n = sqlx::query("UPDATE tenants SET status = $2, updated_at = $3 WHERE member_id = $1")
            .bind(member_id)
            .bind(status.as_str())
            .bind(audit::unix_ms(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::UnknownTenant);
        }
        tx.commit().await?;
        Ok(())
    }

    /// The registry entry of a tenant.
    pub async fn info(&self, member_id: &str) -> Result<TenantInfo> {
        validate_member_id(member_id)?;
        let mut tx = self.control.read().await?;
        let row = sqlx::query(
            "SELECT member_id, domain, status, plan, line_quota, trial_ends_at, generation, \
             purge_after FROM tenants WHERE member_id = $1",
        )
        .bind(member_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::UnknownTenant)?;
        let status: String = row.try_get("status")?;
        Ok(TenantInfo {
            member_id: row.try_get("member_id")?,
            domain: row.try_get("domain")?,
            status: status.parse()?,
            plan: row.try_get("plan")?,
            line_quota: row.try_get("line_quota")?,
            trial_ends_at: row.try_get("trial_ends_at")?,
            generation: row.try_get("generation")?,
            purge_after: row.try_get("purge_after")?,
        })
    }

    /// The `member_id`s of every active tenant, sorted (the server restarts their lines).
    pub async fn active_tenants(&self) -> Result<Vec<String>> {
        let mut tx = self.control.read().await?;
        let rows =
            sqlx::query("SELECT member_id FROM tenants WHERE status = 'active' ORDER BY member_id")
                .fetch_all(&mut *tx)
                .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// The portal's OAuth tokens, decrypted.
    pub async fn portal_tokens(&self, member_id: &str) -> Result<Option<PortalTokens>> {
        validate_member_id(member_id)?;
        let mut tx = self.control.read().await?;
        let row = sqlx::query("SELECT tokens FROM tenants WHERE member_id = $1")
            .bind(member_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::UnknownTenant)?;
        let sealed: Option<Vec<u8>> = row.try_get(0)?;
        let Some(sealed) = sealed else { return Ok(None) };
        let key = TenantKey::derive(&self.master, member_id)?;
        let plain = key.open(&token_aad(member_id), &sealed)?;
        let v: serde_json::Value =
            serde_json::from_slice(&plain).map_err(|_| Error::Corrupt("tokens"))?;
        let s = |k: &str| v[k].as_str().map(str::to_owned).ok_or(Error::Corrupt("tokens"));
        // Fields added later: absent in older records.
        let opt = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        Ok(Some(PortalTokens {
            access_token: s("access_token")?,
            refresh_token: s("refresh_token")?,
            expires_at: v["expires_at"].as_i64().ok_or(Error::Corrupt("tokens"))?,
            client_endpoint: opt("client_endpoint"),
            server_endpoint: opt("server_endpoint"),
            application_token: opt("application_token"),
        }))
    }

    /// Replaces the portal's OAuth tokens (after a refresh).
    pub async fn set_portal_tokens(
        &self,
        member_id: &str,
        tokens: &PortalTokens,
        now: OffsetDateTime,
    ) -> Result<()> {
        validate_member_id(member_id)?;
        let sealed = self.seal_tokens(member_id, tokens)?;
        let mut tx = self.control.write().await?;
        let n = sqlx::query("UPDATE tenants SET tokens = $2, updated_at = $3 WHERE member_id = $1")
            .bind(member_id)
            .bind(sealed)
            .bind(audit::unix_ms(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::UnknownTenant);
        }
        tx.commit().await?;
        Ok(())
    }

    fn seal_tokens(&self, member_id: &str, t: &PortalTokens) -> Result<Vec<u8>> {
        let json = zeroize::Zeroizing::new(
            serde_json::json!({ "access_token": t.access_token, "refresh_token": t.refresh_token,
                "expires_at": t.expires_at, "client_endpoint": t.client_endpoint,
                "server_endpoint": t.server_endpoint, "application_token": t.application_token })
            .to_string(),
        );
        let key = TenantKey::derive(&self.master, member_id)?;
        key.seal(self.random.as_ref(), &token_aad(member_id), json.as_bytes())
    }

    /// A handle bound to one active tenant's file or schema.
    pub async fn tenant(&self, member_id: &str) -> Result<Tenant> {
        let info = self.info(member_id).await?;
        if info.status != TenantStatus::Active {
            return Err(Error::TenantInactive(info.status));
        }
        let db = self.tenant_db(member_id).await?;
        let key = TenantKey::derive(&self.master, member_id)?;
        Tenant::new(member_id.to_owned(), db, key, self.random.clone())
    }

    /// Verifies the registry's own audit chain (installs and uninstalls).
    pub async fn verify_audit(&self) -> Result<audit::Head> {
        let mut tx = self.control.read().await?;
        Ok(audit::verify(&mut tx, &control_audit_key(&self.master)?).await?)
    }

    /// The migration versions applied to a tenant's schema (for tests and diagnostics).
    pub async fn tenant_migrations(&self, member_id: &str) -> Result<Vec<i64>> {
        validate_member_id(member_id)?;
        self.tenant_db(member_id).await?.applied_migrations().await
    }

    /// Appends `record` to the registry's chain inside `tx` and commits: the registry's change
    /// and the record saying so land together or not at all.
    async fn commit_with_registry_record(
        &self,
        tx: Tx,
        record: &LifecycleRecord,
        now: OffsetDateTime,
    ) -> Result<()> {
        record.commit_in(tx, &control_audit_key(&self.master)?, now).await
    }

    /// Appends `record` to the tenant's own chain, in its own transaction.
    async fn append_to_tenant_log(
        &self,
        member_id: &str,
        record: &LifecycleRecord,
        now: OffsetDateTime,
    ) -> Result<()> {
        let db = self.tenant_db(member_id).await?;
        record.append_to(&db, &self.tenant_audit_key(member_id)?, now).await
    }
}

fn token_aad(member_id: &str) -> Vec<u8> {
    aad(&[b"portal-tokens", member_id.as_bytes()])
}

fn lock<T>(m: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>> {
    m.lock().map_err(|_| Error::Corrupt("pool registry (a thread panicked)"))
}
