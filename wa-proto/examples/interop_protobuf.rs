//! The Rust side of `interop/checks/protobuf.mjs`: decodes protobuf values that Baileys encoded.
//!
//! Reads a JSON array of `{"type": "wa.e2e.Message", "hex": "0a02..."}` on stdin, decodes each with
//! our generated type, and writes a JSON array on stdout with one entry per input, in order:
//! `{"type", "hex_reencoded", "json"}` on success or `{"type", "error"}` when our type rejects it.

use std::io::{Read as _, Write as _};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

#[path = "../tests/integration/protobuf/roundtrip.rs"]
mod roundtrip;

fn main() -> anyhow::Result<()> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).context("reading stdin")?;
    let Value::Array(cases) = serde_json::from_str(&input).context("stdin is not JSON")? else {
        bail!("stdin must be a JSON array");
    };
    let pool = roundtrip::descriptor_pool().map_err(anyhow::Error::msg)?;
    let mut results = Vec::with_capacity(cases.len());
    for (index, case) in cases.iter().enumerate() {
        let type_name = case["type"].as_str().with_context(|| format!("case {index}: no type"))?;
        let hex_text = case["hex"].as_str().with_context(|| format!("case {index}: no hex"))?;
        let bytes = hex::decode(hex_text).with_context(|| format!("case {index}: bad hex"))?;
        results.push(match roundtrip::decode(&pool, type_name, &bytes) {
            Ok(decoded) => json!({
                "type": type_name,
                "hex_reencoded": hex::encode(&decoded.reencoded),
                "json": decoded.json,
            }),
            Err(error) => json!({ "type": type_name, "error": error }),
        });
    }
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, &results).context("writing stdout")?;
    writeln!(stdout).context("writing stdout")?;
    Ok(())
}
