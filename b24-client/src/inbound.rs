//! What Bitrix24 sends to the application: the frame POST, the install callback and events.
//!
//! Everything here reads untrusted bytes: every failure is an [`Error`], never a panic.

use serde::Deserialize;
use serde_json::Value;

use crate::{
    error::{Error, Result},
    form::{self, FormLimits},
    oauth::{TokenSet, split_scope},
    quirks::{Id, de_flex, flex_bool},
    secret::Secret,
};

fn text(v: &Value, key: &'static str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn required(v: &Value, key: &'static str) -> Result<String> {
    text(v, key).filter(|s| !s.is_empty()).ok_or(Error::MissingField(key))
}

/// The scheme Bitrix24 says the portal uses (`PROTOCOL`: `0` http, `1` https).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `0`.
    Http,
    /// `1`.
    Https,
}

/// The POST Bitrix24 sends each time it renders the application's frame (main page or a
/// placement). Four fields come in the query string, the rest in the form body.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameRequest {
    /// `DOMAIN` (query): the portal host.
    pub domain: String,
    /// `PROTOCOL` (query).
    pub protocol: Protocol,
    /// `LANG` (query): the viewer's language.
    pub lang: String,
    /// `APP_SID` (query).
    pub app_sid: String,
    /// `AUTH_ID`: the viewing user's access token.
    pub auth_id: Secret,
    /// `AUTH_EXPIRES`: seconds.
    pub auth_expires: Option<u64>,
    /// `REFRESH_ID`: the viewing user's refresh token.
    pub refresh_id: Option<Secret>,
    /// `SERVER_ENDPOINT` (untrusted: use the stored one).
    pub server_endpoint: Option<String>,
    /// `APPLICATION_TOKEN`.
    pub application_token: Option<Secret>,
    /// `APPLICATION_SCOPE`.
    pub scope: Vec<String>,
    /// `member_id`.
    pub member_id: String,
    /// `status` (informational).
    pub status: Option<String>,
    /// `PLACEMENT` (`DEFAULT` for the main page).
    pub placement: String,
    /// `PLACEMENT_OPTIONS`, parsed from its JSON string (an empty object when absent).
    pub placement_options: Value,
}

impl FrameRequest {
    /// Parses the query string and the form body of a frame POST.
    pub fn parse(query: &str, body: &[u8]) -> Result<FrameRequest> {
        let q = form::parse(query.as_bytes(), FormLimits::default())?;
        let b = form::parse(body, FormLimits::default())?;
        let protocol = match text(&q, "PROTOCOL").as_deref() {
            Some("0") => Protocol::Http,
            Some("1") | None => Protocol::Https,
            Some(other) => {
                return Err(Error::InvalidField {
                    field: "PROTOCOL",
                    reason: format!("{other:?} is not 0 or 1"),
                });
            }
        };
        let placement_options = match b.get("PLACEMENT_OPTIONS") {
            None => Value::Object(Default::default()),
            Some(Value::String(s)) if s.trim().is_empty() => Value::Object(Default::default()),
            Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                Ok(v @ Value::Object(_)) => v,
                Ok(Value::Array(a)) if a.is_empty() => Value::Object(Default::default()),
                Ok(_) => {
                    return Err(Error::InvalidField {
                        field: "PLACEMENT_OPTIONS",
                        reason: "not a JSON object".to_owned(),
                    });
                }
                Err(e) => {
                    return Err(Error::InvalidField {
                        field: "PLACEMENT_OPTIONS",
                        reason: e.to_string(),
                    });
                }
            },
            // Some portals send it bracketed (PLACEMENT_OPTIONS[ID]=...).
            Some(v @ Value::Object(_)) => v.clone(),
            Some(_) => {
                return Err(Error::InvalidField {
                    field: "PLACEMENT_OPTIONS",
                    reason: "unexpected shape".to_owned(),
                });
            }
        };
        let auth_expires = match text(&b, "AUTH_EXPIRES") {
            None => None,
            Some(s) => Some(s.parse().map_err(|_| Error::InvalidField {
                field: "AUTH_EXPIRES",
                reason: "not a number".to_owned(),
            })?),
        };
        Ok(FrameRequest {
            domain: required(&q, "DOMAIN")?,
            protocol,
            lang: text(&q, "LANG").unwrap_or_default(),
            app_sid: text(&q, "APP_SID").unwrap_or_default(),
            auth_id: Secret::new(required(&b, "AUTH_ID")?),
            auth_expires,
            refresh_id: text(&b, "REFRESH_ID").filter(|s| !s.is_empty()).map(Secret::new),
            server_endpoint: text(&b, "SERVER_ENDPOINT").filter(|s| !s.is_empty()),
            application_token: text(&b, "APPLICATION_TOKEN")
                .filter(|s| !s.is_empty())
                .map(Secret::new),
            scope: split_scope(&text(&b, "APPLICATION_SCOPE").unwrap_or_default()),
            member_id: required(&b, "member_id")?,
            status: text(&b, "status"),
            placement: text(&b, "PLACEMENT")
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "DEFAULT".to_owned()),
            placement_options,
        })
    }

    /// The CRM entity id of a `CRM_*_DETAIL_TAB`/`_ACTIVITY` placement (`PLACEMENT_OPTIONS.ID`).
    pub fn entity_id(&self) -> Option<Id> {
        self.placement_options.get("ID").and_then(Id::from_value)
    }

    /// The open line of a `SETTING_CONNECTOR` placement (`PLACEMENT_OPTIONS.LINE`).
    pub fn line(&self) -> Option<Id> {
        self.placement_options.get("LINE").and_then(Id::from_value)
    }

    /// Compares `APPLICATION_TOKEN` with the stored one in constant time.
    pub fn verify_application_token(&self, expected: &Secret) -> Result<()> {
        match &self.application_token {
            Some(t) if !expected.is_empty() && expected.ct_eq(t.expose()) => Ok(()),
            _ => Err(Error::TokenMismatch),
        }
    }
}

/// The `auth` block of an event. Events from robots carry no user tokens; `ONAPPUNINSTALL`
/// carries none at all.
#[derive(Debug, Clone, PartialEq)]
pub struct EventAuth {
    /// `domain`.
    pub domain: String,
    /// `member_id`.
    pub member_id: String,
    /// `application_token`: the only authenticity proof of an event.
    pub application_token: Secret,
    /// `access_token`, when present.
    pub access_token: Option<Secret>,
    /// `refresh_token` (only `ONAPPINSTALL` and offline events).
    pub refresh_token: Option<Secret>,
    /// `expires` (Unix time) or now + `expires_in`, when present.
    pub expires: Option<i64>,
    /// `expires_in`, when present.
    pub expires_in: Option<i64>,
    /// `scope`.
    pub scope: Vec<String>,
    /// `server_endpoint`.
    pub server_endpoint: String,
    /// `client_endpoint`.
    pub client_endpoint: String,
    /// `status`.
    pub status: Option<String>,
    /// `user_id`, when present.
    pub user_id: Option<Id>,
}

impl EventAuth {
    fn parse(v: &Value) -> Result<EventAuth> {
        let num = |k: &'static str| text(v, k).and_then(|s| s.parse::<i64>().ok());
        Ok(EventAuth {
            domain: text(v, "domain").unwrap_or_default(),
            member_id: required(v, "member_id")?,
            application_token: Secret::new(required(v, "application_token")?),
            access_token: text(v, "access_token").filter(|s| !s.is_empty()).map(Secret::new),
            refresh_token: text(v, "refresh_token").filter(|s| !s.is_empty()).map(Secret::new),
            expires: num("expires"),
            expires_in: num("expires_in"),
            scope: split_scope(&text(v, "scope").unwrap_or_default()),
            server_endpoint: text(v, "server_endpoint").unwrap_or_default(),
            client_endpoint: text(v, "client_endpoint").unwrap_or_default(),
            status: text(v, "status"),
            user_id: v.get("user_id").and_then(Id::from_value),
        })
    }

    /// The token pair carried by the event (install callback, `ONAPPINSTALL`), if complete.
    pub fn token_set(&self, now_unix: i64) -> Option<TokenSet> {
        Some(TokenSet {
            member_id: self.member_id.clone(),
            domain: self.domain.clone(),
            access_token: self.access_token.clone()?,
            refresh_token: self.refresh_token.clone()?,
            expires_at: self
                .expires
                .or(self.expires_in.map(|i| now_unix + i))
                .unwrap_or(now_unix + 3600),
            client_endpoint: Some(self.client_endpoint.clone()).filter(|s| !s.is_empty())?,
            server_endpoint: self.server_endpoint.clone(),
            scope: self.scope.clone(),
            user_id: self.user_id,
        })
    }
}

/// `im` of a connector message: the Bitrix24 chat and message ids.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ImRef {
    /// Bitrix24 chat id.
    pub chat_id: Id,
    /// Bitrix24 message id.
    pub message_id: Id,
}

/// A file attached to an operator's message (`files[i][name|link|type]`). The link may need
/// the application's token to download.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ConnectorFile {
    /// File name.
    #[serde(default, deserialize_with = "de_flex::string")]
    pub name: String,
    /// Download link.
    #[serde(default, deserialize_with = "de_flex::string")]
    pub link: String,
    /// `image`, `file`, `video` or `audio`.
    #[serde(default, rename = "type", deserialize_with = "de_flex::string")]
    pub kind: String,
    /// Size in bytes, when sent.
    #[serde(default, deserialize_with = "de_flex::opt_id")]
    pub size: Option<Id>,
}

/// `message` of a connector event.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
pub struct ConnectorMessageBody {
    /// Our external ids (update/delete events; an array in Bitrix24's shape).
    #[serde(default, deserialize_with = "de_flex::strings")]
    pub id: Vec<String>,
    /// The operator who wrote it.
    #[serde(default, deserialize_with = "de_flex::opt_id")]
    pub user_id: Option<Id>,
    /// BB-code text (with the operator's signature when `NEED_SIGNATURE`).
    #[serde(default, deserialize_with = "de_flex::string")]
    pub text: String,
    /// Attached files.
    #[serde(default)]
    pub files: Vec<ConnectorFile>,
}

/// `chat` of a connector event: our external chat id.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ExternalChat {
    /// The external chat id we sent with `imconnector.send.messages`.
    #[serde(deserialize_with = "de_flex::string")]
    pub id: String,
}

/// One element of `data[MESSAGES]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ConnectorMessage {
    /// Bitrix24's ids.
    pub im: Option<ImRef>,
    /// The message.
    #[serde(default)]
    pub message: ConnectorMessageBody,
    /// The external chat.
    pub chat: ExternalChat,
}

/// `data` of `ONIMCONNECTORMESSAGEADD`/`UPDATE`/`DELETE`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ConnectorMessages {
    /// The connector id.
    #[serde(rename = "CONNECTOR", deserialize_with = "de_flex::string")]
    pub connector: String,
    /// The open line.
    #[serde(rename = "LINE")]
    pub line: Id,
    /// The messages.
    #[serde(rename = "MESSAGES", default)]
    pub messages: Vec<ConnectorMessage>,
}

/// `data` of `ONIMCONNECTORDIALOGSTART`/`FINISH`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ConnectorDialog {
    /// The connector id.
    #[serde(rename = "CONNECTOR", deserialize_with = "de_flex::string")]
    pub connector: String,
    /// The open line (a string in the payload).
    #[serde(rename = "LINE")]
    pub line: Id,
    /// The sessions (`connector`, `session`, `chat`, `user` blocks), kept as sent.
    #[serde(rename = "DATA", default)]
    pub data: Vec<Value>,
}

/// What an event is about.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// `ONAPPINSTALL`.
    AppInstall {
        /// `VERSION`.
        version: String,
        /// `ACTIVE`.
        active: bool,
        /// `INSTALLED`.
        installed: bool,
        /// `LANGUAGE_ID`.
        language_id: String,
    },
    /// `ONAPPUNINSTALL`; `clean` is the "delete application data" checkbox.
    AppUninstall {
        /// `CLEAN`.
        clean: bool,
        /// `LANGUAGE_ID`.
        language_id: String,
    },
    /// `ONIMCONNECTORMESSAGEADD`: an operator wrote in the open line.
    ConnectorMessageAdd(ConnectorMessages),
    /// `ONIMCONNECTORMESSAGEUPDATE`.
    ConnectorMessageUpdate(ConnectorMessages),
    /// `ONIMCONNECTORMESSAGEDELETE`.
    ConnectorMessageDelete(ConnectorMessages),
    /// `ONIMCONNECTORDIALOGSTART`.
    ConnectorDialogStart(ConnectorDialog),
    /// `ONIMCONNECTORDIALOGFINISH`.
    ConnectorDialogFinish(ConnectorDialog),
    /// `ONIMCONNECTORSTATUSDELETE`: the connector was switched off on a line (lowercase keys).
    ConnectorStatusDelete {
        /// `connector`.
        connector: String,
        /// `line`.
        line: Id,
    },
    /// `ONIMCONNECTORLINEDELETE`: `data` is the bare line id.
    ConnectorLineDelete {
        /// The line.
        line: Id,
    },
    /// Any other event, with its data as sent.
    Other(Value),
}

/// An event delivered to a handler bound with `event.bind`.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The event name, upper-cased (`ONIMCONNECTORMESSAGEADD`).
    pub name: String,
    /// `event_handler_id`.
    pub handler_id: Option<Id>,
    /// `ts`.
    pub ts: Option<i64>,
    /// `auth`.
    pub auth: EventAuth,
    /// The typed `data`.
    pub kind: EventKind,
}

fn typed<T: for<'de> Deserialize<'de>>(data: &Value) -> Result<T> {
    serde_json::from_value(data.clone())
        .map_err(|e| Error::InvalidField { field: "data", reason: e.to_string() })
}

impl Event {
    /// Parses a form-encoded event body (`event=...&data[...]=...&auth[...]=...`).
    pub fn parse(body: &[u8]) -> Result<Event> {
        let v = form::parse(body, FormLimits::default())?;
        Self::from_value(&v)
    }

    /// Reads an event already turned into a JSON tree.
    pub fn from_value(v: &Value) -> Result<Event> {
        let name = required(v, "event")?.to_ascii_uppercase();
        let auth = EventAuth::parse(v.get("auth").ok_or(Error::MissingField("auth"))?)?;
        let null = Value::Null;
        let data = v.get("data").unwrap_or(&null);
        let s = |k: &'static str| text(data, k).unwrap_or_default();
        let kind = match name.as_str() {
            "ONAPPINSTALL" => EventKind::AppInstall {
                version: s("VERSION"),
                active: data.get("ACTIVE").and_then(flex_bool).unwrap_or(false),
                installed: data.get("INSTALLED").and_then(flex_bool).unwrap_or(false),
                language_id: s("LANGUAGE_ID"),
            },
            "ONAPPUNINSTALL" => EventKind::AppUninstall {
                clean: match data.get("CLEAN") {
                    None => false,
                    Some(c) => flex_bool(c).ok_or(Error::InvalidField {
                        field: "CLEAN",
                        reason: "not a boolean".to_owned(),
                    })?,
                },
                language_id: s("LANGUAGE_ID"),
            },
            "ONIMCONNECTORMESSAGEADD" => EventKind::ConnectorMessageAdd(typed(data)?),
            "ONIMCONNECTORMESSAGEUPDATE" => EventKind::ConnectorMessageUpdate(typed(data)?),
            "ONIMCONNECTORMESSAGEDELETE" => EventKind::ConnectorMessageDelete(typed(data)?),
            "ONIMCONNECTORDIALOGSTART" => EventKind::ConnectorDialogStart(typed(data)?),
            "ONIMCONNECTORDIALOGFINISH" => EventKind::ConnectorDialogFinish(typed(data)?),
            "ONIMCONNECTORSTATUSDELETE" => EventKind::ConnectorStatusDelete {
                connector: text(data, "connector").ok_or(Error::MissingField("connector"))?,
                line: data
                    .get("line")
                    .and_then(Id::from_value)
                    .ok_or(Error::MissingField("line"))?,
            },
            "ONIMCONNECTORLINEDELETE" => EventKind::ConnectorLineDelete {
                line: Id::from_value(data).ok_or(Error::MissingField("data"))?,
            },
            _ => EventKind::Other(data.clone()),
        };
        Ok(Event {
            name,
            handler_id: v.get("event_handler_id").and_then(Id::from_value),
            ts: text(v, "ts").and_then(|t| t.parse().ok()),
            auth,
            kind,
        })
    }

    /// Compares `auth[application_token]` with the stored one in constant time. Call it on every
    /// event but the first `ONAPPINSTALL` of an installation.
    pub fn verify(&self, expected: &Secret) -> Result<()> {
        if !expected.is_empty() && expected.ct_eq(self.auth.application_token.expose()) {
            Ok(())
        } else {
            Err(Error::TokenMismatch)
        }
    }
}

/// The install callback of an application without UI (an `ONAPPINSTALL`-shaped form with the
/// installer's tokens).
#[derive(Debug, Clone, PartialEq)]
pub struct InstallCallback {
    /// The event (its kind is [`EventKind::AppInstall`]).
    pub event: Event,
    /// The token pair to keep for background work.
    pub tokens: TokenSet,
}

impl InstallCallback {
    /// Parses the callback body; it must be `ONAPPINSTALL` and carry a full token pair.
    pub fn parse(body: &[u8], now_unix: i64) -> Result<InstallCallback> {
        let event = Event::parse(body)?;
        if !matches!(event.kind, EventKind::AppInstall { .. }) {
            return Err(Error::InvalidField {
                field: "event",
                reason: format!("{} is not ONAPPINSTALL", event.name),
            });
        }
        let tokens = event
            .auth
            .token_set(now_unix)
            .ok_or(Error::MissingField("auth[access_token|refresh_token|client_endpoint]"))?;
        Ok(InstallCallback { event, tokens })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTH: &str = "auth[domain]=p.test&auth[member_id]=m1&auth[application_token]=apptok&auth[client_endpoint]=http://p/rest/&auth[server_endpoint]=http://o/rest/";

    #[test]
    fn frame_with_placement_options() {
        let f = FrameRequest::parse(
            "DOMAIN=p.test&PROTOCOL=1&LANG=ru&APP_SID=s1",
            b"AUTH_ID=a1&AUTH_EXPIRES=3600&REFRESH_ID=r1&member_id=m1&PLACEMENT=CRM_DEAL_DETAIL_TAB&PLACEMENT_OPTIONS=%7B%22ID%22%3A%228061%22%7D&APPLICATION_TOKEN=apptok&APPLICATION_SCOPE=crm%2Cuser",
        )
        .unwrap();
        assert_eq!(f.entity_id(), Some(Id(8061)));
        assert_eq!(f.protocol, Protocol::Https);
        assert_eq!(f.scope, ["crm", "user"]);
        assert!(f.verify_application_token(&Secret::new("apptok")).is_ok());
        assert!(f.verify_application_token(&Secret::new("other")).is_err());
        assert!(!format!("{f:?}").contains("a1"));
        assert!(matches!(
            FrameRequest::parse("DOMAIN=p", b"member_id=m"),
            Err(Error::MissingField("AUTH_ID"))
        ));
        assert!(matches!(
            FrameRequest::parse("DOMAIN=p", b"AUTH_ID=a&member_id=m&PLACEMENT_OPTIONS=%7Bbad"),
            Err(Error::InvalidField { field: "PLACEMENT_OPTIONS", .. })
        ));
    }

    #[test]
    fn message_add_with_files() {
        let body = format!(
            "event=onimconnectormessageadd&event_handler_id=5&ts=1773759161&data[CONNECTOR]=wa&data[LINE]=107\
&data[MESSAGES][0][im][chat_id]=1807&data[MESSAGES][0][im][message_id]=86497\
&data[MESSAGES][0][message][user_id]=27&data[MESSAGES][0][message][text]=%5Bb%5DHi%5B%2Fb%5D\
&data[MESSAGES][0][message][files][0][name]=a.jpg&data[MESSAGES][0][message][files][0][link]=http://p/f/1&data[MESSAGES][0][message][files][0][type]=image\
&data[MESSAGES][0][chat][id]=79991234567&{AUTH}&auth[access_token]=at"
        );
        let e = Event::parse(body.as_bytes()).unwrap();
        let EventKind::ConnectorMessageAdd(m) = &e.kind else { panic!("{:?}", e.kind) };
        assert_eq!((m.line, m.messages.len()), (Id(107), 1));
        let msg = &m.messages[0];
        assert_eq!(msg.im.as_ref().unwrap().message_id, Id(86497));
        assert_eq!(msg.message.files[0].kind, "image");
        assert_eq!(msg.chat.id, "79991234567");
        assert!(e.verify(&Secret::new("apptok")).is_ok());
        assert!(matches!(e.verify(&Secret::new("forged")), Err(Error::TokenMismatch)));
        assert!(matches!(e.verify(&Secret::new("")), Err(Error::TokenMismatch)));
    }

    #[test]
    fn other_connector_events() {
        let e = Event::parse(
            format!("event=ONIMCONNECTORSTATUSDELETE&data[connector]=wa&data[line]=3&{AUTH}")
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            e.kind,
            EventKind::ConnectorStatusDelete { connector: "wa".into(), line: Id(3) }
        );
        let e = Event::parse(format!("event=ONIMCONNECTORLINEDELETE&data=9&{AUTH}").as_bytes())
            .unwrap();
        assert_eq!(e.kind, EventKind::ConnectorLineDelete { line: Id(9) });
        let e = Event::parse(
            format!("event=ONAPPUNINSTALL&data[CLEAN]=1&data[LANGUAGE_ID]=de&{AUTH}").as_bytes(),
        )
        .unwrap();
        assert_eq!(e.kind, EventKind::AppUninstall { clean: true, language_id: "de".into() });
        let e = Event::parse(
            format!("event=ONIMCONNECTORMESSAGEUPDATE&data[CONNECTOR]=wa&data[LINE]=1&data[MESSAGES][0][message][id][0]=ext1&data[MESSAGES][0][message][text]=x&data[MESSAGES][0][chat][id]=c&{AUTH}").as_bytes(),
        )
        .unwrap();
        let EventKind::ConnectorMessageUpdate(m) = e.kind else { panic!() };
        assert_eq!(m.messages[0].message.id, ["ext1"]);
        assert!(matches!(Event::parse(b"event=X"), Err(Error::MissingField("auth"))));
        assert!(matches!(
            Event::parse(format!("event=ONAPPUNINSTALL&data[CLEAN]=maybe&{AUTH}").as_bytes()),
            Err(Error::InvalidField { .. })
        ));
    }

    /// The payloads as the REST documentation shows them (bitrix-tools/b24-rest-docs,
    /// `api-reference/imopenlines/imconnector/events/on-im-connector-message-{add,update,delete}.md`,
    /// `on-im-connector-dialog-start.md`, `on-im-connector-status-delete.md`,
    /// `on-im-connector-line-delete.md`): update's `message.id` is an array of our ids, delete's
    /// a single string; dialog events carry `LINE` as a string and `DATA` as a list.
    #[test]
    fn connector_events_as_documented() {
        let auth = serde_json::json!({"domain": "p.test", "member_id": "m1", "application_token": "apptok", "user_id": 27});
        let event = |name: &str, data: Value| {
            Event::from_value(&serde_json::json!({"event": name, "event_handler_id": 555, "data": data, "ts": 1773759161, "auth": auth})).unwrap()
        };
        let e = event(
            "ONIMCONNECTORMESSAGEADD",
            serde_json::json!({"CONNECTOR": "myconnector", "LINE": 107, "MESSAGES": [{"im": {"chat_id": 1807, "message_id": 86497}, "message": {"user_id": 27, "text": "[b]Svetlana:[/b] [br]Hello!"}, "chat": {"id": "channel-123"}}]}),
        );
        let EventKind::ConnectorMessageAdd(m) = e.kind else { panic!() };
        assert_eq!((m.connector.as_str(), m.line), ("myconnector", Id(107)));
        let msg = &m.messages[0];
        assert_eq!(msg.im, Some(ImRef { chat_id: Id(1807), message_id: Id(86497) }));
        assert_eq!((msg.message.user_id, msg.chat.id.as_str()), (Some(Id(27)), "channel-123"));
        assert!(msg.message.id.is_empty() && msg.message.files.is_empty());

        let e = event(
            "ONIMCONNECTORMESSAGEUPDATE",
            serde_json::json!({"CONNECTOR": "myconnector", "LINE": 107, "MESSAGES": [{"im": {"chat_id": 1807, "message_id": 86501}, "message": {"id": ["ext-msg-005"], "text": "new"}, "chat": {"id": "channel-123"}}]}),
        );
        let EventKind::ConnectorMessageUpdate(m) = e.kind else { panic!() };
        assert_eq!(m.messages[0].message.id, ["ext-msg-005"]);
        assert_eq!(m.messages[0].message.text, "new");

        let e = event(
            "ONIMCONNECTORMESSAGEDELETE",
            serde_json::json!({"CONNECTOR": "myconnector", "LINE": 107, "MESSAGES": [{"im": {"chat_id": 1807, "message_id": 86501}, "message": {"id": "ext-msg-005"}, "chat": {"id": "channel-123"}}]}),
        );
        let EventKind::ConnectorMessageDelete(m) = e.kind else { panic!() };
        assert_eq!(m.messages[0].message.id, ["ext-msg-005"]);
        assert_eq!(m.messages[0].im.as_ref().map(|i| i.message_id), Some(Id(86501)));

        let e = event(
            "ONIMCONNECTORDIALOGSTART",
            serde_json::json!({"CONNECTOR": "newcustomconnector", "LINE": "105", "DATA": [{"connector": {"connector_id": "newcustomconnector", "line_id": 105, "chat_id": 8, "user_id": 0}, "session": {"id": 3282, "closed": "N", "parent_id": 0, "close_term": 10}, "chat": {"id": 8}, "user": {"id": 0}}]}),
        );
        let EventKind::ConnectorDialogStart(d) = e.kind else { panic!() };
        assert_eq!((d.line, d.data.len()), (Id(105), 1));
        assert_eq!(d.data[0].pointer("/session/id"), Some(&serde_json::json!(3282)));

        let e = event(
            "ONIMCONNECTORSTATUSDELETE",
            serde_json::json!({"connector": "myconnector", "line": 107}),
        );
        assert_eq!(
            e.kind,
            EventKind::ConnectorStatusDelete { connector: "myconnector".into(), line: Id(107) }
        );
        let e = event("ONIMCONNECTORLINEDELETE", serde_json::json!(107));
        assert_eq!(e.kind, EventKind::ConnectorLineDelete { line: Id(107) });

        // Malformed payloads are typed errors, never a panic.
        for (name, data) in [
            ("ONIMCONNECTORMESSAGEADD", serde_json::json!({"CONNECTOR": "c", "MESSAGES": []})),
            (
                "ONIMCONNECTORMESSAGEADD",
                serde_json::json!({"CONNECTOR": "c", "LINE": 1, "MESSAGES": [{"message": {}}]}),
            ),
            (
                "ONIMCONNECTORMESSAGEADD",
                serde_json::json!({"CONNECTOR": "c", "LINE": 1, "MESSAGES": [{"chat": {"id": {"x": 1}}}]}),
            ),
            ("ONIMCONNECTORSTATUSDELETE", serde_json::json!({"connector": "c"})),
            ("ONIMCONNECTORLINEDELETE", serde_json::json!({"x": 1})),
        ] {
            let v = serde_json::json!({"event": name, "data": data, "auth": auth});
            assert!(
                matches!(
                    Event::from_value(&v),
                    Err(Error::InvalidField { .. } | Error::MissingField(_))
                ),
                "{name} {v}"
            );
        }
    }

    #[test]
    fn install_callback_carries_tokens() {
        let body = format!(
            "event=ONAPPINSTALL&data[VERSION]=1&data[ACTIVE]=Y&data[INSTALLED]=Y&{AUTH}&auth[access_token]=at&auth[refresh_token]=rt&auth[expires_in]=3600"
        );
        let cb = InstallCallback::parse(body.as_bytes(), 100).unwrap();
        assert_eq!(cb.tokens.expires_at, 3700);
        assert_eq!(cb.tokens.refresh_token.expose(), "rt");
        assert!(
            InstallCallback::parse(format!("event=ONAPPINSTALL&{AUTH}").as_bytes(), 0).is_err()
        );
    }
}
