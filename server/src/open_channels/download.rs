//! Fetching a file an operator attached in an Open Channel (`files[i].link` of
//! `ONIMCONNECTORMESSAGEADD`), so that it can be sent to the customer as WhatsApp media.
//!
//! The link comes in an event whose only proof is the `application_token`, which every user of
//! the app can see: it is fetched only from the portal's own origin (never an address the event
//! chooses elsewhere, nor a redirect off that origin), with a size cap and a time limit.

use std::{sync::OnceLock, time::Duration};

use tenancy::MessageKind;

/// How long one download may take.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(60);
/// How many redirects on the portal's origin are followed.
const MAX_REDIRECTS: usize = 3;

/// Why an operator's file could not be fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DownloadError {
    /// The link is not on the portal's origin (or is not an http(s) URL).
    #[error("the file link is not on the portal")]
    NotOnPortal,
    /// The file is larger than the line may send.
    #[error("the file is over the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The portal answered with an error status.
    #[error("the portal answered {0} for the file")]
    Status(u16),
    /// The download failed (network, timeout).
    #[error("the file could not be downloaded")]
    Network,
}

/// A downloaded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Its MIME type, as the portal named it (or guessed from the name).
    pub mime: String,
}

/// `scheme://host[:port]` of an http(s) URL, lower-cased; `None` for anything else or a URL
/// with user info.
pub(crate) fn origin_of(url: &str) -> Option<String> {
    let lower = url.get(..8)?.to_ascii_lowercase();
    let scheme_len = if lower.starts_with("https://") {
        8
    } else if lower.starts_with("http://") {
        7
    } else {
        return None;
    };
    let authority = url[scheme_len..].split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.contains(['@', '\\']) {
        return None;
    }
    Some(format!("{}{}", &lower[..scheme_len], authority.to_ascii_lowercase()))
}

fn client() -> Option<&'static reqwest::Client> {
    static CLIENT: OnceLock<Option<reqwest::Client>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let policy = reqwest::redirect::Policy::custom(|attempt| {
                let first = attempt.previous().first().map(|u| origin_of(u.as_str()));
                let next = origin_of(attempt.url().as_str());
                if attempt.previous().len() > MAX_REDIRECTS || first.flatten() != next {
                    attempt.stop()
                } else {
                    attempt.follow()
                }
            });
            reqwest::Client::builder().timeout(DOWNLOAD_TIMEOUT).redirect(policy).build().ok()
        })
        .as_ref()
}

/// Downloads `link`, which must be on `portal_origin` (see [`origin_of`]), reading at most
/// `limit` bytes.
///
/// # Errors
///
/// [`DownloadError`]: a link elsewhere, a file over the limit, an error status, a network
/// failure.
pub async fn fetch(
    link: &str,
    portal_origin: &str,
    limit: u64,
) -> Result<Downloaded, DownloadError> {
    if origin_of(link).as_deref() != Some(portal_origin) {
        return Err(DownloadError::NotOnPortal);
    }
    let client = client().ok_or(DownloadError::Network)?;
    let mut response = client.get(link).send().await.map_err(|_| DownloadError::Network)?;
    let status = response.status();
    if !status.is_success() {
        return Err(DownloadError::Status(status.as_u16()));
    }
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(DownloadError::TooLarge { limit });
    }
    let mime = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty() && v.len() <= 100 && v != "application/octet-stream");
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|_| DownloadError::Network)? {
        if bytes.len() as u64 + chunk.len() as u64 > limit {
            return Err(DownloadError::TooLarge { limit });
        }
        bytes.extend_from_slice(&chunk);
    }
    let mime = mime.unwrap_or_else(|| "application/octet-stream".to_owned());
    Ok(Downloaded { bytes, mime })
}

/// The MIME type of a file name's extension, for a portal that names none.
#[must_use]
pub fn mime_of_name(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "jpg" | "jpeg" | "jpe" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "mp4" => "video/mp4",
        "3gp" => "video/3gpp",
        "mp3" => "audio/mpeg",
        "ogg" | "oga" | "opus" => "audio/ogg",
        "m4a" => "audio/mp4",
        "aac" => "audio/aac",
        "amr" => "audio/amr",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        _ => return None,
    })
}

/// The WhatsApp kind to send a file as: Bitrix24's `type` (`image`, `video`, `audio`, `file`)
/// when WhatsApp shows that MIME type as such (JPEG/PNG images, MP4/3GPP videos, the audio
/// formats WhatsApp plays), else a document.
#[must_use]
pub fn kind_for(b24_type: &str, mime: &str) -> MessageKind {
    match (b24_type, mime) {
        ("image", "image/jpeg" | "image/png") => MessageKind::Image,
        ("video", "video/mp4" | "video/3gpp") => MessageKind::Video,
        ("audio", "audio/mpeg" | "audio/ogg" | "audio/mp4" | "audio/aac" | "audio/amr") => {
            MessageKind::Audio
        }
        _ => MessageKind::Document,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(origin_of("https://P.test/disk/1?x").as_deref(), Some("https://p.test"));
        assert_eq!(origin_of("http://127.0.0.1:9/p/a/f").as_deref(), Some("http://127.0.0.1:9"));
        for bad in ["ftp://p.test/", "https://u@p.test/", "https:///x", "p.test/x", "", "https:"] {
            assert_eq!(origin_of(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn links_off_the_portal_are_not_fetched() {
        for link in ["https://evil.test/f", "https://p.test.evil.test/f", "file:///etc/passwd"] {
            assert!(matches!(
                fetch(link, "https://p.test", 10).await,
                Err(DownloadError::NotOnPortal)
            ));
        }
    }

    #[test]
    fn kinds_follow_what_whatsapp_shows() {
        assert_eq!(kind_for("image", "image/jpeg"), MessageKind::Image);
        assert_eq!(kind_for("image", "image/bmp"), MessageKind::Document);
        assert_eq!(kind_for("video", "video/mp4"), MessageKind::Video);
        assert_eq!(kind_for("audio", "audio/mpeg"), MessageKind::Audio);
        assert_eq!(kind_for("file", "image/jpeg"), MessageKind::Document);
        assert_eq!(mime_of_name("a.JPG"), Some("image/jpeg"));
        assert_eq!(mime_of_name("noext"), None);
    }
}
