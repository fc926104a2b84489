//! PHP-style form bodies: `auth[access_token]=...&data[MESSAGES][0][im][chat_id]=1807`.
//!
//! Bitrix24 sends events and install callbacks in this shape and reads batch commands in it.
//! [`parse`] turns such a body into a JSON tree; [`encode`] does the reverse.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Limits for [`parse`]; untrusted bodies are refused beyond them.
#[derive(Debug, Clone, Copy)]
pub struct FormLimits {
    /// Maximum number of `key=value` pairs.
    pub max_pairs: usize,
    /// Maximum bracket depth of one key.
    pub max_depth: usize,
    /// Maximum body length in bytes.
    pub max_len: usize,
}

impl Default for FormLimits {
    fn default() -> Self {
        FormLimits { max_pairs: 10_000, max_depth: 12, max_len: 4 << 20 }
    }
}

/// Splits `a[b][c]` into `["a", "b", "c"]`; `a[]` gives an empty last segment (append).
/// Like PHP, a key whose brackets do not close keeps the rest as part of the last segment.
fn split_key(key: &str, max_depth: usize) -> Result<Vec<String>> {
    let (head, mut rest) = match key.find('[') {
        Some(i) if i > 0 => (&key[..i], &key[i..]),
        _ => return Ok(vec![key.to_owned()]),
    };
    let mut segs = vec![head.to_owned()];
    while let Some(stripped) = rest.strip_prefix('[') {
        match stripped.find(']') {
            Some(end) => {
                segs.push(stripped[..end].to_owned());
                rest = &stripped[end + 1..];
            }
            None => break,
        }
        if segs.len() > max_depth {
            return Err(Error::Form(format!("key nested deeper than {max_depth}")));
        }
    }
    Ok(segs)
}

fn insert(node: &mut Value, segs: &[String], value: String) {
    let Some((first, rest)) = segs.split_first() else {
        *node = Value::String(value);
        return;
    };
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    let Value::Object(map) = node else { return };
    let key = if first.is_empty() { map.len().to_string() } else { first.clone() };
    let child = map.entry(key).or_insert(Value::Null);
    insert(child, rest, value);
}

/// Turns objects whose keys are exactly `"0"`..`"n-1"` into arrays, as PHP's `json_encode` does.
fn normalize(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let sequential = !map.is_empty()
                && map.keys().all(|k| k.parse::<usize>().is_ok_and(|i| i < map.len()))
                && map
                    .keys()
                    .all(|k| k == &k.parse::<usize>().map(|i| i.to_string()).unwrap_or_default());
            if sequential {
                let mut items: Vec<(usize, Value)> = map
                    .into_iter()
                    .filter_map(|(k, v)| k.parse::<usize>().ok().map(|i| (i, normalize(v))))
                    .collect();
                items.sort_by_key(|(i, _)| *i);
                Value::Array(items.into_iter().map(|(_, v)| v).collect())
            } else {
                Value::Object(map.into_iter().map(|(k, v)| (k, normalize(v))).collect())
            }
        }
        other => other,
    }
}

/// Parses a form body (or a query string) into a JSON tree of objects, arrays and strings.
pub fn parse(body: &[u8], limits: FormLimits) -> Result<Value> {
    if body.len() > limits.max_len {
        return Err(Error::Form(format!("body longer than {} bytes", limits.max_len)));
    }
    let mut root = Value::Object(Map::new());
    for (n, (k, v)) in form_urlencoded::parse(body).enumerate() {
        if n >= limits.max_pairs {
            return Err(Error::Form(format!("more than {} fields", limits.max_pairs)));
        }
        if k.is_empty() {
            continue;
        }
        let segs = split_key(&k, limits.max_depth)?;
        insert(&mut root, &segs, v.into_owned());
    }
    Ok(normalize(root))
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&format!("{prefix}[{k}]"), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        other => {
            if let Some(s) = scalar(other) {
                out.push((prefix.to_owned(), s));
            }
        }
    }
}

/// The `key=value` pairs of a JSON object in PHP's bracket notation (`null` is left out,
/// booleans become `1`/`0`).
pub fn pairs(params: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Value::Object(map) = params {
        for (k, v) in map {
            match v {
                Value::Object(_) | Value::Array(_) => flatten(k, v, &mut out),
                other => {
                    if let Some(s) = scalar(other) {
                        out.push((k.clone(), s));
                    }
                }
            }
        }
    }
    out
}

/// Encodes a JSON object as a PHP-style query string.
pub fn encode(params: &Value) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs(params) {
        ser.append_pair(&k, &v);
    }
    ser.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_brackets_into_a_tree() {
        let body =
            b"event=ONIMCONNECTORMESSAGEADD&data[LINE]=107&data[MESSAGES][0][im][chat_id]=1807\
&data[MESSAGES][0][message][files][0][name]=a.jpg&data[MESSAGES][0][message][files][1][name]=b.pdf\
&auth[member_id]=m1&list[]=x&list[]=y&broken[a=1";
        let v = parse(body, FormLimits::default()).unwrap();
        assert_eq!(v["data"]["LINE"], "107");
        assert_eq!(v["data"]["MESSAGES"][0]["im"]["chat_id"], "1807");
        assert_eq!(v["data"]["MESSAGES"][0]["message"]["files"][1]["name"], "b.pdf");
        assert_eq!(v["list"], json!(["x", "y"]));
        assert_eq!(v["auth"]["member_id"], "m1");
        assert_eq!(v["broken"], "1"); // an unclosed bracket ends the key
    }

    #[test]
    fn non_sequential_numeric_keys_stay_objects() {
        let v = parse(b"a[5]=x&a[7]=y&b[0]=p&b[01]=q", FormLimits::default()).unwrap();
        assert!(v["a"].is_object());
        assert!(v["b"].is_object());
    }

    #[test]
    fn limits_are_enforced() {
        let deep = format!("a{}=1", "[x]".repeat(40));
        assert!(matches!(parse(deep.as_bytes(), FormLimits::default()), Err(Error::Form(_))));
        let many = "a=1&".repeat(20);
        let l = FormLimits { max_pairs: 10, ..FormLimits::default() };
        assert!(matches!(parse(many.as_bytes(), l), Err(Error::Form(_))));
    }

    #[test]
    fn encode_then_parse_round_trips() {
        let p = json!({"filter": {">ID": 10, "NAME": "A & B"}, "select": ["ID", "NAME"], "halt": true, "skip": null});
        let s = encode(&p);
        assert!(s.contains("filter%5B%3EID%5D=10"));
        let back = parse(s.as_bytes(), FormLimits::default()).unwrap();
        assert_eq!(
            back,
            json!({"filter": {">ID": "10", "NAME": "A & B"}, "select": ["ID", "NAME"], "halt": "1"})
        );
    }
}
