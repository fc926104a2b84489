//! The one error type of this crate.

/// Everything that can go wrong in this crate.
///
/// Every failure on untrusted input (a message, a bundle, a blob, a stored record) has its own
/// variant so that callers, retry logic and fuzzers can tell them apart. No variant carries key
/// material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A public key is not 32 bytes, or not 33 bytes with the `0x05` type prefix.
    #[error("invalid public key: {0}")]
    InvalidPublicKey(&'static str),
    /// A private key is not 32 bytes.
    #[error("invalid private key length {0}, expected 32")]
    InvalidPrivateKey(usize),
    /// An XEdDSA signature did not verify (wrong key, wrong message, or not a signature at all).
    #[error("bad signature: {0}")]
    BadSignature(&'static str),
    /// A message authentication code did not match: the message was altered, or the keys differ.
    #[error("bad MAC on {0}")]
    BadMac(&'static str),
    /// A message or record could not be parsed.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being parsed.
        what: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// A message carries a protocol version this crate does not speak (it speaks 3).
    #[error("unsupported message version {0:#04x}")]
    UnsupportedVersion(u8),
    /// Decryption produced bytes that are not validly padded (wrong key or tampered ciphertext).
    #[error("decryption failed: invalid padding in {0}")]
    BadPadding(&'static str),
    /// The remote identity key differs from the one trusted for that address.
    #[error("untrusted identity for {address}")]
    UntrustedIdentity {
        /// The address whose identity changed.
        address: String,
    },
    /// There is no session (or no usable session state) for the address.
    #[error("no session for {address}")]
    NoSession {
        /// The address.
        address: String,
    },
    /// A PreKeySignalMessage names a one-time prekey we do not have (used or never issued).
    #[error("unknown one-time prekey id {0}")]
    UnknownPreKey(u32),
    /// A PreKeySignalMessage names a signed prekey we do not have.
    #[error("unknown signed prekey id {0}")]
    UnknownSignedPreKey(u32),
    /// A message whose key was already used: a duplicate or a replay.
    #[error("duplicate or replayed message (chain index {index})")]
    DuplicateMessage {
        /// The message counter or sender-key iteration.
        index: u32,
    },
    /// A message is further ahead in its chain than the skip window allows.
    #[error("message {index} is too far ahead of the chain (limit {limit})")]
    TooFarAhead {
        /// The message counter or iteration.
        index: u32,
        /// The largest accepted jump.
        limit: u32,
    },
    /// There is no sender key (or no state with that key id) for the group and sender.
    #[error("no sender key for {name} (key id {key_id:?})")]
    NoSenderKey {
        /// The sender key name (group and sender address).
        name: String,
        /// The key id the message named, if any.
        key_id: Option<u32>,
    },
    /// A stored record has a format version this build does not know.
    #[error("unsupported {what} record version {version}")]
    UnsupportedRecordVersion {
        /// Which record.
        what: &'static str,
        /// The version found.
        version: u32,
    },
    /// A media blob does not match its announced SHA-256 (plaintext or encrypted).
    #[error("media hash mismatch on the {0} bytes")]
    MediaHashMismatch(&'static str),
    /// A media blob is too short or not a whole number of cipher blocks.
    #[error("media blob is truncated or misaligned")]
    MediaTruncated,
    /// A frame declares a payload longer than the codec accepts.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    FrameTooLarge {
        /// The declared (or requested) payload length.
        len: usize,
        /// The largest accepted payload length.
        max: usize,
    },
    /// The first bytes of a connection are neither `WA\x06\x03` nor an `ED\x00\x01` routing prefix.
    #[error("bad connection header: {0}")]
    BadConnectionHeader(&'static str),
    /// A Noise handshake message is missing a part or has a part of the wrong size.
    #[error("bad handshake message: {0}")]
    Handshake(&'static str),
    /// A Noise cipher counter would wrap: the connection must be replaced.
    #[error("noise counter exhausted")]
    NonceExhausted,
    /// A certificate of the server's chain is not signed by its issuer (root or intermediate).
    #[error("bad signature on the {0} certificate")]
    CertBadSignature(CertRole),
    /// A certificate names the wrong issuer serial.
    #[error("{cert} certificate has issuer serial {found}, expected {expected}")]
    CertIssuerSerial {
        /// Which certificate.
        cert: CertRole,
        /// The serial it should name.
        expected: u32,
        /// The serial it names.
        found: u32,
    },
    /// The leaf certificate's key is not the server's Noise static key.
    #[error("leaf certificate key does not match the server static key")]
    CertKeyMismatch,
    /// A certificate's validity ended before `now`.
    #[error("{cert} certificate expired at {not_after} (now {now})")]
    CertExpired {
        /// Which certificate.
        cert: CertRole,
        /// End of validity, unix seconds.
        not_after: u64,
        /// The time checked against, unix seconds.
        now: u64,
    },
    /// A certificate's validity starts after `now`.
    #[error("{cert} certificate is not valid before {not_before} (now {now})")]
    CertNotYetValid {
        /// Which certificate.
        cert: CertRole,
        /// Start of validity, unix seconds.
        not_before: u64,
        /// The time checked against, unix seconds.
        now: u64,
    },
    /// A certificate (or the chain) is structurally invalid: missing parts, a key that is not 32
    /// bytes, undecodable details.
    #[error("malformed {cert} certificate: {reason}")]
    CertMalformed {
        /// Which certificate (or the chain itself).
        cert: CertRole,
        /// What is wrong.
        reason: String,
    },
    /// `pair-success`'s HMAC does not match our ADV secret: not meant for this device.
    #[error("pair-success HMAC does not match the ADV secret")]
    AdvHmacMismatch,
    /// `pair-success`'s account signature over our identity key does not verify.
    #[error("pair-success account signature does not verify")]
    AdvAccountSignature,
    /// A companion's device signature (in `pair-device-sign`) does not verify.
    #[error("pair-device-sign device signature does not verify")]
    AdvDeviceSignature,
    /// A `pair-device-sign` names another key index than the one the phone gave.
    #[error("pair-device-sign key index {found:?}, expected {expected}")]
    AdvKeyIndex {
        /// The key index the phone gave.
        expected: u32,
        /// The one the answer names, if any.
        found: Option<u32>,
    },
    /// A `pair-device-sign` returns another identity than the one the phone signed.
    #[error("pair-device-sign does not match what was signed: {0}")]
    AdvMismatch(&'static str),
    /// The operation needs a paired device and the credentials have no account.
    #[error("the device is not paired")]
    NotPaired,
    /// Connecting failed (TCP, TLS, WebSocket or the Noise handshake's transport).
    #[error("connect failed: {0}")]
    Connect(String),
    /// There is no open connection to send on.
    #[error("not connected")]
    NotConnected,
    /// The client has stopped (logged out, closed, or a reason that does not reconnect).
    #[error("the client has stopped")]
    Stopped,
    /// Something the client waited for did not come in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The server answered an iq with `type="error"`.
    #[error("iq error {code}: {text}")]
    Iq {
        /// The `code` of `<error>`.
        code: String,
        /// The `text` of `<error>`.
        text: String,
    },
    /// A key store failed; the message names the backend's error.
    #[error("store error: {0}")]
    Store(String),
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
    /// A message has no media part (image, video, document, audio, sticker) to download.
    #[error("the message has no media to download")]
    NotMedia,
    /// A media host could not be reached or spoke broken HTTP.
    #[error("media host: {0}")]
    MediaHttp(String),
    /// A media host answered with an HTTP status other than success (404 for an unknown blob).
    #[error("media host answered HTTP {status}")]
    MediaStatus {
        /// The HTTP status code.
        status: u16,
    },
    /// A media file or blob is larger than allowed (the configured limit, or for a download
    /// also what the message announced).
    #[error("media larger than the limit of {limit} bytes")]
    MediaTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// Reading an upload's source or writing a download's destination failed.
    #[error("media stream: {0}")]
    MediaSink(String),
}

/// Which certificate of the server's chain an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertRole {
    /// The whole chain (the `CertChain` message itself).
    Chain,
    /// The intermediate certificate, signed by the root key.
    Intermediate,
    /// The leaf certificate, which certifies the server's Noise static key.
    Leaf,
}

impl std::fmt::Display for CertRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Chain => "chain",
            Self::Intermediate => "intermediate",
            Self::Leaf => "leaf",
        })
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn stanza(tag: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Stanza { tag: tag.into(), reason: reason.into() }
    }

    pub(crate) fn malformed(what: &'static str, reason: impl Into<String>) -> Self {
        Self::Malformed { what, reason: reason.into() }
    }
}
