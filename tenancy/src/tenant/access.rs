//! What a caller may see: lines and conversations scoped by who is asking.

use sqlx::{AnyConnection, Row};

use super::rows::{CONVERSATION_COLUMNS, LINE_COLUMNS, conversation_from_row, line_from_row};
use crate::{Caller, Conversation, ConversationId, Error, Line, LineId, Result, UserId};

/// A line the caller may see (not deleted), or `NotFound`.
pub(super) async fn visible_line(
    tx: &mut AnyConnection,
    caller: Caller,
    line_id: LineId,
) -> Result<Line> {
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
pub(super) async fn visible_conversation(
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

/// The condition limiting lines `l` to the caller's, with its placeholder number and value.
pub(super) fn scope_of(caller: Caller, n: usize) -> (String, i64) {
    match caller {
        Caller::System | Caller::Admin(_) => (format!("1 = ${n}"), 1),
        Caller::User(uid) => (format!("l.assigned_user = ${n}"), uid),
    }
}
