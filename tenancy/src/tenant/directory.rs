//! The portal's people and departments as `user.get` and `department.get` last said, and the
//! administrator's limit on who may use the app. The server refreshes the cache; every request
//! of a session is admitted by [`Tenant::standing`].

use std::collections::{BTreeMap, BTreeSet};

use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use super::{Tenant, audit_log::audit_in};
use crate::{
    AccessList, Caller, Department, DepartmentId, DirectoryUser, Error, PortalUser, Result,
    Standing, UserId, model::check_len,
};

/// The most users or departments an access list holds.
pub(crate) const MAX_ACCESS_ENTRIES: usize = 1000;

/// The departments from `direct` up to the top (each once; a cycle in the data ends the walk).
fn reach(
    direct: &[DepartmentId],
    parents: &BTreeMap<DepartmentId, Option<DepartmentId>>,
) -> BTreeSet<DepartmentId> {
    let mut out = BTreeSet::new();
    for &d in direct {
        let mut current = Some(d);
        while let Some(c) = current {
            if !out.insert(c) {
                break;
            }
            current = parents.get(&c).copied().flatten();
        }
    }
    out
}

async fn parents(tx: &mut AnyConnection) -> Result<BTreeMap<DepartmentId, Option<DepartmentId>>> {
    let rows = sqlx::query("SELECT id, parent_id FROM departments").fetch_all(&mut *tx).await?;
    rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("parent_id")?))).collect()
}

/// Rewrites a user's department reach from their direct departments.
async fn write_reach(
    tx: &mut AnyConnection,
    user: UserId,
    direct: &[DepartmentId],
    parents: &BTreeMap<DepartmentId, Option<DepartmentId>>,
) -> Result<()> {
    sqlx::query("DELETE FROM user_departments WHERE user_id = $1")
        .bind(user)
        .execute(&mut *tx)
        .await?;
    for d in reach(direct, parents) {
        sqlx::query(
            "INSERT INTO user_departments (user_id, department_id, direct) VALUES ($1, $2, $3)",
        )
        .bind(user)
        .bind(d)
        .bind(i64::from(direct.contains(&d)))
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

async fn direct_departments(tx: &mut AnyConnection, user: UserId) -> Result<Vec<DepartmentId>> {
    let rows = sqlx::query(
        "SELECT department_id FROM user_departments WHERE user_id = $1 AND direct = 1 \
         ORDER BY department_id",
    )
    .bind(user)
    .fetch_all(&mut *tx)
    .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

fn check_user(u: &PortalUser) -> Result<()> {
    check_len(&u.name, 255, "user name longer than 255 bytes")?;
    if let Some(a) = &u.avatar {
        check_len(a, 2048, "avatar URL longer than 2 KiB")?;
    }
    if u.departments.len() > 100 {
        return Err(Error::InvalidInput("a user in more than 100 departments"));
    }
    Ok(())
}

impl Tenant {
    /// Caches what the portal says (the server and administrators only): `departments` replace
    /// the cached ones when given (a full `department.get`), `users` are written (a new user is
    /// not an administrator until they open the app as one), each user's department reach is
    /// recomputed, and with `complete` (a full `user.get`) every cached user not in `users` is
    /// marked inactive (removed from the portal), administrators excepted (see
    /// [`Tenant::user_gone`]). Answers the users who were active and are not
    /// any more, ascending.
    pub async fn sync_directory(
        &self,
        caller: Caller,
        departments: Option<&[Department]>,
        users: &[PortalUser],
        complete: bool,
        now: OffsetDateTime,
    ) -> Result<Vec<UserId>> {
        caller.require_admin("only administrators read the portal's people")?;
        for u in users {
            check_user(u)?;
        }
        if let Some(ds) = departments {
            for d in ds {
                check_len(&d.name, 255, "department name longer than 255 bytes")?;
            }
        }
        let at = audit::unix_ms(now);
        let mut tx = self.write().await?;
        if let Some(ds) = departments {
            sqlx::query("DELETE FROM departments").execute(&mut *tx).await?;
            for d in ds {
                sqlx::query(
                    "INSERT INTO departments (id, name, parent_id, head_user, synced_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
                )
                .bind(d.id)
                .bind(d.name.as_str())
                .bind(d.parent)
                .bind(d.head)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
        }
        let was_active: BTreeSet<UserId> = sqlx::query("SELECT id FROM users WHERE active = 1")
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, _>>()?;
        let parents = parents(&mut tx).await?;
        for u in users {
            sqlx::query(
                "INSERT INTO users (id, name, is_admin, updated_at, active, avatar, synced_at) \
                 VALUES ($1, $2, 0, $3, $4, $5, $3) ON CONFLICT (id) DO UPDATE SET \
                 name = excluded.name, active = excluded.active, avatar = excluded.avatar, \
                 synced_at = excluded.synced_at, updated_at = excluded.updated_at",
            )
            .bind(u.id)
            .bind(u.name.as_str())
            .bind(at)
            .bind(i64::from(u.active))
            .bind(u.avatar.as_deref())
            .execute(&mut *tx)
            .await?;
            write_reach(&mut tx, u.id, &u.departments, &parents).await?;
        }
        let listed: BTreeSet<UserId> = users.iter().map(|u| u.id).collect();
        if complete {
            for id in was_active.iter().filter(|id| !listed.contains(id)) {
                sqlx::query(
                    "UPDATE users SET active = 0, synced_at = $2 WHERE id = $1 AND is_admin = 0",
                )
                .bind(*id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
        }
        if departments.is_some() {
            // The tree may have changed: every other user's reach follows it.
            let others: Vec<UserId> = sqlx::query("SELECT id FROM users")
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<std::result::Result<_, _>>()?;
            for id in others.into_iter().filter(|id| !listed.contains(id)) {
                let direct = direct_departments(&mut tx, id).await?;
                write_reach(&mut tx, id, &direct, &parents).await?;
            }
        }
        let now_active: BTreeSet<UserId> = sqlx::query("SELECT id FROM users WHERE active = 1")
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, _>>()?;
        tx.commit().await?;
        Ok(was_active.difference(&now_active).copied().collect())
    }

    /// Marks a user the portal no longer lists (`user.get` by id answered nothing) inactive
    /// (the server only). Answers whether they were active. An administrator is not marked:
    /// `user.get` never lists integrators (partners the portal lets in, as administrators), so
    /// their absence says nothing; `profile` confirms them at each app opening.
    pub async fn user_gone(
        &self,
        caller: Caller,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<bool> {
        caller.require_system("only the server marks users gone")?;
        let mut tx = self.write().await?;
        let n = sqlx::query(
            "UPDATE users SET active = 0, synced_at = $2 \
                 WHERE id = $1 AND active = 1 AND is_admin = 0",
        )
        .bind(user)
        .bind(audit::unix_ms(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("UPDATE users SET synced_at = $2 WHERE id = $1")
            .bind(user)
            .bind(audit::unix_ms(now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Whether a user may go on (any caller: it reads only what concerns `user`). A user the
    /// tenant has never seen is active with no confirmation. `is_admin` is the session's role:
    /// administrators are not limited by the access list.
    pub async fn standing(&self, user: UserId, is_admin: bool) -> Result<Standing> {
        let mut tx = self.read().await?;
        let row = sqlx::query("SELECT active, synced_at FROM users WHERE id = $1")
            .bind(user)
            .fetch_optional(&mut *tx)
            .await?;
        let (active, synced_at) = match row {
            Some(r) => (r.try_get::<i64, _>("active")? != 0, r.try_get("synced_at")?),
            None => (true, None),
        };
        let allowed = is_admin
            || {
                let entries: i64 = sqlx::query("SELECT COUNT(*) FROM app_access")
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get(0)?;
                entries == 0
                    || {
                        let hits: i64 = sqlx::query(
                    "SELECT COUNT(*) FROM app_access a WHERE (a.kind = 'user' AND a.subject_id = $1) \
                     OR (a.kind = 'department' AND a.subject_id IN \
                     (SELECT department_id FROM user_departments WHERE user_id = $1))",
                )
                .bind(user)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
                        hits > 0
                    }
            };
        Ok(Standing { active, allowed, synced_at })
    }

    /// The cached departments, by id (administrators only).
    pub async fn departments(&self, caller: Caller) -> Result<Vec<Department>> {
        caller.require_admin("only administrators list departments")?;
        let mut tx = self.read().await?;
        let rows =
            sqlx::query("SELECT id, name, parent_id, head_user FROM departments ORDER BY id")
                .fetch_all(&mut *tx)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(Department {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    parent: r.try_get("parent_id")?,
                    head: r.try_get("head_user")?,
                })
            })
            .collect()
    }

    /// The cached users with their departments and state, by id (administrators only).
    pub async fn directory(&self, caller: Caller) -> Result<Vec<DirectoryUser>> {
        caller.require_admin("only administrators list users")?;
        let mut tx = self.read().await?;
        let rows = sqlx::query(
            "SELECT id, name, is_admin, active, avatar, synced_at FROM users ORDER BY id",
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: UserId = r.try_get("id")?;
            out.push(DirectoryUser {
                id,
                name: r.try_get("name")?,
                is_admin: r.try_get::<i64, _>("is_admin")? != 0,
                active: r.try_get::<i64, _>("active")? != 0,
                avatar: r.try_get("avatar")?,
                departments: direct_departments(&mut tx, id).await?,
                synced_at: r.try_get("synced_at")?,
            });
        }
        Ok(out)
    }

    /// Who may use the app (administrators only).
    pub async fn access_list(&self, caller: Caller) -> Result<AccessList> {
        caller.require_admin("only administrators read who may use the app")?;
        let mut tx = self.read().await?;
        read_access(&mut tx).await
    }

    /// Sets who may use the app (administrators only): known users and departments only
    /// (`NotFound` otherwise), at most [`MAX_ACCESS_ENTRIES`] of each; audited with the old and
    /// new lists. Both empty: everyone.
    pub async fn set_access_list(
        &self,
        caller: Caller,
        list: &AccessList,
        now: OffsetDateTime,
    ) -> Result<AccessList> {
        caller.require_admin("only administrators change who may use the app")?;
        if list.users.len() > MAX_ACCESS_ENTRIES || list.departments.len() > MAX_ACCESS_ENTRIES {
            return Err(Error::InvalidInput(
                "an access list holds at most 1000 users and 1000 departments",
            ));
        }
        let users: BTreeSet<UserId> = list.users.iter().copied().collect();
        let departments: BTreeSet<DepartmentId> = list.departments.iter().copied().collect();
        let mut tx = self.write().await?;
        for u in &users {
            let n: i64 = sqlx::query("SELECT COUNT(*) FROM users WHERE id = $1")
                .bind(*u)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
            if n == 0 {
                return Err(Error::NotFound("user"));
            }
        }
        for d in &departments {
            let n: i64 = sqlx::query("SELECT COUNT(*) FROM departments WHERE id = $1")
                .bind(*d)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
            if n == 0 {
                return Err(Error::NotFound("department"));
            }
        }
        let before = read_access(&mut tx).await?;
        let after = AccessList {
            users: users.into_iter().collect(),
            departments: departments.into_iter().collect(),
        };
        if before == after {
            return Ok(after);
        }
        sqlx::query("DELETE FROM app_access").execute(&mut *tx).await?;
        for (kind, ids) in [("user", &after.users), ("department", &after.departments)] {
            for id in ids {
                sqlx::query("INSERT INTO app_access (kind, subject_id) VALUES ($1, $2)")
                    .bind(kind)
                    .bind(*id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let payload = serde_json::json!({
            "from": { "users": before.users, "departments": before.departments },
            "to": { "users": after.users, "departments": after.departments },
        })
        .to_string();
        audit_in(
            &self.audit_key,
            &mut tx,
            audit::Kind::AccessChanged,
            caller,
            "app:access",
            payload.as_bytes(),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }
}

async fn read_access(tx: &mut AnyConnection) -> Result<AccessList> {
    let rows = sqlx::query("SELECT kind, subject_id FROM app_access ORDER BY kind, subject_id")
        .fetch_all(&mut *tx)
        .await?;
    let mut list = AccessList::default();
    for r in &rows {
        let kind: String = r.try_get("kind")?;
        let id: i64 = r.try_get("subject_id")?;
        match kind.as_str() {
            "user" => list.users.push(id),
            "department" => list.departments.push(id),
            _ => return Err(Error::Corrupt("app_access")),
        }
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::reach;

    /// A user reaches their departments and every one above; a cycle in the data ends the walk.
    #[test]
    fn reach_goes_up_the_tree_and_survives_cycles() {
        let parents = BTreeMap::from([(1, None), (2, Some(1)), (3, Some(2)), (4, Some(1))]);
        assert_eq!(reach(&[3], &parents).into_iter().collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(reach(&[4, 2], &parents).into_iter().collect::<Vec<_>>(), vec![1, 2, 4]);
        let cycle = BTreeMap::from([(5, Some(6)), (6, Some(5))]);
        assert_eq!(reach(&[5], &cycle).len(), 2);
        assert_eq!(reach(&[9], &parents).into_iter().collect::<Vec<_>>(), vec![9]);
    }
}
