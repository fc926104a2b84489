//! The ticks of an operator's message (one written in a Bitrix24 Open Line and sent to WhatsApp)
//! going back to Bitrix24: when the customer's phone has it, `imconnector.send.status.delivery`;
//! when the customer read it, `imconnector.send.status.reading`. Queued in the Bitrix24 outbox
//! in the transaction that stores the status, once per message and status.
//!
//! Each item's payload is one element of the documented `MESSAGES` array (REST docs
//! `api-reference/imopenlines/imconnector/imconnector-send-status-delivery.md`):
//! `{im: {chat_id, message_id}, message: {id: [our WhatsApp id], date}, chat: {id}}`, with the
//! Open Line it goes to as `open_line_id`.

use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use super::{Tenant, open_channels::enqueue_b24_in};
use crate::{B24Enqueue, B24OutboxKind, Caller, MessageId, MessageStatus, Result};

/// Queues the ticks that message `message_id` has reached (`status`), if it is an operator's
/// message linked to Bitrix24's ids; nothing otherwise. A tick queued before is not queued
/// again.
pub(super) async fn queue_operator_ticks_in(
    tx: &mut AnyConnection,
    message_id: MessageId,
    status: MessageStatus,
    at: i64,
) -> Result<()> {
    if status.rank() < MessageStatus::Delivered.rank() {
        return Ok(());
    }
    let row = sqlx::query(
        "SELECT l.line_id, l.b24_message_id, l.b24_chat_id, l.external_chat_id, ln.open_line_id, \
         m.wa_id FROM b24_message_links l JOIN lines ln ON ln.id = l.line_id \
         JOIN messages m ON m.id = l.message_id \
         WHERE l.message_id = $1 AND m.direction = 'out' AND l.b24_message_id IS NOT NULL \
         AND l.b24_chat_id IS NOT NULL",
    )
    .bind(message_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else { return Ok(()) };
    let line_id: i64 = row.try_get(0)?;
    let b24_message_id: String = row.try_get(1)?;
    let b24_chat_id: i64 = row.try_get(2)?;
    let external_chat_id: String = row.try_get(3)?;
    let open_line_id: Option<i64> = row.try_get(4)?;
    let wa_id: Option<String> = row.try_get(5)?;
    let element = serde_json::json!({
        "im": {"chat_id": b24_chat_id, "message_id": b24_message_id.parse::<i64>().ok()},
        "message": {"id": wa_id.into_iter().collect::<Vec<_>>(), "date": at / 1000},
        "chat": {"id": external_chat_id},
    });
    let mut kinds = vec![B24OutboxKind::StatusDelivery];
    if status.rank() >= MessageStatus::Read.rank() {
        kinds.push(B24OutboxKind::StatusReading);
    }
    for kind in kinds {
        let item = B24Enqueue {
            line_id,
            message_id: Some(message_id),
            kind,
            payload: serde_json::json!({"open_line_id": open_line_id, "messages": [element]})
                .to_string(),
            idempotency_key: format!("{kind}:{message_id}"),
        };
        match enqueue_b24_in(tx, &item, at).await {
            // Queued before (with the date of then): once is enough.
            Ok(_) | Err(crate::Error::IdempotencyKeyReused) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

impl Tenant {
    /// Queues the ticks an operator's message has already reached (the server only): for a
    /// message linked to Bitrix24 after its receipts came.
    pub async fn queue_operator_ticks(
        &self,
        caller: Caller,
        message_id: MessageId,
        now: OffsetDateTime,
    ) -> Result<()> {
        caller.require_system("only the server reports ticks to Bitrix24")?;
        let mut tx = self.write().await?;
        let status: i64 = sqlx::query("SELECT status FROM messages WHERE id = $1")
            .bind(message_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(crate::Error::NotFound("message"))?
            .try_get(0)?;
        let status = MessageStatus::from_rank(status)?;
        queue_operator_ticks_in(&mut tx, message_id, status, audit::unix_ms(now)).await?;
        tx.commit().await?;
        Ok(())
    }
}
