//! The filters in front of the handlers: who calls (the session token from the header or the
//! query, the caller's [`Session`], the administrator role, a tenant still writable, the plan
//! hook's secret), each refusing with the API's error before any body is read; and the body
//! filters (JSON and Bitrix24 forms, bounded). The router composes them per route.

use std::convert::Infallible;

use bytes::{Buf, BufMut, BytesMut};
use futures_util::{Stream, StreamExt};
use warp::{
    Filter, Rejection,
    filters::BoxedFilter,
    http::{HeaderMap, header},
};

use super::route::{Access, Route};
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

pub(super) fn refuse(e: ApiError) -> Rejection {
    warp::reject::custom(Refused(e))
}

pub(super) fn bearer() -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Clone {
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
fn hook_secret(state: AppState) -> impl Filter<Extract = (AppState,), Error = Rejection> + Clone {
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
            Ok(state)
        })
}

/// A JSON body of type `T`: `application/json` (415 otherwise), at most [`JSON_LIMIT`] bytes
/// whether announced by `Content-Length` or sent chunked (413, read no further), valid (400).
pub(super) fn json<T: serde::de::DeserializeOwned + Send>()
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
    let essence = content_type.map(super::media::essence);
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

pub(super) fn form() -> impl Filter<Extract = (String, bytes::Bytes), Error = Rejection> + Clone {
    warp::query::raw()
        .or(warp::any().map(String::new))
        .unify()
        .and(warp::body::content_length_limit(FORM_LIMIT))
        .and(warp::body::bytes())
}

/// A Bitrix24 event's form body, as bytes.
pub(super) fn form_bytes() -> impl Filter<Extract = (bytes::Bytes,), Error = Rejection> + Clone {
    warp::body::content_length_limit(FORM_LIMIT).and(warp::body::bytes())
}

/// The state, for a route without a session; the plan hook's secret is checked here.
pub(super) fn open_gate(route: &Route, state: &AppState) -> BoxedFilter<(AppState,)> {
    match route.access {
        Access::HookSecret => hook_secret(state.clone()).boxed(),
        _ => {
            let state = state.clone();
            warp::any().map(move || state.clone()).boxed()
        }
    }
}

/// The state and the caller, admitted by the route's access and writability: 401/403 for the
/// token, 403 for a user on an administrators' route, 402 for a write after the trial ended,
/// all before any body is read.
pub(super) fn admitted(route: &Route, state: &AppState) -> BoxedFilter<(AppState, Session)> {
    let caller = if route.token_in_query {
        authenticated(state.clone(), bearer_or_query()).boxed()
    } else {
        authenticated(state.clone(), bearer()).boxed()
    };
    let caller = if route.access == Access::Admin {
        caller.and_then(admin).untuple_one().boxed()
    } else {
        caller
    };
    if route.writable { caller.and_then(writable).untuple_one().boxed() } else { caller }
}

/// Lets administrators through.
async fn admin(state: AppState, s: Session) -> Result<(AppState, Session), Rejection> {
    s.require_admin().map_err(refuse)?;
    Ok((state, s))
}

/// Lets through a tenant whose trial has not ended.
async fn writable(state: AppState, s: Session) -> Result<(AppState, Session), Rejection> {
    s.require_writable(state.now_unix()).map_err(refuse)?;
    Ok((state, s))
}
