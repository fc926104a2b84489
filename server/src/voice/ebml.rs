//! A bounded EBML reader (sans-IO): element headers over a byte slice, every size checked against
//! what remains of the parent, unknown sizes reported as such.

use super::VoiceError;

/// The largest element id width (4 bytes, class D).
const MAX_ID_LEN: usize = 4;
/// The largest size width.
const MAX_SIZE_LEN: usize = 8;

/// An element's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// The id, with its length marker (as specifications write them: `0x1A45DFA3`).
    pub(crate) id: u32,
    /// The body's size, `None` for "unknown" (all value bits set).
    pub(crate) size: Option<u64>,
    /// The header's length in bytes.
    pub(crate) len: usize,
}

/// Reads a variable-length integer at the start of `data`: its value without the marker, its
/// length, and whether every value bit was set (the "unknown" size).
fn vint(data: &[u8], max_len: usize) -> Result<(u64, usize, bool), VoiceError> {
    let first = *data.first().ok_or(VoiceError::Truncated("element header"))?;
    let len = usize::try_from(first.leading_zeros()).map_err(|_| VoiceError::BadVint)? + 1;
    if first == 0 || len > max_len {
        return Err(VoiceError::BadVint);
    }
    let bytes = data.get(..len).ok_or(VoiceError::Truncated("element header"))?;
    let marker_mask = if len == 8 { 0 } else { 0xFFu8 >> len };
    let mut value = u64::from(first & marker_mask);
    for &b in &bytes[1..] {
        value = (value << 8) | u64::from(b);
    }
    let all_ones = value == (1u64 << (7 * len)) - 1;
    Ok((value, len, all_ones))
}

/// Reads an element header at the start of `data`.
pub(crate) fn header(data: &[u8]) -> Result<Header, VoiceError> {
    let first = *data.first().ok_or(VoiceError::Truncated("element id"))?;
    let id_len = usize::try_from(first.leading_zeros()).map_err(|_| VoiceError::BadVint)? + 1;
    if first == 0 || id_len > MAX_ID_LEN {
        return Err(VoiceError::BadVint);
    }
    let id_bytes = data.get(..id_len).ok_or(VoiceError::Truncated("element id"))?;
    let id = id_bytes.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
    let rest = data.get(id_len..).ok_or(VoiceError::Truncated("element size"))?;
    let (size, size_len, unknown) = vint(rest, MAX_SIZE_LEN)?;
    Ok(Header { id, size: (!unknown).then_some(size), len: id_len + size_len })
}

/// A track number as blocks write it (a vint without the marker), with its length.
pub(crate) fn track_number(data: &[u8]) -> Result<(u64, usize), VoiceError> {
    let (value, len, _) = vint(data, MAX_SIZE_LEN)?;
    Ok((value, len))
}

/// An unsigned integer element's value (0 to 8 bytes, big endian).
pub(crate) fn uint(id: u32, body: &[u8]) -> Result<u64, VoiceError> {
    if body.len() > 8 {
        return Err(VoiceError::BadElementSize { id, size: body.len() as u64 });
    }
    Ok(body.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

/// A signed integer element's value (0 to 8 bytes, big endian, two's complement).
pub(crate) fn int(id: u32, body: &[u8]) -> Result<i64, VoiceError> {
    if body.len() > 8 {
        return Err(VoiceError::BadElementSize { id, size: body.len() as u64 });
    }
    let Some(&first) = body.first() else { return Ok(0) };
    let init: i64 = if first & 0x80 != 0 { -1 } else { 0 };
    Ok(body.iter().fold(init, |acc, &b| (acc << 8) | i64::from(b)))
}

/// A string element's value: ASCII up to the first NUL (trailing NULs are padding).
pub(crate) fn string(body: &[u8]) -> &[u8] {
    let end = body.iter().position(|&b| b == 0).unwrap_or(body.len());
    &body[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        // EBML header id, size 0x1F (one byte).
        assert_eq!(
            header(&[0x1A, 0x45, 0xDF, 0xA3, 0x9F]),
            Ok(Header { id: 0x1A45_DFA3, size: Some(0x1F), len: 5 })
        );
        // Segment with unknown size written on 8 bytes, as Chromium does.
        assert_eq!(
            header(&[0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
            Ok(Header { id: 0x1853_8067, size: None, len: 12 })
        );
        // Unknown size in one byte.
        assert_eq!(header(&[0xA3, 0xFF]), Ok(Header { id: 0xA3, size: None, len: 2 }));
        // Two-byte size 0x4001 = 1.
        assert_eq!(header(&[0xA3, 0x40, 0x01]), Ok(Header { id: 0xA3, size: Some(1), len: 3 }));
    }

    #[test]
    fn malformed_headers() {
        assert_eq!(header(&[]), Err(VoiceError::Truncated("element id")));
        assert_eq!(header(&[0x00, 0x81]), Err(VoiceError::BadVint));
        // Five-byte id.
        assert_eq!(header(&[0x08, 1, 2, 3, 4, 0x81]), Err(VoiceError::BadVint));
        assert_eq!(header(&[0x1A, 0x45]), Err(VoiceError::Truncated("element id")));
        assert_eq!(header(&[0xA3]), Err(VoiceError::Truncated("element header")));
        assert_eq!(header(&[0xA3, 0x00]), Err(VoiceError::BadVint));
        assert_eq!(header(&[0xA3, 0x10, 0x00]), Err(VoiceError::Truncated("element header")));
    }

    #[test]
    fn integers() {
        assert_eq!(uint(1, &[]), Ok(0));
        assert_eq!(uint(1, &[0x01, 0x00]), Ok(256));
        assert!(uint(1, &[0; 9]).is_err());
        assert_eq!(int(1, &[0xFF]), Ok(-1));
        assert_eq!(int(1, &[0xFF, 0x38]), Ok(-200));
        assert_eq!(int(1, &[0x7F]), Ok(127));
        assert_eq!(string(b"A_OPUS\0\0"), b"A_OPUS");
    }
}
