//! Replays every committed fuzz seed and saved crash input through the library's harnesses, so the
//! properties the fuzzer checks hold in every ordinary test run; and checks that the committed
//! seeds are the ones the harnesses' fixed states expect (`WAB24_WRITE_SEEDS=1` rewrites them).

use std::{
    fs,
    panic::{AssertUnwindSafe, catch_unwind},
    path::{Path, PathBuf},
};

use serde_json::Value;
use wa_session::{fuzzing, signal::PreKeySignalMessage};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn inputs(target: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["corpus", "artifacts"] {
        if let Ok(entries) = fs::read_dir(fuzz_dir().join(dir).join(target)) {
            files.extend(entries.map(|entry| entry.unwrap().path()).filter(|path| path.is_file()));
        }
    }
    files.sort();
    files
}

fn replay(target: &str, harness: impl Fn(&[u8]), minimum: usize) {
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
fn signal_message_seeds_replay() {
    replay(
        "signal_message",
        |data| {
            let _ = fuzzing::signal_message(data);
        },
        6,
    );
}

#[test]
fn prekey_signal_message_seeds_replay() {
    replay(
        "prekey_signal_message",
        |data| {
            let _ = fuzzing::prekey_signal_message(data);
        },
        6,
    );
}

#[test]
fn sender_key_message_seeds_replay() {
    replay(
        "sender_key_message",
        |data| {
            let _ = fuzzing::sender_key_message(data);
        },
        6,
    );
}

#[test]
fn noise_frame_seeds_replay() {
    replay("noise_frame", fuzzing::noise_frame, 7);
}

#[test]
fn signal_actions_seeds_replay() {
    replay("signal_actions", fuzzing::signal_actions, 6);
}

fn vector(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

fn vector_bodies(name: &str, picks: &[usize]) -> Vec<Vec<u8>> {
    let file = vector(name);
    let messages = file["messages"].as_array().unwrap();
    picks
        .iter()
        .map(|&index| hex::decode(messages[index]["body"].as_str().unwrap()).unwrap())
        .collect()
}

/// A target, its seeds (file name, bytes), and whether they must decrypt.
type Seeds = (&'static str, Vec<(String, Vec<u8>)>, bool);

fn expected_seeds() -> Vec<Seeds> {
    let named = |prefix: &str, seeds: Vec<Vec<u8>>| -> Vec<(String, Vec<u8>)> {
        seeds.into_iter().enumerate().map(|(i, s)| (format!("{prefix}-{i:02}"), s)).collect()
    };
    // libsignal-node's pkmsgs; their enclosed msgs decrypt on the archived vector session.
    let node_pkmsgs = vector_bodies("signal_session.json", &[1, 2, 9, 20, 39]);
    let node_msgs = node_pkmsgs
        .iter()
        .map(|bytes| PreKeySignalMessage::deserialize(bytes).unwrap().message.serialized().to_vec())
        .collect();
    vec![
        (
            "signal_message",
            [named("ours", fuzzing::signal_message_seeds()), named("libsignal-node", node_msgs)]
                .concat(),
            true,
        ),
        (
            "prekey_signal_message",
            [
                named("ours", fuzzing::prekey_signal_message_seeds()),
                named("libsignal-node", node_pkmsgs),
            ]
            .concat(),
            true,
        ),
        (
            "sender_key_message",
            [
                named("ours", fuzzing::sender_key_message_seeds()),
                named("baileys", vector_bodies("sender_key.json", &[0, 1, 7, 30, 59])),
            ]
            .concat(),
            true,
        ),
        ("signal_actions", named("script", fuzzing::signal_actions_seeds()), false),
    ]
}

#[test]
fn committed_seeds_are_current_and_reach_decryption() {
    let write = std::env::var_os("WAB24_WRITE_SEEDS").is_some();
    for (target, seeds, must_decrypt) in expected_seeds() {
        let dir = fuzz_dir().join("corpus").join(target);
        for (name, bytes) in seeds {
            if must_decrypt {
                let decrypted = match target {
                    "signal_message" => fuzzing::signal_message(&bytes),
                    "prekey_signal_message" => fuzzing::prekey_signal_message(&bytes),
                    _ => fuzzing::sender_key_message(&bytes),
                };
                assert!(decrypted, "{target}/{name} does not decrypt against the fixed state");
            } else {
                fuzzing::signal_actions(&bytes);
            }
            let path = dir.join(&name);
            if write {
                fs::create_dir_all(&dir).unwrap();
                fs::write(&path, &bytes).unwrap();
            } else {
                let committed = fs::read(&path)
                    .unwrap_or_else(|e| panic!("{}: {e} (WAB24_WRITE_SEEDS=1)", path.display()));
                assert_eq!(committed, bytes, "{} is stale (WAB24_WRITE_SEEDS=1)", path.display());
            }
        }
    }
}

#[test]
fn message_stanza_seeds_replay() {
    replay(
        "message_stanza",
        |data| {
            let _ = fuzzing::message_stanza(data);
        },
        3,
    );
}

#[test]
fn message_stanza_seeds_are_current() {
    let write = std::env::var_os("WAB24_WRITE_SEEDS").is_some();
    let dir = fuzz_dir().join("corpus").join("message_stanza");
    let seeds = fuzzing::message_stanza_seeds();
    // Two messages that reach decryption, and a retry receipt that only the parsers read.
    let decrypted: Vec<bool> = seeds.iter().map(|seed| fuzzing::message_stanza(seed)).collect();
    assert_eq!(decrypted, [true, true, false]);
    for (index, bytes) in seeds.iter().enumerate() {
        let path = dir.join(format!("ours-{index:02}"));
        if write {
            fs::create_dir_all(&dir).unwrap();
            fs::write(&path, bytes).unwrap();
        } else {
            let committed = fs::read(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (WAB24_WRITE_SEEDS=1)", path.display()));
            assert_eq!(&committed, bytes, "{} is stale (WAB24_WRITE_SEEDS=1)", path.display());
        }
    }
}
