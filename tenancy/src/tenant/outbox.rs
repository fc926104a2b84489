//! The outbox: queuing outbound messages once per idempotency key and following their sending.

use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use super::{
    Tenant,
    access::visible_conversation,
    audit_log::audit_in,
    open_channels::enqueue_for_open_line,
    responsible::claim_first_answer,
    rows::{LINE_COLUMNS_OF_L, MESSAGE_COLUMNS, line_from_row, message_from_row, outbox_from_row},
};
use crate::{
    Caller, ConversationId, Error, LineId, MAX_OUTBOUND_TEXT, Message, MessageId, MessageKind,
    MessageStatus, Outbound, OutboxItem, OutboxKind, Result, UserId,
    model::{check_len, page_limit},
};

/// What an outbound request is, hashed: a repeated idempotency key must come with the same one.
fn request_hash(conversation: ConversationId, m: &Outbound) -> String {
    use sha2::{Digest, Sha256};
    let canonical = serde_json::json!({
        "conversation": conversation,
        "kind": m.kind.as_str(),
        "text": m.text,
        "media": m.media.as_ref().map(|x| (hex::encode(x.sha256), &x.mime, x.size)),
        "quoted_id": m.quoted_id,
    });
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

async fn outbox_by_key(tx: &mut AnyConnection, key: &str) -> Result<Option<OutboxItem>> {
    let row = sqlx::query(
        "SELECT id, line_id, message_id, kind, idempotency_key, state, attempts FROM outbox \
         WHERE idempotency_key = $1",
    )
    .bind(key)
    .fetch_optional(&mut *tx)
    .await?;
    row.as_ref().map(outbox_from_row).transpose()
}

/// A reply a user sent from our panel on a line that feeds an Open Line goes to the Open Line
/// too, once WhatsApp has it, so that the operators see the whole
/// conversation. Replies that came from the Open Line itself (sent by the server) are already
/// there.
async fn mirror_panel_reply(tx: &mut AnyConnection, message_id: MessageId, at: i64) -> Result<()> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {LINE_COLUMNS_OF_L}, m.sender FROM messages m JOIN lines l ON l.id = m.line_id \
         WHERE m.id = $1"
    )))
    .bind(message_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else { return Ok(()) };
    let sender: String = row.try_get("sender")?;
    let line = line_from_row(&row)?;
    let from_panel = sender.starts_with("user:") || sender.starts_with("admin:");
    if from_panel {
        enqueue_for_open_line(tx, &line, message_id, at).await?;
    }
    Ok(())
}

impl Tenant {
    /// Queues a text message for sending: a pending message row and an outbox row, once per
    /// idempotency key (a repeated key returns the first result and queues nothing).
    pub async fn enqueue_text(
        &self,
        caller: Caller,
        conversation: ConversationId,
        text: &str,
        idempotency_key: &str,
        now: OffsetDateTime,
    ) -> Result<(Message, OutboxItem)> {
        let outbound = Outbound {
            kind: MessageKind::Text,
            text: Some(text.to_owned()),
            media: None,
            quoted_id: None,
        };
        self.enqueue(caller, conversation, &outbound, idempotency_key, now).await
    }

    /// Queues any outbound message (text, reply, reaction, media) as [`Tenant::enqueue_text`]
    /// does: once per idempotency key. A quoted message must belong to the same conversation. A
    /// key used before for another request (text, media, kind, quoted message or conversation)
    /// is [`Error::IdempotencyKeyReused`].
    pub async fn enqueue(
        &self,
        caller: Caller,
        conversation: ConversationId,
        m: &Outbound,
        idempotency_key: &str,
        now: OffsetDateTime,
    ) -> Result<(Message, OutboxItem)> {
        let answerer = match caller {
            Caller::User(uid) | Caller::Admin(uid) => Some(uid),
            Caller::System => None,
        };
        self.enqueue_from(caller, (caller.actor(), answerer), conversation, m, idempotency_key, now)
            .await
    }

    /// [`Tenant::enqueue`] for a message a Bitrix24 operator wrote in an Open Channel (the
    /// server only): the message's sender is `operator:<operator>` (the panel names them by
    /// their user id; it is not a panel reply, so it is not sent back to the Open Line).
    pub async fn enqueue_for_operator(
        &self,
        caller: Caller,
        operator: UserId,
        conversation: ConversationId,
        m: &Outbound,
        idempotency_key: &str,
        now: OffsetDateTime,
    ) -> Result<(Message, OutboxItem)> {
        caller.require_system("only the server sends on behalf of an operator")?;
        let sender = format!("operator:{operator}");
        self.enqueue_from(caller, (sender, Some(operator)), conversation, m, idempotency_key, now)
            .await
    }

    async fn enqueue_from(
        &self,
        caller: Caller,
        // The message's sender, and the portal user answering (the first one may become the
        // conversation's responsible).
        (sender, answerer): (String, Option<UserId>),
        conversation: ConversationId,
        m: &Outbound,
        idempotency_key: &str,
        now: OffsetDateTime,
    ) -> Result<(Message, OutboxItem)> {
        if let Some(text) = &m.text {
            check_len(text, MAX_OUTBOUND_TEXT, "text longer than 64 KiB")?;
        }
        if let Some(media) = &m.media {
            check_len(&media.path, 1024, "media path longer than 1 KiB")?;
            check_len(&media.mime, 255, "media type longer than 255 bytes")?;
        }
        check_len(idempotency_key, 128, "idempotency key longer than 128 bytes")?;
        if idempotency_key.is_empty() {
            return Err(Error::InvalidInput("empty idempotency key"));
        }
        let mut tx = self.write().await?;
        let conv = visible_conversation(&mut tx, caller, conversation).await?;
        let hash = request_hash(conversation, m);
        if let Some(item) = outbox_by_key(&mut tx, idempotency_key).await? {
            let stored: Option<String> =
                sqlx::query("SELECT request_hash FROM outbox WHERE id = $1")
                    .bind(item.id)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get(0)?;
            if stored.is_some_and(|stored| stored != hash) {
                return Err(Error::IdempotencyKeyReused);
            }
            let mid = item.message_id.ok_or(Error::Corrupt("outbox"))?;
            // The key is the caller's: it must name a send in a conversation they can see.
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND conversation_id = $2"
            )))
            .bind(mid)
            .bind(conversation)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::IdempotencyKeyReused)?;
            return Ok((message_from_row(&row)?, item));
        }
        if let Some(quoted) = m.quoted_id {
            let found =
                sqlx::query("SELECT id FROM messages WHERE id = $1 AND conversation_id = $2")
                    .bind(quoted)
                    .bind(conversation)
                    .fetch_optional(&mut *tx)
                    .await?;
            if found.is_none() {
                return Err(Error::NotFound("quoted message"));
            }
        }
        let at = audit::unix_ms(now);
        let media = m.media.as_ref();
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO messages (conversation_id, line_id, direction, kind, body, media_path, \
             media_mime, media_size, media_sha256, quoted_id, status, sender, at) \
             VALUES ($1, $2, 'out', $3, $4, $5, $6, $7, $8, $9, 0, $10, $11) RETURNING {MESSAGE_COLUMNS}"
        )))
        .bind(conversation)
        .bind(conv.line_id)
        .bind(m.kind.as_str())
        .bind(m.text.as_deref())
        .bind(media.map(|x| x.path.clone()))
        .bind(media.map(|x| x.mime.clone()))
        .bind(media.map(|x| x.size))
        .bind(media.map(|x| x.sha256.to_vec()))
        .bind(m.quoted_id)
        .bind(sender)
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        let message = message_from_row(&row)?;
        sqlx::query(
            "INSERT INTO outbox (line_id, message_id, kind, idempotency_key, state, attempts, \
             created_at, updated_at, request_hash) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5, $6)",
        )
        .bind(conv.line_id)
        .bind(message.id)
        .bind(OutboxKind::Send.as_str())
        .bind(idempotency_key)
        .bind(at)
        .bind(hash.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE conversations SET last_message_id = $2, last_message_at = $3 WHERE id = $1",
        )
        .bind(conversation)
        .bind(message.id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        if let Some(user) = answerer {
            claim_first_answer(&mut tx, conversation, user).await?;
        }
        let item =
            outbox_by_key(&mut tx, idempotency_key).await?.ok_or(Error::Corrupt("outbox"))?;
        let request = serde_json::json!({
            "kind": m.kind.as_str(),
            "text": m.text,
            "media": m.media.as_ref().map(|x| serde_json::json!({
                "path": x.path, "mime": x.mime, "size": x.size, "sha256": hex::encode(x.sha256),
            })),
            "quoted_id": m.quoted_id,
            "idempotency_key": idempotency_key,
        });
        let subject = format!("message:{}", message.id);
        audit_in(
            &self.audit_key,
            &mut tx,
            audit::Kind::MessageQueued,
            caller,
            &subject,
            request.to_string().as_bytes(),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok((message, item))
    }

    /// Pending outbox items, oldest first (the server only).
    pub async fn pending_outbox(&self, caller: Caller, limit: u32) -> Result<Vec<OutboxItem>> {
        caller.require_system("only the server reads the outbox")?;
        let limit = page_limit(limit)?;
        let mut tx = self.read().await?;
        let rows = sqlx::query(
            "SELECT id, line_id, message_id, kind, idempotency_key, state, attempts FROM outbox \
             WHERE state = 'pending' ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        rows.iter().map(outbox_from_row).collect()
    }

    /// One line's pending outbox items of one kind, oldest first (the server only): each line's
    /// sender reads its own, so items queued on a line that is not running hold up no other.
    pub async fn pending_outbox_for_line(
        &self,
        caller: Caller,
        line_id: LineId,
        kind: OutboxKind,
        limit: u32,
    ) -> Result<Vec<OutboxItem>> {
        caller.require_system("only the server reads the outbox")?;
        let limit = page_limit(limit)?;
        let mut tx = self.read().await?;
        let rows = sqlx::query(
            "SELECT id, line_id, message_id, kind, idempotency_key, state, attempts FROM outbox \
             WHERE line_id = $1 AND kind = $2 AND state = 'pending' ORDER BY id LIMIT $3",
        )
        .bind(line_id)
        .bind(kind.as_str())
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        rows.iter().map(outbox_from_row).collect()
    }

    /// Stores the WhatsApp id chosen for a pending outbound message before it is sent (the
    /// server only), so that a send repeated after a crash reuses it. An id already stored is
    /// kept and returned: the first choice wins.
    pub async fn reserve_wa_id(
        &self,
        caller: Caller,
        message_id: MessageId,
        wa_id: &str,
    ) -> Result<String> {
        caller.require_system("only the server chooses message ids")?;
        check_len(wa_id, 128, "wa_id longer than 128 bytes")?;
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE messages SET wa_id = $2 WHERE id = $1 AND wa_id IS NULL AND direction = 'out'",
        )
        .bind(message_id)
        .bind(wa_id)
        .execute(&mut *tx)
        .await?;
        let stored: Option<String> = sqlx::query("SELECT wa_id FROM messages WHERE id = $1")
            .bind(message_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::NotFound("message"))?
            .try_get(0)?;
        tx.commit().await?;
        stored.ok_or(Error::NotFound("message"))
    }

    /// Marks a send done: the message gets WhatsApp's id and the `Sent` status.
    pub async fn complete_send(
        &self,
        caller: Caller,
        outbox_id: i64,
        wa_id: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        caller.require_system("only the server completes sends")?;
        check_len(wa_id, 128, "wa_id longer than 128 bytes")?;
        let mut tx = self.write().await?;
        let at = audit::unix_ms(now);
        let row = sqlx::query(
            "UPDATE outbox SET state = 'done', attempts = attempts + 1, updated_at = $2 \
             WHERE id = $1 AND state = 'pending' RETURNING message_id",
        )
        .bind(outbox_id)
        .bind(at)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound("pending outbox item"))?;
        let mid: Option<i64> = row.try_get(0)?;
        sqlx::query(
            "UPDATE messages SET wa_id = $2, status = 1, sent_at = $3 WHERE id = $1 AND status < 1",
        )
        .bind(mid)
        .bind(wa_id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        if let Some(mid) = mid {
            mirror_panel_reply(&mut tx, mid, at).await?;
            super::sms::queue_sms_statuses_in(&mut tx, mid, MessageStatus::Sent, at).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
