//! The routes: path and method first, then the state, the bearer token and the parsed input;
//! every handler answers a response (errors included), and warp's own rejections (unknown
//! route, wrong method, bad body) become the same JSON error shape in [`recover`].

use std::{convert::Infallible, future::Future};

use warp::{Filter, Rejection, Reply, filters::BoxedFilter, reply::Response};

use super::{api, bitrix, connection, meta, sending, sse, ui};
use crate::{error::ApiError, state::AppState};

/// Largest JSON body.
const JSON_LIMIT: u64 = 64 * 1024;
/// Largest Bitrix24 form body.
const FORM_LIMIT: u64 = 256 * 1024;

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

fn json<T: serde::de::DeserializeOwned + Send>()
-> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::body::content_length_limit(JSON_LIMIT).and(warp::body::json())
}

fn form() -> impl Filter<Extract = (String, bytes::Bytes), Error = Rejection> + Clone {
    warp::query::raw()
        .or(warp::any().map(String::new))
        .unify()
        .and(warp::body::content_length_limit(FORM_LIMIT))
        .and(warp::body::bytes())
}

/// Every route, with logging and error recovery.
pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    let metrics = state.metrics().clone();
    let st = warp::any().map(move || state.clone());
    let auth = st.clone().and(bearer());
    // Where the browser cannot set a header (<img src>, <audio src>, EventSource), the token
    // may come as `?access_token=`.
    let auth_or_query = st.clone().and(bearer_or_query());

    let health = warp::path!("healthz").and(warp::get()).map(|| "ok".into_response()).boxed();
    let metrics_route =
        warp::path!("metrics").and(warp::get()).and(st.clone()).then(meta::metrics).boxed();
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
            .and(st.clone())
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
            .and(warp::header::optional::<String>("content-type"))
            .and(warp::body::content_length_limit(sending::MAX_UPLOAD))
            .and(warp::body::bytes())
            .then(|id, s, b, q, ct, body| respond(sending::send_media(s, b, id, q, ct, body))))
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
            .and(st)
            .and(warp::header::optional::<String>("x-wab24-hook-secret"))
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

/// warp's rejections as the API's JSON errors.
pub async fn recover(r: Rejection) -> Result<Response, Infallible> {
    let e = if r.is_not_found() {
        ApiError::NotFound("route")
    } else if let Some(e) = r.find::<warp::filters::body::BodyDeserializeError>() {
        ApiError::BadRequest(format!("invalid JSON body: {e}"))
    } else if r.find::<warp::reject::InvalidQuery>().is_some() {
        ApiError::BadRequest("invalid query parameters".to_owned())
    } else if r.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::MethodNotAllowed
    } else if r.find::<warp::reject::PayloadTooLarge>().is_some() {
        ApiError::TooLarge
    } else if r.find::<warp::reject::UnsupportedMediaType>().is_some() {
        ApiError::UnsupportedMediaType
    } else if r.find::<warp::reject::LengthRequired>().is_some() {
        ApiError::BadRequest("Content-Length is required".to_owned())
    } else {
        tracing::warn!(rejection = ?r, "unhandled rejection");
        ApiError::BadRequest("bad request".to_owned())
    };
    Ok(e.response())
}
