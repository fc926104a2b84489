//! Sending from a conversation (text, quoted reply, reaction, media upload) and downloading a
//! message's media. Sends are queued with an idempotency key (the caller's, or a fresh one) and
//! answered 202 with the pending message; the status then moves over SSE (`message.status`).

use tenancy::{ConversationId, MessageId, MessageKind};
use warp::{
    Reply,
    http::{HeaderValue, StatusCode, header},
    reply::{self, Response},
};

use super::models::{MediaQuery, MessageOut, SendReaction, SendText};
use crate::{
    error::{ApiError, ApiResult},
    runtime::MediaUpload,
    state::AppState,
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
fn essence(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

fn idempotency_key(given: Option<String>) -> ApiResult<String> {
    if let Some(key) = given.filter(|k| !k.is_empty()) {
        return Ok(key);
    }
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|e| {
        tracing::error!(error = %e, "no randomness for an idempotency key");
        ApiError::Internal
    })?;
    Ok(format!("srv-{}", hex::encode(random)))
}

fn accepted(m: tenancy::Message) -> Response {
    reply::with_status(reply::json(&MessageOut::from(m)), StatusCode::ACCEPTED).into_response()
}

/// `POST /api/conversations/{id}/messages`: a text, or a reply when `quoted_id` is given.
pub async fn send_text(
    state: AppState,
    bearer: Option<String>,
    conversation: ConversationId,
    body: SendText,
) -> ApiResult<Response> {
    let s = state.authenticate(bearer.as_deref()).await?;
    s.require_writable(state.now_unix())?;
    if body.text.trim().is_empty() {
        return Err(ApiError::BadRequest("text must not be empty".to_owned()));
    }
    let runtime = state.require_runtime()?;
    let key = idempotency_key(body.idempotency_key)?;
    let m = runtime
        .send_text(&s.claims.mid, s.caller(), conversation, &body.text, body.quoted_id, &key)
        .await?;
    tracing::info!(member_id = %s.claims.mid, message_id = m.id, "text queued");
    Ok(accepted(m))
}

/// `POST /api/conversations/{id}/reactions`: an emoji on a message (empty takes it back).
pub async fn send_reaction(
    state: AppState,
    bearer: Option<String>,
    conversation: ConversationId,
    body: SendReaction,
) -> ApiResult<Response> {
    let s = state.authenticate(bearer.as_deref()).await?;
    s.require_writable(state.now_unix())?;
    if body.emoji.chars().count() > 16 {
        return Err(ApiError::BadRequest("emoji must be one emoji".to_owned()));
    }
    let runtime = state.require_runtime()?;
    let key = idempotency_key(body.idempotency_key)?;
    let m = runtime
        .send_reaction(&s.claims.mid, s.caller(), conversation, body.message_id, &body.emoji, &key)
        .await?;
    tracing::info!(member_id = %s.claims.mid, message_id = m.id, "reaction queued");
    Ok(accepted(m))
}

/// `POST /api/conversations/{id}/media?kind=`: the body is the file, `Content-Type` its type.
pub async fn send_media(
    state: AppState,
    bearer: Option<String>,
    conversation: ConversationId,
    q: MediaQuery,
    content_type: Option<String>,
    body: bytes::Bytes,
) -> ApiResult<Response> {
    let s = state.authenticate(bearer.as_deref()).await?;
    s.require_writable(state.now_unix())?;
    let rule = upload_rule(&q.kind)?;
    if body.is_empty() {
        return Err(ApiError::BadRequest("the file is empty".to_owned()));
    }
    if body.len() as u64 > rule.max {
        return Err(ApiError::TooLarge);
    }
    let mime = content_type.as_deref().map(essence).filter(|m| !m.is_empty());
    if let Some(types) = rule.types
        && !mime.as_deref().is_some_and(|m| types.contains(&m))
    {
        return Err(ApiError::UnsupportedMediaType);
    }
    let runtime = state.require_runtime()?;
    let upload = MediaUpload { mime, caption: q.caption, file_name: q.file_name };
    let key = idempotency_key(q.idempotency_key)?;
    let m = runtime
        .send_media(
            &s.claims.mid,
            s.caller(),
            conversation,
            rule.kind,
            body.to_vec(),
            &upload,
            q.quoted_id,
            &key,
        )
        .await?;
    tracing::info!(member_id = %s.claims.mid, message_id = m.id, size = body.len(), "media queued");
    Ok(accepted(m))
}

/// `GET /api/messages/{id}/media`: the file of a message the caller may see.
pub async fn download_media(
    state: AppState,
    bearer: Option<String>,
    id: MessageId,
) -> ApiResult<Response> {
    let s = state.authenticate(bearer.as_deref()).await?;
    let runtime = state.require_runtime()?;
    let m = s.tenant.message(s.caller(), id).await?;
    let media = m.media.ok_or(ApiError::NotFound("media"))?;
    // Stored paths are ours (`in/...`, `out/...`), but never follow one out of the directory.
    if media.path.split('/').any(|part| part == ".." || part.is_empty()) {
        tracing::error!(member_id = %s.claims.mid, message_id = id, "stored media path refused");
        return Err(ApiError::Internal);
    }
    let path = runtime.media_dir(&s.claims.mid).join(&media.path);
    let bytes = match tokio::fs::read(&path).await {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::NotFound("media file"));
        }
        Err(e) => {
            tracing::error!(member_id = %s.claims.mid, message_id = id, error = %e, "media file unreadable");
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
    let name = super::models::media_file_name(&media.path).unwrap_or_else(|| format!("{id}"));
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
