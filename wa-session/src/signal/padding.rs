//! WhatsApp's plaintext padding for 1:1 and group messages (`<enc v="2">`): `n` copies of the byte
//! `n`, with `n` random in 1..=15.

use rand_core::CryptoRng;

use crate::{CryptoError, Error, Result};

/// Appends 1 to 15 bytes of padding to `plaintext`.
pub fn pad(plaintext: &[u8], rng: &mut impl CryptoRng) -> Vec<u8> {
    let mut n = (rng.next_u32() & 0x0F) as u8;
    if n == 0 {
        n = 0x0F;
    }
    let mut out = Vec::with_capacity(plaintext.len() + usize::from(n));
    out.extend_from_slice(plaintext);
    out.resize(plaintext.len() + usize::from(n), n);
    out
}

/// Removes the padding: the last byte says how many bytes to drop.
///
/// Like the other clients, this trusts the count (the message MAC already authenticated it) but
/// refuses a count of zero or one longer than the data.
pub fn unpad(padded: &[u8]) -> Result<&[u8]> {
    let n = usize::from(
        *padded.last().ok_or(Error::Crypto(CryptoError::BadPadding("message padding")))?,
    );
    if n == 0 || n > padded.len() {
        return Err(Error::Crypto(CryptoError::BadPadding("message padding")));
    }
    Ok(&padded[..padded.len() - n])
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;

    #[test]
    fn pad_unpad() {
        let mut rng = StdRng::seed_from_u64(5);
        let mut lengths = std::collections::BTreeSet::new();
        for _ in 0..500 {
            let padded = pad(b"hello", &mut rng);
            let n = padded.len() - 5;
            assert!((1..=15).contains(&n));
            assert!(padded[5..].iter().all(|&b| usize::from(b) == n));
            lengths.insert(n);
            assert_eq!(unpad(&padded).unwrap(), b"hello");
        }
        assert_eq!(lengths.len(), 15);
        assert!(unpad(&[]).is_err());
        assert!(unpad(&[1, 2, 0]).is_err());
        assert!(unpad(&[4, 4, 4]).is_err());
    }
}
