//! Handlers of the JSON API (`/api/...`). Each takes the state and the authenticated caller, and
//! answers JSON or an [`ApiError`].

use serde::Serialize;
use tenancy::{Caller, LineId};
use warp::{
    Reply,
    http::StatusCode,
    reply::{self, Response},
};

use super::models::*;
use crate::{
    error::{ApiError, ApiResult},
    events::ServerEvent,
    session::Role,
    state::{AppState, Session, trial_expired},
};

fn json<T: Serialize>(v: &T) -> Response {
    reply::json(v).into_response()
}

fn page(limit: Option<u32>, default: u32, max: u32) -> ApiResult<u32> {
    match limit.unwrap_or(default) {
        n if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::BadRequest(format!("limit must be between 1 and {max}"))),
    }
}

/// A line with its live state from the runtime.
fn line_out(state: &AppState, member_id: &str, line: tenancy::Line) -> LineOut {
    let id = line.id;
    let mut out = LineOut::from(line);
    out.state =
        state.runtime().and_then(|rt| rt.status(member_id, id)).map(|st| st.name().to_owned());
    out
}

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

/// `GET /api/lines`: every line for administrators, the assigned ones for users.
pub async fn lines(state: AppState, s: Session) -> ApiResult<Response> {
    let lines: Vec<LineOut> = s
        .tenant
        .lines(s.caller())
        .await?
        .into_iter()
        .map(|l| line_out(&state, &s.claims.mid, l))
        .collect();
    Ok(json(&serde_json::json!({ "lines": lines })))
}

/// `POST /api/lines` (administrators; within the quota; not when read-only).
pub async fn create_line(state: AppState, s: Session, body: CreateLine) -> ApiResult<Response> {
    s.require_admin()?;
    s.require_writable(state.now_unix())?;
    let line =
        s.tenant.create_line(s.caller(), &body.name, body.phone.as_deref(), state.now()).await?;
    tracing::info!(member_id = %s.claims.mid, line_id = line.id, "line created");
    let out = LineOut::from(line);
    state
        .bus()
        .publish(ServerEvent::LineCreated { member_id: s.claims.mid.clone(), line: out.clone() });
    Ok(reply::with_status(reply::json(&out), StatusCode::CREATED).into_response())
}

/// `GET /api/lines/{id}`.
pub async fn line(state: AppState, s: Session, id: LineId) -> ApiResult<Response> {
    Ok(json(&line_out(&state, &s.claims.mid, s.tenant.line(s.caller(), id).await?)))
}

/// `DELETE /api/lines/{id}` (administrators): the line disappears, its history is kept; a
/// running line is stopped first.
pub async fn delete_line(state: AppState, s: Session, id: LineId) -> ApiResult<Response> {
    s.require_admin()?;
    s.require_writable(state.now_unix())?;
    s.tenant.line(s.caller(), id).await?;
    if let Some(rt) = state.runtime()
        && let Err(e) = rt.disconnect(&s.claims.mid, id).await
    {
        tracing::warn!(member_id = %s.claims.mid, line_id = id, error = %e, "stopping a deleted line failed");
    }
    s.tenant.delete_line(s.caller(), id, state.now()).await?;
    tracing::info!(member_id = %s.claims.mid, line_id = id, "line deleted");
    state.bus().publish(ServerEvent::LineDeleted { member_id: s.claims.mid.clone(), line_id: id });
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PATCH /api/lines/{id}` (administrators; not when read-only): changes the line's settings
/// (`send_read_receipts`); a change is audited and published as `line.updated`.
pub async fn update_line(
    state: AppState,
    s: Session,
    id: LineId,
    body: UpdateLine,
) -> ApiResult<Response> {
    s.require_admin()?;
    s.require_writable(state.now_unix())?;
    let settings = tenancy::LineSettings { send_read_receipts: body.send_read_receipts };
    let line = s.tenant.set_line_settings(s.caller(), id, &settings, state.now()).await?;
    tracing::info!(member_id = %s.claims.mid, line_id = id, "line settings changed");
    let out = line_out(&state, &s.claims.mid, line);
    state
        .bus()
        .publish(ServerEvent::LineUpdated { member_id: s.claims.mid.clone(), line: out.clone() });
    Ok(json(&out))
}

/// `PUT /api/lines/{id}/assignment` (administrators): assign, reassign (the history moves with
/// the line) or unassign (`user_id: null`). The user must be known (listed by `/api/users`).
pub async fn assign_line(
    state: AppState,
    s: Session,
    id: LineId,
    body: Assign,
) -> ApiResult<Response> {
    s.require_admin()?;
    s.require_writable(state.now_unix())?;
    let before = s.tenant.line(s.caller(), id).await?.assigned_user;
    let line = s.tenant.assign_line(s.caller(), id, body.user_id, state.now()).await?;
    tracing::info!(member_id = %s.claims.mid, line_id = id, "line assigned");
    let out = LineOut::from(line);
    state.bus().publish(ServerEvent::LineAssigned {
        member_id: s.claims.mid.clone(),
        line: out.clone(),
        previous_user: before,
    });
    Ok(json(&out))
}

/// `GET /api/lines/{id}/conversations`: most recent first, with unread counts.
pub async fn conversations(_state: AppState, s: Session, line_id: LineId) -> ApiResult<Response> {
    let conversations = s.tenant.conversations_with_last_message(s.caller(), line_id).await?;
    let list: Vec<ConversationOut> = conversations
        .into_iter()
        .map(|(c, last)| {
            let mut out = ConversationOut::from(c);
            out.last_message = last.map(MessageOut::from);
            out
        })
        .collect();
    Ok(json(&serde_json::json!({ "conversations": list })))
}

/// `GET /api/conversations/search?q=`: on the caller's lines, contacts whose name, phone
/// (digits, or as displayed) or JID matches, with their conversations, then messages whose text
/// matches (`message`, newest first), with theirs.
pub async fn search(_state: AppState, s: Session, q: SearchQuery) -> ApiResult<Response> {
    let limit = page(q.limit, 50, tenancy::MAX_PAGE)?;
    if q.q.trim().is_empty() {
        return Err(ApiError::BadRequest("q must not be empty".to_owned()));
    }
    let contacts = s.tenant.search_contacts(s.caller(), q.q.trim(), limit).await?;
    let mut results = Vec::with_capacity(contacts.len());
    for c in contacts {
        // A contact's conversation: the one on its line with this contact.
        let conv = s
            .tenant
            .conversations(s.caller(), c.line_id)
            .await?
            .into_iter()
            .find(|k| k.contact.id == c.id)
            .map(ConversationOut::from);
        results.push(serde_json::json!({ "contact": ContactOut::from(c), "conversation": conv }));
    }
    for hit in s.tenant.search_messages(s.caller(), q.q.trim(), limit).await? {
        let contact = ContactOut::from(hit.conversation.contact.clone());
        results.push(serde_json::json!({
            "contact": contact,
            "conversation": ConversationOut::from(hit.conversation),
            "message": MessageOut::from(hit.message),
        }));
    }
    Ok(json(&serde_json::json!({ "results": results })))
}

/// `GET /api/conversations/{id}`.
pub async fn conversation(_state: AppState, s: Session, id: i64) -> ApiResult<Response> {
    Ok(json(&ConversationOut::from(s.tenant.conversation(s.caller(), id).await?)))
}

/// `GET /api/conversations/{id}/messages?before=&limit=`: one page, newest first.
pub async fn history(
    _state: AppState,
    s: Session,
    id: i64,
    q: HistoryQuery,
) -> ApiResult<Response> {
    let limit = page(q.limit, 50, tenancy::MAX_PAGE)?;
    let p = s.tenant.history(s.caller(), id, q.before, limit).await?;
    Ok(json(&HistoryOut {
        messages: p.messages.into_iter().map(Into::into).collect(),
        next: p.next,
    }))
}

/// `POST /api/conversations/{id}/read`: the caller opened the conversation. When the count is
/// theirs (the line's assigned user; administrators while nobody is assigned) it goes to zero
/// and, unless the line's setting says not to, WhatsApp gets read receipts for the inbound
/// messages read now. Anyone else looking changes nothing. Allowed when read-only (it only
/// changes what the viewer has seen).
pub async fn mark_read(state: AppState, s: Session, id: i64) -> ApiResult<Response> {
    let read = s.tenant.mark_read(s.caller(), id, state.now()).await?;
    if read.cleared {
        state.bus().publish(ServerEvent::ConversationRead {
            member_id: s.claims.mid.clone(),
            line_id: read.line_id,
            conversation_id: id,
        });
    }
    if read.send_read_receipts
        && !read.newly_read.is_empty()
        && let Some(rt) = state.runtime()
        && let Err(error) =
            rt.send_read_receipts(&s.claims.mid, read.line_id, &read.chat, &read.newly_read)
    {
        // The messages stay read here; WhatsApp is told only while the line runs.
        tracing::info!(member_id = %s.claims.mid, line_id = read.line_id, %error, "read receipts not sent");
    }
    Ok(json(&serde_json::json!({
        "conversation_id": id, "unread": read.unread, "cleared": read.cleared,
    })))
}

/// `GET /api/users` (administrators): the portal's users read through `user.get` and cached;
/// when the portal cannot be reached, the cache (`source: cache`).
pub async fn users(state: AppState, s: Session) -> ApiResult<Response> {
    s.require_admin()?;
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

fn audit_query(q: &AuditQuery, default_limit: u32) -> ApiResult<tenancy::audit::Query> {
    let time = |ms: Option<i64>, what: &str| -> ApiResult<Option<time::OffsetDateTime>> {
        ms.map(|ms| {
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .map_err(|_| ApiError::BadRequest(format!("{what} is out of range")))
        })
        .transpose()
    };
    let kind = match &q.kind {
        None => None,
        Some(k) => Some(
            k.parse::<tenancy::audit::Kind>()
                .map_err(|_| ApiError::BadRequest(format!("unknown audit kind {k:?}")))?,
        ),
    };
    Ok(tenancy::audit::Query {
        since: time(q.since, "since")?,
        until: time(q.until, "until")?,
        kind,
        subject: q.subject.clone(),
        actor: q.actor.clone(),
        after_seq: q.after,
        limit: page(q.limit, default_limit, tenancy::audit::MAX_PAGE)?,
    })
}

/// `GET /api/audit` (administrators): one page, filtered.
pub async fn audit(_state: AppState, s: Session, q: AuditQuery) -> ApiResult<Response> {
    s.require_admin()?;
    let page = s.tenant.audit_query(s.caller(), &audit_query(&q, 100)?).await?;
    Ok(json(&AuditPageOut {
        records: page.records.into_iter().map(Into::into).collect(),
        next: page.next,
    }))
}

/// `GET /api/audit/export` (administrators): every matching record as NDJSON.
pub async fn audit_export(_state: AppState, s: Session, q: AuditQuery) -> ApiResult<Response> {
    s.require_admin()?;
    let mut out = Vec::new();
    let query = audit_query(&q, tenancy::audit::MAX_PAGE)?;
    let n = s.tenant.audit_export(s.caller(), &query, &mut out).await?;
    tracing::info!(member_id = %s.claims.mid, records = n, "audit exported");
    let mut r = Response::new(out.into());
    r.headers_mut().insert(
        warp::http::header::CONTENT_TYPE,
        warp::http::HeaderValue::from_static("application/x-ndjson"),
    );
    r.headers_mut().insert(
        warp::http::header::CONTENT_DISPOSITION,
        warp::http::HeaderValue::from_static("attachment; filename=\"audit.ndjson\""),
    );
    Ok(r)
}

/// `GET /api/audit/verify` (administrators): verifies the tenant's audit chain now; a broken
/// chain is a 200 answer with `ok: false` and the first broken record, and counts in `/metrics`.
pub async fn audit_verify(state: AppState, s: Session) -> ApiResult<Response> {
    s.require_admin()?;
    let out = crate::audit_check::outcome(s.tenant.verify_audit(s.caller()).await)?;
    state.metrics().tenant_audit_chain(&s.claims.mid, out.ok);
    if !out.ok {
        tracing::error!(member_id = %s.claims.mid, broken = ?out.broken, "audit chain BROKEN");
    }
    Ok(json(&out))
}

/// `GET /api/subscription`: plan, lines used of allowed, trial days left.
pub async fn subscription(state: AppState, s: Session) -> ApiResult<Response> {
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
pub async fn subscription_upgrade(
    state: AppState,
    s: Session,
    body: UpgradeRequest,
) -> ApiResult<Response> {
    s.require_admin()?;
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

/// `POST /api/hooks/plan`: the billing system changes a tenant's plan. Authenticated by the
/// configured secret in `X-Wab24-Hook-Secret` (compared in constant time); 404 when no secret
/// is configured.
pub async fn plan_hook(
    state: AppState,
    secret: Option<String>,
    body: PlanChange,
) -> ApiResult<Response> {
    use subtle::ConstantTimeEq;
    let Some(expected) = state.settings().plan_hook_secret.as_deref() else {
        return Err(ApiError::NotFound("route"));
    };
    let given = secret.ok_or(ApiError::Unauthorized("missing X-Wab24-Hook-Secret"))?;
    if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        return Err(ApiError::Forbidden("wrong hook secret"));
    }
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

/// The role's name in logs.
pub fn role_name(r: Role) -> &'static str {
    match r {
        Role::Admin => "admin",
        Role::User => "user",
    }
}
