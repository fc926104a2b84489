//! `/api/openapi.json` and `/metrics`.

use std::collections::BTreeMap;

use tenancy::Caller;
use warp::{Reply, http::HeaderValue, reply::Response};

use crate::state::AppState;

/// `GET /api/openapi.json`.
pub async fn openapi() -> Response {
    warp::reply::json(&super::openapi::document()).into_response()
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
