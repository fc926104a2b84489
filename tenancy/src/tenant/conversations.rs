//! Conversations of the lines a caller sees.

use sqlx::AnyConnection;

use super::{
    Tenant,
    access::{visible_conversation, visible_line},
    rows::{CONVERSATION_COLUMNS, MESSAGE_COLUMNS, conversation_from_row, message_from_row},
};
use crate::{Caller, Conversation, ConversationId, LineId, Message, MessageId, Result};

/// The conversations of a line the caller may see, most recent first.
async fn line_conversations(
    tx: &mut AnyConnection,
    caller: Caller,
    line_id: LineId,
) -> Result<Vec<Conversation>> {
    visible_line(tx, caller, line_id).await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations c JOIN contacts k ON k.id = c.contact_id \
         WHERE c.line_id = $1 ORDER BY c.last_message_at DESC, c.id DESC"
    )))
    .bind(line_id)
    .fetch_all(&mut *tx)
    .await?;
    rows.iter().map(conversation_from_row).collect()
}

impl Tenant {
    /// The conversations of a line the caller may see, most recent first.
    pub async fn conversations(
        &self,
        caller: Caller,
        line_id: LineId,
    ) -> Result<Vec<Conversation>> {
        let mut tx = self.read().await?;
        line_conversations(&mut tx, caller, line_id).await
    }

    /// [`Tenant::conversations`] with each one's newest message (for a list's previews), read
    /// in one snapshot with one query for all the messages.
    pub async fn conversations_with_last_message(
        &self,
        caller: Caller,
        line_id: LineId,
    ) -> Result<Vec<(Conversation, Option<Message>)>> {
        let mut tx = self.read().await?;
        let conversations = line_conversations(&mut tx, caller, line_id).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id IN \
             (SELECT last_message_id FROM conversations WHERE line_id = $1)"
        )))
        .bind(line_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut last: std::collections::HashMap<MessageId, Message> =
            rows.iter().map(|r| message_from_row(r).map(|m| (m.id, m))).collect::<Result<_>>()?;
        Ok(conversations
            .into_iter()
            .map(|c| {
                let message = c.last_message_id.and_then(|id| last.remove(&id));
                (c, message)
            })
            .collect())
    }

    /// The conversation of `line_id` with the contact whose JID or phone number is `contact`
    /// (the external chat id an Open Channel knows it by: a number names the JID
    /// `<number>@s.whatsapp.net` too), if there is one.
    pub async fn conversation_with(
        &self,
        caller: Caller,
        line_id: LineId,
        contact: &str,
    ) -> Result<Option<Conversation>> {
        let mut tx = self.read().await?;
        visible_line(&mut tx, caller, line_id).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations c JOIN contacts k ON k.id = c.contact_id \
             WHERE c.line_id = $1 AND (k.jid = $2 OR k.jid = $3 OR k.phone = $2) ORDER BY CASE WHEN k.jid = $2 THEN 0 ELSE 1 END, c.id LIMIT 1"
        )))
        .bind(line_id)
        .bind(contact)
        .bind(format!("{contact}@s.whatsapp.net"))
        .fetch_optional(&mut *tx)
        .await?;
        row.as_ref().map(conversation_from_row).transpose()
    }

    /// One conversation, if the caller may see its line.
    pub async fn conversation(&self, caller: Caller, id: ConversationId) -> Result<Conversation> {
        let mut tx = self.read().await?;
        visible_conversation(&mut tx, caller, id).await
    }
}
