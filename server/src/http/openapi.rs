//! The OpenAPI 3 document of the API, derived from the route table ([`super::ROUTES`]): each
//! route's access gives its security and auth errors, its writability the 402, its body the
//! body errors; the schemas are written here.

use serde_json::{Value, json};

use super::route::{Access, Route};

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn content(kind: &str) -> Value {
    match kind {
        "" => json!(null),
        "text" => json!({ "text/plain": { "schema": { "type": "string" } } }),
        "html" => json!({ "text/html": { "schema": { "type": "string" } } }),
        "ndjson" => json!({ "application/x-ndjson": { "schema": { "type": "string" } } }),
        "event-stream" => json!({ "text/event-stream": { "schema": { "type": "string" } } }),
        "json" => json!({ "application/json": { "schema": { "type": "object" } } }),
        "binary" => {
            json!({ "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } })
        }
        name => json!({ "application/json": { "schema": schema_ref(name) } }),
    }
}

fn parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            // Ids are numbers; a file name or a token is text.
            let schema = if name.ends_with("_id") {
                json!({ "type": "integer", "format": "int64" })
            } else {
                json!({ "type": "string" })
            };
            json!({ "name": name, "in": "path", "required": true, "schema": schema })
        })
        .collect()
}

fn operation(route: &Route) -> Value {
    let op = &route.doc;
    let mut responses = serde_json::Map::new();
    let mut ok = json!({ "description": "success" });
    let c = content(op.ok.1);
    if !c.is_null() {
        ok["content"] = c;
    }
    responses.insert(op.ok.0.to_owned(), ok);
    let err = |d: &str| json!({ "description": d, "content": { "application/json": { "schema": schema_ref("Error") } } });
    let mut codes: Vec<(&str, &str)> = op.errors.iter().map(|c| (*c, "error")).collect();
    match route.access {
        Access::Member => {
            codes.extend([("401", "missing, expired or invalid token"), ("403", "tenant inactive")])
        }
        Access::Admin => codes.extend([
            ("401", "missing, expired or invalid token"),
            ("403", "not an administrator, or tenant inactive"),
        ]),
        Access::Bitrix => codes.extend([
            ("401", "token not confirmed"),
            ("403", "not this application, portal or installation"),
        ]),
        Access::HookSecret => codes.extend([("401", "missing secret"), ("403", "wrong secret")]),
        Access::Public => {}
    }
    if route.writable {
        codes.push(("402", "trial ended: read-only"));
    }
    if op.body.is_some_and(|b| b != "form" && b != "binary") {
        codes.extend([
            ("400", "invalid JSON body"),
            ("413", "body over 64 KiB"),
            ("415", "not sent as application/json"),
        ]);
    }
    for (code, d) in codes {
        responses.insert(code.to_owned(), err(d));
    }
    let mut o = json!({ "summary": op.summary, "responses": responses });
    let params = parameters(route.path);
    if !params.is_empty() {
        o["parameters"] = Value::Array(params);
    }
    match route.access {
        Access::Member | Access::Admin => o["security"] = json!([{ "bearer": [] }]),
        Access::HookSecret => o["security"] = json!([{ "hookSecret": [] }]),
        Access::Public | Access::Bitrix => o["security"] = json!([]),
    }
    match op.body {
        Some("form") => {
            o["requestBody"] = json!({ "required": true, "content": { "application/x-www-form-urlencoded": { "schema": { "type": "object" } } } })
        }
        Some("binary") => {
            o["requestBody"] = json!({ "required": true, "content": content("binary") })
        }
        Some(name) => {
            o["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": schema_ref(name) } } })
        }
        None => {}
    }
    o
}

fn schemas() -> Value {
    let int = json!({ "type": "integer", "format": "int64" });
    let oint = json!({ "type": ["integer", "null"], "format": "int64" });
    let ostr = json!({ "type": ["string", "null"] });
    let line = json!({ "type": "object", "properties": { "id": int, "name": { "type": "string" }, "phone": ostr,
        "status": { "type": "string", "enum": ["new", "pairing", "connected", "disconnected", "logged_out"] },
        "assigned_user": oint, "assigned_department": oint,
        "responsible_mode": { "type": "string", "enum": ["first_to_answer", "evenly"] }, "created_at": int, "send_read_receipts": { "type": "boolean" },
        "open_channel": { "type": "string", "enum": ["panel", "openline", "both"] }, "open_line_id": oint,
        "open_channel_status": { "type": "string", "enum": ["off", "active", "error"] },
        "open_channel_signature": { "type": "boolean" },
        "state": { "type": ["string", "null"], "enum": ["connecting", "qr", "connected", "reconnecting", "disconnected", "logged_out", null] } } });
    let contact = json!({ "type": "object", "properties": { "id": int, "line_id": int, "jid": { "type": "string" }, "phone": ostr, "push_name": ostr } });
    let conversation = json!({ "type": "object", "properties": { "id": int, "line_id": int, "contact": schema_ref("Contact"),
        "unread": int, "last_message_id": oint, "last_message_at": oint,
        "last_message": { "oneOf": [schema_ref("Message"), { "type": "null" }] } } });
    let message = json!({ "type": "object", "properties": { "id": int, "conversation_id": int, "line_id": int,
        "direction": { "type": "string", "enum": ["in", "out"] }, "kind": { "type": "string" }, "text": ostr,
        "media": { "type": ["object", "null"], "properties": { "mime": { "type": "string" }, "size": int, "sha256": { "type": "string" },
            "file_name": ostr, "url": { "type": "string" } } },
        "quoted_id": oint, "status": { "type": "string", "enum": ["pending", "sent", "delivered", "read"] },
        "sent_at": oint, "delivered_at": oint, "read_at": oint, "sender": { "type": "string" }, "at": int,
        "note": { "type": ["string", "null"], "enum": ["truncated", "media_unavailable", "unreadable", "identity_changed", "edited", "revoked", null] } } });
    let crm = json!({
        "CrmPolicy": { "type": "object", "required": ["mode"], "properties": {
            "mode": { "type": "string", "enum": ["none", "contact", "contact_lead", "contact_deal"] },
            "category_id": int, "stage_id": ostr,
            "responsible": { "type": "string", "enum": ["line_user", "client_responsible"] },
            "returning_closed_deal": { "type": "string", "enum": ["new_deal", "nothing"] },
            "source_of_truth": { "type": "string", "enum": ["wab24", "open_line"] } } },
        "PipelineList": { "type": "object", "properties": { "pipelines": { "type": "array", "items": { "type": "object",
            "properties": { "id": int, "name": { "type": "string" }, "is_default": { "type": "boolean" },
                "stages": { "type": "array", "items": { "type": "object", "properties": { "id": { "type": "string" },
                    "name": { "type": "string" }, "semantics": { "type": "string", "enum": ["process", "success", "failure"] } } } } } } } } },
    });
    let user_list = json!({ "type": "object", "properties": { "users": { "type": "array", "items": { "type": "object",
            "properties": { "id": int, "name": { "type": "string" }, "is_admin": { "type": "boolean" },
                "active": { "type": "boolean" }, "avatar": ostr, "departments": { "type": "array", "items": int } } } },
            "departments": { "type": "array", "items": { "type": "object", "properties": { "id": int,
                "name": { "type": "string" }, "parent": oint, "head": oint } } },
            "source": { "type": "string", "enum": ["portal", "cache"] } } });
    let audit_verify = json!({ "type": "object", "properties": { "ok": { "type": "boolean" }, "records_checked": int,
            "broken": { "type": ["object", "null"], "properties": { "seq": int,
                "reason": { "type": "string", "enum": ["missing", "content_changed", "broken_link", "unkeyed", "head_mismatch", "other"] },
                "message": { "type": "string" } } } } });
    let subscription = json!({ "type": "object", "properties": { "plan": { "type": "string" }, "lines_used": int, "lines_allowed": int,
            "trial_ends_at": oint, "trial_days_left": oint, "read_only": { "type": "boolean" },
            "price_per_line": int, "currency": { "type": "string" }, "upgrade_available": { "type": "boolean" } } });
    let outreach = json!({ "type": "object", "required": ["cold", "sent_last_hour", "sent_last_day", "per_hour", "per_day", "min_gap_secs", "next_at"],
            "properties": { "cold": { "type": "boolean" }, "sent_last_hour": int, "sent_last_day": int, "per_hour": int, "per_day": int,
            "min_gap_secs": int, "next_at": oint } });
    let error = json!({ "type": "object", "properties": { "error": { "type": "object", "required": ["code", "message"],
            "properties": { "code": { "type": "string" }, "message": { "type": "string" }, "current": int, "max": int,
                "limit": { "type": "string", "enum": ["per_hour", "per_day", "min_gap", "number_checks"] }, "retry_at": int, "retry_after_secs": int, "minutes": int } } } });
    let mut all = json!({
        "Error": error,
        "Me": { "type": "object", "properties": { "member_id": { "type": "string" }, "user_id": int,
            "role": { "type": "string", "enum": ["admin", "user"] }, "expires_at": int, "read_only": { "type": "boolean" } } },
        "Line": line,
        "LineList": { "type": "object", "properties": { "lines": { "type": "array", "items": schema_ref("Line") } } },
        "CreateLine": { "type": "object", "required": ["name"], "properties": { "name": { "type": "string" }, "phone": ostr } },
        "UpdateLine": { "type": "object", "properties": { "send_read_receipts": { "type": "boolean" },
            "open_channel": { "type": "string", "enum": ["panel", "openline", "both"] }, "open_line_id": oint,
            "open_channel_signature": { "type": "boolean" }, "assigned_department": oint,
            "responsible_mode": { "type": "string", "enum": ["first_to_answer", "evenly"] },
            "crm": schema_ref("CrmPolicy") } },
        "OpenLine": { "type": "object", "required": ["id", "name", "active"], "properties": { "id": int, "name": { "type": "string" },
            "active": { "type": "boolean" }, "line_id": oint } },
        "OpenLineList": { "type": "object", "properties": { "open_lines": { "type": "array", "items": schema_ref("OpenLine") } } },
        "CreateOpenLine": { "type": "object", "required": ["name"], "properties": { "name": { "type": "string", "minLength": 1, "maxLength": 100 }, "line_id": oint } },
        "Assign": { "type": "object", "required": ["user_id"], "properties": { "user_id": oint } },
        "LineState": { "type": "object", "required": ["line_id", "state"], "properties": { "line_id": int,
            "state": { "type": "string" }, "qr": ostr, "qr_svg": ostr, "expires_in_ms": oint, "reason": ostr, "retry_in_ms": oint } },
        "StartChat": { "type": "object", "required": ["phone"], "properties": { "phone": { "type": "string" } } },
        "Outreach": outreach,
        "ChatOpened": { "type": "object", "required": ["conversation", "created", "outreach"], "properties": {
            "conversation": schema_ref("Conversation"), "created": { "type": "boolean" }, "outreach": schema_ref("Outreach") } },
        "SendText": { "type": "object", "required": ["text"], "properties": { "text": { "type": "string" }, "quoted_id": oint,
            "idempotency_key": ostr } },
        "SendReaction": { "type": "object", "required": ["message_id", "emoji"], "properties": { "message_id": int,
            "emoji": { "type": "string" }, "idempotency_key": ostr } },
        "Contact": contact,
        "Conversation": conversation,
        "ConversationList": { "type": "object", "properties": { "conversations": { "type": "array", "items": schema_ref("Conversation") } } },
        "SearchResults": { "type": "object", "properties": { "results": { "type": "array", "items": { "type": "object",
            "properties": { "contact": schema_ref("Contact"), "conversation": schema_ref("Conversation"),
                "message": schema_ref("Message") } } } } },
        "Message": message,
        "HistoryPage": { "type": "object", "properties": { "messages": { "type": "array", "items": schema_ref("Message") }, "next": oint } },
        "UserList": user_list,
        "Access": { "type": "object", "required": ["users", "departments"], "properties": {
            "users": { "type": "array", "items": int, "maxItems": 1000 },
            "departments": { "type": "array", "items": int, "maxItems": 1000 } } },
        "SessionsRevoked": { "type": "object", "properties": { "user_id": int, "not_before": int } },
        "AuditPage": { "type": "object", "properties": { "records": { "type": "array", "items": { "type": "object" } }, "next": oint } },
        "AuditVerify": audit_verify,
        "Subscription": subscription,
        "UpgradeRequest": { "type": "object", "required": ["lines"], "properties": { "lines": int } },
        "UpgradeRequested": { "type": "object", "properties": { "status": { "type": "string" }, "lines_requested": int,
            "monthly_total": int, "currency": { "type": "string" } } },
        "PlanChange": { "type": "object", "required": ["member_id", "plan", "line_quota"], "properties": {
            "member_id": { "type": "string" }, "plan": { "type": "string" }, "line_quota": int, "trial_ends_at": oint } },
    });
    if let (Some(all), Some(crm)) = (all.as_object_mut(), crm.as_object()) {
        all.extend(crm.clone());
    }
    all
}

/// The document.
pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for route in super::ROUTES {
        let entry = paths.entry(route.path.to_owned()).or_insert_with(|| json!({}));
        entry[route.method.as_str().to_ascii_lowercase()] = operation(route);
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "wab24", "version": env!("CARGO_PKG_VERSION"),
            "description": "WhatsApp lines inside Bitrix24: the reference server's API. Errors are {\"error\": {\"code\", \"message\"}}." },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" },
                "hookSecret": { "type": "apiKey", "in": "header", "name": "X-Wab24-Hook-Secret" },
            },
            "schemas": schemas(),
        },
    })
}

/// The (METHOD, path) pairs the document lists.
pub fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut out = vec![];
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            if let Some(item) = item.as_object() {
                for method in item.keys() {
                    out.push((method.to_ascii_uppercase(), path.clone()));
                }
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_lists_exactly_the_routes() {
        let doc = document();
        let mut routes: Vec<(String, String)> = super::super::ROUTES
            .iter()
            .map(|r| (r.method.as_str().to_owned(), r.path.to_owned()))
            .collect();
        routes.sort();
        assert_eq!(operations(&doc), routes);
        // Every $ref points at a defined schema.
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
            assert!(schemas.contains_key(&name), "missing schema {name}");
        }
    }

    #[test]
    fn the_document_is_pinned() {
        // Clients are generated from this document: a change must be seen in review.
        insta::assert_json_snapshot!("openapi", document());
    }
}
