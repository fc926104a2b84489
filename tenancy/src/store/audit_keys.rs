//! Keyed audit chains: the one-time seal of logs written before chains were keyed, and
//! verification of any tenant's chain for the operator.

use time::OffsetDateTime;

use super::Store;
use crate::{
    Error, Result,
    crypto::{TenantKey, control_audit_key},
};

/// Which audit log one [`Store::seal_legacy_audit`] step sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealedLog {
    /// The registry's (control) log.
    Control,
    /// A tenant's log, by member_id.
    Tenant(String),
}

impl Store {
    /// Seals, once, the audit logs written before chains were keyed (see the audit crate's
    /// README): the control log when it ends with an unkeyed record, then every active tenant
    /// that may still hold an unkeyed log: one whose first control record is unkeyed (installed
    /// before chains were keyed) and that has no keyed `audit.keyed` record in the control log.
    /// Each tenant passed gets that keyed record, so it is never sealed again: a keyed chain
    /// rewritten by someone without the key stays broken instead of being sealed as it is. A log
    /// whose unkeyed chain is already broken is left for verification to report. Returns the
    /// logs that were sealed.
    pub async fn seal_legacy_audit(&self, now: OffsetDateTime) -> Result<Vec<SealedLog>> {
        let key = control_audit_key(&self.master)?;
        let mut sealed = Vec::new();
        let mut tx = self.control.write().await?;
        match audit::seal(&mut tx, &key, now).await {
            Ok(Some(_)) => sealed.push(SealedLog::Control),
            Ok(None) | Err(audit::Error::Tampered { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        tx.commit().await?;
        for member_id in self.active_tenants().await? {
            let subject = format!("tenant:{member_id}");
            if self.never_needs_a_seal(&key, &subject).await? {
                continue;
            }
            let tenant_key = TenantKey::derive(&self.master, &member_id)?.audit_chain_key()?;
            let db = self.tenant_db(&member_id).await?;
            let mut ttx = db.write().await?;
            let record = match audit::seal(&mut ttx, &tenant_key, now).await {
                Ok(record) => record,
                Err(audit::Error::Tampered { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            ttx.commit().await?;
            let payload = serde_json::json!({
                "sealed_seq": record.as_ref().map(|r| r.seq - 1),
            })
            .to_string();
            let entry = audit::Entry {
                kind: audit::Kind::AuditKeyed,
                actor: "system",
                subject: &subject,
                payload: payload.as_bytes(),
            };
            let mut tx = self.control.write().await?;
            audit::append(&mut tx, &key, entry, now).await?;
            tx.commit().await?;
            if record.is_some() {
                sealed.push(SealedLog::Tenant(member_id));
            }
        }
        Ok(sealed)
    }

    /// Whether the control log proves the tenant's log keyed: its first record about the tenant is
    /// keyed (installed after chains were keyed), or the tenant was sealed already.
    async fn never_needs_a_seal(&self, key: &audit::ChainKey, subject: &str) -> Result<bool> {
        let mut tx = self.control.read().await?;
        let mut q = audit::Query { subject: Some(subject.to_owned()), ..audit::Query::default() };
        let mut first = true;
        loop {
            let page = audit::query(&mut tx, &q).await?;
            for r in &page.records {
                let keyed = audit::is_keyed(key, r);
                if keyed && (first || r.kind == audit::Kind::AuditKeyed) {
                    return Ok(true);
                }
                first = false;
            }
            match page.next {
                Some(next) => q.after_seq = Some(next),
                None => return Ok(false),
            }
        }
    }

    /// Records a tenant administrator's request for more lines (`app.upgrade_requested`, subject
    /// `tenant:<member_id>`) in the registry's audit log, for the operator.
    pub async fn record_upgrade_request(
        &self,
        member_id: &str,
        caller: crate::Caller,
        payload: &[u8],
        now: OffsetDateTime,
    ) -> Result<()> {
        crate::model::validate_member_id(member_id)?;
        let key = control_audit_key(&self.master)?;
        let subject = format!("tenant:{member_id}");
        let actor = caller.actor();
        let entry = audit::Entry {
            kind: audit::Kind::UpgradeRequested,
            actor: &actor,
            subject: &subject,
            payload,
        };
        let mut tx = self.control.write().await?;
        audit::append(&mut tx, &key, entry, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One page of the registry's (control) audit log, for the operator.
    pub async fn control_audit_query(&self, q: &audit::Query) -> Result<audit::Page> {
        let mut tx = self.control.read().await?;
        Ok(audit::query(&mut tx, q).await?)
    }

    /// Verifies one active tenant's audit chain under its key (the operator's
    /// `wab24 audit verify`, and the check at start).
    pub async fn verify_tenant_audit(&self, member_id: &str) -> Result<audit::Head> {
        let info = self.info(member_id).await?;
        if info.status == crate::TenantStatus::Active {
            return self.tenant(member_id).await?.verify_audit(crate::Caller::System).await;
        }
        Err(Error::TenantInactive(info.status))
    }
}
