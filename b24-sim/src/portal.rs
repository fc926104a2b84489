//! One simulated portal: its users, installation, handlers, open lines and CRM, and the REST
//! methods that act on them.

use std::collections::{BTreeMap, HashMap};

use b24_client::{BucketState, ErrorCode, Id, RateLimit, quirks::flex_bool};
use serde_json::{Map, Value, json};

use crate::contact_center::ContactCenter;

/// A method error: code and description.
pub(crate) type MethodError = (ErrorCode, String);

/// What a method returns: the result plus, for lists, `total` and `next`.
#[derive(Debug)]
pub(crate) struct MethodOk {
    pub(crate) result: Value,
    pub(crate) total: Option<u64>,
    pub(crate) next: Option<u64>,
}

impl MethodOk {
    /// A result without pagination.
    pub(crate) fn plain(result: Value) -> Self {
        MethodOk { result, total: None, next: None }
    }
}

/// An `ERROR_ARGUMENT` with this description.
pub(crate) fn arg(msg: &str) -> MethodError {
    (ErrorCode::Argument, msg.to_owned())
}

/// Describes a portal to create.
#[derive(Debug, Clone)]
pub struct PortalSpec {
    /// The stable portal id.
    pub member_id: String,
    /// The domain (`alpha.test`); the portal lives under `/p/<domain>/` of the simulator.
    pub domain: String,
    /// The leaky bucket.
    pub rate_limit: RateLimit,
    /// Number of users to create (user 1 is the administrator).
    pub users: u32,
    /// Scopes granted to the application.
    pub scope: Vec<String>,
    /// Where the application's frame lives (the shell page POSTs there).
    pub app_url: Option<String>,
    /// Whether `BX24.installFinish()` already happened.
    pub install_finished: bool,
}

impl PortalSpec {
    /// A standard portal with 3 users, every scope the product uses, installation finished.
    pub fn new(member_id: &str, domain: &str) -> Self {
        PortalSpec {
            member_id: member_id.to_owned(),
            domain: domain.to_owned(),
            rate_limit: RateLimit::STANDARD,
            users: 3,
            scope: [
                "crm",
                "imopenlines",
                "imconnector",
                "im",
                "user",
                "department",
                "placement",
                "pull",
                "messageservice",
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
            app_url: None,
            install_finished: true,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Portal {
    pub(crate) member_id: String,
    pub(crate) domain: String,
    pub(crate) rate_limit: RateLimit,
    pub(crate) bucket: BucketState,
    pub(crate) scope: Vec<String>,
    pub(crate) app_url: Option<String>,
    pub(crate) installed: bool,
    pub(crate) uninstalled: bool,
    pub(crate) application_token: String,
    /// What the OAuth server's `app.info` reports as `install.client_endpoint` instead of the
    /// portal's own (`Some(None)`: left out).
    pub(crate) reported_endpoint: Option<Option<String>>,
    pub(crate) users: BTreeMap<u64, Value>,
    pub(crate) departments: BTreeMap<u64, Value>,
    pub(crate) events: Vec<(String, String)>,
    pub(crate) placements: Vec<Value>,
    pub(crate) connectors: BTreeMap<String, Value>,
    pub(crate) connector_lines: HashMap<(String, u64), (bool, Value)>,
    /// Names set by `imconnector.chat.name.set`: (connector, line, external chat, external
    /// user or empty for group chats) → name.
    pub(crate) chat_names: BTreeMap<(String, u64, String, String), String>,
    pub(crate) lines: BTreeMap<u64, Value>,
    pub(crate) crm: BTreeMap<u32, BTreeMap<u64, Value>>,
    pub(crate) comments: BTreeMap<u64, Value>,
    pub(crate) activities: BTreeMap<u64, Value>,
    /// Message providers by `CODE` (`messageservice.sender.*`).
    pub(crate) senders: BTreeMap<String, Value>,
    /// Messages the CRM sent through a provider, oldest first.
    pub(crate) sms: Vec<Value>,
    /// Deal pipelines: id (0 is the default one) and name.
    pub(crate) categories: Vec<(u64, String)>,
    /// Timeline log entries (`crm.timeline.logmessage.add`), with the item they belong to.
    pub(crate) log_messages: BTreeMap<u64, Value>,
    pub(crate) center: ContactCenter,
    next_id: u64,
}

const NAMES: &[&str] = &["Anna", "Boris", "Clara", "Dmitri", "Elena", "Fyodor", "Galina", "Ivan"];

impl Portal {
    pub(crate) fn new(spec: &PortalSpec, application_token: String) -> Self {
        let users = (1..=u64::from(spec.users.max(1)))
            .map(|i| {
                let name = NAMES[usize::try_from(i).unwrap_or(0) % NAMES.len()];
                (
                    i,
                    json!({"ID": i.to_string(), "ACTIVE": true, "NAME": name, "LAST_NAME": format!("User{i}"),
                           "EMAIL": format!("user{i}@{}", spec.domain), "UF_DEPARTMENT": [1], "IS_ADMIN": i == 1}),
                )
            })
            .collect();
        let departments = [
            (1, json!({"ID": "1", "NAME": "Company", "SORT": 500, "UF_HEAD": "1"})),
            (2, json!({"ID": "2", "NAME": "Sales", "SORT": 500, "PARENT": "1", "UF_HEAD": "2"})),
        ]
        .into_iter()
        .collect();
        Portal {
            member_id: spec.member_id.clone(),
            domain: spec.domain.clone(),
            rate_limit: spec.rate_limit,
            bucket: BucketState::new(),
            scope: spec.scope.clone(),
            app_url: spec.app_url.clone(),
            installed: spec.install_finished,
            uninstalled: false,
            application_token,
            reported_endpoint: None,
            users,
            departments,
            events: vec![],
            placements: vec![],
            connectors: BTreeMap::new(),
            connector_lines: HashMap::new(),
            chat_names: BTreeMap::new(),
            lines: BTreeMap::new(),
            crm: BTreeMap::new(),
            comments: BTreeMap::new(),
            activities: BTreeMap::new(),
            senders: BTreeMap::new(),
            sms: vec![],
            categories: crate::crm_stages::default_categories(),
            log_messages: BTreeMap::new(),
            center: ContactCenter::default(),
            next_id: 100,
        }
    }

    /// A new id, unique in the portal.
    pub(crate) fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(crate) fn is_admin(&self, user: u64) -> bool {
        self.users
            .get(&user)
            .and_then(|u| u.get("IS_ADMIN"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// The scope a method needs (`None`: any token will do). The `imconnector.*` methods need
    /// `imopenlines`, except `imconnector.chat.name.set` which needs `imconnector` (RD
    /// `api-reference/imopenlines/imconnector/*.md`, "Scope").
    pub(crate) fn scope_of(method: &str) -> Option<&'static str> {
        let m = method.to_ascii_lowercase();
        let first = m.split('.').next().unwrap_or("");
        Some(match first {
            "crm" => "crm",
            "imconnector" if m == "imconnector.chat.name.set" => "imconnector",
            "imconnector" => "imopenlines",
            "imopenlines" => "imopenlines",
            "im" => "im",
            "department" => "department",
            "placement" => "placement",
            "pull" => "pull",
            "messageservice" => "messageservice",
            "user" if m != "user.current" && m != "user.admin" && m != "user.access" => "user",
            _ => return None,
        })
    }

    /// Runs one method. `user` is the token's user; `webhook` says the call came by webhook.
    pub(crate) fn dispatch(
        &mut self,
        method: &str,
        p: &Value,
        user: u64,
        webhook: bool,
        app: &AppView,
    ) -> Result<MethodOk, MethodError> {
        let m = method.to_ascii_lowercase();
        let needs_app =
            m.starts_with("imconnector.") || m.starts_with("placement.") || m.starts_with("event.");
        if webhook && needs_app {
            return Err((ErrorCode::WrongAuthType, "Application context required".to_owned()));
        }
        // RD `api-reference/messageservice/*.md`: application context only, and the senders
        // are for administrators (`ACCESS_DENIED` both).
        if m.starts_with("messageservice.") {
            if webhook {
                return Err((ErrorCode::AccessDenied, "Application context required".to_owned()));
            }
            if m.starts_with("messageservice.sender.") && !self.is_admin(user) {
                return Err((ErrorCode::AccessDenied, "Access denied!".to_owned()));
            }
        }
        // Who may call (RD, "Кто может выполнять метод"): placements are for administrators;
        // `imconnector.list` for users who may change connectors (administrators here);
        // `imconnector.register` and the rest of `imconnector.*` for any user.
        let admin_only = matches!(
            m.as_str(),
            "placement.bind" | "placement.unbind" | "placement.get" | "imconnector.list"
        );
        if admin_only && !self.is_admin(user) {
            let d = if m == "imconnector.list" {
                "You dont have access to this action"
            } else {
                "Access denied!"
            };
            return Err((ErrorCode::AccessDenied, d.to_owned()));
        }
        let ok = |v: Value| Ok(MethodOk::plain(v));
        match m.as_str() {
            "app.info" => ok(json!({"ID": 7, "CODE": app.client_id, "VERSION": 1, "STATUS": "L",
                "INSTALLED": self.installed, "PAYMENT_EXPIRED": "N", "DAYS": null, "LANGUAGE_ID": "en",
                "LICENSE": "en_project", "LICENSE_TYPE": "project", "LICENSE_FAMILY": "project"})),
            "scope" => ok(json!(self.scope)),
            "server.time" => ok(json!("2026-01-01T00:00:00+00:00")),
            "user.current" => self
                .users
                .get(&user)
                .cloned()
                .map(ok)
                .unwrap_or_else(|| Err((ErrorCode::NotFound, "user".to_owned()))),
            "user.admin" => ok(json!(self.is_admin(user))),
            "profile" => ok(self.profile(user)),
            "user.access" => ok(json!(self.user_access(user, p))),
            "user.get" => {
                // RD `api-reference/user/user-get.md`: filter fields in `FILTER` or at the top
                // level (the documented examples pass `UF_DEPARTMENT` there); `ACTIVE: true`
                // leaves out fired users, which are listed otherwise.
                let filter =
                    p.get("FILTER").or_else(|| p.get("filter")).cloned().unwrap_or(Value::Null);
                let mut filter = filter.as_object().cloned().unwrap_or_default();
                const PARAMS: [&str; 8] = [
                    "SORT",
                    "ORDER",
                    "FILTER",
                    "ADMIN_MODE",
                    "SELECT",
                    "IMAGE_RESIZE",
                    "START",
                    "AUTH",
                ];
                for (k, v) in p.as_object().into_iter().flatten() {
                    if !PARAMS.iter().any(|x| x.eq_ignore_ascii_case(k)) {
                        filter.insert(k.clone(), v.clone());
                    }
                }
                let rows: Vec<Value> =
                    self.users.values().filter(|u| matches_filter(u, &filter)).cloned().collect();
                Ok(paginate(rows, p))
            }
            "department.get" => {
                let filter: Map<String, Value> = p
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .filter(|(k, _)| {
                                ["ID", "NAME", "PARENT", "UF_HEAD"].contains(&k.as_str())
                            })
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                let rows = self
                    .departments
                    .values()
                    .filter(|d| matches_filter(d, &filter))
                    .cloned()
                    .collect();
                Ok(paginate(rows, p))
            }
            "event.bind" => {
                let event = str_arg(p, "event")
                    .ok_or_else(|| arg("event is required"))?
                    .to_ascii_uppercase();
                let handler = str_arg(p, "handler").ok_or_else(|| arg("handler is required"))?;
                if !event.starts_with("ON") {
                    return Err((ErrorCode::EventNotFound, format!("Event {event} not found")));
                }
                if str_arg(p, "event_type").as_deref() == Some("offline") && !self.is_admin(user) {
                    return Err((
                        ErrorCode::AccessDenied,
                        "offline events need an administrator".to_owned(),
                    ));
                }
                if !self.events.iter().any(|(e, h)| *e == event && *h == handler) {
                    self.events.push((event, handler));
                }
                ok(json!(true))
            }
            "event.unbind" => {
                let event = str_arg(p, "event").unwrap_or_default().to_ascii_uppercase();
                let handler = str_arg(p, "handler").unwrap_or_default();
                let before = self.events.len();
                self.events.retain(|(e, h)| !(*e == event && *h == handler));
                ok(json!({"count": before - self.events.len()}))
            }
            "event.get" => ok(Value::Array(
                self.events
                    .iter()
                    .map(|(e, h)| json!({"event": e, "handler": h, "auth_type": "0", "offline": 0}))
                    .collect(),
            )),
            "placement.bind" => self.placement_bind(p).map(MethodOk::plain),
            "placement.get" => ok(Value::Array(self.placements.clone())),
            "placement.unbind" => self.placement_unbind(p).map(MethodOk::plain),
            "imconnector.register" => {
                // Errors of this method come with HTTP 200 and result:false.
                let fail = |code: &str, d: &str| {
                    ok(json!({"result": false, "error": code, "error_description": d}))
                };
                let Some(id) = str_arg(p, "ID") else {
                    return fail("CONNECTOR_ID_REQUIRED", "ID required");
                };
                if id.contains('.') {
                    return fail(
                        "APPLICATION_REGISTRATION_ERROR_POINT",
                        "ID must not contain a dot",
                    );
                }
                if str_arg(p, "NAME").is_none() {
                    return fail("NAME_REQUIRED", "NAME required");
                }
                if p.get("ICON").is_none_or(|i| i.get("DATA_IMAGE").is_none()) {
                    return fail("ICON_REQUIRED", "ICON[DATA_IMAGE] required");
                }
                if str_arg(p, "PLACEMENT_HANDLER").is_none() {
                    return fail("NO_PLACEMENT_HANDLER", "PLACEMENT_HANDLER required");
                }
                self.connectors.insert(id.to_ascii_lowercase(), p.clone());
                ok(json!({"result": true}))
            }
            "imconnector.unregister" => {
                let id =
                    str_arg(p, "ID").ok_or_else(|| arg("ID is required"))?.to_ascii_lowercase();
                let existed = self.connectors.remove(&id).is_some();
                self.connector_lines.retain(|(c, _), _| *c != id);
                ok(json!({"result": existed}))
            }
            "imconnector.list" => ok(self.connector_list()),
            "imconnector.chat.name.set" => self.chat_name_set(p).map(MethodOk::plain),
            "imconnector.activate" => {
                let (c, line) = self.connector_line(p)?;
                let active =
                    p.get("ACTIVE").and_then(flex_bool).ok_or_else(|| arg("ACTIVE is required"))?;
                let e = self.connector_lines.entry((c, line)).or_insert((false, Value::Null));
                e.0 = active;
                ok(json!(true))
            }
            "imconnector.status" => {
                let c = str_arg(p, "CONNECTOR")
                    .ok_or_else(|| arg("CONNECTOR is required"))?
                    .to_ascii_lowercase();
                let line = p.get("LINE").and_then(Id::from_value).map(|i| i.0).unwrap_or(0);
                let (active, data) = self
                    .connector_lines
                    .get(&(c.clone(), line))
                    .cloned()
                    .unwrap_or((false, Value::Null));
                ok(
                    json!({"LINE": line.to_string(), "CONNECTOR": c, "ERROR": false, "CONFIGURED": !data.is_null(), "STATUS": active}),
                )
            }
            "imconnector.connector.data.set" => {
                let (c, line) = self.connector_line(p)?;
                let data = p
                    .get("DATA")
                    .filter(|d| d.is_object())
                    .cloned()
                    .ok_or_else(|| arg("DATA is required"))?;
                let e = self.connector_lines.entry((c, line)).or_insert((false, Value::Null));
                e.1 = data;
                ok(json!(true))
            }
            "imconnector.send.messages" => self.connector_send_messages(p, app),
            "imconnector.update.messages" => self.connector_change_messages(p, false),
            "imconnector.delete.messages" => self.connector_change_messages(p, true),
            "imconnector.send.status.delivery" => self.connector_status(p, true),
            "imconnector.send.status.reading" => self.connector_status(p, false),
            "imopenlines.config.add" => self.openlines_config_add(p, user),
            "imopenlines.config.get" => self.openlines_config_get(p),
            "imopenlines.config.list.get" => self.openlines_config_list(p),
            "imopenlines.dialog.get" => self.openlines_dialog_get(p),
            "imopenlines.session.history.get" => self.openlines_session_history(p),
            "imopenlines.config.update" => self.openlines_config_update(p),
            "imopenlines.config.delete" => self.openlines_config_delete(p),
            "messageservice.sender.add" => self.sender_add(p).map(MethodOk::plain),
            "messageservice.sender.update" => self.sender_update(p).map(MethodOk::plain),
            "messageservice.sender.delete" => self.sender_delete(p).map(MethodOk::plain),
            "messageservice.sender.list" => ok(self.sender_list()),
            "messageservice.message.status.update" => {
                self.message_status_update(p, user).map(MethodOk::plain)
            }
            "crm.duplicate.findbycomm" => self.find_by_comm(p),
            "crm.category.list" => self.crm_category_list(p),
            "crm.status.list" => self.crm_status_list(p),
            "crm.timeline.logmessage.add" => self.logmessage_add(p, user, app.now),
            "crm.timeline.logmessage.get" => self.logmessage_get(p),
            "crm.timeline.logmessage.list" => self.logmessage_list(p),
            "crm.item.add" => {
                let et = entity_type(p)?;
                let mut fields = p
                    .get("fields")
                    .and_then(Value::as_object)
                    .cloned()
                    .ok_or_else(|| arg("fields is required"))?;
                self.check_item_fields(et, &mut fields, None)?;
                let id = self.id();
                let mut item = fields;
                item.insert("id".to_owned(), json!(id));
                item.insert("entityTypeId".to_owned(), json!(et));
                item.entry("assignedById").or_insert(json!(user));
                let item = Value::Object(item);
                self.crm.entry(et).or_default().insert(id, item.clone());
                ok(json!({"item": item}))
            }
            "crm.item.get" => {
                let et = entity_type(p)?;
                let id =
                    p.get("id").and_then(Id::from_value).ok_or_else(|| arg("id is required"))?;
                self.crm
                    .get(&et)
                    .and_then(|s| s.get(&id.0))
                    .map(|i| ok(json!({"item": i})))
                    .unwrap_or_else(|| Err((ErrorCode::NotFound, "Element not found".to_owned())))
            }
            "crm.item.update" => {
                let et = entity_type(p)?;
                let id =
                    p.get("id").and_then(Id::from_value).ok_or_else(|| arg("id is required"))?;
                let existing = self
                    .crm
                    .get(&et)
                    .and_then(|s| s.get(&id.0))
                    .and_then(Value::as_object)
                    .cloned()
                    .ok_or((ErrorCode::NotFound, "Element not found".to_owned()))?;
                let mut fields =
                    p.get("fields").and_then(Value::as_object).cloned().unwrap_or_default();
                self.check_item_fields(et, &mut fields, Some(&existing))?;
                let item = self
                    .crm
                    .get_mut(&et)
                    .and_then(|s| s.get_mut(&id.0))
                    .ok_or((ErrorCode::NotFound, "Element not found".to_owned()))?;
                if let Some(i) = item.as_object_mut() {
                    for (k, v) in &fields {
                        i.insert(k.clone(), v.clone());
                    }
                }
                ok(json!({"item": item.clone()}))
            }
            "crm.item.list" => {
                let et = entity_type(p)?;
                let filter =
                    p.get("filter").and_then(Value::as_object).cloned().unwrap_or_default();
                let rows: Vec<Value> = self
                    .crm
                    .get(&et)
                    .map(|s| s.values().filter(|i| matches_filter(i, &filter)).cloned().collect())
                    .unwrap_or_default();
                let mut page = paginate(rows, p);
                page.result = json!({"items": page.result});
                Ok(page)
            }
            "crm.timeline.comment.add" => {
                if p.get("FIELDS").is_some() && p.get("fields").is_none() {
                    return Err(arg("Use lower-case 'fields'"));
                }
                let f = p.get("fields").ok_or_else(|| arg("fields is required"))?;
                let eid = f
                    .get("ENTITY_ID")
                    .and_then(Id::from_value)
                    .ok_or_else(|| arg("ENTITY_ID is required"))?;
                let et = str_arg(f, "ENTITY_TYPE")
                    .ok_or_else(|| arg("ENTITY_TYPE is required"))?
                    .to_ascii_lowercase();
                str_arg(f, "COMMENT").ok_or_else(|| arg("COMMENT is required"))?;
                if !["lead", "deal", "contact", "company"].contains(&et.as_str())
                    && !et.starts_with("dynamic_")
                {
                    return Err(arg("ENTITY_TYPE is invalid"));
                }
                let id = self.id();
                let mut c = f.clone();
                if let Some(o) = c.as_object_mut() {
                    o.insert("ID".to_owned(), json!(id));
                    o.insert("ENTITY_ID".to_owned(), json!(eid.0));
                }
                self.comments.insert(id, c);
                ok(json!(id))
            }
            "crm.activity.add" => {
                let f = p
                    .get("fields")
                    .and_then(Value::as_object)
                    .cloned()
                    .ok_or_else(|| arg("fields is required"))?;
                for k in ["OWNER_TYPE_ID", "OWNER_ID", "TYPE_ID"] {
                    if !f.contains_key(k) {
                        return Err(arg(&format!("{k} is required")));
                    }
                }
                let id = self.id();
                let mut a = f;
                a.insert("ID".to_owned(), json!(id.to_string()));
                self.activities.insert(id, Value::Object(a));
                ok(json!(id))
            }
            "crm.activity.todo.add" => {
                for k in ["ownerTypeId", "ownerId", "deadline"] {
                    if p.get(k).is_none() {
                        return Err(arg(&format!("{k} is required")));
                    }
                }
                let id = self.id();
                let mut a = p.as_object().cloned().unwrap_or_default();
                a.insert("ID".to_owned(), json!(id.to_string()));
                self.activities.insert(id, Value::Object(a));
                ok(json!({"id": id}))
            }
            "crm.activity.get" => {
                let id =
                    p.get("id").and_then(Id::from_value).ok_or_else(|| arg("id is required"))?;
                self.activities
                    .get(&id.0)
                    .cloned()
                    .map(ok)
                    .unwrap_or_else(|| Err((ErrorCode::NotFound, "Not found".to_owned())))
            }
            "crm.activity.list" => {
                let filter =
                    p.get("filter").and_then(Value::as_object).cloned().unwrap_or_default();
                let rows = self
                    .activities
                    .values()
                    .filter(|a| matches_filter(a, &filter))
                    .cloned()
                    .collect();
                Ok(paginate(rows, p))
            }
            "crm.activity.update" => {
                let id =
                    p.get("id").and_then(Id::from_value).ok_or_else(|| arg("id is required"))?;
                let a = self
                    .activities
                    .get_mut(&id.0)
                    .ok_or((ErrorCode::NotFound, "Not found".to_owned()))?;
                if let (Some(o), Some(Value::Object(f))) = (a.as_object_mut(), p.get("fields")) {
                    for (k, v) in f {
                        o.insert(k.clone(), v.clone());
                    }
                }
                ok(json!(true))
            }
            "crm.activity.delete" => {
                let id =
                    p.get("id").and_then(Id::from_value).ok_or_else(|| arg("id is required"))?;
                self.activities
                    .remove(&id.0)
                    .map(|_| ok(json!(true)))
                    .unwrap_or_else(|| Err((ErrorCode::NotFound, "Not found".to_owned())))
            }
            _ => Err((ErrorCode::MethodNotFound, format!("Method not found: {method}"))),
        }
    }

    pub(crate) fn connector_line(&self, p: &Value) -> Result<(String, u64), MethodError> {
        let c = str_arg(p, "CONNECTOR")
            .ok_or_else(|| arg("Argument 'CONNECTOR' is null or empty"))?
            .to_ascii_lowercase();
        if !self.connectors.contains_key(&c) {
            return Err((
                ErrorCode::ImconnectorNoCorrectProvider,
                format!("connector {c} is not registered"),
            ));
        }
        let line = p
            .get("LINE")
            .and_then(Id::from_value)
            .ok_or_else(|| arg("Argument 'LINE' is null or empty"))?
            .0;
        let active = self
            .lines
            .get(&line)
            .and_then(|l| l.get("ACTIVE"))
            .and_then(flex_bool)
            .unwrap_or(false);
        if !active {
            return Err((ErrorCode::NotActiveLine, format!("line {line} is not active")));
        }
        Ok((c, line))
    }

    pub(crate) fn active_connector_line(&self, p: &Value) -> Result<(String, u64), MethodError> {
        let key = self.connector_line(p)?;
        if !self.connector_lines.get(&key).is_some_and(|(a, _)| *a) {
            return Err((
                ErrorCode::NotActiveLine,
                "connector is not active on the line".to_owned(),
            ));
        }
        Ok(key)
    }

    /// `crm.duplicate.findbycomm` (RD `crm/duplicates/crm-duplicate-find-by-comm.md`): errors
    /// whose code is the message, as documented; phones compared without the extension; only
    /// the first 20 distinct values are looked up; for each value leads, then contacts, then
    /// companies, 20 matches at most, so a type with 20 or more leaves out the types after it.
    fn find_by_comm(&self, p: &Value) -> Result<MethodOk, MethodError> {
        const LIMIT: usize = 20;
        let fail = |code: String, d: &str| Err((ErrorCode::Other(code), d.to_owned()));
        let kind = str_arg(p, "type").unwrap_or_default().to_ascii_uppercase();
        if kind.is_empty() {
            return fail(
                "Communication type is not defined".into(),
                "Parameter 'type' is required.",
            );
        }
        if kind != "PHONE" && kind != "EMAIL" {
            return fail(
                format!("Communication type '{kind}' is not supported in current context"),
                "Parameter 'type' must be PHONE or EMAIL.",
            );
        }
        let values: Vec<String> = match p.get("values") {
            Some(Value::Array(a)) => a.iter().filter_map(scalar_str).collect(),
            Some(Value::Object(o)) => o.values().filter_map(scalar_str).collect(),
            _ => vec![],
        };
        if values.is_empty() {
            return fail(
                "Communication values is not defined".into(),
                "Parameter 'values' is required.",
            );
        }
        let norm = |s: &str| -> String {
            if kind == "PHONE" {
                let main = s.to_ascii_lowercase();
                let main = main.split("ext").next().unwrap_or("");
                main.chars().filter(char::is_ascii_digit).collect()
            } else {
                s.trim().to_ascii_lowercase()
            }
        };
        let mut wanted: Vec<String> = vec![];
        for v in values.iter().map(|v| norm(v)).filter(|v| !v.is_empty()) {
            if !wanted.contains(&v) {
                wanted.push(v);
            }
            if wanted.len() == LIMIT {
                break;
            }
        }
        let wanted_type = str_arg(p, "entity_type").map(|s| s.to_ascii_uppercase());
        let types = [(1u32, "LEAD"), (3, "CONTACT"), (4, "COMPANY")];
        let has = |item: &Value, value: &str| {
            item.get("fm").and_then(Value::as_array).is_some_and(|fm| {
                fm.iter().any(|f| {
                    f.get("typeId")
                        .and_then(Value::as_str)
                        .is_some_and(|t| t.eq_ignore_ascii_case(&kind))
                        && f.get("value").and_then(Value::as_str).is_some_and(|v| norm(v) == value)
                })
            })
        };
        let mut out: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        for value in &wanted {
            let mut budget = LIMIT;
            for (et, name) in types {
                if budget == 0 {
                    break;
                }
                if wanted_type.as_deref().is_some_and(|w| w != name) {
                    continue;
                }
                let found: Vec<u64> = self
                    .crm
                    .get(&et)
                    .map(|s| {
                        s.iter()
                            .filter(|(_, item)| has(item, value))
                            .map(|(id, _)| *id)
                            .take(budget)
                            .collect()
                    })
                    .unwrap_or_default();
                budget -= found.len();
                if found.is_empty() {
                    continue;
                }
                let slot = out.entry(name).or_default();
                for id in found {
                    if !slot.contains(&id) {
                        slot.push(id);
                    }
                }
            }
        }
        // PHP sends an empty map as [].
        Ok(MethodOk::plain(if out.is_empty() {
            json!([])
        } else {
            Value::Object(out.into_iter().map(|(n, ids)| (n.to_owned(), json!(ids))).collect())
        }))
    }
}

/// Application facts the methods need.
#[derive(Debug)]
pub(crate) struct AppView {
    pub(crate) client_id: String,
    /// The simulator clock's unix time.
    pub(crate) now: i64,
}

/// A non-empty string or a number, as text.
pub(crate) fn scalar_str(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(crate) fn str_arg(p: &Value, k: &str) -> Option<String> {
    p.get(k).and_then(scalar_str)
}

fn entity_type(p: &Value) -> Result<u32, MethodError> {
    let et = p
        .get("entityTypeId")
        .and_then(Id::from_value)
        .ok_or_else(|| arg("entityTypeId is required"))?
        .0;
    match u32::try_from(et) {
        Ok(et @ (1..=4 | 7 | 31 | 128..=1000)) => Ok(et),
        _ => Err((ErrorCode::NotFound, format!("Smart process {et} not found"))),
    }
}

fn get_ci<'a>(row: &'a Value, key: &str) -> Option<&'a Value> {
    row.get(key).or_else(|| {
        row.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v)
    })
}

fn cmp_values(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (Id::from_value(a), Id::from_value(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => {
            let s = |v: &Value| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some(s(a).cmp(&s(b)))
        }
    }
}

/// The subset of Bitrix24 filters the simulator understands: `KEY`, `=KEY`, `!KEY`, `>KEY`,
/// `>=KEY`, `<KEY`, `<=KEY`; booleans compare as Y/N.
pub(crate) fn matches_filter(row: &Value, filter: &Map<String, Value>) -> bool {
    use std::cmp::Ordering::*;
    filter.iter().all(|(k, want)| {
        let (op, key) = [">=", "<=", "!=", ">", "<", "=", "!", "@"]
            .iter()
            .find_map(|op| k.strip_prefix(op).map(|rest| (*op, rest)))
            .unwrap_or(("=", k.as_str()));
        let have = get_ci(row, key).unwrap_or(&Value::Null);
        let eq_one = |have: &Value, w: &Value| match (flex_bool(have), flex_bool(w), have, w) {
            (_, _, Value::Bool(_), _) | (_, _, _, Value::Bool(_)) => {
                flex_bool(have) == flex_bool(w)
            }
            _ => cmp_values(have, w) == Some(Equal),
        };
        // A multiple field (`UF_DEPARTMENT`) matches when one of its values does.
        let eq = |w: &Value| match have {
            Value::Array(values) => values.iter().any(|h| eq_one(h, w)),
            h => eq_one(h, w),
        };
        match op {
            "=" => match want {
                Value::Array(a) => a.iter().any(eq),
                w => eq(w),
            },
            "@" => want.as_array().is_some_and(|a| a.iter().any(eq)),
            "!" | "!=" => !eq(want),
            ">" => cmp_values(have, want) == Some(Greater),
            ">=" => matches!(cmp_values(have, want), Some(Greater | Equal)),
            "<" => cmp_values(have, want) == Some(Less),
            "<=" => matches!(cmp_values(have, want), Some(Less | Equal)),
            _ => false,
        }
    })
}

/// Pages of 50 by `start`; `start=-1` gives one page with neither `total` nor `next`.
pub(crate) fn paginate(mut rows: Vec<Value>, p: &Value) -> MethodOk {
    let order_desc = p
        .get("order")
        .or_else(|| p.get("ORDER"))
        .and_then(Value::as_object)
        .and_then(|o| o.values().next())
        .and_then(Value::as_str)
        .is_some_and(|d| d.eq_ignore_ascii_case("desc"));
    rows.sort_by(|a, b| {
        let ka = get_ci(a, "ID").and_then(Id::from_value);
        let kb = get_ci(b, "ID").and_then(Id::from_value);
        if order_desc { kb.cmp(&ka) } else { ka.cmp(&kb) }
    });
    let start = p.get("start").or_else(|| p.get("START")).map(|s| match s {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => s.parse().unwrap_or(0),
        _ => 0,
    });
    if start == Some(-1) {
        rows.truncate(50);
        return MethodOk { result: Value::Array(rows), total: None, next: None };
    }
    let start = usize::try_from(start.unwrap_or(0).max(0)).unwrap_or(0);
    let total = rows.len();
    let page: Vec<Value> = rows.into_iter().skip(start).take(50).collect();
    let next = (start + 50 < total).then_some((start + 50) as u64);
    MethodOk { result: Value::Array(page), total: Some(total as u64), next }
}
