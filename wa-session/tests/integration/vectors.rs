//! Replays vectors made by real peers (libsignal-node, @signalapp/libsignal-client, Baileys);
//! regenerate with `node interop/vectors/generate.mjs`.

use serde_json::Value;
use wa_session::{
    KeyPair, PrivateKey, PublicKey,
    media::{self, MediaInfo, MediaType},
    signal::{PreKeyRecord, SignedPreKeyRecord, cipher},
    store::{
        MemoryStore, PreKeyStore, ProtocolAddress, SenderKeyName, SignedPreKeyStore,
        conformance::{TestRng, block_on},
    },
};

fn load(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn bytes(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().unwrap()).unwrap()
}

fn array32(value: &Value) -> [u8; 32] {
    bytes(value).try_into().unwrap()
}

#[test]
fn xeddsa_and_x25519_from_peers() {
    let file = load("xeddsa.json");
    let signatures = file["signatures"].as_array().unwrap();
    assert!(signatures.len() >= 32);
    for vector in signatures {
        let key = PublicKey::from_slice(&bytes(&vector["public"])).unwrap();
        let message = bytes(&vector["message"]);
        let mut signature = bytes(&vector["signature"]);
        assert_eq!(key.verify(&message, &signature), Ok(()), "{}", vector["source"]);
        signature[10] ^= 4;
        assert!(key.verify(&message, &signature).is_err());
    }
    for vector in file["agreements"].as_array().unwrap() {
        let private = PrivateKey::from_bytes(array32(&vector["private"]));
        let public = PublicKey::from_slice(&bytes(&vector["public"])).unwrap();
        assert_eq!(private.agree(&public).to_vec(), bytes(&vector["shared"]));
    }
}

#[test]
fn media_from_baileys() {
    for vector in load("media.json").as_array().unwrap() {
        let ty = MediaType::from_name(vector["type"].as_str().unwrap()).unwrap();
        let key = array32(&vector["media_key"]);
        let blob = bytes(&vector["blob"]);
        let plain = bytes(&vector["plain"]);
        let info = MediaInfo {
            file_sha256: array32(&vector["file_sha256"]),
            file_enc_sha256: array32(&vector["file_enc_sha256"]),
            file_length: plain.len() as u64,
        };
        assert_eq!(media::decrypt(&key, ty, &blob, Some(&info)).unwrap(), plain);
        // Same key, same plaintext: our encryption is byte-identical to Baileys'.
        assert_eq!(media::encrypt(&key, ty, &plain), (blob, info));
    }
}

#[test]
fn a_libsignal_node_session_replays() {
    let file = load("signal_session.json");
    let receiver = &file["receiver"];
    let identity =
        KeyPair::from_private(PrivateKey::from_bytes(array32(&receiver["identity_private"])));
    assert_eq!(identity.public.serialize().to_vec(), bytes(&receiver["identity_public"]));
    let store = MemoryStore::new(identity, receiver["registration_id"].as_u64().unwrap() as u32);
    let spk = &receiver["signed_pre_key"];
    let pk = &receiver["pre_key"];
    let mut rng = TestRng(1);
    block_on(async {
        store
            .save_signed_pre_key(&SignedPreKeyRecord {
                id: spk["id"].as_u64().unwrap() as u32,
                key_pair: KeyPair::from_private(PrivateKey::from_bytes(array32(&spk["private"]))),
                signature: bytes(&spk["signature"]).try_into().unwrap(),
                timestamp: 0,
            })
            .await
            .unwrap();
        store
            .save_pre_key(&PreKeyRecord {
                id: pk["id"].as_u64().unwrap() as u32,
                key_pair: KeyPair::from_private(PrivateKey::from_bytes(array32(&pk["private"]))),
            })
            .await
            .unwrap();
        let sender = ProtocolAddress::new("sender", 1);
        let messages = file["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 40);
        for message in messages {
            let body = bytes(&message["body"]);
            assert_eq!(message["type"], "pkmsg");
            let plain =
                cipher::decrypt_pre_key_message(&store, &sender, &body, &mut rng).await.unwrap();
            assert_eq!(plain, bytes(&message["plain"]));
        }
        assert!(store.pre_key(pk["id"].as_u64().unwrap() as u32).await.unwrap().is_none());
        let first = bytes(&messages[0]["body"]);
        assert!(cipher::decrypt_pre_key_message(&store, &sender, &first, &mut rng).await.is_err());
    });
}

#[test]
fn baileys_sender_keys_replay() {
    let file = load("sender_key.json");
    let store = MemoryStore::new(KeyPair::from_private(PrivateKey::from_bytes([3; 32])), 9);
    let name = SenderKeyName::new("120363@g.us", ProtocolAddress::new("sender", 0));
    block_on(async {
        cipher::process_sender_key_distribution(&store, &name, &bytes(&file["skdm"]))
            .await
            .unwrap();
        for message in file["messages"].as_array().unwrap() {
            let plain =
                cipher::group_decrypt(&store, &name, &bytes(&message["body"])).await.unwrap();
            assert_eq!(plain, bytes(&message["plain"]));
        }
        let replay = bytes(&file["messages"][0]["body"]);
        assert!(cipher::group_decrypt(&store, &name, &replay).await.is_err());
    });
}
