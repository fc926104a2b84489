//! The QR text a companion shows, as the phone reads it.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use wa_session::PublicKey;

use crate::{Error, Result};

/// The prefix of the current QR form.
pub const QR_URL_PREFIX: &str = "https://wa.me/settings/linked_devices#";

/// What a companion's QR code says: `ref,noise,identity,adv[,platform]`, optionally behind
/// [`QR_URL_PREFIX`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrCode {
    /// The ref the server gave in `pair-device`.
    pub reference: String,
    /// The companion's Noise static key.
    pub noise_key: PublicKey,
    /// The companion's Signal identity key.
    pub identity_key: PublicKey,
    /// The ADV secret (32 bytes) the phone keys the pair-success HMAC with.
    pub adv_secret: Vec<u8>,
    /// The platform id of the newer form (`1` Chrome, `c` macOS, ...), if present.
    pub platform: Option<String>,
}

impl QrCode {
    /// Parses either QR form.
    ///
    /// ```
    /// use base64::{Engine as _, engine::general_purpose::STANDARD};
    /// let key = STANDARD.encode([7u8; 32]);
    /// let text = format!("https://wa.me/settings/linked_devices#2@ref,{key},{key},{key},1");
    /// let qr = wa_sim::QrCode::parse(&text)?;
    /// assert_eq!(qr.reference, "2@ref");
    /// assert_eq!(qr.platform.as_deref(), Some("1"));
    /// # Ok::<(), wa_sim::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::BadQr`] if the text has not 4 or 5 fields, a key is not base64 of 32 bytes, or the
    /// ref is empty.
    pub fn parse(text: &str) -> Result<Self> {
        let body = text.trim().strip_prefix(QR_URL_PREFIX).unwrap_or(text.trim());
        let fields: Vec<&str> = body.split(',').collect();
        let (reference, noise, identity, adv, platform) = match fields.as_slice() {
            [r, n, i, a] => (*r, *n, *i, *a, None),
            [r, n, i, a, p] => (*r, *n, *i, *a, Some((*p).to_owned())),
            _ => return Err(Error::BadQr("expected 4 or 5 comma-separated fields")),
        };
        if reference.is_empty() {
            return Err(Error::BadQr("empty ref"));
        }
        let key = |field: &str, what| -> Result<PublicKey> {
            let bytes = STANDARD.decode(field).map_err(|_| Error::BadQr(what))?;
            PublicKey::from_slice(&bytes).map_err(|_| Error::BadQr(what))
        };
        let adv_secret =
            STANDARD.decode(adv).map_err(|_| Error::BadQr("adv secret is not base64"))?;
        if adv_secret.len() != 32 {
            return Err(Error::BadQr("adv secret is not 32 bytes"));
        }
        Ok(Self {
            reference: reference.to_owned(),
            noise_key: key(noise, "noise key is not base64 of 32 bytes")?,
            identity_key: key(identity, "identity key is not base64 of 32 bytes")?,
            adv_secret,
            platform,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(byte: u8) -> String {
        STANDARD.encode([byte; 32])
    }

    #[test]
    fn parses_both_forms() {
        let old = format!("1@abc+/=,{},{},{}", b64(1), b64(2), b64(3));
        let qr = QrCode::parse(&old).unwrap();
        assert_eq!(qr.reference, "1@abc+/=");
        assert_eq!(qr.noise_key, PublicKey::from_bytes([1; 32]));
        assert_eq!(qr.identity_key, PublicKey::from_bytes([2; 32]));
        assert_eq!(qr.adv_secret, vec![3; 32]);
        assert_eq!(qr.platform, None);
        let new = format!("{QR_URL_PREFIX}{old},c");
        let qr = QrCode::parse(&new).unwrap();
        assert_eq!(qr.platform.as_deref(), Some("c"));
    }

    #[test]
    fn rejects_bad_texts() {
        for text in [
            String::new(),
            "a,b,c".to_owned(),
            format!(",{},{},{}", b64(1), b64(2), b64(3)),
            format!("r,{},{},{},p,extra", b64(1), b64(2), b64(3)),
            format!("r,not base64,{},{}", b64(2), b64(3)),
            format!("r,{},{},{}", STANDARD.encode([1; 31]), b64(2), b64(3)),
            format!("r,{},{},{}", b64(1), b64(2), STANDARD.encode([3; 16])),
        ] {
            assert!(QrCode::parse(&text).is_err(), "{text}");
        }
    }
}
