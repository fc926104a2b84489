//! The portal talking to the application: the frame POST, the install callback, uninstall and
//! events (form-encoded with bracketed keys), including late, duplicated and forged ones.

use std::time::Duration;

use b24_client::form;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::{
    error::{Error, Result},
    sim::Sim,
    state::Delivery,
};

/// How an event is delivered.
#[derive(Debug, Clone, Default)]
pub struct EventOptions {
    /// Send a wrong `application_token` (a forged event).
    pub forge_token: bool,
    /// Send no user tokens in `auth` (robot- or agent-triggered events).
    pub without_tokens: bool,
    /// Deliver this many times (duplicates; Bitrix24 itself never retries, but does duplicate).
    pub copies: u32,
    /// Wait this long before delivering (a late event).
    pub delay: Option<Duration>,
    /// Deliver to this URL instead of the bound handlers.
    pub url: Option<String>,
}

/// A file attached to an operator's message.
#[derive(Debug, Clone)]
pub struct OutFile {
    /// File name.
    pub name: String,
    /// Download link.
    pub link: String,
    /// `image`, `file`, `video` or `audio`.
    pub kind: String,
}

impl Sim {
    /// The query string and form body of a frame POST for `user_id` opening `placement` (`LANG`
    /// is `en`).
    pub fn frame_request(
        &self,
        member_id: &str,
        user_id: u64,
        placement: &str,
        options: &Value,
    ) -> Result<(String, String)> {
        self.frame_request_in(member_id, user_id, placement, options, "en")
    }

    /// [`Sim::frame_request`] for a viewer whose interface language is `lang` (`LANG`: `en`,
    /// `ru`, `de`, ...).
    pub fn frame_request_in(
        &self,
        member_id: &str,
        user_id: u64,
        placement: &str,
        options: &Value,
        lang: &str,
    ) -> Result<(String, String)> {
        let t = self.issue(member_id, user_id)?;
        let (domain, app_token) = {
            let st = self.state();
            let p = st
                .portals
                .get(member_id)
                .ok_or_else(|| Error::UnknownPortal(member_id.to_owned()))?;
            (p.domain.clone(), p.application_token.clone())
        };
        let query = form::encode(
            &json!({"DOMAIN": domain, "PROTOCOL": "0", "LANG": lang, "APP_SID": format!("sid{user_id}")}),
        );
        let body = form::encode(&json!({
            "AUTH_ID": t["access_token"], "AUTH_EXPIRES": t["expires_in"], "REFRESH_ID": t["refresh_token"],
            "SERVER_ENDPOINT": t["server_endpoint"], "member_id": member_id, "status": "L",
            "PLACEMENT": placement, "PLACEMENT_OPTIONS": options.to_string(),
            "APPLICATION_TOKEN": app_token, "APPLICATION_SCOPE": t["scope"],
        }));
        Ok((query, body))
    }

    pub(crate) async fn post(&self, what: &str, url: &str, body: String) -> Delivery {
        let started = Instant::now();
        let res = self
            .inner
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await;
        let (status, body) = match res {
            Ok(r) => {
                let s = r.status().as_u16();
                (s, r.text().await.unwrap_or_default())
            }
            Err(e) => (0, e.to_string()),
        };
        let d = Delivery {
            what: what.to_owned(),
            url: url.to_owned(),
            status,
            body,
            latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        self.state().deliveries.push(d.clone());
        d
    }

    /// POSTs the frame of `placement` (with `options` as `PLACEMENT_OPTIONS`) to `url`, as
    /// Bitrix24 does when `user_id` opens it.
    pub async fn open_frame(
        &self,
        member_id: &str,
        user_id: u64,
        url: &str,
        placement: &str,
        options: &Value,
    ) -> Result<Delivery> {
        let (query, body) = self.frame_request(member_id, user_id, placement, options)?;
        let sep = if url.contains('?') { '&' } else { '?' };
        Ok(self.post("FRAME", &format!("{url}{sep}{query}"), body).await)
    }

    pub(crate) fn auth_block(
        &self,
        member_id: &str,
        user_id: u64,
        opts: &EventOptions,
        refresh: bool,
    ) -> Result<Value> {
        let (domain, token) = {
            let st = self.state();
            let p = st
                .portals
                .get(member_id)
                .ok_or_else(|| Error::UnknownPortal(member_id.to_owned()))?;
            (p.domain.clone(), p.application_token.clone())
        };
        let base = self.base_url()?;
        let mut auth = json!({
            "domain": domain, "member_id": member_id, "server_endpoint": format!("{base}/rest/"),
            "client_endpoint": format!("{base}/p/{domain}/rest/"), "status": "L",
            "application_token": if opts.forge_token { "forged-token".to_owned() } else { token },
        });
        if !opts.without_tokens {
            let t = self.issue(member_id, user_id)?;
            if let (Some(a), Some(t)) = (auth.as_object_mut(), t.as_object()) {
                for k in ["access_token", "expires", "expires_in", "scope", "user_id"] {
                    if let Some(v) = t.get(k) {
                        a.insert(k.to_owned(), v.clone());
                    }
                }
                if refresh && let Some(r) = t.get("refresh_token") {
                    a.insert("refresh_token".to_owned(), r.clone());
                }
            }
        }
        Ok(auth)
    }

    /// The form body of an event.
    pub fn event_body(
        &self,
        member_id: &str,
        event: &str,
        data: Value,
        opts: &EventOptions,
    ) -> Result<String> {
        self.event_body_for(member_id, event, data, opts, 1)
    }

    /// The form body of an event whose `auth` is for `user_id` (the operator who acted).
    pub(crate) fn event_body_for(
        &self,
        member_id: &str,
        event: &str,
        data: Value,
        opts: &EventOptions,
        user_id: u64,
    ) -> Result<String> {
        let refresh = event.eq_ignore_ascii_case("ONAPPINSTALL");
        let auth = self.auth_block(member_id, user_id, opts, refresh)?;
        let ts = b24_client::now_unix(&*self.inner.config.clock);
        // The dialog events carry `eventId` where the others carry `event_handler_id`
        // (events/on-im-connector-dialog-start.md).
        let handler_key = if event.to_ascii_uppercase().starts_with("ONIMCONNECTORDIALOG") {
            "eventId"
        } else {
            "event_handler_id"
        };
        Ok(form::encode(
            &json!({"event": event, handler_key: 1, "data": data, "ts": ts.to_string(), "auth": auth}),
        ))
    }

    /// The install callback of an application without UI: an `ONAPPINSTALL` form with the
    /// installer's tokens, POSTed to `url`.
    pub async fn send_install_callback(&self, member_id: &str, url: &str) -> Result<Delivery> {
        let body = self.event_body(
            member_id,
            "ONAPPINSTALL",
            json!({"VERSION": "1", "ACTIVE": "Y", "INSTALLED": "Y", "LANGUAGE_ID": "en"}),
            &EventOptions::default(),
        )?;
        Ok(self.post("INSTALL_CALLBACK", url, body).await)
    }

    /// Delivers an event to the handlers bound for it (or `opts.url`). Nothing is delivered
    /// before `installFinish`, and Bitrix24 never retries a failed delivery.
    pub async fn deliver_event(
        &self,
        member_id: &str,
        event: &str,
        data: Value,
        opts: EventOptions,
    ) -> Result<Vec<Delivery>> {
        self.deliver_event_for(member_id, event, data, opts, 1).await
    }

    /// [`Sim::deliver_event`] with `auth` for `user_id`.
    pub(crate) async fn deliver_event_for(
        &self,
        member_id: &str,
        event: &str,
        data: Value,
        opts: EventOptions,
        user_id: u64,
    ) -> Result<Vec<Delivery>> {
        let event = event.to_ascii_uppercase();
        let urls: Vec<String> = match &opts.url {
            Some(u) => vec![u.clone()],
            None => {
                let st = self.state();
                let p = st
                    .portals
                    .get(member_id)
                    .ok_or_else(|| Error::UnknownPortal(member_id.to_owned()))?;
                if !p.installed && event != "ONAPPINSTALL" {
                    return Ok(vec![]);
                }
                p.events.iter().filter(|(e, _)| *e == event).map(|(_, h)| h.clone()).collect()
            }
        };
        if let Some(d) = opts.delay {
            tokio::time::sleep(d).await;
        }
        let mut out = vec![];
        for url in urls {
            for _ in 0..opts.copies.max(1) {
                let body = self.event_body_for(member_id, &event, data.clone(), &opts, user_id)?;
                out.push(self.post(&event, &url, body).await);
            }
        }
        Ok(out)
    }

    /// Uninstalls the application: tokens are revoked at once, handlers and placements are
    /// removed, then `ONAPPUNINSTALL` (with `CLEAN`) goes to the handlers that were bound.
    pub async fn uninstall(&self, member_id: &str, clean: bool) -> Result<Vec<Delivery>> {
        let handlers: Vec<String> = {
            let mut st = self.state();
            st.access.retain(|_, g| g.member_id != member_id);
            st.refresh.retain(|_, g| g.member_id != member_id);
            let p = st
                .portals
                .get_mut(member_id)
                .ok_or_else(|| Error::UnknownPortal(member_id.to_owned()))?;
            p.uninstalled = true;
            p.installed = false;
            p.placements.clear();
            p.connectors.clear();
            p.senders.clear();
            let h = p
                .events
                .iter()
                .filter(|(e, _)| e == "ONAPPUNINSTALL")
                .map(|(_, h)| h.clone())
                .collect();
            p.events.clear();
            h
        };
        let opts = EventOptions { without_tokens: true, ..EventOptions::default() };
        let body = self.event_body(
            member_id,
            "ONAPPUNINSTALL",
            json!({"LANGUAGE_ID": "en", "CLEAN": u8::from(clean)}),
            &opts,
        )?;
        let mut out = vec![];
        for url in handlers {
            out.push(self.post("ONAPPUNINSTALL", &url, body.clone()).await);
        }
        Ok(out)
    }
}
