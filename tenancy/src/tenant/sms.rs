//! wab24 as the CRM's message provider (Bitrix24 `messageservice`): the messages the CRM sent
//! through a line's provider, by Bitrix24's `MESSAGE_ID`, and their statuses going back with
//! `messageservice.message.status.update` through the Bitrix24 outbox (REST docs
//! `api-reference/messageservice/messageservice-message-status-update.md`: `queued`, `sent`,
//! `delivered`, `undelivered`, `failed`; there is no "read"). A status is queued once per
//! message, in the transaction that stores it.

use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use super::{Tenant, access::visible_line, open_channels::enqueue_b24_in};
use crate::{
    B24Enqueue, B24OutboxKind, Caller, Error, LineId, MessageId, MessageStatus, Result, audit,
};

/// The longest `MESSAGE_ID` or provider `CODE` kept (Bitrix24's are 32 hex digits).
pub const MAX_SMS_ID: usize = 64;

/// The Bitrix24 statuses a message's WhatsApp status has reached, in order.
fn reached(status: MessageStatus) -> &'static [&'static str] {
    match status {
        MessageStatus::Pending => &[],
        MessageStatus::Sent => &["sent"],
        // WhatsApp's "read" has no Bitrix24 status: read implies delivered.
        _ => &["sent", "delivered"],
    }
}

fn check_ids(code: &str, b24_message_id: &str) -> Result<()> {
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= MAX_SMS_ID
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    };
    if ok(code) && ok(b24_message_id) {
        Ok(())
    } else {
        Err(Error::InvalidInput("provider code or message id: 1 to 64 of a-z A-Z 0-9 . - _"))
    }
}

async fn enqueue_status(
    tx: &mut AnyConnection,
    line_id: LineId,
    message_id: Option<MessageId>,
    code: &str,
    b24_message_id: &str,
    status: &str,
    at: i64,
) -> Result<()> {
    let item = B24Enqueue {
        line_id,
        message_id,
        kind: B24OutboxKind::SmsStatus,
        payload: serde_json::json!({"code": code, "message_id": b24_message_id, "status": status})
            .to_string(),
        idempotency_key: format!("{}:{b24_message_id}:{status}", B24OutboxKind::SmsStatus),
    };
    match enqueue_b24_in(tx, &item, at).await {
        Ok(_) | Err(Error::IdempotencyKeyReused) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Queues the statuses message `message_id` has reached, if the CRM sent it through a provider.
pub(super) async fn queue_sms_statuses_in(
    tx: &mut AnyConnection,
    message_id: MessageId,
    status: MessageStatus,
    at: i64,
) -> Result<()> {
    let rows =
        sqlx::query("SELECT b24_message_id, code, line_id FROM sms_messages WHERE message_id = $1")
            .bind(message_id)
            .fetch_all(&mut *tx)
            .await?;
    for row in rows {
        let b24_message_id: String = row.try_get(0)?;
        let code: String = row.try_get(1)?;
        let line_id: LineId = row.try_get(2)?;
        for s in reached(status) {
            enqueue_status(tx, line_id, Some(message_id), &code, &b24_message_id, s, at).await?;
        }
    }
    Ok(())
}

impl Tenant {
    /// The line and our message of a message the CRM sent through provider `code`, if it came
    /// before (`None` for the message: it was refused).
    pub async fn sms_message(
        &self,
        caller: Caller,
        code: &str,
        b24_message_id: &str,
    ) -> Result<Option<(LineId, Option<MessageId>)>> {
        caller.require_system("only the server reads provider messages")?;
        check_ids(code, b24_message_id)?;
        let mut tx = self.read().await?;
        let row = sqlx::query(
            "SELECT line_id, message_id FROM sms_messages WHERE b24_message_id = $1 AND code = $2",
        )
        .bind(b24_message_id)
        .bind(code)
        .fetch_optional(&mut *tx)
        .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    /// Records that the CRM's message `b24_message_id` (provider `code`) became our queued
    /// message `message_id` on `line_id`, and queues the statuses it has reached already.
    /// Returns false when it was recorded before (nothing changes).
    pub async fn link_sms(
        &self,
        caller: Caller,
        line_id: LineId,
        code: &str,
        b24_message_id: &str,
        message_id: MessageId,
        now: OffsetDateTime,
    ) -> Result<bool> {
        self.record_sms(caller, line_id, code, b24_message_id, Ok(message_id), now).await
    }

    /// Records that the CRM's message `b24_message_id` (provider `code`) was refused (not on
    /// WhatsApp, the anti-ban guard) and queues its `failed` status. Returns false when it
    /// was recorded before.
    pub async fn fail_sms(
        &self,
        caller: Caller,
        line_id: LineId,
        code: &str,
        b24_message_id: &str,
        now: OffsetDateTime,
    ) -> Result<bool> {
        self.record_sms(caller, line_id, code, b24_message_id, Err(()), now).await
    }

    async fn record_sms(
        &self,
        caller: Caller,
        line_id: LineId,
        code: &str,
        b24_message_id: &str,
        message: std::result::Result<MessageId, ()>,
        now: OffsetDateTime,
    ) -> Result<bool> {
        caller.require_system("only the server records provider messages")?;
        check_ids(code, b24_message_id)?;
        let at = audit::unix_ms(now);
        let mut tx = self.write().await?;
        visible_line(&mut tx, caller, line_id).await?;
        let inserted = sqlx::query(
            "INSERT INTO sms_messages (b24_message_id, code, line_id, message_id, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (b24_message_id) DO NOTHING",
        )
        .bind(b24_message_id)
        .bind(code)
        .bind(line_id)
        .bind(message.ok())
        .bind(at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Ok(false);
        }
        match message {
            Ok(id) => {
                let status: i64 = sqlx::query("SELECT status FROM messages WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(Error::NotFound("message"))?
                    .try_get(0)?;
                queue_sms_statuses_in(&mut tx, id, MessageStatus::from_rank(status)?, at).await?;
            }
            Err(()) => {
                enqueue_status(&mut tx, line_id, None, code, b24_message_id, "failed", at).await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }
}
