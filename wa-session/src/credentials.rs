//! A companion device's own long-lived secrets and, once paired, its account.

use std::fmt;

use prost::Message as _;
use rand_core::CryptoRng;
use wa_proto::Jid;
use zeroize::{Zeroize as _, Zeroizing};

use crate::{
    Error, IdentityKeyPair, KeyPair, PrivateKey, PublicKey, Result,
    signal::{SignedPreKeyRecord, generate_registration_id},
};

/// Version of the persisted form ([`DeviceCredentials::to_bytes`]).
pub const CREDENTIALS_VERSION: u32 = 1;

/// Everything a companion device keeps about itself: its keys from the first start, and after
/// pairing the account it belongs to.
///
/// Private keys and the ADV secret are zeroized on drop; `Debug` prints public parts only.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceCredentials {
    /// The long-lived Noise static key the server knows the device by.
    pub noise_key: KeyPair,
    /// The Signal identity key pair.
    pub identity: IdentityKeyPair,
    /// The Signal registration id (14 bits).
    pub registration_id: u32,
    /// The current signed prekey.
    pub signed_pre_key: SignedPreKeyRecord,
    /// The ADV secret shown in the QR code; the phone keys `pair-success`'s HMAC with it.
    pub adv_secret: Zeroizing<[u8; 32]>,
    /// The id the next generated one-time prekey gets (ids are 24-bit, starting at 1).
    pub next_pre_key_id: u32,
    /// The name shown to contacts, if known.
    pub push_name: Option<String>,
    /// The account, once paired.
    pub account: Option<PairedAccount>,
}

/// What pairing established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairedAccount {
    /// Our device JID, `phone:device@s.whatsapp.net`.
    pub jid: Jid,
    /// Our LID, `lid:device@lid`, if the server gave one.
    pub lid: Option<Jid>,
    /// The primary phone's identity key.
    pub account_key: PublicKey,
    /// The key index the phone gave this device.
    pub key_index: u32,
    /// The serialized ADV `SignedDeviceIdentity` (account key, account and device signatures).
    pub signed_identity: Vec<u8>,
    /// The primary phone's platform, as `pair-success` named it.
    pub platform: Option<String>,
    /// The business name, for a business account.
    pub business_name: Option<String>,
}

impl fmt::Debug for DeviceCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCredentials")
            .field("noise_key", &self.noise_key)
            .field("identity", &self.identity)
            .field("registration_id", &self.registration_id)
            .field("signed_pre_key", &self.signed_pre_key)
            .field("adv_secret", &"<redacted>")
            .field("next_pre_key_id", &self.next_pre_key_id)
            .field("push_name", &self.push_name)
            .field("account", &self.account)
            .finish()
    }
}

impl DeviceCredentials {
    /// Fresh credentials around an existing identity (the one the Signal store holds): a new
    /// Noise key, signed prekey (id 1, stamped `now`) and ADV secret.
    pub fn generate_with_identity(
        identity: IdentityKeyPair,
        registration_id: u32,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Self {
        let noise_key = KeyPair::generate(rng);
        let signed_pre_key = SignedPreKeyRecord::generate(&identity, 1, now, rng);
        let mut adv_secret = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(adv_secret.as_mut());
        Self {
            noise_key,
            identity,
            registration_id,
            signed_pre_key,
            adv_secret,
            next_pre_key_id: 1,
            push_name: None,
            account: None,
        }
    }

    /// Entirely fresh credentials, identity and registration id included.
    pub fn generate(now: u64, rng: &mut impl CryptoRng) -> Self {
        let identity = KeyPair::generate(rng);
        let registration_id = generate_registration_id(rng);
        Self::generate_with_identity(identity, registration_id, now, rng)
    }

    /// Whether the device is paired with an account.
    #[must_use]
    pub fn is_paired(&self) -> bool {
        self.account.is_some()
    }

    /// The persisted form: a versioned protobuf message. It holds private keys: store it
    /// encrypted. The buffer is zeroized on drop.
    #[must_use]
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let account = self.account.as_ref();
        let persisted = Persisted {
            version: CREDENTIALS_VERSION,
            noise_private: self.noise_key.private.secret_bytes().to_vec(),
            identity_private: self.identity.private.secret_bytes().to_vec(),
            registration_id: self.registration_id,
            signed_pre_key_id: self.signed_pre_key.id,
            signed_pre_key_private: self.signed_pre_key.key_pair.private.secret_bytes().to_vec(),
            signed_pre_key_signature: self.signed_pre_key.signature.to_vec(),
            signed_pre_key_timestamp: self.signed_pre_key.timestamp,
            adv_secret: self.adv_secret.to_vec(),
            next_pre_key_id: self.next_pre_key_id,
            push_name: self.push_name.clone(),
            jid: account.map(|a| a.jid.to_string()),
            lid: account.and_then(|a| a.lid.as_ref()).map(Jid::to_string),
            account_key: account.map(|a| a.account_key.as_bytes().to_vec()),
            key_index: account.map(|a| a.key_index),
            signed_identity: account.map(|a| a.signed_identity.clone()),
            platform: account.and_then(|a| a.platform.clone()),
            business_name: account.and_then(|a| a.business_name.clone()),
        };
        Zeroizing::new(persisted.encode_to_vec())
    }

    /// Reads the persisted form.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedRecordVersion`] for another version, [`Error::Malformed`] if it does
    /// not decode or a key or JID is invalid.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "device credentials";
        let p = Persisted::decode(bytes).map_err(|e| Error::malformed(WHAT, e.to_string()))?;
        if p.version != CREDENTIALS_VERSION {
            return Err(Error::UnsupportedRecordVersion { what: WHAT, version: p.version });
        }
        let private = |bytes: &[u8], what: &str| {
            PrivateKey::from_slice(bytes).map_err(|_| Error::malformed(WHAT, format!("bad {what}")))
        };
        let jid = |text: &str| {
            text.parse::<Jid>().map_err(|e| Error::malformed(WHAT, format!("bad JID: {e}")))
        };
        let identity = KeyPair::from_private(private(&p.identity_private, "identity key")?);
        let signature: [u8; 64] = p
            .signed_pre_key_signature
            .as_slice()
            .try_into()
            .map_err(|_| Error::malformed(WHAT, "signed prekey signature is not 64 bytes"))?;
        let adv: [u8; 32] = p
            .adv_secret
            .as_slice()
            .try_into()
            .map_err(|_| Error::malformed(WHAT, "adv secret is not 32 bytes"))?;
        let account = match (&p.jid, &p.account_key, p.key_index, &p.signed_identity) {
            (None, ..) => None,
            (Some(text), Some(key), Some(key_index), Some(signed)) => Some(PairedAccount {
                jid: jid(text)?,
                lid: p.lid.as_deref().map(jid).transpose()?,
                account_key: PublicKey::from_slice(key)
                    .map_err(|_| Error::malformed(WHAT, "bad account key"))?,
                key_index,
                signed_identity: signed.clone(),
                platform: p.platform.clone(),
                business_name: p.business_name.clone(),
            }),
            _ => return Err(Error::malformed(WHAT, "incomplete account")),
        };
        Ok(Self {
            noise_key: KeyPair::from_private(private(&p.noise_private, "noise key")?),
            registration_id: p.registration_id,
            signed_pre_key: SignedPreKeyRecord {
                id: p.signed_pre_key_id,
                key_pair: KeyPair::from_private(private(
                    &p.signed_pre_key_private,
                    "signed prekey",
                )?),
                signature,
                timestamp: p.signed_pre_key_timestamp,
            },
            identity,
            adv_secret: Zeroizing::new(adv),
            next_pre_key_id: p.next_pre_key_id,
            push_name: p.push_name.clone(),
            account,
        })
    }
}

/// The persisted form. Field numbers are a storage format: never reuse one.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
struct Persisted {
    #[prost(uint32, tag = "1")]
    version: u32,
    #[prost(bytes = "vec", tag = "2")]
    noise_private: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    identity_private: Vec<u8>,
    #[prost(uint32, tag = "4")]
    registration_id: u32,
    #[prost(uint32, tag = "5")]
    signed_pre_key_id: u32,
    #[prost(bytes = "vec", tag = "6")]
    signed_pre_key_private: Vec<u8>,
    #[prost(bytes = "vec", tag = "7")]
    signed_pre_key_signature: Vec<u8>,
    #[prost(uint64, tag = "8")]
    signed_pre_key_timestamp: u64,
    #[prost(bytes = "vec", tag = "9")]
    adv_secret: Vec<u8>,
    #[prost(uint32, tag = "10")]
    next_pre_key_id: u32,
    #[prost(string, optional, tag = "11")]
    push_name: Option<String>,
    #[prost(string, optional, tag = "12")]
    jid: Option<String>,
    #[prost(string, optional, tag = "13")]
    lid: Option<String>,
    #[prost(bytes = "vec", optional, tag = "14")]
    account_key: Option<Vec<u8>>,
    #[prost(uint32, optional, tag = "15")]
    key_index: Option<u32>,
    #[prost(bytes = "vec", optional, tag = "16")]
    signed_identity: Option<Vec<u8>>,
    #[prost(string, optional, tag = "17")]
    platform: Option<String>,
    #[prost(string, optional, tag = "18")]
    business_name: Option<String>,
}

impl fmt::Debug for Persisted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Persisted").field("version", &self.version).finish_non_exhaustive()
    }
}

impl Drop for Persisted {
    fn drop(&mut self) {
        self.noise_private.zeroize();
        self.identity_private.zeroize();
        self.signed_pre_key_private.zeroize();
        self.adv_secret.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;

    fn paired() -> DeviceCredentials {
        let mut rng = StdRng::seed_from_u64(42);
        let mut credentials = DeviceCredentials::generate(1_700_000_000, &mut rng);
        credentials.next_pre_key_id = 813;
        credentials.push_name = Some("Shop".to_owned());
        credentials.account = Some(PairedAccount {
            jid: "15550001111:3@s.whatsapp.net".parse().unwrap(),
            lid: Some("100200300:3@lid".parse().unwrap()),
            account_key: KeyPair::generate(&mut rng).public,
            key_index: 3,
            signed_identity: vec![1, 2, 3],
            platform: Some("android".to_owned()),
            business_name: None,
        });
        credentials
    }

    #[test]
    fn debug_never_prints_secrets() {
        let credentials = paired();
        let debug = format!("{credentials:#?}");
        for secret in [
            credentials.noise_key.private.secret_bytes(),
            credentials.identity.private.secret_bytes(),
            credentials.signed_pre_key.key_pair.private.secret_bytes(),
            &*credentials.adv_secret,
        ] {
            assert!(!debug.contains(&hex::encode(secret)));
            assert!(
                !debug.contains(&format!("{:?}", &secret[..4]).trim_end_matches(']').to_owned())
            );
        }
        insta::assert_snapshot!(debug);
    }

    #[test]
    fn persisted_form_round_trips_and_is_pinned() {
        let credentials = paired();
        let bytes = credentials.to_bytes();
        insta::assert_snapshot!(hex::encode(&*bytes));
        assert_eq!(DeviceCredentials::from_bytes(&bytes).unwrap(), credentials);

        let mut unpaired = credentials;
        unpaired.account = None;
        unpaired.push_name = None;
        let back = DeviceCredentials::from_bytes(&unpaired.to_bytes()).unwrap();
        assert_eq!(back, unpaired);
        assert!(!back.is_paired());
    }

    #[test]
    fn corrupt_persisted_forms_are_typed_errors() {
        let credentials = paired();
        let bytes = credentials.to_bytes();
        assert!(matches!(
            DeviceCredentials::from_bytes(&bytes[..bytes.len() / 2]),
            Err(Error::Malformed { .. })
        ));
        let mut p = Persisted::decode(bytes.as_slice()).unwrap();
        p.version = 2;
        assert_eq!(
            DeviceCredentials::from_bytes(&p.encode_to_vec()),
            Err(Error::UnsupportedRecordVersion { what: "device credentials", version: 2 })
        );
        p.version = 1;
        p.adv_secret = vec![1; 31];
        assert!(DeviceCredentials::from_bytes(&p.encode_to_vec()).is_err());
        let mut p = Persisted::decode(bytes.as_slice()).unwrap();
        p.key_index = None;
        assert!(DeviceCredentials::from_bytes(&p.encode_to_vec()).is_err());
    }
}
