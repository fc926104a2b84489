//! The portal's people and departments as the app trusts them: read with `user.get` and
//! `department.get` under the installation's own tokens, cached in the tenant with the time of
//! reading, and re-read when older than [`crate::state::Limits::user_cache`]. Every request of a
//! session is admitted against the cache ([`AppState::admit_user`]): a user the portal says is
//! deactivated or gone is refused and their sessions end; a user outside the administrator's
//! access list is refused. Bitrix24 sends no event when a user is deactivated or moved (its
//! REST events about users are `ONUSERADD` only), hence the expiry.

use futures_util::StreamExt;
use tenancy::{Caller, Department, PortalUser, Standing, Tenant, UserId};

use super::AppState;
use crate::{
    error::{ApiError, ApiResult},
    session::{Claims, Role},
};

/// Users or departments read from a portal at most (a larger portal is cached partly and
/// nobody is marked gone for being beyond it).
const MAX_ROWS: usize = 20_000;

/// Remembered refresh attempts at most (all tenants); beyond, the memory starts again.
const MAX_ATTEMPTS: usize = 100_000;

/// What a portal is re-read for, at most once per expiry each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refresh {
    /// One user (`user.get` by `ID`).
    User(UserId),
    /// Every user and department (`GET /api/users`).
    Everyone,
    /// The departments (`department.get`), for users re-read one by one.
    Departments,
}

/// A user as the tenant caches them, from a `user.get` row.
pub(crate) fn portal_user(u: &b24_client::User) -> Option<PortalUser> {
    let id = i64::try_from(u.id.0).ok()?;
    let name = format!("{} {}", u.name, u.last_name).trim().to_owned();
    let name = if name.is_empty() { format!("user {id}") } else { name };
    let name = truncate(name, 255);
    let avatar = Some(u.personal_photo.clone()).filter(|p| !p.is_empty() && p.len() <= 2048);
    let departments =
        u.departments.iter().filter_map(|d| i64::try_from(d.0).ok()).take(100).collect();
    Some(PortalUser { id, name, active: u.active, avatar, departments })
}

fn department(d: &b24_client::Department) -> Option<Department> {
    Some(Department {
        id: i64::try_from(d.id.0).ok()?,
        name: truncate(d.name.clone(), 255),
        parent: d.parent.and_then(|p| i64::try_from(p.0).ok()),
        head: d.head.and_then(|h| i64::try_from(h.0).ok()),
    })
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// Every row of a list method, bounded by [`MAX_ROWS`]; `complete` when the list ended within.
async fn read_all<T: serde::de::DeserializeOwned>(
    portal: &b24_client::Portal,
    method: &str,
) -> ApiResult<(Vec<T>, bool)> {
    let mut rows = Vec::new();
    let mut stream = std::pin::pin!(portal.list(method, serde_json::json!({})));
    while let Some(row) = stream.next().await {
        let row = row.map_err(|e| {
            tracing::warn!(method, error = %e, "reading the portal's people failed");
            ApiError::Portal
        })?;
        if rows.len() >= MAX_ROWS {
            return Ok((rows, false));
        }
        match serde_json::from_value::<T>(row) {
            Ok(r) => rows.push(r),
            Err(e) => tracing::debug!(method, error = %e, "a row the portal sent was skipped"),
        }
    }
    Ok((rows, true))
}

impl AppState {
    /// Reads every user and department of a portal and caches them, unless that was done within
    /// the cache's expiry (`None` then). Users the portal no longer lists or says are inactive
    /// lose their sessions at once. Answers those users.
    pub async fn sync_directory(
        &self,
        member_id: &str,
        tenant: &Tenant,
    ) -> ApiResult<Option<Vec<UserId>>> {
        if !self.may_attempt(member_id, Refresh::Everyone) {
            return Ok(None);
        }
        self.note_attempt(member_id, Refresh::Everyone);
        self.note_attempt(member_id, Refresh::Departments);
        let portal = self.portal(member_id).await?;
        let (departments, _) =
            read_all::<b24_client::Department>(&portal, "department.get").await?;
        let (users, complete) = read_all::<b24_client::User>(&portal, "user.get").await?;
        let departments: Vec<Department> = departments.iter().filter_map(department).collect();
        let users: Vec<PortalUser> = users.iter().filter_map(portal_user).collect();
        let lost = tenant
            .sync_directory(Caller::System, Some(&departments), &users, complete, self.now())
            .await?;
        for user in &lost {
            self.end_sessions(member_id, *user).await;
        }
        Ok(Some(lost))
    }

    /// Re-reads one user (`user.get` by `ID`), and the departments when they were not read
    /// within the expiry or the user is in one the cache does not know, and caches them; a user
    /// the portal no longer lists, or lists as inactive, loses their sessions.
    pub async fn refresh_user(
        &self,
        member_id: &str,
        tenant: &Tenant,
        user: UserId,
    ) -> ApiResult<()> {
        self.note_attempt(member_id, Refresh::User(user));
        let portal = self.portal(member_id).await?;
        let found = portal.user_get(serde_json::json!({ "ID": user })).await.map_err(|e| {
            tracing::warn!(member_id, user_id = user, error = %e, "user.get failed");
            ApiError::Portal
        })?;
        let me: Vec<PortalUser> =
            found.iter().filter_map(portal_user).filter(|u| u.id == user).collect();
        let known: std::collections::HashSet<i64> =
            tenant.departments(Caller::System).await?.iter().map(|d| d.id).collect();
        let new_department = me.iter().flat_map(|u| &u.departments).any(|d| !known.contains(d));
        let departments = if new_department || self.may_attempt(member_id, Refresh::Departments) {
            self.note_attempt(member_id, Refresh::Departments);
            let (rows, _) = read_all::<b24_client::Department>(&portal, "department.get").await?;
            Some(rows.iter().filter_map(department).collect::<Vec<_>>())
        } else {
            None
        };
        let departments = departments.as_deref();
        let lost = if me.is_empty() {
            tenant.sync_directory(Caller::System, departments, &[], false, self.now()).await?;
            tenant.user_gone(Caller::System, user, self.now()).await?
        } else {
            let lost =
                tenant.sync_directory(Caller::System, departments, &me, false, self.now()).await?;
            lost.contains(&user)
        };
        if lost {
            self.end_sessions(member_id, user).await;
        }
        Ok(())
    }

    /// Ends a user's sessions because the portal no longer has them active.
    async fn end_sessions(&self, member_id: &str, user: UserId) {
        tracing::info!(member_id, user_id = user, "user deactivated in the portal: sessions ended");
        if let Err(e) =
            self.store().revoke_sessions(member_id, user, Caller::System, self.now()).await
        {
            tracing::warn!(member_id, user_id = user, error = %e, "ending sessions failed");
        }
    }

    /// Admits a session's user: refused (401) when the portal says they are deactivated or
    /// gone, refused (403) when the access list leaves them out. What the portal said is
    /// re-read first when older than the cache's expiry (at most once per expiry per user, so
    /// that a portal that does not answer slows nobody down: the cache is used meanwhile).
    pub async fn admit_user(&self, claims: &Claims, tenant: &Tenant) -> ApiResult<Standing> {
        let is_admin = claims.role == Role::Admin;
        let mut standing = tenant.standing(claims.uid, is_admin).await?;
        if self.is_stale(standing.synced_at)
            && self.may_attempt(&claims.mid, Refresh::User(claims.uid))
        {
            match self.refresh_user(&claims.mid, tenant, claims.uid).await {
                Ok(()) => standing = tenant.standing(claims.uid, is_admin).await?,
                Err(_) => self.metrics().b24_error(),
            }
        }
        check_standing(standing)
    }

    fn is_stale(&self, synced_at: Option<i64>) -> bool {
        let ttl_ms =
            i64::try_from(self.settings().limits.user_cache.as_millis()).unwrap_or(i64::MAX);
        synced_at.is_none_or(|at| self.now_unix().saturating_mul(1000).saturating_sub(at) >= ttl_ms)
    }

    /// Whether a refresh may be tried now (none tried within the expiry).
    fn may_attempt(&self, member_id: &str, what: Refresh) -> bool {
        let ttl = i64::try_from(self.settings().limits.user_cache.as_secs()).unwrap_or(i64::MAX);
        let attempts = self.refresh_attempts();
        attempts
            .get(&(member_id.to_owned(), what))
            .is_none_or(|at| self.now_unix().saturating_sub(*at) >= ttl)
    }

    fn note_attempt(&self, member_id: &str, what: Refresh) {
        let mut attempts = self.refresh_attempts();
        if attempts.len() >= MAX_ATTEMPTS {
            attempts.clear();
        }
        attempts.insert((member_id.to_owned(), what), self.now_unix());
    }
}

/// 401 for a user the portal says is deactivated or gone, 403 for one outside the access list.
pub fn check_standing(standing: Standing) -> ApiResult<Standing> {
    if !standing.active {
        return Err(ApiError::Unauthorized("session ended: the user is deactivated in the portal"));
    }
    if !standing.allowed {
        return Err(ApiError::Forbidden(
            "an administrator has not given you access to WhatsApp in this portal",
        ));
    }
    Ok(standing)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{portal_user, truncate};

    /// A `user.get` row as the tenant caches it: the name joined (or `user N`), an empty photo
    /// left out, departments kept; a long name cut on a character boundary.
    #[test]
    fn user_get_rows_become_cached_users() {
        let row: b24_client::User = serde_json::from_value(json!({"ID": "7", "NAME": "Anna",
            "LAST_NAME": "", "ACTIVE": false, "UF_DEPARTMENT": [2, "3"], "PERSONAL_PHOTO": ""}))
        .unwrap();
        let u = portal_user(&row).unwrap();
        assert_eq!((u.id, u.name.as_str(), u.active), (7, "Anna", false));
        assert_eq!((u.avatar, u.departments), (None, vec![2, 3]));
        let nameless: b24_client::User =
            serde_json::from_value(json!({"ID": 8, "PERSONAL_PHOTO": "https://cdn.test/8.png"}))
                .unwrap();
        let u = portal_user(&nameless).unwrap();
        assert_eq!(
            (u.name.as_str(), u.avatar.as_deref()),
            ("user 8", Some("https://cdn.test/8.png"))
        );
        assert_eq!(truncate("жжж".to_owned(), 5), "жж");
        assert_eq!(truncate("abc".to_owned(), 5), "abc");
    }
}
