//! Message ids in the form current WhatsApp Web clients make them.

use rand_core::CryptoRng;
use sha2::{Digest, Sha256};

/// The prefix of message ids made by WhatsApp Web (and by Baileys and whatsmeow).
pub const WEB_MESSAGE_ID_PREFIX: &str = "3EB0";

/// A new message id: `3EB0` followed by the first 9 bytes, upper-case hex, of
/// `SHA-256(BE64(unix seconds) || own user || "@c.us" || 16 random bytes)` (22 characters).
///
/// `own_user` is the user part of our JID (a phone number), if logged in. whatsmeow concatenates
/// the parts as above; Baileys writes them into a fixed 44-byte buffer (zeros after a short user).
/// The server treats the id as opaque, so either layout is valid; this is whatsmeow's.
pub fn generate_message_id(
    own_user: Option<&str>,
    unix_seconds: u64,
    rng: &mut impl CryptoRng,
) -> String {
    let mut random = [0u8; 16];
    rng.fill_bytes(&mut random);
    let mut hasher = Sha256::new();
    hasher.update(unix_seconds.to_be_bytes());
    if let Some(user) = own_user.filter(|user| !user.is_empty()) {
        hasher.update(user.as_bytes());
        hasher.update(b"@c.us");
    }
    hasher.update(random);
    let hash = hasher.finalize();
    let mut id = String::with_capacity(22);
    id.push_str(WEB_MESSAGE_ID_PREFIX);
    for byte in &hash[..9] {
        id.push_str(&format!("{byte:02X}"));
    }
    id
}

#[cfg(test)]
mod tests {
    use rand_core::Rng as _;

    use super::*;
    use crate::store::conformance::TestRng;

    #[test]
    fn form_and_inputs() {
        let id = generate_message_id(Some("5511987654321"), 1_700_000_000, &mut TestRng(1));
        assert_eq!(id.len(), 22);
        assert!(id.starts_with("3EB0"));
        assert!(id[4..].bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)));

        // The same inputs give the same id; each input changes it.
        assert_eq!(id, generate_message_id(Some("5511987654321"), 1_700_000_000, &mut TestRng(1)));
        assert_ne!(id, generate_message_id(Some("5511987654321"), 1_700_000_001, &mut TestRng(1)));
        assert_ne!(id, generate_message_id(Some("5511987654322"), 1_700_000_000, &mut TestRng(1)));
        assert_ne!(id, generate_message_id(None, 1_700_000_000, &mut TestRng(1)));
        assert_ne!(id, generate_message_id(Some("5511987654321"), 1_700_000_000, &mut TestRng(2)));
    }

    #[test]
    fn hashes_the_documented_layout() {
        let mut rng = TestRng(7);
        let id = generate_message_id(Some("123"), 0x0102_0304, &mut rng);
        let mut random = [0u8; 16];
        TestRng(7).fill_bytes(&mut random);
        let mut data = vec![0, 0, 0, 0, 1, 2, 3, 4];
        data.extend_from_slice(b"123@c.us");
        data.extend_from_slice(&random);
        let expected = hex::encode_upper(&Sha256::digest(&data)[..9]);
        assert_eq!(id, format!("3EB0{expected}"));
    }
}
