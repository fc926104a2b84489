//! The lifecycle records of a tenant (installed, uninstalled, purged, plan changed, sessions
//! revoked): built once, then appended to the registry's chain and, for most, to the tenant's
//! own, which is what the portal's administrator reads.

use time::OffsetDateTime;

use super::{Store, append_to};
use crate::{Caller, Result, UserId, crypto::control_audit_key, db::Tx};

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
}

impl Store {
    /// Appends `record` to the registry's chain inside `tx` and commits: the registry's change
    /// and the record saying so land together or not at all.
    pub(super) async fn commit_with_registry_record(
        &self,
        mut tx: Tx,
        record: &LifecycleRecord,
        now: OffsetDateTime,
    ) -> Result<()> {
        audit::append(&mut tx, &control_audit_key(&self.master)?, record.entry(), now).await?;
        tx.commit().await
    }

    /// Appends `record` to the tenant's own chain, in its own transaction.
    pub(super) async fn append_to_tenant_log(
        &self,
        member_id: &str,
        record: &LifecycleRecord,
        now: OffsetDateTime,
    ) -> Result<()> {
        let db = self.tenant_db(member_id).await?;
        append_to(&db, &self.tenant_audit_key(member_id)?, record.entry(), now).await
    }
}
