//! Users: who the token stands for, the portal's users, and ending a user's sessions (a lost
//! laptop, a user who left). Revoked tokens, up to that moment (its second included), are
//! refused by [`crate::state::AppState::authenticate`]; the user gets a new one by opening the
//! app again, if the portal still lets them.

use tenancy::UserId;

use warp::reply::Response;

use super::{
    models::{Me, UsersOut},
    shared::json,
};
use crate::{
    error::{ApiError, ApiResult},
    state::{AppState, Session, trial_expired},
};

/// `GET /api/me`.
pub async fn me(state: AppState, s: Session) -> ApiResult<Response> {
    Ok(json(&Me {
        member_id: s.claims.mid.clone(),
        user_id: s.claims.uid,
        role: s.claims.role,
        expires_at: s.claims.exp,
        read_only: trial_expired(&s.info, state.now_unix()),
    }))
}

/// `GET /api/users` (administrators): the portal's users and departments read through
/// `user.get` and `department.get` (every page, at most once per `user_cache_secs`) and
/// cached; users the portal no longer lists or says are inactive lose their sessions. When the
/// portal cannot be reached, the cache (`source: cache`).
pub async fn list(state: AppState, s: Session) -> ApiResult<Response> {
    let source = match state.sync_directory(&s.claims.mid, &s.tenant).await {
        Ok(_) => "portal",
        Err(ApiError::Portal | ApiError::Forbidden(_)) => {
            state.metrics().b24_error();
            "cache"
        }
        Err(e) => return Err(e),
    };
    let users = s.tenant.directory(s.caller()).await?.into_iter().map(Into::into).collect();
    let departments = s.tenant.departments(s.caller()).await?.into_iter().map(Into::into).collect();
    Ok(json(&UsersOut { users, departments, source }))
}

/// `POST /api/users/{user_id}/sessions/revoke` (administrators): every session token of the
/// user issued until now stops working; recorded as `auth.sessions_revoked` in the tenant's
/// audit log. Answers `{user_id, not_before}` (Unix seconds); 404 for a user this portal's app
/// has never seen. Allowed when the trial has ended (it protects, it does not use the service).
pub async fn revoke_sessions(state: AppState, s: Session, user_id: UserId) -> ApiResult<Response> {
    let known = s.tenant.users(s.caller()).await?.iter().any(|u| u.id == user_id);
    if !known {
        return Err(ApiError::NotFound("user"));
    }
    let not_before =
        state.store().revoke_sessions(&s.claims.mid, user_id, s.caller(), state.now()).await?;
    tracing::info!(member_id = %s.claims.mid, user_id, by = s.claims.uid, "sessions revoked");
    Ok(json(&serde_json::json!({ "user_id": user_id, "not_before": not_before })))
}
