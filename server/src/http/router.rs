//! The warp routes, built from the route table ([`ROUTES`]): for each route its path and
//! method first, then its access as filters ([`super::filters`]), then the handler with its own
//! input. Every handler answers a response (errors included), and rejections (unknown route,
//! wrong method, refused token or role, bad body) become the same JSON error shape in
//! [`recover`].

use std::convert::Infallible;

use warp::{Filter, Rejection, Reply, filters::BoxedFilter, reply::Response};

use super::{
    filters::{Refused, admitted, open_gate},
    meta, openapi,
    route::{Handler, Method, Route},
    table::ROUTES,
};
use crate::{error::ApiError, state::AppState};

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
        let path = loggable_path(info.path());
        tracing::info!(
            target: "wab24::http",
            method = %info.method(),
            path = &*path,
            status = info.status().as_u16(),
            elapsed_ms = u64::try_from(info.elapsed().as_millis()).unwrap_or(u64::MAX),
            "request"
        );
    });
    all.recover(recover).unify().with(log).map(Reply::into_response).boxed()
}

/// A request path as the log writes it: a signed media link's token is a credential for a
/// day, so it is cut.
fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    match path.strip_prefix(crate::media_link::PATH) {
        Some(token) if !token.is_empty() => format!("{}…", crate::media_link::PATH).into(),
        _ => path.into(),
    }
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
        (Handler::Param(build), false) => {
            let path = param_path::<String>(route.path)?;
            Some(build(path.and(method).and(open_gate(route, state)).boxed()))
        }
        (Handler::Scoped(build), true) => {
            let path = literal_path(route.path)?;
            Some(build(path.and(method).and(admitted(route, state)).boxed()))
        }
        (Handler::ScopedId(build), true) => {
            let path = param_path::<i64>(route.path)?;
            Some(build(path.and(method).and(admitted(route, state)).boxed()))
        }
        (Handler::Document, false) => {
            let path = literal_path(route.path)?;
            // Derived once: the table does not change while the server runs.
            let document = bytes::Bytes::from(openapi::document().to_string());
            Some(path.and(method).map(move || meta::openapi(document.clone())).boxed())
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
                Handler::File(_) | Handler::Param(_) => !r.scoped() && with_param,
                Handler::Scoped(_) => r.scoped() && !with_param,
                Handler::ScopedId(_) => r.scoped() && with_param,
                Handler::Document => !r.scoped() && !with_param,
            };
            assert!(fits, "{} {}: {:?} does not fit", r.method.as_str(), r.path, r.handler);
        }
    }

    #[test]
    fn signed_link_tokens_stay_out_of_the_log() {
        assert_eq!(loggable_path("/media/signed/abc.def"), "/media/signed/…");
        assert_eq!(loggable_path("/media/signed/"), "/media/signed/");
        assert_eq!(loggable_path("/api/lines/1"), "/api/lines/1");
    }
}
