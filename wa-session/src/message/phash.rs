//! The participant list hash (`phash`) of a message: which devices the sender encrypted for.
//!
//! The server compares it with its own device lists and answers with its own `phash` in the ack
//! when they differ (our device list was stale).

use base64::{Engine as _, engine::general_purpose::STANDARD_NO_PAD};
use sha2::{Digest, Sha256};
use wa_proto::Jid;

/// `"2:" + base64(SHA-256(concatenation of the sorted AD strings)[..6])` without padding.
///
/// This is whatsmeow's `participantListHashV2` (AD strings `user.agent:device@server`, the first
/// 6 bytes of the hash, 8 base64 characters). Baileys' `generateParticipantHashV2` hashes the
/// same way but keeps only the first 6 characters of the base64 of the whole hash, a prefix of
/// this value when given the same strings.
pub fn participant_hash<'a>(devices: impl IntoIterator<Item = &'a Jid>) -> String {
    let mut strings: Vec<String> = devices.into_iter().map(Jid::ad_string).collect();
    strings.sort();
    let hash = Sha256::digest(strings.concat().as_bytes());
    format!("2:{}", STANDARD_NO_PAD.encode(&hash[..6]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(text: &str) -> Jid {
        text.parse().unwrap()
    }

    #[test]
    fn order_does_not_matter_and_ad_strings_are_hashed() {
        let a = jid("5511:2@s.whatsapp.net");
        let b = jid("5522@s.whatsapp.net");
        let hash = participant_hash([&a, &b]);
        assert_eq!(hash, participant_hash([&b, &a]));
        assert_eq!(hash.len(), 10);
        let joined = "5511.0:2@s.whatsapp.net5522.0:0@s.whatsapp.net";
        let digest = Sha256::digest(joined.as_bytes());
        assert_eq!(hash, format!("2:{}", STANDARD_NO_PAD.encode(&digest[..6])));
        assert_ne!(hash, participant_hash([&a]));
        assert_eq!(
            participant_hash([]),
            format!("2:{}", STANDARD_NO_PAD.encode(&Sha256::digest(b"")[..6]))
        );
    }
}
