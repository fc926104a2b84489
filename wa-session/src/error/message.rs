//! Failures of the messaging layer: stanzas, key bundles and `<enc>` payloads.

/// A stanza, a key-fetch answer or an encrypted message does not have the form this crate needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// A stanza lacks something it must have, or has an attribute or child of the wrong form.
    #[error("malformed <{tag}> stanza: {reason}")]
    Stanza {
        /// The stanza's tag.
        tag: String,
        /// What is wrong.
        reason: String,
    },
    /// A prekey bundle in a key-fetch answer is missing a key or has one of the wrong size.
    #[error("unusable prekey bundle for {jid}: {reason}")]
    BadBundle {
        /// The device the bundle is for.
        jid: String,
        /// What is wrong.
        reason: String,
    },
    /// A message stanza holds no `<enc>` addressed to this device.
    #[error("message {id} has nothing encrypted for this device")]
    NothingToDecrypt {
        /// The message id.
        id: String,
    },
    /// An `<enc>` of a type or version this crate does not decrypt.
    #[error("unsupported <enc> type {enc_type:?} v={version:?}")]
    UnsupportedEnc {
        /// The `type` attribute.
        enc_type: String,
        /// The `v` attribute.
        version: String,
    },
}
