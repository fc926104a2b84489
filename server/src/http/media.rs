//! A message's media: uploading a file to send (streamed to disk with bounded memory, checked,
//! and queued) and downloading a message's file.

use bytes::Buf;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tenancy::{ConversationId, MessageId, MessageKind};
use tokio::io::AsyncWriteExt;
use warp::{
    http::{HeaderMap, HeaderValue, header},
    reply::Response,
};

use super::{
    messages::{accepted, idempotency_key},
    models::MediaQuery,
};
use crate::{
    error::{ApiError, ApiResult},
    runtime::{MediaUpload, StagedMedia},
    state::{AppState, Session},
};

/// The largest upload the route reads (the per-kind limits below are smaller or equal).
pub const MAX_UPLOAD: u64 = 64 * 1024 * 1024;

/// What an upload of a kind may be: its size limit and accepted content types (`None`: any).
struct UploadRule {
    kind: MessageKind,
    max: u64,
    types: Option<&'static [&'static str]>,
}

const MIB: u64 = 1024 * 1024;

fn upload_rule(kind: &str) -> ApiResult<UploadRule> {
    let (kind, max, types): (_, _, Option<&'static [&'static str]>) = match kind {
        "image" => (MessageKind::Image, 16 * MIB, Some(&["image/jpeg", "image/png", "image/webp"])),
        "video" => (MessageKind::Video, MAX_UPLOAD, Some(&["video/mp4", "video/3gpp"])),
        "document" => (MessageKind::Document, MAX_UPLOAD, None),
        // A browser's MediaRecorder output (remuxed) or an Ogg Opus file.
        "voice" => (MessageKind::Voice, 16 * MIB, Some(&["audio/webm", "audio/ogg"])),
        other => {
            return Err(ApiError::BadRequest(format!(
                "kind must be image, video, document or voice, not {other:?}"
            )));
        }
    };
    Ok(UploadRule { kind, max, types })
}

/// The media type without parameters, lower case (`audio/webm;codecs=opus` -> `audio/webm`).
pub fn essence(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// The first bytes of a file of type `mime` as that format begins, for the image and video
/// types an upload may declare (a PDF sent as an image is refused); other types are not
/// looked at here (voice notes are parsed whole by the remux).
fn starts_as(mime: &str, head: &[u8]) -> bool {
    match mime {
        "image/jpeg" => head.starts_with(&[0xFF, 0xD8, 0xFF]),
        "image/png" => head.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/webp" => head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP",
        // ISO base media (MP4, 3GP): a box whose type is `ftyp` comes first.
        "video/mp4" | "video/3gpp" => head.len() >= 8 && &head[4..8] == b"ftyp",
        _ => true,
    }
}

/// Bytes needed to judge a file's format by [`starts_as`].
const MAGIC_LEN: usize = 12;

/// Unicode characters that reorder text (bidirectional overrides, embeddings, isolates and
/// marks): in a file name they make `invoice\u{202E}fdp.exe` show as `invoiceexe.pdf`.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A file name as it is stored and shown: without control characters, bidirectional
/// controls and path separators, at most 128 characters; `None` if nothing is left.
pub fn clean_file_name(name: &str) -> Option<String> {
    let clean: String = name
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c) && !matches!(c, '/' | '\\'))
        .take(128)
        .collect();
    let clean = clean.trim();
    (!clean.is_empty() && clean != "." && clean != "..").then(|| clean.to_owned())
}

/// A staged upload's file, removed when dropped unless it was handed on.
struct Staged {
    path: std::path::PathBuf,
}

impl Drop for Staged {
    fn drop(&mut self) {
        // Gone already when the runtime moved it into the media folder.
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(error = %e, "a partial upload could not be removed"),
        }
    }
}

/// Bytes of media a tenant stores (every file under its media folder).
async fn stored_bytes(dir: std::path::PathBuf) -> ApiResult<u64> {
    fn walk(dir: &std::path::Path) -> std::io::Result<u64> {
        let mut total = 0u64;
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                total = total.saturating_add(walk(&entry.path())?);
            } else if kind.is_file() {
                total = total.saturating_add(entry.metadata()?.len());
            }
        }
        Ok(total)
    }
    tokio::task::spawn_blocking(move || walk(&dir)).await.map_err(|_| ApiError::Internal)?.map_err(
        |e| {
            tracing::error!(error = %e, "media folder unreadable");
            ApiError::Internal
        },
    )
}

/// Streams `body` into a new private file at `staged`, hashing it: 413 past `max` bytes (read
/// no further), 415 when the first bytes are not of `mime`'s format, 400 when empty.
async fn stage<B: Buf>(
    staged: &Staged,
    body: impl Stream<Item = Result<B, warp::Error>>,
    max: u64,
    mime: Option<&str>,
) -> ApiResult<(u64, [u8; 32])> {
    let io = |e: std::io::Error| {
        tracing::error!(error = %e, "writing an upload failed");
        ApiError::Internal
    };
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(&staged.path).await.map_err(io)?;
    let mut hash = Sha256::new();
    let mut size = 0u64;
    let mut head: Vec<u8> = Vec::with_capacity(MAGIC_LEN);
    let mut judged = mime.is_none();
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|e| {
            tracing::debug!(error = %e, "upload body broken off");
            ApiError::BadRequest("the upload was interrupted".to_owned())
        })?;
        while chunk.has_remaining() {
            let part = chunk.chunk();
            let n = part.len();
            size = size.saturating_add(n as u64);
            if size > max {
                return Err(ApiError::TooLarge);
            }
            if !judged {
                let take = (MAGIC_LEN - head.len()).min(n);
                head.extend_from_slice(&part[..take]);
                if head.len() == MAGIC_LEN {
                    judged = true;
                    check_format(mime, &head)?;
                }
            }
            hash.update(part);
            file.write_all(part).await.map_err(io)?;
            chunk.advance(n);
        }
    }
    if size == 0 {
        return Err(ApiError::BadRequest("the file is empty".to_owned()));
    }
    if !judged {
        check_format(mime, &head)?;
    }
    file.flush().await.map_err(io)?;
    file.sync_data().await.map_err(io)?;
    Ok((size, hash.finalize().into()))
}

fn check_format(mime: Option<&str>, head: &[u8]) -> ApiResult<()> {
    match mime {
        Some(m) if !starts_as(m, head) => Err(ApiError::UnsupportedMediaType(format!(
            "the file is not {m}: its first bytes are of another format"
        ))),
        _ => Ok(()),
    }
}

/// `POST /api/conversations/{id}/media?kind=`: the body is the file, `Content-Type` its type.
/// Everything that can be judged before the body is (token, the caller's access to the
/// conversation, kind, type, declared size, upload slots, storage quota); then the body is
/// streamed to a private file beside the media folder with bounded memory, checked, and moved
/// in. A failed upload leaves no file.
pub async fn upload<B: Buf>(
    state: AppState,
    s: Session,
    conversation: ConversationId,
    q: MediaQuery,
    headers: HeaderMap,
    body: impl Stream<Item = Result<B, warp::Error>>,
) -> ApiResult<Response> {
    let rule = upload_rule(&q.kind)?;
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(essence)
        .filter(|m| !m.is_empty());
    if let Some(types) = rule.types
        && !mime.as_deref().is_some_and(|m| types.contains(&m))
    {
        return Err(ApiError::UnsupportedMediaType(format!(
            "a {} must be one of: {}",
            q.kind,
            types.join(", ")
        )));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(0) => return Err(ApiError::BadRequest("the file is empty".to_owned())),
        Some(n) if n > rule.max => return Err(ApiError::TooLarge),
        _ => {}
    }
    let runtime = state.require_runtime()?;
    // The caller's access to the conversation, before a byte of the body is read.
    s.tenant.conversation(s.caller(), conversation).await?;
    let mut slot = state.begin_upload(&s.claims.mid)?;
    let used = stored_bytes(runtime.media_dir(&s.claims.mid)).await?;
    slot.reserve(used, declared.unwrap_or(rule.max))?;

    let dir = runtime.staging_dir(&s.claims.mid);
    crate::runtime::create_private_dir(&dir).await.map_err(|e| {
        tracing::error!(error = %e, "upload folder not writable");
        ApiError::Internal
    })?;
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|_| ApiError::Internal)?;
    let staged = Staged { path: dir.join(hex::encode(random)) };
    let checked = if matches!(rule.kind, MessageKind::Image | MessageKind::Video) {
        mime.as_deref()
    } else {
        None
    };
    let (size, sha256) = stage(&staged, body, rule.max, checked).await?;
    let upload = MediaUpload {
        mime,
        caption: q.caption,
        file_name: q.file_name.as_deref().and_then(clean_file_name),
    };
    let key = idempotency_key(q.idempotency_key)?;
    let file = StagedMedia { path: staged.path.clone(), size, sha256 };
    let m = runtime
        .send_media_file(
            &s.claims.mid,
            s.caller(),
            conversation,
            rule.kind,
            &file,
            &upload,
            q.quoted_id,
            &key,
        )
        .await?;
    drop(slot);
    tracing::info!(member_id = %s.claims.mid, message_id = m.id, size, "media queued");
    Ok(accepted(m))
}

/// `GET /api/messages/{id}/media`: the file of a message the caller may see.
pub async fn download(state: AppState, s: Session, id: MessageId) -> ApiResult<Response> {
    let runtime = state.require_runtime()?;
    let m = s.tenant.message(s.caller(), id).await?;
    file_response(runtime, &s.claims.mid, m).await
}

/// The file of message `m` of tenant `member_id` as a response: its type, inline only for
/// media the browser plays itself, a sandbox, and a cleaned file name. 404 when the message
/// has no file or the file is gone.
pub(super) async fn file_response(
    runtime: &crate::runtime::Runtime,
    member_id: &str,
    m: tenancy::Message,
) -> ApiResult<Response> {
    let id = m.id;
    let media = m.media.ok_or(ApiError::NotFound("media"))?;
    // Stored paths are ours (`in/...`, `out/...`), but never follow one out of the directory.
    if media.path.split('/').any(|part| part == ".." || part.is_empty()) {
        tracing::error!(member_id, message_id = id, "stored media path refused");
        return Err(ApiError::Internal);
    }
    let path = runtime.media_dir(member_id).join(&media.path);
    let bytes = match tokio::fs::read(&path).await {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::NotFound("media file"));
        }
        Err(e) => {
            tracing::error!(member_id, message_id = id, error = %e, "media file unreadable");
            return Err(ApiError::Internal);
        }
    };
    let mut r = Response::new(bytes.into());
    let mime = HeaderValue::from_str(&media.mime)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    let headers = r.headers_mut();
    headers.insert(header::CONTENT_TYPE, mime);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=86400"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    // A customer's file is never a page of ours: a sandbox without any source, and only media
    // the browser plays itself are shown inline.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'; media-src 'self'; img-src 'self'"),
    );
    let disposition =
        if INLINE_TYPES.contains(&essence(&media.mime).as_str()) { "inline" } else { "attachment" };
    let name = super::models::media_file_name(&media.path)
        .and_then(|n| clean_file_name(&n))
        .unwrap_or_else(|| format!("{id}"));
    let ascii: String = name
        .chars()
        .map(|c| if c.is_ascii_graphic() && !matches!(c, '"' | '\\') { c } else { '_' })
        .collect();
    let value =
        format!("{disposition}; filename=\"{ascii}\"; filename*=UTF-8''{}", percent_encode(&name));
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

/// Types shown in the page (`<img>`, `<video>`, `<audio>`); anything else downloads.
const INLINE_TYPES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "video/mp4",
    "video/3gpp",
    "audio/ogg",
    "audio/mpeg",
    "audio/mp4",
    "audio/aac",
    "audio/webm",
];

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_rules() {
        assert_eq!(essence("Audio/WebM; codecs=opus"), "audio/webm");
        assert!(upload_rule("sticker").is_err());
        assert_eq!(upload_rule("voice").unwrap().kind, MessageKind::Voice);
        assert!(upload_rule("document").unwrap().types.is_none());
        assert_eq!(percent_encode("отчёт 1.pdf"), "%D0%BE%D1%82%D1%87%D1%91%D1%82%201.pdf");
    }
}
