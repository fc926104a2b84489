//! CRM routing's storage: each line's CRM policy, the CRM items each conversation made or
//! found, and the outbox items that do the work (queued with the customer's message, in its
//! transaction: a crash cannot keep the message without its CRM work).

use sqlx::{AnyConnection, Row, any::AnyRow};
use time::OffsetDateTime;

use super::{Tenant, access::visible_line, audit_log::audit_in, open_channels::enqueue_b24_in};
use crate::{
    B24Enqueue, B24OutboxKind, Caller, ConversationId, CrmLink, CrmPolicy, Error, Line, LineId,
    Result, crm_day, model::check_len,
};

fn policy_from_row(r: &AnyRow) -> Result<CrmPolicy> {
    Ok(CrmPolicy {
        mode: r.try_get::<String, _>("mode")?.parse()?,
        category_id: r.try_get("category_id")?,
        stage_id: r.try_get("stage_id")?,
        responsible: r.try_get::<String, _>("responsible")?.parse()?,
        returning_closed_deal: r.try_get::<String, _>("returning_closed_deal")?.parse()?,
        source_of_truth: r.try_get::<String, _>("source_of_truth")?.parse()?,
    })
}

fn link_from_row(r: &AnyRow) -> Result<CrmLink> {
    Ok(CrmLink {
        conversation_id: r.try_get("conversation_id")?,
        line_id: r.try_get("line_id")?,
        contact_id: r.try_get("contact_id")?,
        lead_id: r.try_get("lead_id")?,
        deal_id: r.try_get("deal_id")?,
        complete: r.try_get::<i64, _>("complete")? != 0,
    })
}

async fn policy_in(tx: &mut AnyConnection, line_id: LineId) -> Result<CrmPolicy> {
    let row = sqlx::query(
        "SELECT mode, category_id, stage_id, responsible, returning_closed_deal, \
         source_of_truth FROM line_crm_policies WHERE line_id = $1",
    )
    .bind(line_id)
    .fetch_optional(&mut *tx)
    .await?;
    row.as_ref().map_or_else(|| Ok(CrmPolicy::default()), policy_from_row)
}

/// Queues a conversation's CRM work when the line's policy creates anything: its routing once
/// per conversation, and its timeline entry once per conversation day. Called in the
/// transaction that stores a customer's message.
pub(super) async fn enqueue_crm_in(
    tx: &mut AnyConnection,
    line: &Line,
    conversation_id: ConversationId,
    at: i64,
) -> Result<()> {
    if !policy_in(tx, line.id).await?.creates() {
        return Ok(());
    }
    let route = B24Enqueue {
        line_id: line.id,
        message_id: None,
        kind: B24OutboxKind::CrmRoute,
        payload: serde_json::json!({ "conversation_id": conversation_id }).to_string(),
        idempotency_key: format!("{}:{conversation_id}", B24OutboxKind::CrmRoute),
    };
    enqueue_b24_in(tx, &route, at).await?;
    let day = crm_day(at);
    let timeline = B24Enqueue {
        line_id: line.id,
        message_id: None,
        kind: B24OutboxKind::CrmTimeline,
        payload: serde_json::json!({ "conversation_id": conversation_id, "day": day }).to_string(),
        idempotency_key: format!("{}:{conversation_id}:{day}", B24OutboxKind::CrmTimeline),
    };
    enqueue_b24_in(tx, &timeline, at).await.map(|_| ())
}

impl Tenant {
    /// A line's CRM policy (the default, creating nothing, when none was set).
    pub async fn crm_policy(&self, caller: Caller, line_id: LineId) -> Result<CrmPolicy> {
        let mut tx = self.read().await?;
        visible_line(&mut tx, caller, line_id).await?;
        policy_in(&mut tx, line_id).await
    }

    /// Sets a line's CRM policy (administrators; audited as `line.settings_changed`). A line
    /// whose CRM is the Open Line's must feed one; a stage is at most 50 bytes.
    pub async fn set_crm_policy(
        &self,
        caller: Caller,
        line_id: LineId,
        policy: &CrmPolicy,
        now: OffsetDateTime,
    ) -> Result<CrmPolicy> {
        caller.require_admin("only administrators change a line's CRM policy")?;
        if policy.category_id < 0 {
            return Err(Error::InvalidInput("a pipeline id is 0 or a positive integer"));
        }
        if let Some(stage) = &policy.stage_id {
            check_len(stage, 50, "stage id longer than 50 bytes")?;
            if stage.is_empty() {
                return Err(Error::InvalidInput("empty stage id"));
            }
        }
        let mut tx = self.write().await?;
        visible_line(&mut tx, caller, line_id).await?;
        let before = policy_in(&mut tx, line_id).await?;
        if before == *policy {
            return Ok(before);
        }
        let at = audit::unix_ms(now);
        sqlx::query(
            "INSERT INTO line_crm_policies (line_id, mode, category_id, stage_id, responsible, \
             returning_closed_deal, source_of_truth, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (line_id) DO UPDATE SET \
             mode = excluded.mode, category_id = excluded.category_id, \
             stage_id = excluded.stage_id, responsible = excluded.responsible, \
             returning_closed_deal = excluded.returning_closed_deal, \
             source_of_truth = excluded.source_of_truth, updated_at = excluded.updated_at",
        )
        .bind(line_id)
        .bind(policy.mode.as_str())
        .bind(policy.category_id)
        .bind(policy.stage_id.as_deref())
        .bind(policy.responsible.as_str())
        .bind(policy.returning_closed_deal.as_str())
        .bind(policy.source_of_truth.as_str())
        .bind(at)
        .execute(&mut *tx)
        .await?;
        let payload = serde_json::json!({ "crm": {
            "mode": policy.mode.as_str(),
            "category_id": policy.category_id,
            "stage_id": policy.stage_id,
            "responsible": policy.responsible.as_str(),
            "returning_closed_deal": policy.returning_closed_deal.as_str(),
            "source_of_truth": policy.source_of_truth.as_str(),
        }});
        audit_in(
            &self.audit_key,
            &mut tx,
            audit::Kind::LineSettingsChanged,
            caller,
            &format!("line:{line_id}"),
            payload.to_string().as_bytes(),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(policy.clone())
    }

    /// The CRM items a conversation made or found, if routing began.
    pub async fn crm_link(
        &self,
        caller: Caller,
        conversation_id: ConversationId,
    ) -> Result<Option<CrmLink>> {
        let mut tx = self.read().await?;
        super::access::visible_conversation(&mut tx, caller, conversation_id).await?;
        let row = sqlx::query(
            "SELECT conversation_id, line_id, contact_id, lead_id, deal_id, complete \
             FROM crm_links WHERE conversation_id = $1",
        )
        .bind(conversation_id)
        .fetch_optional(&mut *tx)
        .await?;
        row.as_ref().map(link_from_row).transpose()
    }

    /// Records what routing found or created so far (the server only): kept step by step, so
    /// that a retry goes on from there.
    pub async fn set_crm_link(
        &self,
        caller: Caller,
        link: &CrmLink,
        now: OffsetDateTime,
    ) -> Result<()> {
        caller.require_system("only the server routes conversations to the CRM")?;
        let mut tx = self.write().await?;
        let conv =
            super::access::visible_conversation(&mut tx, caller, link.conversation_id).await?;
        if conv.line_id != link.line_id {
            return Err(Error::InvalidInput("the conversation is on another line"));
        }
        sqlx::query(
            "INSERT INTO crm_links (conversation_id, line_id, contact_id, lead_id, deal_id, \
             complete, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (conversation_id) DO UPDATE SET contact_id = excluded.contact_id, \
             lead_id = excluded.lead_id, deal_id = excluded.deal_id, \
             complete = excluded.complete, updated_at = excluded.updated_at",
        )
        .bind(link.conversation_id)
        .bind(link.line_id)
        .bind(link.contact_id)
        .bind(link.lead_id)
        .bind(link.deal_id)
        .bind(i64::from(link.complete))
        .bind(audit::unix_ms(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The conversations linked to a CRM contact (the server only; the CRM card's tab).
    pub async fn conversations_of_crm_contact(
        &self,
        caller: Caller,
        contact_id: i64,
    ) -> Result<Vec<ConversationId>> {
        caller.require_system("only the server reads CRM links by contact")?;
        let mut tx = self.read().await?;
        sqlx::query("SELECT conversation_id FROM crm_links WHERE contact_id = $1 ORDER BY 1")
            .bind(contact_id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get(0).map_err(Error::from))
            .collect()
    }
}
