//! Thin wrappers over the RustCrypto primitives that the protocol pieces share.

use aes::{
    Aes256,
    cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7},
};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::{CryptoError, Error, Result};

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// A fresh HMAC-SHA256 keyed with `key` (any length is valid for HMAC).
pub(crate) fn hmac(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of every length; the fallible constructor is the only one offered.
    match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable_hmac(),
    }
}

#[cold]
fn unreachable_hmac() -> ! {
    #[allow(clippy::panic)]
    {
        panic!("HMAC-SHA256 accepts keys of any length")
    }
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = hmac(key);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// HKDF-SHA256 (extract with `salt`, expand with `info`) into an `N`-byte buffer.
pub(crate) fn hkdf<const N: usize>(
    salt: Option<&[u8]>,
    ikm: &[u8],
    info: &[u8],
) -> Zeroizing<[u8; N]> {
    let mut out = Zeroizing::new([0u8; N]);
    // N is a compile-time constant at every call site, far below HKDF's 255 * 32 limit.
    if Hkdf::<Sha256>::new(salt, ikm).expand(info, out.as_mut()).is_err() {
        #[allow(clippy::panic)]
        {
            panic!("HKDF output length {N} is within 255 * 32")
        }
    }
    out
}

/// AES-256-CBC with PKCS#7 padding.
pub(crate) fn aes_cbc_encrypt(key: &[u8; 32], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    cbc::Encryptor::<Aes256>::new(key.into(), iv.into()).encrypt_padded_vec::<Pkcs7>(plaintext)
}

/// AES-256-CBC decryption with PKCS#7 unpadding; bad length or padding is
/// [`CryptoError::BadPadding`].
pub(crate) fn aes_cbc_decrypt(
    key: &[u8; 32],
    iv: &[u8; 16],
    ciphertext: &[u8],
    what: &'static str,
) -> Result<Vec<u8>> {
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(16) {
        return Err(Error::Crypto(CryptoError::BadPadding(what)));
    }
    cbc::Decryptor::<Aes256>::new(key.into(), iv.into())
        .decrypt_padded_vec::<Pkcs7>(ciphertext)
        .map_err(|_| Error::Crypto(CryptoError::BadPadding(what)))
}

/// The 12-byte AES-GCM nonce of the Noise handshake and transport: 8 zero bytes, then the
/// big-endian 32-bit counter.
fn gcm_nonce(counter: u32) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[8..].copy_from_slice(&counter.to_be_bytes());
    nonce
}

/// AES-256-GCM encryption with the Noise nonce layout and `aad` (empty in the transport phase).
pub(crate) fn aes_gcm_encrypt(
    key: &[u8; 32],
    counter: u32,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    use aes_gcm::{
        Aes256Gcm, KeyInit, Nonce,
        aead::{Aead, Payload},
    };
    Aes256Gcm::new(&(*key).into())
        .encrypt(&Nonce::from(gcm_nonce(counter)), Payload { msg: plaintext, aad })
        .map_err(|_| Error::malformed("AES-GCM plaintext", "too long"))
}

/// AES-256-GCM decryption; a wrong key, nonce, aad or altered ciphertext is
/// [`CryptoError::BadMac`].
pub(crate) fn aes_gcm_decrypt(
    key: &[u8; 32],
    counter: u32,
    aad: &[u8],
    ciphertext: &[u8],
    what: &'static str,
) -> Result<Vec<u8>> {
    use aes_gcm::{
        Aes256Gcm, KeyInit, Nonce,
        aead::{Aead, Payload},
    };
    Aes256Gcm::new(&(*key).into())
        .decrypt(&Nonce::from(gcm_nonce(counter)), Payload { msg: ciphertext, aad })
        .map_err(|_| Error::Crypto(CryptoError::BadMac(what)))
}

/// Splits a fixed-size array into two fixed-size halves.
pub(crate) fn split<const A: usize, const B: usize>(bytes: &[u8]) -> ([u8; A], [u8; B]) {
    let mut a = [0u8; A];
    let mut b = [0u8; B];
    a.copy_from_slice(&bytes[..A]);
    b.copy_from_slice(&bytes[A..A + B]);
    (a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hkdf_rfc5869_case_1() {
        let ikm = [0x0b; 22];
        let salt = hex::decode("000102030405060708090a0b0c").unwrap();
        let info = hex::decode("f0f1f2f3f4f5f6f7f8f9").unwrap();
        let okm = hkdf::<42>(Some(&salt), &ikm, &info);
        assert_eq!(
            hex::encode(okm.as_ref()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn gcm_nonce_layout_and_tamper() {
        assert_eq!(gcm_nonce(0x0102_0304), [0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
        let key = [3u8; 32];
        let ct = aes_gcm_encrypt(&key, 5, b"aad", b"hello").unwrap();
        assert_eq!(ct.len(), 5 + 16);
        assert_eq!(aes_gcm_decrypt(&key, 5, b"aad", &ct, "t").unwrap(), b"hello");
        assert_eq!(
            aes_gcm_decrypt(&key, 6, b"aad", &ct, "t"),
            Err(Error::Crypto(CryptoError::BadMac("t")))
        );
        assert_eq!(
            aes_gcm_decrypt(&key, 5, b"aae", &ct, "t"),
            Err(Error::Crypto(CryptoError::BadMac("t")))
        );
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert_eq!(
            aes_gcm_decrypt(&key, 5, b"aad", &bad, "t"),
            Err(Error::Crypto(CryptoError::BadMac("t")))
        );
        assert_eq!(
            aes_gcm_decrypt(&key, 5, b"aad", &ct[..15], "t"),
            Err(Error::Crypto(CryptoError::BadMac("t")))
        );
    }

    #[test]
    fn cbc_round_trip_and_bad_padding() {
        let key = [1u8; 32];
        let iv = [2u8; 16];
        for len in [0, 1, 15, 16, 17, 100] {
            let plain = vec![0xAB; len];
            let ct = aes_cbc_encrypt(&key, &iv, &plain);
            assert_eq!(ct.len(), (len / 16 + 1) * 16);
            assert_eq!(aes_cbc_decrypt(&key, &iv, &ct, "t").unwrap(), plain);
        }
        assert_eq!(
            aes_cbc_decrypt(&key, &iv, &[0; 15], "t"),
            Err(Error::Crypto(CryptoError::BadPadding("t")))
        );
        assert_eq!(
            aes_cbc_decrypt(&key, &iv, &[], "t"),
            Err(Error::Crypto(CryptoError::BadPadding("t")))
        );
        let ct = aes_cbc_encrypt(&key, &iv, b"hello");
        assert!(aes_cbc_decrypt(&[9u8; 32], &iv, &ct, "t").is_err());
    }
}
