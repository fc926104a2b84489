//! Messages: recording inbound ones, statuses, reading, history.

use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use super::{
    Tenant,
    access::{visible_conversation, visible_line},
    audit_log::audit_in,
    crm::enqueue_crm_in,
    open_channels::enqueue_for_open_line,
    rows::{MESSAGE_COLUMNS, message_from_row},
};
use crate::{
    Caller, ConversationId, Error, HistoryPage, Inbound, LineId, MAX_INBOUND_TEXT, Media, Message,
    MessageId, MessageKind, MessageNote, MessageStatus, ReadOutcome, Recorded, Result,
    StatusChange,
    model::{check_len, page_limit},
};

/// The longest prefix of `text` within `max` bytes that ends on a character boundary.
pub(super) fn cut_at_char(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Our id of the line's message with WhatsApp id `wa_id`, if it is stored.
async fn message_id_by_wa_id(
    tx: &mut AnyConnection,
    line_id: LineId,
    wa_id: &str,
) -> Result<Option<MessageId>> {
    let row = sqlx::query("SELECT id FROM messages WHERE line_id = $1 AND wa_id = $2")
        .bind(line_id)
        .bind(wa_id)
        .fetch_optional(&mut *tx)
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// The line's message with WhatsApp id `wa_id` as recorded before (a redelivery), with its
/// conversation's unread count.
async fn already_recorded(
    tx: &mut AnyConnection,
    line_id: LineId,
    wa_id: &str,
) -> Result<Option<Recorded>> {
    let existing = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE line_id = $1 AND wa_id = $2"
    )))
    .bind(line_id)
    .bind(wa_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = existing else { return Ok(None) };
    let message = message_from_row(&row)?;
    let unread: i64 = sqlx::query("SELECT unread FROM conversations WHERE id = $1")
        .bind(message.conversation_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    Ok(Some(Recorded { message, new: false, unread }))
}

/// Creates the contact (or refreshes its phone and push name) and the conversation of a
/// customer on a line; returns the conversation's id.
pub(super) async fn upsert_conversation(
    tx: &mut AnyConnection,
    line_id: LineId,
    jid: &str,
    phone: Option<&str>,
    push_name: Option<&str>,
    at: i64,
) -> Result<ConversationId> {
    let contact_id: i64 = sqlx::query(
        "INSERT INTO contacts (line_id, jid, phone, push_name, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (line_id, jid) DO UPDATE SET \
         phone = COALESCE(excluded.phone, contacts.phone), \
         push_name = COALESCE(excluded.push_name, contacts.push_name), \
         updated_at = excluded.updated_at RETURNING id",
    )
    .bind(line_id)
    .bind(jid)
    .bind(phone)
    .bind(push_name)
    .bind(at)
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    let conversation_id: i64 = sqlx::query(
        "INSERT INTO conversations (line_id, contact_id, unread) VALUES ($1, $2, 0) \
         ON CONFLICT (line_id, contact_id) DO UPDATE SET unread = conversations.unread \
         RETURNING id",
    )
    .bind(line_id)
    .bind(contact_id)
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    Ok(conversation_id)
}

/// Whether a customer's message of this kind goes on to the line's Open Line (a reaction or a
/// notice of ours has no place in an Open Lines chat).
fn forwards_to_open_line(kind: MessageKind) -> bool {
    !matches!(kind, MessageKind::Reaction | MessageKind::System)
}

/// One inbound row as it is stored: a customer's message, or a notice in their conversation.
struct InboundRow<'a> {
    conversation_id: ConversationId,
    line_id: LineId,
    /// WhatsApp's id; `None` for a notice of our own.
    wa_id: Option<&'a str>,
    kind: MessageKind,
    /// The text or caption, already cut to what is kept.
    text: Option<&'a str>,
    media: Option<&'a Media>,
    quoted_id: Option<MessageId>,
    sender: &'a str,
    /// Unix milliseconds: when it arrived, which is also when it counts as delivered.
    at: i64,
    note: Option<MessageNote>,
}

/// Inserts an inbound row (status `Delivered`) and returns it as stored. The one place inbound
/// rows are written, so that a notice and a customer's message cannot drift apart.
async fn insert_inbound(tx: &mut AnyConnection, m: &InboundRow<'_>) -> Result<Message> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO messages (conversation_id, line_id, wa_id, direction, kind, body, media_path, \
         media_mime, media_size, media_sha256, quoted_id, status, delivered_at, sender, at, note) \
         VALUES ($1, $2, $3, 'in', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $12, $14) \
         RETURNING {MESSAGE_COLUMNS}"
    )))
    .bind(m.conversation_id)
    .bind(m.line_id)
    .bind(m.wa_id)
    .bind(m.kind.as_str())
    .bind(m.text)
    .bind(m.media.map(|x| x.path.clone()))
    .bind(m.media.map(|x| cut_at_char(&x.mime, 255).to_owned()))
    .bind(m.media.map(|x| x.size))
    .bind(m.media.map(|x| x.sha256.to_vec()))
    .bind(m.quoted_id)
    .bind(MessageStatus::Delivered.rank())
    .bind(m.at)
    .bind(m.sender)
    .bind(m.note.map(MessageNote::as_str))
    .fetch_one(&mut *tx)
    .await?;
    message_from_row(&row)
}

impl Tenant {
    /// Records an inbound message (the server's line runtime only): upserts the contact and the
    /// conversation, stores the message, bumps the unread count and appends the raw event to the
    /// audit log, all in one transaction. A redelivered `wa_id` changes nothing. A text over
    /// [`MAX_INBOUND_TEXT`] is cut and noted [`MessageNote::Truncated`]; a noted message also
    /// gets a `wa.message_adjusted` audit record saying why.
    pub async fn record_inbound(
        &self,
        caller: Caller,
        m: &Inbound,
        now: OffsetDateTime,
    ) -> Result<Recorded> {
        caller.require_system("only the server records inbound messages")?;
        check_len(&m.jid, 128, "jid longer than 128 bytes")?;
        check_len(&m.wa_id, 128, "wa_id longer than 128 bytes")?;
        // What the customer sent is stored even when it is larger than we keep: cut, and marked.
        let full_text = m.text.as_deref();
        let text = full_text.map(|t| cut_at_char(t, MAX_INBOUND_TEXT));
        let note = if text.map(str::len) != full_text.map(str::len) {
            Some(MessageNote::Truncated)
        } else {
            m.note
        };
        let push_name = m.push_name.as_deref().map(|n| cut_at_char(n, 256));
        let phone = m.phone.as_deref().filter(|p| p.len() <= 32);
        let mut tx = self.write().await?;
        let line = visible_line(&mut tx, caller, m.line_id).await?;
        if let Some(recorded) = already_recorded(&mut tx, m.line_id, &m.wa_id).await? {
            return Ok(recorded);
        }
        let at = audit::unix_ms(now);
        let conversation_id =
            upsert_conversation(&mut tx, m.line_id, &m.jid, phone, push_name, at).await?;
        let quoted_id = match &m.quoted_wa_id {
            None => None,
            Some(q) => message_id_by_wa_id(&mut tx, m.line_id, q).await?,
        };
        let media = m.media.as_ref().filter(|x| x.path.len() <= 1024);
        let message = insert_inbound(
            &mut tx,
            &InboundRow {
                conversation_id,
                line_id: m.line_id,
                wa_id: Some(&m.wa_id),
                kind: m.kind,
                text,
                media,
                quoted_id,
                sender: &m.jid,
                at,
                note,
            },
        )
        .await?;
        let unread: i64 = sqlx::query(
            "UPDATE conversations SET unread = unread + 1, last_message_id = $2, last_message_at = $3 \
             WHERE id = $1 RETURNING unread",
        )
        .bind(conversation_id)
        .bind(message.id)
        .bind(at)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        if forwards_to_open_line(m.kind) {
            enqueue_for_open_line(&mut tx, &line, message.id, at).await?;
            enqueue_crm_in(&mut tx, &line, conversation_id, at).await?;
        }
        let subject = format!("message:{}", message.id);
        audit_in(
            &self.audit_key,
            &mut tx,
            audit::Kind::MessageReceived,
            caller,
            &subject,
            &m.raw,
            now,
        )
        .await?;
        if let Some(note) = note {
            let why = serde_json::json!({
                "note": note.as_str(),
                "text_bytes": full_text.map(str::len),
                "stored_text_bytes": text.map(str::len),
                "media_stored": media.is_some(),
            })
            .to_string();
            audit_in(
                &self.audit_key,
                &mut tx,
                audit::Kind::MessageAdjusted,
                caller,
                &subject,
                why.as_bytes(),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Recorded { message, new: true, unread })
    }

    /// Records a message the line's own phone (or another of its linked devices) sent to a
    /// customer, seen as a copy (the server's line runtime only): stored as outbound and sent,
    /// by `phone`, without touching the unread count or the contact's name; queued for the
    /// line's Open Line in the same transaction (Bitrix24 shows it as the assigned user's). A
    /// `wa_id` already stored (our own send) changes nothing.
    pub async fn record_sent_from_phone(
        &self,
        caller: Caller,
        m: &Inbound,
        now: OffsetDateTime,
    ) -> Result<Recorded> {
        caller.require_system("only the server records messages sent from the phone")?;
        check_len(&m.jid, 128, "jid longer than 128 bytes")?;
        check_len(&m.wa_id, 128, "wa_id longer than 128 bytes")?;
        let text = m.text.as_deref().map(|t| cut_at_char(t, MAX_INBOUND_TEXT));
        let phone = m.phone.as_deref().filter(|p| p.len() <= 32);
        let mut tx = self.write().await?;
        let line = visible_line(&mut tx, caller, m.line_id).await?;
        if let Some(recorded) = already_recorded(&mut tx, m.line_id, &m.wa_id).await? {
            return Ok(recorded);
        }
        let at = audit::unix_ms(now);
        let conversation_id =
            upsert_conversation(&mut tx, m.line_id, &m.jid, phone, None, at).await?;
        let quoted_id = match &m.quoted_wa_id {
            None => None,
            Some(q) => message_id_by_wa_id(&mut tx, m.line_id, q).await?,
        };
        let media = m.media.as_ref().filter(|x| x.path.len() <= 1024);
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO messages (conversation_id, line_id, wa_id, direction, kind, body, \
             media_path, media_mime, media_size, media_sha256, quoted_id, status, sent_at, sender, \
             at, note) VALUES ($1, $2, $3, 'out', $4, $5, $6, $7, $8, $9, $10, $11, $12, 'phone', \
             $12, $13) RETURNING {MESSAGE_COLUMNS}"
        )))
        .bind(conversation_id)
        .bind(m.line_id)
        .bind(m.wa_id.as_str())
        .bind(m.kind.as_str())
        .bind(text)
        .bind(media.map(|x| x.path.clone()))
        .bind(media.map(|x| cut_at_char(&x.mime, 255).to_owned()))
        .bind(media.map(|x| x.size))
        .bind(media.map(|x| x.sha256.to_vec()))
        .bind(quoted_id)
        .bind(MessageStatus::Sent.rank())
        .bind(at)
        .bind(m.note.map(MessageNote::as_str))
        .fetch_one(&mut *tx)
        .await?;
        let message = message_from_row(&row)?;
        let unread: i64 = sqlx::query(
            "UPDATE conversations SET last_message_id = $2, last_message_at = $3 WHERE id = $1 \
             RETURNING unread",
        )
        .bind(conversation_id)
        .bind(message.id)
        .bind(at)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        if forwards_to_open_line(m.kind) {
            enqueue_for_open_line(&mut tx, &line, message.id, at).await?;
        }
        let subject = format!("message:{}", message.id);
        audit_in(
            &self.audit_key,
            &mut tx,
            audit::Kind::MessageReceived,
            caller,
            &subject,
            &m.raw,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Recorded { message, new: true, unread })
    }

    /// Records that a customer's WhatsApp identity key changed (the server's line runtime only):
    /// a "security code changed" notice in their conversation (a [`MessageKind::System`]
    /// message with [`MessageNote::IdentityChanged`], not counted as unread) and an
    /// `identity changed` audit record with the raw event, in one transaction.
    pub async fn record_identity_changed(
        &self,
        caller: Caller,
        line_id: LineId,
        jid: &str,
        phone: Option<&str>,
        raw: &[u8],
        now: OffsetDateTime,
    ) -> Result<Message> {
        caller.require_system("only the server records identity changes")?;
        check_len(jid, 128, "jid longer than 128 bytes")?;
        let phone = phone.filter(|p| p.len() <= 32);
        let mut tx = self.write().await?;
        visible_line(&mut tx, caller, line_id).await?;
        let at = audit::unix_ms(now);
        let conversation_id = upsert_conversation(&mut tx, line_id, jid, phone, None, at).await?;
        let notice = InboundRow {
            conversation_id,
            line_id,
            wa_id: None,
            kind: MessageKind::System,
            text: None,
            media: None,
            quoted_id: None,
            sender: jid,
            at,
            note: Some(MessageNote::IdentityChanged),
        };
        let message = insert_inbound(&mut tx, &notice).await?;
        let subject = format!("message:{}", message.id);
        audit_in(
            &self.audit_key,
            &mut tx,
            audit::Kind::IdentityChanged,
            caller,
            &subject,
            raw,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(message)
    }

    /// Marks a conversation read for whoever works its line (see [`ReadOutcome`]): its unread
    /// count goes to zero and its inbound messages not yet read get the `Read` status, their
    /// WhatsApp ids returned for the read receipts. Anyone else who may see the conversation
    /// (an administrator looking at an agent's chat) changes nothing.
    pub async fn mark_read(
        &self,
        caller: Caller,
        conversation: ConversationId,
        now: OffsetDateTime,
    ) -> Result<ReadOutcome> {
        let mut tx = self.write().await?;
        let conv = visible_conversation(&mut tx, caller, conversation).await?;
        let line = visible_line(&mut tx, caller, conv.line_id).await?;
        // A department's line is worked by its members: whoever of them opens the chat.
        let owner = match (caller, line.assigned_user) {
            (Caller::User(uid) | Caller::Admin(uid), Some(assigned)) if uid == assigned => true,
            (Caller::User(_), _) => line.assigned_department.is_some(),
            (Caller::Admin(_), None) => true,
            _ => false,
        };
        let mut outcome = ReadOutcome {
            line_id: line.id,
            chat: conv.contact.jid,
            cleared: owner,
            unread: conv.unread,
            newly_read: Vec::new(),
            send_read_receipts: line.send_read_receipts,
        };
        if !owner {
            return Ok(outcome);
        }
        let rows = sqlx::query(
            "UPDATE messages SET status = $3, read_at = COALESCE(read_at, $2) \
             WHERE conversation_id = $1 AND direction = 'in' AND status < $3 RETURNING id, wa_id",
        )
        .bind(conversation)
        .bind(audit::unix_ms(now))
        .bind(MessageStatus::Read.rank())
        .fetch_all(&mut *tx)
        .await?;
        let mut read = rows
            .iter()
            .map(|r| Ok((r.try_get::<i64, _>(0)?, r.try_get::<Option<String>, _>(1)?)))
            .collect::<Result<Vec<_>>>()?;
        read.sort_unstable();
        outcome.newly_read = read.into_iter().filter_map(|(_, wa_id)| wa_id).collect();
        sqlx::query("UPDATE conversations SET unread = 0 WHERE id = $1")
            .bind(conversation)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        outcome.unread = 0;
        Ok(outcome)
    }

    /// Applies a receipt (the server's line runtime only). The status only moves forward
    /// (pending, sent, delivered, read); each step's time is kept, and a later step fills the
    /// times of the steps it implies. The raw receipt is audited either way.
    pub async fn update_status(
        &self,
        caller: Caller,
        line_id: LineId,
        wa_id: &str,
        status: MessageStatus,
        raw: &[u8],
        now: OffsetDateTime,
    ) -> Result<StatusChange> {
        caller.require_system("only the server applies receipts")?;
        check_len(wa_id, 128, "wa_id longer than 128 bytes")?;
        let mut tx = self.write().await?;
        visible_line(&mut tx, caller, line_id).await?;
        let at = audit::unix_ms(now);
        let updated = sqlx::query(
            "UPDATE messages SET status = $1, \
             sent_at = CASE WHEN $1 >= 1 THEN COALESCE(sent_at, $2) ELSE sent_at END, \
             delivered_at = CASE WHEN $1 >= 2 THEN COALESCE(delivered_at, $2) ELSE delivered_at END, \
             read_at = CASE WHEN $1 >= 3 THEN COALESCE(read_at, $2) ELSE read_at END \
             WHERE line_id = $3 AND wa_id = $4 AND status < $1 RETURNING id",
        )
        .bind(status.rank())
        .bind(at)
        .bind(line_id)
        .bind(wa_id)
        .fetch_optional(&mut *tx)
        .await?;
        let (change, subject) = match updated {
            Some(row) => {
                let id: MessageId = row.try_get(0)?;
                super::operator_ticks::queue_operator_ticks_in(&mut tx, id, status, at).await?;
                super::sms::queue_sms_statuses_in(&mut tx, id, status, at).await?;
                (StatusChange::Advanced(id), format!("message:{id}"))
            }
            None => match message_id_by_wa_id(&mut tx, line_id, wa_id).await? {
                Some(id) => (StatusChange::Unchanged, format!("message:{id}")),
                None => (StatusChange::UnknownMessage, format!("line:{line_id}")),
            },
        };
        audit_in(&self.audit_key, &mut tx, audit::Kind::StatusUpdate, caller, &subject, raw, now)
            .await?;
        tx.commit().await?;
        Ok(change)
    }

    /// One page of a conversation's history, newest first. `before` is the previous page's
    /// [`HistoryPage::next`] (keyset pagination: stable while new messages arrive).
    pub async fn history(
        &self,
        caller: Caller,
        conversation: ConversationId,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<HistoryPage> {
        let limit = page_limit(limit)?;
        let mut tx = self.read().await?;
        visible_conversation(&mut tx, caller, conversation).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND id < $2 \
             ORDER BY id DESC LIMIT $3"
        )))
        .bind(conversation)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit + 1)
        .fetch_all(&mut *tx)
        .await?;
        let mut messages = rows.iter().map(message_from_row).collect::<Result<Vec<_>>>()?;
        let more = i64::try_from(messages.len()).unwrap_or(i64::MAX) > limit;
        messages.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next = if more { messages.last().map(|m| m.id) } else { None };
        Ok(HistoryPage { messages, next })
    }

    /// The message with WhatsApp id `wa_id` on a line, if there is one (the server only).
    pub async fn message_by_wa_id(
        &self,
        caller: Caller,
        line_id: LineId,
        wa_id: &str,
    ) -> Result<Option<Message>> {
        caller.require_system("only the server looks messages up by WhatsApp id")?;
        let mut tx = self.read().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE line_id = $1 AND wa_id = $2"
        )))
        .bind(line_id)
        .bind(wa_id)
        .fetch_optional(&mut *tx)
        .await?;
        row.as_ref().map(message_from_row).transpose()
    }

    /// One message, if the caller may see its line.
    pub async fn message(&self, caller: Caller, id: MessageId) -> Result<Message> {
        let mut tx = self.read().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound("message"))?;
        let message = message_from_row(&row)?;
        visible_conversation(&mut tx, caller, message.conversation_id)
            .await
            .map_err(|_| Error::NotFound("message"))?;
        Ok(message)
    }
}
