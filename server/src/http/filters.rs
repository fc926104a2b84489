//! The warp routes, built from the route table ([`ROUTES`]): for each route its path and
//! method first, then its access as filters (the caller's [`Session`] from the token, the
//! administrator role, the tenant still writable; all before any body is read), then the
//! handler with its own input. Every handler answers a response (errors included), and
//! rejections (unknown route, wrong method, refused token or role, bad body) become the same
//! JSON error shape in [`recover`].

use std::{convert::Infallible, future::Future};

use bytes::{Buf, BufMut, BytesMut};
use futures_util::{Stream, StreamExt};
use warp::{
    Filter, Rejection, Reply,
    filters::BoxedFilter,
    http::{HeaderMap, header},
    reply::Response,
};

use super::{
    meta,
    table::{Access, Handler, Method, ROUTES, Route},
};
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

pub(super) async fn respond(f: impl Future<Output = Result<Response, ApiError>>) -> Response {
    f.await.unwrap_or_else(|e| e.response())
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

/// Every route of [`ROUTES`], with logging and error recovery.
pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    let metrics = state.metrics().clone();
    let mut all: Option<BoxedFilter<(Response,)>> = None;
    for route in ROUTES {
        let Some(endpoint) = endpoint(route, &state) else {
            tracing::error!(
                method = route.method.as_str(),
                path = route.path,
                "route not built: its handler does not fit its path or access"
            );
            continue;
        };
        all = Some(match all {
            None => endpoint,
            Some(before) => before.or(endpoint).unify().boxed(),
        });
    }
    let all = all.unwrap_or_else(|| {
        warp::any().and_then(|| async { Err(warp::reject::not_found()) }).boxed()
    });

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
    all.recover(recover).unify().with(log).map(Reply::into_response).boxed()
}

/// One route's filter: its path, then its method, then its access (and writability), then the
/// handler; `None` when the handler does not fit the path's parameters or the access.
pub fn endpoint(route: &Route, state: &AppState) -> Option<BoxedFilter<(Response,)>> {
    let method = method(route.method);
    match (route.handler, route.scoped()) {
        (Handler::Open(build), false) => {
            let path = literal_path(route.path)?;
            Some(build(path.and(method).and(open_gate(route, state)).boxed()))
        }
        (Handler::File(build), false) => {
            let path = param_path::<String>(route.path)?;
            Some(build(path.and(method).boxed()))
        }
        (Handler::Scoped(build), true) => {
            let path = literal_path(route.path)?;
            Some(build(path.and(method).and(admitted(route, state)).boxed()))
        }
        (Handler::ScopedId(build), true) => {
            let path = param_path::<i64>(route.path)?;
            Some(build(path.and(method).and(admitted(route, state)).boxed()))
        }
        _ => None,
    }
}

fn method(m: Method) -> BoxedFilter<()> {
    match m {
        Method::Get => warp::get().boxed(),
        Method::Post => warp::post().boxed(),
        Method::Put => warp::put().boxed(),
        Method::Patch => warp::patch().boxed(),
        Method::Delete => warp::delete().boxed(),
    }
}

/// A path template's segments: the literal ones before the parameter, the parameter's name
/// (if any) and the literal ones after it.
struct Template {
    before: Vec<&'static str>,
    param: Option<&'static str>,
    after: Vec<&'static str>,
}

impl Template {
    /// `None` for more than one parameter (no route has two).
    fn parse(template: &'static str) -> Option<Template> {
        let mut t = Template { before: vec![], param: None, after: vec![] };
        for seg in template.split('/').filter(|s| !s.is_empty()) {
            match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) if t.param.is_none() => t.param = Some(name),
                Some(_) => return None,
                None if t.param.is_none() => t.before.push(seg),
                None => t.after.push(seg),
            }
        }
        Some(t)
    }
}

fn literals(segs: &[&'static str]) -> BoxedFilter<()> {
    segs.iter().fold(warp::any().boxed(), |path, seg| path.and(warp::path(*seg)).boxed())
}

/// The path of a template without parameters, matched to its end.
fn literal_path(template: &'static str) -> Option<BoxedFilter<()>> {
    let t = Template::parse(template)?;
    t.param.is_none().then(|| literals(&t.before).and(warp::path::end()).boxed())
}

/// The path of a template with one parameter, parsed as `T` (a segment that does not parse is
/// another route: 404).
fn param_path<T: std::str::FromStr + Send + 'static>(
    template: &'static str,
) -> Option<BoxedFilter<(T,)>> {
    let t = Template::parse(template)?;
    t.param?;
    Some(
        literals(&t.before)
            .and(warp::path::param::<T>())
            .and(literals(&t.after))
            .and(warp::path::end())
            .boxed(),
    )
}

/// The state, for a route without a session; the plan hook's secret is checked here.
fn open_gate(route: &Route, state: &AppState) -> BoxedFilter<(AppState,)> {
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
fn admitted(route: &Route, state: &AppState) -> BoxedFilter<(AppState, Session)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_of_the_table_fits_its_handler() {
        for r in ROUTES {
            let t = Template::parse(r.path);
            assert!(t.is_some(), "{}: more than one parameter", r.path);
            let with_param = t.is_some_and(|t| t.param.is_some());
            let fits = match r.handler {
                Handler::Open(_) => !r.scoped() && !with_param,
                Handler::File(_) => !r.scoped() && with_param,
                Handler::Scoped(_) => r.scoped() && !with_param,
                Handler::ScopedId(_) => r.scoped() && with_param,
            };
            assert!(fits, "{} {}: {:?} does not fit", r.method.as_str(), r.path, r.handler);
        }
    }
}
