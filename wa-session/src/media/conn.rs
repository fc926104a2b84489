//! The media hosts and upload credentials of a `media_conn` iq, without IO: the request, its
//! answer, how long it may be reused, and the upload path it authorizes.

use std::time::Duration;

use base64::Engine as _;
use wa_proto::{Jid, Node};

use crate::{Error, Result, media::MediaType};

/// How long an answer is reused when it names no `ttl`.
const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// What a `media_conn` answer grants: an upload `auth` token and the hosts to use.
#[derive(Clone, PartialEq, Eq)]
pub struct MediaConn {
    /// The upload authorization, sent as the `auth` query parameter.
    pub auth: String,
    /// How long the answer may be reused (`ttl`, seconds).
    pub ttl: Duration,
    /// The media hosts, in the order the server gave them (`host:port` in a simulator).
    pub hosts: Vec<String>,
}

impl std::fmt::Debug for MediaConn {
    // The auth token is a credential: keep it out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaConn")
            .field("auth", &"<redacted>")
            .field("ttl", &self.ttl)
            .field("hosts", &self.hosts)
            .finish()
    }
}

impl MediaConn {
    /// `<iq xmlns="w:m" type="set" to="s.whatsapp.net"><media_conn/></iq>`.
    #[must_use]
    pub fn request() -> Node {
        Node::builder("iq")
            .attr("to", Jid::server_jid())
            .attr("type", "set")
            .attr("xmlns", "w:m")
            .children([Node::builder("media_conn").build()])
            .build()
    }

    /// Reads the answer `<iq><media_conn auth ttl ...><host hostname/>...</media_conn></iq>`.
    ///
    /// # Errors
    ///
    /// [`crate::MessageError::Stanza`] without `media_conn`, `auth` or any host, or with a `ttl`
    /// that is not a number.
    pub fn from_answer(answer: &Node) -> Result<Self> {
        let bad = |reason: &str| Error::stanza("media_conn", reason);
        let conn = answer.child("media_conn").ok_or_else(|| bad("no <media_conn>"))?;
        let auth = conn
            .attr_opt_str("auth")
            .ok()
            .flatten()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| bad("no auth"))?
            .to_owned();
        let ttl = match conn.attr_opt_str("ttl").ok().flatten() {
            None => DEFAULT_TTL,
            Some(text) => {
                Duration::from_secs(text.parse().map_err(|_| bad("ttl is not a number"))?)
            }
        };
        let hosts: Vec<String> = conn
            .children_with_tag("host")
            .filter_map(|h| h.attr_opt_str("hostname").ok().flatten())
            .filter(|h| is_host(h))
            .map(str::to_owned)
            .collect();
        if hosts.is_empty() {
            return Err(bad("no usable host"));
        }
        Ok(Self { auth, ttl, hosts })
    }

    /// Whether an answer received `age` ago may still be used.
    #[must_use]
    pub fn is_fresh(&self, age: Duration) -> bool {
        age < self.ttl
    }

    /// The upload path and query for a blob whose SHA-256 is `file_enc_sha256`:
    /// `/mms/<type>/<token>?auth=<auth>&token=<token>`, the token being base64url (no padding).
    #[must_use]
    pub fn upload_path(&self, path_type: &str, file_enc_sha256: &[u8; 32]) -> String {
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(file_enc_sha256);
        format!("/mms/{path_type}/{token}?auth={}&token={token}", percent_encode(&self.auth))
    }
}

/// The path segment of `/mms/<type>/` for a media type (stickers go with images, voice notes
/// with audio, as WhatsApp Web does).
#[must_use]
pub fn upload_path_type(media_type: MediaType) -> &'static str {
    match media_type {
        MediaType::Sticker | MediaType::ThumbnailLink => "image",
        MediaType::Ptt => "audio",
        MediaType::Gif | MediaType::Ptv => "video",
        other => other.name(),
    }
}

/// A host name, an IPv4 address or either with a port: letters, digits, `.`, `-`, `:`. Anything
/// else (a slash, `@`, spaces) could redirect a request elsewhere.
pub(crate) fn is_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MessageError;

    fn answer(conn: Node) -> Node {
        Node::builder("iq").attr("type", "result").children([conn]).build()
    }

    #[test]
    fn reads_the_answer_and_builds_the_upload_path() {
        let conn = MediaConn::from_answer(&answer(
            Node::builder("media_conn")
                .attr("auth", "a+b/c=")
                .attr("ttl", "300")
                .children([
                    Node::builder("host").attr("hostname", "mmg.whatsapp.net").build(),
                    Node::builder("host").attr("hostname", "evil/host").build(),
                    Node::builder("host").attr("hostname", "127.0.0.1:4433").build(),
                ])
                .build(),
        ))
        .unwrap();
        assert_eq!(conn.hosts, ["mmg.whatsapp.net", "127.0.0.1:4433"]);
        assert_eq!(conn.ttl, Duration::from_secs(300));
        assert!(!format!("{conn:?}").contains("a+b"));
        let path = conn.upload_path(upload_path_type(MediaType::Ptt), &[0xfb; 32]);
        let token = "-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s";
        assert_eq!(path, format!("/mms/audio/{token}?auth=a%2Bb%2Fc%3D&token={token}"));
        assert!(conn.is_fresh(Duration::from_secs(299)));
        assert!(!conn.is_fresh(Duration::from_secs(300)));
        assert_eq!(
            MediaConn::request().child("media_conn").map(|c| c.tag.as_ref()),
            Some("media_conn")
        );
    }

    #[test]
    fn refuses_incomplete_answers() {
        let host = || Node::builder("host").attr("hostname", "h").build();
        for conn in [
            Node::builder("other").build(),
            Node::builder("media_conn").children([host()]).build(),
            Node::builder("media_conn").attr("auth", "x").build(),
            Node::builder("media_conn")
                .attr("auth", "x")
                .attr("ttl", "soon")
                .children([host()])
                .build(),
        ] {
            assert!(matches!(
                MediaConn::from_answer(&answer(conn)),
                Err(Error::Message(MessageError::Stanza { .. }))
            ));
        }
        let conn = MediaConn::from_answer(&answer(
            Node::builder("media_conn").attr("auth", "x").children([host()]).build(),
        ))
        .unwrap();
        assert_eq!(conn.ttl, DEFAULT_TTL);
    }

    #[test]
    fn path_types() {
        assert_eq!(upload_path_type(MediaType::Image), "image");
        assert_eq!(upload_path_type(MediaType::Sticker), "image");
        assert_eq!(upload_path_type(MediaType::Video), "video");
        assert_eq!(upload_path_type(MediaType::Audio), "audio");
        assert_eq!(upload_path_type(MediaType::Document), "document");
    }
}
