//! The subscription: the plan and its use, an administrator's request for more lines (sent to
//! the operator's billing hook), and the billing system's plan changes.

use tenancy::Caller;
use warp::{http::StatusCode, reply::Response};

use super::{
    models::{PlanChange, SubscriptionOut, UpgradeRequest},
    shared::json,
};
use crate::{
    error::{ApiError, ApiResult},
    events::ServerEvent,
    state::{AppState, Session, trial_expired},
};

/// `GET /api/subscription`: plan, lines used of allowed, trial days left.
pub async fn get(state: AppState, s: Session) -> ApiResult<Response> {
    // The count is tenant-wide whoever asks (a number, no line data).
    let used = i64::try_from(s.tenant.lines(Caller::System).await?.len()).unwrap_or(i64::MAX);
    let now_ms = state.now_unix().saturating_mul(1000);
    let days_left = s.info.trial_ends_at.map(|end| {
        let left = end.saturating_sub(now_ms).max(0);
        (left + 86_400_000 - 1) / 86_400_000
    });
    Ok(json(&SubscriptionOut {
        plan: s.info.plan.clone(),
        lines_used: used,
        lines_allowed: s.info.line_quota,
        trial_ends_at: s.info.trial_ends_at,
        trial_days_left: days_left,
        read_only: trial_expired(&s.info, state.now_unix()),
        price_per_line: state.settings().billing.price_per_line,
        currency: state.settings().billing.price_currency.clone(),
        upgrade_available: state.settings().billing.upgrade_hook.is_some(),
    }))
}

/// The header carrying the upgrade request's signature: `sha256=<hex HMAC-SHA256 of the body>`.
pub const SIGNATURE_HEADER: &str = "x-wab24-signature";

/// How long the operator's billing hook may take to answer.
const HOOK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// `sha256=<hex>`: HMAC-SHA256 of `body` under `secret`.
pub fn sign_hook_body(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    // HMAC takes keys of any length; the error cannot happen.
    let Ok(mut mac) = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// `POST /api/subscription/upgrade` (administrators, also after the trial ended): sends the
/// request for `lines` lines to the operator's billing hook (signed), and audits it in the
/// tenant's log and the registry's. 202 when the hook accepted it; 503 when no hook is
/// configured or it did not accept (the attempt is audited either way).
pub async fn request_upgrade(
    state: AppState,
    s: Session,
    body: UpgradeRequest,
) -> ApiResult<Response> {
    if !(1..=10_000).contains(&body.lines) {
        return Err(ApiError::BadRequest("lines must be between 1 and 10000".to_owned()));
    }
    let billing = &state.settings().billing;
    let hook = billing.upgrade_hook.as_ref().ok_or_else(|| {
        ApiError::Unavailable(
            "upgrade requests are not set up on this server: contact the operator".to_owned(),
        )
    })?;
    let used = i64::try_from(s.tenant.lines(Caller::System).await?.len()).unwrap_or(i64::MAX);
    let now = state.now();
    let request = serde_json::json!({
        "member_id": s.claims.mid,
        "domain": s.info.domain,
        "plan": s.info.plan,
        "line_quota": s.info.line_quota,
        "lines_in_use": used,
        "lines_requested": body.lines,
        "price_per_line": billing.price_per_line,
        "currency": billing.price_currency,
        "monthly_total": body.lines.saturating_mul(billing.price_per_line),
        "requested_by": s.claims.uid,
        "at": tenancy::audit::unix_ms(now),
    });
    let bytes = request.to_string().into_bytes();
    let signature = sign_hook_body(&hook.secret, &bytes);
    let sent = match reqwest::Client::builder().timeout(HOOK_TIMEOUT).build() {
        Ok(http) => http
            .post(&hook.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(bytes)
            .send()
            .await
            .map(|r| r.status()),
        Err(e) => Err(e),
    };
    let accepted = matches!(&sent, Ok(status) if status.is_success());
    match &sent {
        Ok(status) => {
            tracing::info!(member_id = %s.claims.mid, lines = body.lines, status = status.as_u16(), "upgrade request sent to the billing hook")
        }
        Err(e) => tracing::warn!(member_id = %s.claims.mid, error = %e, "billing hook unreachable"),
    }
    let mut audited = request.clone();
    audited["accepted"] = serde_json::Value::Bool(accepted);
    let audited = audited.to_string();
    s.tenant.record_upgrade_request(s.caller(), audited.as_bytes(), now).await?;
    state
        .store()
        .record_upgrade_request(&s.claims.mid, s.caller(), audited.as_bytes(), now)
        .await?;
    if !accepted {
        return Err(ApiError::Unavailable(
            "the operator's billing system did not take the request; try again later".to_owned(),
        ));
    }
    let mut r = json(&serde_json::json!({ "status": "requested", "lines_requested": body.lines,
        "monthly_total": body.lines.saturating_mul(billing.price_per_line),
        "currency": billing.price_currency }));
    *r.status_mut() = StatusCode::ACCEPTED;
    Ok(r)
}

/// `POST /api/hooks/plan`: the billing system changes a tenant's plan. The route's filter has
/// checked the configured secret in `X-Wab24-Hook-Secret` (compared in constant time; 404 when
/// no secret is configured).
pub async fn plan_hook(state: AppState, body: PlanChange) -> ApiResult<Response> {
    let info = state
        .store()
        .set_plan(&body.member_id, &body.plan, body.line_quota, body.trial_ends_at, state.now())
        .await
        .map_err(|e| match e {
            tenancy::Error::UnknownTenant => ApiError::NotFound("tenant"),
            other => other.into(),
        })?;
    tracing::info!(member_id = %info.member_id, plan = %info.plan, quota = info.line_quota, "plan changed");
    state.bus().publish(ServerEvent::SubscriptionChanged {
        member_id: info.member_id.clone(),
        plan: info.plan.clone(),
        lines_allowed: info.line_quota,
        trial_ends_at: info.trial_ends_at,
    });
    Ok(json(&serde_json::json!({ "member_id": info.member_id, "plan": info.plan,
        "line_quota": info.line_quota, "trial_ends_at": info.trial_ends_at })))
}
