//! `batch`: up to 50 commands per request, `$result[...]` references, `halt`; longer batches are
//! cut into chunks of 50 that run in order.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::{
    client::{CallOptions, Portal},
    error::{Error, ErrorCode, Result},
    form,
    limits::is_idempotent,
    quirks::empty_to_object,
};

/// Commands per `batch` request (Bitrix24's limit).
pub const BATCH_LIMIT: usize = 50;

/// A list of commands sent with `batch`.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    halt: bool,
    commands: Vec<(String, String, Value)>,
}

/// A reference to an earlier command's result, for use as a parameter value:
/// `result_ref("contacts", &["0", "ID"])` is `$result[contacts][0][ID]`.
pub fn result_ref(key: &str, path: &[&str]) -> String {
    let mut s = format!("$result[{key}]");
    for p in path {
        s.push('[');
        s.push_str(p);
        s.push(']');
    }
    s
}

/// What a batch returned, keyed by command key.
#[derive(Debug, Clone, Default)]
pub struct BatchResult {
    /// Results of the commands that succeeded.
    pub results: BTreeMap<String, Value>,
    /// Errors of the commands that failed ([`Error::Api`]).
    pub errors: BTreeMap<String, Error>,
    /// `total` of list commands.
    pub totals: BTreeMap<String, u64>,
    /// `next` of list commands.
    pub nexts: BTreeMap<String, u64>,
    /// Keys of commands that were never sent because an earlier chunk failed under `halt`.
    pub not_sent: Vec<String>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops at the first failing command (use it for chains of references).
    pub fn halt(mut self, halt: bool) -> Self {
        self.halt = halt;
        self
    }

    /// Adds a command under `key`.
    pub fn add(mut self, key: impl Into<String>, method: impl Into<String>, params: Value) -> Self {
        self.commands.push((key.into(), method.into(), params));
        self
    }

    /// Adds a command under `key` (by reference).
    pub fn push(&mut self, key: impl Into<String>, method: impl Into<String>, params: Value) {
        self.commands.push((key.into(), method.into(), params));
    }

    /// Number of commands.
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// True when the batch has no command.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }
}

/// Replaces `$result[key]...` references to commands of earlier chunks with their values.
fn substitute(s: &str, done: &BTreeMap<String, Value>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("$result[") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + "$result".len()..];
        let mut segs = Vec::new();
        let mut t = tail;
        while let Some(inner) = t.strip_prefix('[') {
            let Some(end) = inner.find(']') else { break };
            segs.push(&inner[..end]);
            t = &inner[end + 1..];
        }
        let consumed = tail.len() - t.len() + "$result".len();
        let resolved = segs.split_first().and_then(|(key, path)| {
            let mut v = done.get(*key)?;
            for p in path {
                v = match v {
                    Value::Object(m) => m.get(*p)?,
                    Value::Array(a) => a.get(p.parse::<usize>().ok()?)?,
                    _ => return None,
                };
            }
            match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_owned()),
                _ => None,
            }
        });
        match resolved {
            Some(r) => out.push_str(&r),
            None => out.push_str(&rest[i..i + consumed]),
        }
        rest = &rest[i + consumed..];
    }
    out.push_str(rest);
    out
}

fn substitute_value(v: &Value, done: &BTreeMap<String, Value>) -> Value {
    match v {
        Value::String(s) if s.contains("$result[") => Value::String(substitute(s, done)),
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute_value(x, done)).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, x)| (k.clone(), substitute_value(x, done))).collect())
        }
        other => other.clone(),
    }
}

/// The `cmd` string of one command: `method?query`.
pub fn command_string(method: &str, params: &Value) -> String {
    let q = form::encode(params);
    if q.is_empty() { method.to_owned() } else { format!("{method}?{q}") }
}

impl Portal {
    /// Runs a batch, 50 commands per request, chunks in order. References to commands of an
    /// earlier chunk are resolved here; within a chunk Bitrix24 resolves them. A batch is sent
    /// again after a timeout only if every command in it is idempotent.
    pub async fn batch(&self, batch: &Batch) -> Result<BatchResult> {
        let mut out = BatchResult::default();
        let mut chunks = batch.commands.chunks(BATCH_LIMIT);
        while let Some(chunk) = chunks.next() {
            let mut cmd = serde_json::Map::new();
            for (key, method, params) in chunk {
                let params = substitute_value(params, &out.results);
                cmd.insert(key.clone(), Value::String(command_string(method, &params)));
            }
            let idempotent = chunk.iter().all(|(_, m, _)| is_idempotent(m));
            let env = self
                .call_with(
                    "batch",
                    json!({"halt": if batch.halt { 1 } else { 0 }, "cmd": cmd}),
                    CallOptions { idempotent: Some(idempotent) },
                )
                .await?;
            let Value::Object(mut r) = env.result else {
                return Err(Error::Decode {
                    what: "batch result",
                    message: "not an object".to_owned(),
                });
            };
            let mut take = |k: &str| empty_to_object(r.remove(k).unwrap_or(Value::Null));
            for (k, v) in take("result") {
                out.results.insert(k, v);
            }
            let errors = take("result_error");
            let failed = !errors.is_empty();
            for (k, v) in errors {
                let code = v.get("error").and_then(Value::as_str).unwrap_or("");
                let description =
                    v.get("error_description").and_then(Value::as_str).unwrap_or("").to_owned();
                let code = ErrorCode::parse(code);
                let status = code.http_status();
                out.errors.insert(k, Error::Api { code, description, status });
            }
            for (k, v) in take("result_total") {
                if let Some(n) = crate::quirks::Id::from_value(&v) {
                    out.totals.insert(k, n.0);
                }
            }
            for (k, v) in take("result_next") {
                if let Some(n) = crate::quirks::Id::from_value(&v) {
                    out.nexts.insert(k, n.0);
                }
            }
            if failed && batch.halt {
                out.not_sent = chunks.flatten().map(|(k, _, _)| k.clone()).collect();
                break;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_to_earlier_chunks_are_resolved() {
        let mut done = BTreeMap::new();
        done.insert("c".to_owned(), json!([{"ID": "7"}]));
        done.insert("n".to_owned(), json!(12));
        assert_eq!(substitute("$result[c][0][ID]", &done), "7");
        assert_eq!(substitute("x $result[n] y $result[zz][1]", &done), "x 12 y $result[zz][1]");
        assert_eq!(substitute("$result[c][", &done), "$result[c][");
        assert_eq!(result_ref("c", &["0", "ID"]), "$result[c][0][ID]");
        assert_eq!(command_string("user.get", &json!({"ID": 1})), "user.get?ID=1");
        assert_eq!(command_string("user.current", &json!({})), "user.current");
    }
}
