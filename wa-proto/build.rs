//! Generates the token dictionary tables from `data/dictionary-v3.json` and compiles `proto/*.proto`
//! with protox + prost-build (pure Rust: no protoc binary).

use std::{env, fmt::Write as _, fs, path::PathBuf};

/// Slots in the generated open-addressing index; a power of two, well above the 1,260 tokens.
const INDEX_SLOTS: usize = 4096;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    generate_dictionary(&out_dir)?;
    compile_protos()?;
    Ok(())
}

/// FNV-1a; `src/token.rs` carries the same function for lookups.
fn fnv1a(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for &byte in bytes {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

fn generate_dictionary(out_dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo::rerun-if-changed=data/dictionary-v3.json");
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string("data/dictionary-v3.json")?)?;
    let strings = |value: &serde_json::Value| -> Result<Vec<String>, String> {
        value
            .as_array()
            .ok_or("expected an array")?
            .iter()
            .map(|token| {
                token.as_str().map(str::to_owned).ok_or_else(|| "expected a string".to_owned())
            })
            .collect()
    };
    let single = strings(&json["single_byte"])?;
    let double = json["double_byte"]
        .as_array()
        .ok_or("double_byte must be an array")?
        .iter()
        .map(strings)
        .collect::<Result<Vec<_>, _>>()?;
    if single.len() != 236 || double.len() != 4 || double.iter().any(|d| d.len() != 256) {
        return Err("dictionary v3 must have 236 single-byte and 4x256 double-byte tokens".into());
    }

    // Each slot holds 0 (empty) or 1 + the token's position in the concatenation single ++ double.
    let mut index = vec![0u16; INDEX_SLOTS];
    let all: Vec<&String> = single.iter().chain(double.iter().flatten()).collect();
    for (position, token) in all.iter().enumerate() {
        if token.is_empty() {
            continue; // "" is encoded as an empty binary, never as token 0.
        }
        let mut slot = fnv1a(token.as_bytes()) as usize & (INDEX_SLOTS - 1);
        while index[slot] != 0 {
            slot = (slot + 1) & (INDEX_SLOTS - 1);
        }
        index[slot] = u16::try_from(position + 1)?;
    }

    let mut code = String::new();
    writeln!(code, "/// Single-byte tokens of dictionary version 3 (index 0 is reserved).")?;
    writeln!(code, "pub(crate) static SINGLE_BYTE: [&str; {}] = {:?};", single.len(), single)?;
    writeln!(code, "/// The four double-byte dictionaries of version 3.")?;
    writeln!(code, "pub(crate) static DOUBLE_BYTE: [[&str; 256]; 4] = {:?};", double)?;
    writeln!(
        code,
        "/// Open-addressing index by FNV-1a: 0 = empty, else 1 + position in single ++ double."
    )?;
    writeln!(code, "pub(crate) static INDEX: [u16; {INDEX_SLOTS}] = {index:?};")?;
    fs::write(out_dir.join("dictionary_v3.rs"), code)?;
    Ok(())
}

fn compile_protos() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo::rerun-if-changed=proto");
    let mut files: Vec<PathBuf> = fs::read_dir("proto")?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "proto"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Ok(());
    }
    let descriptors = protox::compile(&files, ["proto"])?;
    // The descriptor set is kept too, so that tests can inspect messages by reflection.
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out_dir.join("file_descriptor_set.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    prost_build::Config::new().enable_type_names().compile_fds(descriptors)?;
    Ok(())
}
