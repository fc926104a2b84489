//! Where the Bitrix24 client keeps rotated tokens: the tenants registry.

use std::sync::Arc;

use b24_client::{Clock, TokenSet, TokenStore};
use futures_util::future::BoxFuture;
use tenancy::{PortalTokens, Store};
use time::OffsetDateTime;

/// Persists rotated Bitrix24 tokens into the tenants registry (sealed), keeping the stored
/// endpoints and `application_token`.
pub struct TenancyTokenStore {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
}

impl TenancyTokenStore {
    /// A token store writing into `store`, timestamped by `clock`.
    pub fn new(store: Arc<Store>, clock: Arc<dyn Clock>) -> TenancyTokenStore {
        TenancyTokenStore { store, clock }
    }
}

impl TokenStore for TenancyTokenStore {
    fn save<'a>(&'a self, t: &'a TokenSet) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let old = self.store.portal_tokens(&t.member_id).await.map_err(|e| e.to_string())?;
            let application_token = old.map(|o| o.application_token.clone()).unwrap_or_default();
            let new = portal_tokens(t, application_token);
            let now = OffsetDateTime::from_unix_timestamp(b24_client::now_unix(&*self.clock))
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
            self.store.set_portal_tokens(&t.member_id, &new, now).await.map_err(|e| e.to_string())
        })
    }
}

/// The registry form of a Bitrix24 token pair.
pub fn portal_tokens(t: &TokenSet, application_token: String) -> PortalTokens {
    PortalTokens {
        access_token: t.access_token.expose().to_owned(),
        refresh_token: t.refresh_token.expose().to_owned(),
        expires_at: t.expires_at.saturating_mul(1000),
        client_endpoint: t.client_endpoint.clone(),
        server_endpoint: t.server_endpoint.clone(),
        application_token,
    }
}
