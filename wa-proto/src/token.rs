//! The token dictionary of version 3: one byte (or two) on the wire for the most common strings.
//!
//! The tables are wire data, pinned in `data/dictionary-v3.json` (taken from Baileys 7.0.0-rc14) and
//! compiled in by `build.rs`; the interop suite checks them against the installed peer.

mod tables {
    include!(concat!(env!("OUT_DIR"), "/dictionary_v3.rs"));
}

/// The token dictionary version this crate speaks, sent in the connection header `WA\x06\x03`.
pub const DICTIONARY_VERSION: u8 = 3;

/// Where a string sits in the dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token {
    /// One byte: the index into the single-byte table (1..=235).
    Single(u8),
    /// Two bytes: a dictionary (0..=3) and an index in it.
    Double { dictionary: u8, index: u8 },
}

/// The single-byte token at `index`, if `index` is one (1..=235).
pub(crate) fn single(index: u8) -> Option<&'static str> {
    match index {
        0 => None,
        _ => tables::SINGLE_BYTE.get(usize::from(index)).copied(),
    }
}

/// The double-byte token in `dictionary` (0..=3) at `index`.
pub(crate) fn double(dictionary: u8, index: u8) -> Option<&'static str> {
    tables::DOUBLE_BYTE.get(usize::from(dictionary)).map(|table| table[usize::from(index)])
}

/// The token for `text`, if the dictionary has it.
#[expect(clippy::cast_possible_truncation, reason = "positions are below 236 + 4 * 256")]
pub(crate) fn lookup(text: &str) -> Option<Token> {
    if text.is_empty() || text.len() > 64 {
        return None;
    }
    let slots = tables::INDEX.len();
    let mut slot = fnv1a(text.as_bytes()) as usize & (slots - 1);
    loop {
        let entry = usize::from(tables::INDEX[slot]);
        if entry == 0 {
            return None;
        }
        let position = entry - 1;
        let (token, found) = match position.checked_sub(tables::SINGLE_BYTE.len()) {
            None => (Token::Single(position as u8), tables::SINGLE_BYTE[position]),
            Some(double) => (
                Token::Double { dictionary: (double / 256) as u8, index: (double % 256) as u8 },
                tables::DOUBLE_BYTE[double / 256][double % 256],
            ),
        };
        if found == text {
            return Some(token);
        }
        slot = (slot + 1) & (slots - 1);
    }
}

/// FNV-1a; `build.rs` uses the same function to lay out the index.
fn fnv1a(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for &byte in bytes {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_token_is_found_where_it_is() {
        for index in 1..=235u8 {
            let text = single(index).unwrap();
            assert_eq!(lookup(text), Some(Token::Single(index)), "{text}");
        }
        for dictionary in 0..4u8 {
            for index in 0..=255u8 {
                let text = double(dictionary, index).unwrap();
                assert_eq!(lookup(text), Some(Token::Double { dictionary, index }), "{text}");
            }
        }
    }

    #[test]
    fn known_tokens_and_non_tokens() {
        assert_eq!(single(3), Some("s.whatsapp.net"));
        assert_eq!(single(0), None);
        assert_eq!(single(236), None);
        assert_eq!(double(0, 0), Some("read-self"));
        assert_eq!(double(4, 0), None);
        assert_eq!(lookup(""), None);
        assert_eq!(lookup("definitely not a token"), None);
        assert_eq!(lookup("s.whatsapp.net"), Some(Token::Single(3)));
    }
}
