//! Portal users.

use sqlx::Row;
use time::OffsetDateTime;

use super::Tenant;
use crate::{Caller, Result, User, model::check_len};

impl Tenant {
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
}
