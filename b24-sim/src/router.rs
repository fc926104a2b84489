//! The HTTP router: one warp filter that reads a request and hands it to the OAuth server
//! ([`crate::oauth`]), a portal's REST endpoint ([`crate::rest`]), the portal shell page
//! ([`crate::shell`]) and its CRM ([`crate::crm_shell`]) or the test control endpoints ([`crate::control`]).

use std::net::SocketAddr;

use b24_client::{
    ErrorCode, Id,
    form::{self, FormLimits},
};
use bytes::Bytes;
use serde_json::{Map, Value, json};
use warp::{Filter, http};

use crate::{
    control,
    error::{Error, Result},
    oauth,
    reply::{Reply, error_body, json_reply, merge, reply},
    rest,
    shell::{self, Frame, ShellView},
    sim::Sim,
};

impl Sim {
    /// Binds `addr` (loopback only; port 0 for an ephemeral port) and serves in the background.
    pub async fn start(&self, addr: SocketAddr) -> Result<SocketAddr> {
        if !addr.ip().is_loopback() {
            return Err(Error::NotLoopback(addr));
        }
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let local = listener.local_addr().map_err(|source| Error::Bind { addr, source })?;
        if let Ok(mut b) = self.inner.base.lock() {
            *b = Some(format!("http://{local}"));
        }
        let filter = self.filter();
        tokio::spawn(warp::serve(filter).incoming(listener).run());
        Ok(local)
    }

    /// The warp filter that serves everything (for embedding in another server).
    pub fn filter(
        &self,
    ) -> impl Filter<Extract = (Reply,), Error = std::convert::Infallible> + Clone + Send + Sync + 'static
    {
        let sim = self.clone();
        warp::method()
            .and(warp::path::full())
            .and(warp::query::raw().or(warp::any().map(String::new)).unify())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes().or(warp::any().map(Bytes::new)).unify())
            .then(
                move |m: http::Method,
                      path: warp::path::FullPath,
                      q: String,
                      h: http::HeaderMap,
                      body: Bytes| {
                    let sim = sim.clone();
                    async move { sim.handle(&m, path.as_str(), &q, &h, &body).await }
                },
            )
    }

    /// Answers one request.
    async fn handle(
        &self,
        method: &http::Method,
        path: &str,
        query: &str,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Reply {
        let ua =
            headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let is_json = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.contains("json"));
        let mut params = Map::new();
        merge(
            &mut params,
            form::parse(query.as_bytes(), FormLimits::default()).unwrap_or(Value::Null),
        );
        if !body.is_empty() && *method != http::Method::GET {
            let parsed = if is_json {
                serde_json::from_slice(body).ok()
            } else {
                form::parse(body, FormLimits::default()).ok()
            };
            match parsed {
                Some(v @ Value::Object(_)) => merge(&mut params, v),
                _ => {
                    return json_reply(
                        400,
                        &error_body(&ErrorCode::InvalidRequest, "cannot parse the request body"),
                    );
                }
            }
        }
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match segs.as_slice() {
            ["oauth", "token", ..] => oauth::token(self, params, ua).await,
            ["oauth", "authorize", ..] => oauth::authorize(self, &params),
            // SDKs append `/method` to an endpoint that ends in `/`: `/rest//app.info`.
            ["rest", "", m] | ["rest", m]
                if m.trim_end_matches(".json").trim_end_matches('/') == "app.info" =>
            {
                oauth::app_info(self, params, ua)
            }
            ["rest", "app.info", ""] | ["rest", "", "app.info", ""] => {
                oauth::app_info(self, params, ua)
            }
            ["p", domain, "rest", rest @ ..] => {
                rest::call(self, domain, rest, query, params, ua).await
            }
            ["p", domain] | ["p", domain, ""] => self.shell_page(domain, &params),
            // An application's link (`/marketplace/app/<code>/?params[key]=value`): the shell
            // opens the application with the link's `params` as `PLACEMENT_OPTIONS`.
            ["p", domain, "marketplace", "app", code]
            | ["p", domain, "marketplace", "app", code, ""]
                if *method == http::Method::GET =>
            {
                if *code != self.inner.config.client_id {
                    return reply(
                        404,
                        "text/html",
                        b"<html><body>No such application</body></html>".to_vec(),
                    );
                }
                let mut shell = params.clone();
                shell.remove("placement");
                shell
                    .insert("options".to_owned(), Value::String(link_options(&params).to_string()));
                self.shell_page(domain, &shell)
            }
            ["p", domain, "disk", token, ..] if *method == http::Method::GET => {
                self.serve_file(domain, token)
            }
            ["p", domain, "crm", rest @ ..] if *method == http::Method::GET => {
                self.crm_page(domain, rest, &params)
            }
            ["p", domain, "center"] => {
                self.center_page(domain, params.get("lang").and_then(Value::as_str))
            }
            ["_sim", rest @ ..] => control::handle(self, rest, params, body).await,
            _ => reply(404, "text/html", b"<html><body>404 Not Found</body></html>".to_vec()),
        }
    }

    /// The portal shell page of `domain`: the frame parameters of a viewer (`user`, `placement`,
    /// `options`, `lang`, or another `app` URL, from the query) POSTed into an iframe.
    fn shell_page(&self, domain: &str, params: &Map<String, Value>) -> Reply {
        let found = {
            let st = self.state();
            st.domains
                .get(domain)
                .cloned()
                .and_then(|m| st.portals.get(&m).map(|p| (m, p.app_url.clone())))
        };
        let html = |(status, html): (u16, String)| {
            reply(status, "text/html; charset=utf-8", html.into_bytes())
        };
        let Some((member_id, app_url)) = found else {
            return html(shell::page(&ShellView::NoPortal));
        };
        let Some(app_url) =
            params.get("app").and_then(Value::as_str).map(str::to_owned).or(app_url)
        else {
            return html(shell::page(&ShellView::NoAppUrl { domain }));
        };
        let user = params.get("user").and_then(Id::from_value).map(|i| i.0).unwrap_or(1);
        let placement =
            params.get("placement").and_then(Value::as_str).unwrap_or("DEFAULT").to_owned();
        let options = params
            .get("options")
            .and_then(Value::as_str)
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_else(|| json!({}));
        // Bitrix24 tells the application the viewer's interface language in `LANG`.
        let lang = params
            .get("lang")
            .and_then(Value::as_str)
            .filter(|l| (2..=5).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic()))
            .unwrap_or("en")
            .to_owned();
        let Ok((query, body)) =
            self.frame_request_in(&member_id, user, &placement, &options, &lang)
        else {
            return html(shell::page(&ShellView::NoTokens));
        };
        html(shell::page(&ShellView::Frame(Frame {
            domain,
            user,
            placement: &placement,
            app_url: &app_url,
            query: &query,
            body: &body,
            lang: &lang,
        })))
    }
}

/// The `PLACEMENT_OPTIONS` of an application's link: its `params[...]` keys, every value a
/// string (RD `widgets/universal/app-url.md`: `?params[docId]=42` arrives as
/// `{"docId":"42",...}`; keys given outside `params` do not).
fn link_options(params: &Map<String, Value>) -> Value {
    let Some(Value::Object(given)) = params.get("params") else { return json!({}) };
    let options: Map<String, Value> = given
        .iter()
        .filter_map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => if *b { "1" } else { "" }.to_owned(),
                _ => return None,
            };
            Some((k.clone(), Value::String(v)))
        })
        .collect();
    Value::Object(options)
}

#[cfg(test)]
mod link_tests {
    use super::link_options;
    use serde_json::{Map, json};

    /// RD `widgets/universal/app-url.md`: the link's `params` become `PLACEMENT_OPTIONS`, values
    /// as strings; other query keys stay out.
    #[test]
    fn a_links_params_become_the_placement_options() {
        let p = json!({"params": {"conversation_id": "5", "n": 7}, "user": "3"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert_eq!(link_options(&p), json!({"conversation_id": "5", "n": "7"}));
        assert_eq!(link_options(&Map::new()), json!({}));
    }
}
