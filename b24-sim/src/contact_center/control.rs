//! The contact center's control routes (`/_sim/center/...`): what a simulated operator or
//! administrator does, for tests in other languages and for the shell page's reply box.
//! Parameters come from the query, a form or JSON: `member_id`, `chat_id` or `session_id`,
//! `user_id`, `text`, `files` (`[{name, link, type}]`), `message_id`, `connector`, `line`, and
//! the event options `copies`, `delay_ms`, `forge_token`, `without_tokens`.

use std::time::Duration;

use b24_client::{Id, quirks::flex_bool};
use serde_json::{Map, Value, json};
use warp::http;

use crate::{
    contact_center::Dialog,
    error::Error,
    outbound::{EventOptions, OutFile},
    reply::{Reply, json_reply, reply},
    sim::Sim,
    state::Delivery,
};

fn id(params: &Map<String, Value>, key: &str) -> Option<u64> {
    params.get(key).and_then(Id::from_value).map(|i| i.0)
}

fn text<'a>(params: &'a Map<String, Value>, key: &str) -> &'a str {
    params.get(key).and_then(Value::as_str).unwrap_or("")
}

fn dialog(params: &Map<String, Value>) -> Option<Dialog> {
    id(params, "session_id")
        .map(Dialog::Session)
        .or_else(|| id(params, "chat_id").map(Dialog::Chat))
}

fn options(params: &Map<String, Value>) -> EventOptions {
    let flag = |k: &str| params.get(k).and_then(flex_bool).unwrap_or(false);
    EventOptions {
        forge_token: flag("forge_token"),
        without_tokens: flag("without_tokens"),
        copies: id(params, "copies").and_then(|c| u32::try_from(c).ok()).unwrap_or(1).min(100),
        delay: id(params, "delay_ms").map(|ms| Duration::from_millis(ms.min(60_000))),
        url: None,
    }
}

fn files(params: &Map<String, Value>) -> Vec<OutFile> {
    let list: Vec<&Value> = match params.get("files") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(Value::Object(o)) => o.values().collect(),
        _ => vec![],
    };
    list.into_iter()
        .map(|f| {
            let s = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            OutFile { name: s("name"), link: s("link"), kind: s("type") }
        })
        .collect()
}

fn status_of(e: &Error) -> u16 {
    match e {
        Error::UnknownPortal(_)
        | Error::NoOpenSession(_)
        | Error::UnknownMessage(_)
        | Error::UnknownLine(_) => 404,
        Error::UnknownUser(_) => 400,
        _ => 500,
    }
}

fn answer(result: crate::error::Result<Value>) -> Reply {
    match result {
        Ok(v) => json_reply(200, &v),
        Err(e) => json_reply(status_of(&e), &json!({"error": e.to_string()})),
    }
}

fn deliveries(r: crate::error::Result<Vec<Delivery>>) -> crate::error::Result<Value> {
    r.map(|d| json!({"deliveries": d}))
}

/// The shell page's forms post here and want to see their page again: a 303 to `back` (a
/// path of the simulator's own pages only).
fn back_to(params: &Map<String, Value>) -> Option<Reply> {
    let back = params.get("back").and_then(Value::as_str).filter(|b| b.starts_with("/p/"))?;
    let location = http::HeaderValue::from_str(back).ok()?;
    let mut r = reply(303, "text/plain", vec![]);
    r.headers_mut().insert(http::header::LOCATION, location);
    Some(r)
}

/// `/_sim/center/<rest>`.
pub(crate) async fn handle(sim: &Sim, rest: &[&str], params: Map<String, Value>) -> Reply {
    let member = text(&params, "member_id").to_owned();
    let opts = options(&params);
    let missing = |what: &str| json_reply(400, &json!({"error": format!("{what} is required")}));
    let result = match rest {
        ["reply"] => {
            let Some(dialog) = dialog(&params) else { return missing("chat_id or session_id") };
            let files = files(&params);
            let said = text(&params, "text");
            let posted = match id(&params, "user_id") {
                Some(user) => {
                    sim.operator_reply_as(&member, dialog, user, said, &files, opts).await
                }
                None => sim.operator_reply(&member, dialog, said, &files, opts).await,
            };
            posted.map(|p| {
                json!({"message_id": p.message_id, "chat_id": p.chat_id,
                       "session_id": p.session_id, "deliveries": p.deliveries})
            })
        }
        ["edit"] => {
            let Some(message) = id(&params, "message_id") else { return missing("message_id") };
            let said = text(&params, "text");
            deliveries(sim.operator_edit(&member, message, said, opts).await)
        }
        ["delete"] => {
            let Some(message) = id(&params, "message_id") else { return missing("message_id") };
            deliveries(sim.operator_delete(&member, message, opts).await)
        }
        ["close"] => {
            let Some(dialog) = dialog(&params) else { return missing("chat_id or session_id") };
            deliveries(sim.close_session(&member, dialog, opts).await)
        }
        ["disconnect"] => {
            let Some(line) = id(&params, "line") else { return missing("line") };
            let connector = text(&params, "connector");
            deliveries(sim.disconnect_connector(&member, connector, line, opts).await)
        }
        ["delete-line"] => {
            let Some(line) = id(&params, "line") else { return missing("line") };
            deliveries(sim.delete_open_line(&member, line, opts).await)
        }
        ["sessions"] => Ok(json!({"sessions": sim.open_line_sessions(&member),
                                  "customers": sim.open_line_customers(&member)})),
        ["messages"] => {
            let Some(chat) = id(&params, "chat_id") else { return missing("chat_id") };
            Ok(json!({"messages": sim.open_line_messages(&member, chat)}))
        }
        _ => return json_reply(404, &json!({"error": "unknown control path"})),
    };
    match (&result, back_to(&params)) {
        (Ok(_), Some(redirect)) => redirect,
        _ => answer(result),
    }
}
