//! Difference 6 of issue 17: with a state file, accounts, devices, prekeys and queued stanzas
//! survive a restart, so a linked device logs in again without a new QR scan.

use std::{path::PathBuf, sync::Arc};

use rand::{SeedableRng as _, rngs::StdRng};
use wa_session::KeyPair;
use wa_sim::{ManualClock, STATE_VERSION, Sim, SimConfig};

use super::{BOB, NOW, PHONE, login, new_companion, pair, text_message};

fn config(seed: u64) -> SimConfig {
    SimConfig { seed: Some(seed), clock: Arc::new(ManualClock::new(NOW)), ..SimConfig::default() }
}

/// A fresh folder for one test's state file.
fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wa-sim-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn accounts_devices_and_queues_survive_a_restart() {
    let dir = folder("restart");
    let path = dir.join("state.json");
    let before = Sim::open_state(config(31), &path).unwrap(); // no file yet: a new simulator
    before.create_account(PHONE, Some("100200300400500")).unwrap();
    before.create_account(BOB, Some("900800700600500")).unwrap();
    let addr = before.serve_ws("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = format!("ws://{addr}/ws/chat");
    let mut rng = StdRng::seed_from_u64(32);
    let (alice, bob) = (new_companion(&mut rng), new_companion(&mut rng));
    assert_eq!(pair(&before, &url, &alice, PHONE).await, 1);
    assert_eq!(pair(&before, &url, &bob, BOB).await, 1);
    // Bob's companion is offline: Alice's message waits in its queue.
    let (mut a, _, _) = login(&before, &url, &alice, PHONE).await;
    a.send(&text_message(
        "Q1",
        "15550004444@s.whatsapp.net",
        &["15550004444:1@s.whatsapp.net"],
        b"queued",
    ))
    .await;
    assert_eq!(a.recv().await.tag, "ack");
    before.save_state(&path).unwrap();
    assert!(!dir.join("state.json.tmp").exists(), "the temporary file was renamed");

    // The restarted simulator: same root and static key, same accounts and devices.
    let after = Sim::open_state(config(33), &path).unwrap();
    assert_eq!(after.root_key(), before.root_key());
    assert_eq!(after.static_key(), before.static_key());
    assert_eq!(after.accounts(), before.accounts());
    let devices = |sim: &Sim, phone| {
        sim.devices(phone)
            .unwrap()
            .into_iter()
            .map(|d| (d.device, d.jid, d.lid, d.platform, d.removed, d.queued))
            .collect::<Vec<_>>()
    };
    assert_eq!(devices(&after, BOB), devices(&before, BOB));
    assert_eq!(devices(&after, PHONE), devices(&before, PHONE));
    // The phone's prekeys are published anew (its sessions are not kept), as many as before.
    let prekeys = |sim: &Sim| sim.devices(PHONE).unwrap()[0].prekeys;
    assert_eq!(prekeys(&after), prekeys(&before));

    // The linked devices log in with their keys, no QR; Bob gets the queued message.
    let addr = after.serve_ws("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = format!("ws://{addr}/ws/chat");
    let (_a, queued, count) = login(&after, &url, &alice, PHONE).await;
    assert_eq!((queued.len(), count), (0, 0));
    let (_b, queued, count) = login(&after, &url, &bob, BOB).await;
    assert_eq!(count, 1);
    assert_eq!(queued[0].attr_str("id").unwrap(), "Q1");
    assert_eq!(queued[0].child("enc").unwrap().content_bytes().unwrap(), b"queued");
    // An account made after the restart gets keys of its own, though the seed is the same.
    let before_seeded = Sim::open_state(config(31), &path).unwrap();
    let fresh = before_seeded.create_account("15550009999", None).unwrap();
    assert!(before.accounts().iter().all(|a| a.identity_key != fresh.identity_key));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_state_file_of_another_version_or_malformed_is_refused_and_kept() {
    let dir = folder("refused");
    let path = dir.join("state.json");
    let sim = Sim::new(config(34));
    sim.save_state(&path).unwrap();
    let mut file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    file["version"] = (STATE_VERSION + 1).into();
    let newer = serde_json::to_vec(&file).unwrap();
    std::fs::write(&path, &newer).unwrap();
    let error = Sim::open_state(config(34), &path).err().unwrap().to_string();
    assert!(error.contains("version"), "{error}");
    std::fs::write(&path, b"{ not json").unwrap();
    assert!(Sim::open_state(config(34), &path).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), b"{ not json");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The state file format (prekey lists cut to two entries for the snapshot's length).
#[test]
fn state_file_format() {
    let dir = folder("format");
    let path = dir.join("state.json");
    let sim = Sim::new(config(35));
    sim.create_account(PHONE, Some("100200300400500")).unwrap();
    let mut rng = StdRng::seed_from_u64(36);
    let noise = KeyPair::generate(&mut rng);
    let identity = KeyPair::generate(&mut rng);
    assert_eq!(sim.register_companion(PHONE, noise.public, identity.public, 77).unwrap(), 1);
    sim.save_state(&path).unwrap();
    let mut file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for account in file["accounts"].as_array_mut().unwrap() {
        for device in account["devices"].as_array_mut().unwrap() {
            let prekeys = device["prekeys"].as_object_mut().unwrap();
            let keep: Vec<String> = prekeys.keys().take(2).cloned().collect();
            prekeys.retain(|k, _| keep.contains(k));
        }
    }
    insta::assert_json_snapshot!(file);
    std::fs::remove_dir_all(&dir).unwrap();
}
