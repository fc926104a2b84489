//! The Rust half of `interop/checks/nodes.mjs`.
//!
//! Reads JSON lines `{"node": typed tree, "baileys": base64 of Baileys' encoding of it}` from the
//! file named by the first argument (or stdin) and writes, first, one line
//! `{"differences": [[name, reason], ...]}`, then one line per input line:
//!
//! - `decoded`: our decoding of Baileys' bytes, rendered the way Baileys prints it (or
//!   `decode_error`);
//! - `ours`: base64 of our encoding of the typed tree (or `encode_error`), and `diffs`: the
//!   explained differences from Baileys' bytes (or `diffs_error` for one that is not explained);
//! - `reencoded`, `rediffs` (or `rediffs_error`): the same for our encoding of what we decoded.
//!
//! The JSON forms, the rendering and the explanations live in `tests/integration/node_json.rs`,
//! shared with the replay test.

use std::io::{BufRead as _, BufReader, BufWriter, Read, Write as _};

use anyhow::{Context as _, Result};
use serde_json::{Map, Value, json};

#[allow(dead_code, reason = "the tree comparison is for the replay test; the check compares in JS")]
#[path = "../tests/integration/node_json.rs"]
mod node_json;

fn main() -> Result<()> {
    let input: Box<dyn Read> = match std::env::args().nth(1) {
        Some(path) => Box::new(std::fs::File::open(&path).with_context(|| path.clone())?),
        None => Box::new(std::io::stdin()),
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let differences: Vec<Value> =
        node_json::DIFFERENCES.iter().map(|(name, reason)| json!([name, reason])).collect();
    writeln!(out, "{}", json!({ "differences": differences }))?;
    for line in BufReader::new(input).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let result = match serde_json::from_str::<Value>(&line) {
            Ok(vector) => process(&vector),
            Err(error) => json!({ "error": format!("input line: {error}") }),
        };
        writeln!(out, "{result}")?;
    }
    out.flush()?;
    Ok(())
}

fn process(vector: &Value) -> Value {
    let mut out = Map::new();
    let baileys = match node_json::bytes_of(&vector["baileys"]) {
        Ok(bytes) => bytes,
        Err(error) => return json!({ "error": format!("baileys bytes: {error:#}") }),
    };
    match wa_proto::decode(&baileys) {
        Ok(decoded) => {
            out.insert("decoded".into(), node_json::render(&decoded));
            encoded(&mut out, wa_proto::encode(&decoded), &baileys, "reencoded", "rediffs");
        }
        Err(error) => {
            out.insert("decode_error".into(), error.to_string().into());
        }
    }
    match node_json::typed_node(&vector["node"]) {
        Ok(node) => encoded(&mut out, wa_proto::encode(&node), &baileys, "ours", "diffs"),
        Err(error) => {
            out.insert("error".into(), format!("typed node: {error:#}").into());
        }
    }
    Value::Object(out)
}

fn encoded(
    out: &mut Map<String, Value>,
    result: wa_proto::Result<Vec<u8>>,
    baileys: &[u8],
    name: &str,
    diffs: &str,
) {
    match result {
        Ok(bytes) => {
            match node_json::explain(&bytes, baileys) {
                Ok(found) => out.insert(diffs.into(), json!(found)),
                Err(error) => out.insert(format!("{diffs}_error"), format!("{error:#}").into()),
            };
            out.insert(name.into(), node_json::base64(&bytes).into());
        }
        Err(error) => {
            out.insert(format!("{name}_error"), error.to_string().into());
        }
    }
}
