//! The tenant's audit log: appending inside a transaction, verifying, reading, exporting.

use sqlx::AnyConnection;
use time::OffsetDateTime;

use super::Tenant;
use crate::{Caller, Result};

/// Appends a record to this tenant's chain inside `tx`, so that it commits or rolls back with
/// the change it describes.
pub(super) async fn audit_in(
    key: &audit::ChainKey,
    tx: &mut AnyConnection,
    kind: audit::Kind,
    caller: Caller,
    subject: &str,
    payload: &[u8],
    now: OffsetDateTime,
) -> Result<()> {
    let actor = caller.actor();
    audit::append(tx, key, audit::Entry { kind, actor: &actor, subject, payload }, now).await?;
    Ok(())
}

impl Tenant {
    /// Verifies this tenant's audit chain (administrators and the server).
    pub async fn verify_audit(&self, caller: Caller) -> Result<audit::Head> {
        caller.require_admin("only administrators verify the audit log")?;
        let mut tx = self.read().await?;
        Ok(audit::verify(&mut tx, &self.audit_key).await?)
    }

    /// Records an administrator's request for more lines (`app.upgrade_requested`; the payload is
    /// the request as sent to the operator) in this tenant's audit log.
    pub async fn record_upgrade_request(
        &self,
        caller: Caller,
        payload: &[u8],
        now: OffsetDateTime,
    ) -> Result<()> {
        caller.require_admin("only administrators ask for more lines")?;
        let mut tx = self.write().await?;
        let subject = format!("tenant:{}", self.member_id);
        audit_in(
            &self.audit_key,
            &mut tx,
            audit::Kind::UpgradeRequested,
            caller,
            &subject,
            payload,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// One page of this tenant's audit log (administrators and the server).
    pub async fn audit_query(&self, caller: Caller, q: &audit::Query) -> Result<audit::Page> {
        caller.require_admin("only administrators read the audit log")?;
        let mut tx = self.read().await?;
        Ok(audit::query(&mut tx, q).await?)
    }

    /// Writes this tenant's audit log as NDJSON (administrators and the server).
    pub async fn audit_export(
        &self,
        caller: Caller,
        q: &audit::Query,
        out: &mut impl std::io::Write,
    ) -> Result<u64> {
        caller.require_admin("only administrators export the audit log")?;
        let mut tx = self.read().await?;
        Ok(audit::export_ndjson(&mut tx, q, out).await?)
    }
}
