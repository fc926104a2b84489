//! The OpenAPI 3 document of the API, written by hand (one entry per operation). The tests check
//! that its operations are exactly [`super::ROUTES`].

use serde_json::{Value, json};

/// How an operation is authenticated.
#[derive(Clone, Copy)]
enum Auth {
    /// No credentials.
    None,
    /// A session token (any role).
    Bearer,
    /// A session token of an administrator.
    Admin,
    /// Bitrix24's own proof (frame token or `application_token`).
    Bitrix,
    /// The plan hook's secret header.
    HookSecret,
}

struct Op {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    auth: Auth,
    /// The request body's schema name, if any.
    body: Option<&'static str>,
    /// Success status and what it returns.
    ok: (&'static str, &'static str),
    /// Extra error statuses besides the auth ones.
    errors: &'static [&'static str],
    /// Whether writes are refused with 402 when the trial ended.
    write: bool,
}

const OPS: &[Op] = &[
    Op {
        method: "get",
        path: "/healthz",
        summary: "Liveness probe",
        auth: Auth::None,
        body: None,
        ok: ("200", "text"),
        errors: &[],
        write: false,
    },
    Op {
        method: "get",
        path: "/metrics",
        summary: "Prometheus metrics: lines by status, messages in/out, SSE clients, Bitrix24 call errors. Asks for the configured metrics_token as a bearer token (401 without, 403 wrong); 404 when none is configured (metrics_listen serves it without a token on an address of its own)",
        auth: Auth::None,
        body: None,
        ok: ("200", "text"),
        errors: &["401", "403", "404"],
        write: false,
    },
    Op {
        method: "get",
        path: "/api/openapi.json",
        summary: "This document",
        auth: Auth::None,
        body: None,
        ok: ("200", "json"),
        errors: &[],
        write: false,
    },
    Op {
        method: "get",
        path: "/ui/{file}",
        summary: "A file of the chat panel (ES modules, CSS, icons) embedded in the binary, with an ETag",
        auth: Auth::None,
        body: None,
        ok: ("200", "binary"),
        errors: &["404"],
        write: false,
    },
    Op {
        method: "post",
        path: "/b24/install",
        summary: "Install frame (an administrator's first open) or ONAPPINSTALL callback: registers the tenant, binds ONAPPUNINSTALL; the page calls BX24.installFinish()",
        auth: Auth::Bitrix,
        body: Some("form"),
        ok: ("200", "html"),
        errors: &["400", "502"],
        write: false,
    },
    Op {
        method: "post",
        path: "/b24/app",
        summary: "App frame: AUTH_ID confirmed by the portal, a 72 h session token issued into the page (CSP frame-ancestors: the portal)",
        auth: Auth::Bitrix,
        body: Some("form"),
        ok: ("200", "html"),
        errors: &["400", "502"],
        write: false,
    },
    Op {
        method: "post",
        path: "/b24/events",
        summary: "Bitrix24 events; auth[application_token] must match (401 without, 403 wrong). ONAPPUNINSTALL is acted on only once the portal confirms it (the stored tokens fail, or app.info says not installed; 403/503 otherwise, nothing changed); with CLEAN every line is logged out of WhatsApp and the data soft-deleted, purged after the grace period unless reinstalled",
        auth: Auth::Bitrix,
        body: Some("form"),
        ok: ("200", "json"),
        errors: &["400", "503"],
        write: false,
    },
    Op {
        method: "get",
        path: "/api/me",
        summary: "Who the token stands for",
        auth: Auth::Bearer,
        body: None,
        ok: ("200", "Me"),
        errors: &[],
        write: false,
    },
    Op {
        method: "get",
        path: "/api/lines",
        summary: "Lines: every line for administrators, the assigned ones for users",
        auth: Auth::Bearer,
        body: None,
        ok: ("200", "LineList"),
        errors: &[],
        write: false,
    },
    Op {
        method: "post",
        path: "/api/lines",
        summary: "Create a line within the plan's quota (409 names current and maximum)",
        auth: Auth::Admin,
        body: Some("CreateLine"),
        ok: ("201", "Line"),
        errors: &["400", "409"],
        write: true,
    },
    Op {
        method: "get",
        path: "/api/lines/{line_id}",
        summary: "One line",
        auth: Auth::Bearer,
        body: None,
        ok: ("200", "Line"),
        errors: &["404"],
        write: false,
    },
    Op {
        method: "patch",
        path: "/api/lines/{line_id}",
        summary: "Change a line's settings: send_read_receipts (whether the assigned user opening a chat sends read receipts to WhatsApp; on by default). Audited; SSE line.updated",
        auth: Auth::Admin,
        body: Some("UpdateLine"),
        ok: ("200", "Line"),
        errors: &["400", "404"],
        write: true,
    },
    Op {
        method: "delete",
        path: "/api/lines/{line_id}",
        summary: "Delete a line (history kept; stops counting against the quota)",
        auth: Auth::Admin,
        body: None,
        ok: ("204", ""),
        errors: &["404"],
        write: true,
    },
    Op {
        method: "put",
        path: "/api/lines/{line_id}/assignment",
        summary: "Assign, reassign (history moves with the line) or unassign (user_id null)",
        auth: Auth::Admin,
        body: Some("Assign"),
        ok: ("200", "Line"),
        errors: &["400", "404"],
        write: true,
    },
    Op {
        method: "post",
        path: "/api/lines/{line_id}/connect",
        summary: "Start the line: a new line pairs (SSE line.status events with state qr carry qr, qr_svg and expires_in_ms, to administrators), a paired one logs in; a running line is left as it is. Answers the current state",
        auth: Auth::Admin,
        body: None,
        ok: ("202", "LineState"),
        errors: &["404", "503"],
        write: true,
    },
    Op {
        method: "post",
        path: "/api/lines/{line_id}/disconnect",
        summary: "Stop the line; it stays stopped across restarts until the next connect",
        auth: Auth::Admin,
        body: None,
        ok: ("204", ""),
        errors: &["404", "409", "503"],
        write: false,
    },
    Op {
        method: "post",
        path: "/api/lines/{line_id}/logout",
        summary: "Log the line out of WhatsApp (the device is removed; pairing again is needed)",
        auth: Auth::Admin,
        body: None,
        ok: ("204", ""),
        errors: &["404", "409", "503"],
        write: false,
    },
    Op {
        method: "get",
        path: "/api/lines/{line_id}/conversations",
        summary: "A line's conversations with unread counts, most recent first",
        auth: Auth::Bearer,
        body: None,
        ok: ("200", "ConversationList"),
        errors: &["404"],
        write: false,
    },
    Op {
        method: "get",
        path: "/api/conversations/search",
        summary: "Search the caller's lines (query q, limit): contacts by name, JID or phone (digits, or as displayed: +7 916 000-00-01) with their conversations, then messages by text (message, newest first)",
        auth: Auth::Bearer,
        body: None,
        ok: ("200", "SearchResults"),
        errors: &["400"],
        write: false,
    },
    Op {
        method: "get",
        path: "/api/conversations/{conversation_id}",
        summary: "One conversation",
        auth: Auth::Bearer,
        body: None,
        ok: ("200", "Conversation"),
        errors: &["404"],
        write: false,
    },
    Op {
        method: "get",
        path: "/api/conversations/{conversation_id}/messages",
        summary: "History page, newest first (query before, limit 1..200)",
        auth: Auth::Bearer,
        body: None,
        ok: ("200", "HistoryPage"),
        errors: &["400", "404"],
        write: false,
    },
    Op {
        method: "post",
        path: "/api/conversations/{conversation_id}/messages",
        summary: "Send a text, or a reply with quoted_id; once per idempotency_key (the same key with another body is 422); queued (202) even while the line is not connected, sent when it is; the status moves sent, delivered, read over SSE (message.status)",
        auth: Auth::Bearer,
        body: Some("SendText"),
        ok: ("202", "Message"),
        errors: &["400", "404", "422", "503"],
        write: true,
    },
    Op {
        method: "post",
        path: "/api/conversations/{conversation_id}/reactions",
        summary: "React to a message with an emoji (empty takes it back)",
        auth: Auth::Bearer,
        body: Some("SendReaction"),
        ok: ("202", "Message"),
        errors: &["400", "404", "422", "503"],
        write: true,
    },
    Op {
        method: "post",
        path: "/api/conversations/{conversation_id}/media",
        summary: "Send a file: the body is the file, Content-Type its type; query kind=image|video|document|voice, file_name, caption, quoted_id, idempotency_key. Images jpeg/png/webp up to 16 MiB, videos mp4/3gpp up to 64 MiB, documents any type up to 64 MiB, voice notes audio/webm (a browser recording, remuxed to Ogg Opus) or audio/ogg up to 16 MiB. Authenticated and checked against the conversation before the body is read, then streamed to disk; an image or video must begin as its declared type (415); 413 also when the portal's storage quota is reached (with current and max bytes); 429 when the portal has its maximum of uploads under way, 503 when the server has",
        auth: Auth::Bearer,
        body: Some("binary"),
        ok: ("202", "Message"),
        errors: &["400", "404", "413", "415", "422", "429", "503"],
        write: true,
    },
    Op {
        method: "get",
        path: "/api/messages/{message_id}/media",
        summary: "A message's file (the token may also be given as ?access_token=); images, video and audio inline, anything else as an attachment",
        auth: Auth::Bearer,
        body: None,
        ok: ("200", "binary"),
        errors: &["404", "503"],
        write: false,
    },
    Op {
        method: "post",
        path: "/api/conversations/{conversation_id}/read",
        summary: "The caller opened the conversation: when its unread count is theirs (the line's assigned user; administrators while nobody is assigned) it goes to zero and WhatsApp gets read receipts unless the line's send_read_receipts is off; anyone else changes nothing (cleared false). Allowed when read-only",
        auth: Auth::Bearer,
        body: None,
        ok: ("200", "json"),
        errors: &["404"],
        write: false,
    },
    Op {
        method: "get",
        path: "/api/users",
        summary: "Portal users (user.get, cached; source portal or cache)",
        auth: Auth::Admin,
        body: None,
        ok: ("200", "UserList"),
        errors: &[],
        write: false,
    },
    Op {
        method: "post",
        path: "/api/users/{user_id}/sessions/revoke",
        summary: "End every session of a user: tokens issued until now are refused (audited auth.sessions_revoked); answers user_id and not_before (Unix seconds)",
        auth: Auth::Admin,
        body: None,
        ok: ("200", "SessionsRevoked"),
        errors: &["404"],
        write: false,
    },
    Op {
        method: "get",
        path: "/api/audit",
        summary: "Audit log page (query kind, subject, actor (system, admin:N, user:N), since, until in Unix ms, after, limit 1..1000)",
        auth: Auth::Admin,
        body: None,
        ok: ("200", "AuditPage"),
        errors: &["400"],
        write: false,
    },
    Op {
        method: "get",
        path: "/api/audit/export",
        summary: "Audit log as NDJSON (same filters)",
        auth: Auth::Admin,
        body: None,
        ok: ("200", "ndjson"),
        errors: &["400"],
        write: false,
    },
    Op {
        method: "get",
        path: "/api/audit/verify",
        summary: "Verify the tenant's keyed audit chain now: ok, records checked, the first broken record (seq, reason code, message)",
        auth: Auth::Admin,
        body: None,
        ok: ("200", "AuditVerify"),
        errors: &[],
        write: false,
    },
    Op {
        method: "get",
        path: "/api/subscription",
        summary: "Plan, lines used of allowed, trial days left, read-only flag",
        auth: Auth::Bearer,
        body: None,
        ok: ("200", "Subscription"),
        errors: &[],
        write: false,
    },
    Op {
        method: "post",
        path: "/api/subscription/upgrade",
        summary: "Ask the operator for more lines (also after the trial): the request is posted to the configured billing hook, signed (X-Wab24-Signature: sha256=<hex HMAC-SHA256 of the body>), and audited (app.upgrade_requested) in the tenant's and the registry's logs; 503 when no hook is configured or it did not accept",
        auth: Auth::Admin,
        body: Some("UpgradeRequest"),
        ok: ("202", "UpgradeRequested"),
        errors: &["400", "503"],
        write: false,
    },
    Op {
        method: "post",
        path: "/api/hooks/plan",
        summary: "Billing hook: change a tenant's plan (header X-Wab24-Hook-Secret; 404 when no secret is configured)",
        auth: Auth::HookSecret,
        body: Some("PlanChange"),
        ok: ("200", "json"),
        errors: &["400", "404"],
        write: false,
    },
    Op {
        method: "get",
        path: "/api/events",
        summary: "Server-Sent Events scoped by the token (Authorization header or access_token query): line.created, line.assigned, line.updated, line.deleted, line.unassigned, line.status, message.stored and message.status (each with the message itself), message.send_failed, conversation.read, subscription.changed, resync",
        auth: Auth::Bearer,
        body: None,
        ok: ("200", "event-stream"),
        errors: &[],
        write: false,
    },
];

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
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "integer", "format": "int64" } }))
        .collect()
}

fn operation(op: &Op) -> Value {
    let mut responses = serde_json::Map::new();
    let mut ok = json!({ "description": "success" });
    let c = content(op.ok.1);
    if !c.is_null() {
        ok["content"] = c;
    }
    responses.insert(op.ok.0.to_owned(), ok);
    let err = |d: &str| json!({ "description": d, "content": { "application/json": { "schema": schema_ref("Error") } } });
    let mut codes: Vec<(&str, &str)> = op.errors.iter().map(|c| (*c, "error")).collect();
    match op.auth {
        Auth::Bearer => {
            codes.extend([("401", "missing, expired or invalid token"), ("403", "tenant inactive")])
        }
        Auth::Admin => codes.extend([
            ("401", "missing, expired or invalid token"),
            ("403", "not an administrator, or tenant inactive"),
        ]),
        Auth::Bitrix => codes.extend([
            ("401", "token not confirmed"),
            ("403", "not this application, portal or installation"),
        ]),
        Auth::HookSecret => codes.extend([("401", "missing secret"), ("403", "wrong secret")]),
        Auth::None => {}
    }
    if op.write {
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
    let params = parameters(op.path);
    if !params.is_empty() {
        o["parameters"] = Value::Array(params);
    }
    match op.auth {
        Auth::Bearer | Auth::Admin => o["security"] = json!([{ "bearer": [] }]),
        Auth::HookSecret => o["security"] = json!([{ "hookSecret": [] }]),
        Auth::None | Auth::Bitrix => o["security"] = json!([]),
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
        "assigned_user": oint, "created_at": int, "send_read_receipts": { "type": "boolean" },
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
        "note": { "type": ["string", "null"], "enum": ["truncated", "media_unavailable", "unreadable", "identity_changed", null] } } });
    json!({
        "Error": { "type": "object", "properties": { "error": { "type": "object", "required": ["code", "message"],
            "properties": { "code": { "type": "string" }, "message": { "type": "string" }, "current": int, "max": int } } } },
        "Me": { "type": "object", "properties": { "member_id": { "type": "string" }, "user_id": int,
            "role": { "type": "string", "enum": ["admin", "user"] }, "expires_at": int, "read_only": { "type": "boolean" } } },
        "Line": line,
        "LineList": { "type": "object", "properties": { "lines": { "type": "array", "items": schema_ref("Line") } } },
        "CreateLine": { "type": "object", "required": ["name"], "properties": { "name": { "type": "string" }, "phone": ostr } },
        "UpdateLine": { "type": "object", "properties": { "send_read_receipts": { "type": "boolean" } } },
        "Assign": { "type": "object", "required": ["user_id"], "properties": { "user_id": oint } },
        "LineState": { "type": "object", "required": ["line_id", "state"], "properties": { "line_id": int,
            "state": { "type": "string" }, "qr": ostr, "qr_svg": ostr, "expires_in_ms": oint, "reason": ostr, "retry_in_ms": oint } },
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
        "UserList": { "type": "object", "properties": { "users": { "type": "array", "items": { "type": "object",
            "properties": { "id": int, "name": { "type": "string" }, "is_admin": { "type": "boolean" } } } },
            "source": { "type": "string", "enum": ["portal", "cache"] } } },
        "SessionsRevoked": { "type": "object", "properties": { "user_id": int, "not_before": int } },
        "AuditPage": { "type": "object", "properties": { "records": { "type": "array", "items": { "type": "object" } }, "next": oint } },
        "AuditVerify": { "type": "object", "properties": { "ok": { "type": "boolean" }, "records_checked": int,
            "broken": { "type": ["object", "null"], "properties": { "seq": int,
                "reason": { "type": "string", "enum": ["missing", "content_changed", "broken_link", "unkeyed", "head_mismatch", "other"] },
                "message": { "type": "string" } } } } },
        "Subscription": { "type": "object", "properties": { "plan": { "type": "string" }, "lines_used": int, "lines_allowed": int,
            "trial_ends_at": oint, "trial_days_left": oint, "read_only": { "type": "boolean" },
            "price_per_line": int, "currency": { "type": "string" }, "upgrade_available": { "type": "boolean" } } },
        "UpgradeRequest": { "type": "object", "required": ["lines"], "properties": { "lines": int } },
        "UpgradeRequested": { "type": "object", "properties": { "status": { "type": "string" }, "lines_requested": int,
            "monthly_total": int, "currency": { "type": "string" } } },
        "PlanChange": { "type": "object", "required": ["member_id", "plan", "line_quota"], "properties": {
            "member_id": { "type": "string" }, "plan": { "type": "string" }, "line_quota": int, "trial_ends_at": oint } },
    })
}

/// The document.
pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for op in OPS {
        let entry = paths.entry(op.path.to_owned()).or_insert_with(|| json!({}));
        entry[op.method] = operation(op);
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
        let mut routes: Vec<(String, String)> =
            super::super::ROUTES.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
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
}
