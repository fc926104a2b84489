//! Packed strings: two characters per byte, for digits-and-punctuation (nibble) or upper-case hex.

use crate::{error::Error, tag};

/// Which packed alphabet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alphabet {
    /// `0-9`, `-` (10), `.` (11).
    Nibble,
    /// `0-9`, `A-F`.
    Hex,
}

/// 15 pads an odd-length string.
const PAD: u8 = 15;

impl Alphabet {
    pub(crate) fn tag(self) -> u8 {
        match self {
            Self::Nibble => tag::NIBBLE_8,
            Self::Hex => tag::HEX_8,
        }
    }

    /// The alphabet `text` packs into, preferring nibble, or `None`.
    pub(crate) fn for_text(text: &str) -> Option<Self> {
        if text.is_empty() || text.len() > tag::PACKED_MAX {
            return None;
        }
        let bytes = text.as_bytes();
        if bytes.iter().all(|&b| b.is_ascii_digit() || b == b'-' || b == b'.') {
            Some(Self::Nibble)
        } else if bytes.iter().all(|&b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)) {
            Some(Self::Hex)
        } else {
            None
        }
    }

    fn pack(self, char: u8) -> u8 {
        match (self, char) {
            (_, b'0'..=b'9') => char - b'0',
            (Self::Nibble, b'-') => 10,
            (Self::Nibble, b'.') => 11,
            (Self::Hex, b'A'..=b'F') => char - b'A' + 10,
            _ => PAD,
        }
    }

    fn unpack(self, value: u8) -> Result<u8, Error> {
        match (self, value) {
            (_, 0..=9) => Ok(b'0' + value),
            (Self::Nibble, 10) => Ok(b'-'),
            (Self::Nibble, 11) => Ok(b'.'),
            (Self::Hex, 10..=15) => Ok(b'A' + value - 10),
            _ => Err(Error::InvalidPackedValue { value }),
        }
    }
}

/// Appends the header byte and packed bytes of `text`, which [`Alphabet::for_text`] accepted.
pub(crate) fn pack(alphabet: Alphabet, text: &str, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    #[expect(clippy::cast_possible_truncation, reason = "at most 127 characters: 64 bytes")]
    let mut header = bytes.len().div_ceil(2) as u8;
    if bytes.len() % 2 == 1 {
        header |= 0x80;
    }
    out.push(alphabet.tag());
    out.push(header);
    for pair in bytes.chunks(2) {
        let high = alphabet.pack(pair[0]);
        let low = pair.get(1).map_or(PAD, |&b| alphabet.pack(b));
        out.push((high << 4) | low);
    }
}

/// Unpacks `bytes` (after the header byte); `odd` drops the final pad nibble, which must be 15.
pub(crate) fn unpack(alphabet: Alphabet, bytes: &[u8], odd: bool) -> Result<String, Error> {
    let mut text = String::with_capacity(bytes.len() * 2);
    let last = bytes.len().wrapping_sub(1);
    for (position, &byte) in bytes.iter().enumerate() {
        text.push(char::from(alphabet.unpack(byte >> 4)?));
        let low = byte & 0x0f;
        if odd && position == last {
            if low != PAD {
                return Err(Error::InvalidPackedValue { value: low });
            }
        } else {
            text.push(char::from(alphabet.unpack(low)?));
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_both_alphabets() {
        for text in ["1", "12", "5511987654321", "1.2-3", "3EB0ABCDEF", "F", "ABC"] {
            let alphabet = Alphabet::for_text(text).unwrap();
            let mut out = Vec::new();
            pack(alphabet, text, &mut out);
            let odd = out[1] & 0x80 != 0;
            assert_eq!(usize::from(out[1] & 0x7f), out.len() - 2);
            assert_eq!(unpack(alphabet, &out[2..], odd).unwrap(), text);
        }
    }

    #[test]
    fn chooses_nibble_then_hex_then_nothing() {
        assert_eq!(Alphabet::for_text("123"), Some(Alphabet::Nibble));
        assert_eq!(Alphabet::for_text("12A"), Some(Alphabet::Hex));
        assert_eq!(Alphabet::for_text("12a"), None, "hex is upper-case only");
        assert_eq!(Alphabet::for_text(""), None);
        assert_eq!(Alphabet::for_text(&"1".repeat(128)), None);
        assert_eq!(Alphabet::for_text(&"1".repeat(127)), Some(Alphabet::Nibble));
    }

    #[test]
    fn known_bytes_and_invalid_values() {
        let mut out = Vec::new();
        pack(Alphabet::Nibble, "123", &mut out);
        assert_eq!(out, [tag::NIBBLE_8, 0x82, 0x12, 0x3f]);
        assert_eq!(
            unpack(Alphabet::Nibble, &[0xc1], false),
            Err(Error::InvalidPackedValue { value: 12 })
        );
        assert_eq!(
            unpack(Alphabet::Nibble, &[0x1f], false),
            Err(Error::InvalidPackedValue { value: 15 })
        );
        assert_eq!(
            unpack(Alphabet::Nibble, &[0xf1], true),
            Err(Error::InvalidPackedValue { value: 15 })
        );
        assert_eq!(
            unpack(Alphabet::Hex, &[0xa1], true),
            Err(Error::InvalidPackedValue { value: 1 })
        );
        assert_eq!(unpack(Alphabet::Hex, &[0xaf], true).unwrap(), "A");
    }
}
