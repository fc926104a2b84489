//! Column lists and row decoders shared by the sections.

use sqlx::{Row, any::AnyRow};

use crate::{
    Contact, Conversation, Error, Line, Media, Message, MessageStatus, OutboxItem, Result,
};

pub(super) const MESSAGE_COLUMNS: &str = "id, conversation_id, line_id, wa_id, direction, kind, body, \
    media_path, media_mime, media_size, media_sha256, quoted_id, status, sent_at, delivered_at, \
    read_at, sender, at, note";

pub(super) const LINE_COLUMNS: &str = "id, name, phone, status, assigned_user, created_at, send_read_receipts, open_channel, \
    open_line_id, open_channel_status, open_channel_signature, assigned_department, responsible_mode";

/// [`LINE_COLUMNS`] of a line joined as `l`.
pub(super) const LINE_COLUMNS_OF_L: &str = "l.id, l.name, l.phone, l.status, l.assigned_user, \
    l.created_at, l.send_read_receipts, l.open_channel, l.open_line_id, l.open_channel_status, \
    l.open_channel_signature, l.assigned_department, l.responsible_mode";

pub(super) const CONVERSATION_COLUMNS: &str = "c.id, c.line_id, c.unread, c.last_message_id, \
    c.last_message_at, k.id AS contact_id, k.jid, k.phone, k.push_name";

pub(super) fn line_from_row(row: &AnyRow) -> Result<Line> {
    let status: String = row.try_get("status")?;
    Ok(Line {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        phone: row.try_get("phone")?,
        status: status.parse()?,
        assigned_user: row.try_get("assigned_user")?,
        created_at: row.try_get("created_at")?,
        send_read_receipts: row.try_get::<i64, _>("send_read_receipts")? != 0,
        open_channel: row.try_get::<String, _>("open_channel")?.parse()?,
        open_line_id: row.try_get("open_line_id")?,
        open_channel_status: row.try_get::<String, _>("open_channel_status")?.parse()?,
        open_channel_signature: row.try_get::<i64, _>("open_channel_signature")? != 0,
        assigned_department: row.try_get("assigned_department")?,
        responsible_mode: row.try_get::<String, _>("responsible_mode")?.parse()?,
    })
}

pub(super) fn message_from_row(row: &AnyRow) -> Result<Message> {
    let direction: String = row.try_get("direction")?;
    let kind: String = row.try_get("kind")?;
    let media_path: Option<String> = row.try_get("media_path")?;
    let media = match media_path {
        None => None,
        Some(path) => {
            let sha: Vec<u8> =
                row.try_get::<Option<Vec<u8>>, _>("media_sha256")?.unwrap_or_default();
            Some(Media {
                path,
                mime: row.try_get::<Option<String>, _>("media_mime")?.unwrap_or_default(),
                size: row.try_get::<Option<i64>, _>("media_size")?.unwrap_or_default(),
                sha256: sha.as_slice().try_into().map_err(|_| Error::Corrupt("media hash"))?,
            })
        }
    };
    Ok(Message {
        id: row.try_get("id")?,
        conversation_id: row.try_get("conversation_id")?,
        line_id: row.try_get("line_id")?,
        wa_id: row.try_get("wa_id")?,
        direction: direction.parse()?,
        kind: kind.parse()?,
        text: row.try_get("body")?,
        media,
        quoted_id: row.try_get("quoted_id")?,
        status: MessageStatus::from_rank(row.try_get("status")?)?,
        sent_at: row.try_get("sent_at")?,
        delivered_at: row.try_get("delivered_at")?,
        read_at: row.try_get("read_at")?,
        sender: row.try_get("sender")?,
        at: row.try_get("at")?,
        note: row.try_get::<Option<String>, _>("note")?.map(|n| n.parse()).transpose()?,
    })
}

pub(super) fn conversation_from_row(row: &AnyRow) -> Result<Conversation> {
    let line_id = row.try_get("line_id")?;
    Ok(Conversation {
        id: row.try_get("id")?,
        line_id,
        contact: Contact {
            id: row.try_get("contact_id")?,
            line_id,
            jid: row.try_get("jid")?,
            phone: row.try_get("phone")?,
            push_name: row.try_get("push_name")?,
        },
        unread: row.try_get("unread")?,
        last_message_id: row.try_get("last_message_id")?,
        last_message_at: row.try_get("last_message_at")?,
    })
}

pub(super) fn outbox_from_row(r: &AnyRow) -> Result<OutboxItem> {
    Ok(OutboxItem {
        id: r.try_get("id")?,
        line_id: r.try_get("line_id")?,
        message_id: r.try_get("message_id")?,
        kind: r.try_get::<String, _>("kind")?.parse()?,
        idempotency_key: r.try_get("idempotency_key")?,
        state: r.try_get("state")?,
        attempts: r.try_get("attempts")?,
    })
}
