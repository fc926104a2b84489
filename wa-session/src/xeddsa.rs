//! XEdDSA: EdDSA-compatible signatures made and checked with Curve25519 (Montgomery) keys.
//!
//! Written from the XEdDSA specification (Signal, revision 1, 2016) with libsignal's wire
//! convention: the signer uses its key's real Edwards form `A = aB` (no negation) and stores the
//! sign bit of `A` in the otherwise unused top bit of the last signature byte; the verifier
//! converts the Montgomery key to Edwards form with that sign bit. Signatures made this way also
//! satisfy the specification's verifier when the bit is 0, and 64 bytes is the only accepted
//! length.

use curve25519_dalek::{
    EdwardsPoint, MontgomeryPoint, edwards::CompressedEdwardsY, scalar::Scalar,
};
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

use crate::{CryptoError, Error, PrivateKey, PublicKey, Result};

/// Length of a signature.
pub const SIGNATURE_LENGTH: usize = 64;

/// `hash_1` of the specification: SHA-512 with the prefix `2^256 - 2` (0xFE then 31 bytes of 0xFF).
fn hash1_scalar(parts: &[&[u8]]) -> Scalar {
    let mut hasher = Sha512::new();
    let mut prefix = [0xFFu8; 32];
    prefix[0] = 0xFE;
    hasher.update(prefix);
    for part in parts {
        hasher.update(part);
    }
    wide_scalar(hasher)
}

fn wide_scalar(hasher: Sha512) -> Scalar {
    let digest: [u8; 64] = hasher.finalize().into();
    Scalar::from_bytes_mod_order_wide(&digest)
}

/// The challenge `h = SHA-512(R || A || M) mod q`.
fn challenge(r: &[u8; 32], a: &[u8; 32], message: &[u8]) -> Scalar {
    let mut hasher = Sha512::new();
    hasher.update(r);
    hasher.update(a);
    hasher.update(message);
    wide_scalar(hasher)
}

/// Signs `message` with `key`, using 64 bytes of fresh randomness `random` (the `Z` of the spec).
#[must_use]
pub fn sign(key: &PrivateKey, message: &[u8], random: &[u8; 64]) -> [u8; 64] {
    let a = Scalar::from_bytes_mod_order(*key.secret_bytes());
    let big_a = EdwardsPoint::mul_base(&a).compress().to_bytes();
    let sign_bit = big_a[31] & 0x80;
    let r = hash1_scalar(&[a.as_bytes(), message, random]);
    let big_r = EdwardsPoint::mul_base(&r).compress().to_bytes();
    let h = challenge(&big_r, &big_a, message);
    let s = r + h * a;
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(&big_r);
    signature[32..].copy_from_slice(s.as_bytes());
    signature[63] = (signature[63] & 0x7F) | sign_bit;
    signature
}

/// Whether the little-endian u-coordinate is at least p = 2^255 - 19 (not canonical).
fn non_canonical_u(u: &[u8; 32]) -> bool {
    if u[31] & 0x80 != 0 {
        return true;
    }
    u[31] == 0x7F && u[1..31].iter().all(|&b| b == 0xFF) && u[0] >= 0xED
}

/// Verifies `signature` of `message` by `key`.
#[must_use = "a signature check whose result is ignored checks nothing"]
pub fn verify(key: &PublicKey, message: &[u8], signature: &[u8]) -> Result<()> {
    let signature: &[u8; 64] = signature
        .try_into()
        .map_err(|_| Error::Crypto(CryptoError::BadSignature("signature must be 64 bytes")))?;
    let u = key.as_bytes();
    if non_canonical_u(u) {
        return Err(Error::Crypto(CryptoError::BadSignature(
            "public key is not a canonical field element",
        )));
    }
    let sign = signature[63] >> 7;
    let big_a = MontgomeryPoint(*u)
        .to_edwards(sign)
        .ok_or(Error::Crypto(CryptoError::BadSignature("public key has no Edwards form")))?;
    if big_a.is_small_order() {
        return Err(Error::Crypto(CryptoError::BadSignature("public key has small order")));
    }
    let mut r_bytes = [0u8; 32];
    r_bytes.copy_from_slice(&signature[..32]);
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&signature[32..]);
    s_bytes[31] &= 0x7F;
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))
        .ok_or(Error::Crypto(CryptoError::BadSignature("s is not canonical")))?;
    let h = challenge(&r_bytes, &big_a.compress().to_bytes(), message);
    let r_check = EdwardsPoint::vartime_double_scalar_mul_basepoint(&(-h), &big_a, &s);
    if bool::from(r_check.compress().as_bytes().ct_eq(CompressedEdwardsY(r_bytes).as_bytes())) {
        Ok(())
    } else {
        Err(Error::Crypto(CryptoError::BadSignature("signature does not match")))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rand::{RngExt, SeedableRng, rngs::StdRng};

    use super::*;
    use crate::KeyPair;

    #[test]
    fn sign_then_verify() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..32 {
            let pair = KeyPair::generate(&mut rng);
            let message: [u8; 40] = rng.random();
            let signature = pair.sign(&message, &mut rng);
            assert_eq!(pair.public.verify(&message, &signature), Ok(()));
        }
    }

    #[test]
    fn both_sign_bits_occur() {
        let mut rng = StdRng::seed_from_u64(8);
        let mut seen = [false; 2];
        for _ in 0..64 {
            let pair = KeyPair::generate(&mut rng);
            let signature = pair.sign(b"m", &mut rng);
            seen[usize::from(signature[63] >> 7)] = true;
            assert!(pair.public.verify(b"m", &signature).is_ok());
        }
        assert_eq!(seen, [true, true]);
    }

    #[test]
    fn negative_cases_fail() {
        let mut rng = StdRng::seed_from_u64(9);
        let pair = KeyPair::generate(&mut rng);
        let other = KeyPair::generate(&mut rng);
        let message = b"the message";
        let signature = pair.sign(message, &mut rng);
        assert!(pair.public.verify(message, &signature).is_ok());

        assert!(pair.public.verify(message, &[0u8; 64]).is_err(), "all-zero signature");
        let random: [u8; 64] = rng.random();
        assert!(pair.public.verify(message, &random).is_err(), "random signature");
        assert!(other.public.verify(message, &signature).is_err(), "wrong key");
        assert!(pair.public.verify(b"the messagf", &signature).is_err(), "wrong message");
        assert!(pair.public.verify(message, &signature[..63]).is_err(), "short");
        assert!(pair.public.verify(message, &[signature.as_slice(), &[0]].concat()).is_err());
        for bit in 0..512 {
            let mut flipped = signature;
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(pair.public.verify(message, &flipped).is_err(), "bit {bit} flipped");
        }
        assert!(PublicKey::from_bytes([0; 32]).verify(message, &signature).is_err());
        assert!(PublicKey::from_bytes([0xFF; 32]).verify(message, &signature).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_signatures_never_panic(key: [u8; 32], sig in proptest::collection::vec(any::<u8>(), 0..80), msg: Vec<u8>) {
            let _ = PublicKey::from_bytes(key).verify(&msg, &sig);
        }
    }
}
