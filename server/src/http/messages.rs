//! A conversation's messages: the history, and sending a text, a quoted reply or a reaction.
//! Sends are queued with an idempotency key (the caller's, or a fresh one) and answered 202 with
//! the pending message; the status then moves over SSE (`message.status`).

use tenancy::ConversationId;
use warp::{
    Reply,
    http::StatusCode,
    reply::{self, Response},
};

use super::{
    models::{HistoryOut, HistoryQuery, MessageOut, SendReaction, SendText},
    shared::{json, page_size},
};
use crate::{
    error::{ApiError, ApiResult},
    state::{AppState, Session},
};

/// `GET /api/conversations/{id}/messages?before=&limit=`: one page, newest first.
pub async fn history(
    _state: AppState,
    s: Session,
    id: ConversationId,
    q: HistoryQuery,
) -> ApiResult<Response> {
    let limit = page_size(q.limit, 50, tenancy::MAX_PAGE)?;
    let p = s.tenant.history(s.caller(), id, q.before, limit).await?;
    Ok(json(&HistoryOut {
        messages: p.messages.into_iter().map(Into::into).collect(),
        next: p.next,
    }))
}

/// The caller's idempotency key, or a fresh random one (a retried request without a key is a
/// new message).
pub(super) fn idempotency_key(given: Option<String>) -> ApiResult<String> {
    if let Some(key) = given.filter(|k| !k.is_empty()) {
        return Ok(key);
    }
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|e| {
        tracing::error!(error = %e, "no randomness for an idempotency key");
        ApiError::Internal
    })?;
    Ok(format!("srv-{}", hex::encode(random)))
}

/// 202 with the queued message.
pub(super) fn accepted(m: tenancy::Message) -> Response {
    reply::with_status(reply::json(&MessageOut::from(m)), StatusCode::ACCEPTED).into_response()
}

/// `POST /api/conversations/{id}/messages`: a text, or a reply when `quoted_id` is given.
pub async fn send_text(
    state: AppState,
    s: Session,
    conversation: ConversationId,
    body: SendText,
) -> ApiResult<Response> {
    if body.text.trim().is_empty() {
        return Err(ApiError::BadRequest("text must not be empty".to_owned()));
    }
    let runtime = state.require_runtime()?;
    let key = idempotency_key(body.idempotency_key)?;
    let m = runtime
        .send_text(&s.claims.mid, s.caller(), conversation, &body.text, body.quoted_id, &key)
        .await?;
    tracing::info!(member_id = %s.claims.mid, message_id = m.id, "text queued");
    Ok(accepted(m))
}

/// `POST /api/conversations/{id}/reactions`: an emoji on a message (empty takes it back).
pub async fn send_reaction(
    state: AppState,
    s: Session,
    conversation: ConversationId,
    body: SendReaction,
) -> ApiResult<Response> {
    if body.emoji.chars().count() > 16 {
        return Err(ApiError::BadRequest("emoji must be one emoji".to_owned()));
    }
    let runtime = state.require_runtime()?;
    let key = idempotency_key(body.idempotency_key)?;
    let m = runtime
        .send_reaction(&s.claims.mid, s.caller(), conversation, body.message_id, &body.emoji, &key)
        .await?;
    tracing::info!(member_id = %s.claims.mid, message_id = m.id, "reaction queued");
    Ok(accepted(m))
}
