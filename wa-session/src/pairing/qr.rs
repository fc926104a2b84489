//! The text a companion shows as a QR code.

use base64::{Engine as _, engine::general_purpose::STANDARD};

use crate::PublicKey;

/// The prefix of the current QR form (the phone's camera app opens it as a link).
pub const QR_URL_PREFIX: &str = "https://wa.me/settings/linked_devices#";

/// The QR text for one ref of `pair-device`:
/// `https://wa.me/settings/linked_devices#ref,base64(noise),base64(identity),base64(adv),platform`.
///
/// `platform` is the one-character platform id (`1` Chrome, `c` macOS, ...).
#[must_use]
pub fn qr_text(
    reference: &str,
    noise_key: &PublicKey,
    identity_key: &PublicKey,
    adv_secret: &[u8; 32],
    platform: &str,
) -> String {
    format!(
        "{QR_URL_PREFIX}{reference},{},{},{},{platform}",
        STANDARD.encode(noise_key.as_bytes()),
        STANDARD.encode(identity_key.as_bytes()),
        STANDARD.encode(adv_secret),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_text_has_the_five_fields_behind_the_prefix() {
        let text = qr_text(
            "2@abc",
            &PublicKey::from_bytes([1; 32]),
            &PublicKey::from_bytes([2; 32]),
            &[3; 32],
            "1",
        );
        insta::assert_snapshot!(text);
        let body = text.strip_prefix(QR_URL_PREFIX).unwrap();
        assert_eq!(body.rsplitn(5, ',').count(), 5);
        assert!(body.ends_with(",1"));
    }
}
