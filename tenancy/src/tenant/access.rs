//! What a caller may see: lines and conversations scoped by who is asking. A user sees the
//! lines assigned to them and those assigned to a department they reach (see
//! `user_departments`: the department they are in, or one above it).

use sqlx::{AnyConnection, Row};

use super::rows::{CONVERSATION_COLUMNS, LINE_COLUMNS, conversation_from_row, line_from_row};
use crate::{
    Caller, Conversation, ConversationId, DepartmentId, Error, Line, LineId, Result, UserId,
};

/// Whether `caller` may see a line assigned to `user` and `department`.
async fn sees(
    tx: &mut AnyConnection,
    caller: Caller,
    user: Option<UserId>,
    department: Option<DepartmentId>,
) -> Result<bool> {
    if caller.sees(user) {
        return Ok(true);
    }
    let (Caller::User(uid), Some(department)) = (caller, department) else { return Ok(false) };
    let n: i64 = sqlx::query(
        "SELECT COUNT(*) FROM user_departments WHERE user_id = $1 AND department_id = $2",
    )
    .bind(uid)
    .bind(department)
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    Ok(n > 0)
}

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
    if sees(tx, caller, line.assigned_user, line.assigned_department).await? {
        Ok(line)
    } else {
        Err(Error::NotFound("line"))
    }
}

/// A conversation the caller may see, or `NotFound`.
pub(super) async fn visible_conversation(
    tx: &mut AnyConnection,
    caller: Caller,
    id: ConversationId,
) -> Result<Conversation> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CONVERSATION_COLUMNS}, l.assigned_user, l.assigned_department \
         FROM conversations c \
         JOIN contacts k ON k.id = c.contact_id JOIN lines l ON l.id = c.line_id \
         WHERE c.id = $1 AND l.deleted_at IS NULL"
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("conversation"))?;
    let assigned: Option<UserId> = row.try_get("assigned_user")?;
    let department: Option<DepartmentId> = row.try_get("assigned_department")?;
    if !sees(tx, caller, assigned, department).await? {
        return Err(Error::NotFound("conversation"));
    }
    conversation_from_row(&row)
}

/// The condition limiting lines `l` to the caller's, with its placeholder number and value (the
/// placeholder may appear more than once).
pub(super) fn scope_of(caller: Caller, n: usize) -> (String, i64) {
    match caller {
        Caller::System | Caller::Admin(_) => (format!("1 = ${n}"), 1),
        Caller::User(uid) => (
            format!(
                "(l.assigned_user = ${n} OR l.assigned_department IN \
                 (SELECT department_id FROM user_departments WHERE user_id = ${n}))"
            ),
            uid,
        ),
    }
}
