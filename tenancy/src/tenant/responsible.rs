//! The person responsible for a conversation (the CRM's responsible), chosen once per
//! conversation as its line says ([`crate::ResponsibleMode`]) and then kept.

use sqlx::{AnyConnection, Row};

use super::{Tenant, access::visible_conversation, rows::LINE_COLUMNS, rows::line_from_row};
use crate::{Caller, ConversationId, Error, Line, ResponsibleMode, Result, UserId};

async fn line_of(
    tx: &mut AnyConnection,
    conversation: ConversationId,
) -> Result<(Line, Option<UserId>)> {
    let row = sqlx::query("SELECT line_id, responsible_user FROM conversations WHERE id = $1")
        .bind(conversation)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    let line_id: i64 = row.try_get("line_id")?;
    let stored: Option<UserId> = row.try_get("responsible_user")?;
    let line =
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {LINE_COLUMNS} FROM lines WHERE id = $1")))
            .bind(line_id)
            .fetch_one(&mut *tx)
            .await?;
    Ok((line_from_row(&line)?, stored))
}

/// On a line whose mode is [`ResponsibleMode::FirstToAnswer`], makes `user` the responsible of
/// a conversation that has none yet (in the transaction of their answer).
pub(super) async fn claim_first_answer(
    tx: &mut AnyConnection,
    conversation: ConversationId,
    user: UserId,
) -> Result<()> {
    sqlx::query(
        "UPDATE conversations SET responsible_user = $2 WHERE id = $1 AND responsible_user IS NULL \
         AND line_id IN (SELECT id FROM lines WHERE responsible_mode = 'first_to_answer')",
    )
    .bind(conversation)
    .bind(user)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

impl Tenant {
    /// The responsible person of a conversation as stored, or while none is stored the line's
    /// assigned user (`None` when the line has none). Read only; any caller who sees it.
    pub async fn conversation_responsible(
        &self,
        caller: Caller,
        conversation: ConversationId,
    ) -> Result<Option<UserId>> {
        let mut tx = self.read().await?;
        visible_conversation(&mut tx, caller, conversation).await?;
        let (line, stored) = line_of(&mut tx, conversation).await?;
        Ok(stored.or(line.assigned_user))
    }

    /// Chooses the responsible person of a conversation if its line's mode can now (the server
    /// and administrators; e.g. when the CRM needs one for a new lead). Once stored it is kept
    /// and answered again. [`ResponsibleMode::Evenly`] on a line assigned to a department: the
    /// next active member of the department (and the departments below it) after the one the
    /// line chose last, in user id order, wrapping around; with no member, or on a line without
    /// a department, the assigned user. [`ResponsibleMode::FirstToAnswer`]: nobody is stored
    /// until someone answers (see [`Tenant::enqueue`]); until then the assigned user is
    /// answered, not stored.
    pub async fn choose_responsible(
        &self,
        caller: Caller,
        conversation: ConversationId,
    ) -> Result<Option<UserId>> {
        caller.require_admin("only the server chooses a responsible person")?;
        let mut tx = self.write().await?;
        let (line, stored) = line_of(&mut tx, conversation).await?;
        if stored.is_some() {
            return Ok(stored);
        }
        let chosen = match (line.responsible_mode, line.assigned_department) {
            (ResponsibleMode::FirstToAnswer, _) => return Ok(line.assigned_user),
            (ResponsibleMode::Evenly, None) => line.assigned_user,
            (ResponsibleMode::Evenly, Some(department)) => {
                let members: Vec<UserId> = sqlx::query(
                    "SELECT u.id FROM users u JOIN user_departments d ON d.user_id = u.id \
                     WHERE d.department_id = $1 AND u.active = 1 ORDER BY u.id",
                )
                .bind(department)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<std::result::Result<_, _>>()?;
                let last: Option<UserId> =
                    sqlx::query("SELECT responsible_last FROM lines WHERE id = $1")
                        .bind(line.id)
                        .fetch_one(&mut *tx)
                        .await?
                        .try_get(0)?;
                let next = last
                    .and_then(|l| members.iter().find(|m| **m > l))
                    .or_else(|| members.first())
                    .copied();
                if let Some(n) = next {
                    sqlx::query("UPDATE lines SET responsible_last = $2 WHERE id = $1")
                        .bind(line.id)
                        .bind(n)
                        .execute(&mut *tx)
                        .await?;
                }
                next.or(line.assigned_user)
            }
        };
        if let Some(user) = chosen {
            sqlx::query("UPDATE conversations SET responsible_user = $2 WHERE id = $1")
                .bind(conversation)
                .bind(user)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(chosen)
    }
}
