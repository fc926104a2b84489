//! Ending sessions: an administrator ends every session of a user of their portal (a lost
//! laptop, a user who left). Tokens issued up to that moment (its second included) are refused by
//! [`crate::state::AppState::authenticate`]; the user gets a new one by opening the app again,
//! if the portal still lets them.

use tenancy::UserId;
use warp::{
    Reply,
    reply::{self, Response},
};

use crate::{
    error::{ApiError, ApiResult},
    state::{AppState, Session},
};

/// `POST /api/users/{user_id}/sessions/revoke` (administrators): every session token of the
/// user issued until now stops working; recorded as `auth.sessions_revoked` in the tenant's
/// audit log. Answers `{user_id, not_before}` (Unix seconds); 404 for a user this portal's app
/// has never seen. Allowed when the trial has ended (it protects, it does not use the service).
pub async fn revoke(state: AppState, s: Session, user_id: UserId) -> ApiResult<Response> {
    s.require_admin()?;
    let known = s.tenant.users(s.caller()).await?.iter().any(|u| u.id == user_id);
    if !known {
        return Err(ApiError::NotFound("user"));
    }
    let not_before =
        state.store().revoke_sessions(&s.claims.mid, user_id, s.caller(), state.now()).await?;
    tracing::info!(member_id = %s.claims.mid, user_id, by = s.claims.uid, "sessions revoked");
    Ok(reply::json(&serde_json::json!({ "user_id": user_id, "not_before": not_before }))
        .into_response())
}
