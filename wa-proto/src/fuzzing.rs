//! Fuzz harnesses. They live in the library so that they compile with every build; the targets in
//! `fuzz/` call them in one line, and the `rust` test suite replays the committed seed corpora.
//!
//! Each harness takes arbitrary bytes and panics only when it finds a bug: a panic inside the code
//! under test, or a broken round-trip property.

#![expect(clippy::panic, reason = "a fuzz harness reports a bug by panicking")]

use crate::{DecodeLimits, Jid, decode, decode_with, encode};

/// Decodes a frame; whatever decodes must re-encode and decode to the same tree.
pub fn decode_node(data: &[u8]) {
    let Ok(node) = decode(data) else { return };
    let frame = match encode(&node) {
        Ok(frame) => frame,
        Err(error) => panic!("a decoded node must re-encode, got {error}: {node:?}"),
    };
    // Re-encoding may pack a raw string and so charge the budget differently: don't cap it again.
    let limits = DecodeLimits::default().with_max_allocation(usize::MAX);
    match decode_with(&frame, limits) {
        Ok(again) => assert_eq!(again, node, "decode -> encode -> decode changed the tree"),
        Err(error) => panic!("a re-encoded node must decode, got {error}: {node:?}"),
    }
}

/// Parses text as a JID; whatever parses must print and parse back to the same JID.
pub fn parse_jid(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(jid) = text.parse::<Jid>() else { return };
    let printed = jid.to_string();
    match printed.parse::<Jid>() {
        Ok(again) => assert_eq!(again, jid, "{text:?} printed as {printed:?}"),
        Err(error) => panic!("{text:?} printed as {printed:?}, which does not parse: {error}"),
    }
}
