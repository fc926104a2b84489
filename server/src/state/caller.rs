//! The authenticated API caller: a session token checked against the key, the tenant's
//! registry entry and the revocations, with the tenant opened and the user admitted (active in
//! the portal, within the access list; see [`super::directory`]).

use tenancy::{Caller, Tenant, TenantInfo, TenantStatus};

use super::AppState;
use crate::{
    error::{ApiError, ApiResult},
    session::{Claims, Role},
};

/// An authenticated API caller.
#[derive(Debug)]
pub struct Session {
    /// The token's claims.
    pub claims: Claims,
    /// The tenant's registry entry.
    pub info: TenantInfo,
    /// The tenant's storage.
    pub tenant: Tenant,
}

impl Session {
    /// The tenancy caller.
    pub fn caller(&self) -> Caller {
        self.claims.caller()
    }

    /// 403 unless the caller is an administrator.
    pub fn require_admin(&self) -> ApiResult<()> {
        match self.claims.role {
            Role::Admin => Ok(()),
            Role::User => Err(ApiError::Forbidden("administrators only")),
        }
    }

    /// 402 when the trial has ended (writes are refused, reads go on).
    pub fn require_writable(&self, now_unix: i64) -> ApiResult<()> {
        if trial_expired(&self.info, now_unix) { Err(ApiError::TrialExpired) } else { Ok(()) }
    }
}

/// Whether a tenant's trial has ended (a tenant with no trial end is on a paid plan).
pub fn trial_expired(info: &TenantInfo, now_unix: i64) -> bool {
    info.trial_ends_at.is_some_and(|end| end <= now_unix.saturating_mul(1000))
}

impl AppState {
    /// Checks a bearer token (from the `Authorization` header or, for EventSource which cannot
    /// set headers, the `access_token` query parameter) and opens the tenant.
    pub async fn authenticate(&self, bearer: Option<&str>) -> ApiResult<Session> {
        let token = bearer.ok_or(ApiError::Unauthorized("missing bearer token"))?;
        let claims = self.key().verify(token, self.now_unix()).map_err(|e| {
            tracing::debug!(reason = %e, "token refused");
            match e {
                crate::session::TokenError::Expired => ApiError::Unauthorized("token expired"),
                _ => ApiError::Unauthorized("invalid token"),
            }
        })?;
        let info = self.store().info(&claims.mid).await.map_err(|e| match e {
            tenancy::Error::UnknownTenant | tenancy::Error::InvalidMemberId => {
                ApiError::Unauthorized("invalid token")
            }
            other => ApiError::from(other),
        })?;
        if info.status != TenantStatus::Active {
            return Err(ApiError::TenantInactive(info.status.to_string()));
        }
        if claims.generation != info.generation {
            return Err(ApiError::Unauthorized("session ended: the app was reinstalled"));
        }
        let tenant = self.store().tenant(&claims.mid).await?;
        // The portal's word first: a user it deactivated is told so, though their sessions
        // were also ended then.
        self.admit_user(&claims, &tenant).await?;
        self.check_not_revoked(&claims, &info).await?;
        Ok(Session { claims, info, tenant })
    }

    /// Whether a session admitted earlier may go on (an open event stream asks again now and
    /// then): the installation, the revocations, and the user's standing in the portal.
    pub async fn readmit(&self, s: &Session) -> ApiResult<()> {
        let info = self.store().info(&s.claims.mid).await?;
        if info.status != TenantStatus::Active {
            return Err(ApiError::TenantInactive(info.status.to_string()));
        }
        self.admit_user(&s.claims, &s.tenant).await?;
        self.check_not_revoked(&s.claims, &info).await?;
        Ok(())
    }

    /// Refuses a token issued under an earlier installation (before an uninstall or a reinstall)
    /// or before an administrator ended the user's sessions.
    pub async fn check_not_revoked(&self, claims: &Claims, info: &TenantInfo) -> ApiResult<()> {
        if claims.generation != info.generation {
            tracing::debug!(member_id = %claims.mid, "token refused: earlier installation");
            return Err(ApiError::Unauthorized("session ended: the app was reinstalled"));
        }
        let not_before = self.store().sessions_not_before(&claims.mid, claims.uid).await?;
        // Issued in the second of the revocation counts as before it.
        if not_before.is_some_and(|nb| claims.iat <= nb) {
            tracing::debug!(member_id = %claims.mid, user_id = claims.uid, "token refused: revoked");
            return Err(ApiError::Unauthorized("session ended by an administrator"));
        }
        Ok(())
    }
}
