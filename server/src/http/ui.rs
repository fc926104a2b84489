//! `GET /ui/{file}`: the chat panel's files (`server/ui/`), embedded at build time. With
//! `WAB24_UI_DIR` set they are read from that folder at each request instead, so that the UI
//! can be worked on without a rebuild.

use std::path::PathBuf;

use sha2::{Digest, Sha256};
use warp::{
    http::{HeaderValue, StatusCode, header},
    reply::Response,
};

/// The embedded files: (name, content), sorted by name.
pub static ASSETS: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));

/// The environment variable naming a folder to serve the UI from instead of the embedded copy.
pub const UI_DIR_ENV: &str = "WAB24_UI_DIR";

/// The content type for a file name, by extension; `None` for what the UI does not serve.
pub fn content_type(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.').map(|(_, e)| e)?;
    Some(match ext {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "json" => "application/json",
        "html" => "text/html; charset=utf-8",
        "woff2" => "font/woff2",
        _ => return None,
    })
}

fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

async fn load(name: &str) -> Option<Vec<u8>> {
    if let Some(dir) = std::env::var_os(UI_DIR_ENV) {
        return tokio::fs::read(PathBuf::from(dir).join(name)).await.ok();
    }
    let i = ASSETS.binary_search_by(|(n, _)| (*n).cmp(name)).ok()?;
    Some(ASSETS[i].1.to_vec())
}

/// `GET /ui/{file}`: the file with its content type and an ETag (revalidated on every use, so
/// that a new binary's UI is picked up at once), or 404.
pub async fn file(name: String, if_none_match: Option<String>) -> Response {
    let (Some(kind), true) = (content_type(&name), plain_name(&name)) else {
        return not_found();
    };
    let Some(bytes) = load(&name).await else {
        return not_found();
    };
    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&bytes)[..12]));
    let mut r = if if_none_match.as_deref() == Some(etag.as_str()) {
        let mut r = Response::default();
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(bytes.into());
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
        r
    };
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

fn not_found() -> Response {
    crate::error::ApiError::NotFound("no such file").response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_table_is_sorted_and_holds_the_entry_points() {
        assert!(ASSETS.windows(2).all(|w| w[0].0 < w[1].0));
        for needed in ["app.js", "app.css"] {
            assert!(ASSETS.iter().any(|(n, _)| *n == needed), "{needed} is not embedded");
        }
        for (name, _) in ASSETS {
            assert!(content_type(name).is_some(), "{name} would not be served");
        }
    }

    #[test]
    fn names_that_could_leave_the_folder_are_refused() {
        for bad in ["", ".env", "../Cargo.toml", "a/b.js", "app.js%00", "app.exe"] {
            assert!(!plain_name(bad) || content_type(bad).is_none(), "{bad}");
        }
        assert!(plain_name("app.js") && content_type("app.js").is_some());
    }
}
