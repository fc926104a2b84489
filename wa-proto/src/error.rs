//! The one error type of this crate.

/// Everything that can go wrong while decoding, encoding or reading a node, a JID or a protobuf.
///
/// Each malformed-input case has its own variant so that callers (and fuzzers) can tell them apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ended before a value that its header announced.
    #[error("unexpected end of input: needed {needed} more bytes, {remaining} remain")]
    UnexpectedEnd {
        /// Bytes the value needs.
        needed: usize,
        /// Bytes left in the input.
        remaining: usize,
    },
    /// A complete node was read but bytes remain after it.
    #[error("{count} trailing bytes after the node")]
    TrailingBytes {
        /// Bytes left over.
        count: usize,
    },
    /// The frame has no flags byte.
    #[error("empty frame: no flags byte")]
    EmptyFrame,
    /// A compressed frame body could not be inflated.
    #[error("compressed frame body is not valid zlib: {0}")]
    Inflate(String),
    /// Nodes are nested deeper than the decoder allows.
    #[error("nodes nested deeper than {limit}")]
    DepthLimit {
        /// The configured maximum depth.
        limit: usize,
    },
    /// Decoding would allocate more than the decoder allows.
    #[error("decoded data would exceed the allocation limit of {limit} bytes")]
    AllocationLimit {
        /// The configured maximum.
        limit: usize,
    },
    /// A node must start with a list header (LIST_8 or LIST_16) of non-zero size.
    #[error("a node must start with a non-empty list header, found tag {tag:#04x}")]
    InvalidNodeHeader {
        /// The byte found where the list header was expected.
        tag: u8,
    },
    /// A byte that is not a string tag stands where a string was expected.
    #[error("tag {tag:#04x} does not start a string")]
    InvalidStringTag {
        /// The offending byte.
        tag: u8,
    },
    /// A byte that is neither a list nor a content tag stands where content was expected.
    #[error("tag {tag:#04x} does not start node content")]
    InvalidContentTag {
        /// The offending byte.
        tag: u8,
    },
    /// A node's tag is empty.
    #[error("a node's tag must not be empty")]
    EmptyTag,
    /// A packed (nibble or hex) string holds a value outside its alphabet.
    #[error("packed string holds invalid value {value:#x}")]
    InvalidPackedValue {
        /// The 4-bit value.
        value: u8,
    },
    /// A string on the wire is not valid UTF-8.
    #[error("{what} is not valid UTF-8")]
    InvalidUtf8 {
        /// Which string: a tag, an attribute key or value, a JID user.
        what: &'static str,
    },
    /// A JID on the wire or in text is malformed.
    #[error("invalid JID: {reason}")]
    InvalidJid {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A value is too large for the wire format.
    #[error("{what} is too large to encode: {len} (maximum {max})")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The largest size the format allows.
        max: usize,
    },
    /// A node lacks an attribute that the caller requires.
    #[error("<{tag}> has no attribute {key:?}")]
    MissingAttribute {
        /// The node's tag.
        tag: String,
        /// The attribute's key.
        key: String,
    },
    /// An attribute exists but cannot be read as the requested type.
    #[error("<{tag}> attribute {key:?} is not {expected}")]
    InvalidAttribute {
        /// The node's tag.
        tag: String,
        /// The attribute's key.
        key: String,
        /// What the caller asked for.
        expected: &'static str,
    },
    /// A protobuf message could not be decoded.
    #[error("invalid {message} protobuf: {reason}")]
    Protobuf {
        /// The message type.
        message: &'static str,
        /// What prost reported.
        reason: String,
    },
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
