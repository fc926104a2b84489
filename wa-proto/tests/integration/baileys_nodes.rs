//! Replays Baileys' encodings committed in `tests/vectors/nodes/baileys.jsonl` (written by
//! `node interop/checks/nodes.mjs --write-vectors` against the pinned Baileys), so that the rust
//! suite checks the codec against the peer without Node.
//!
//! Each line holds a typed tree (`node`), Baileys' bytes for it (`baileys`; large binaries as
//! seeds), Baileys' own decoding of those bytes (`tree`), Baileys' decoding of *our* bytes where
//! that differs (`expected`), and the differences between our bytes and Baileys' (`diffs` for our
//! encoding of `node`, `rediffs` for our re-encoding of what we decoded), each one a kind listed in
//! `node_json::DIFFERENCES` and re-checked here item by item on the wire.

use std::{collections::BTreeSet, sync::OnceLock};

use serde_json::Value;
use wa_proto::{decode, encode};

use crate::node_json::{
    DIFFERENCES, bytes_of, compare_trees, explain, normalize, render, typed_node,
};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/nodes/baileys.jsonl");

struct Vector {
    id: u64,
    kind: String,
    node: Value,
    baileys: Vec<u8>,
    tree: Value,
    expected: Value,
    diffs: Vec<String>,
    rediffs: Vec<String>,
}

struct Vectors {
    header: Value,
    all: Vec<Vector>,
}

fn strings(value: &Value) -> Vec<String> {
    let items = value.as_array().expect("a list of names");
    items.iter().map(|item| item.as_str().expect("a name").to_owned()).collect()
}

fn vectors() -> &'static Vectors {
    static VECTORS_ONCE: OnceLock<Vectors> = OnceLock::new();
    VECTORS_ONCE.get_or_init(|| {
        let text = std::fs::read_to_string(VECTORS).expect("the committed vectors");
        let mut lines = text.lines().filter(|line| !line.trim().is_empty());
        let header: Value = serde_json::from_str(lines.next().expect("a header")).unwrap();
        let all = lines
            .map(|line| {
                let v: Value = serde_json::from_str(line).unwrap();
                let tree = normalize(&v["tree"]).unwrap();
                let expected = match v.get("expected") {
                    Some(expected) => normalize(expected).unwrap(),
                    None => tree.clone(),
                };
                Vector {
                    id: v["id"].as_u64().unwrap(),
                    kind: v["kind"].as_str().unwrap().to_owned(),
                    baileys: bytes_of(&v["baileys"]).unwrap(),
                    node: v["node"].clone(),
                    tree,
                    expected,
                    diffs: strings(&v["diffs"]),
                    rediffs: strings(&v["rediffs"]),
                }
            })
            .collect();
        Vectors { header, all }
    })
}

/// Runs `check` on every vector and fails once, listing every vector that failed.
fn each(check: impl Fn(&Vector) -> Result<(), String>) {
    let failures: Vec<String> = vectors()
        .all
        .iter()
        .filter_map(|v| check(v).err().map(|e| format!("vector {} ({}): {e}", v.id, v.kind)))
        .collect();
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn the_vectors_cover_the_corpus() {
    let Vectors { header, all } = vectors();
    assert_eq!(header["peer"], "@whiskeysockets/baileys@7.0.0-rc14");
    assert_eq!(header["vectors"].as_u64(), Some(all.len() as u64));
    assert!(all.len() >= 1000, "only {} vectors", all.len());

    let kinds: BTreeSet<&str> = all.iter().map(|v| v.kind.as_str()).collect();
    for kind in [
        "messageOut",
        "messageIn",
        "receipt",
        "usyncQuery",
        "usyncResult",
        "notification",
        "ack",
        "success",
        "failure",
        "streamError",
        "presence",
        "pairDevice",
        "pairSuccess",
        "iqResult",
        "random",
        "jid-forms",
        "tokens",
        "sizes",
    ] {
        assert!(kinds.contains(kind), "no {kind} vector");
    }

    // Every allowed difference occurs, so none of them is a rule that never ran.
    let seen: BTreeSet<&str> =
        all.iter().flat_map(|v| v.diffs.iter().chain(&v.rediffs)).map(String::as_str).collect();
    for (name, _) in DIFFERENCES {
        assert!(seen.contains(name), "no vector shows {name}");
    }
    assert!(seen.iter().all(|name| DIFFERENCES.iter().any(|(known, _)| known == name)));

    // Every JID server, as a typed JID.
    let text: String = all.iter().map(|v| v.node.to_string()).collect();
    for server in [
        "s.whatsapp.net",
        "lid",
        "g.us",
        "broadcast",
        "newsletter",
        "c.us",
        "hosted",
        "hosted.lid",
        "msgr",
        "interop",
        "bot",
    ] {
        assert!(text.contains(&format!("\"server\":\"{server}\"")), "no {server} JID");
    }
    // Lists and binaries of every size class.
    let frames = || all.iter().map(|v| v.baileys.as_slice());
    assert!(frames().any(|b| b.len() > 1 << 20), "a binary over 1 MiB (BINARY_32)");
    assert!(frames().any(|b| b.windows(2).any(|w| w[0] == 0xfd)), "BINARY_20");
    assert!(frames().any(|b| b.contains(&0xf9)), "LIST_16");
}

#[test]
fn we_decode_baileys_bytes_to_the_tree_baileys_decodes() {
    each(|v| {
        let decoded = decode(&v.baileys).map_err(|e| format!("decode: {e}"))?;
        let found = compare_trees(&render(&decoded), &v.tree).map_err(|e| format!("{e:#}"))?;
        // `compare_trees` allows only the device-less msgr/interop pair; such a JID came as a
        // pair, and re-encoding it must then show the same difference on the wire.
        let pairs = v.rediffs.iter().filter(|d| *d == "device-less-fb-interop-pair").count();
        if found.len() != pairs {
            return Err(format!("{} tree differences but {pairs} on the wire", found.len()));
        }
        Ok(())
    });
}

#[test]
fn our_encoding_differs_from_baileys_only_as_listed() {
    each(|v| {
        let node = typed_node(&v.node).map_err(|e| format!("{e:#}"))?;
        let ours = encode(&node).map_err(|e| format!("encode: {e}"))?;
        let found = explain(&ours, &v.baileys).map_err(|e| format!("{e:#}"))?;
        if found != v.diffs {
            return Err(format!("differences {found:?}, recorded {:?}", v.diffs));
        }
        // What Baileys read from our bytes when the vectors were written, we read too.
        let ours_decoded = decode(&ours).map_err(|e| format!("decode ours: {e}"))?;
        let found = compare_trees(&render(&ours_decoded), &v.expected)
            .map_err(|e| format!("our bytes: {e:#}"))?;
        if !found.is_empty() {
            return Err(format!("our bytes read back with {found:?}"));
        }
        Ok(())
    });
}

#[test]
fn reencoding_what_we_decoded_differs_only_as_listed() {
    each(|v| {
        let decoded = decode(&v.baileys).map_err(|e| format!("decode: {e}"))?;
        let ours = encode(&decoded).map_err(|e| format!("encode: {e}"))?;
        let found = explain(&ours, &v.baileys).map_err(|e| format!("{e:#}"))?;
        if found != v.rediffs {
            return Err(format!("differences {found:?}, recorded {:?}", v.rediffs));
        }
        Ok(())
    });
}
