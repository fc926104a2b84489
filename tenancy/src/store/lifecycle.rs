//! The lifecycle records of a tenant (installed, uninstalled, purged, plan changed, sessions
//! revoked): built once, then appended to the registry's chain and, for most, to the tenant's
//! own, which is what the portal's administrator reads. The record appends itself to whichever
//! chain the [`Store`](super::Store) hands it, so this file needs nothing from the store.

use time::OffsetDateTime;

use crate::{
    Caller, Result, UserId,
    db::{Db, Tx},
};

/// One lifecycle record, owning what an [`audit::Entry`] borrows, so that the same record can
/// go into two chains.
pub(super) struct LifecycleRecord {
    kind: audit::Kind,
    actor: String,
    subject: String,
    payload: Vec<u8>,
}

impl LifecycleRecord {
    /// A record about the tenant `member_id`, made by the system.
    pub(super) fn about_tenant(kind: audit::Kind, member_id: &str, payload: Vec<u8>) -> Self {
        LifecycleRecord {
            kind,
            actor: "system".to_owned(),
            subject: format!("tenant:{member_id}"),
            payload,
        }
    }

    /// A record about one of the tenant's users, made by `actor`.
    pub(super) fn about_user(
        kind: audit::Kind,
        user_id: UserId,
        actor: Caller,
        payload: Vec<u8>,
    ) -> Self {
        LifecycleRecord { kind, actor: actor.actor(), subject: format!("user:{user_id}"), payload }
    }

    /// The record as the audit chain takes it.
    pub(super) fn entry(&self) -> audit::Entry<'_> {
        audit::Entry {
            kind: self.kind,
            actor: &self.actor,
            subject: &self.subject,
            payload: &self.payload,
        }
    }

    /// Appends the record to the audit chain of `db` (sealed with `key`), in its own
    /// transaction.
    pub(super) async fn append_to(
        &self,
        db: &Db,
        key: &audit::ChainKey,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = db.write().await?;
        audit::append(&mut tx, key, self.entry(), now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Appends the record inside `tx` (to the chain sealed with `key`) and commits: the change
    /// made in `tx` and the record saying so land together or not at all.
    pub(super) async fn commit_in(
        &self,
        mut tx: Tx,
        key: &audit::ChainKey,
        now: OffsetDateTime,
    ) -> Result<()> {
        audit::append(&mut tx, key, self.entry(), now).await?;
        tx.commit().await
    }
}
