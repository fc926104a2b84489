//! The simulator's HTTP answers: statuses, JSON envelopes, error bodies and the `time` block.

use b24_client::ErrorCode;
use serde_json::{Map, Value, json};
use warp::http;

/// An HTTP answer of the simulator.
pub(crate) type Reply = http::Response<Vec<u8>>;

/// An answer with `status`, `content_type` and `body`.
pub(crate) fn reply(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
    let mut r = http::Response::new(body);
    *r.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

/// A JSON answer.
pub(crate) fn json_reply(status: u16, v: &Value) -> Reply {
    reply(status, "application/json; charset=utf-8", v.to_string().into_bytes())
}

/// Bitrix24's error body: `{"error", "error_description"}`.
pub(crate) fn error_body(code: &ErrorCode, description: &str) -> Value {
    json!({"error": code.as_str(), "error_description": description})
}

/// Adds the fields of the object `from` to `into` (anything else adds nothing).
pub(crate) fn merge(into: &mut Map<String, Value>, from: Value) {
    if let Value::Object(m) = from {
        into.extend(m);
    }
}

/// The `time` block of a REST answer at unix time `now`, with `operating` seconds of method time
/// used.
pub(crate) fn time_block(now: i64, operating: f64) -> Value {
    json!({"start": now as f64, "finish": now as f64 + 0.01, "duration": 0.01, "processing": 0.005,
           "date_start": "2026-01-01T00:00:00+00:00", "date_finish": "2026-01-01T00:00:00+00:00",
           "operating_reset_at": now + 600, "operating": operating})
}
