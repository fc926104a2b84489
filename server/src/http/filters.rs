//! The routes: path and method first, then the caller's [`Session`] (authentication runs before
//! any body is read), then the parsed input; every handler answers a response (errors
//! included), and rejections (unknown route, wrong method, refused token, bad body) become the
//! same JSON error shape in [`recover`].

use std::{convert::Infallible, future::Future};

use bytes::{Buf, BufMut, BytesMut};
use futures_util::{Stream, StreamExt};
use warp::{
    Filter, Rejection, Reply,
    filters::BoxedFilter,
    http::{HeaderMap, header},
    reply::Response,
};

use super::{api, bitrix, connection, meta, sending, sessions, sse, ui};
use crate::{
    error::ApiError,
    state::{AppState, Session},
};

/// Largest JSON body.
pub const JSON_LIMIT: u64 = 64 * 1024;
/// Largest Bitrix24 form body.
const FORM_LIMIT: u64 = 256 * 1024;

/// An [`ApiError`] carried as a rejection: a refused token or a bad body. The route that
/// matched path and method rejected with it, so it is answered as it is, whatever the other
/// routes said (a route of the same path with another method would say 405).
#[derive(Debug)]
pub struct Refused(pub ApiError);

impl warp::reject::Reject for Refused {}

fn refuse(e: ApiError) -> Rejection {
    warp::reject::custom(Refused(e))
}

async fn respond(f: impl Future<Output = Result<Response, ApiError>>) -> Response {
    f.await.unwrap_or_else(|e| e.response())
}

fn bearer() -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Clone {
    warp::header::optional::<String>("authorization").or(warp::any().map(|| None)).unify().map(
        |h: Option<String>| {
            h.and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
            })
        },
    )
}

fn bearer_or_query() -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Clone {
    bearer()
        .and(
            warp::query::<std::collections::HashMap<String, String>>()
                .or(warp::any().map(Default::default))
                .unify(),
        )
        .map(|b: Option<String>, q: std::collections::HashMap<String, String>| {
            b.or_else(|| q.get("access_token").cloned())
        })
}

/// The state and the authenticated caller, from the token `token` extracts; a refused token
/// rejects with its 401/403 before anything else of the request is looked at.
fn authenticated(
    state: AppState,
    token: impl Filter<Extract = (Option<String>,), Error = Infallible> + Clone + Send + Sync + 'static,
) -> impl Filter<Extract = (AppState, Session), Error = Rejection> + Clone {
    warp::any()
        .map(move || state.clone())
        .and(token)
        .and_then(|state: AppState, token: Option<String>| async move {
            match state.authenticate(token.as_deref()).await {
                Ok(session) => Ok((state, session)),
                Err(e) => Err(refuse(e)),
            }
        })
        .untuple_one()
}

/// The plan hook's secret header, checked before the body is read: 404 when no secret is
/// configured, 401 without the header, 403 when wrong (compared in constant time).
fn hook_secret(
    state: AppState,
) -> impl Filter<Extract = (AppState, Option<String>), Error = Rejection> + Clone {
    warp::any()
        .map(move || state.clone())
        .and(warp::header::optional::<String>("x-wab24-hook-secret"))
        .and_then(|state: AppState, given: Option<String>| async move {
            use subtle::ConstantTimeEq;
            let Some(expected) = state.settings().plan_hook_secret.as_deref() else {
                return Err(refuse(ApiError::NotFound("route")));
            };
            let Some(secret) = given else {
                return Err(refuse(ApiError::Unauthorized("missing X-Wab24-Hook-Secret")));
            };
            if !bool::from(secret.as_bytes().ct_eq(expected.as_bytes())) {
                return Err(refuse(ApiError::Forbidden("wrong hook secret")));
            }
            Ok((state, Some(secret)))
        })
        .untuple_one()
}

/// A JSON body of type `T`: `application/json` (415 otherwise), at most [`JSON_LIMIT`] bytes
/// whether announced by `Content-Length` or sent chunked (413, read no further), valid (400).
fn json<T: serde::de::DeserializeOwned + Send>()
-> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::header::headers_cloned().and(warp::body::stream()).and_then(
        |headers: HeaderMap, body| async move { read_json(&headers, body).await.map_err(refuse) },
    )
}

async fn read_json<T: serde::de::DeserializeOwned, B: Buf>(
    headers: &HeaderMap,
    body: impl Stream<Item = Result<B, warp::Error>>,
) -> Result<T, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let essence = content_type.map(sending::essence);
    if essence.as_deref() != Some("application/json") {
        return Err(ApiError::UnsupportedMediaType(
            "the body must be JSON sent as Content-Type: application/json".to_owned(),
        ));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > JSON_LIMIT) {
        return Err(ApiError::TooLarge);
    }
    let mut buf = BytesMut::new();
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|e| {
            tracing::debug!(error = %e, "JSON body unreadable");
            ApiError::BadRequest("the body could not be read".to_owned())
        })?;
        if (buf.len() + chunk.remaining()) as u64 > JSON_LIMIT {
            return Err(ApiError::TooLarge);
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            let n = part.len();
            buf.put_slice(part);
            chunk.advance(n);
        }
    }
    serde_json::from_slice(&buf)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

fn form() -> impl Filter<Extract = (String, bytes::Bytes), Error = Rejection> + Clone {
    warp::query::raw()
        .or(warp::any().map(String::new))
        .unify()
        .and(warp::body::content_length_limit(FORM_LIMIT))
        .and(warp::body::bytes())
}

/// `GET /metrics` on a listener of its own (`metrics_listen`): no token asked, the address
/// is the protection.
pub fn metrics_routes(state: AppState) -> BoxedFilter<(Response,)> {
    let st = warp::any().map(move || state.clone());
    warp::path!("metrics")
        .and(warp::get())
        .and(st)
        .then(meta::metrics)
        .recover(recover)
        .unify()
        .boxed()
}

/// Every route, with logging and error recovery.
pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    let metrics = state.metrics().clone();
    let auth = authenticated(state.clone(), bearer());
    // Where the browser cannot set a header (<img src>, <audio src>, EventSource), the token
    // may come as `?access_token=`.
    let auth_or_query = authenticated(state.clone(), bearer_or_query());
    let hook_state = state.clone();
    let st = warp::any().map(move || state.clone());

    let health = warp::path!("healthz").and(warp::get()).map(|| "ok".into_response()).boxed();
    let metrics_route = warp::path!("metrics")
        .and(warp::get())
        .and(st.clone())
        .and(bearer())
        .then(meta::metrics_with_token)
        .boxed();
    let openapi = warp::path!("api" / "openapi.json").and(warp::get()).then(meta::openapi).boxed();
    let ui_files = warp::path!("ui" / String)
        .and(warp::get())
        .and(warp::header::optional::<String>("if-none-match"))
        .then(ui::file)
        .boxed();

    let b24 = warp::path!("b24" / "install")
        .and(warp::post())
        .and(st.clone())
        .and(form())
        .then(bitrix::install)
        .or(warp::path!("b24" / "app")
            .and(warp::post())
            .and(st.clone())
            .and(form())
            .then(bitrix::app_frame))
        .unify()
        .or(warp::path!("b24" / "events")
            .and(warp::post())
            .and(st)
            .and(warp::body::content_length_limit(FORM_LIMIT))
            .and(warp::body::bytes())
            .then(bitrix::events))
        .unify()
        .boxed();

    let me = warp::path!("api" / "me")
        .and(warp::get())
        .and(auth.clone())
        .then(|s, b| respond(api::me(s, b)));
    let lines = warp::path!("api" / "lines")
        .and(warp::get())
        .and(auth.clone())
        .then(|s, b| respond(api::lines(s, b)))
        .or(warp::path!("api" / "lines")
            .and(warp::post())
            .and(auth.clone())
            .and(json())
            .then(|s, b, body| respond(api::create_line(s, b, body))))
        .unify()
        .or(warp::path!("api" / "lines" / i64)
            .and(warp::get())
            .and(auth.clone())
            .then(|id, s, b| respond(api::line(s, b, id))))
        .unify()
        .or(warp::path!("api" / "lines" / i64)
            .and(warp::patch())
            .and(auth.clone())
            .and(json())
            .then(|id, s, b, body| respond(api::update_line(s, b, id, body))))
        .unify()
        .or(warp::path!("api" / "lines" / i64)
            .and(warp::delete())
            .and(auth.clone())
            .then(|id, s, b| respond(api::delete_line(s, b, id))))
        .unify()
        .or(warp::path!("api" / "lines" / i64 / "assignment")
            .and(warp::put())
            .and(auth.clone())
            .and(json())
            .then(|id, s, b, body| respond(api::assign_line(s, b, id, body))))
        .unify()
        .or(warp::path!("api" / "lines" / i64 / "connect")
            .and(warp::post())
            .and(auth.clone())
            .then(|id, s, b| respond(connection::connect(s, b, id))))
        .unify()
        .or(warp::path!("api" / "lines" / i64 / "disconnect")
            .and(warp::post())
            .and(auth.clone())
            .then(|id, s, b| respond(connection::disconnect(s, b, id))))
        .unify()
        .or(warp::path!("api" / "lines" / i64 / "logout")
            .and(warp::post())
            .and(auth.clone())
            .then(|id, s, b| respond(connection::logout(s, b, id))))
        .unify()
        .or(warp::path!("api" / "lines" / i64 / "conversations")
            .and(warp::get())
            .and(auth.clone())
            .then(|id, s, b| respond(api::conversations(s, b, id))))
        .unify()
        .boxed();
    let conversations = warp::path!("api" / "conversations" / "search")
        .and(warp::get())
        .and(auth.clone())
        .and(warp::query())
        .then(|s, b, q| respond(api::search(s, b, q)))
        .or(warp::path!("api" / "conversations" / i64)
            .and(warp::get())
            .and(auth.clone())
            .then(|id, s, b| respond(api::conversation(s, b, id))))
        .unify()
        .or(warp::path!("api" / "conversations" / i64 / "messages")
            .and(warp::get())
            .and(auth.clone())
            .and(warp::query())
            .then(|id, s, b, q| respond(api::history(s, b, id, q))))
        .unify()
        .or(warp::path!("api" / "conversations" / i64 / "messages")
            .and(warp::post())
            .and(auth.clone())
            .and(json())
            .then(|id, s, b, body| respond(sending::send_text(s, b, id, body))))
        .unify()
        .or(warp::path!("api" / "conversations" / i64 / "reactions")
            .and(warp::post())
            .and(auth.clone())
            .and(json())
            .then(|id, s, b, body| respond(sending::send_reaction(s, b, id, body))))
        .unify()
        .or(warp::path!("api" / "conversations" / i64 / "media")
            .and(warp::post())
            .and(auth.clone())
            .and(warp::query())
            .and(warp::header::headers_cloned())
            .and(warp::body::stream())
            .then(|id, s, b, q, headers, body| {
                respond(sending::send_media(s, b, id, q, headers, body))
            }))
        .unify()
        .or(warp::path!("api" / "messages" / i64 / "media")
            .and(warp::get())
            .and(auth_or_query.clone())
            .then(|id, s, b| respond(sending::download_media(s, b, id))))
        .unify()
        .or(warp::path!("api" / "conversations" / i64 / "read")
            .and(warp::post())
            .and(auth.clone())
            .then(|id, s, b| respond(api::mark_read(s, b, id))))
        .unify()
        .boxed();
    let admin = warp::path!("api" / "users")
        .and(warp::get())
        .and(auth.clone())
        .then(|s, b| respond(api::users(s, b)))
        .or(warp::path!("api" / "users" / i64 / "sessions" / "revoke")
            .and(warp::post())
            .and(auth.clone())
            .then(|id, s, b| respond(sessions::revoke(s, b, id))))
        .unify()
        .or(warp::path!("api" / "audit")
            .and(warp::get())
            .and(auth.clone())
            .and(warp::query())
            .then(|s, b, q| respond(api::audit(s, b, q))))
        .unify()
        .or(warp::path!("api" / "audit" / "verify")
            .and(warp::get())
            .and(auth.clone())
            .then(|s, b| respond(api::audit_verify(s, b))))
        .unify()
        .or(warp::path!("api" / "audit" / "export")
            .and(warp::get())
            .and(auth.clone())
            .and(warp::query())
            .then(|s, b, q| respond(api::audit_export(s, b, q))))
        .unify()
        .or(warp::path!("api" / "subscription")
            .and(warp::get())
            .and(auth.clone())
            .then(|s, b| respond(api::subscription(s, b))))
        .unify()
        .or(warp::path!("api" / "subscription" / "upgrade")
            .and(warp::post())
            .and(auth.clone())
            .and(json())
            .then(|s, b, body| respond(api::subscription_upgrade(s, b, body))))
        .unify()
        .or(warp::path!("api" / "hooks" / "plan")
            .and(warp::post())
            .and(hook_secret(hook_state))
            .and(json())
            .then(|s, secret, body| respond(api::plan_hook(s, secret, body))))
        .unify()
        .boxed();
    let events = warp::path!("api" / "events")
        .and(warp::get())
        .and(auth_or_query)
        .then(|s, b| respond(sse::events(s, b)))
        .boxed();

    let log = warp::log::custom(move |info| {
        metrics.request();
        tracing::info!(
            target: "wab24::http",
            method = %info.method(),
            path = info.path(),
            status = info.status().as_u16(),
            elapsed_ms = u64::try_from(info.elapsed().as_millis()).unwrap_or(u64::MAX),
            "request"
        );
    });

    health
        .or(metrics_route)
        .unify()
        .or(openapi)
        .unify()
        .or(ui_files)
        .unify()
        .or(b24)
        .unify()
        .or(me)
        .unify()
        .or(lines)
        .unify()
        .or(conversations)
        .unify()
        .or(admin)
        .unify()
        .or(events)
        .unify()
        .recover(recover)
        .unify()
        .with(log)
        .map(Reply::into_response)
        .boxed()
}

/// Rejections as the API's JSON errors. A [`Refused`] comes from the route that matched path
/// and method, so it wins over what other routes said; likewise a body or query rejection
/// wins over the 405 of a route with the same path and another method.
pub async fn recover(r: Rejection) -> Result<Response, Infallible> {
    let e = if let Some(Refused(e)) = r.find::<Refused>() {
        return Ok(e.response());
    } else if r.is_not_found() {
        ApiError::NotFound("route")
    } else if r.find::<warp::reject::PayloadTooLarge>().is_some() {
        ApiError::TooLarge
    } else if r.find::<warp::reject::UnsupportedMediaType>().is_some() {
        ApiError::UnsupportedMediaType("unsupported content type".to_owned())
    } else if r.find::<warp::reject::LengthRequired>().is_some() {
        ApiError::BadRequest("Content-Length is required".to_owned())
    } else if let Some(e) = r.find::<warp::filters::body::BodyDeserializeError>() {
        ApiError::BadRequest(format!("invalid JSON body: {e}"))
    } else if r.find::<warp::reject::InvalidQuery>().is_some() {
        ApiError::BadRequest("invalid query parameters".to_owned())
    } else if r.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::MethodNotAllowed
    } else {
        tracing::warn!(rejection = ?r, "unhandled rejection");
        ApiError::BadRequest("bad request".to_owned())
    };
    Ok(e.response())
}
