//! The public handle: [`Sim`], a fake Bitrix24 with several portals. It owns the shared parts
//! (settings, the state lock, the HTTP client) and the calls a test makes on portals, tokens,
//! faults and the recorder; the router ([`crate::router`]) serves HTTP on top of it.

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use b24_client::{RateLimit, Secret, TokenSet};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::{
    config::SimConfig,
    error::{Error, Result},
    faults::{Fault, FaultAction},
    portal::{Portal, PortalSpec},
    state::{Delivery, Grant, RecordedCall, State},
};

/// What the clones of a [`Sim`] share.
pub(crate) struct Inner {
    pub(crate) config: SimConfig,
    pub(crate) state: Mutex<State>,
    pub(crate) base: Mutex<Option<String>>,
    pub(crate) origin: Instant,
    pub(crate) http: reqwest::Client,
}

/// A fake Bitrix24: several portals and their OAuth server behind one HTTP listener. Cheap to
/// clone; clones share everything.
#[derive(Clone)]
pub struct Sim {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("base", &self.inner.base.lock().ok().and_then(|b| b.clone()))
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// A simulator with no portal yet.
    pub fn new(config: SimConfig) -> Sim {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Sim {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(State::default()),
                base: Mutex::new(None),
                origin: Instant::now(),
                http: reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .timeout(Duration::from_secs(30))
                    .build()
                    .unwrap_or_default(),
            }),
        }
    }

    /// The state, locked.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock would be a simulator bug; keep serving regardless.
        self.inner.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The application's keys.
    pub fn app(&self) -> b24_client::OAuthApp {
        b24_client::OAuthApp::new(
            self.inner.config.client_id.clone(),
            self.inner.config.client_secret.clone(),
        )
    }

    /// Adds a portal.
    pub fn add_portal(&self, spec: PortalSpec) {
        let mut st = self.state();
        let app_token = st.token("apptok");
        st.domains.insert(spec.domain.clone(), spec.member_id.clone());
        st.portals.insert(spec.member_id.clone(), Portal::new(&spec, app_token));
    }

    /// The simulator's root URL (`http://127.0.0.1:PORT`).
    pub fn base_url(&self) -> Result<String> {
        self.inner.base.lock().ok().and_then(|b| b.clone()).ok_or(Error::NotStarted)
    }

    /// The OAuth server's REST root (`server_endpoint`).
    pub fn server_endpoint(&self) -> Result<String> {
        Ok(format!("{}/rest/", self.base_url()?))
    }

    /// A portal's REST root (`client_endpoint`).
    pub fn client_endpoint(&self, member_id: &str) -> Result<String> {
        let domain = self
            .state()
            .portals
            .get(member_id)
            .map(|p| p.domain.clone())
            .ok_or_else(|| Error::UnknownPortal(member_id.to_owned()))?;
        Ok(format!("{}/p/{domain}/rest/", self.base_url()?))
    }

    /// The clock's unix time.
    pub(crate) fn now(&self) -> i64 {
        b24_client::now_unix(&*self.inner.config.clock)
    }

    /// Issues a token pair for a user of a portal (as an install or a frame open would).
    pub fn issue_tokens(&self, member_id: &str, user_id: u64) -> Result<TokenSet> {
        let v = self.issue(member_id, user_id)?;
        b24_client::parse_token_response(v.to_string().as_bytes(), self.now())
            .map_err(|e| Error::Delivery(e.to_string()))
    }

    /// A token pair for a user of a portal, as the token endpoint answers it.
    pub(crate) fn issue(&self, member_id: &str, user_id: u64) -> Result<Value> {
        let base = self.base_url()?;
        let now = self.now();
        let mut st = self.state();
        let (domain, scope) = st
            .portals
            .get(member_id)
            .map(|p| (p.domain.clone(), p.scope.join(",")))
            .ok_or_else(|| Error::UnknownPortal(member_id.to_owned()))?;
        let access = st.token("at");
        let refresh = st.token("rt");
        let g = Grant {
            member_id: member_id.to_owned(),
            user_id,
            expires_at: now + self.inner.config.access_ttl,
        };
        st.access.insert(access.clone(), g.clone());
        st.refresh.insert(
            refresh.clone(),
            Grant { expires_at: now + self.inner.config.refresh_ttl, ..g },
        );
        Ok(json!({
            "access_token": access, "refresh_token": refresh, "expires": now + self.inner.config.access_ttl,
            "expires_in": self.inner.config.access_ttl, "scope": scope, "domain": "oauth.sim",
            "server_endpoint": format!("{base}/rest/"), "status": "L",
            "client_endpoint": format!("{base}/p/{domain}/rest/"), "member_id": member_id, "user_id": user_id,
        }))
    }

    /// Makes every access token of a portal expired.
    pub fn expire_access_tokens(&self, member_id: &str) {
        let now = self.now();
        for g in self.state().access.values_mut().filter(|g| g.member_id == member_id) {
            g.expires_at = now - 1;
        }
    }

    /// Makes every refresh token of a portal expired.
    pub fn expire_refresh_tokens(&self, member_id: &str) {
        let now = self.now();
        for g in self.state().refresh.values_mut().filter(|g| g.member_id == member_id) {
            g.expires_at = now - 1;
        }
    }

    /// Sets a portal's leaky bucket (e.g. Enterprise, or a fast one for tests).
    pub fn set_rate_limit(&self, member_id: &str, limit: RateLimit) {
        if let Some(p) = self.state().portals.get_mut(member_id) {
            p.rate_limit = limit;
            p.bucket = b24_client::BucketState::new();
        }
    }

    /// Renames a portal: its old domain answers every REST call with a 302 to the new one.
    pub fn rename_portal(&self, member_id: &str, new_domain: &str) {
        let mut st = self.state();
        let Some(p) = st.portals.get_mut(member_id) else { return };
        let old = std::mem::replace(&mut p.domain, new_domain.to_owned());
        st.domains.remove(&old);
        st.domains.insert(new_domain.to_owned(), member_id.to_owned());
        st.renamed.insert(old, new_domain.to_owned());
    }

    /// Adds (or replaces) a department of a portal (`department.get` lists it).
    pub fn add_department(
        &self,
        member_id: &str,
        id: u64,
        name: &str,
        parent: Option<u64>,
        head: Option<u64>,
    ) {
        if let Some(p) = self.state().portals.get_mut(member_id) {
            p.put_department(id, name, parent, head);
        }
    }

    /// Adds (or replaces) an active, non-administrator user of a portal in these departments.
    pub fn add_user(&self, member_id: &str, user: u64, name: &str, departments: &[u64]) {
        if let Some(p) = self.state().portals.get_mut(member_id) {
            let domain = p.domain.clone();
            p.users.insert(
                user,
                json!({"ID": user.to_string(), "ACTIVE": true, "NAME": name,
                       "LAST_NAME": format!("User{user}"), "EMAIL": format!("user{user}@{domain}"),
                       "UF_DEPARTMENT": departments, "IS_ADMIN": false}),
            );
        }
    }

    /// Moves a user into exactly these departments (`UF_DEPARTMENT`).
    pub fn move_user(&self, member_id: &str, user: u64, departments: &[u64]) {
        if let Some(u) =
            self.state().portals.get_mut(member_id).and_then(|p| p.users.get_mut(&user))
        {
            u["UF_DEPARTMENT"] = json!(departments);
        }
    }

    /// Activates or deactivates (fires) a user: `ACTIVE`; an inactive user's tokens are
    /// refused by `profile` and `user.current` as the portal refuses them a session.
    pub fn set_user_active(&self, member_id: &str, user: u64, active: bool) {
        if let Some(u) =
            self.state().portals.get_mut(member_id).and_then(|p| p.users.get_mut(&user))
        {
            u["ACTIVE"] = json!(active);
        }
    }

    /// Sets a user's photo URL (`PERSONAL_PHOTO`; empty removes it).
    pub fn set_user_photo(&self, member_id: &str, user: u64, url: &str) {
        if let Some(u) =
            self.state().portals.get_mut(member_id).and_then(|p| p.users.get_mut(&user))
        {
            u["PERSONAL_PHOTO"] = json!(url);
        }
    }

    /// `BX24.installFinish()`: from now on placements show and events are delivered.
    pub fn finish_install(&self, member_id: &str) {
        if let Some(p) = self.state().portals.get_mut(member_id) {
            p.installed = true;
        }
    }

    /// Makes the OAuth server's `app.info` for a portal report `endpoint` as
    /// `install.client_endpoint`, or leave the field out (`None`), as some answers do.
    pub fn report_client_endpoint(&self, member_id: &str, endpoint: Option<&str>) {
        if let Some(p) = self.state().portals.get_mut(member_id) {
            p.reported_endpoint = Some(endpoint.map(str::to_owned));
        }
    }

    /// A portal's `application_token`.
    pub fn application_token(&self, member_id: &str) -> Option<Secret> {
        self.state().portals.get(member_id).map(|p| Secret::new(p.application_token.clone()))
    }

    /// Adds a fault rule.
    pub fn add_fault(&self, fault: Fault) {
        self.state().faults.push(fault);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// Every call received so far.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.state().calls.clone()
    }

    /// The calls recorded from the `start`th on (0-based), for a reader that follows them
    /// without copying the whole record each time.
    pub fn calls_from(&self, start: usize) -> Vec<RecordedCall> {
        self.state().calls.get(start..).map(<[RecordedCall]>::to_vec).unwrap_or_default()
    }

    /// Calls of one method (case-insensitive).
    pub fn calls_to(&self, method: &str) -> Vec<RecordedCall> {
        self.state()
            .calls
            .iter()
            .filter(|c| c.method.eq_ignore_ascii_case(method))
            .cloned()
            .collect()
    }

    /// Every delivery to the application so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state().deliveries.clone()
    }

    /// Reads a portal's state with a closure (CRM items, lines, handlers...), as JSON.
    pub fn inspect(&self, member_id: &str) -> Option<Value> {
        let st = self.state();
        let p = st.portals.get(member_id)?;
        Some(json!({
            "domain": p.domain, "installed": p.installed, "uninstalled": p.uninstalled,
            "events": p.events, "placements": p.placements, "connectors": p.connectors,
            "lines": p.lines.values().collect::<Vec<_>>(),
            "crm": p.crm.iter().map(|(k, v)| (k.to_string(), Value::Array(v.values().cloned().collect()))).collect::<Map<_, _>>(),
            "comments": p.comments.values().collect::<Vec<_>>(),
            "activities": p.activities.values().collect::<Vec<_>>(),
            "im_messages": p.center.messages.values().map(|m| json!({
                "id": m.id, "chat": m.external_chat_id, "chat_id": m.chat_id, "session_id": m.session_id,
                "line": m.line, "connector": m.connector, "author": m.author, "external": m.external_ids,
                "text": m.text, "files": m.files, "deleted": m.deleted, "delivered": m.delivered,
            })).collect::<Vec<_>>(),
            "sessions": p.center.sessions.values().collect::<Vec<_>>(),
            "customers": p.center.customers.values().collect::<Vec<_>>(),
            "chat_names": p.chat_names_view(),
        }))
    }

    /// A portal's CRM items of one type (`entityTypeId`: 1 lead, 2 deal, 3 contact, 4
    /// company), oldest first, as `crm.item.get` shows them; empty for an unknown portal.
    pub fn crm_items(&self, member_id: &str, entity_type_id: u32) -> Vec<Value> {
        let st = self.state();
        st.portals
            .get(member_id)
            .and_then(|p| p.crm.get(&entity_type_id))
            .map(|items| items.values().cloned().collect())
            .unwrap_or_default()
    }

    /// A portal's timeline log entries (`crm.timeline.logmessage.add`), oldest first, each with
    /// the `entityTypeId` and `entityId` of the item it belongs to.
    pub fn crm_log_messages(&self, member_id: &str) -> Vec<Value> {
        let st = self.state();
        st.portals
            .get(member_id)
            .map(|p| p.log_messages.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Records a call.
    pub(crate) fn record(&self, call: RecordedCall) {
        self.state().calls.push(call);
    }

    /// The action of the first fault rule matching a call (each matching rule counts it).
    pub(crate) fn fire_fault(&self, member_id: &str, method: &str) -> Option<FaultAction> {
        let mut st = self.state();
        let mut hit = None;
        for f in st.faults.iter_mut() {
            if f.check(member_id, method) && hit.is_none() {
                hit = Some(f.action.clone());
            }
        }
        hit
    }
}
