//! Our sent messages changed afterwards on WhatsApp: edited (a new text) or revoked ("deleted
//! for everyone"), as a Bitrix24 operator asked. The stored message follows, so the panel shows
//! what the customer sees.

use time::OffsetDateTime;

use super::{
    Tenant,
    audit_log::audit_in,
    rows::{MESSAGE_COLUMNS, message_from_row},
};
use crate::{
    Caller, Error, MAX_OUTBOUND_TEXT, Message, MessageId, MessageNote, Result, model::check_len,
};

impl Tenant {
    /// Records that our sent message `message_id` was edited on WhatsApp to `text` (the server
    /// only): the text is replaced and marked [`MessageNote::Edited`]; `record` (the change and
    /// the Bitrix24 ids) is audited.
    pub async fn record_edited(
        &self,
        caller: Caller,
        message_id: MessageId,
        text: &str,
        record: &serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<Message> {
        check_len(text, MAX_OUTBOUND_TEXT, "text longer than 64 KiB")?;
        self.amend(caller, message_id, Some(text), MessageNote::Edited, record, now).await
    }

    /// Records that our sent message `message_id` was revoked on WhatsApp (the server only): it
    /// is marked [`MessageNote::Revoked`] (its text is kept, as in the audit log).
    pub async fn record_revoked(
        &self,
        caller: Caller,
        message_id: MessageId,
        record: &serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<Message> {
        self.amend(caller, message_id, None, MessageNote::Revoked, record, now).await
    }

    async fn amend(
        &self,
        caller: Caller,
        message_id: MessageId,
        text: Option<&str>,
        note: MessageNote,
        record: &serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<Message> {
        caller.require_system("only the server records edits and revokes")?;
        let mut tx = self.write().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE messages SET body = COALESCE($2, body), note = $3 \
             WHERE id = $1 AND direction = 'out' RETURNING {MESSAGE_COLUMNS}"
        )))
        .bind(message_id)
        .bind(text)
        .bind(note.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound("sent message"))?;
        let message = message_from_row(&row)?;
        let subject = format!("message:{message_id}");
        audit_in(
            &self.audit_key,
            &mut tx,
            audit::Kind::ConnectorEvent,
            caller,
            &subject,
            record.to_string().as_bytes(),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(message)
    }
}
