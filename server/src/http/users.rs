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

/// `GET /api/users` (administrators): the portal's users read through `user.get` and cached;
/// when the portal cannot be reached, the cache (`source: cache`).
pub async fn list(state: AppState, s: Session) -> ApiResult<Response> {
    let known: std::collections::HashMap<i64, tenancy::User> =
        s.tenant.users(s.caller()).await?.into_iter().map(|u| (u.id, u)).collect();
    let fetched = match state.portal(&s.claims.mid).await {
        Ok(portal) => portal.user_get(serde_json::json!({ "ACTIVE": true })).await.map_err(|e| {
            tracing::warn!(member_id = %s.claims.mid, error = %e, "user.get failed");
        }),
        Err(_) => Err(()),
    };
    let source = match fetched {
        Ok(list) => {
            for u in list {
                let Ok(id) = i64::try_from(u.id.0) else { continue };
                let name = format!("{} {}", u.name, u.last_name).trim().to_owned();
                let name = if name.is_empty() { format!("user {id}") } else { name };
                let is_admin = known.get(&id).is_some_and(|k| k.is_admin);
                if known.get(&id).is_some_and(|k| k.name == name) {
                    continue;
                }
                s.tenant
                    .upsert_user(s.caller(), &tenancy::User { id, name, is_admin }, state.now())
                    .await?;
            }
            "portal"
        }
        Err(()) => {
            state.metrics().b24_error();
            "cache"
        }
    };
    let users = s.tenant.users(s.caller()).await?.into_iter().map(Into::into).collect();
    Ok(json(&UsersOut { users, source }))
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
