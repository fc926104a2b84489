//! Replays the protobuf values that Baileys (the real peer) encoded, without Node.
//!
//! `interop/checks/protobuf.mjs --write-vectors` writes `tests/vectors/protobuf/baileys.json`: an
//! array of `{type, name, hex, json}` where `hex` is Baileys' encoding and `json` Baileys' own reading
//! of it (protobufjs `toObject` with longs as strings, enums as names, bytes as base64). Vectors that
//! also carry fields outside our subset have `hex_known`: Baileys' encoding of the same value without
//! those fields, which is what we must produce after skipping them.
//!
//! For each vector our generated type must decode `hex` to the same JSON and re-encode it to
//! exactly Baileys' bytes. Byte identity holds because prost and protobufjs both write present fields
//! in field-number order, with minimal varints and packed repeated scalars where the schema says so.

mod roundtrip;

use anyhow::Context as _;
use prost::Message as _;
use serde_json::Value;
use wa_proto::proto::{adv, cert, decode_message, e2e, handshake, history, sync, web};

const VECTORS: &str = include_str!("../vectors/protobuf/baileys.json");

struct Vector {
    type_name: String,
    name: String,
    bytes: Vec<u8>,
    known: Vec<u8>,
    json: Value,
}

fn vectors() -> anyhow::Result<Vec<Vector>> {
    let all: Vec<Value> = serde_json::from_str(VECTORS).context("the vectors file is not JSON")?;
    all.into_iter()
        .enumerate()
        .map(|(index, vector)| {
            let text = |key: &str| {
                vector[key]
                    .as_str()
                    .map(str::to_owned)
                    .with_context(|| format!("vector {index} has no {key}"))
            };
            let bytes = hex::decode(text("hex")?)?;
            let known = match vector.get("hex_known") {
                Some(_) => hex::decode(text("hex_known")?)?,
                None => bytes.clone(),
            };
            Ok(Vector {
                type_name: text("type")?,
                name: text("name")?,
                bytes,
                known,
                json: vector["json"].clone(),
            })
        })
        .collect()
}

fn find(type_name: &str, name: &str) -> anyhow::Result<Vector> {
    vectors()?
        .into_iter()
        .find(|vector| vector.type_name == type_name && vector.name == name)
        .with_context(|| format!("no vector {type_name} {name:?}"))
}

#[test]
fn baileys_vectors_decode_to_the_same_json_and_reencode_byte_identically() {
    let pool = roundtrip::descriptor_pool().expect("descriptor set");
    let vectors = vectors().unwrap();
    assert!(vectors.len() >= 100, "only {} vectors", vectors.len());
    let mut failures = Vec::new();
    for (index, vector) in vectors.iter().enumerate() {
        let label = format!("[{index:03}] {} {}", vector.type_name, vector.name);
        match roundtrip::decode(&pool, &vector.type_name, &vector.bytes) {
            Err(error) => failures.push(format!("{label}: {error}")),
            Ok(decoded) => {
                if decoded.json != vector.json {
                    failures.push(format!(
                        "{label}: JSON differs\n  ours:    {}\n  Baileys: {}",
                        decoded.json, vector.json
                    ));
                }
                if decoded.reencoded != vector.known {
                    failures.push(format!(
                        "{label}: bytes differ\n  ours:    {}\n  Baileys: {}",
                        hex::encode(&decoded.reencoded),
                        hex::encode(&vector.known)
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} vectors failed:\n{}", failures.len(), vectors.len(), {
        failures.join("\n")
    });
}

#[test]
fn vectors_cover_every_type_and_skipped_fields() {
    let vectors = vectors().unwrap();
    for type_name in [
        "wa.handshake.HandshakeMessage",
        "wa.handshake.ClientPayload",
        "wa.cert.CertChain",
        "wa.cert.CertChain.NoiseCertificate.Details",
        "wa.companion.DeviceProps",
        "wa.adv.SignedDeviceIdentityHmac",
        "wa.adv.SignedDeviceIdentity",
        "wa.adv.DeviceIdentity",
        "wa.adv.KeyIndexList",
        "wa.adv.SignedKeyIndexList",
        "wa.common.MessageKey",
        "wa.e2e.Message",
        "wa.web.WebMessageInfo",
        "wa.history.HistorySync",
        "wa.sync.SyncActionData",
        "wa.sync.SyncActionValue",
    ] {
        assert!(
            vectors.iter().any(|vector| vector.type_name == type_name),
            "no {type_name} vector"
        );
    }
    let skipping = vectors.iter().filter(|vector| vector.bytes != vector.known).count();
    assert!(skipping >= 5, "only {skipping} vectors carry fields outside our subset");
}

#[test]
fn voice_note_fields_read_through_our_types() {
    let vector = find("wa.e2e.Message", "voice note").unwrap();
    let message: e2e::Message = decode_message("Message", &vector.bytes).unwrap();
    let audio = message.audio_message.expect("an audio message");
    assert_eq!(audio.ptt, Some(true));
    assert_eq!(audio.seconds, Some(17));
    assert_eq!(audio.file_length, Some(9_007_199_254_740_993), "2^53 + 1 survives");
    assert_eq!(audio.waveform.as_ref().map(Vec::len), Some(64));
    assert_eq!(audio.mimetype.as_deref(), Some("audio/ogg; codecs=opus"));
    assert_eq!(message.conversation, None);
}

#[test]
fn quoted_reply_nests_a_message_in_its_context() {
    let vector = find("wa.e2e.Message", "quoted reply with mentions").unwrap();
    let message: e2e::Message = decode_message("Message", &vector.bytes).unwrap();
    let text = message.extended_text_message.expect("extended text");
    assert_eq!(text.text.as_deref(), Some("@491701234567 посмотри, пожалуйста"));
    let context = text.context_info.expect("context");
    assert_eq!(context.stanza_id.as_deref(), Some("3EB0C431D5F1A2B3"));
    assert_eq!(context.mentioned_jid, ["491701234567@s.whatsapp.net", "98765432101234@lid"]);
    assert_eq!(context.expiration, Some(604_800));
    let quoted = context.quoted_message.expect("quoted");
    assert_eq!(quoted.conversation.as_deref(), Some("Когда будет счёт?"));
    assert_eq!(
        message.message_context_info.and_then(|info| info.device_list_metadata_version),
        Some(2)
    );
}

#[test]
fn protocol_messages_keep_their_type_and_payload() {
    let edit: e2e::Message =
        decode_message("Message", &find("wa.e2e.Message", "edit").unwrap().bytes).unwrap();
    let protocol = edit.protocol_message.expect("protocol message");
    assert_eq!(protocol.r#type(), e2e::message::protocol_message::Type::MessageEdit);
    assert_eq!(protocol.timestamp_ms, Some(1_716_000_000_123));
    assert_eq!(protocol.edited_message.and_then(|m| m.conversation).as_deref(), Some("fixed typo"));

    let revoke: e2e::Message =
        decode_message("Message", &find("wa.e2e.Message", "revoke").unwrap().bytes).unwrap();
    let protocol = revoke.protocol_message.expect("protocol message");
    assert_eq!(protocol.r#type, Some(0), "REVOKE is 0 and stays present");
    assert_eq!(protocol.key.and_then(|key| key.participant).as_deref(), Some("98765432101234@lid"));

    let share: e2e::Message = decode_message(
        "Message",
        &find("wa.e2e.Message", "app state sync key share").unwrap().bytes,
    )
    .unwrap();
    let keys = share.protocol_message.and_then(|p| p.app_state_sync_key_share).expect("share").keys;
    assert_eq!(keys.len(), 2);
    let fingerprint = keys[0].key_data.as_ref().and_then(|data| data.fingerprint.as_ref());
    assert_eq!(fingerprint.map(|f| f.device_indexes.clone()), Some(vec![0, 3, 300]));
}

#[test]
fn unknown_message_types_are_skipped_not_fatal() {
    let vector = find("wa.e2e.Message", "only unknown types (poll, live location)").unwrap();
    assert!(!vector.bytes.is_empty());
    let message: e2e::Message = decode_message("Message", &vector.bytes).unwrap();
    assert_eq!(message, e2e::Message::default());
    assert!(message.encode_to_vec().is_empty());

    let vector = find("wa.e2e.Message", "video with a live location we do not know").unwrap();
    let message: e2e::Message = decode_message("Message", &vector.bytes).unwrap();
    assert_eq!(message.video_message.and_then(|video| video.seconds), Some(42));
}

#[test]
fn login_payload_and_pairing_types() {
    let payload: handshake::ClientPayload = decode_message(
        "ClientPayload",
        &find("wa.handshake.ClientPayload", "login payload with unknown fields").unwrap().bytes,
    )
    .unwrap();
    assert_eq!(payload.username, Some(491_701_234_567));
    assert_eq!(payload.device, Some(12));
    assert_eq!(payload.session_id, Some(-559_038_737));
    assert_eq!(payload.lid_db_migrated, Some(false));
    assert_eq!(
        payload.user_agent.and_then(|agent| agent.platform),
        Some(handshake::client_payload::user_agent::Platform::Web as i32)
    );

    let hmac: adv::SignedDeviceIdentityHmac = decode_message(
        "SignedDeviceIdentityHmac",
        &find("wa.adv.SignedDeviceIdentityHmac", "pair-success identity (hosted)").unwrap().bytes,
    )
    .unwrap();
    assert_eq!(hmac.account_type(), adv::EncryptionType::Hosted);
    assert_eq!(hmac.hmac.map(|mac| mac.len()), Some(32));

    let details: cert::cert_chain::noise_certificate::Details = decode_message(
        "Details",
        &find("wa.cert.CertChain.NoiseCertificate.Details", "details with issuer 0 present")
            .unwrap()
            .bytes,
    )
    .unwrap();
    assert_eq!(details.issuer_serial, Some(0));
    assert_eq!(details.not_after, Some(u64::MAX));
}

#[test]
fn history_and_app_state_values() {
    let sync_blob: history::HistorySync = decode_message(
        "HistorySync",
        &find("wa.history.HistorySync", "bootstrap with sync type 0 present").unwrap().bytes,
    )
    .unwrap();
    assert_eq!(sync_blob.sync_type, Some(0));
    let first: Option<&web::WebMessageInfo> =
        sync_blob.conversations.first().and_then(|c| c.messages.first()?.message.as_ref());
    assert_eq!(
        first.and_then(|info| info.message.as_ref()?.conversation.as_deref()),
        Some("first")
    );
    assert_eq!(sync_blob.phone_number_to_lid_mappings.len(), 1);

    let data: sync::SyncActionData = decode_message(
        "SyncActionData",
        &find("wa.sync.SyncActionData", "mute forever").unwrap().bytes,
    )
    .unwrap();
    let mute = data.value.and_then(|value| value.mute_action).expect("mute");
    assert_eq!(mute.mute_end_timestamp, Some(-1));
    assert_eq!(data.padding, Some(Vec::new()), "empty bytes stay present");
}
