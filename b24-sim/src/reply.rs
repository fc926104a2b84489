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

/// Unix seconds as `YYYY-MM-DDTHH:MM:SS+00:00` (the format of Bitrix24's dates).
pub(crate) fn iso8601(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil-from-days (proleptic Gregorian), after H. Hinnant's public-domain algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+00:00",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso_dates() {
        assert_eq!(super::iso8601(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(super::iso8601(1_778_747_192), "2026-05-14T08:26:32+00:00");
        assert_eq!(super::iso8601(951_782_400), "2000-02-29T00:00:00+00:00");
    }
}
