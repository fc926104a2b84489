//! What Bitrix24 POSTs to the app: the install frame or callback, the app frame (which issues a
//! session token), and events (verified by `application_token`).

use std::time::Duration;

use b24_client::{
    Error as B24Error, Secret, TokenSet,
    inbound::{Event, EventKind, FrameRequest, InstallCallback, Protocol},
};
use bytes::Bytes;
use serde_json::Value;
use tenancy::{Caller, Cleanup, Install, LineStatus, User, audit};
use tokio::sync::broadcast;
use warp::{
    Reply,
    http::{HeaderValue, StatusCode, header},
    reply::{self, Response},
};

use crate::{
    error::{ApiError, ApiResult},
    runtime::{LineState, Runtime, RuntimeError},
    session::{self, Role},
    state::{AppState, portal_tokens},
};

/// Escapes text for HTML.
pub(super) fn esc(s: &str) -> String {
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

/// An HTML page that only the portal may frame (`frame_ancestor`), or nobody. Images may also
/// come from the portal's origin: its users' photos (`PERSONAL_PHOTO`) that the panel shows as
/// avatars.
pub(super) fn html(status: StatusCode, body: String, frame_ancestor: Option<String>) -> Response {
    let csp = match frame_ancestor {
        Some(origin) => format!(
            "frame-ancestors {origin}; default-src 'self'; script-src 'self' https://api.bitrix24.com; style-src 'self' 'unsafe-inline'; img-src 'self' blob: data: {origin}; media-src 'self' blob:; object-src 'none'; base-uri 'none'"
        ),
        None => "frame-ancestors 'none'; default-src 'none'".to_owned(),
    };
    with_page_headers(reply::with_status(reply::html(body), status).into_response(), &csp)
}

fn with_page_headers(mut r: Response, csp: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(csp) {
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    r
}

/// An error shown inside the portal's frame: a readable message (the portal shows "refused to
/// connect" for a page it may not frame), framable by the portal when its origin is known. The
/// page runs no script and loads nothing.
pub(super) fn error_page(e: &ApiError, frame: FrameContext) -> Response {
    let (heading, hint) = match frame.lang {
        "ru" => (
            "Не удалось открыть WhatsApp для Битрикс24",
            "Обновите страницу; если ошибка повторяется, обратитесь к администратору Битрикс24 (код ошибки",
        ),
        _ => (
            "WhatsApp for Bitrix24 could not open",
            "Reload the page; if this persists, ask your Bitrix24 administrator (the error code is",
        ),
    };
    let frame_ancestor = frame.origin;
    let body = format!(
        "<!doctype html><html lang={lang}><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
         <title>wab24: {title}</title>\
         <style>body{{font:15px/1.5 system-ui,sans-serif;margin:0;padding:32px;color:#333;background:#f5f7f8}}\
         main{{max-width:560px;margin:0 auto;padding:24px;background:#fff;border-radius:8px;\
         border:1px solid #dde3e6}}h1{{font-size:18px;margin:0 0 8px}}p{{margin:8px 0}}\
         .hint{{color:#667}}</style>\
         <main><h1>{heading}</h1>\
         <p id=error data-code=\"{code}\">{message}</p>\
         <p class=hint>{hint} <code>{code}</code>).</p></main></html>",
        lang = frame.lang,
        title = esc(e.code()),
        code = esc(e.code()),
        message = esc(&e.to_string()),
    );
    let csp = match frame_ancestor {
        Some(origin) => format!(
            "frame-ancestors {origin}; default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
        ),
        None => "frame-ancestors 'none'; default-src 'none'; style-src 'unsafe-inline'".to_owned(),
    };
    with_page_headers(reply::with_status(reply::html(body), e.status()).into_response(), &csp)
}

/// Where an error page for a frame request is shown.
pub(super) struct FrameContext {
    /// The portal origin that may frame it.
    origin: Option<String>,
    /// The interface language (`ru` or `en`).
    lang: &'static str,
}

/// The frame an erroneous request came from: the viewer's language, and the portal origin the
/// page may be framed by (the registered domain of the portal the form names when it is installed
/// here, else the domain the query names: the page holds nothing but the error, so an unconfirmed
/// origin gives nothing away).
pub(super) async fn frame_context(state: &AppState, query: &str, body: &[u8]) -> FrameContext {
    let form = |bytes: &[u8]| b24_client::form::parse(bytes, Default::default()).ok();
    let Some(q) = form(query.as_bytes()) else {
        return FrameContext { origin: None, lang: "en" };
    };
    let lang = ui_lang(q.get("LANG").and_then(Value::as_str).unwrap_or(""));
    let protocol = match q.get("PROTOCOL").and_then(Value::as_str) {
        Some("0") => Protocol::Http,
        _ => Protocol::Https,
    };
    let registered =
        match form(body).as_ref().and_then(|b| b.get("member_id")).and_then(Value::as_str) {
            Some(member_id) => state.store().info(member_id).await.ok().map(|i| i.domain),
            None => None,
        };
    let domain = registered.or_else(|| q.get("DOMAIN").and_then(Value::as_str).map(str::to_owned));
    FrameContext { origin: domain.and_then(|d| origin(state, protocol, &d)), lang }
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

/// The portal's REST endpoint as the OAuth server reports it (`app.info`'s
/// `install.client_endpoint`; never the form's), checked to belong to the portal's `domain`
/// (see [`endpoint_belongs_to`]). The installer's token is sent there, so an endpoint elsewhere
/// is refused.
fn client_endpoint<'a>(state: &AppState, info: &'a Value, domain: &str) -> ApiResult<&'a str> {
    let endpoint = info
        .pointer("/install/client_endpoint")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(ApiError::Forbidden("the OAuth server did not name the portal's REST endpoint"))?;
    if endpoint_belongs_to(&state.settings().oauth_server, endpoint, domain) {
        Ok(endpoint)
    } else {
        tracing::warn!(domain, "install refused: the portal's REST endpoint is not on its domain");
        Err(ApiError::Forbidden("the portal's REST endpoint is not on the portal's domain"))
    }
}

/// Whether `endpoint` is a REST endpoint of the portal at `domain`: `https://{domain}/...`, or,
/// for a simulated Bitrix24 (b24-sim in `wab24 demo` and the tests, whose portals live on the
/// OAuth server's own origin), `{OAuth server origin}/p/{domain}/...`, plain http allowed there:
/// that server is the one the operator configured to confirm every token.
fn endpoint_belongs_to(oauth_server: &str, endpoint: &str, domain: &str) -> bool {
    if safe_host(domain).is_none() {
        return false;
    }
    let starts_with = |s: &str, prefix: &str| {
        s.len() > prefix.len()
            && s.get(..prefix.len()).is_some_and(|h| h.eq_ignore_ascii_case(prefix))
    };
    if let Some(origin) = url_origin(oauth_server)
        && starts_with(endpoint, &format!("{origin}/p/{domain}/"))
    {
        return true;
    }
    url_origin(endpoint)
        .is_some_and(|origin| origin.eq_ignore_ascii_case(&format!("https://{domain}")))
        && starts_with(endpoint, &format!("https://{domain}/"))
}

/// `scheme://authority` of an http(s) URL, `None` for anything else or one with user info.
fn url_origin(url: &str) -> Option<&str> {
    let scheme_len = if url.get(..8).is_some_and(|s| s.eq_ignore_ascii_case("https://")) {
        8
    } else if url.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("http://")) {
        7
    } else {
        return None;
    };
    let authority = url[scheme_len..].split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') || authority.contains('\\') {
        return None;
    }
    Some(&url[..scheme_len + authority.len()])
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
    // The Open Channels connector; a failure leaves the app usable, and the connector's
    // worker registers it again at the next start.
    let _ = crate::open_channels::registration::register(state, &member_id).await;
    // The CRM cards' WhatsApp tab; bound again at the next start when this fails.
    let _ = crate::crm_tab::placements::bind(state, &member_id).await;
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
        Err(e) => error_page(&e, frame_context(&state, &query, &body).await),
    }
}

async fn install_frame(state: &AppState, query: &str, body: &[u8]) -> ApiResult<Option<String>> {
    let frame = FrameRequest::parse(query, body)
        .map_err(|e| ApiError::BadRequest(format!("not a Bitrix24 frame: {e}")))?;
    let info = confirm_token(state, &frame.auth_id, &frame.member_id).await?;
    let domain = info.pointer("/install/domain").and_then(Value::as_str).unwrap_or(&frame.domain);
    let client_endpoint = client_endpoint(state, &info, domain)?;
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
    // Endpoints from the OAuth server we trust, never from the form.
    if let Some(d) = info.pointer("/install/domain").and_then(Value::as_str) {
        tokens.domain = d.to_owned();
    }
    tokens.client_endpoint = client_endpoint(state, &info, &tokens.domain)?.to_owned();
    tokens.server_endpoint = state.settings().oauth_server.clone();
    register(state, tokens, &cb.event.auth.application_token).await
}

/// `POST /b24/app`: a user opens the app. The frame's `AUTH_ID` is confirmed by the portal
/// (`app.info` on the OAuth server, `user.current`, `user.admin`), the user is cached, and a
/// session token (72 h) is put into the page. Only the portal may frame the page.
pub async fn app_frame(state: AppState, query: String, body: Bytes) -> Response {
    match open_app(&state, &query, &body).await {
        Ok(opened) => html(StatusCode::OK, app_page(&opened), opened.origin.clone()),
        Err(e) => error_page(&e, frame_context(&state, &query, &body).await),
    }
}

/// A confirmed frame: what the app page needs.
pub(super) struct OpenedApp {
    /// The session token issued.
    pub(super) token: String,
    /// The portal origin that may frame the page.
    pub(super) origin: Option<String>,
    /// The viewer's role.
    pub(super) role: Role,
    /// The viewer's Bitrix24 user id.
    pub(super) user_id: i64,
    /// The interface language (`ru` or `en`).
    pub(super) lang: &'static str,
    /// The conversation the frame asks the panel to open (`conversation_id` in
    /// `PLACEMENT_OPTIONS`), when it is a positive integer.
    pub(super) conversation_id: Option<i64>,
}

/// The conversation a frame names: `conversation_id` in its `PLACEMENT_OPTIONS`. Bitrix24 puts
/// the `params[...]` of an application link there, each value a string (RD
/// `widgets/universal/app-url.md`: `?params[docId]=42` arrives as `{"docId":"42",...}`). Only
/// a positive integer of digits counts; anything else is ignored (the panel shows its list).
fn named_conversation(options: &Value) -> Option<i64> {
    let id = match options.get("conversation_id")? {
        Value::String(s)
            if !s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            s.parse::<i64>().ok()?
        }
        Value::Number(n) => n.as_i64()?,
        _ => return None,
    };
    (id > 0).then_some(id)
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
        "role": app.role.as_str(),
        "user_id": app.user_id,
        "lang": app.lang,
        "conversation_id": app.conversation_id,
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

/// Confirms a frame POST (`AUTH_ID` by the portal), caches its user and issues a session token.
pub(super) async fn open_app(state: &AppState, query: &str, body: &[u8]) -> ApiResult<OpenedApp> {
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
    // Each opening re-reads the user and the departments, so that what the app shows and
    // admits follows the portal (there is no event for a deactivated or moved user).
    if let Err(e) = state.refresh_user(&frame.member_id, &tenant, uid).await {
        tracing::debug!(member_id = %frame.member_id, user_id = uid, error = %e, "user not re-read");
    }
    crate::state::directory::check_standing(tenant.standing(uid, user.is_admin).await?)?;
    let role = if user.is_admin { Role::Admin } else { Role::User };
    let claims = session::claims(&frame.member_id, uid, role, info.generation, state.now_unix());
    let token = state.key().issue(&claims);
    tracing::info!(member_id = %frame.member_id, user_id = uid, role = role.as_str(), "session issued");
    Ok(OpenedApp {
        token,
        // The portal's domain as registered (confirmed at install), not the frame's.
        origin: origin(state, frame.protocol, &info.domain),
        role,
        user_id: uid,
        lang: ui_lang(&frame.lang),
        conversation_id: named_conversation(&frame.placement_options),
    })
}

/// `POST /b24/events`: an event bound with `event.bind`. Its `auth[application_token]` must
/// equal the installation's (constant time): tokenless 401, wrong 403. That token is no secret
/// (every user who opens the app sees it), so `ONAPPUNINSTALL` is acted on only once the portal
/// confirms it (see [`uninstall`]).
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
            uninstall(state, &member_id, clean).await?;
            Ok(serde_json::json!({ "ok": true, "event": ev.name, "clean": clean }))
        }
        ref kind if crate::open_channels::operator::handles(kind) => {
            crate::open_channels::operator::handle(state, &ev, body).await
        }
        _ => Ok(serde_json::json!({ "ok": true, "event": ev.name, "handled": false })),
    }
}

/// What the portal says about an uninstall event.
enum PortalSays {
    /// The app is gone: our stored tokens are refused, or `app.info` says it is not installed.
    Uninstalled,
    /// `app.info` answered with our stored tokens: the app is installed.
    StillInstalled,
    /// No usable answer (the portal is unreachable, or failed).
    Unknown,
}

/// Asks the portal, with the installation's stored tokens, whether the app is still installed.
/// Bitrix24 revokes an application's tokens when it is removed, so only a real uninstall makes
/// them fail.
async fn portal_says(state: &AppState, member_id: &str) -> PortalSays {
    let portal = match state.portal(member_id).await {
        Ok(p) => p,
        Err(_) => return PortalSays::Unknown,
    };
    match portal.app_info().await {
        Ok(info) if info.installed => PortalSays::StillInstalled,
        Ok(_) => PortalSays::Uninstalled,
        Err(e) if tokens_revoked(&e) => PortalSays::Uninstalled,
        Err(e) => {
            b24_failed(state, "app.info to confirm an uninstall failed", &e);
            PortalSays::Unknown
        }
    }
}

/// Whether an error proves the application's tokens are revoked (the app was removed).
fn tokens_revoked(e: &B24Error) -> bool {
    use b24_client::ErrorCode as C;
    match e {
        B24Error::ReinstallRequired { .. } | B24Error::Uninstalled { .. } => true,
        B24Error::Api { code, .. } => matches!(
            code,
            C::InvalidToken
                | C::NoAuthFound
                | C::NotInstalled
                | C::ApplicationNotFound
                | C::PortalDeleted
                | C::InvalidClient
                | C::WrongClient
        ),
        B24Error::OAuth { code, .. } => {
            matches!(code, C::InvalidGrant | C::InvalidClient | C::WrongClient)
        }
        _ => false,
    }
}

/// `ONAPPUNINSTALL` with a matching `application_token`. Acted on only when the portal confirms
/// it; otherwise nothing changes (the tenant's data included) and the refusal is recorded in the
/// registry's audit log. Once
/// confirmed: the portal handle is dropped; with `CLEAN`, every line's WhatsApp device is
/// logged out and the tenant soft-deleted (purged after the grace period unless reinstalled),
/// without it the lines stop and everything is kept.
async fn uninstall(state: &AppState, member_id: &str, clean: bool) -> ApiResult<()> {
    let refused = match portal_says(state, member_id).await {
        PortalSays::Uninstalled => None,
        PortalSays::StillInstalled => Some((
            "the portal says the app is still installed",
            ApiError::Forbidden("the portal says the app is still installed: uninstall refused"),
        )),
        PortalSays::Unknown => Some((
            "the portal could not be asked",
            ApiError::Unavailable(
                "the portal could not confirm the uninstall; nothing was changed".to_owned(),
            ),
        )),
    };
    if let Some((reason, error)) = refused {
        tracing::warn!(member_id, clean, reason, "uninstall event refused");
        let payload = serde_json::json!({ "clean": clean, "reason": reason }).to_string();
        if let Err(e) = state
            .store()
            .audit_registry(
                member_id,
                audit::Kind::UninstallRefused,
                payload.as_bytes(),
                state.now(),
            )
            .await
        {
            tracing::warn!(member_id, error = %e, "refused uninstall not audited");
        }
        return Err(error);
    }
    state.forget_portal(member_id, true);
    if let Some(rt) = state.runtime()
        && let Ok(tenant) = state.store().tenant(member_id).await
        && let Ok(lines) = tenant.lines(Caller::System).await
    {
        if clean {
            let logouts = lines.iter().map(|l| log_out_line(rt, member_id, l));
            futures_util::future::join_all(logouts).await;
        } else {
            for l in lines {
                let _ = rt.disconnect(member_id, l.id).await;
            }
        }
    }
    let cleanup = if clean {
        let grace = time::Duration::days(state.settings().uninstall_grace_days.max(0));
        Cleanup::Clean { purge_after: state.now().saturating_add(grace) }
    } else {
        Cleanup::Keep
    };
    state.store().uninstall(member_id, cleanup, state.now()).await?;
    tracing::info!(member_id, clean, "app uninstalled");
    Ok(())
}

/// How long a paired line that is not running gets to connect so that it can be logged out.
const LOGOUT_CONNECT_WAIT: Duration = Duration::from_secs(15);

/// Logs a line's WhatsApp device out (so the phone's companion slot is freed): a paired line
/// that is not running is started first. A line that cannot be logged out is stopped.
async fn log_out_line(rt: &Runtime, member_id: &str, line: &tenancy::Line) {
    let paired = matches!(line.status, LineStatus::Connected | LineStatus::Disconnected);
    let running = rt.status(member_id, line.id).is_some();
    if !paired {
        if running {
            let _ = rt.disconnect(member_id, line.id).await;
        }
        return;
    }
    let mut events = rt.subscribe();
    if !running && let Err(e) = rt.connect(member_id, line.id).await {
        tracing::warn!(member_id, line_id = line.id, error = %e, "line not started for its logout");
        return;
    }
    let connected = tokio::time::timeout(LOGOUT_CONNECT_WAIT, async {
        loop {
            if matches!(rt.status(member_id, line.id), Some(LineState::Connected)) {
                return true;
            }
            match events.recv().await {
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return false,
            }
        }
    })
    .await
    .unwrap_or(false);
    let result = if connected {
        rt.logout(member_id, line.id).await
    } else {
        Err(RuntimeError::NotRunning(line.id))
    };
    match result {
        Ok(()) => tracing::info!(member_id, line_id = line.id, "line logged out on uninstall"),
        Err(e) => {
            tracing::warn!(member_id, line_id = line.id, error = %e, "line not logged out on uninstall");
            let _ = rt.disconnect(member_id, line.id).await;
        }
    }
}

/// Purges the tenants whose `CLEAN` uninstall's grace period has ended (their media folders
/// too, which a PostgreSQL store does not hold). Returns the `member_id`s purged; failures are
/// logged and retried at the next run.
pub async fn purge_due(state: &AppState) -> Vec<String> {
    match state.store().purge_due(state.now()).await {
        Ok(purged) => {
            for member_id in &purged {
                if let Some(rt) = state.runtime() {
                    let media = rt.media_dir(member_id);
                    if let Err(e) = tokio::fs::remove_dir_all(&media).await
                        && e.kind() != std::io::ErrorKind::NotFound
                    {
                        tracing::warn!(member_id, error = %e, "media folder not purged");
                    }
                    // The tenant's folder, once empty.
                    if let Some(folder) = media.parent() {
                        let _ = tokio::fs::remove_dir(folder).await;
                    }
                }
                tracing::info!(member_id, "tenant purged after its grace period");
            }
            purged
        }
        Err(e) => {
            tracing::error!(error = %e, "purge of uninstalled tenants failed");
            vec![]
        }
    }
}

/// Runs [`purge_due`] every `every`, for ever.
pub async fn run_purger(state: AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        purge_due(&state).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OAUTH: &str = "https://oauth.bitrix.info/rest/";

    #[test]
    fn only_a_positive_integer_names_a_conversation() {
        use super::named_conversation;
        use serde_json::json;
        assert_eq!(named_conversation(&json!({"conversation_id": "12"})), Some(12));
        assert_eq!(named_conversation(&json!({"conversation_id": 3})), Some(3));
        for bad in [
            json!({}),
            json!({"conversation_id": ""}),
            json!({"conversation_id": "0"}),
            json!({"conversation_id": "+1"}),
            json!({"conversation_id": " 1"}),
            json!({"conversation_id": -1}),
            json!({"conversation_id": 1.5}),
            json!({"conversation_id": "123456789012345678901"}),
            json!({"conversation_id": null}),
            json!([]),
        ] {
            assert_eq!(named_conversation(&bad), None, "{bad}");
        }
    }

    #[test]
    fn a_portals_endpoint_must_be_on_its_domain() {
        for ok in [
            "https://portal.bitrix24.com/rest/",
            "https://PORTAL.bitrix24.com/rest/",
            "https://portal.bitrix24.com/rest",
        ] {
            assert!(endpoint_belongs_to(OAUTH, ok, "portal.bitrix24.com"), "{ok}");
        }
        for bad in [
            "http://portal.bitrix24.com/rest/",
            "https://portal.bitrix24.com.evil.example/rest/",
            "https://portal.bitrix24.com@evil.example/rest/",
            "https://evil.example/portal.bitrix24.com/rest/",
            "https://evil.example/p/portal.bitrix24.com/rest/",
            "https://portal.bitrix24.com",
            "https://portal.bitrix24.com:8443/rest/",
            "ftp://portal.bitrix24.com/rest/",
            "",
        ] {
            assert!(!endpoint_belongs_to(OAUTH, bad, "portal.bitrix24.com"), "{bad}");
        }
        assert!(!endpoint_belongs_to(OAUTH, "https://a b/rest/", "a b"));
    }

    #[test]
    fn a_simulated_portal_lives_on_the_oauth_servers_origin() {
        let sim = "http://127.0.0.1:4000/rest/";
        assert!(endpoint_belongs_to(sim, "http://127.0.0.1:4000/p/alpha.test/rest/", "alpha.test"));
        for bad in [
            "http://127.0.0.1:4001/p/alpha.test/rest/",
            "http://127.0.0.1:4000/p/beta.test/rest/",
            "http://127.0.0.1:4000/p/alpha.test.evil/rest/",
            "http://127.0.0.1:4000@evil.example/p/alpha.test/rest/",
        ] {
            assert!(!endpoint_belongs_to(sim, bad, "alpha.test"), "{bad}");
        }
        assert_eq!(url_origin("https://x.test/rest/"), Some("https://x.test"));
        assert_eq!(url_origin("https://u@x.test/"), None);
        assert_eq!(url_origin("x.test/rest/"), None);
    }
}
