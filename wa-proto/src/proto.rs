//! WhatsApp's protobuf messages: our own subset of the schema, compiled from `proto/*.proto`.
//!
//! Each module is one proto package. Field numbers are WhatsApp's; field and type names are ours.
//! Every field is `optional` (proto2), so a decoded value tells "absent" from "zero", and encoding
//! writes exactly the fields that are set. Fields and message types that are not declared here (the
//! many message kinds the product does not handle) are skipped as unknown fields when decoding: they
//! never make decoding fail, and re-encoding drops them.
//!
//! ```
//! use prost::Message as _;
//! use wa_proto::proto::{decode_message, e2e};
//!
//! let sent = e2e::Message { conversation: Some("hello".to_owned()), ..Default::default() };
//! let received: e2e::Message = decode_message("Message", &sent.encode_to_vec())?;
//! assert_eq!(received.conversation.as_deref(), Some("hello"));
//! # Ok::<(), wa_proto::Error>(())
//! ```

use crate::{Error, Result};

/// Generated code carries the .proto comments as docs; not every field has one.
macro_rules! generated {
    ($(#[$meta:meta])* $name:ident, $file:literal) => {
        $(#[$meta])*
        #[allow(missing_docs, clippy::all, clippy::pedantic, unreachable_pub)]
        pub mod $name {
            include!(concat!(env!("OUT_DIR"), "/", $file));
        }
    };
}

generated!(
    /// The Noise handshake (`HandshakeMessage`) and the login payload (`ClientPayload`).
    handshake,
    "wa.handshake.rs"
);
generated!(
    /// The server certificate chain (`CertChain`) verified during the handshake.
    cert,
    "wa.cert.rs"
);
generated!(
    /// What a companion device tells the phone about itself (`DeviceProps`).
    companion,
    "wa.companion.rs"
);
generated!(
    /// Account device verification: the signed device identity of pair-success.
    adv,
    "wa.adv.rs"
);
generated!(
    /// Types shared by several packages (`MessageKey`).
    common,
    "wa.common.rs"
);
generated!(
    /// The end-to-end encrypted `Message` and its parts.
    e2e,
    "wa.e2e.rs"
);
generated!(
    /// Stored messages with metadata (`WebMessageInfo`), as history sync carries them.
    web,
    "wa.web.rs"
);
generated!(
    /// The history-sync blob (`HistorySync`).
    history,
    "wa.history.rs"
);
generated!(
    /// App-state sync values (`SyncActionData`, `SyncActionValue`).
    sync,
    "wa.sync.rs"
);

/// The compiled schema as an encoded `google.protobuf.FileDescriptorSet`, for reflection
/// (for example with `prost-reflect`).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/file_descriptor_set.bin"));

/// Decodes one protobuf message, naming it in the error if the bytes are malformed.
///
/// `name` is only used in the error; pass the message's type name.
///
/// # Errors
///
/// [`Error::Protobuf`] if the bytes are not a valid encoding of `M` (truncated, a bad wire type, a
/// string that is not UTF-8, nesting deeper than prost allows, ...).
pub fn decode_message<M: prost::Message + Default>(name: &'static str, bytes: &[u8]) -> Result<M> {
    M::decode(bytes).map_err(|error| Error::Protobuf { message: name, reason: error.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    fn key(remote_jid: &str, from_me: bool, id: &str) -> common::MessageKey {
        common::MessageKey {
            remote_jid: Some(remote_jid.to_owned()),
            from_me: Some(from_me),
            id: Some(id.to_owned()),
            participant: None,
        }
    }

    fn hex_of(message: &impl prost::Message) -> String {
        hex::encode(message.encode_to_vec())
    }

    fn handshake_message() -> handshake::HandshakeMessage {
        use handshake::handshake_message::{ClientFinish, ClientHello, ServerHello};
        handshake::HandshakeMessage {
            client_hello: Some(ClientHello {
                ephemeral: Some(vec![0x11; 32]),
                ..Default::default()
            }),
            server_hello: Some(ServerHello {
                ephemeral: Some(vec![0x22; 32]),
                r#static: Some(vec![0x33; 48]),
                payload: Some(vec![0x44; 8]),
                extended_static: None,
            }),
            client_finish: Some(ClientFinish {
                r#static: Some(vec![0x55; 48]),
                payload: Some(vec![0x66; 4]),
                extended_ciphertext: None,
            }),
        }
    }

    fn client_payload() -> handshake::ClientPayload {
        use handshake::client_payload::{
            ConnectReason, ConnectType, DevicePairingRegistrationData, UserAgent, WebInfo,
            user_agent::{AppVersion, Platform, ReleaseChannel},
            web_info::WebSubPlatform,
        };
        handshake::ClientPayload {
            username: Some(491_701_234_567),
            passive: Some(false),
            user_agent: Some(UserAgent {
                platform: Some(Platform::Web as i32),
                app_version: Some(AppVersion {
                    primary: Some(2),
                    secondary: Some(3000),
                    tertiary: Some(1_035_194_821),
                    ..Default::default()
                }),
                mcc: Some("000".to_owned()),
                mnc: Some("000".to_owned()),
                os_version: Some("0.1".to_owned()),
                device: Some("Desktop".to_owned()),
                release_channel: Some(ReleaseChannel::Release as i32),
                locale_language_iso639_1: Some("en".to_owned()),
                locale_country_iso3166_1_alpha2: Some("US".to_owned()),
                ..Default::default()
            }),
            web_info: Some(WebInfo {
                web_sub_platform: Some(WebSubPlatform::WebBrowser as i32),
                ..Default::default()
            }),
            push_name: Some("Bitrix24 ✓".to_owned()),
            session_id: Some(-5),
            connect_type: Some(ConnectType::WifiUnknown as i32),
            connect_reason: Some(ConnectReason::UserActivated as i32),
            device: Some(7),
            device_pairing_data: Some(DevicePairingRegistrationData {
                e_regid: Some(vec![0, 0, 0x30, 0x39]),
                e_keytype: Some(vec![5]),
                e_ident: Some(vec![0xab; 32]),
                e_skey_id: Some(vec![0, 0, 1]),
                e_skey_val: Some(vec![0xcd; 32]),
                e_skey_sig: Some(vec![0xef; 64]),
                build_hash: Some(vec![0x01; 16]),
                device_props: Some(vec![0x0a, 0x02, b'o', b's']),
            }),
            lc: Some(1),
            pull: Some(true),
            lid_db_migrated: Some(false),
            ..Default::default()
        }
    }

    fn cert_chain() -> cert::CertChain {
        use cert::cert_chain::{NoiseCertificate, noise_certificate::Details};
        let details = Details {
            serial: Some(42),
            issuer_serial: Some(0),
            key: Some(vec![0x99; 32]),
            not_before: Some(1_700_000_000),
            not_after: Some(u64::MAX),
        };
        cert::CertChain {
            leaf: Some(NoiseCertificate {
                details: Some(details.encode_to_vec()),
                signature: Some(vec![0x01; 64]),
            }),
            intermediate: Some(NoiseCertificate {
                details: Some(vec![]),
                signature: Some(vec![0x02; 64]),
            }),
        }
    }

    fn device_props() -> companion::DeviceProps {
        use companion::device_props::{AppVersion, HistorySyncConfig, PlatformType};
        companion::DeviceProps {
            os: Some("Bitrix24".to_owned()),
            version: Some(AppVersion {
                primary: Some(10),
                secondary: Some(15),
                tertiary: Some(7),
                ..Default::default()
            }),
            platform_type: Some(PlatformType::Desktop as i32),
            require_full_sync: Some(false),
            history_sync_config: Some(HistorySyncConfig {
                full_sync_days_limit: Some(30),
                storage_quota_mb: Some(10_240),
                inline_initial_payload_in_e2ee_msg: Some(true),
                ..Default::default()
            }),
        }
    }

    fn signed_device_identity_hmac() -> adv::SignedDeviceIdentityHmac {
        let identity = adv::DeviceIdentity {
            raw_id: Some(3_000_000_000),
            timestamp: Some(1_716_000_000),
            key_index: Some(4),
            account_type: Some(adv::EncryptionType::E2ee as i32),
            device_type: Some(adv::EncryptionType::Hosted as i32),
        };
        let signed = adv::SignedDeviceIdentity {
            details: Some(identity.encode_to_vec()),
            account_signature_key: Some(vec![0x05; 32]),
            account_signature: Some(vec![0x06; 64]),
            device_signature: None,
        };
        adv::SignedDeviceIdentityHmac {
            details: Some(signed.encode_to_vec()),
            hmac: Some(vec![0x07; 32]),
            account_type: Some(adv::EncryptionType::Hosted as i32),
        }
    }

    fn signed_key_index_list() -> adv::SignedKeyIndexList {
        let list = adv::KeyIndexList {
            raw_id: Some(1),
            timestamp: Some(2),
            current_index: Some(3),
            valid_indexes: vec![0, 1, 300],
            account_type: None,
        };
        adv::SignedKeyIndexList {
            details: Some(list.encode_to_vec()),
            account_signature: Some(vec![0x08; 64]),
            account_signature_key: None,
        }
    }

    fn quoted_reply() -> e2e::Message {
        use e2e::message::{AudioMessage, ExtendedTextMessage};
        let quoted = e2e::Message {
            audio_message: Some(Box::new(AudioMessage {
                mimetype: Some("audio/ogg; codecs=opus".to_owned()),
                seconds: Some(12),
                ptt: Some(true),
                waveform: Some((0u8..64).collect()),
                file_length: Some(9_007_199_254_740_993), // 2^53 + 1
                media_key_timestamp: Some(-1),
                ..Default::default()
            })),
            ..Default::default()
        };
        e2e::Message {
            extended_text_message: Some(Box::new(ExtendedTextMessage {
                text: Some("Привет @491701234567 👋".to_owned()),
                context_info: Some(Box::new(e2e::ContextInfo {
                    stanza_id: Some("3EB0ABCDEF".to_owned()),
                    participant: Some("491701234567@s.whatsapp.net".to_owned()),
                    quoted_message: Some(Box::new(quoted)),
                    mentioned_jid: vec!["491701234567@s.whatsapp.net".to_owned()],
                    expiration: Some(86_400),
                    ..Default::default()
                })),
                ..Default::default()
            })),
            message_context_info: Some(e2e::MessageContextInfo {
                device_list_metadata: Some(e2e::DeviceListMetadata {
                    sender_key_hash: Some(vec![1, 2, 3]),
                    sender_timestamp: Some(1_716_000_000),
                    recipient_key_indexes: vec![1, 2],
                    ..Default::default()
                }),
                device_list_metadata_version: Some(2),
                message_secret: Some(vec![0x5a; 32]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn web_message_info() -> web::WebMessageInfo {
        web::WebMessageInfo {
            key: Some(key("123@g.us", false, "ABCD")),
            message: Some(e2e::Message {
                conversation: Some("hi".to_owned()),
                ..Default::default()
            }),
            message_timestamp: Some(1_716_000_000),
            status: Some(web::web_message_info::Status::Read as i32),
            participant: Some("491701234567@s.whatsapp.net".to_owned()),
            push_name: Some("Anna".to_owned()),
            user_receipt: vec![web::UserReceipt {
                user_jid: Some("491701234567@s.whatsapp.net".to_owned()),
                read_timestamp: Some(1_716_000_100),
                ..Default::default()
            }],
            reactions: vec![web::Reaction {
                key: Some(key("123@g.us", true, "EFGH")),
                text: Some("❤️".to_owned()),
                sender_timestamp_ms: Some(1_716_000_000_123),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn history_sync() -> history::HistorySync {
        history::HistorySync {
            sync_type: Some(history::history_sync::HistorySyncType::InitialBootstrap as i32),
            conversations: vec![history::Conversation {
                id: Some("123@g.us".to_owned()),
                messages: vec![history::HistorySyncMsg {
                    message: Some(web_message_info()),
                    msg_order_id: Some(1),
                }],
                unread_count: Some(2),
                name: Some("Team".to_owned()),
                archived: Some(true),
                mute_end_time: Some(u64::MAX),
                ..Default::default()
            }],
            chunk_order: Some(1),
            progress: Some(100),
            pushnames: vec![history::Pushname {
                id: Some("491701234567@s.whatsapp.net".to_owned()),
                pushname: Some("Anna".to_owned()),
            }],
            phone_number_to_lid_mappings: vec![history::PhoneNumberToLidMapping {
                pn_jid: Some("491701234567@s.whatsapp.net".to_owned()),
                lid_jid: Some("1234567890@lid".to_owned()),
            }],
            ..Default::default()
        }
    }

    fn sync_action_data() -> sync::SyncActionData {
        use sync::sync_action_value::{
            MarkChatAsReadAction, SyncActionMessage, SyncActionMessageRange,
        };
        sync::SyncActionData {
            index: Some(br#"["markChatAsRead","491701234567@s.whatsapp.net"]"#.to_vec()),
            value: Some(sync::SyncActionValue {
                timestamp: Some(1_716_000_000_000),
                mark_chat_as_read_action: Some(MarkChatAsReadAction {
                    read: Some(true),
                    message_range: Some(SyncActionMessageRange {
                        last_message_timestamp: Some(1_716_000_000),
                        last_system_message_timestamp: None,
                        messages: vec![SyncActionMessage {
                            key: Some(key("491701234567@s.whatsapp.net", false, "X1")),
                            timestamp: Some(1_716_000_000),
                        }],
                    }),
                }),
                ..Default::default()
            }),
            padding: Some(vec![]),
            version: Some(2),
        }
    }

    #[test]
    fn snapshots_of_the_encoded_bytes() {
        insta::assert_snapshot!("handshake_message", hex_of(&handshake_message()));
        insta::assert_snapshot!("client_payload", hex_of(&client_payload()));
        insta::assert_snapshot!("cert_chain", hex_of(&cert_chain()));
        insta::assert_snapshot!("device_props", hex_of(&device_props()));
        insta::assert_snapshot!(
            "signed_device_identity_hmac",
            hex_of(&signed_device_identity_hmac())
        );
        insta::assert_snapshot!("signed_key_index_list", hex_of(&signed_key_index_list()));
        insta::assert_snapshot!("message_key", hex_of(&key("123@g.us", true, "ABC")));
        insta::assert_snapshot!("message_quoted_reply", hex_of(&quoted_reply()));
        insta::assert_snapshot!("web_message_info", hex_of(&web_message_info()));
        insta::assert_snapshot!("history_sync", hex_of(&history_sync()));
        insta::assert_snapshot!("sync_action_data", hex_of(&sync_action_data()));
    }

    #[test]
    fn representative_values_round_trip() -> Result<()> {
        assert_eq!(
            decode_message::<handshake::HandshakeMessage>(
                "HandshakeMessage",
                &handshake_message().encode_to_vec()
            )?,
            handshake_message()
        );
        assert_eq!(
            decode_message::<handshake::ClientPayload>(
                "ClientPayload",
                &client_payload().encode_to_vec()
            )?,
            client_payload()
        );
        assert_eq!(
            decode_message::<cert::CertChain>("CertChain", &cert_chain().encode_to_vec())?,
            cert_chain()
        );
        assert_eq!(
            decode_message::<companion::DeviceProps>(
                "DeviceProps",
                &device_props().encode_to_vec()
            )?,
            device_props()
        );
        assert_eq!(
            decode_message::<e2e::Message>("Message", &quoted_reply().encode_to_vec())?,
            quoted_reply()
        );
        assert_eq!(
            decode_message::<history::HistorySync>("HistorySync", &history_sync().encode_to_vec())?,
            history_sync()
        );
        assert_eq!(
            decode_message::<sync::SyncActionData>(
                "SyncActionData",
                &sync_action_data().encode_to_vec()
            )?,
            sync_action_data()
        );
        Ok(())
    }

    #[test]
    fn nested_serialized_messages_decode() -> Result<()> {
        let outer = decode_message::<adv::SignedDeviceIdentityHmac>(
            "SignedDeviceIdentityHmac",
            &signed_device_identity_hmac().encode_to_vec(),
        )?;
        let signed = decode_message::<adv::SignedDeviceIdentity>(
            "SignedDeviceIdentity",
            outer.details.as_deref().unwrap_or_default(),
        )?;
        let identity = decode_message::<adv::DeviceIdentity>(
            "DeviceIdentity",
            signed.details.as_deref().unwrap_or_default(),
        )?;
        assert_eq!(identity.raw_id, Some(3_000_000_000));
        assert_eq!(identity.key_index, Some(4));
        assert_eq!(identity.device_type(), adv::EncryptionType::Hosted);
        assert_eq!(outer.account_type(), adv::EncryptionType::Hosted);
        assert_eq!(signed.device_signature, None);

        let chain = cert_chain();
        let leaf = decode_message::<cert::cert_chain::noise_certificate::Details>(
            "Details",
            chain.leaf.and_then(|leaf| leaf.details).as_deref().unwrap_or_default(),
        )?;
        assert_eq!(leaf.not_after, Some(u64::MAX));
        assert_eq!(leaf.issuer_serial, Some(0), "a present zero stays present");
        Ok(())
    }

    #[test]
    fn presence_is_kept_for_default_values() {
        let absent = handshake::ClientPayload::default();
        let zero = handshake::ClientPayload { passive: Some(false), ..Default::default() };
        assert!(absent.encode_to_vec().is_empty());
        assert_eq!(zero.encode_to_vec(), [0x18, 0x00]);
    }

    #[test]
    fn unknown_fields_and_message_types_are_skipped() -> Result<()> {
        // Field 18 (a live location, not in our subset) with a nested double, then field 1.
        let mut bytes = vec![0x92, 0x01, 0x09, 0x09];
        bytes.extend_from_slice(&1.5f64.to_le_bytes());
        // An unknown fixed32 (field 99), an unknown varint (field 200) and an unknown group (field 10).
        bytes.extend_from_slice(&[0x9d, 0x06, 1, 2, 3, 4]);
        bytes.extend_from_slice(&[0xc0, 0x0c, 0x96, 0x01]);
        bytes.extend_from_slice(&[0x53, 0x08, 0x01, 0x54]);
        bytes.extend_from_slice(&[0x0a, 0x02, b'o', b'k']);
        let message: e2e::Message = decode_message("Message", &bytes)?;
        assert_eq!(
            message,
            e2e::Message { conversation: Some("ok".to_owned()), ..Default::default() }
        );
        assert_eq!(message.encode_to_vec(), [0x0a, 0x02, b'o', b'k']);
        Ok(())
    }

    #[test]
    fn malformed_input_is_an_error_naming_the_message() {
        // A length-delimited field that claims more bytes than remain.
        let error = decode_message::<e2e::Message>("Message", &[0x0a, 0x05, b'a']);
        assert!(matches!(error, Err(Error::Protobuf { message: "Message", .. })), "got {error:?}");
        // A string field that is not UTF-8.
        let error = decode_message::<common::MessageKey>("MessageKey", &[0x0a, 0x01, 0xff]);
        assert!(matches!(error, Err(Error::Protobuf { message: "MessageKey", .. })));
        // Wire type 7 does not exist.
        let error = decode_message::<e2e::Message>("Message", &[0x0f]);
        assert!(matches!(error, Err(Error::Protobuf { .. })));
        // A known field with the wrong wire type.
        let error = decode_message::<e2e::Message>("Message", &[0x08, 0x01]);
        assert!(matches!(error, Err(Error::Protobuf { .. })));
    }

    #[test]
    fn deeply_nested_quotes_are_rejected_not_overflowing() {
        // ContextInfo.quotedMessage nests a Message in a Message; prost caps recursion at 100 levels.
        let mut bytes = b"\x0a\x01x".to_vec();
        for _ in 0..200 {
            let mut context = vec![0x1a];
            push_len(&mut context, bytes.len());
            context.extend_from_slice(&bytes);
            let mut text = vec![0x8a, 0x01];
            push_len(&mut text, context.len());
            text.extend_from_slice(&context);
            let mut message = vec![0x32];
            push_len(&mut message, text.len());
            message.extend_from_slice(&text);
            bytes = message;
        }
        let error = decode_message::<e2e::Message>("Message", &bytes);
        assert!(matches!(error, Err(Error::Protobuf { .. })), "got {error:?}");
    }

    fn push_len(out: &mut Vec<u8>, len: usize) {
        prost::encoding::encode_varint(len as u64, out);
    }

    #[test]
    fn descriptor_set_describes_every_package() -> std::result::Result<(), prost::DecodeError> {
        let set = prost_types_free_file_names(FILE_DESCRIPTOR_SET)?;
        for package in
            ["adv", "cert", "common", "companion", "e2e", "handshake", "history", "sync", "web"]
        {
            assert!(
                set.iter().any(|name| name == &format!("{package}.proto")),
                "{package}: {set:?}"
            );
        }
        Ok(())
    }

    /// Reads the file names out of an encoded FileDescriptorSet without prost-types.
    fn prost_types_free_file_names(
        bytes: &[u8],
    ) -> std::result::Result<Vec<String>, prost::DecodeError> {
        #[derive(Clone, PartialEq, prost::Message)]
        struct FileName {
            #[prost(string, optional, tag = "1")]
            name: Option<String>,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        struct FileSet {
            #[prost(message, repeated, tag = "1")]
            file: Vec<FileName>,
        }
        Ok(FileSet::decode(bytes)?.file.into_iter().filter_map(|file| file.name).collect())
    }
}
