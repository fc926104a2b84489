//! The portal shell page: an iframe into which the frame parameters are POSTed as Bitrix24 does,
//! so that a person can try an application locally.

use serde_json::{Map, Value, json};
use warp::http;

use crate::sim::Sim;

fn esc(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

/// `scheme://host[:port]` of a URL. The frame is navigated by a form POST and has no `src`, so
/// a permission granted with a bare `allow="microphone"` would name the shell's own origin.
fn origin_of(url: &str) -> &str {
    let Some(start) = url.find("://").map(|i| i + 3) else { return url };
    match url[start..].find(['/', '?', '#']) {
        Some(end) => &url[..start + end],
        None => url,
    }
}

pub(crate) fn page(
    sim: &Sim,
    domain: &str,
    params: &Map<String, Value>,
) -> http::Response<Vec<u8>> {
    let found = {
        let st = sim.state();
        st.domains
            .get(domain)
            .cloned()
            .and_then(|m| st.portals.get(&m).map(|p| (m, p.app_url.clone())))
    };
    let resp = |status: u16, html: String| {
        let mut r = http::Response::new(html.into_bytes());
        *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/html; charset=utf-8"),
        );
        r
    };
    let Some((member_id, app_url)) = found else {
        return resp(
            404,
            "<!doctype html><title>No such portal</title><p>No such portal.</p>".to_owned(),
        );
    };
    let Some(app_url) = params.get("app").and_then(Value::as_str).map(str::to_owned).or(app_url)
    else {
        return resp(
            200,
            format!(
                "<!doctype html><title>{0}</title><p>Portal {0}: no application URL (start with --app-url or add ?app=URL).</p>",
                esc(domain)
            ),
        );
    };
    let user = params.get("user").and_then(b24_client::Id::from_value).map(|i| i.0).unwrap_or(1);
    let placement = params.get("placement").and_then(Value::as_str).unwrap_or("DEFAULT").to_owned();
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
    let Ok((query, body)) = sim.frame_request_in(&member_id, user, &placement, &options, &lang)
    else {
        return resp(500, "<!doctype html><p>cannot issue tokens</p>".to_owned());
    };
    let fields: String = form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| {
            format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">\n", esc(&k), esc(&v))
        })
        .collect();
    let sep = if app_url.contains('?') { '&' } else { '?' };
    resp(
        200,
        format!(
            "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{domain} - Bitrix24 (simulated)</title>\n\
<style>body{{margin:0;font-family:sans-serif;background:#eef2f4}}header{{background:#2fc6f6;color:#fff;padding:8px 16px}}\
iframe{{border:0;width:100%;height:calc(100vh - 40px);background:#fff}}</style></head>\n\
<body><header>{domain} &middot; user {user} &middot; {placement}</header>\n\
<form id=\"b24-frame\" method=\"POST\" target=\"app\" action=\"{action}\">\n{fields}</form>\n\
<iframe name=\"app\" title=\"application\" allow=\"microphone {app_origin}; clipboard-write {app_origin}\"></iframe>\n\
<script>document.getElementById('b24-frame').submit();</script>\n</body></html>\n",
            domain = esc(domain),
            placement = esc(&placement),
            action = esc(&format!("{app_url}{sep}{query}")),
            app_origin = esc(origin_of(&app_url)),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::origin_of;

    #[test]
    fn the_frames_permissions_name_the_apps_origin() {
        assert_eq!(origin_of("http://127.0.0.1:8080/b24/app"), "http://127.0.0.1:8080");
        assert_eq!(origin_of("https://app.example.com?x=1"), "https://app.example.com");
        assert_eq!(origin_of("https://app.example.com"), "https://app.example.com");
    }
}
