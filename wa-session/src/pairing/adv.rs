//! ADV ("account device verification"): the phone vouches for a companion's identity key with the
//! account key, the companion checks that and countersigns with its own identity key.
//!
//! Both halves live here so that the client and the simulator share one implementation: the
//! companion's [`verify_pair_success`] and [`pair_device_sign`], the phone's
//! [`sign_device_identity`] and [`verify_device_signature`].
//!
//! Messages signed (XEdDSA):
//! - account signature, by the phone's identity key: `[6,0] || details || device identity key`
//!   (`[6,5]` for a hosted account);
//! - device signature, by the companion's identity key:
//!   `[6,1] || details || device identity key || account key`.
//!
//! The HMAC of `pair-success` is HMAC-SHA256 keyed with the companion's ADV secret (from the QR)
//! over the serialized `SignedDeviceIdentity` (prefixed with `[6,5]` for a hosted account).

use hmac::Mac as _;
use prost::Message as _;
use rand_core::CryptoRng;
use wa_proto::{
    Jid, Node,
    proto::adv::{DeviceIdentity, EncryptionType, SignedDeviceIdentity, SignedDeviceIdentityHmac},
};

use crate::{Error, KeyPair, PairingError, PublicKey, Result};

/// Prefix of the message the account key signs.
pub const ACCOUNT_SIGNATURE_PREFIX: [u8; 2] = [6, 0];
/// Prefix of the message the device key signs.
pub const DEVICE_SIGNATURE_PREFIX: [u8; 2] = [6, 1];
/// Prefix of the HMAC input and of the account-signed message for a hosted account.
pub const HOSTED_PREFIX: [u8; 2] = [6, 5];

fn decode<M: prost::Message + Default>(bytes: &[u8], what: &'static str) -> Result<M> {
    M::decode(bytes).map_err(|e| Error::malformed(what, e.to_string()))
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> crate::crypto::HmacSha256 {
    let mut mac = crate::crypto::hmac(key);
    for part in parts {
        mac.update(part);
    }
    mac
}

fn is_hosted(account_type: Option<i32>) -> bool {
    account_type == Some(EncryptionType::Hosted as i32)
}

fn account_message(hosted: bool, details: &[u8], device_identity: &PublicKey) -> Vec<u8> {
    let prefix = if hosted { HOSTED_PREFIX } else { ACCOUNT_SIGNATURE_PREFIX };
    [&prefix[..], details, device_identity.as_bytes()].concat()
}

fn device_message(details: &[u8], device_identity: &PublicKey, account_key: &PublicKey) -> Vec<u8> {
    [&DEVICE_SIGNATURE_PREFIX[..], details, device_identity.as_bytes(), account_key.as_bytes()]
        .concat()
}

// ---------------------------------------------------------------------------------------------
// The companion's half.

/// What `pair-success` says, read from its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairSuccess {
    /// The id of the `iq`, which the `pair-device-sign` answer repeats.
    pub iq_id: String,
    /// The serialized `SignedDeviceIdentityHmac` of `<device-identity>`.
    pub device_identity: Vec<u8>,
    /// Our device JID (`phone:device@s.whatsapp.net`).
    pub jid: Jid,
    /// Our LID (`lid:device@lid`), if the server sent one.
    pub lid: Option<Jid>,
    /// The primary phone's platform (`<platform name=...>`).
    pub platform: Option<String>,
    /// The business name (`<biz name=...>`), if any and not empty.
    pub business_name: Option<String>,
}

impl PairSuccess {
    /// Reads `<iq type="set" id=...><pair-success>...</pair-success></iq>`.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] if the id, the device identity or the device JID is missing.
    pub fn parse(iq: &Node) -> Result<Self> {
        let bad = |reason: &str| Error::malformed("pair-success", reason);
        let success = iq.child("pair-success").ok_or_else(|| bad("no <pair-success>"))?;
        let iq_id = iq.attr_str("id").map_err(|e| bad(&e.to_string()))?.to_owned();
        let device_identity = success
            .child("device-identity")
            .and_then(Node::content_bytes)
            .ok_or_else(|| bad("no <device-identity> bytes"))?
            .to_vec();
        let device = success.child("device").ok_or_else(|| bad("no <device>"))?;
        let jid = device.attr_jid("jid").map_err(|e| bad(&e.to_string()))?;
        let lid = device.attr_opt_jid("lid").map_err(|e| bad(&e.to_string()))?;
        let name = |tag: &str| {
            success
                .child(tag)
                .and_then(|n| n.attr_opt_str("name").ok().flatten())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Ok(Self {
            iq_id,
            device_identity,
            jid,
            lid,
            platform: name("platform"),
            business_name: name("biz"),
        })
    }
}

/// A `pair-success` that verified, countersigned by our identity key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPairing {
    /// The key index the phone gave this device.
    pub key_index: u32,
    /// The primary phone's identity key (the account key).
    pub account_key: PublicKey,
    /// The serialized `SignedDeviceIdentity` with the account key, both signatures: what the
    /// device keeps (it goes into outgoing `device-identity` nodes of prekey messages).
    pub signed_identity: Vec<u8>,
    /// The same without the account key: what `pair-device-sign` sends back.
    pub reply_identity: Vec<u8>,
    /// Whether the account is a hosted (Cloud API) one.
    pub hosted: bool,
}

/// Checks `pair-success`'s device identity as the companion: the HMAC with our ADV secret, then
/// the account signature over our identity key, then signs it with our identity key.
///
/// # Errors
///
/// [`Error::Malformed`] if a layer does not decode or misses a field,
/// [`PairingError::HmacMismatch`], [`PairingError::AccountSignature`].
pub fn verify_pair_success(
    device_identity: &[u8],
    adv_secret: &[u8; 32],
    identity: &KeyPair,
    rng: &mut impl CryptoRng,
) -> Result<VerifiedPairing> {
    let wrapped: SignedDeviceIdentityHmac = decode(device_identity, "SignedDeviceIdentityHmac")?;
    let hosted = is_hosted(wrapped.account_type);
    let signed_bytes = wrapped
        .details
        .ok_or_else(|| Error::malformed("SignedDeviceIdentityHmac", "no details"))?;
    let hmac =
        wrapped.hmac.ok_or_else(|| Error::malformed("SignedDeviceIdentityHmac", "no hmac"))?;
    let prefix: &[u8] = if hosted { &HOSTED_PREFIX } else { &[] };
    hmac_sha256(adv_secret, &[prefix, &signed_bytes])
        .verify_slice(&hmac)
        .map_err(|_| Error::Pairing(PairingError::HmacMismatch))?;

    let mut signed: SignedDeviceIdentity = decode(&signed_bytes, "SignedDeviceIdentity")?;
    let details = signed
        .details
        .clone()
        .ok_or_else(|| Error::malformed("SignedDeviceIdentity", "no details"))?;
    let account_key = signed
        .account_signature_key
        .as_deref()
        .ok_or_else(|| Error::malformed("SignedDeviceIdentity", "no account key"))
        .and_then(PublicKey::from_slice)?;
    let account_signature = signed
        .account_signature
        .as_deref()
        .ok_or_else(|| Error::malformed("SignedDeviceIdentity", "no account signature"))?;
    let device_details: DeviceIdentity = decode(&details, "DeviceIdentity")?;
    let key_index = device_details
        .key_index
        .ok_or_else(|| Error::malformed("DeviceIdentity", "no key index"))?;
    account_key
        .verify(&account_message(hosted, &details, &identity.public), account_signature)
        .map_err(|_| Error::Pairing(PairingError::AccountSignature))?;

    let signature = identity.sign(&device_message(&details, &identity.public, &account_key), rng);
    signed.device_signature = Some(signature.to_vec());
    let signed_identity = signed.encode_to_vec();
    signed.account_signature_key = None;
    let reply_identity = signed.encode_to_vec();
    Ok(VerifiedPairing { key_index, account_key, signed_identity, reply_identity, hosted })
}

/// The answer to `pair-success`:
/// `<iq type="result" to="s.whatsapp.net" id=...><pair-device-sign><device-identity key-index=N>`.
#[must_use]
pub fn pair_device_sign(iq_id: &str, pairing: &VerifiedPairing) -> Node {
    Node::builder("iq")
        .attr("to", Jid::server_jid())
        .attr("type", "result")
        .attr("id", iq_id.to_owned())
        .children([Node::builder("pair-device-sign")
            .children([Node::builder("device-identity")
                .attr("key-index", pairing.key_index.to_string())
                .bytes(pairing.reply_identity.clone())
                .build()])
            .build()])
        .build()
}

/// The error answer to a `pair-success` that did not verify: `<iq type="error"><error code=401
/// text=hmac-mismatch|signature-mismatch|...>`.
#[must_use]
pub fn pair_error(iq_id: &str, error: &Error) -> Node {
    let (code, text) = match error {
        Error::Pairing(PairingError::HmacMismatch) => ("401", "hmac-mismatch"),
        Error::Pairing(PairingError::AccountSignature) => ("401", "signature-mismatch"),
        _ => ("500", "internal-error"),
    };
    Node::builder("iq")
        .attr("to", Jid::server_jid())
        .attr("type", "error")
        .attr("id", iq_id.to_owned())
        .children([Node::builder("error").attr("code", code).attr("text", text).build()])
        .build()
}

// ---------------------------------------------------------------------------------------------
// The phone's half.

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
    let message = account_message(false, &details, device_identity);
    let signed = SignedDeviceIdentity {
        details: Some(details.clone()),
        account_signature_key: Some(account.public.as_bytes().to_vec()),
        account_signature: Some(account.sign(&message, rng).to_vec()),
        device_signature: None,
    }
    .encode_to_vec();
    let hmac = hmac_sha256(adv_secret, &[&signed]).finalize().into_bytes().to_vec();
    let wrapped =
        SignedDeviceIdentityHmac { details: Some(signed), hmac: Some(hmac), account_type: None }
            .encode_to_vec();
    (details, wrapped)
}

/// The phone reads the companion's `pair-device-sign` answer: returns the bytes of its
/// `<device-identity>`, which must carry `key-index` = `key_index`.
///
/// # Errors
///
/// [`Error::Malformed`] if there is no `pair-device-sign/device-identity` with bytes,
/// [`PairingError::KeyIndex`] if its key index is missing or another one.
pub fn device_identity_of_reply(iq: &Node, key_index: u32) -> Result<&[u8]> {
    let identity = iq
        .child("pair-device-sign")
        .and_then(|sign| sign.child("device-identity"))
        .ok_or_else(|| Error::malformed("pair-device-sign", "no <device-identity>"))?;
    let found = identity.attr_opt_str("key-index").ok().flatten().and_then(|k| k.parse().ok());
    if found != Some(key_index) {
        return Err(Error::Pairing(PairingError::KeyIndex { expected: key_index, found }));
    }
    identity
        .content_bytes()
        .ok_or_else(|| Error::malformed("pair-device-sign", "<device-identity> has no bytes"))
}

/// Checks the companion's `pair-device-sign` answer: the identity it returns must carry the
/// details the phone sent (and its account key, if it names one), and a device signature by
/// `device_identity` over `[6,1] || details || device_identity || account_key`.
///
/// # Errors
///
/// [`Error::Malformed`] if the answer does not decode or has no signature,
/// [`PairingError::Mismatch`] if it differs from what was sent, [`PairingError::DeviceSignature`]
/// if the signature does not verify.
pub fn verify_device_signature(
    returned: &[u8],
    sent_details: &[u8],
    account_key: &PublicKey,
    device_identity: &PublicKey,
) -> Result<()> {
    let identity: SignedDeviceIdentity = decode(returned, "SignedDeviceIdentity")?;
    if identity.details.as_deref() != Some(sent_details) {
        return Err(Error::Pairing(PairingError::Mismatch("device-identity details differ")));
    }
    if let Some(key) = identity.account_signature_key.as_deref()
        && key != account_key.as_bytes()
    {
        return Err(Error::Pairing(PairingError::Mismatch("account signature key differs")));
    }
    let signature = identity
        .device_signature
        .ok_or_else(|| Error::malformed("SignedDeviceIdentity", "no device signature"))?;
    device_identity
        .verify(&device_message(sent_details, device_identity, account_key), &signature)
        .map_err(|_| Error::Pairing(PairingError::DeviceSignature))
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;

    const FACTS: DeviceFacts = DeviceFacts { raw_id: 77, timestamp: 1_700_000_000, key_index: 3 };
    const ADV: [u8; 32] = [5; 32];

    struct Setup {
        rng: StdRng,
        account: KeyPair,
        device: KeyPair,
        details: Vec<u8>,
        wrapped: Vec<u8>,
    }

    fn setup() -> Setup {
        let mut rng = StdRng::seed_from_u64(9);
        let account = KeyPair::generate(&mut rng);
        let device = KeyPair::generate(&mut rng);
        let (details, wrapped) =
            sign_device_identity(&account, &ADV, &device.public, FACTS, &mut rng);
        Setup { rng, account, device, details, wrapped }
    }

    fn pair_success_node(wrapped: Vec<u8>) -> Node {
        Node::builder("iq")
            .attr("id", "p1")
            .attr("type", "set")
            .children([Node::builder("pair-success")
                .children([
                    Node::builder("device-identity").bytes(wrapped).build(),
                    Node::builder("platform").attr("name", "android").build(),
                    Node::builder("device")
                        .attr("jid", "15550001111:3@s.whatsapp.net".parse::<Jid>().unwrap())
                        .attr("lid", "100200300:3@lid".parse::<Jid>().unwrap())
                        .build(),
                    Node::builder("biz").attr("name", "").build(),
                ])
                .build()])
            .build()
    }

    #[test]
    fn both_halves_agree() {
        let mut s = setup();
        let success = PairSuccess::parse(&pair_success_node(s.wrapped.clone())).unwrap();
        assert_eq!(success.jid.device, 3);
        assert_eq!(success.lid.as_ref().map(|l| l.user.as_str()), Some("100200300"));
        assert_eq!(success.platform.as_deref(), Some("android"));
        assert_eq!(success.business_name, None);
        let verified =
            verify_pair_success(&success.device_identity, &ADV, &s.device, &mut s.rng).unwrap();
        assert_eq!((verified.key_index, verified.account_key), (3, s.account.public));
        assert!(!verified.hosted);
        let reply = pair_device_sign(&success.iq_id, &verified);
        assert_eq!(reply.attr_str("id").unwrap(), "p1");
        let returned = device_identity_of_reply(&reply, 3).unwrap();
        verify_device_signature(returned, &s.details, &s.account.public, &s.device.public).unwrap();
        // What the device keeps names the account key; what it sends back does not.
        let kept = SignedDeviceIdentity::decode(verified.signed_identity.as_slice()).unwrap();
        let sent = SignedDeviceIdentity::decode(returned).unwrap();
        assert_eq!(kept.account_signature_key.as_deref(), Some(&s.account.public.as_bytes()[..]));
        assert_eq!(sent.account_signature_key, None);
        assert_eq!(kept.device_signature, sent.device_signature);
    }

    #[test]
    fn companion_refuses_a_bad_hmac() {
        let mut s = setup();
        let err = verify_pair_success(&s.wrapped, &[6; 32], &s.device, &mut s.rng).unwrap_err();
        assert_eq!(err, Error::Pairing(PairingError::HmacMismatch));
        assert_eq!(
            pair_error("p1", &err).child("error").unwrap().attr_str("text").unwrap(),
            "hmac-mismatch"
        );
        let mut wrapped = SignedDeviceIdentityHmac::decode(s.wrapped.as_slice()).unwrap();
        wrapped.hmac = Some(vec![0; 32]);
        let zero = wrapped.encode_to_vec();
        assert_eq!(
            verify_pair_success(&zero, &ADV, &s.device, &mut s.rng),
            Err(Error::Pairing(PairingError::HmacMismatch))
        );
    }

    #[test]
    fn companion_refuses_a_bad_account_signature() {
        let mut s = setup();
        // Vouching for another device's key: the signature is not over ours.
        let other = KeyPair::generate(&mut s.rng);
        assert_eq!(
            verify_pair_success(&s.wrapped, &ADV, &other, &mut s.rng),
            Err(Error::Pairing(PairingError::AccountSignature))
        );
        // A zeroed account signature under a valid HMAC.
        let wrapped = SignedDeviceIdentityHmac::decode(s.wrapped.as_slice()).unwrap();
        let mut signed = SignedDeviceIdentity::decode(wrapped.details.unwrap().as_slice()).unwrap();
        signed.account_signature = Some(vec![0; 64]);
        let signed = signed.encode_to_vec();
        let hmac = hmac_sha256(&ADV, &[&signed]).finalize().into_bytes().to_vec();
        let forged = SignedDeviceIdentityHmac {
            details: Some(signed),
            hmac: Some(hmac),
            account_type: None,
        }
        .encode_to_vec();
        let err = verify_pair_success(&forged, &ADV, &s.device, &mut s.rng).unwrap_err();
        assert_eq!(err, Error::Pairing(PairingError::AccountSignature));
        assert_eq!(
            pair_error("p1", &err).child("error").unwrap().attr_str("text").unwrap(),
            "signature-mismatch"
        );
        assert!(matches!(
            verify_pair_success(b"\xff\x01", &ADV, &s.device, &mut s.rng),
            Err(Error::Malformed { .. })
        ));
    }

    #[test]
    fn phone_refuses_a_wrong_key_index_or_signature() {
        let mut s = setup();
        let verified = verify_pair_success(&s.wrapped, &ADV, &s.device, &mut s.rng).unwrap();
        let reply = pair_device_sign("p1", &verified);
        assert_eq!(
            device_identity_of_reply(&reply, 4),
            Err(Error::Pairing(PairingError::KeyIndex { expected: 4, found: Some(3) }))
        );
        let no_index = Node::builder("iq")
            .children([Node::builder("pair-device-sign")
                .children([Node::builder("device-identity").bytes(vec![1]).build()])
                .build()])
            .build();
        assert_eq!(
            device_identity_of_reply(&no_index, 3),
            Err(Error::Pairing(PairingError::KeyIndex { expected: 3, found: None }))
        );
        assert!(matches!(
            device_identity_of_reply(&Node::new("iq"), 3),
            Err(Error::Malformed { .. })
        ));

        let answer = device_identity_of_reply(&reply, 3).unwrap();
        let (account, device) = (s.account.public, s.device.public);
        let other = KeyPair::generate(&mut s.rng).public;
        assert_eq!(
            verify_device_signature(answer, &s.details, &account, &other),
            Err(Error::Pairing(PairingError::DeviceSignature))
        );
        assert_eq!(
            verify_device_signature(answer, b"x", &account, &device),
            Err(Error::Pairing(PairingError::Mismatch("device-identity details differ")))
        );
        let mut signed = SignedDeviceIdentity::decode(answer).unwrap();
        for signature in [Some(vec![0; 64]), Some(vec![7; 64])] {
            signed.device_signature = signature;
            let bytes = signed.encode_to_vec();
            assert_eq!(
                verify_device_signature(&bytes, &s.details, &account, &device),
                Err(Error::Pairing(PairingError::DeviceSignature))
            );
        }
        signed.device_signature = None;
        let none = signed.encode_to_vec();
        assert!(matches!(
            verify_device_signature(&none, &s.details, &account, &device),
            Err(Error::Malformed { .. })
        ));
        signed.account_signature_key = Some(other.as_bytes().to_vec());
        let bytes = signed.encode_to_vec();
        assert_eq!(
            verify_device_signature(&bytes, &s.details, &account, &device),
            Err(Error::Pairing(PairingError::Mismatch("account signature key differs")))
        );
    }
}
