//! Replays every committed fuzz seed and saved crash input through the library's harnesses, so the
//! properties the fuzzer checks hold in every ordinary test run.

use std::{
    fs,
    panic::{AssertUnwindSafe, catch_unwind},
    path::{Path, PathBuf},
};

use wa_proto::fuzzing;

fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "artifacts"] {
        if let Ok(entries) = fs::read_dir(fuzz.join(dir).join(target)) {
            files.extend(entries.map(|entry| entry.unwrap().path()).filter(|path| path.is_file()));
        }
    }
    files.sort();
    files
}

fn replay(target: &str, harness: fn(&[u8]), minimum: usize) {
    let files = inputs(target);
    assert!(
        files.len() >= minimum,
        "{target}: expected at least {minimum} seeds, found {}",
        files.len()
    );
    let failures: Vec<String> = files
        .iter()
        .filter(|path| {
            let data = fs::read(path).unwrap();
            catch_unwind(AssertUnwindSafe(|| harness(&data))).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(failures.is_empty(), "{target}: harness failed on {failures:#?}");
}

#[test]
fn decode_node_seeds() {
    replay("decode_node", fuzzing::decode_node, 10);
}

#[test]
fn parse_jid_seeds() {
    replay("parse_jid", fuzzing::parse_jid, 10);
}

#[test]
fn baileys_seed_frames_all_decode() {
    // The decode_node seeds were encoded by Baileys: each must decode, not just not panic.
    for path in inputs("decode_node").iter().filter(|path| path.starts_with(seed_dir())) {
        let data = fs::read(path).unwrap();
        if let Err(error) = wa_proto::decode(&data) {
            panic!("{}: {error}", path.display());
        }
    }
}

fn seed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/decode_node")
}
