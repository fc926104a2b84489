//! OAuth: the application's keys, a portal's token pair, and where rotated pairs are persisted.

use std::{collections::HashMap, sync::Mutex};

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    error::{Error, ErrorCode, Result},
    quirks::Id,
    secret::Secret,
};

/// The OAuth server used when a portal names none (`server_endpoint`).
pub const DEFAULT_SERVER_ENDPOINT: &str = "https://oauth.bitrix.info/rest/";

/// The application's keys: `client_id` (`local.xxx.yyy` for a local app) and `client_secret`.
/// The secret is sent to the OAuth server only.
#[derive(Debug, Clone)]
pub struct OAuthApp {
    /// The application's `client_id`.
    pub client_id: String,
    /// The application's `client_secret`.
    pub client_secret: Secret,
}

impl OAuthApp {
    /// Keys of a local or Marketplace application.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<Secret>) -> Self {
        OAuthApp { client_id: client_id.into(), client_secret: client_secret.into() }
    }

    /// True for a local application (`local.` prefix: valid only on its own portal).
    pub fn is_local(&self) -> bool {
        self.client_id.starts_with("local.")
    }
}

/// A portal's token pair and endpoints, as the OAuth server or an install payload gives them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenSet {
    /// The portal's stable id (the tenant key; survives domain renames).
    pub member_id: String,
    /// The portal's domain, e.g. `portal.bitrix24.com`.
    pub domain: String,
    /// The access token (1 hour).
    pub access_token: Secret,
    /// The refresh token (rotates on every refresh).
    pub refresh_token: Secret,
    /// Unix time the access token expires.
    pub expires_at: i64,
    /// The portal's REST root, e.g. `https://portal.bitrix24.com/rest/`.
    pub client_endpoint: String,
    /// The OAuth server's REST root, e.g. `https://oauth.bitrix.info/rest/`.
    pub server_endpoint: String,
    /// Granted scopes.
    #[serde(default)]
    pub scope: Vec<String>,
    /// The user the tokens belong to, when known.
    #[serde(default)]
    pub user_id: Option<Id>,
}

impl TokenSet {
    /// The token endpoint of this portal's OAuth server (`server_endpoint` minus `rest/`, plus
    /// `oauth/token/`).
    pub fn token_endpoint(&self) -> String {
        token_endpoint(&self.server_endpoint)
    }
}

/// The token endpoint that belongs to a `server_endpoint` (`.../rest/` → `.../oauth/token/`).
pub fn token_endpoint(server_endpoint: &str) -> String {
    let base = if server_endpoint.is_empty() { DEFAULT_SERVER_ENDPOINT } else { server_endpoint };
    let base = base.trim_end_matches('/');
    let base = base.strip_suffix("/rest").unwrap_or(base);
    format!("{base}/oauth/token/")
}

/// Splits a scope string on commas and whitespace (both separators occur).
pub fn split_scope(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Reads a token endpoint answer (`{access_token, refresh_token, expires, expires_in, ...}`) or
/// its error (`{"error": "invalid_grant", ...}`).
pub fn parse_token_response(body: &[u8], now_unix: i64) -> Result<TokenSet> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| Error::Decode { what: "token response", message: e.to_string() })?;
    if let Some(code) = v.get("error").and_then(Value::as_str) {
        return Err(Error::OAuth {
            code: ErrorCode::parse(code),
            description: v
                .get("error_description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        });
    }
    let s = |k: &'static str| -> Result<String> {
        match v.get(k) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            _ => Err(Error::MissingField(k)),
        }
    };
    let opt = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let num = |k: &str| match v.get(k) {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    let expires_at = num("expires")
        .or_else(|| num("expires_in").map(|i| now_unix + i))
        .unwrap_or(now_unix + 3600);
    Ok(TokenSet {
        member_id: s("member_id")?,
        domain: opt("domain"),
        access_token: Secret::new(s("access_token")?),
        refresh_token: Secret::new(s("refresh_token")?),
        expires_at,
        client_endpoint: s("client_endpoint")?,
        server_endpoint: opt("server_endpoint"),
        scope: split_scope(&opt("scope")),
        user_id: v.get("user_id").and_then(Id::from_value),
    })
}

/// Where rotated token pairs go. Each refresh invalidates the previous pair, so the new one
/// must be persisted before the process can forget it.
pub trait TokenStore: Send + Sync + 'static {
    /// Persists a portal's new token pair (also called after a domain rename).
    fn save<'a>(&'a self, tokens: &'a TokenSet) -> BoxFuture<'a, Result<(), String>>;
}

/// A [`TokenStore`] in memory: for tests and examples.
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    saved: Mutex<HashMap<String, (TokenSet, u64)>>,
}

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The last pair saved for a portal.
    pub fn get(&self, member_id: &str) -> Option<TokenSet> {
        self.saved.lock().ok()?.get(member_id).map(|(t, _)| t.clone())
    }

    /// How many times a portal's pair was saved.
    pub fn saves(&self, member_id: &str) -> u64 {
        self.saved.lock().ok().and_then(|m| m.get(member_id).map(|(_, n)| *n)).unwrap_or(0)
    }
}

impl TokenStore for MemoryTokenStore {
    fn save<'a>(&'a self, tokens: &'a TokenSet) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let mut m = self.saved.lock().map_err(|_| "store lock poisoned".to_owned())?;
            let e = m.entry(tokens.member_id.clone()).or_insert_with(|| (tokens.clone(), 0));
            e.0 = tokens.clone();
            e.1 += 1;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_endpoint_comes_from_server_endpoint() {
        assert_eq!(
            token_endpoint("https://oauth.bitrix24.tech/rest/"),
            "https://oauth.bitrix24.tech/oauth/token/"
        );
        assert_eq!(token_endpoint(""), "https://oauth.bitrix.info/oauth/token/");
        assert_eq!(token_endpoint("http://127.0.0.1:9/rest"), "http://127.0.0.1:9/oauth/token/");
    }

    #[test]
    fn parses_tokens_and_errors() {
        let t = parse_token_response(
            br#"{"access_token":"a1","refresh_token":"r1","expires_in":3600,"client_endpoint":"https://p/rest/","server_endpoint":"https://o/rest/","member_id":"m","domain":"o","scope":"crm, imopenlines,user","user_id":"1"}"#,
            1000,
        )
        .unwrap();
        assert_eq!(t.expires_at, 4600);
        assert_eq!(t.scope, ["crm", "imopenlines", "user"]);
        assert_eq!(t.user_id, Some(Id(1)));
        assert!(!format!("{t:?}").contains("a1"));
        let e = parse_token_response(br#"{"error":"invalid_grant","error_description":"x"}"#, 0)
            .unwrap_err();
        assert!(matches!(e, Error::OAuth { code: ErrorCode::InvalidGrant, .. }));
        assert!(matches!(parse_token_response(b"<html>", 0), Err(Error::Decode { .. })));
        assert!(matches!(
            parse_token_response(br#"{"access_token":"a"}"#, 0),
            Err(Error::MissingField(_))
        ));
    }
}
