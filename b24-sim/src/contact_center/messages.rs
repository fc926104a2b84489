//! The connector's message methods: `imconnector.send.messages`, `update.messages`,
//! `delete.messages`, `send.status.delivery` and `send.status.reading` (REST docs
//! `api-reference/imopenlines/imconnector/imconnector-*.md`).

use b24_client::{Id, quirks::flex_bool};
use serde_json::{Map, Value, json};

use crate::{
    contact_center::{
        MessageAuthor, OpenLineCustomer, OpenLineMessage, OpenLineSession, events::PendingEvent,
    },
    portal::{AppView, MethodError, MethodOk, Portal, arg, scalar_str},
};

/// The documented per-message error when `user.id`, `chat.id`, `message.id` or the content is
/// missing.
const NOT_ALL_DATA: &str = "IMCONNECTOR_NOT_ALL_THE_REQUIRED_DATA";

/// `MESSAGES` as a list of objects, or the documented `ERROR_ARGUMENT`.
fn message_list(p: &Value) -> Result<Vec<Map<String, Value>>, MethodError> {
    let items: Vec<&Value> = match p.get("MESSAGES") {
        None | Some(Value::Null) => return Err(arg("Argument 'MESSAGES' is null or empty")),
        Some(Value::String(s)) if s.is_empty() => {
            return Err(arg("Argument 'MESSAGES' is null or empty"));
        }
        Some(Value::Array(a)) => a.iter().collect(),
        // PHP arrays with non-sequential keys arrive as objects.
        Some(Value::Object(o)) => o.values().collect(),
        Some(_) => return Err(arg("The value of an argument 'MESSAGES' must be of type array")),
    };
    if items.is_empty() {
        return Err(arg("Argument 'MESSAGES' is null or empty"));
    }
    items
        .into_iter()
        .map(|m| {
            m.as_object()
                .cloned()
                .ok_or_else(|| arg("The MESSAGES parameter must be an array of messages (arrays)"))
        })
        .collect()
}

/// The three blocks every element must have.
fn check_structure(msgs: &[Map<String, Value>], blocks: &[&str]) -> Result<(), MethodError> {
    if msgs.iter().all(|m| blocks.iter().all(|b| m.get(*b).is_some_and(Value::is_object))) {
        Ok(())
    } else {
        Err(arg("The incorrect structure of a message inside MESSAGES parameter"))
    }
}

fn text_at(m: &Map<String, Value>, block: &str, key: &str) -> Option<String> {
    m.get(block).and_then(|b| b.get(key)).and_then(scalar_str)
}

/// `name`/`last_name`: letters, spaces, hyphens and apostrophes, at most 25 characters.
fn name_ok(name: &str) -> bool {
    name.chars().count() <= 25
        && name.chars().all(|c| c.is_alphabetic() || c == ' ' || c == '-' || c == '\'')
}

fn failed(errors: &[&str]) -> Value {
    json!({"SUCCESS": false, "ERRORS": errors})
}

/// `chat` of an answer: `{id, name, description}`.
fn chat_block(m: &Map<String, Value>) -> Value {
    json!({"id": text_at(m, "chat", "id").unwrap_or_default(),
           "name": text_at(m, "chat", "name").unwrap_or_default(),
           "description": text_at(m, "chat", "url").unwrap_or_default()})
}

fn yes(m: &Map<String, Value>, block: &str, key: &str) -> bool {
    text_at(m, block, key).is_some_and(|v| v.eq_ignore_ascii_case("Y"))
}

impl Portal {
    /// Connector registration flag (`NEED_SIGNATURE`, `CHAT_GROUP`, ...), with its default.
    pub(crate) fn connector_flag(&self, connector: &str, flag: &str, default: bool) -> bool {
        self.connectors
            .get(connector)
            .and_then(|c| c.get(flag))
            .and_then(flex_bool)
            .unwrap_or(default)
    }

    /// Creates or refreshes the customer behind `user`.
    fn upsert_customer(&mut self, connector: &str, user: &Map<String, Value>) -> u64 {
        let external = user.get("id").and_then(scalar_str).unwrap_or_default();
        let key = (connector.to_owned(), external.clone());
        let known = self.center.customers.get(&key).map(|c| c.user_id);
        let user_id = known.unwrap_or_else(|| self.id());
        let text = |k: &str| user.get(k).and_then(scalar_str);
        let picture = user.get("picture").and_then(|p| p.get("url")).and_then(scalar_str);
        let customer = self.center.customers.entry(key).or_insert_with(|| OpenLineCustomer {
            user_id,
            connector: connector.to_owned(),
            external_id: external,
            name: None,
            last_name: None,
            phone: None,
            email: None,
            picture: None,
        });
        // Later messages update what they carry and keep the rest.
        for (slot, value) in [
            (&mut customer.name, text("name")),
            (&mut customer.last_name, text("last_name")),
            (&mut customer.phone, text("phone")),
            (&mut customer.email, text("email")),
            (&mut customer.picture, picture),
        ] {
            if value.is_some() {
                *slot = value;
            }
        }
        user_id
    }

    /// The chat of a dialog: keyed by `chat.id` for group connectors, by `user.id` otherwise.
    pub(crate) fn chat_for(&mut self, connector: &str, line: u64, dialog_key: &str) -> u64 {
        let key = (connector.to_owned(), line, dialog_key.to_owned());
        if let Some(id) = self.center.chats.get(&key) {
            return *id;
        }
        let id = self.id();
        self.center.chats.insert(key, id);
        id
    }

    /// The open session of a chat, or a new one (queue, CRM tracker, `ONIMCONNECTORDIALOGSTART`).
    fn session_for(
        &mut self,
        connector: &str,
        line: u64,
        chat_id: u64,
        m: &Map<String, Value>,
        customer: u64,
    ) -> u64 {
        if let Some(s) = self.center.open_session_of_chat(chat_id) {
            return s.id;
        }
        let parent_id = self.center.last_session_of_chat(chat_id).map_or(0, |s| s.id);
        let id = self.id();
        let mut session = OpenLineSession {
            id,
            chat_id,
            line,
            connector: connector.to_owned(),
            external_chat_id: text_at(m, "chat", "id").unwrap_or_default(),
            external_user_id: text_at(m, "user", "id").unwrap_or_default(),
            customer,
            operator: None,
            closed: false,
            parent_id,
            crm: Default::default(),
        };
        let assignment = self.assign_operator(line);
        session.operator = assignment.operator;
        // The tracker does not run for group chats (imconnector.register, CHAT_GROUP) nor for
        // a message sent with `disable_crm=Y` (imconnector.send.messages).
        let group = self.connector_flag(connector, "CHAT_GROUP", false);
        if !group && !yes(m, "message", "disable_crm") {
            self.track_crm(&mut session, assignment.responsible);
        }
        let close_term =
            self.line_setting(line, "FULL_CLOSE_TIME").and_then(|t| t.parse().ok()).unwrap_or(10);
        self.center.push_event(PendingEvent::dialog(
            &session,
            close_term,
            session.operator.unwrap_or(assignment.responsible),
        ));
        self.center.sessions.insert(id, session);
        id
    }

    /// `imconnector.send.messages`: each message opens or continues its chat's session.
    pub(crate) fn connector_send_messages(
        &mut self,
        p: &Value,
        app: &AppView,
    ) -> Result<MethodOk, MethodError> {
        let (connector, line) = self.active_connector_line(p)?;
        let msgs = message_list(p)?;
        check_structure(&msgs, &["user", "message", "chat"])?;
        let group = self.connector_flag(&connector, "CHAT_GROUP", false);
        let mut results = vec![];
        for m in msgs {
            let user_id = text_at(&m, "user", "id");
            let chat_id = text_at(&m, "chat", "id");
            let text = text_at(&m, "message", "text").filter(|t| !t.is_empty());
            let files: Vec<Value> = m
                .get("message")
                .and_then(|x| x.get("files"))
                .and_then(|f| match f {
                    Value::Array(a) => Some(a.clone()),
                    Value::Object(o) => Some(o.values().cloned().collect()),
                    _ => None,
                })
                .unwrap_or_default();
            let mut errors = vec![];
            if user_id.is_none() || chat_id.is_none() || (text.is_none() && files.is_empty()) {
                errors.push(NOT_ALL_DATA);
            }
            let names_ok = ["name", "last_name"].iter().all(|k| {
                m.get("user").and_then(|u| u.get(*k)).and_then(Value::as_str).is_none_or(name_ok)
            });
            if !names_ok {
                errors.push("ERROR_USER_NAME");
            }
            let (Some(user_key), Some(chat_key), true) = (user_id, chat_id, errors.is_empty())
            else {
                results.push(failed(&errors));
                continue;
            };
            let customer = m
                .get("user")
                .and_then(Value::as_object)
                .map(|u| self.upsert_customer(&connector, u))
                .unwrap_or_default();
            let dialog_key = if group { chat_key.clone() } else { user_key };
            let chat = self.chat_for(&connector, line, &dialog_key);
            let session = self.session_for(&connector, line, chat, &m, customer);
            let message_id = self.id();
            let external = text_at(&m, "message", "id").unwrap_or_default();
            let date = m
                .get("message")
                .and_then(|x| x.get("date"))
                .and_then(Id::from_value)
                .and_then(|d| i64::try_from(d.0).ok())
                .unwrap_or(app.now);
            // `message.user_id`: a message the business wrote elsewhere, shown as that
            // operator's.
            let author = m
                .get("message")
                .and_then(|x| x.get("user_id"))
                .and_then(Id::from_value)
                .filter(|u| self.users.contains_key(&u.0))
                .map_or(MessageAuthor::Customer(customer), |u| MessageAuthor::Operator(u.0));
            self.center.messages.insert(
                message_id,
                OpenLineMessage {
                    id: message_id,
                    chat_id: chat,
                    session_id: session,
                    line,
                    connector: connector.clone(),
                    external_chat_id: chat_key,
                    author,
                    external_ids: vec![external.clone()],
                    text: text.clone().unwrap_or_default(),
                    files: files.clone(),
                    date,
                    edited: false,
                    deleted: false,
                    delivered: false,
                    read: false,
                },
            );
            let mut extra = Map::new();
            if yes(&m, "user", "skip_phone_validate") {
                extra.insert("skip_phone_validate".to_owned(), json!("Y"));
            }
            if yes(&m, "message", "disable_crm") {
                extra.insert("disable_tracker".to_owned(), json!("Y"));
            }
            results.push(json!({
                "user": customer.to_string(),
                // The documented answer shows the processed date as an empty object (a
                // serialised PHP DateTime).
                "message": {"id": external, "date": {}, "text": text.unwrap_or_default(), "files": files},
                "chat": chat_block(&m),
                "extra": if extra.is_empty() { json!([]) } else { Value::Object(extra) },
                "SUCCESS": true,
                "ERRORS": [],
                "session": {"ID": session.to_string(), "CHAT_ID": chat.to_string()},
            }));
        }
        Ok(MethodOk::plain(json!({"SUCCESS": true, "DATA": {"RESULT": results}})))
    }

    /// The latest stored customer message with this external id in this chat.
    fn find_customer_message(
        &self,
        connector: &str,
        line: u64,
        chat: &str,
        external: &str,
    ) -> Option<u64> {
        self.center
            .messages
            .values()
            .rev()
            .find(|x| {
                x.connector == connector
                    && x.line == line
                    && x.external_chat_id == chat
                    && !x.deleted
                    && x.external_ids.iter().any(|e| e == external)
            })
            .map(|x| x.id)
    }

    /// `imconnector.update.messages` and `imconnector.delete.messages`: the same `message.id`
    /// and `chat.id` as sent.
    pub(crate) fn connector_change_messages(
        &mut self,
        p: &Value,
        delete: bool,
    ) -> Result<MethodOk, MethodError> {
        let (connector, line) = self.active_connector_line(p)?;
        let msgs = message_list(p)?;
        check_structure(&msgs, &["user", "message", "chat"])?;
        let mut results = vec![];
        for m in msgs {
            let (Some(user), Some(chat), Some(external)) = (
                text_at(&m, "user", "id"),
                text_at(&m, "chat", "id"),
                text_at(&m, "message", "id"),
            ) else {
                results.push(failed(&[NOT_ALL_DATA]));
                continue;
            };
            let Some(id) = self.find_customer_message(&connector, line, &chat, &external) else {
                results.push(failed(&["Message not found"]));
                continue;
            };
            let customer =
                self.center.customers.get(&(connector.clone(), user)).map_or(0, |c| c.user_id);
            let Some(stored) = self.center.messages.get_mut(&id) else { continue };
            if delete {
                stored.deleted = true;
                results.push(json!({"user": customer.to_string(), "message": {"id": external},
                    "chat": {"id": chat}, "SUCCESS": true}));
                continue;
            }
            if let Some(text) = text_at(&m, "message", "text") {
                stored.text = text;
            }
            if let Some(Value::Array(files)) = m.get("message").and_then(|x| x.get("files")) {
                stored.files.clone_from(files);
            }
            stored.edited = true;
            results.push(json!({"user": customer.to_string(),
                "message": {"id": external, "date": {}, "text": stored.text},
                "chat": chat_block(&m), "SUCCESS": true}));
        }
        Ok(MethodOk::plain(json!({"SUCCESS": true, "DATA": {"RESULT": results}})))
    }

    /// `imconnector.send.status.delivery` (which also marks read) and `...reading`: `im` from
    /// the operator message's event, `message.id` an array of the application's ids.
    pub(crate) fn connector_status(
        &mut self,
        p: &Value,
        delivery: bool,
    ) -> Result<MethodOk, MethodError> {
        self.active_connector_line(p)?;
        let msgs = message_list(p)?;
        let mut marks = vec![];
        for m in &msgs {
            let im = m.get("im").ok_or_else(|| arg("im is required"))?;
            let id = im
                .get("message_id")
                .and_then(Id::from_value)
                .ok_or_else(|| arg("im[message_id] is required"))?;
            // Reading is a stub in Bitrix24 that answers true whatever it is given
            // (imconnector-send-status-reading.md); delivery looks the message up.
            if delivery && !self.center.messages.contains_key(&id.0) {
                return Err(arg("im[message_id] does not exist"));
            }
            let ids: Vec<String> = match m.get("message").and_then(|x| x.get("id")) {
                Some(Value::Array(a)) => a.iter().filter_map(scalar_str).collect(),
                Some(Value::Object(o)) => o.values().filter_map(scalar_str).collect(),
                _ if delivery => return Err(arg("message[id] must be an array")),
                _ => vec![],
            };
            marks.push((id.0, ids));
        }
        for (id, ids) in marks {
            let Some(stored) = self.center.messages.get_mut(&id) else { continue };
            // Statuses are for messages going out; a customer's own message is left alone.
            if !matches!(stored.author, MessageAuthor::Operator(_)) {
                continue;
            }
            for ext in ids {
                if !stored.external_ids.contains(&ext) {
                    stored.external_ids.push(ext);
                }
            }
            stored.read = true;
            stored.delivered |= delivery;
        }
        Ok(MethodOk::plain(json!({"SUCCESS": true, "DATA": []})))
    }
}
