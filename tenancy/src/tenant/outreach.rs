//! Writing first: opening a conversation with a number that never wrote to the line, and what
//! the server's anti-ban guard reads about cold outreach (our messages to customers who never
//! wrote to the line).

use sqlx::Row;
use time::OffsetDateTime;

use super::{
    Tenant,
    access::{visible_conversation, visible_line},
    audit_log::audit_in,
    messages::upsert_conversation,
};
use crate::{Caller, Conversation, ConversationId, Error, LineId, Result, model::check_len};

/// Why someone who sees a line may not start a conversation on it.
pub const START_REFUSED: &str =
    "only the line's assigned user and administrators start conversations";

/// At most this many cold messages are listed by [`Tenant::cold_outreach`] (the guard's limits
/// are far below it).
pub const MAX_COLD_LISTED: i64 = 10_000;

/// One of our messages to a customer who never wrote to the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColdSend {
    /// When it was queued (Unix ms).
    pub at: i64,
    /// Its conversation.
    pub conversation_id: ConversationId,
}

/// What the anti-ban guard needs to know before a send: whether the conversation is cold and
/// the line's cold messages since a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColdOutreach {
    /// The conversation's line.
    pub line_id: LineId,
    /// The customer never wrote to the line in this conversation (no message of theirs).
    pub cold: bool,
    /// A message under the given idempotency key is already queued (a retried request, which
    /// the guard lets through: nothing new is sent).
    pub already_queued: bool,
    /// The line's cold messages since the time asked, oldest first (at most
    /// [`MAX_COLD_LISTED`]).
    pub sent: Vec<ColdSend>,
}

impl Tenant {
    /// The conversation of `line_id` with the WhatsApp account `jid` (phone-number addressing)
    /// whose number is `phone` (digits): the existing one when the number already has one on the
    /// line, else a new, empty one (the contact is created too). Answers it and whether it was
    /// created. Only for administrators and the line's assigned user: anyone who cannot see the
    /// line gets not found, anyone else who can (a member of a department the line is assigned
    /// to) is refused.
    pub async fn open_conversation(
        &self,
        caller: Caller,
        line_id: LineId,
        jid: &str,
        phone: &str,
        now: OffsetDateTime,
    ) -> Result<(Conversation, bool)> {
        check_len(jid, 128, "jid longer than 128 bytes")?;
        check_len(phone, 32, "phone longer than 32 bytes")?;
        if matches!(caller, Caller::System) {
            return Err(Error::Forbidden("a person opens a conversation"));
        }
        let mut tx = self.write().await?;
        let line = visible_line(&mut tx, caller, line_id).await?;
        if let Caller::User(uid) = caller
            && line.assigned_user != Some(uid)
        {
            return Err(Error::Forbidden(START_REFUSED));
        }
        let existing: Option<i64> = sqlx::query(
            "SELECT c.id FROM conversations c JOIN contacts k ON k.id = c.contact_id \
             WHERE c.line_id = $1 AND (k.jid = $2 OR k.phone = $3) \
             ORDER BY CASE WHEN k.jid = $2 THEN 0 ELSE 1 END, c.id LIMIT 1",
        )
        .bind(line_id)
        .bind(jid)
        .bind(phone)
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| row.try_get(0))
        .transpose()?;
        let (id, created) = match existing {
            Some(id) => (id, false),
            None => {
                let at = audit::unix_ms(now);
                let id = upsert_conversation(&mut tx, line_id, jid, Some(phone), None, at).await?;
                // Listed among the line's recent conversations from now on.
                sqlx::query(
                    "UPDATE conversations SET last_message_at = $2 \
                     WHERE id = $1 AND last_message_at IS NULL",
                )
                .bind(id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                // Audited in the same transaction: the record exists exactly when the
                // conversation does.
                let payload = serde_json::json!({
                    "line_id": line_id,
                    "conversation_id": id,
                    "jid": jid,
                    "phone": phone,
                })
                .to_string();
                audit_in(
                    &self.audit_key,
                    &mut tx,
                    audit::Kind::ConversationOpened,
                    caller,
                    &format!("line:{line_id}"),
                    payload.as_bytes(),
                    now,
                )
                .await?;
                (id, true)
            }
        };
        let conversation = visible_conversation(&mut tx, caller, id).await?;
        tx.commit().await?;
        Ok((conversation, created))
    }

    /// Whether `conversation` is cold (its customer never wrote) and the cold messages of its
    /// line since `since`; `idempotency_key`, when given, is looked up among the queued sends.
    /// The caller must see the conversation.
    pub async fn cold_outreach(
        &self,
        caller: Caller,
        conversation: ConversationId,
        since: OffsetDateTime,
        idempotency_key: Option<&str>,
    ) -> Result<ColdOutreach> {
        let mut tx = self.read().await?;
        let c = visible_conversation(&mut tx, caller, conversation).await?;
        let wrote: i64 = sqlx::query(
            "SELECT COUNT(*) FROM messages WHERE conversation_id = $1 AND direction = 'in' \
             AND kind <> 'system'",
        )
        .bind(conversation)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        let already_queued = match idempotency_key {
            None => false,
            Some(key) => sqlx::query("SELECT 1 FROM outbox WHERE idempotency_key = $1")
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?
                .is_some(),
        };
        let rows = sqlx::query(
            "SELECT m.at, m.conversation_id FROM messages m \
             WHERE m.line_id = $1 AND m.direction = 'out' AND m.at >= $2 AND NOT EXISTS \
             (SELECT 1 FROM messages i WHERE i.conversation_id = m.conversation_id \
              AND i.direction = 'in' AND i.kind <> 'system') \
             ORDER BY m.at, m.id LIMIT $3",
        )
        .bind(c.line_id)
        .bind(audit::unix_ms(since))
        .bind(MAX_COLD_LISTED)
        .fetch_all(&mut *tx)
        .await?;
        let sent = rows
            .iter()
            .map(|row| Ok(ColdSend { at: row.try_get(0)?, conversation_id: row.try_get(1)? }))
            .collect::<Result<Vec<_>>>()?;
        Ok(ColdOutreach { line_id: c.line_id, cold: wrote == 0, already_queued, sent })
    }
}
