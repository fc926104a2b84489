//! The Bitrix24 handles of installed portals, built from the registry's tokens and cached.

use b24_client::{Portal, TokenSet};

use super::AppState;
use crate::error::{ApiError, ApiResult};

impl AppState {
    /// The Bitrix24 handle of an installed portal (cached; built from the registry's tokens).
    pub async fn portal(&self, member_id: &str) -> ApiResult<Portal> {
        if let Some(p) = self.portals().get(member_id) {
            return Ok(p.clone());
        }
        let info = self.store().info(member_id).await?;
        let tokens = self
            .inner
            .store
            .portal_tokens(member_id)
            .await?
            .filter(|t| !t.client_endpoint.is_empty())
            .ok_or(ApiError::Forbidden("the app is not installed on this portal"))?;
        let set = TokenSet {
            member_id: member_id.to_owned(),
            domain: info.domain.clone(),
            access_token: b24_client::Secret::new(tokens.access_token.clone()),
            refresh_token: b24_client::Secret::new(tokens.refresh_token.clone()),
            expires_at: tokens.expires_at / 1000,
            client_endpoint: tokens.client_endpoint.clone(),
            server_endpoint: if tokens.server_endpoint.is_empty() {
                self.settings().oauth_server.clone()
            } else {
                tokens.server_endpoint.clone()
            },
            scope: vec![],
            user_id: None,
        };
        let portal = self.b24().portal(set);
        self.portals().entry(member_id.to_owned()).or_insert(portal.clone());
        Ok(portal)
    }

    /// Forgets a cached portal handle (after install or uninstall); `uninstalled` also stops
    /// calls already holding it.
    pub fn forget_portal(&self, member_id: &str, uninstalled: bool) {
        if let Some(p) = self.portals().remove(member_id)
            && uninstalled
        {
            p.mark_uninstalled();
        }
    }

    fn portals(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Portal>> {
        self.inner.portals.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
