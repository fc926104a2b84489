//! The success and error envelopes of Bitrix24 REST responses.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{BodyKind, Error, ErrorCode, Result};

/// The `time` block of a response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimeInfo {
    /// Unix time the portal started the request.
    #[serde(default)]
    pub start: f64,
    /// Unix time it finished.
    #[serde(default)]
    pub finish: f64,
    /// Seconds spent.
    #[serde(default)]
    pub duration: f64,
    /// Seconds of processing.
    #[serde(default)]
    pub processing: f64,
    /// Seconds of this method's time budget used in the current 10-minute window.
    #[serde(default)]
    pub operating: f64,
    /// Unix time when the oldest bucket of the method's time budget drops.
    #[serde(default)]
    pub operating_reset_at: Option<i64>,
}

/// A successful response: `result` plus, for lists, `total` and `next`.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The method's result.
    pub result: Value,
    /// Total number of items (list methods; absent with `start=-1`).
    pub total: Option<u64>,
    /// The `start` of the next page (list methods).
    pub next: Option<u64>,
    /// Timing and operating-limit information.
    pub time: Option<TimeInfo>,
}

/// A parsed error envelope, with the `operating_reset_at` it may carry.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: Error,
    pub(crate) reset_at: Option<i64>,
}

fn flex_u64(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn time_of(v: Option<&Value>) -> Option<TimeInfo> {
    v.and_then(|t| serde_json::from_value(t.clone()).ok())
}

/// Reads a REST response body. HTML pages, truncated JSON and bodies without `result` become
/// [`Error::UnexpectedBody`]; `{"error": ...}` becomes [`Error::Api`].
pub fn parse(status: u16, body: &[u8]) -> Result<Envelope> {
    parse_inner(status, body).map_err(|f| f.error)
}

pub(crate) fn parse_inner(status: u16, body: &[u8]) -> Result<Envelope, Failure> {
    let unexpected = |kind| Failure {
        error: Error::UnexpectedBody { status, kind, len: body.len() },
        reset_at: None,
    };
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            let head = body.iter().skip_while(|b| b.is_ascii_whitespace()).take(1).next();
            return Err(unexpected(if head == Some(&b'<') {
                BodyKind::Html
            } else {
                BodyKind::NotJson
            }));
        }
    };
    let Value::Object(obj) = v else { return Err(unexpected(BodyKind::NoEnvelope)) };
    if let Some(code) = obj.get("error") {
        let code = match code {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(unexpected(BodyKind::NoEnvelope)),
        };
        let description =
            obj.get("error_description").and_then(Value::as_str).unwrap_or("").to_owned();
        let reset_at = time_of(obj.get("time")).and_then(|t| t.operating_reset_at);
        return Err(Failure {
            error: Error::Api { code: ErrorCode::parse(&code), description, status },
            reset_at,
        });
    }
    let Some(result) = obj.get("result") else { return Err(unexpected(BodyKind::NoEnvelope)) };
    Ok(Envelope {
        result: result.clone(),
        total: flex_u64(obj.get("total")),
        next: flex_u64(obj.get("next")),
        time: time_of(obj.get("time")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_with_list_fields() {
        let e = parse(
            200,
            br#"{"result":[{"ID":"1"}],"total":"120","next":50,"time":{"start":1.5,"operating":3.31,"operating_reset_at":1778747792}}"#,
        )
        .unwrap();
        assert_eq!((e.total, e.next), (Some(120), Some(50)));
        assert_eq!(e.time.unwrap().operating_reset_at, Some(1778747792));
    }

    #[test]
    fn errors_and_garbage() {
        let e = parse_inner(429, br#"{"error":"operation_time_limit","error_description":"x","time":{"operating_reset_at":99}}"#)
            .unwrap_err();
        assert_eq!(e.reset_at, Some(99));
        assert!(matches!(
            e.error,
            Error::Api { code: ErrorCode::OperationTimeLimit, status: 429, .. }
        ));
        assert!(matches!(
            parse(502, b"  <html>bad gateway"),
            Err(Error::UnexpectedBody { kind: BodyKind::Html, .. })
        ));
        assert!(matches!(
            parse(200, br#"{"result":[1,2"#),
            Err(Error::UnexpectedBody { kind: BodyKind::NotJson, .. })
        ));
        assert!(matches!(
            parse(200, br#"{"nothing":1}"#),
            Err(Error::UnexpectedBody { kind: BodyKind::NoEnvelope, .. })
        ));
        assert!(matches!(
            parse(200, b"[]"),
            Err(Error::UnexpectedBody { kind: BodyKind::NoEnvelope, .. })
        ));
        assert!(matches!(
            parse(200, b""),
            Err(Error::UnexpectedBody { kind: BodyKind::NotJson, .. })
        ));
    }
}
