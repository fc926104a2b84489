//! Messages changed afterwards on WhatsApp: edited (a new text) or revoked ("deleted for
//! everyone"). Our sent messages as a Bitrix24 operator asked; and what arrives from WhatsApp,
//! a customer changing their message or the business phone changing one of ours. The stored
//! message follows, so the panel shows what the customer sees; what it said before is in the
//! audit log.

use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use super::{
    Tenant,
    access::visible_line,
    audit_log::audit_in,
    messages::cut_at_char,
    open_channels::enqueue_b24_in,
    rows::{MESSAGE_COLUMNS, message_from_row},
};
use crate::{
    B24Enqueue, B24OutboxKind, Caller, Error, Line, MAX_INBOUND_TEXT, MAX_OUTBOUND_TEXT, Message,
    MessageId, MessageNote, OpenLineChange, Result, WaAmended, WaAmendment, WaChange,
    model::check_len,
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

/// The message `a` may change: the sender's own (a customer's inbound message of this chat, or,
/// from the business phone, one of ours in it), as WhatsApp allows.
async fn amendable(tx: &mut AnyConnection, a: &WaAmendment) -> Result<Option<Message>> {
    let direction = if a.from_me { "out" } else { "in" };
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE line_id = $1 AND wa_id = $2 \
         AND direction = $3 AND conversation_id IN (SELECT c.id FROM conversations c \
         JOIN contacts k ON k.id = c.contact_id WHERE c.line_id = $1 AND k.jid = $4)"
    )))
    .bind(a.line_id)
    .bind(a.target_wa_id.as_str())
    .bind(direction)
    .bind(a.jid.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    row.as_ref().map(message_from_row).transpose()
}

/// What the message said before, for the audit record.
fn previous(m: &Message) -> serde_json::Value {
    serde_json::json!({
        "text": m.text,
        "media": m.media.as_ref().map(|x| serde_json::json!({
            "path": x.path, "mime": x.mime, "size": x.size, "sha256": hex::encode(x.sha256),
        })),
        "note": m.note.map(MessageNote::as_str),
    })
}

/// The outbox key of an amendment of `message_id` for the Open Line (a revoke happens once; each
/// edit is its own, named by its WhatsApp id or, when that is long, a digest of it).
fn open_line_key(kind: B24OutboxKind, message_id: MessageId, wa_id: &str) -> String {
    match kind {
        B24OutboxKind::UpdateMessage if wa_id.len() <= 64 => format!("{kind}:{message_id}:{wa_id}"),
        B24OutboxKind::UpdateMessage => {
            use sha2::Digest as _;
            let digest = sha2::Sha256::digest(wa_id.as_bytes());
            format!("{kind}:{message_id}:{}", hex::encode(&digest[..16]))
        }
        _ => format!("{kind}:{message_id}"),
    }
}

/// Queues telling the line's Open Line of the change, when the message went (or is queued to
/// go) there: in the transaction of the change.
async fn enqueue_open_line_change(
    tx: &mut AnyConnection,
    line: &Line,
    change: &OpenLineChange,
    a: &WaAmendment,
    at: i64,
) -> Result<()> {
    let Some(open_line_id) = line.open_line_id.filter(|_| line.open_channel.feeds_open_line())
    else {
        return Ok(());
    };
    let sent = format!("{}:{}", B24OutboxKind::SendMessage, change.message_id);
    let went: i64 = sqlx::query(
        "SELECT COUNT(*) FROM b24_outbox WHERE idempotency_key = $1 AND state <> 'failed'",
    )
    .bind(sent)
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    if went == 0 {
        return Ok(());
    }
    let kind = match a.change {
        WaChange::Edit(_) => B24OutboxKind::UpdateMessage,
        WaChange::Revoke => B24OutboxKind::DeleteMessage,
    };
    let item = B24Enqueue {
        line_id: line.id,
        message_id: Some(change.message_id),
        kind,
        payload: serde_json::json!({
            "open_line_id": open_line_id,
            "messages": [change.element],
        })
        .to_string(),
        idempotency_key: open_line_key(kind, change.message_id, &a.wa_id),
    };
    enqueue_b24_in(tx, &item, at).await.map(|_| ())
}

impl Tenant {
    /// Records an edit or a revoke that arrived from WhatsApp (the server's line runtime only),
    /// in one transaction: the sender's message changes (an edit replaces the text and notes it
    /// [`MessageNote::Edited`]; a customer's revoke empties text and file and notes it
    /// [`MessageNote::Revoked`], the business phone's keeps ours as it was, noted), what it said
    /// before and the raw event go to the audit log, and, when `open_line` is about that
    /// message and it went to the line's Open Line, `imconnector.update.messages` /
    /// `delete.messages` is queued with `open_line`'s element. An amendment already applied, or
    /// any of a revoked message, changes nothing (and is audited).
    pub async fn record_wa_amendment(
        &self,
        caller: Caller,
        a: &WaAmendment,
        open_line: Option<&OpenLineChange>,
        now: OffsetDateTime,
    ) -> Result<WaAmended> {
        caller.require_system("only the server records WhatsApp edits and revokes")?;
        check_len(&a.jid, 128, "jid longer than 128 bytes")?;
        check_len(&a.wa_id, 128, "wa_id longer than 128 bytes")?;
        check_len(&a.target_wa_id, 128, "wa_id longer than 128 bytes")?;
        let mut tx = self.write().await?;
        let line = visible_line(&mut tx, caller, a.line_id).await?;
        let at = audit::unix_ms(now);
        let seen =
            sqlx::query("SELECT message_id FROM wa_amendments WHERE line_id = $1 AND wa_id = $2")
                .bind(a.line_id)
                .bind(a.wa_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(row) = seen {
            let id: MessageId = row.try_get(0)?;
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1"
            )))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            return Ok(WaAmended::Unchanged(message_from_row(&row)?));
        }
        let raw: serde_json::Value = serde_json::from_slice(&a.raw)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&a.raw).into()));
        let mut record = serde_json::json!({
            "event": "amendment",
            "kind": a.change.as_str(),
            "from_me": a.from_me,
            "wa_id": a.wa_id,
            "target_wa_id": a.target_wa_id,
            "raw": raw,
        });
        let Some(target) = amendable(&mut tx, a).await? else {
            if a.change == WaChange::Revoke {
                record["found"] = serde_json::json!(false);
                let subject = format!("line:{}", a.line_id);
                audit_in(
                    &self.audit_key,
                    &mut tx,
                    audit::Kind::MessageReceived,
                    caller,
                    &subject,
                    record.to_string().as_bytes(),
                    now,
                )
                .await?;
                tx.commit().await?;
            }
            return Ok(WaAmended::Unknown);
        };
        record["previous"] = previous(&target);
        let changed = if target.note == Some(MessageNote::Revoked) {
            None
        } else {
            let (set, text) = match (&a.change, a.from_me) {
                (WaChange::Edit(text), _) => {
                    ("body = $2, note = 'edited'", Some(cut_at_char(text, MAX_INBOUND_TEXT)))
                }
                (WaChange::Revoke, true) => ("note = 'revoked'", None),
                // The customer's content goes; the audit record keeps it.
                (WaChange::Revoke, false) => (
                    "body = NULL, media_path = NULL, media_mime = NULL, media_size = NULL, \
                     media_sha256 = NULL, note = 'revoked'",
                    None,
                ),
            };
            let sql =
                format!("UPDATE messages SET {set} WHERE id = $1 RETURNING {MESSAGE_COLUMNS}");
            let query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(target.id);
            let query = match text {
                Some(text) => query.bind(text),
                None => query,
            };
            Some(message_from_row(&query.fetch_one(&mut *tx).await?)?)
        };
        sqlx::query(
            "INSERT INTO wa_amendments (line_id, wa_id, message_id, kind, at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(a.line_id)
        .bind(a.wa_id.as_str())
        .bind(target.id)
        .bind(a.change.as_str())
        .bind(at)
        .execute(&mut *tx)
        .await?;
        if changed.is_some()
            && let Some(change) = open_line.filter(|c| c.message_id == target.id)
        {
            enqueue_open_line_change(&mut tx, &line, change, a, at).await?;
        }
        record["changed"] = serde_json::json!(changed.is_some());
        audit_in(
            &self.audit_key,
            &mut tx,
            audit::Kind::MessageReceived,
            caller,
            &format!("message:{}", target.id),
            record.to_string().as_bytes(),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(match changed {
            Some(message) => WaAmended::Changed(message),
            None => WaAmended::Unchanged(target),
        })
    }
}
