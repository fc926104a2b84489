//! Session tokens: compact JWTs (HS256) issued when a portal user opens the app.
//!
//! Written here rather than taken from a JWT crate: one algorithm, one fixed header, and the
//! checks below are all the server needs; the HMAC and SHA-256 are RustCrypto's. The key is
//! derived from the master key with HKDF-SHA256, so it is never stored.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tenancy::{Caller, UserId};

/// How long a session token is valid: 72 hours.
pub const SESSION_TTL_SECS: i64 = 72 * 3600;

/// The only header the server writes and accepts.
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// The largest token accepted (a real one is ~250 bytes).
const MAX_TOKEN: usize = 2048;

/// What a user may do within their tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A portal administrator: every line.
    Admin,
    /// A portal user: the lines assigned to them.
    User,
}

impl Role {
    /// The role's name, as tokens and logs write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }
}

/// The claims of a session token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: always `wab24`.
    pub iss: String,
    /// The tenant's `member_id`.
    pub mid: String,
    /// The Bitrix24 user id.
    pub uid: UserId,
    /// The role the portal confirmed when the token was issued.
    pub role: Role,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// The tenant's installation generation when the token was issued: an uninstall or a
    /// reinstall bumps it, and every older token stops working.
    pub generation: i64,
}

impl Claims {
    /// The tenancy caller these claims stand for.
    pub fn caller(&self) -> Caller {
        match self.role {
            Role::Admin => Caller::Admin(self.uid),
            Role::User => Caller::User(self.uid),
        }
    }
}

/// Why a token was refused (all answer 401; the reason is logged, not shown in detail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not three base64url parts, or too long.
    #[error("malformed token")]
    Malformed,
    /// The header is not the HS256 one.
    #[error("unsupported token header")]
    Header,
    /// The signature does not match.
    #[error("bad token signature")]
    Signature,
    /// The claims are not ours.
    #[error("invalid token claims")]
    Claims,
    /// `exp` has passed.
    #[error("token expired")]
    Expired,
    /// The token claims a lifetime longer than [`SESSION_TTL_SECS`].
    #[error("token lifetime too long")]
    Lifetime,
}

/// The signing key (derived; Debug redacted).
#[derive(Clone)]
pub struct SessionKey {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(<redacted>)")
    }
}

impl SessionKey {
    /// Derives the session key from the deployment's master key. `None` only if the crypto
    /// library refuses a 32-byte key (it accepts any length).
    pub fn derive(master: &[u8; 32]) -> Option<SessionKey> {
        let hk = Hkdf::<Sha256>::new(Some(b"wab24.server.v1"), master);
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        hk.expand(b"session-jwt-hs256", key.as_mut_slice()).ok()?;
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_slice()).ok()?;
        Some(SessionKey { mac })
    }

    fn mac(&self) -> Hmac<Sha256> {
        self.mac.clone()
    }

    /// Signs claims into a compact JWT.
    pub fn issue(&self, claims: &Claims) -> String {
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        let signing_input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(HEADER), URL_SAFE_NO_PAD.encode(payload));
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let sig = mac.finalize().into_bytes();
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    /// Checks a token's form, header, signature (constant time), claims and expiry at `now_unix`.
    pub fn verify(&self, token: &str, now_unix: i64) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN {
            return Err(TokenError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header = URL_SAFE_NO_PAD.decode(h).map_err(|_| TokenError::Malformed)?;
        let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| TokenError::Malformed)?;
        if header != HEADER.as_bytes() {
            return Err(TokenError::Header);
        }
        let mut mac = self.mac();
        mac.update(h.as_bytes());
        mac.update(b".");
        mac.update(p.as_bytes());
        mac.verify_slice(&sig).map_err(|_| TokenError::Signature)?;
        let payload = URL_SAFE_NO_PAD.decode(p).map_err(|_| TokenError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| TokenError::Claims)?;
        if claims.iss != "wab24" || claims.mid.is_empty() || claims.exp <= claims.iat {
            return Err(TokenError::Claims);
        }
        // A leaked signing key must not mint tokens that outlive every rotation.
        if claims.exp.saturating_sub(claims.iat) > SESSION_TTL_SECS {
            return Err(TokenError::Lifetime);
        }
        if now_unix >= claims.exp {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// Claims for a user of a tenant in its installation `generation`, valid [`SESSION_TTL_SECS`]
/// from `now_unix`.
pub fn claims(member_id: &str, uid: UserId, role: Role, generation: i64, now_unix: i64) -> Claims {
    Claims {
        iss: "wab24".to_owned(),
        mid: member_id.to_owned(),
        uid,
        role,
        iat: now_unix,
        exp: now_unix + SESSION_TTL_SECS,
        generation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> SessionKey {
        let mut m = [0u8; 32];
        m[0] = b;
        SessionKey::derive(&m).unwrap()
    }

    #[test]
    fn round_trip_and_expiry() {
        let k = key(1);
        let c = claims("m1", 7, Role::Admin, 1, 1_000);
        let t = k.issue(&c);
        assert_eq!(k.verify(&t, 1_001).unwrap(), c);
        assert_eq!(c.exp - c.iat, 259_200);
        assert_eq!(k.verify(&t, c.exp), Err(TokenError::Expired));
        assert_eq!(k.verify(&t, c.exp - 1).unwrap().caller(), Caller::Admin(7));
    }

    #[test]
    fn forgeries_are_refused() {
        let k = key(1);
        let t = k.issue(&claims("m1", 7, Role::User, 1, 1_000));
        assert_eq!(key(2).verify(&t, 1_001), Err(TokenError::Signature));
        // Claims changed without re-signing.
        let parts: Vec<&str> = t.split('.').collect();
        let admin = claims("m1", 7, Role::Admin, 1, 1_000);
        let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&admin).unwrap());
        assert_eq!(
            k.verify(&format!("{}.{p}.{}", parts[0], parts[2]), 1_001),
            Err(TokenError::Signature)
        );
        // alg=none.
        let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(k.verify(&format!("{none}.{p}."), 1_001), Err(TokenError::Header));
        for bad in ["", "a.b", "a.b.c.d", "!!.??.**", &"a".repeat(3000)] {
            assert_eq!(k.verify(bad, 1_001), Err(TokenError::Malformed), "{bad}");
        }
        // Correctly signed but not our claims.
        let mut other = claims("m1", 7, Role::User, 1, 1_000);
        other.iss = "someone".to_owned();
        assert_eq!(k.verify(&k.issue(&other), 1_001), Err(TokenError::Claims));
    }

    #[test]
    fn the_claims_wire_format_is_pinned() {
        let c = claims("m1", 7, Role::User, 3, 1_000);
        insta::assert_snapshot!(serde_json::to_string(&c).unwrap());
    }

    #[test]
    fn lifetimes_over_72_hours_are_refused() {
        let k = key(1);
        let mut long = claims("m1", 7, Role::Admin, 1, 1_000);
        assert_eq!(k.verify(&k.issue(&long), 1_001).unwrap().exp - long.iat, SESSION_TTL_SECS);
        long.exp += 1;
        assert_eq!(k.verify(&k.issue(&long), 1_001), Err(TokenError::Lifetime));
        long.exp = i64::MAX;
        long.iat = i64::MIN;
        assert_eq!(k.verify(&k.issue(&long), 1_001), Err(TokenError::Lifetime));
    }

    #[test]
    fn tokens_without_a_generation_are_refused() {
        let k = key(1);
        let old = serde_json::json!({"iss": "wab24", "mid": "m1", "uid": 7, "role": "admin",
            "iat": 1_000, "exp": 2_000});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(HEADER),
            URL_SAFE_NO_PAD.encode(old.to_string())
        );
        let mut mac = k.mac();
        mac.update(signing_input.as_bytes());
        let token =
            format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
        assert_eq!(k.verify(&token, 1_001), Err(TokenError::Claims));
    }
}
