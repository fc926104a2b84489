//! Big-endian integers as the `encrypt` namespace writes them (`<registration>`, `<id>`).

use crate::{Error, Result};

/// The low `len` bytes of `value`, big-endian.
pub(crate) fn be(value: u32, len: usize) -> Vec<u8> {
    value.to_be_bytes()[4 - len.min(4)..].to_vec()
}

/// A big-endian integer of exactly `len` bytes.
pub(crate) fn parse_be(bytes: Option<&[u8]>, len: usize, what: &'static str) -> Result<u32> {
    let bytes = bytes.ok_or_else(|| Error::malformed(what, "missing"))?;
    if bytes.len() != len {
        return Err(Error::malformed(what, format!("{} bytes, expected {len}", bytes.len())));
    }
    Ok(bytes.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_checks_length() {
        assert_eq!(be(0x0102_0304, 4), [1, 2, 3, 4]);
        assert_eq!(be(0x0102_0304, 3), [2, 3, 4]);
        assert_eq!(parse_be(Some(&[2, 3, 4]), 3, "id").unwrap(), 0x0002_0304);
        assert!(parse_be(Some(&[2, 3]), 3, "id").is_err());
        assert!(parse_be(None, 3, "id").is_err());
    }
}
