//! The audit records of the Open Channels connector events Bitrix24 delivers (operator messages,
//! edits, deletions, dialogs, the connector switched off, an Open Line deleted), and those the
//! portal did not confirm.

use time::OffsetDateTime;

use super::{Tenant, audit_log::audit_in};
use crate::{Caller, LineId, Result};

impl Tenant {
    /// Records a connector event and what became of it (the server only): `record` holds the
    /// raw event and the Bitrix24 ids; the subject is the line it concerned, if one did.
    pub async fn record_connector_event(
        &self,
        caller: Caller,
        line_id: Option<LineId>,
        record: &serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<()> {
        self.record_event_kind(caller, line_id, audit::Kind::ConnectorEvent, record, now).await
    }

    /// Records a connector event the portal did not confirm (the server only): nothing was done
    /// for it. `record` names the event, the Bitrix24 ids and the reason.
    pub async fn record_unconfirmed_connector_event(
        &self,
        caller: Caller,
        line_id: Option<LineId>,
        record: &serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<()> {
        let kind = audit::Kind::ConnectorEventUnconfirmed;
        self.record_event_kind(caller, line_id, kind, record, now).await
    }

    async fn record_event_kind(
        &self,
        caller: Caller,
        line_id: Option<LineId>,
        kind: audit::Kind,
        record: &serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<()> {
        caller.require_system("only the server handles Bitrix24 events")?;
        let subject = match line_id {
            Some(id) => format!("line:{id}"),
            None => format!("tenant:{}", self.member_id),
        };
        let mut tx = self.write().await?;
        audit_in(
            &self.audit_key,
            &mut tx,
            kind,
            caller,
            &subject,
            record.to_string().as_bytes(),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
