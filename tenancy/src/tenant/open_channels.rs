//! The Bitrix24 Open Channels connector's storage: the outbox towards Bitrix24 (queued in the
//! transaction of the change it carries, claimed, completed, retried with backoff), the links
//! between our messages and Bitrix24's, and the connector events already handled.

use sqlx::{AnyConnection, Row, any::AnyRow};
use time::OffsetDateTime;

use super::{
    Tenant,
    access::visible_line,
    audit_log::audit_in,
    rows::{LINE_COLUMNS, line_from_row},
};
use crate::{
    B24Enqueue, B24MessageLink, B24OutboxItem, B24OutboxKind, B24OutboxState, Caller, Error, Line,
    LineId, MessageId, OpenChannelStatus, Result,
    model::{check_len, page_limit},
};

const B24_OUTBOX_COLUMNS: &str = "id, line_id, message_id, kind, payload, idempotency_key, state, \
    attempts, next_attempt_at, last_error, created_at";

const LINK_COLUMNS: &str =
    "message_id, line_id, b24_message_id, b24_chat_id, external_chat_id, session_id";

/// The longest payload of an outbox item, in bytes.
const MAX_PAYLOAD: usize = 65_536;

/// The longest stored error, in bytes (the rest is cut).
const MAX_ERROR: usize = 1024;

fn item_from_row(r: &AnyRow) -> Result<B24OutboxItem> {
    Ok(B24OutboxItem {
        id: r.try_get("id")?,
        line_id: r.try_get("line_id")?,
        message_id: r.try_get("message_id")?,
        kind: r.try_get::<String, _>("kind")?.parse()?,
        payload: r.try_get("payload")?,
        idempotency_key: r.try_get("idempotency_key")?,
        state: r.try_get::<String, _>("state")?.parse()?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
    })
}

fn link_from_row(r: &AnyRow) -> Result<B24MessageLink> {
    Ok(B24MessageLink {
        message_id: r.try_get("message_id")?,
        line_id: r.try_get("line_id")?,
        b24_message_id: r.try_get("b24_message_id")?,
        b24_chat_id: r.try_get("b24_chat_id")?,
        external_chat_id: r.try_get("external_chat_id")?,
        session_id: r.try_get("session_id")?,
    })
}

/// The start of `text` within `max` bytes, cut on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn check_item(item: &B24Enqueue) -> Result<()> {
    check_len(&item.idempotency_key, 128, "idempotency key longer than 128 bytes")?;
    if item.idempotency_key.is_empty() {
        return Err(Error::InvalidInput("empty idempotency key"));
    }
    check_len(&item.payload, MAX_PAYLOAD, "outbox payload longer than 64 KiB")?;
    serde_json::from_str::<serde_json::Value>(&item.payload)
        .map_err(|_| Error::InvalidInput("outbox payload is not JSON"))?;
    Ok(())
}

/// Queues `item` inside `tx` once per idempotency key; returns the item and whether it is new.
/// The same key with another line, kind, message or payload is [`Error::IdempotencyKeyReused`].
pub(super) async fn enqueue_b24_in(
    tx: &mut AnyConnection,
    item: &B24Enqueue,
    at: i64,
) -> Result<(B24OutboxItem, bool)> {
    let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO b24_outbox (line_id, message_id, kind, payload, idempotency_key, state, \
         attempts, next_attempt_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, $6) \
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING {B24_OUTBOX_COLUMNS}"
    )))
    .bind(item.line_id)
    .bind(item.message_id)
    .bind(item.kind.as_str())
    .bind(item.payload.as_str())
    .bind(item.idempotency_key.as_str())
    .bind(at)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(row) = inserted {
        return Ok((item_from_row(&row)?, true));
    }
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {B24_OUTBOX_COLUMNS} FROM b24_outbox WHERE idempotency_key = $1"
    )))
    .bind(item.idempotency_key.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let stored = item_from_row(&row)?;
    let same = stored.line_id == item.line_id
        && stored.message_id == item.message_id
        && stored.kind == item.kind
        && stored.payload == item.payload;
    if same { Ok((stored, false)) } else { Err(Error::IdempotencyKeyReused) }
}

/// Queues a customer's message for the line's Open Line, when the line feeds one: called in the
/// transaction that stores the message, so that a crash cannot keep one without the other.
pub(super) async fn enqueue_for_open_line(
    tx: &mut AnyConnection,
    line: &Line,
    message_id: MessageId,
    at: i64,
) -> Result<()> {
    let Some(open_line_id) = line.open_line_id.filter(|_| line.open_channel.feeds_open_line())
    else {
        return Ok(());
    };
    let item = B24Enqueue {
        line_id: line.id,
        message_id: Some(message_id),
        kind: B24OutboxKind::SendMessage,
        payload: serde_json::json!({ "open_line_id": open_line_id }).to_string(),
        idempotency_key: format!("{}:{message_id}", B24OutboxKind::SendMessage),
    };
    enqueue_b24_in(tx, &item, at).await.map(|_| ())
}

/// Queues telling Bitrix24 the connector's state on a line (activation, deactivation, status)
/// after a change of its settings or of its WhatsApp state; `previous_open_line_id` is the Open
/// Line it fed before, to deactivate when it changed.
pub(super) async fn enqueue_connector_status(
    tx: &mut AnyConnection,
    tenant: &Tenant,
    line: &Line,
    previous_open_line_id: Option<i64>,
    at: i64,
) -> Result<()> {
    let mut nonce = [0_u8; 8];
    tenant.random.fill(&mut nonce)?;
    let item = B24Enqueue {
        line_id: line.id,
        message_id: None,
        kind: B24OutboxKind::ConnectorStatus,
        payload: serde_json::json!({
            "open_channel": line.open_channel.as_str(),
            "open_line_id": line.open_line_id,
            "previous_open_line_id": previous_open_line_id,
            "line_status": line.status.as_str(),
        })
        .to_string(),
        idempotency_key: format!(
            "{}:{}:{at}:{}",
            B24OutboxKind::ConnectorStatus,
            line.id,
            hex::encode(nonce)
        ),
    };
    enqueue_b24_in(tx, &item, at).await.map(|_| ())
}

impl Tenant {
    /// Queues a call towards Bitrix24 (the server only), once per idempotency key; returns the
    /// item and whether it was queued by this call.
    pub async fn enqueue_b24(
        &self,
        caller: Caller,
        item: &B24Enqueue,
        now: OffsetDateTime,
    ) -> Result<(B24OutboxItem, bool)> {
        caller.require_system("only the server queues calls to Bitrix24")?;
        check_item(item)?;
        let mut tx = self.write().await?;
        visible_line(&mut tx, caller, item.line_id).await?;
        let queued = enqueue_b24_in(&mut tx, item, audit::unix_ms(now)).await?;
        tx.commit().await?;
        Ok(queued)
    }

    /// Claims up to `limit` items that are due, oldest first, for `lease` (the server only): they
    /// become `sending`, their attempt is counted, and they are due again when the lease ends
    /// (a process that dies mid-call leaves them to the next claim). An item waits while an
    /// older unfinished item of its line is not due, so each line's calls keep their order;
    /// CRM work (`crm_*` kinds) and the Open Line calls are two separate queues of the line;
    /// connector events to confirm (`confirm_event`, reads of the portal) neither wait nor are
    /// waited for.
    /// Safe for one process at a time.
    pub async fn claim_b24_outbox(
        &self,
        caller: Caller,
        limit: u32,
        lease: std::time::Duration,
        now: OffsetDateTime,
    ) -> Result<Vec<B24OutboxItem>> {
        caller.require_system("only the server sends to Bitrix24")?;
        let limit = page_limit(limit)?;
        let at = audit::unix_ms(now);
        let until = at.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        // Most rounds find nothing: a read says so without taking the writer's turn.
        let mut read = self.read().await?;
        let due = sqlx::query(
            "SELECT id FROM b24_outbox WHERE state IN ('pending', 'sending') \
             AND next_attempt_at <= $1 LIMIT 1",
        )
        .bind(at)
        .fetch_optional(&mut *read)
        .await?;
        drop(read);
        if due.is_none() {
            return Ok(vec![]);
        }
        let mut tx = self.write().await?;
        let ids: Vec<i64> = sqlx::query(
            "SELECT o.id FROM b24_outbox o \
             WHERE o.state IN ('pending', 'sending') AND o.next_attempt_at <= $1 \
             AND (o.kind = 'confirm_event' OR NOT EXISTS (SELECT 1 FROM b24_outbox e \
                 WHERE e.line_id = o.line_id AND e.kind <> 'confirm_event' \
                 AND (e.kind LIKE 'crm_%') = (o.kind LIKE 'crm_%') \
                 AND e.state IN ('pending', 'sending') AND e.id < o.id AND e.next_attempt_at > $1)) \
             ORDER BY o.id LIMIT $2",
        )
        .bind(at)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
        let mut claimed = Vec::with_capacity(ids.len());
        for id in ids {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE b24_outbox SET state = 'sending', attempts = attempts + 1, \
                 next_attempt_at = $2, updated_at = $3 WHERE id = $1 RETURNING {B24_OUTBOX_COLUMNS}"
            )))
            .bind(id)
            .bind(until)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?;
            claimed.push(item_from_row(&row)?);
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Marks a claimed item done (the server only), with what Bitrix24 answered: the link between
    /// our message and Bitrix24's when the call made one, and a `b24.connector_call` audit record
    /// (`answer`: the method and Bitrix24's ids), all in one transaction. An item already done
    /// is left as it is (`Ok(false)`).
    pub async fn complete_b24_outbox(
        &self,
        caller: Caller,
        id: i64,
        link: Option<&B24MessageLink>,
        answer: &serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<bool> {
        caller.require_system("only the server sends to Bitrix24")?;
        if let Some(link) = link {
            check_link(link)?;
        }
        let at = audit::unix_ms(now);
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "UPDATE b24_outbox SET state = 'done', last_error = NULL, updated_at = $2 \
             WHERE id = $1 AND state IN ('pending', 'sending') RETURNING line_id, kind",
        )
        .bind(id)
        .bind(at)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return match self.b24_outbox_item_in(&mut tx, id).await? {
                Some(_) => Ok(false),
                None => Err(Error::NotFound("Bitrix24 outbox item")),
            };
        };
        let line_id: LineId = row.try_get(0)?;
        let kind: String = row.try_get(1)?;
        if let Some(link) = link {
            insert_link(&mut tx, link, at).await?;
        }
        let payload = serde_json::json!({ "outbox_id": id, "kind": kind, "answer": answer });
        audit_in(
            &self.audit_key,
            &mut tx,
            audit::Kind::ConnectorCall,
            caller,
            &format!("line:{line_id}"),
            payload.to_string().as_bytes(),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Puts a claimed item back for another attempt at `retry_at` (the server only), keeping the
    /// error (Bitrix24 down, rate limited, a token being refreshed). Not audited: the attempt
    /// that succeeds or fails for good is.
    pub async fn retry_b24_outbox(
        &self,
        caller: Caller,
        id: i64,
        error: &str,
        retry_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<()> {
        caller.require_system("only the server sends to Bitrix24")?;
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE b24_outbox SET state = 'pending', next_attempt_at = $2, last_error = $3, \
             updated_at = $4 WHERE id = $1 AND state IN ('pending', 'sending')",
        )
        .bind(id)
        .bind(audit::unix_ms(retry_at))
        .bind(cut(error, MAX_ERROR))
        .bind(audit::unix_ms(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 0 {
            return Err(Error::NotFound("unfinished Bitrix24 outbox item"));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Gives a claimed item up (the server only): Bitrix24 refused it for good. The item stays
    /// `failed` with its error, and a `b24.connector_call` audit record says so.
    pub async fn fail_b24_outbox(
        &self,
        caller: Caller,
        id: i64,
        error: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        caller.require_system("only the server sends to Bitrix24")?;
        let error = cut(error, MAX_ERROR);
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "UPDATE b24_outbox SET state = 'failed', last_error = $2, updated_at = $3 \
             WHERE id = $1 AND state IN ('pending', 'sending') RETURNING line_id, kind",
        )
        .bind(id)
        .bind(error)
        .bind(audit::unix_ms(now))
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound("unfinished Bitrix24 outbox item"))?;
        let line_id: LineId = row.try_get(0)?;
        let kind: String = row.try_get(1)?;
        let payload = serde_json::json!({ "outbox_id": id, "kind": kind, "error": error });
        audit_in(
            &self.audit_key,
            &mut tx,
            audit::Kind::ConnectorCall,
            caller,
            &format!("line:{line_id}"),
            payload.to_string().as_bytes(),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// One outbox item (the server only).
    pub async fn b24_outbox_item(&self, caller: Caller, id: i64) -> Result<B24OutboxItem> {
        caller.require_system("only the server reads the Bitrix24 outbox")?;
        let mut tx = self.read().await?;
        self.b24_outbox_item_in(&mut tx, id).await?.ok_or(Error::NotFound("Bitrix24 outbox item"))
    }

    async fn b24_outbox_item_in(
        &self,
        tx: &mut AnyConnection,
        id: i64,
    ) -> Result<Option<B24OutboxItem>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {B24_OUTBOX_COLUMNS} FROM b24_outbox WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        row.as_ref().map(item_from_row).transpose()
    }

    /// A line's outbox items in one state, oldest first (the server only; metrics and tests).
    pub async fn b24_outbox_items(
        &self,
        caller: Caller,
        line_id: LineId,
        state: B24OutboxState,
        limit: u32,
    ) -> Result<Vec<B24OutboxItem>> {
        caller.require_system("only the server reads the Bitrix24 outbox")?;
        let limit = page_limit(limit)?;
        let mut tx = self.read().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {B24_OUTBOX_COLUMNS} FROM b24_outbox WHERE line_id = $1 AND state = $2 \
             ORDER BY id LIMIT $3"
        )))
        .bind(line_id)
        .bind(state.as_str())
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        rows.iter().map(item_from_row).collect()
    }

    /// How many items are unfinished (pending or sending) across the tenant (the server only).
    pub async fn b24_outbox_backlog(&self, caller: Caller) -> Result<i64> {
        caller.require_system("only the server reads the Bitrix24 outbox")?;
        let mut tx = self.read().await?;
        Ok(sqlx::query("SELECT COUNT(*) FROM b24_outbox WHERE state IN ('pending', 'sending')")
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?)
    }

    /// Links one of our messages to where it is in Bitrix24 (the server only). Linking again the
    /// same pair changes nothing; our message linked to another Bitrix24 message, or that
    /// Bitrix24 message to another of ours, is [`Error::IdempotencyKeyReused`].
    pub async fn link_b24_message(
        &self,
        caller: Caller,
        link: &B24MessageLink,
        now: OffsetDateTime,
    ) -> Result<()> {
        caller.require_system("only the server links messages to Bitrix24")?;
        check_link(link)?;
        let mut tx = self.write().await?;
        insert_link(&mut tx, link, audit::unix_ms(now)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The Bitrix24 message one of ours is, if linked (the server only).
    pub async fn b24_link_for_message(
        &self,
        caller: Caller,
        message_id: MessageId,
    ) -> Result<Option<B24MessageLink>> {
        caller.require_system("only the server reads message links")?;
        let mut tx = self.read().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LINK_COLUMNS} FROM b24_message_links WHERE message_id = $1"
        )))
        .bind(message_id)
        .fetch_optional(&mut *tx)
        .await?;
        row.as_ref().map(link_from_row).transpose()
    }

    /// Which of our messages a Bitrix24 message on a line is, if linked (the server only).
    pub async fn b24_link_for_b24_message(
        &self,
        caller: Caller,
        line_id: LineId,
        b24_message_id: &str,
    ) -> Result<Option<B24MessageLink>> {
        caller.require_system("only the server reads message links")?;
        let mut tx = self.read().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LINK_COLUMNS} FROM b24_message_links \
             WHERE line_id = $1 AND b24_message_id = $2"
        )))
        .bind(line_id)
        .bind(b24_message_id)
        .fetch_optional(&mut *tx)
        .await?;
        row.as_ref().map(link_from_row).transpose()
    }

    /// Records that a connector event (a Bitrix24 message id and an action such as `add`,
    /// `update`, `delete`) was handled on a line (the server only); `true` the first time, `false`
    /// for a redelivery. Atomic: of two concurrent calls, one gets `true`.
    pub async fn mark_b24_event_seen(
        &self,
        caller: Caller,
        line_id: LineId,
        b24_message_id: &str,
        action: &str,
        now: OffsetDateTime,
    ) -> Result<bool> {
        caller.require_system("only the server handles Bitrix24 events")?;
        check_len(b24_message_id, 128, "Bitrix24 message id longer than 128 bytes")?;
        check_len(action, 32, "event action longer than 32 bytes")?;
        let mut tx = self.write().await?;
        visible_line(&mut tx, caller, line_id).await?;
        let new = sqlx::query(
            "INSERT INTO b24_events_seen (line_id, b24_message_id, action, seen_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (line_id, b24_message_id, action) DO NOTHING",
        )
        .bind(line_id)
        .bind(b24_message_id)
        .bind(action)
        .bind(audit::unix_ms(now))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        tx.commit().await?;
        Ok(new)
    }

    /// The line that feeds a Bitrix24 Open Line (the server only; connector events name the
    /// Open Line).
    pub async fn line_for_open_line(&self, caller: Caller, open_line_id: i64) -> Result<Line> {
        caller.require_system("only the server maps Open Lines to lines")?;
        let mut tx = self.read().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LINE_COLUMNS} FROM lines WHERE open_line_id = $1 AND deleted_at IS NULL \
             ORDER BY id LIMIT 1"
        )))
        .bind(open_line_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound("line of this Open Line"))?;
        line_from_row(&row)
    }

    /// Records a call of the connector to Bitrix24 made outside the outbox (registration, event
    /// binding) with Bitrix24's answer: a `b24.connector_call` audit record (the server only).
    pub async fn record_connector_call(
        &self,
        caller: Caller,
        subject: &str,
        payload: &serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<()> {
        caller.require_system("only the server calls Bitrix24")?;
        check_len(subject, 128, "audit subject longer than 128 bytes")?;
        let mut tx = self.write().await?;
        audit_in(
            &self.audit_key,
            &mut tx,
            audit::Kind::ConnectorCall,
            caller,
            subject,
            payload.to_string().as_bytes(),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records what Bitrix24 was last told about the connector on a line (the server only, after
    /// the call that told it, which it audits).
    pub async fn set_open_channel_status(
        &self,
        caller: Caller,
        line_id: LineId,
        status: OpenChannelStatus,
    ) -> Result<Line> {
        caller.require_system("only the server reports the connector's state")?;
        let mut tx = self.write().await?;
        let line = visible_line(&mut tx, caller, line_id).await?;
        sqlx::query("UPDATE lines SET open_channel_status = $2 WHERE id = $1")
            .bind(line_id)
            .bind(status.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Line { open_channel_status: status, ..line })
    }
}

fn check_link(link: &B24MessageLink) -> Result<()> {
    if let Some(id) = &link.b24_message_id {
        check_len(id, 128, "Bitrix24 message id longer than 128 bytes")?;
        if id.is_empty() {
            return Err(Error::InvalidInput("empty Bitrix24 message id"));
        }
    }
    check_len(&link.external_chat_id, 128, "external chat id longer than 128 bytes")
}

/// Inserts a link, or checks that the one stored is the same.
async fn insert_link(tx: &mut AnyConnection, link: &B24MessageLink, at: i64) -> Result<()> {
    let stored = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {LINK_COLUMNS} FROM b24_message_links \
         WHERE message_id = $1 OR (line_id = $2 AND b24_message_id = $3)"
    )))
    .bind(link.message_id)
    .bind(link.line_id)
    .bind(link.b24_message_id.as_deref())
    .fetch_all(&mut *tx)
    .await?;
    if !stored.is_empty() {
        let mut same = true;
        for row in &stored {
            let stored = link_from_row(row)?;
            same &= stored.message_id == link.message_id
                && stored.line_id == link.line_id
                && stored.b24_message_id == link.b24_message_id;
        }
        return if same { Ok(()) } else { Err(Error::IdempotencyKeyReused) };
    }
    let found = sqlx::query("SELECT line_id FROM messages WHERE id = $1")
        .bind(link.message_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound("message"))?;
    if found.try_get::<i64, _>(0)? != link.line_id {
        return Err(Error::InvalidInput("the message is on another line"));
    }
    sqlx::query(
        "INSERT INTO b24_message_links (message_id, line_id, b24_message_id, b24_chat_id, \
         external_chat_id, session_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(link.message_id)
    .bind(link.line_id)
    .bind(link.b24_message_id.as_deref())
    .bind(link.b24_chat_id)
    .bind(link.external_chat_id.as_str())
    .bind(link.session_id)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
