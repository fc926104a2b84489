//! One tenant's data, scoped by the caller. Every method is one transaction.

use std::sync::Arc;

use sqlx::{AnyConnection, Row, any::AnyRow};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::{
    Caller, Contact, Conversation, ConversationId, Error, HistoryPage, Inbound, Line, LineId,
    LineSettings, LineStatus, MAX_INBOUND_TEXT, MAX_OUTBOUND_TEXT, Media, Message, MessageHit,
    MessageId, MessageKind, MessageNote, MessageStatus, Outbound, OutboxItem, OutboxKind,
    ReadOutcome, Recorded, Result, StatusChange, User, UserId,
    crypto::{Random, TenantKey, aad},
    db::{Db, Tx},
    model::{check_len, page_limit},
};

/// A handle on one tenant's file or schema. It cannot name another tenant's data: every query runs
/// against the storage it was opened on. Cheap to clone.
#[derive(Clone)]
pub struct Tenant {
    member_id: Arc<str>,
    db: Db,
    key: Arc<TenantKey>,
    /// Keys this tenant's audit chain (derived from `key`).
    audit_key: Arc<audit::ChainKey>,
    random: Arc<dyn Random>,
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant")
            .field("member_id", &self.member_id)
            .field("backend", &self.db.backend())
            .finish_non_exhaustive()
    }
}

const MESSAGE_COLUMNS: &str = "id, conversation_id, line_id, wa_id, direction, kind, body, \
    media_path, media_mime, media_size, media_sha256, quoted_id, status, sent_at, delivered_at, \
    read_at, sender, at, note";

const LINE_COLUMNS: &str = "id, name, phone, status, assigned_user, created_at, send_read_receipts";

const CONVERSATION_COLUMNS: &str = "c.id, c.line_id, c.unread, c.last_message_id, \
    c.last_message_at, k.id AS contact_id, k.jid, k.phone, k.push_name";

async fn audit_in(
    key: &audit::ChainKey,
    tx: &mut AnyConnection,
    kind: audit::Kind,
    caller: Caller,
    subject: &str,
    payload: &[u8],
    now: OffsetDateTime,
) -> Result<()> {
    let actor = caller.actor();
    audit::append(tx, key, audit::Entry { kind, actor: &actor, subject, payload }, now).await?;
    Ok(())
}

fn line_from_row(row: &AnyRow) -> Result<Line> {
    let status: String = row.try_get("status")?;
    Ok(Line {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        phone: row.try_get("phone")?,
        status: status.parse()?,
        assigned_user: row.try_get("assigned_user")?,
        created_at: row.try_get("created_at")?,
        send_read_receipts: row.try_get::<i64, _>("send_read_receipts")? != 0,
    })
}

fn message_from_row(row: &AnyRow) -> Result<Message> {
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

/// The longest prefix of `text` within `max` bytes that ends on a character boundary.
fn cut_at_char(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Creates the contact (or refreshes its phone and push name) and the conversation of a
/// customer on a line; returns the conversation's id.
async fn upsert_conversation(
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

fn conversation_from_row(row: &AnyRow) -> Result<Conversation> {
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

/// A line the caller may see (not deleted), or `NotFound`.
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

async fn visible_line(tx: &mut AnyConnection, caller: Caller, line_id: LineId) -> Result<Line> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {LINE_COLUMNS} FROM lines \
         WHERE id = $1 AND deleted_at IS NULL"
    )))
    .bind(line_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("line"))?;
    let line = line_from_row(&row)?;
    if caller.sees(line.assigned_user) { Ok(line) } else { Err(Error::NotFound("line")) }
}

/// A conversation the caller may see, or `NotFound`.
async fn visible_conversation(
    tx: &mut AnyConnection,
    caller: Caller,
    id: ConversationId,
) -> Result<Conversation> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CONVERSATION_COLUMNS}, l.assigned_user FROM conversations c \
         JOIN contacts k ON k.id = c.contact_id JOIN lines l ON l.id = c.line_id \
         WHERE c.id = $1 AND l.deleted_at IS NULL"
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("conversation"))?;
    let assigned: Option<UserId> = row.try_get("assigned_user")?;
    if !caller.sees(assigned) {
        return Err(Error::NotFound("conversation"));
    }
    conversation_from_row(&row)
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`, lower-cased.
fn like_pattern(s: &str) -> String {
    like_exact(&s.to_lowercase())
}

/// A LIKE pattern for `s` as it is (no case folding), wildcards escaped.
fn like_exact(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('%');
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// A condition that `column` contains `query` whatever its case, adding its patterns to
/// `params` (placeholders numbered after those already there). `LOWER` folds only ASCII on
/// SQLite (and non-ASCII only in some PostgreSQL locales), so the query is also tried as
/// typed, capitalised and in capitals: `доставка` finds `Доставка` and `ДОСТАВКА` everywhere.
fn text_match(column: &str, query: &str, params: &mut Vec<String>) -> String {
    let lower = query.to_lowercase();
    let mut chars = lower.chars();
    let capitalised: String =
        chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
    let mut variants = vec![like_pattern(query)];
    for v in [like_exact(query), like_exact(&capitalised), like_exact(&query.to_uppercase())] {
        if !variants.contains(&v) {
            variants.push(v);
        }
    }
    let mut parts = Vec::with_capacity(variants.len());
    for (i, v) in variants.into_iter().enumerate() {
        params.push(v);
        let n = params.len();
        if i == 0 {
            parts.push(format!("LOWER({column}) LIKE ${n} ESCAPE '\\'"));
        } else {
            parts.push(format!("{column} LIKE ${n} ESCAPE '\\'"));
        }
    }
    format!("({})", parts.join(" OR "))
}

/// The digits of a query typed as a phone number is displayed (`+7 916 000-00-01`,
/// `(916) 000.00.01`): `None` unless it has a digit and nothing but digits and separators.
fn phone_digits(query: &str) -> Option<String> {
    let phone_like = query
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '+' | '(' | ')' | '.' | '\u{a0}'));
    let digits: String = query.chars().filter(char::is_ascii_digit).collect();
    (phone_like && !digits.is_empty()).then_some(digits)
}

/// `column` without the separators a stored phone number may carry.
fn digits_only(column: &str) -> String {
    ["' '", "'-'", "'+'", "'('", "')'", "'.'"]
        .iter()
        .fold(column.to_owned(), |acc, sep| format!("REPLACE({acc}, {sep}, '')"))
}

/// The condition limiting lines `l` to the caller's, with its placeholder number and value.
fn scope_of(caller: Caller, n: usize) -> (String, i64) {
    match caller {
        Caller::System | Caller::Admin(_) => (format!("1 = ${n}"), 1),
        Caller::User(uid) => (format!("l.assigned_user = ${n}"), uid),
    }
}

impl Tenant {
    pub(crate) fn new(
        member_id: String,
        db: Db,
        key: TenantKey,
        random: Arc<dyn Random>,
    ) -> Result<Tenant> {
        let audit_key = Arc::new(key.audit_chain_key()?);
        Ok(Tenant { member_id: member_id.into(), db, key: Arc::new(key), audit_key, random })
    }

    /// The portal's member_id.
    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    async fn write(&self) -> Result<Tx> {
        self.db.write().await
    }

    async fn read(&self) -> Result<Tx> {
        self.db.read().await
    }

    // ----- users -----

    /// Creates or updates a portal user (administrators and the server only).
    pub async fn upsert_user(
        &self,
        caller: Caller,
        user: &User,
        now: OffsetDateTime,
    ) -> Result<()> {
        caller.require_admin("only administrators manage users")?;
        check_len(&user.name, 255, "user name longer than 255 bytes")?;
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO users (id, name, is_admin, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, is_admin = excluded.is_admin, \
             updated_at = excluded.updated_at",
        )
        .bind(user.id)
        .bind(user.name.as_str())
        .bind(i64::from(user.is_admin))
        .bind(audit::unix_ms(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The tenant's users (administrators only).
    pub async fn users(&self, caller: Caller) -> Result<Vec<User>> {
        caller.require_admin("only administrators list users")?;
        let mut tx = self.read().await?;
        let rows = sqlx::query("SELECT id, name, is_admin FROM users ORDER BY id")
            .fetch_all(&mut *tx)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(User {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    is_admin: r.try_get::<i64, _>("is_admin")? != 0,
                })
            })
            .collect()
    }

    // ----- lines -----

    /// Creates a line if the plan's quota allows another one.
    pub async fn create_line(
        &self,
        caller: Caller,
        name: &str,
        phone: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Line> {
        caller.require_admin("only administrators create lines")?;
        check_len(name, 255, "line name longer than 255 bytes")?;
        if name.trim().is_empty() {
            return Err(Error::InvalidInput("line name is empty"));
        }
        if let Some(p) = phone {
            check_len(p, 32, "phone longer than 32 bytes")?;
        }
        let mut tx = self.write().await?;
        // Touching the settings row takes its lock, so concurrent creators are serialised.
        let max: i64 = sqlx::query(
            "UPDATE settings SET line_quota = line_quota WHERE id = 1 RETURNING line_quota",
        )
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        let current: i64 = sqlx::query("SELECT COUNT(*) FROM lines WHERE deleted_at IS NULL")
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if current >= max {
            return Err(Error::QuotaExceeded { current, max });
        }
        let at = audit::unix_ms(now);
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO lines (name, phone, status, created_at) VALUES ($1, $2, 'new', $3) \
             RETURNING {LINE_COLUMNS}"
        )))
        .bind(name)
        .bind(phone)
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        let line = line_from_row(&row)?;
        let subject = format!("line:{}", line.id);
        audit_in(&self.audit_key, &mut tx, audit::Kind::LineCreated, caller, &subject, b"{}", now)
            .await?;
        tx.commit().await?;
        Ok(line)
    }

    /// Deletes a line: it disappears for everyone and stops counting against the quota. Its
    /// history is kept (a deleted line is never reused).
    pub async fn delete_line(
        &self,
        caller: Caller,
        line_id: LineId,
        now: OffsetDateTime,
    ) -> Result<()> {
        caller.require_admin("only administrators delete lines")?;
        let mut tx = self.write().await?;
        visible_line(&mut tx, caller, line_id).await?;
        sqlx::query("UPDATE lines SET deleted_at = $2 WHERE id = $1")
            .bind(line_id)
            .bind(audit::unix_ms(now))
            .execute(&mut *tx)
            .await?;
        let subject = format!("line:{line_id}");
        audit_in(&self.audit_key, &mut tx, audit::Kind::LineDeleted, caller, &subject, b"{}", now)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Assigns a line to a user (or unassigns it with `None`). The new assignee sees the line's
    /// whole history; unread counts are kept.
    pub async fn assign_line(
        &self,
        caller: Caller,
        line_id: LineId,
        user: Option<UserId>,
        now: OffsetDateTime,
    ) -> Result<Line> {
        caller.require_admin("only administrators assign lines")?;
        let mut tx = self.write().await?;
        let line = visible_line(&mut tx, caller, line_id).await?;
        if let Some(uid) = user {
            let known = sqlx::query("SELECT COUNT(*) FROM users WHERE id = $1")
                .bind(uid)
                .fetch_one(&mut *tx)
                .await?
                .try_get::<i64, _>(0)?;
            if known == 0 {
                return Err(Error::NotFound("user"));
            }
        }
        sqlx::query("UPDATE lines SET assigned_user = $2 WHERE id = $1")
            .bind(line_id)
            .bind(user)
            .execute(&mut *tx)
            .await?;
        let kind = if line.assigned_user.is_none() {
            audit::Kind::LineAssigned
        } else {
            audit::Kind::LineReassigned
        };
        let payload = serde_json::json!({ "from": line.assigned_user, "to": user }).to_string();
        let subject = format!("line:{line_id}");
        audit_in(&self.audit_key, &mut tx, kind, caller, &subject, payload.as_bytes(), now).await?;
        tx.commit().await?;
        Ok(Line { assigned_user: user, ..line })
    }

    /// Records a line's WhatsApp connection state (the server's line runtime only), with the raw
    /// event in the audit log.
    pub async fn set_line_status(
        &self,
        caller: Caller,
        line_id: LineId,
        status: LineStatus,
        raw: &[u8],
        now: OffsetDateTime,
    ) -> Result<()> {
        caller.require_system("only the server changes line status")?;
        let mut tx = self.write().await?;
        let line = visible_line(&mut tx, caller, line_id).await?;
        sqlx::query("UPDATE lines SET status = $2 WHERE id = $1")
            .bind(line_id)
            .bind(status.as_str())
            .execute(&mut *tx)
            .await?;
        let subject = format!("line:{line_id}");
        audit_in(
            &self.audit_key,
            &mut tx,
            audit::Kind::ConnectionState,
            caller,
            &subject,
            raw,
            now,
        )
        .await?;
        if line.status != status {
            let payload =
                serde_json::json!({ "from": line.status.as_str(), "to": status.as_str() })
                    .to_string();
            audit_in(
                &self.audit_key,
                &mut tx,
                audit::Kind::LineStatusChanged,
                caller,
                &subject,
                payload.as_bytes(),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records the phone number a line is linked to (the server's line runtime only, when the
    /// phone has scanned the QR code; the pairing event itself is audited with the status).
    pub async fn set_line_phone(&self, caller: Caller, line_id: LineId, phone: &str) -> Result<()> {
        caller.require_system("only the server links a line to a phone")?;
        check_len(phone, 32, "phone number longer than 32 characters")?;
        let mut tx = self.write().await?;
        visible_line(&mut tx, caller, line_id).await?;
        sqlx::query("UPDATE lines SET phone = $2 WHERE id = $1")
            .bind(line_id)
            .bind(phone)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The lines the caller may see: all of them for administrators, their own for users.
    pub async fn lines(&self, caller: Caller) -> Result<Vec<Line>> {
        let mut tx = self.read().await?;
        let rows = match caller {
            Caller::System | Caller::Admin(_) => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {LINE_COLUMNS} FROM lines \
                     WHERE deleted_at IS NULL ORDER BY id"
                )))
                .fetch_all(&mut *tx)
                .await?
            }
            Caller::User(uid) => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {LINE_COLUMNS} FROM lines \
                     WHERE deleted_at IS NULL AND assigned_user = $1 ORDER BY id"
                )))
                .bind(uid)
                .fetch_all(&mut *tx)
                .await?
            }
        };
        rows.iter().map(line_from_row).collect()
    }

    /// One line, if the caller may see it.
    pub async fn line(&self, caller: Caller, line_id: LineId) -> Result<Line> {
        let mut tx = self.read().await?;
        visible_line(&mut tx, caller, line_id).await
    }

    /// Changes a line's settings (administrators only); a change is audited with the old and
    /// new values, and setting what is already set changes nothing.
    pub async fn set_line_settings(
        &self,
        caller: Caller,
        line_id: LineId,
        settings: &LineSettings,
        now: OffsetDateTime,
    ) -> Result<Line> {
        caller.require_admin("only administrators change line settings")?;
        let mut tx = self.write().await?;
        let line = visible_line(&mut tx, caller, line_id).await?;
        let receipts = settings.send_read_receipts.unwrap_or(line.send_read_receipts);
        if receipts == line.send_read_receipts {
            return Ok(line);
        }
        sqlx::query("UPDATE lines SET send_read_receipts = $2 WHERE id = $1")
            .bind(line_id)
            .bind(i64::from(receipts))
            .execute(&mut *tx)
            .await?;
        let payload = serde_json::json!({
            "send_read_receipts": { "from": line.send_read_receipts, "to": receipts },
        })
        .to_string();
        let subject = format!("line:{line_id}");
        audit_in(
            &self.audit_key,
            &mut tx,
            audit::Kind::LineSettingsChanged,
            caller,
            &subject,
            payload.as_bytes(),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Line { send_read_receipts: receipts, ..line })
    }

    // ----- messages -----

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
        visible_line(&mut tx, caller, m.line_id).await?;
        let existing = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE line_id = $1 AND wa_id = $2"
        )))
        .bind(m.line_id)
        .bind(m.wa_id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = existing {
            let message = message_from_row(&row)?;
            let unread: i64 = sqlx::query("SELECT unread FROM conversations WHERE id = $1")
                .bind(message.conversation_id)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
            return Ok(Recorded { message, new: false, unread });
        }
        let at = audit::unix_ms(now);
        let conversation_id =
            upsert_conversation(&mut tx, m.line_id, &m.jid, phone, push_name, at).await?;
        let quoted_id: Option<i64> = match &m.quoted_wa_id {
            None => None,
            Some(q) => sqlx::query("SELECT id FROM messages WHERE line_id = $1 AND wa_id = $2")
                .bind(m.line_id)
                .bind(q.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get(0))
                .transpose()?,
        };
        let media = m.media.as_ref().filter(|x| x.path.len() <= 1024);
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO messages (conversation_id, line_id, wa_id, direction, kind, body, media_path, \
             media_mime, media_size, media_sha256, quoted_id, status, delivered_at, sender, at, note) \
             VALUES ($1, $2, $3, 'in', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $12, $14) \
             RETURNING {MESSAGE_COLUMNS}"
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
        .bind(MessageStatus::Delivered.rank())
        .bind(at)
        .bind(m.jid.as_str())
        .bind(note.map(MessageNote::as_str))
        .fetch_one(&mut *tx)
        .await?;
        let message = message_from_row(&row)?;
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
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO messages (conversation_id, line_id, direction, kind, status, delivered_at, \
             sender, at, note) VALUES ($1, $2, 'in', $3, $4, $5, $6, $5, $7) \
             RETURNING {MESSAGE_COLUMNS}"
        )))
        .bind(conversation_id)
        .bind(line_id)
        .bind(MessageKind::System.as_str())
        .bind(MessageStatus::Delivered.rank())
        .bind(at)
        .bind(jid)
        .bind(MessageNote::IdentityChanged.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let message = message_from_row(&row)?;
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
        let owner = match (caller, line.assigned_user) {
            (Caller::User(uid) | Caller::Admin(uid), Some(assigned)) => uid == assigned,
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
                (StatusChange::Advanced(id), format!("message:{id}"))
            }
            None => {
                let found =
                    sqlx::query("SELECT id FROM messages WHERE line_id = $1 AND wa_id = $2")
                        .bind(line_id)
                        .bind(wa_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                match found {
                    Some(row) => {
                        (StatusChange::Unchanged, format!("message:{}", row.try_get::<i64, _>(0)?))
                    }
                    None => (StatusChange::UnknownMessage, format!("line:{line_id}")),
                }
            }
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

    /// One conversation, if the caller may see its line.
    pub async fn conversation(&self, caller: Caller, id: ConversationId) -> Result<Conversation> {
        let mut tx = self.read().await?;
        visible_conversation(&mut tx, caller, id).await
    }

    /// Contacts on the caller's lines whose name, phone or JID contains `query` (case-insensitive;
    /// see [`text_match`]). A query typed as a phone number is displayed (`+7 916 000-00-01`)
    /// is matched by its digits.
    pub async fn search_contacts(
        &self,
        caller: Caller,
        query: &str,
        limit: u32,
    ) -> Result<Vec<Contact>> {
        let limit = page_limit(limit)?;
        check_len(query, 128, "search longer than 128 bytes")?;
        let mut params = Vec::new();
        let mut any = vec![
            text_match("COALESCE(k.push_name, '')", query, &mut params),
            text_match("COALESCE(k.phone, '')", query, &mut params),
            text_match("k.jid", query, &mut params),
        ];
        if let Some(digits) = phone_digits(query) {
            params.push(format!("%{digits}%"));
            any.push(format!("{} LIKE ${}", digits_only("COALESCE(k.phone, '')"), params.len()));
            params.push(format!("%{digits}%@%"));
            any.push(format!("k.jid LIKE ${}", params.len()));
        }
        let (scope, uid) = scope_of(caller, params.len() + 1);
        let sql = format!(
            "SELECT k.id, k.line_id, k.jid, k.phone, k.push_name FROM contacts k \
             JOIN lines l ON l.id = k.line_id \
             WHERE l.deleted_at IS NULL AND {scope} AND ({}) ORDER BY k.id LIMIT ${}",
            any.join(" OR "),
            params.len() + 2,
        );
        let mut tx = self.read().await?;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for p in params {
            q = q.bind(p);
        }
        let rows = q.bind(uid).bind(limit).fetch_all(&mut *tx).await?;
        rows.iter()
            .map(|r| {
                Ok(Contact {
                    id: r.try_get("id")?,
                    line_id: r.try_get("line_id")?,
                    jid: r.try_get("jid")?,
                    phone: r.try_get("phone")?,
                    push_name: r.try_get("push_name")?,
                })
            })
            .collect()
    }

    /// Messages on the caller's lines whose text or caption contains `query` (as
    /// [`Tenant::search_contacts`] matches names), newest first, each with its conversation.
    pub async fn search_messages(
        &self,
        caller: Caller,
        query: &str,
        limit: u32,
    ) -> Result<Vec<MessageHit>> {
        let limit = page_limit(limit)?;
        check_len(query, 128, "search longer than 128 bytes")?;
        let mut params = Vec::new();
        let matches = text_match("body", query, &mut params);
        let (scope, uid) = scope_of(caller, params.len() + 1);
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE kind <> 'reaction' AND body IS NOT NULL \
             AND line_id IN (SELECT l.id FROM lines l WHERE l.deleted_at IS NULL AND {scope}) \
             AND {matches} ORDER BY id DESC LIMIT ${}",
            params.len() + 2,
        );
        let mut tx = self.read().await?;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for p in params {
            q = q.bind(p);
        }
        let rows = q.bind(uid).bind(limit).fetch_all(&mut *tx).await?;
        let mut hits = Vec::with_capacity(rows.len());
        for row in &rows {
            let message = message_from_row(row)?;
            let conversation =
                visible_conversation(&mut tx, caller, message.conversation_id).await?;
            hits.push(MessageHit { conversation, message });
        }
        Ok(hits)
    }

    // ----- outbox -----

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
        .bind(caller.actor())
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
        tx.commit().await?;
        Ok(())
    }

    // ----- device store -----

    /// Writes (Some) or deletes (None) entries of a line's device store in one transaction.
    /// Values are sealed with the tenant key and bound to (line, namespace, key). Server only.
    pub async fn device_write(
        &self,
        caller: Caller,
        line_id: LineId,
        entries: &[(&str, &str, Option<&[u8]>)],
        now: OffsetDateTime,
    ) -> Result<()> {
        caller.require_system("only the server touches device keys")?;
        let mut tx = self.device_begin(line_id, true).await?;
        for (namespace, key, value) in entries {
            match value {
                Some(v) => self.device_put(&mut tx, line_id, namespace, key, v, now).await?,
                None => device_delete(&mut tx, line_id, namespace, key).await?,
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Reads and decrypts one device-store entry. Server only.
    pub async fn device_get(
        &self,
        caller: Caller,
        line_id: LineId,
        namespace: &str,
        key: &str,
    ) -> Result<Option<Zeroizing<Vec<u8>>>> {
        caller.require_system("only the server touches device keys")?;
        let mut tx = self.device_begin(line_id, false).await?;
        self.device_read(&mut tx, line_id, namespace, key).await
    }

    /// A transaction on a line's device store (write or read-only), after checking the line exists.
    pub(crate) async fn device_begin(&self, line_id: LineId, write: bool) -> Result<Tx> {
        let mut tx = if write { self.write().await? } else { self.read().await? };
        visible_line(&mut tx, Caller::System, line_id).await?;
        Ok(tx)
    }

    /// Seals `value` and upserts it under (line, namespace, key) inside `tx`.
    pub(crate) async fn device_put(
        &self,
        tx: &mut AnyConnection,
        line_id: LineId,
        namespace: &str,
        key: &str,
        value: &[u8],
        now: OffsetDateTime,
    ) -> Result<()> {
        check_len(namespace, 64, "namespace longer than 64 bytes")?;
        check_len(key, 256, "key longer than 256 bytes")?;
        let sealed =
            self.key.seal(self.random.as_ref(), &device_aad(line_id, namespace, key), value)?;
        sqlx::query(
            "INSERT INTO device_store (line_id, namespace, key, value, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (line_id, namespace, key) \
             DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(line_id)
        .bind(namespace)
        .bind(key)
        .bind(sealed)
        .bind(audit::unix_ms(now))
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// Reads and opens the value under (line, namespace, key) inside `tx`.
    pub(crate) async fn device_read(
        &self,
        tx: &mut AnyConnection,
        line_id: LineId,
        namespace: &str,
        key: &str,
    ) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let row = sqlx::query(
            "SELECT value FROM device_store WHERE line_id = $1 AND namespace = $2 AND key = $3",
        )
        .bind(line_id)
        .bind(namespace)
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
        match row {
            None => Ok(None),
            Some(r) => {
                let sealed: Vec<u8> = r.try_get(0)?;
                Ok(Some(self.key.open(&device_aad(line_id, namespace, key), &sealed)?))
            }
        }
    }

    /// The keys in one namespace of a line's device store, sorted. Server only.
    pub async fn device_keys(
        &self,
        caller: Caller,
        line_id: LineId,
        namespace: &str,
    ) -> Result<Vec<String>> {
        caller.require_system("only the server touches device keys")?;
        let mut tx = self.read().await?;
        visible_line(&mut tx, caller, line_id).await?;
        let rows = sqlx::query(
            "SELECT key FROM device_store WHERE line_id = $1 AND namespace = $2 ORDER BY key",
        )
        .bind(line_id)
        .bind(namespace)
        .fetch_all(&mut *tx)
        .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    // ----- audit -----

    /// Verifies this tenant's audit chain (administrators and the server).
    pub async fn verify_audit(&self, caller: Caller) -> Result<audit::Head> {
        caller.require_admin("only administrators verify the audit log")?;
        let mut tx = self.read().await?;
        Ok(audit::verify(&mut tx, &self.audit_key).await?)
    }

    /// Records an administrator's request for more lines (`app.upgrade_requested`; the payload is
    /// the request as sent to the operator) in this tenant's audit log.
    pub async fn record_upgrade_request(
        &self,
        caller: Caller,
        payload: &[u8],
        now: OffsetDateTime,
    ) -> Result<()> {
        caller.require_admin("only administrators ask for more lines")?;
        let mut tx = self.write().await?;
        let subject = format!("tenant:{}", self.member_id);
        audit_in(
            &self.audit_key,
            &mut tx,
            audit::Kind::UpgradeRequested,
            caller,
            &subject,
            payload,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// One page of this tenant's audit log (administrators and the server).
    pub async fn audit_query(&self, caller: Caller, q: &audit::Query) -> Result<audit::Page> {
        caller.require_admin("only administrators read the audit log")?;
        let mut tx = self.read().await?;
        Ok(audit::query(&mut tx, q).await?)
    }

    /// Writes this tenant's audit log as NDJSON (administrators and the server).
    pub async fn audit_export(
        &self,
        caller: Caller,
        q: &audit::Query,
        out: &mut impl std::io::Write,
    ) -> Result<u64> {
        caller.require_admin("only administrators export the audit log")?;
        let mut tx = self.read().await?;
        Ok(audit::export_ndjson(&mut tx, q, out).await?)
    }

    /// Which database this tenant lives in.
    pub fn backend(&self) -> audit::Backend {
        self.db.backend()
    }
}

/// Deletes the entry under (line, namespace, key) inside `tx` (nothing if there is none).
pub(crate) async fn device_delete(
    tx: &mut AnyConnection,
    line_id: LineId,
    namespace: &str,
    key: &str,
) -> Result<()> {
    sqlx::query("DELETE FROM device_store WHERE line_id = $1 AND namespace = $2 AND key = $3")
        .bind(line_id)
        .bind(namespace)
        .bind(key)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

fn device_aad(line_id: LineId, namespace: &str, key: &str) -> Vec<u8> {
    aad(&[b"device", &line_id.to_be_bytes(), namespace.as_bytes(), key.as_bytes()])
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

fn outbox_from_row(r: &AnyRow) -> Result<OutboxItem> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("Ana"), "%ana%");
        assert_eq!(like_pattern("50%_\\"), "%50\\%\\_\\\\%");
    }
}
