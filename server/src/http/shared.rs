//! What handlers share: JSON answers, errors answered as responses and page limits.

use serde::Serialize;
use warp::{Reply, reply::Response};

use crate::error::{ApiError, ApiResult};

/// A 200 JSON answer.
pub(super) fn json<T: Serialize>(v: &T) -> Response {
    warp::reply::json(v).into_response()
}

/// A page size from `limit`: `default` when absent, 400 outside `1..=max`.
pub(super) fn page_size(limit: Option<u32>, default: u32, max: u32) -> ApiResult<u32> {
    match limit.unwrap_or(default) {
        n if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::BadRequest(format!("limit must be between 1 and {max}"))),
    }
}

/// A handler's result as a response, an error as its JSON answer.
pub(super) async fn respond(
    f: impl std::future::Future<Output = Result<Response, ApiError>>,
) -> Response {
    f.await.unwrap_or_else(|e| e.response())
}
