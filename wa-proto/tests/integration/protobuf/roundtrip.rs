//! Decodes bytes with one of our generated types, re-encodes the value and renders it as JSON.
//!
//! Shared by the `protobuf` integration test and the `interop_protobuf` example (which includes this
//! file by path), so that the committed vectors and the live check against Baileys use one rendering.
//!
//! The JSON follows protobufjs' `toObject(message, { longs: String, enums: String, bytes: String })`:
//! field names are the protobuf JSON names (camelCase), only fields that are present appear (empty
//! repeated fields do not), 64-bit integers are decimal strings, 32-bit integers are numbers, bytes
//! are standard base64 with padding, and enum values are their names (numbers if unnamed).

use base64::Engine as _;
use prost::{Message, Name};
use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MapKey, Value};
use serde_json::{Map, Value as Json};
use wa_proto::proto::{adv, cert, common, companion, e2e, handshake, history, sync, web};

/// A value decoded with our generated type.
pub(crate) struct Decoded {
    /// Our encoding of the decoded value.
    pub(crate) reencoded: Vec<u8>,
    /// The decoded value as JSON.
    pub(crate) json: Json,
}

/// Reads the descriptor set that the build script compiled from `proto/*.proto`.
pub(crate) fn descriptor_pool() -> Result<DescriptorPool, String> {
    DescriptorPool::decode(wa_proto::proto::FILE_DESCRIPTOR_SET).map_err(|error| error.to_string())
}

/// Decodes `bytes` as the message named `type_name` (its full proto name, e.g. `wa.e2e.Message`).
pub(crate) fn decode(
    pool: &DescriptorPool,
    type_name: &str,
    bytes: &[u8],
) -> Result<Decoded, String> {
    macro_rules! dispatch {
        ($($ty:ty),* $(,)?) => {
            $(if type_name == <$ty as Name>::full_name() {
                return decode_as::<$ty>(pool, type_name, bytes);
            })*
        };
    }
    dispatch!(
        handshake::HandshakeMessage,
        handshake::ClientPayload,
        cert::CertChain,
        cert::cert_chain::NoiseCertificate,
        cert::cert_chain::noise_certificate::Details,
        companion::DeviceProps,
        adv::SignedDeviceIdentityHmac,
        adv::SignedDeviceIdentity,
        adv::DeviceIdentity,
        adv::KeyIndexList,
        adv::SignedKeyIndexList,
        common::MessageKey,
        e2e::Message,
        e2e::ContextInfo,
        e2e::MessageContextInfo,
        web::WebMessageInfo,
        history::HistorySync,
        history::Conversation,
        sync::SyncActionData,
        sync::SyncActionValue,
    );
    Err(format!("no generated type is registered for {type_name}"))
}

fn decode_as<M: Message + Default>(
    pool: &DescriptorPool,
    type_name: &str,
    bytes: &[u8],
) -> Result<Decoded, String> {
    let value = M::decode(bytes).map_err(|error| format!("our {type_name} rejects it: {error}"))?;
    let reencoded = value.encode_to_vec();
    // Reflection only renders what our type kept: it reads our own encoding.
    let descriptor = pool
        .get_message_by_name(type_name)
        .ok_or_else(|| format!("{type_name} is missing from the descriptor set"))?;
    let dynamic = DynamicMessage::decode(descriptor, reencoded.as_slice())
        .map_err(|error| format!("reflection rejects our {type_name} encoding: {error}"))?;
    Ok(Decoded { reencoded, json: message_json(&dynamic) })
}

fn message_json(message: &DynamicMessage) -> Json {
    let mut object = Map::new();
    for (field, value) in message.fields() {
        if matches!(value, Value::List(items) if items.is_empty()) {
            continue;
        }
        object.insert(field.json_name().to_owned(), value_json(&field.kind(), value));
    }
    Json::Object(object)
}

fn value_json(kind: &Kind, value: &Value) -> Json {
    match value {
        Value::Bool(value) => Json::Bool(*value),
        Value::I32(value) => Json::from(*value),
        Value::U32(value) => Json::from(*value),
        Value::I64(value) => Json::String(value.to_string()),
        Value::U64(value) => Json::String(value.to_string()),
        Value::F32(value) => Json::from(f64::from(*value)),
        Value::F64(value) => Json::from(*value),
        Value::String(value) => Json::String(value.clone()),
        Value::Bytes(value) => {
            Json::String(base64::engine::general_purpose::STANDARD.encode(value))
        }
        Value::EnumNumber(number) => match kind {
            Kind::Enum(descriptor) => descriptor
                .get_value(*number)
                .map_or_else(|| Json::from(*number), |value| Json::String(value.name().to_owned())),
            _ => Json::from(*number),
        },
        Value::Message(message) => message_json(message),
        Value::List(items) => {
            Json::Array(items.iter().map(|item| value_json(kind, item)).collect())
        }
        // Our schema has no map fields; rendered like protobufjs would, keyed by the key's text.
        Value::Map(entries) => {
            let value_kind = match kind {
                Kind::Message(entry) => entry.map_entry_value_field().kind(),
                other => other.clone(),
            };
            Json::Object(
                entries
                    .iter()
                    .map(|(key, value)| (map_key_text(key), value_json(&value_kind, value)))
                    .collect(),
            )
        }
    }
}

fn map_key_text(key: &MapKey) -> String {
    match key {
        MapKey::Bool(value) => value.to_string(),
        MapKey::I32(value) => value.to_string(),
        MapKey::I64(value) => value.to_string(),
        MapKey::U32(value) => value.to_string(),
        MapKey::U64(value) => value.to_string(),
        MapKey::String(value) => value.clone(),
    }
}
