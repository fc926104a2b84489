//! Open line settings: `imopenlines.config.add/get/list.get/update/delete` (REST docs
//! `api-reference/imopenlines/openlines/imopenlines-config-*.md`), with the defaults and the
//! value clean-up Bitrix24 applies, and the operator queue (users and departments).

use b24_client::{ErrorCode, Id};
use serde_json::{Map, Value, json};

use crate::{
    contact_center::{events::PendingEvent, queue::QueueEntry},
    portal::{MethodError, MethodOk, Portal, matches_filter},
};

/// Why a `QUEUE` cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QueueProblem {
    /// Not a list, or an entry of an unknown type or without an id.
    Invalid,
    /// No entry.
    Empty,
    /// Only departments without users.
    EmptyDepartments,
}

/// Reads `QUEUE`: a list of `{ENTITY_TYPE, ENTITY_ID}` or of user ids.
fn parse_queue(v: &Value) -> Result<Vec<QueueEntry>, QueueProblem> {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        // PHP arrays with non-sequential keys arrive as objects.
        Value::Object(o) => o.values().collect(),
        Value::String(s) if s.is_empty() => vec![],
        _ => return Err(QueueProblem::Invalid),
    };
    let mut out = vec![];
    for item in items {
        let entry = match item {
            Value::Object(o) => {
                let id = o
                    .get("ENTITY_ID")
                    .and_then(Id::from_value)
                    .filter(|i| i.0 > 0)
                    .ok_or(QueueProblem::Invalid)?;
                match o.get("ENTITY_TYPE").and_then(Value::as_str) {
                    Some(t) if t.eq_ignore_ascii_case("user") => QueueEntry::User(id.0),
                    Some(t) if t.eq_ignore_ascii_case("department") => QueueEntry::Department(id.0),
                    _ => return Err(QueueProblem::Invalid),
                }
            }
            other => QueueEntry::User(
                Id::from_value(other).filter(|i| i.0 > 0).ok_or(QueueProblem::Invalid)?.0,
            ),
        };
        if !out.contains(&entry) {
            out.push(entry);
        }
    }
    if out.is_empty() {
        return Err(QueueProblem::Empty);
    }
    Ok(out)
}

/// `Y` unless the value is `N` (the fields Bitrix24 turns on unless told otherwise).
fn yes_unless_n(v: &Value) -> &'static str {
    if v.as_str() == Some("N") { "N" } else { "Y" }
}

/// `N` unless the value is `Y`.
fn no_unless_y(v: &Value) -> &'static str {
    if v.as_str() == Some("Y") { "Y" } else { "N" }
}

/// A scalar as Bitrix24 returns settings: a string.
fn as_text(v: &Value) -> Value {
    match v {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(if *b { "Y" } else { "N" }.to_owned()),
        other => other.clone(),
    }
}

/// The defaults of a new line (Bitrix24's `Config::prepareFields` in add mode).
fn defaults(id: u64, user: u64) -> Map<String, Value> {
    let pairs: [(&str, String); 17] = [
        ("ID", id.to_string()),
        ("ACTIVE", "Y".into()),
        ("LINE_NAME", format!("Open Channel {id}")),
        ("CRM", "Y".into()),
        ("CRM_CREATE", "lead".into()),
        ("CRM_CREATE_SECOND", String::new()),
        ("CRM_CREATE_THIRD", "Y".into()),
        ("CRM_FORWARD", "Y".into()),
        ("CRM_CHAT_TRACKER", "Y".into()),
        ("CRM_TRANSFER_CHANGE", "Y".into()),
        ("CRM_SOURCE", "create".into()),
        ("QUEUE_TYPE", "all".into()),
        ("QUEUE_TIME", "60".into()),
        ("NO_ANSWER_TIME", "60".into()),
        ("FULL_CLOSE_TIME", "10".into()),
        ("TEMPORARY", "N".into()),
        ("MODIFY_USER_ID", user.to_string()),
    ];
    pairs.into_iter().map(|(k, v)| (k.to_owned(), Value::String(v))).collect()
}

/// Applies `PARAMS` to a line's settings, cleaning values as Bitrix24 does.
fn apply_params(line: &mut Map<String, Value>, params: &Map<String, Value>) {
    for (key, value) in params {
        let cleaned = match key.as_str() {
            "ID" | "QUEUE" | "QUEUE_FULL" | "QUEUE_USERS_FIELDS" | "CONFIG_QUEUE" => continue,
            "LINE_NAME" if value.as_str().is_none_or(str::is_empty) => continue,
            "ACTIVE"
            | "CRM"
            | "CRM_FORWARD"
            | "CRM_CHAT_TRACKER"
            | "CRM_TRANSFER_CHANGE"
            | "CRM_CREATE_THIRD"
            | "WELCOME_MESSAGE"
            | "VOTE_MESSAGE"
            | "TEMPORARY" => {
                json!(yes_unless_n(value))
            }
            "WORKTIME_ENABLE" | "WATCH_TYPING" | "WELCOME_BOT_ENABLE" | "CATEGORY_ENABLE" => {
                json!(no_unless_y(value))
            }
            "CRM_CREATE" => match value.as_str() {
                Some(v @ ("none" | "lead" | "deal")) => json!(v),
                _ => json!("lead"),
            },
            "QUEUE_TYPE" => match value.as_str() {
                Some(v @ ("evenly" | "strictly" | "all")) => json!(v),
                _ => json!("all"),
            },
            _ => as_text(value),
        };
        line.insert(key.clone(), cleaned);
    }
}

fn config_id(p: &Value) -> Result<u64, MethodError> {
    p.get("CONFIG_ID").and_then(Id::from_value).map(|i| i.0).filter(|i| *i > 0).ok_or_else(|| {
        (ErrorCode::Other("CONFIG_ID_EMPTY".to_owned()), "Config ID can't be empty".to_owned())
    })
}

fn invalid_format(what: &str) -> MethodError {
    (
        ErrorCode::Other("INVALID_FORMAT".to_owned()),
        format!("A wrong format for the PARAMS field '{what}' is passed"),
    )
}

impl Portal {
    /// The active users a queue entry stands for, in order.
    fn queue_entry_users(&self, entry: QueueEntry) -> Vec<u64> {
        let active =
            |u: &Value| u.get("ACTIVE").and_then(b24_client::quirks::flex_bool) != Some(false);
        match entry {
            QueueEntry::User(id) => {
                self.users.get(&id).filter(|u| active(u)).map(|_| vec![id]).unwrap_or_default()
            }
            QueueEntry::Department(dep) => self
                .users
                .iter()
                .filter(|(_, u)| active(u))
                .filter(|(_, u)| {
                    u.get("UF_DEPARTMENT")
                        .and_then(Value::as_array)
                        .is_some_and(|d| d.iter().any(|x| Id::from_value(x) == Some(Id(dep))))
                })
                .map(|(id, _)| *id)
                .collect(),
        }
    }

    /// The operators of a line's queue: its active users, departments expanded, each once.
    pub(crate) fn queue_users(&self, line: u64) -> Vec<u64> {
        let mut out: Vec<u64> = vec![];
        for entry in self.center.queues.get(&line).into_iter().flatten() {
            for user in self.queue_entry_users(*entry) {
                if !out.contains(&user) {
                    out.push(user);
                }
            }
        }
        out
    }

    /// A line's setting, as text.
    pub(crate) fn line_setting(&self, line: u64, key: &str) -> Option<String> {
        self.lines.get(&line)?.get(key).and_then(Value::as_str).map(str::to_owned)
    }

    /// Checks a queue for `update`; `Err` is Bitrix24's reason to refuse it.
    fn checked_queue(&self, v: &Value) -> Result<Vec<QueueEntry>, QueueProblem> {
        let queue = parse_queue(v)?;
        if queue.iter().all(|e| matches!(e, QueueEntry::Department(_)))
            && queue.iter().all(|e| self.queue_entry_users(*e).is_empty())
        {
            return Err(QueueProblem::EmptyDepartments);
        }
        Ok(queue)
    }

    /// `imopenlines.config.add`: `PARAMS` are optional; returns the new line's id.
    pub(crate) fn openlines_config_add(
        &mut self,
        p: &Value,
        user: u64,
    ) -> Result<MethodOk, MethodError> {
        let params = p.get("PARAMS").and_then(Value::as_object).cloned().unwrap_or_default();
        let id = self.id();
        let mut line = defaults(id, user);
        apply_params(&mut line, &params);
        // An unusable queue on add leaves the line without one (the REST layer does not check
        // it there, unlike update).
        let queue = params.get("QUEUE").and_then(|q| parse_queue(q).ok()).unwrap_or_default();
        self.center.queues.insert(id, queue);
        self.lines.insert(id, Value::Object(line));
        Ok(MethodOk::plain(json!(id)))
    }

    /// A line as `imopenlines.config.get` shows it, with its queue when `with_queue`.
    fn line_view(&self, id: u64, with_queue: bool) -> Option<Value> {
        let mut line = self.lines.get(&id)?.as_object()?.clone();
        if with_queue {
            let users = self.queue_users(id);
            let mut full = Map::new();
            let mut fields = Map::new();
            for (sort, user) in users.iter().enumerate() {
                let u = self.users.get(user);
                let name = u.map(|u| {
                    format!(
                        "{} {}",
                        u.get("NAME").and_then(Value::as_str).unwrap_or(""),
                        u.get("LAST_NAME").and_then(Value::as_str).unwrap_or("")
                    )
                    .trim()
                    .to_owned()
                });
                let user_fields = json!({"USER_NAME": name, "USER_WORK_POSITION": null,
                    "USER_AVATAR": null, "USER_AVATAR_ID": "0"});
                let mut row = json!({"ID": (id * 100 + sort as u64).to_string(), "SORT": sort.to_string(),
                    "USER_ID": user.to_string(), "DEPARTMENT_ID": "0"});
                if let (Some(r), Some(f)) = (row.as_object_mut(), user_fields.as_object()) {
                    r.extend(f.clone());
                }
                full.insert(user.to_string(), row);
                fields.insert(user.to_string(), user_fields);
            }
            line.insert(
                "QUEUE".to_owned(),
                Value::Array(users.iter().map(|u| json!(u.to_string())).collect()),
            );
            line.insert("QUEUE_FULL".to_owned(), php_map(full));
            line.insert("QUEUE_USERS_FIELDS".to_owned(), php_map(fields));
            line.insert("QUEUE_ONLINE".to_owned(), json!("Y"));
        }
        Some(Value::Object(line))
    }

    /// `imopenlines.config.get`: `false` for a line that does not exist.
    pub(crate) fn openlines_config_get(&self, p: &Value) -> Result<MethodOk, MethodError> {
        let id = config_id(p)?;
        let with_queue = p.get("WITH_QUEUE").is_none_or(|w| w.as_str() == Some("Y"));
        Ok(MethodOk::plain(self.line_view(id, with_queue).unwrap_or(json!(false))))
    }

    /// `imopenlines.config.list.get`: `PARAMS{select, order, filter, limit, offset}` and
    /// `OPTIONS{QUEUE, CONFIG_QUEUE}`.
    pub(crate) fn openlines_config_list(&self, p: &Value) -> Result<MethodOk, MethodError> {
        let params = p.get("PARAMS").and_then(Value::as_object).cloned().unwrap_or_default();
        let options = p.get("OPTIONS").and_then(Value::as_object).cloned().unwrap_or_default();
        for key in ["select", "order", "filter"] {
            if params.get(key).is_some_and(|v| !v.is_array() && !v.is_object()) {
                return Err(invalid_format(key));
            }
        }
        let filter = params.get("filter").and_then(Value::as_object).cloned().unwrap_or_default();
        let mut rows: Vec<Value> = self
            .lines
            .keys()
            .filter_map(|id| self.line_view(*id, false))
            .filter(|l| matches_filter(l, &filter))
            .collect();
        if let Some((field, dir)) =
            params.get("order").and_then(Value::as_object).and_then(|o| o.iter().next())
        {
            let key = |v: &Value| v.get(field).map(|x| (Id::from_value(x), x.to_string()));
            rows.sort_by_key(key);
            if dir.as_str().is_some_and(|d| d.eq_ignore_ascii_case("desc")) {
                rows.reverse();
            }
        }
        let number = |k: &str, default: usize| {
            params
                .get(k)
                .and_then(Id::from_value)
                .map_or(default, |i| usize::try_from(i.0).unwrap_or(usize::MAX))
        };
        let offset = number("offset", 0);
        let limit = number("limit", 50);
        let select: Vec<String> = match params.get("select") {
            Some(Value::Array(a)) => {
                a.iter().filter_map(Value::as_str).map(str::to_owned).collect()
            }
            _ => vec![],
        };
        let with_queue = options.get("QUEUE").and_then(Value::as_str) == Some("Y");
        let with_config_queue = options.get("CONFIG_QUEUE").and_then(Value::as_str) == Some("Y");
        let rows = rows
            .into_iter()
            .skip(offset)
            .take(limit.min(200))
            .map(|row| {
                let id = row.get("ID").and_then(Id::from_value).map_or(0, |i| i.0);
                let mut row = match row {
                    Value::Object(o) if !select.is_empty() => {
                        Value::Object(o.into_iter().filter(|(k, _)| select.contains(k)).collect())
                    }
                    other => other,
                };
                if let Some(o) = row.as_object_mut() {
                    if with_queue && let Some(view) = self.line_view(id, true) {
                        for k in ["QUEUE", "QUEUE_USERS_FIELDS"] {
                            if let Some(v) = view.get(k) {
                                o.insert(k.to_owned(), v.clone());
                            }
                        }
                    }
                    if with_config_queue {
                        let queue = self.center.queues.get(&id).cloned().unwrap_or_default();
                        o.insert(
                            "CONFIG_QUEUE".to_owned(),
                            Value::Array(queue.into_iter().map(QueueEntry::to_json).collect()),
                        );
                    }
                }
                row
            })
            .collect();
        Ok(MethodOk::plain(Value::Array(rows)))
    }

    /// `imopenlines.config.update`: `false` for a missing line or a queue Bitrix24 refuses
    /// (not a list, empty, or only empty departments).
    pub(crate) fn openlines_config_update(&mut self, p: &Value) -> Result<MethodOk, MethodError> {
        let id = config_id(p)?;
        if !self.lines.contains_key(&id) {
            return Ok(MethodOk::plain(json!(false)));
        }
        let params = p.get("PARAMS").and_then(Value::as_object).cloned().unwrap_or_default();
        let queue = match params.get("QUEUE") {
            None => None,
            Some(q) => match self.checked_queue(q) {
                Ok(queue) => Some(queue),
                Err(_) => return Ok(MethodOk::plain(json!(false))),
            },
        };
        if let Some(Value::Object(line)) = self.lines.get_mut(&id) {
            apply_params(line, &params);
        }
        if let Some(queue) = queue {
            self.center.queues.insert(id, queue);
            self.center.handed_out.remove(&id);
        }
        Ok(MethodOk::plain(json!(true)))
    }

    /// `imopenlines.config.delete`: removes the line, closes its sessions, switches its
    /// connectors off and sends `ONIMCONNECTORLINEDELETE`.
    pub(crate) fn openlines_config_delete(&mut self, p: &Value) -> Result<MethodOk, MethodError> {
        let id = config_id(p)?;
        Ok(MethodOk::plain(json!(self.delete_line(id))))
    }

    /// Deletes a line; false when there was none.
    pub(crate) fn delete_line(&mut self, id: u64) -> bool {
        if self.lines.remove(&id).is_none() {
            return false;
        }
        self.center.queues.remove(&id);
        self.center.handed_out.remove(&id);
        for session in self.center.sessions.values_mut().filter(|s| s.line == id) {
            session.closed = true;
        }
        self.connector_lines.retain(|(_, line), _| *line != id);
        self.center.push_event(PendingEvent::line_delete(id));
        true
    }
}

/// PHP sends an empty map as `[]`.
fn php_map(m: Map<String, Value>) -> Value {
    if m.is_empty() { json!([]) } else { Value::Object(m) }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{QueueEntry, QueueProblem, parse_queue};

    #[test]
    fn a_queue_takes_both_documented_forms() {
        let q = parse_queue(&json!([{"ENTITY_TYPE": "user", "ENTITY_ID": "3"},
            {"ENTITY_TYPE": "department", "ENTITY_ID": 2}, 5, "3"]));
        assert_eq!(
            q,
            Ok(vec![QueueEntry::User(3), QueueEntry::Department(2), QueueEntry::User(5)])
        );
        assert_eq!(parse_queue(&json!([])), Err(QueueProblem::Empty));
        assert_eq!(
            parse_queue(&json!([{"ENTITY_TYPE": "group", "ENTITY_ID": 1}])),
            Err(QueueProblem::Invalid)
        );
        assert_eq!(parse_queue(&json!("x")), Err(QueueProblem::Invalid));
    }
}
