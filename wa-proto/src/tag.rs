//! Byte values of the WABinary format (identical in every implementation of dictionary version 3).

pub(crate) const LIST_EMPTY: u8 = 0;
pub(crate) const DICTIONARY_0: u8 = 236;
pub(crate) const DICTIONARY_3: u8 = 239;
pub(crate) const INTEROP_JID: u8 = 245;
pub(crate) const FB_JID: u8 = 246;
pub(crate) const AD_JID: u8 = 247;
pub(crate) const LIST_8: u8 = 248;
pub(crate) const LIST_16: u8 = 249;
pub(crate) const JID_PAIR: u8 = 250;
pub(crate) const HEX_8: u8 = 251;
pub(crate) const BINARY_8: u8 = 252;
pub(crate) const BINARY_20: u8 = 253;
pub(crate) const BINARY_32: u8 = 254;
pub(crate) const NIBBLE_8: u8 = 255;

/// Longest string that fits a packed (nibble or hex) form.
pub(crate) const PACKED_MAX: usize = 127;

/// Flag bit of a frame's first byte: the body is zlib-compressed.
pub(crate) const FLAG_COMPRESSED: u8 = 0x02;
