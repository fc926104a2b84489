//! The hash chain, pure: no database, no clock.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A SHA-256 digest linking one record to the next.
pub type Hash = [u8; 32];

/// The `prev_hash` of the first record of every chain.
pub const GENESIS: Hash = [0; 32];

/// Domain separation so that a record hash can never be confused with another SHA-256 use.
const DOMAIN: &[u8] = b"wab24.audit.v1";
/// The keyed (version 2) records' domain: a v1 hash can never pass as a v2 one.
const DOMAIN_KEYED: &[u8] = b"wab24.audit.v2";

/// The secret that keys a chain (version 2 records): derived by the embedding application from a
/// key that is never stored next to the log, so that someone who can rewrite the rows cannot
/// recompute their hashes. Zeroized on drop; its Debug output is redacted.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ChainKey(Box<[u8; 32]>);

impl ChainKey {
    /// Wraps 32 key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> ChainKey {
        ChainKey(Box::new(bytes))
    }
}

impl fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChainKey(<redacted>)")
    }
}

/// The fields of a record that its hash covers (everything but the hash itself).
#[derive(Clone, Copy)]
pub struct Fields<'a> {
    /// Sequence number, from 1 without gaps.
    pub seq: i64,
    /// Timestamp in Unix milliseconds.
    pub at_ms: i64,
    /// The kind's stored name.
    pub kind: &'a str,
    /// Who caused the event.
    pub actor: &'a str,
    /// What the event is about.
    pub subject: &'a str,
    /// The raw payload.
    pub payload: &'a [u8],
    /// The hash of the record before this one ([`GENESIS`] for the first).
    pub prev_hash: &'a Hash,
}

/// Hashes a record's fields. Every variable-length field is length-prefixed, so no two different
/// records share an encoding.
///
/// This is the unkeyed version 1 hash: anyone can recompute it, so it only detects changes made
/// by someone who did not also rewrite the hashes. New records use [`keyed_hash`].
pub fn record_hash(f: &Fields<'_>) -> Hash {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    encode(f, |part| h.update(part));
    h.finalize().into()
}

/// The version 2 hash: HMAC-SHA256 under `key` over the same encoding as [`record_hash`] (with
/// its own domain). Without the key it cannot be recomputed.
pub fn keyed_hash(key: &ChainKey, f: &Fields<'_>) -> Hash {
    // HMAC accepts keys of any length: this cannot fail for 32 bytes.
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(key.0.as_slice()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(DOMAIN_KEYED);
    encode(f, |part| mac.update(part));
    mac.finalize().into_bytes().into()
}

/// Which version a record's stored hash is, if either, for `key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The unkeyed SHA-256 hash of [`record_hash`] (records written before chains were keyed).
    Unkeyed,
    /// The HMAC of [`keyed_hash`] under the given key.
    Keyed,
}

/// Classifies `stored` against the record's fields: `None` when it is neither the keyed hash
/// under `key` nor the unkeyed hash (the record was changed, or keyed with another key).
pub fn check(key: &ChainKey, f: &Fields<'_>, stored: &Hash) -> Option<Version> {
    if constant_time_eq(&keyed_hash(key, f), stored) {
        Some(Version::Keyed)
    } else if record_hash(f) == *stored {
        Some(Version::Unkeyed)
    } else {
        None
    }
}

/// Compares two hashes without an early exit, so that the time taken says nothing about where a
/// forged keyed hash starts to differ.
fn constant_time_eq(a: &Hash, b: &Hash) -> bool {
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Feeds the record's encoding: prev hash, seq, time, then each variable-length field prefixed
/// with its length, so no two different records share an encoding.
fn encode(f: &Fields<'_>, mut feed: impl FnMut(&[u8])) {
    feed(f.prev_hash);
    feed(&f.seq.to_be_bytes());
    feed(&f.at_ms.to_be_bytes());
    for part in [f.kind.as_bytes(), f.actor.as_bytes(), f.subject.as_bytes(), f.payload] {
        feed(&(part.len() as u64).to_be_bytes());
        feed(part);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn fields<'a>(kind: &'a str, actor: &'a str, payload: &'a [u8]) -> Fields<'a> {
        Fields { seq: 1, at_ms: 5, kind, actor, subject: "s", payload, prev_hash: &GENESIS }
    }

    #[test]
    fn field_boundaries_matter() {
        // Moving bytes from one field to the next must change the hash.
        assert_ne!(record_hash(&fields("ab", "c", b"")), record_hash(&fields("a", "bc", b"")));
    }

    #[test]
    fn known_vector() {
        // Computed independently (Python hashlib); pinned so that a change to the encoding (which would orphan every stored chain) is seen.
        let h = record_hash(&fields("app.installed", "system", b"{}"));
        insta::assert_snapshot!(hex::encode(h), @"40086aaa2b327f61b5a6666edf1c7c002b98db8388ae229003856cc907c1c0ab");
    }

    #[test]
    fn keyed_hash_depends_on_the_key_and_differs_from_v1() {
        let f = fields("app.installed", "system", b"{}");
        let k1 = ChainKey::from_bytes([1; 32]);
        let k2 = ChainKey::from_bytes([2; 32]);
        let h1 = keyed_hash(&k1, &f);
        assert_ne!(h1, keyed_hash(&k2, &f));
        assert_ne!(h1, record_hash(&f));
        assert_eq!(check(&k1, &f, &h1), Some(Version::Keyed));
        assert_eq!(check(&k2, &f, &h1), None);
        assert_eq!(check(&k2, &f, &record_hash(&f)), Some(Version::Unkeyed));
        // Computed independently (Python hmac); pinned like the v1 vector: a change would orphan every keyed chain.
        insta::assert_snapshot!(hex::encode(h1), @"5e2906c7154f49be18267eef0065932330294ccb6b24a9a1d87c07a4cc2a8b97");
    }

    proptest! {
        #[test]
        fn any_single_field_change_changes_the_hash(
            seq in 1i64..1000, at in any::<i64>(), payload in proptest::collection::vec(any::<u8>(), 0..64),
            flip in 0usize..64,
        ) {
            let base = Fields { seq, at_ms: at, kind: "k", actor: "a", subject: "s", payload: &payload, prev_hash: &GENESIS };
            let h = record_hash(&base);
            prop_assert_ne!(h, record_hash(&Fields { seq: seq + 1, ..base }));
            prop_assert_ne!(h, record_hash(&Fields { at_ms: at.wrapping_add(1), ..base }));
            let other_prev = [1u8; 32];
            prop_assert_ne!(h, record_hash(&Fields { prev_hash: &other_prev, ..base }));
            if !payload.is_empty() {
                let mut changed = payload.clone();
                let i = flip % changed.len();
                changed[i] ^= 1;
                prop_assert_ne!(h, record_hash(&Fields { payload: &changed, ..base }));
            }
        }
    }
}
