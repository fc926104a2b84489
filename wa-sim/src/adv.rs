//! The phone's half of pairing: the signed device identity of `pair-success`, and the check of
//! the device signature that comes back in `pair-device-sign`.

use hmac::{Hmac, KeyInit, Mac};
use prost::Message as _;
use rand::CryptoRng;
use sha2::Sha256;
use wa_proto::proto::adv::{DeviceIdentity, SignedDeviceIdentity, SignedDeviceIdentityHmac};
use wa_session::{KeyPair, PublicKey};

use crate::{Error, Result};

/// Prefix of the message the account key signs.
pub const ACCOUNT_SIGNATURE_PREFIX: [u8; 2] = [6, 0];
/// Prefix of the message the device key signs.
pub const DEVICE_SIGNATURE_PREFIX: [u8; 2] = [6, 1];

/// What the phone vouches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceFacts {
    /// The account's ADV raw id.
    pub raw_id: u32,
    /// Unix seconds.
    pub timestamp: u64,
    /// The new device's key index.
    pub key_index: u32,
}

/// The phone signs the companion's identity: returns the serialized `DeviceIdentity` and the
/// serialized `SignedDeviceIdentityHmac` for the `device-identity` node of `pair-success`.
///
/// The account signature is XEdDSA by `account` over `[6,0] || details || device_identity`; the
/// HMAC is HMAC-SHA256 keyed with `adv_secret` over the serialized `SignedDeviceIdentity`.
pub fn sign_device_identity(
    account: &KeyPair,
    adv_secret: &[u8],
    device_identity: &PublicKey,
    facts: DeviceFacts,
    rng: &mut impl CryptoRng,
) -> (Vec<u8>, Vec<u8>) {
    let details = DeviceIdentity {
        raw_id: Some(facts.raw_id),
        timestamp: Some(facts.timestamp),
        key_index: Some(facts.key_index),
        account_type: None,
        device_type: None,
    }
    .encode_to_vec();
    let message = [&ACCOUNT_SIGNATURE_PREFIX[..], &details, device_identity.as_bytes()].concat();
    let signed = SignedDeviceIdentity {
        details: Some(details.clone()),
        account_signature_key: Some(account.public.as_bytes().to_vec()),
        account_signature: Some(account.sign(&message, rng).to_vec()),
        device_signature: None,
    }
    .encode_to_vec();
    let hmac = adv_hmac(adv_secret, &signed);
    let wrapped =
        SignedDeviceIdentityHmac { details: Some(signed), hmac: Some(hmac), account_type: None }
            .encode_to_vec();
    (details, wrapped)
}

fn adv_hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return Vec::new(),
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Checks the companion's `pair-device-sign` answer: the identity it returns must carry the
/// details and account signature the phone sent, and a device signature by `device_identity`
/// over `[6,1] || details || device_identity || account_key`.
///
/// # Errors
///
/// [`Error::PairingFailed`] if the answer does not decode or differs from what was sent,
/// [`Error::Session`] with a bad-signature error if the device signature does not verify.
pub fn verify_device_signature(
    returned: &[u8],
    sent_details: &[u8],
    account_key: &PublicKey,
    device_identity: &PublicKey,
) -> Result<()> {
    let identity = SignedDeviceIdentity::decode(returned)
        .map_err(|e| Error::PairingFailed(format!("device-identity does not decode: {e}")))?;
    if identity.details.as_deref() != Some(sent_details) {
        return Err(Error::PairingFailed("device-identity details differ".to_owned()));
    }
    if let Some(key) = identity.account_signature_key.as_deref()
        && key != account_key.as_bytes()
    {
        return Err(Error::PairingFailed("account signature key differs".to_owned()));
    }
    let signature = identity
        .device_signature
        .ok_or_else(|| Error::PairingFailed("no device signature".to_owned()))?;
    let message = [
        &DEVICE_SIGNATURE_PREFIX[..],
        sent_details,
        device_identity.as_bytes(),
        account_key.as_bytes(),
    ]
    .concat();
    device_identity.verify(&message, &signature)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;

    const FACTS: DeviceFacts = DeviceFacts { raw_id: 77, timestamp: 1_700_000_000, key_index: 3 };

    /// What a companion does with pair-success (written from the protocol notes, not from a client).
    fn companion_signs(wrapped: &[u8], adv: &[u8], device: &KeyPair, rng: &mut StdRng) -> Vec<u8> {
        let wrapped = SignedDeviceIdentityHmac::decode(wrapped).unwrap();
        let signed_bytes = wrapped.details.unwrap();
        assert_eq!(wrapped.hmac.unwrap(), adv_hmac(adv, &signed_bytes));
        let mut signed = SignedDeviceIdentity::decode(signed_bytes.as_slice()).unwrap();
        let details = signed.details.clone().unwrap();
        let account_key =
            PublicKey::from_slice(signed.account_signature_key.as_deref().unwrap()).unwrap();
        let message = [&[6, 0][..], &details, device.public.as_bytes()].concat();
        account_key.verify(&message, signed.account_signature.as_deref().unwrap()).unwrap();
        let message =
            [&[6, 1][..], &details, device.public.as_bytes(), account_key.as_bytes()].concat();
        signed.device_signature = Some(device.sign(&message, rng).to_vec());
        signed.account_signature_key = None;
        signed.encode_to_vec()
    }

    #[test]
    fn round_trip_and_negative_cases() {
        let mut rng = StdRng::seed_from_u64(9);
        let account = KeyPair::generate(&mut rng);
        let device = KeyPair::generate(&mut rng);
        let adv = [5u8; 32];
        let (details, wrapped) =
            sign_device_identity(&account, &adv, &device.public, FACTS, &mut rng);
        let decoded = DeviceIdentity::decode(details.as_slice()).unwrap();
        assert_eq!((decoded.raw_id, decoded.key_index), (Some(77), Some(3)));
        let answer = companion_signs(&wrapped, &adv, &device, &mut rng);
        verify_device_signature(&answer, &details, &account.public, &device.public).unwrap();

        // Another device's key, other details, a flipped or missing signature: refused.
        let other = KeyPair::generate(&mut rng);
        assert!(
            verify_device_signature(&answer, &details, &account.public, &other.public).is_err()
        );
        assert!(verify_device_signature(&answer, b"x", &account.public, &device.public).is_err());
        let mut signed = SignedDeviceIdentity::decode(answer.as_slice()).unwrap();
        let mut bad = signed.clone();
        if let Some(sig) = bad.device_signature.as_mut() {
            sig[10] ^= 1;
        }
        let bad = bad.encode_to_vec();
        assert!(verify_device_signature(&bad, &details, &account.public, &device.public).is_err());
        signed.device_signature = Some(vec![0; 64]);
        let zero = signed.encode_to_vec();
        assert!(verify_device_signature(&zero, &details, &account.public, &device.public).is_err());
        signed.device_signature = None;
        let none = signed.encode_to_vec();
        assert!(verify_device_signature(&none, &details, &account.public, &device.public).is_err());
        assert!(
            verify_device_signature(b"\xff\xff", &details, &account.public, &device.public)
                .is_err()
        );
    }
}
