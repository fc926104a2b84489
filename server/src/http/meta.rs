//! `/healthz`, `/api/openapi.json` and `/metrics`.

use std::collections::BTreeMap;

use tenancy::Caller;
use warp::{Reply, http::HeaderValue, reply::Response};

use crate::{error::ApiError, state::AppState};

/// `GET /healthz`: the process answers.
pub fn healthz() -> Response {
    "ok".into_response()
}

/// `GET /api/openapi.json`: the document, derived from the route table and serialised once by
/// the router.
pub fn openapi(document: bytes::Bytes) -> Response {
    let mut r = Response::new(document.into());
    r.headers_mut()
        .insert(warp::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// `GET /metrics` on the API's listener: only with the configured `metrics_token` as a bearer
/// token (compared in constant time); 404 when no token is configured.
pub async fn metrics_with_token(state: AppState, bearer: Option<String>) -> Response {
    use subtle::ConstantTimeEq;
    let Some(expected) = state.settings().metrics_token.as_deref() else {
        return ApiError::NotFound("route").response();
    };
    let Some(given) = bearer else {
        return ApiError::Unauthorized("missing bearer token").response();
    };
    if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        return ApiError::Forbidden("wrong metrics token").response();
    }
    metrics(state).await
}

/// `GET /metrics`: Prometheus text. Lines by status are counted at scrape time over every
/// active tenant.
pub async fn metrics(state: AppState) -> Response {
    let mut lines: BTreeMap<String, u64> = BTreeMap::new();
    if let Ok(members) = state.store().active_tenants().await {
        for m in members {
            let Ok(t) = state.store().tenant(&m).await else { continue };
            let Ok(ls) = t.lines(Caller::System).await else { continue };
            for l in ls {
                *lines.entry(l.status.as_str().to_owned()).or_default() += 1;
            }
        }
    }
    let mut r = Response::new(state.metrics().render(&lines).into());
    r.headers_mut().insert(
        warp::http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}
