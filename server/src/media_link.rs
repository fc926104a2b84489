//! Signed, expiring links to a message's file. Bitrix24 downloads the files of a customer's
//! message from the URLs the connector gives `imconnector.send.messages`, without a session of
//! ours; such a URL carries a token that names the tenant, the message and an expiry, signed
//! with HMAC-SHA256 under a key derived from the master key (HKDF-SHA256, its own label, so it
//! is never stored and signs nothing else). The route serving it is
//! [`crate::http::media_links`].
//!
//! The token is `base64url(payload).base64url(mac)`, the payload
//! `v1\n<member_id>\n<message_id>\n<expires_at>`: the signature is checked in constant time
//! before the payload is read, the expiry after.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tenancy::MessageId;

/// How long a link is valid unless configured otherwise: 24 hours.
pub const DEFAULT_TTL_SECS: i64 = 24 * 3600;

/// The path under the public URL that serves signed links.
pub const PATH: &str = "/media/signed/";

/// The largest token read (a real one is about 120 bytes).
const MAX_TOKEN: usize = 512;

/// The payload's first line: the format's version.
const VERSION: &str = "v1";

/// What a link gives access to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaLink {
    /// The tenant's `member_id`.
    pub member_id: String,
    /// The message whose file it is.
    pub message_id: MessageId,
    /// When the link stops working (Unix seconds).
    pub expires_at: i64,
}

/// Why a link was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// Not a token of ours: wrong form or length.
    #[error("malformed media link")]
    Malformed,
    /// The signature does not match (altered, or signed with another key).
    #[error("bad media link signature")]
    Signature,
    /// Signed by us, past its expiry.
    #[error("media link expired")]
    Expired,
}

/// The signing key (derived; `Debug` redacted).
#[derive(Clone)]
pub struct MediaLinkKey {
    mac: Hmac<Sha256>,
    /// Signs the message provider's handler URLs (its own label: it signs nothing else).
    handler: Hmac<Sha256>,
}

impl std::fmt::Debug for MediaLinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaLinkKey(<redacted>)")
    }
}

impl MediaLinkKey {
    /// Derives the key from the deployment's master key. `None` only if the crypto library
    /// refuses a 32-byte key (it accepts any length).
    pub fn derive(master: &[u8; 32]) -> Option<MediaLinkKey> {
        let hk = Hkdf::<Sha256>::new(Some(b"wab24.server.v1"), master);
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        hk.expand(b"media-link-hmac-sha256", key.as_mut_slice()).ok()?;
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_slice()).ok()?;
        hk.expand(b"messageservice-handler-hmac-sha256", key.as_mut_slice()).ok()?;
        let handler = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_slice()).ok()?;
        Some(MediaLinkKey { mac, handler })
    }

    /// The token of a link.
    pub fn sign(&self, link: &MediaLink) -> String {
        let payload =
            format!("{VERSION}\n{}\n{}\n{}", link.member_id, link.message_id, link.expires_at);
        let payload = URL_SAFE_NO_PAD.encode(payload);
        let mut mac = self.mac.clone();
        mac.update(payload.as_bytes());
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    /// Checks a token's form and signature (constant time), then its expiry at `now_unix`.
    pub fn verify(&self, token: &str, now_unix: i64) -> Result<MediaLink, LinkError> {
        if token.len() > MAX_TOKEN {
            return Err(LinkError::Malformed);
        }
        let (payload, sig) = token.split_once('.').ok_or(LinkError::Malformed)?;
        let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| LinkError::Malformed)?;
        let mut mac = self.mac.clone();
        mac.update(payload.as_bytes());
        mac.verify_slice(&sig).map_err(|_| LinkError::Signature)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| LinkError::Malformed)?;
        let payload = String::from_utf8(payload).map_err(|_| LinkError::Malformed)?;
        let mut parts = payload.split('\n');
        let (Some(VERSION), Some(member_id), Some(message_id), Some(expires_at), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(LinkError::Malformed);
        };
        let message_id = message_id.parse().map_err(|_| LinkError::Malformed)?;
        let expires_at: i64 = expires_at.parse().map_err(|_| LinkError::Malformed)?;
        if member_id.is_empty() {
            return Err(LinkError::Malformed);
        }
        if now_unix >= expires_at {
            return Err(LinkError::Expired);
        }
        Ok(MediaLink { member_id: member_id.to_owned(), message_id, expires_at })
    }
}

impl MediaLinkKey {
    /// The token in the message provider's `HANDLER` URL of `member_id`'s line `line_id`
    /// (`messageservice.sender.add`): `base64url("sms1\n<member_id>\n<line_id>").base64url(mac)`.
    /// It does not expire: the portal keeps the URL until the provider is deleted.
    pub fn sign_handler(&self, member_id: &str, line_id: tenancy::LineId) -> String {
        let payload = URL_SAFE_NO_PAD.encode(format!("{HANDLER_VERSION}\n{member_id}\n{line_id}"));
        let mut mac = self.handler.clone();
        mac.update(payload.as_bytes());
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    /// Checks a handler token's form and signature (constant time): its portal and line.
    pub fn verify_handler(&self, token: &str) -> Result<(String, tenancy::LineId), LinkError> {
        if token.len() > MAX_TOKEN {
            return Err(LinkError::Malformed);
        }
        let (payload, sig) = token.split_once('.').ok_or(LinkError::Malformed)?;
        let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| LinkError::Malformed)?;
        let mut mac = self.handler.clone();
        mac.update(payload.as_bytes());
        mac.verify_slice(&sig).map_err(|_| LinkError::Signature)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| LinkError::Malformed)?;
        let payload = String::from_utf8(payload).map_err(|_| LinkError::Malformed)?;
        let mut parts = payload.split('\n');
        let (Some(HANDLER_VERSION), Some(member_id), Some(line_id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(LinkError::Malformed);
        };
        let line_id = line_id.parse().map_err(|_| LinkError::Malformed)?;
        if member_id.is_empty() {
            return Err(LinkError::Malformed);
        }
        Ok((member_id.to_owned(), line_id))
    }
}

/// The first line of a handler token's payload.
const HANDLER_VERSION: &str = "sms1";

/// The key and how long the links it signs last.
#[derive(Debug, Clone)]
pub struct MediaLinks {
    /// Signs and checks the links (never logged).
    pub key: MediaLinkKey,
    /// How long a new link is valid, in seconds.
    pub ttl_secs: i64,
}

impl MediaLinks {
    /// A link to `message_id`'s file valid for [`MediaLinks::ttl_secs`] from `now_unix`.
    pub fn url(
        &self,
        public_url: &str,
        member_id: &str,
        message_id: MessageId,
        now_unix: i64,
    ) -> String {
        let expires_at = now_unix.saturating_add(self.ttl_secs);
        signed_media_url(public_url, member_id, message_id, expires_at, &self.key)
    }
}

/// The URL under `public_url` (no trailing slash) at which `message_id`'s file of tenant
/// `member_id` can be downloaded without a session until `expires_at` (Unix seconds).
pub fn signed_media_url(
    public_url: &str,
    member_id: &str,
    message_id: MessageId,
    expires_at: i64,
    key: &MediaLinkKey,
) -> String {
    let link = MediaLink { member_id: member_id.to_owned(), message_id, expires_at };
    format!("{}{PATH}{}", public_url.trim_end_matches('/'), key.sign(&link))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> MediaLinkKey {
        let mut m = [0u8; 32];
        m[0] = b;
        MediaLinkKey::derive(&m).unwrap()
    }

    fn link() -> MediaLink {
        MediaLink { member_id: "m1".to_owned(), message_id: 42, expires_at: 2_000 }
    }

    #[test]
    fn a_signed_link_verifies_until_it_expires() {
        let k = key(1);
        let token = k.sign(&link());
        assert_eq!(k.verify(&token, 1_999), Ok(link()));
        assert_eq!(k.verify(&token, 2_000), Err(LinkError::Expired));
        let url = signed_media_url("https://wab24.example/", "m1", 42, 2_000, &k);
        assert_eq!(url, format!("https://wab24.example/media/signed/{token}"));
        assert!(token.len() < 120, "{}", token.len());
        let links = MediaLinks { key: k.clone(), ttl_secs: DEFAULT_TTL_SECS };
        let url = links.url("https://w", "m1", 42, 1_000);
        let token = url.strip_prefix("https://w/media/signed/").unwrap();
        assert_eq!(k.verify(token, 1_000).unwrap().expires_at, 1_000 + 86_400);
    }

    #[test]
    fn handler_tokens_name_their_line_and_are_not_media_links() {
        let k = key(1);
        let token = k.sign_handler("m1", 7);
        assert_eq!(k.verify_handler(&token), Ok(("m1".to_owned(), 7)));
        assert_eq!(key(2).verify_handler(&token), Err(LinkError::Signature));
        let (_, sig) = token.split_once('.').unwrap();
        let forged = format!("{}.{sig}", URL_SAFE_NO_PAD.encode("sms1\nm1\n8"));
        assert_eq!(k.verify_handler(&forged), Err(LinkError::Signature));
        // The two kinds are signed under different keys.
        assert_eq!(k.verify(&token, 0), Err(LinkError::Signature));
        assert_eq!(k.verify_handler(&k.sign(&link())), Err(LinkError::Signature));
    }

    #[test]
    fn altered_or_foreign_links_are_refused() {
        let k = key(1);
        let token = k.sign(&link());
        assert_eq!(key(2).verify(&token, 1_000), Err(LinkError::Signature));
        // Another tenant's or message's payload under the same signature.
        let (_, sig) = token.split_once('.').unwrap();
        for payload in ["v1\nm2\n42\n2000", "v1\nm1\n43\n2000", "v1\nm1\n42\n9999"] {
            let forged = format!("{}.{sig}", URL_SAFE_NO_PAD.encode(payload));
            assert_eq!(k.verify(&forged, 1_000), Err(LinkError::Signature), "{payload}");
        }
        // Every flipped character.
        for i in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).unwrap();
            if altered != token {
                assert!(k.verify(&altered, 1_000).is_err(), "{i}");
            }
        }
        for bad in ["", ".", "abc", "a.b.c", &"a".repeat(600)] {
            assert!(k.verify(bad, 1_000).is_err(), "{bad}");
        }
        // Correctly signed but not our payload.
        let sign = |payload: &str| {
            let p = URL_SAFE_NO_PAD.encode(payload);
            let mut mac = k.mac.clone();
            mac.update(p.as_bytes());
            format!("{p}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
        };
        for payload in
            ["v2\nm1\n42\n2000", "v1\n\n42\n2000", "v1\nm1\nx\n2000", "v1\nm1\n42\n2000\n"]
        {
            assert_eq!(k.verify(&sign(payload), 1_000), Err(LinkError::Malformed), "{payload}");
        }
        assert_eq!(k.verify(&sign("v1\nm1\n42\n2000"), 1_000), Ok(link()));
    }

    #[test]
    fn the_key_is_not_the_session_key_and_is_not_printed() {
        let master = [7u8; 32];
        let media = MediaLinkKey::derive(&master).unwrap();
        assert_eq!(format!("{media:?}"), "MediaLinkKey(<redacted>)");
        // A payload signed with the session-token key (same master, other label) is refused.
        let hk = Hkdf::<Sha256>::new(Some(b"wab24.server.v1"), &master);
        let mut session_key = [0u8; 32];
        hk.expand(b"session-jwt-hs256", &mut session_key).unwrap();
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&session_key).unwrap();
        let payload = URL_SAFE_NO_PAD.encode("v1\nm1\n42\n2000");
        mac.update(payload.as_bytes());
        let forged = format!("{payload}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
        assert_eq!(media.verify(&forged, 1_000), Err(LinkError::Signature));
    }
}
