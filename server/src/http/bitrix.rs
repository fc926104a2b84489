//! What Bitrix24 POSTs to the app: the install frame or callback, the app frame (which issues a
//! session token), and events (verified by `application_token`).

use b24_client::{
    Error as B24Error, Secret, TokenSet,
    inbound::{Event, EventKind, FrameRequest, InstallCallback, Protocol},
};
use bytes::Bytes;
use serde_json::Value;
use tenancy::{Caller, Cleanup, Install, User};
use warp::{
    Reply,
    http::{HeaderValue, StatusCode, header},
    reply::{self, Response},
};

use crate::{
    error::{ApiError, ApiResult},
    session::{self, Role},
    state::{AppState, portal_tokens},
};

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A host name (with an optional port) fit for a CSP source: letters, digits, `.`, `-`, `:`.
fn safe_host(domain: &str) -> Option<&str> {
    let ok = !domain.is_empty()
        && domain.len() <= 255
        && domain.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b':');
    ok.then_some(domain)
}

/// An HTML page that only the portal may frame.
fn html(status: StatusCode, body: String, frame_ancestor: Option<String>) -> Response {
    let mut r = reply::with_status(reply::html(body), status).into_response();
    let csp = match frame_ancestor {
        Some(origin) => format!(
            "frame-ancestors {origin}; default-src 'self'; script-src 'self' https://api.bitrix24.com; style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; media-src 'self' blob:; object-src 'none'; base-uri 'none'"
        ),
        None => "frame-ancestors 'none'; default-src 'none'".to_owned(),
    };
    if let Ok(v) = HeaderValue::from_str(&csp) {
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    r
}

fn error_page(e: &ApiError) -> Response {
    let body = format!(
        "<!doctype html><meta charset=utf-8><title>wab24</title><p id=error data-code=\"{}\">{}</p>",
        e.code(),
        esc(&e.to_string())
    );
    html(e.status(), body, None)
}

fn origin(state: &AppState, protocol: Protocol, domain: &str) -> Option<String> {
    let scheme = match protocol {
        Protocol::Http => "http",
        Protocol::Https => "https",
    };
    let portal = safe_host(domain).map(|d| format!("{scheme}://{d}"))?;
    Some(match &state.settings().extra_frame_ancestor {
        Some(extra) => format!("{portal} {extra}"),
        None => portal,
    })
}

fn b24_failed(state: &AppState, what: &'static str, e: &B24Error) {
    state.metrics().b24_error();
    tracing::warn!(error = %e, "{what}");
}

/// Confirms a user token against the OAuth server we trust (never the one a request names):
/// it must be issued to our application for `member_id`. Returns `app.info`'s result.
async fn confirm_token(state: &AppState, auth: &Secret, member_id: &str) -> ApiResult<Value> {
    let info =
        state.b24().oauth_app_info(&state.settings().oauth_server, auth).await.map_err(|e| {
            b24_failed(state, "app.info on the OAuth server failed", &e);
            ApiError::Unauthorized("the portal did not confirm this token")
        })?;
    let client_id = info.get("client_id").and_then(Value::as_str).unwrap_or("");
    let member = info.pointer("/install/member_id").and_then(Value::as_str).unwrap_or("");
    if client_id != state.settings().client_id || member != member_id {
        return Err(ApiError::Forbidden("token issued to another application or portal"));
    }
    Ok(info)
}

/// Registers (or re-registers) a tenant from a confirmed installer token: the registry entry
/// (a reinstall keeps the plan), the sealed tokens with the `application_token`, the installer
/// as an administrator, and the `ONAPPUNINSTALL` handler.
async fn register(state: &AppState, tokens: TokenSet, application_token: &Secret) -> ApiResult<()> {
    let member_id = tokens.member_id.clone();
    let portal = state.b24().portal(tokens.clone());
    let is_admin = portal.user_admin().await.map_err(|e| {
        b24_failed(state, "user.admin failed", &e);
        ApiError::Portal
    })?;
    if !is_admin {
        return Err(ApiError::Forbidden("only a portal administrator can install the app"));
    }
    let installer = portal.user_current().await.map_err(|e| {
        b24_failed(state, "user.current failed", &e);
        ApiError::Portal
    })?;
    let now = state.now();
    let s = state.settings();
    let (plan, line_quota, trial_ends_at) = match state.store().info(&member_id).await {
        Ok(old) => (old.plan, old.line_quota, old.trial_ends_at),
        Err(tenancy::Error::UnknownTenant) => {
            let trial = (s.trial_days > 0).then(|| {
                state.now_unix().saturating_add(s.trial_days * 86_400).saturating_mul(1000)
            });
            (s.default_plan.clone(), s.default_line_quota, trial)
        }
        Err(e) => return Err(e.into()),
    };
    let install = Install {
        member_id: member_id.clone(),
        domain: tokens.domain.clone(),
        plan,
        line_quota,
        trial_ends_at,
        tokens: Some(portal_tokens(&tokens, application_token.expose().to_owned())),
    };
    state.store().install(&install, now).await?;
    state.forget_portal(&member_id, false);
    let tenant = state.store().tenant(&member_id).await?;
    let id = i64::try_from(installer.id.0).map_err(|_| ApiError::Portal)?;
    let name = format!("{} {}", installer.name, installer.last_name).trim().to_owned();
    tenant.upsert_user(Caller::System, &User { id, name, is_admin: true }, now).await?;
    let handler = format!("{}/b24/events", s.public_url);
    portal.event_bind("ONAPPUNINSTALL", &handler).await.map_err(|e| {
        b24_failed(state, "event.bind failed", &e);
        ApiError::Portal
    })?;
    tracing::info!(member_id = %member_id, "app installed");
    Ok(())
}

/// `POST /b24/install`: the install frame (an administrator opening the app for the first time)
/// or the install callback (`ONAPPINSTALL` with tokens). The frame's page calls
/// `BX24.installFinish()`.
pub async fn install(state: AppState, query: String, body: Bytes) -> Response {
    let is_event = b24_client::form::parse(&body, Default::default())
        .ok()
        .is_some_and(|v| v.get("event").is_some());
    if is_event {
        return match install_callback(&state, &body).await {
            Ok(()) => reply::json(&serde_json::json!({ "installed": true })).into_response(),
            Err(e) => e.response(),
        };
    }
    match install_frame(&state, &query, &body).await {
        Ok(origin) => {
            let page = "<!doctype html><meta charset=utf-8><title>wab24: installed</title>\
                <script src=\"https://api.bitrix24.com/api/v1/\"></script>\
                <p id=installed>wab24 is installed.</p>\
                <script src=\"/ui/install.js\"></script>"
                .to_owned();
            html(StatusCode::OK, page, origin)
        }
        Err(e) => error_page(&e),
    }
}

async fn install_frame(state: &AppState, query: &str, body: &[u8]) -> ApiResult<Option<String>> {
    let frame = FrameRequest::parse(query, body)
        .map_err(|e| ApiError::BadRequest(format!("not a Bitrix24 frame: {e}")))?;
    let info = confirm_token(state, &frame.auth_id, &frame.member_id).await?;
    let client_endpoint = info
        .pointer("/install/client_endpoint")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(ApiError::Portal)?;
    let domain = info.pointer("/install/domain").and_then(Value::as_str).unwrap_or(&frame.domain);
    let refresh = frame
        .refresh_id
        .clone()
        .ok_or_else(|| ApiError::BadRequest("REFRESH_ID is missing".to_owned()))?;
    let app_token = frame
        .application_token
        .clone()
        .ok_or_else(|| ApiError::BadRequest("APPLICATION_TOKEN is missing".to_owned()))?;
    let tokens = TokenSet {
        member_id: frame.member_id.clone(),
        domain: domain.to_owned(),
        access_token: frame.auth_id.clone(),
        refresh_token: refresh,
        expires_at: state.now_unix()
            + i64::try_from(frame.auth_expires.unwrap_or(3600)).unwrap_or(3600),
        client_endpoint: client_endpoint.to_owned(),
        server_endpoint: state.settings().oauth_server.clone(),
        scope: frame.scope.clone(),
        user_id: None,
    };
    register(state, tokens, &app_token).await?;
    Ok(origin(state, frame.protocol, domain))
}

async fn install_callback(state: &AppState, body: &[u8]) -> ApiResult<()> {
    let cb = InstallCallback::parse(body, state.now_unix())
        .map_err(|e| ApiError::BadRequest(format!("not an ONAPPINSTALL callback: {e}")))?;
    let info = confirm_token(state, &cb.tokens.access_token, &cb.tokens.member_id).await?;
    let mut tokens = cb.tokens.clone();
    // Endpoints from the OAuth server we trust, not from the form.
    if let Some(ep) = info.pointer("/install/client_endpoint").and_then(Value::as_str) {
        tokens.client_endpoint = ep.to_owned();
    }
    if let Some(d) = info.pointer("/install/domain").and_then(Value::as_str) {
        tokens.domain = d.to_owned();
    }
    tokens.server_endpoint = state.settings().oauth_server.clone();
    register(state, tokens, &cb.event.auth.application_token).await
}

/// `POST /b24/app`: a user opens the app. The frame's `AUTH_ID` is confirmed by the portal
/// (`app.info` on the OAuth server, `user.current`, `user.admin`), the user is cached, and a
/// session token (72 h) is put into the page. Only the portal may frame the page.
pub async fn app_frame(state: AppState, query: String, body: Bytes) -> Response {
    match open_app(&state, &query, &body).await {
        Ok(opened) => html(StatusCode::OK, app_page(&opened), opened.origin.clone()),
        Err(e) => error_page(&e),
    }
}

/// A confirmed frame: what the app page needs.
struct OpenedApp {
    token: String,
    origin: Option<String>,
    role: Role,
    user_id: i64,
    lang: &'static str,
}

/// The interface language from Bitrix24's `LANG`: Russian for the portals' Russian-speaking
/// zones, English otherwise.
fn ui_lang(lang: &str) -> &'static str {
    match lang.to_ascii_lowercase().as_str() {
        "ru" | "ua" | "by" | "kz" => "ru",
        _ => "en",
    }
}

/// The chat panel's page: the session for the scripts (JSON, so `<` is escaped where it could
/// close the element) and the embedded UI's entry points.
fn app_page(app: &OpenedApp) -> String {
    let session = serde_json::json!({
        "token": app.token,
        "role": crate::http::api::role_name(app.role),
        "user_id": app.user_id,
        "lang": app.lang,
    })
    .to_string()
    .replace('<', "\\u003c");
    format!(
        "<!doctype html><html lang={lang}><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width\"><title>wab24</title>\
         <link rel=stylesheet href=\"/ui/app.css\">\
         <script type=\"application/json\" id=\"wab24-session\">{session}</script>\
         <div id=app></div><script type=module src=\"/ui/app.js\"></script>",
        lang = app.lang
    )
}

async fn open_app(state: &AppState, query: &str, body: &[u8]) -> ApiResult<OpenedApp> {
    let frame = FrameRequest::parse(query, body)
        .map_err(|e| ApiError::BadRequest(format!("not a Bitrix24 frame: {e}")))?;
    let info = state.store().info(&frame.member_id).await.map_err(|e| match e {
        tenancy::Error::UnknownTenant | tenancy::Error::InvalidMemberId => {
            ApiError::Forbidden("the app is not installed on this portal")
        }
        other => other.into(),
    })?;
    if info.status != tenancy::TenantStatus::Active {
        return Err(ApiError::TenantInactive(info.status.to_string()));
    }
    let portal = state.portal(&frame.member_id).await?;
    let user = portal.verify_frame_user(&frame).await.map_err(|e| {
        b24_failed(state, "frame user not confirmed", &e);
        match e {
            B24Error::FrameNotConfirmed(_) => {
                ApiError::Forbidden("the portal did not confirm this frame")
            }
            _ => ApiError::Unauthorized("the portal did not confirm this frame"),
        }
    })?;
    let uid = i64::try_from(user.user_id.0).map_err(|_| ApiError::Portal)?;
    let text = |k: &str| user.profile.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let name = format!("{} {}", text("NAME"), text("LAST_NAME")).trim().to_owned();
    let name = if name.is_empty() { format!("user {uid}") } else { name };
    let tenant = state.store().tenant(&frame.member_id).await?;
    tenant
        .upsert_user(Caller::System, &User { id: uid, name, is_admin: user.is_admin }, state.now())
        .await?;
    let role = if user.is_admin { Role::Admin } else { Role::User };
    let token = state.key().issue(&session::claims(&frame.member_id, uid, role, state.now_unix()));
    tracing::info!(member_id = %frame.member_id, user_id = uid, role = crate::http::api::role_name(role), "session issued");
    Ok(OpenedApp {
        token,
        // The portal's domain as registered (confirmed at install), not the frame's.
        origin: origin(state, frame.protocol, &info.domain),
        role,
        user_id: uid,
        lang: ui_lang(&frame.lang),
    })
}

/// `POST /b24/events`: an event bound with `event.bind`. Its `auth[application_token]` must
/// equal the installation's (constant time): tokenless 401, wrong 403. `ONAPPUNINSTALL` marks
/// the tenant uninstalled, deleting its data when `CLEAN` is set.
pub async fn events(state: AppState, body: Bytes) -> Response {
    match event(&state, &body).await {
        Ok(v) => reply::json(&v).into_response(),
        Err(e) => e.response(),
    }
}

async fn event(state: &AppState, body: &[u8]) -> ApiResult<Value> {
    let ev = match Event::parse(body) {
        Ok(ev) => ev,
        Err(B24Error::MissingField("application_token")) => {
            return Err(ApiError::Unauthorized("the event carries no application_token"));
        }
        Err(e) => return Err(ApiError::BadRequest(format!("not a Bitrix24 event: {e}"))),
    };
    if matches!(ev.kind, EventKind::AppInstall { .. }) {
        install_callback(state, body).await?;
        return Ok(serde_json::json!({ "ok": true, "event": ev.name }));
    }
    let member_id = ev.auth.member_id.clone();
    let stored = match state.store().portal_tokens(&member_id).await {
        Ok(t) => t,
        Err(tenancy::Error::UnknownTenant | tenancy::Error::InvalidMemberId) => None,
        Err(e) => return Err(e.into()),
    };
    let expected = Secret::new(stored.map(|t| t.application_token.clone()).unwrap_or_default());
    if ev.verify(&expected).is_err() {
        tracing::warn!(member_id = %member_id, event = %ev.name, "event refused: application_token does not match");
        return Err(ApiError::Forbidden("application_token does not match this installation"));
    }
    match ev.kind {
        EventKind::AppUninstall { clean, .. } => {
            let cleanup = if clean { Cleanup::Clean } else { Cleanup::Keep };
            state.forget_portal(&member_id, true);
            if let Some(rt) = state.runtime()
                && let Ok(tenant) = state.store().tenant(&member_id).await
                && let Ok(lines) = tenant.lines(Caller::System).await
            {
                for l in lines {
                    let _ = rt.disconnect(&member_id, l.id).await;
                }
            }
            state.store().uninstall(&member_id, cleanup, state.now()).await?;
            tracing::info!(member_id = %member_id, clean, "app uninstalled");
            Ok(serde_json::json!({ "ok": true, "event": ev.name, "clean": clean }))
        }
        _ => Ok(serde_json::json!({ "ok": true, "event": ev.name, "handled": false })),
    }
}
