//! The server's Noise certificate chain: building one (for a simulated server) and verifying one
//! fully (for the client).
//!
//! A chain has two certificates. The **intermediate** (issuer serial 0) certifies a key `I` and is
//! XEdDSA-signed by the root key; the **leaf** names the intermediate's serial as its issuer,
//! certifies the server's Noise static key and is signed by `I`. Both carry a validity window in
//! unix seconds. [`CertVerifier`] checks every one of these facts; the root key is injectable and
//! defaults to WhatsApp's ([`WA_ROOT_KEY`]), and the time is a parameter.
//!
//! ```
//! use rand::{SeedableRng, rngs::StdRng};
//! use wa_session::{KeyPair, cert::{CertVerifier, ChainSpec}};
//!
//! let mut rng = StdRng::seed_from_u64(1);
//! let root = KeyPair::generate(&mut rng);
//! let server_static = KeyPair::generate(&mut rng);
//! let spec = ChainSpec::new(&root, KeyPair::generate(&mut rng), 1_000, 2_000);
//! let chain = spec.build(&server_static.public, &mut rng);
//!
//! let verifier = CertVerifier::new(root.public, 1_500);
//! verifier.verify(&chain, &server_static.public)?;
//! assert!(CertVerifier::new(root.public, 2_001).verify(&chain, &server_static.public).is_err());
//! # Ok::<(), wa_session::Error>(())
//! ```

use prost::Message as _;
use rand_core::CryptoRng;
use wa_proto::proto::cert::{
    CertChain,
    cert_chain::{NoiseCertificate, noise_certificate::Details},
};

use crate::{CertError, CertRole, Error, KeyPair, PublicKey, Result};

/// WhatsApp's root certificate key ("WhatsAppLongTerm1"), which signs the intermediate certificate.
pub const WA_ROOT_KEY: PublicKey = PublicKey::from_bytes([
    0x14, 0x23, 0x75, 0x57, 0x4d, 0x0a, 0x58, 0x71, 0x66, 0xaa, 0xe7, 0x1e, 0xbe, 0x51, 0x64, 0x37,
    0xc4, 0xa2, 0x8b, 0x73, 0xe3, 0x69, 0x5c, 0x6c, 0xe1, 0xf7, 0xf9, 0x54, 0x5d, 0xa8, 0xee, 0x6b,
]);

/// The issuer serial an intermediate certificate must name (the root).
pub const ROOT_ISSUER_SERIAL: u32 = 0;

/// What a verified chain asserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedChain {
    /// The intermediate certificate's serial.
    pub intermediate_serial: u32,
    /// The leaf certificate's serial.
    pub leaf_serial: u32,
    /// The intermediate key that signed the leaf.
    pub intermediate_key: PublicKey,
    /// The earliest `not_after` of the two certificates: when the chain stops being valid.
    pub not_after: u64,
}

/// Verifies a server certificate chain against a root key at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertVerifier {
    root: PublicKey,
    now: u64,
}

impl CertVerifier {
    /// A verifier trusting `root`, checking validity windows at `now` (unix seconds).
    #[must_use]
    pub const fn new(root: PublicKey, now: u64) -> Self {
        Self { root, now }
    }

    /// A verifier trusting WhatsApp's root key ([`WA_ROOT_KEY`]) at `now` (unix seconds).
    #[must_use]
    pub const fn whatsapp(now: u64) -> Self {
        Self::new(WA_ROOT_KEY, now)
    }

    /// The trusted root key.
    #[must_use]
    pub const fn root(&self) -> PublicKey {
        self.root
    }

    /// Decodes a serialized `CertChain` (the decrypted ServerHello payload) and verifies it.
    ///
    /// # Errors
    ///
    /// As [`CertVerifier::verify`], and [`CertError::Malformed`] if the bytes do not decode.
    pub fn verify_bytes(&self, chain: &[u8], server_static: &PublicKey) -> Result<VerifiedChain> {
        let chain = CertChain::decode(chain).map_err(|error| {
            Error::Cert(CertError::Malformed { cert: CertRole::Chain, reason: error.to_string() })
        })?;
        self.verify(&chain, server_static)
    }

    /// Verifies every link of `chain` for a server whose Noise static key is `server_static`.
    ///
    /// # Errors
    ///
    /// [`CertError::Malformed`] (a missing part, a key that is not 32 bytes, a missing validity
    /// bound), [`CertError::BadSignature`] (intermediate not signed by the root, leaf not signed by
    /// the intermediate key), [`CertError::IssuerSerial`] (intermediate not issued by serial 0,
    /// leaf not issued by the intermediate's serial), [`CertError::KeyMismatch`] (the leaf does not
    /// certify `server_static`), [`CertError::Expired`] and [`CertError::NotYetValid`].
    #[must_use = "a chain check whose result is ignored checks nothing"]
    pub fn verify(&self, chain: &CertChain, server_static: &PublicKey) -> Result<VerifiedChain> {
        let (intermediate_bytes, intermediate_sig) =
            parts(chain.intermediate.as_ref(), CertRole::Intermediate)?;
        let (leaf_bytes, leaf_sig) = parts(chain.leaf.as_ref(), CertRole::Leaf)?;

        self.root
            .verify(intermediate_bytes, intermediate_sig)
            .map_err(|_| Error::Cert(CertError::BadSignature(CertRole::Intermediate)))?;
        let intermediate = Parsed::decode(intermediate_bytes, CertRole::Intermediate)?;
        if intermediate.issuer_serial != ROOT_ISSUER_SERIAL {
            return Err(Error::Cert(CertError::IssuerSerial {
                cert: CertRole::Intermediate,
                expected: ROOT_ISSUER_SERIAL,
                found: intermediate.issuer_serial,
            }));
        }
        self.check_validity(&intermediate)?;

        intermediate
            .key
            .verify(leaf_bytes, leaf_sig)
            .map_err(|_| Error::Cert(CertError::BadSignature(CertRole::Leaf)))?;
        let leaf = Parsed::decode(leaf_bytes, CertRole::Leaf)?;
        if leaf.issuer_serial != intermediate.serial {
            return Err(Error::Cert(CertError::IssuerSerial {
                cert: CertRole::Leaf,
                expected: intermediate.serial,
                found: leaf.issuer_serial,
            }));
        }
        self.check_validity(&leaf)?;
        if leaf.key != *server_static {
            return Err(Error::Cert(CertError::KeyMismatch));
        }
        Ok(VerifiedChain {
            intermediate_serial: intermediate.serial,
            leaf_serial: leaf.serial,
            intermediate_key: intermediate.key,
            not_after: intermediate.not_after.min(leaf.not_after),
        })
    }

    fn check_validity(&self, cert: &Parsed) -> Result<()> {
        if self.now < cert.not_before {
            return Err(Error::Cert(CertError::NotYetValid {
                cert: cert.role,
                not_before: cert.not_before,
                now: self.now,
            }));
        }
        if self.now > cert.not_after {
            return Err(Error::Cert(CertError::Expired {
                cert: cert.role,
                not_after: cert.not_after,
                now: self.now,
            }));
        }
        Ok(())
    }
}

fn parts(cert: Option<&NoiseCertificate>, role: CertRole) -> Result<(&[u8], &[u8])> {
    let malformed =
        |reason: &str| Error::Cert(CertError::Malformed { cert: role, reason: reason.to_owned() });
    let cert = cert.ok_or_else(|| malformed("missing"))?;
    let details = cert.details.as_deref().ok_or_else(|| malformed("no details"))?;
    let signature = cert.signature.as_deref().ok_or_else(|| malformed("no signature"))?;
    Ok((details, signature))
}

/// The decoded, shape-checked details of one certificate.
struct Parsed {
    role: CertRole,
    serial: u32,
    issuer_serial: u32,
    key: PublicKey,
    not_before: u64,
    not_after: u64,
}

impl Parsed {
    fn decode(bytes: &[u8], role: CertRole) -> Result<Self> {
        let malformed = |reason: String| Error::Cert(CertError::Malformed { cert: role, reason });
        let details = Details::decode(bytes).map_err(|error| malformed(error.to_string()))?;
        let key: [u8; 32] = details
            .key
            .as_deref()
            .ok_or_else(|| malformed("no key".to_owned()))?
            .try_into()
            .map_err(|_| malformed("key is not 32 bytes".to_owned()))?;
        Ok(Self {
            role,
            // proto2 defaults: an absent serial is 0, as WhatsApp's peers read it.
            serial: details.serial.unwrap_or(0),
            issuer_serial: details.issuer_serial.unwrap_or(0),
            key: PublicKey::from_bytes(key),
            not_before: details.not_before.ok_or_else(|| malformed("no not_before".to_owned()))?,
            not_after: details.not_after.ok_or_else(|| malformed("no not_after".to_owned()))?,
        })
    }
}

/// How a simulated server's chain is made: the root that signs, the intermediate key pair, serials
/// and one validity window for both certificates.
#[derive(Debug, Clone)]
pub struct ChainSpec<'a> {
    /// The root key pair (signs the intermediate).
    pub root: &'a KeyPair,
    /// The intermediate key pair (certified by the root, signs the leaf).
    pub intermediate: KeyPair,
    /// The intermediate's serial, which the leaf names as its issuer.
    pub intermediate_serial: u32,
    /// The leaf's serial.
    pub leaf_serial: u32,
    /// Start of validity of both certificates, unix seconds.
    pub not_before: u64,
    /// End of validity of both certificates, unix seconds.
    pub not_after: u64,
}

impl<'a> ChainSpec<'a> {
    /// A spec with intermediate serial 1 and leaf serial 2.
    #[must_use]
    pub const fn new(
        root: &'a KeyPair,
        intermediate: KeyPair,
        not_before: u64,
        not_after: u64,
    ) -> Self {
        Self { root, intermediate, intermediate_serial: 1, leaf_serial: 2, not_before, not_after }
    }

    /// Builds and signs a chain certifying `server_static` (the server's Noise static key).
    pub fn build(&self, server_static: &PublicKey, rng: &mut impl CryptoRng) -> CertChain {
        let intermediate = Details {
            serial: Some(self.intermediate_serial),
            issuer_serial: Some(ROOT_ISSUER_SERIAL),
            key: Some(self.intermediate.public.as_bytes().to_vec()),
            not_before: Some(self.not_before),
            not_after: Some(self.not_after),
        }
        .encode_to_vec();
        let leaf = Details {
            serial: Some(self.leaf_serial),
            issuer_serial: Some(self.intermediate_serial),
            key: Some(server_static.as_bytes().to_vec()),
            not_before: Some(self.not_before),
            not_after: Some(self.not_after),
        }
        .encode_to_vec();
        let intermediate_sig = self.root.sign(&intermediate, rng);
        let leaf_sig = self.intermediate.sign(&leaf, rng);
        CertChain {
            leaf: Some(NoiseCertificate {
                details: Some(leaf),
                signature: Some(leaf_sig.to_vec()),
            }),
            intermediate: Some(NoiseCertificate {
                details: Some(intermediate),
                signature: Some(intermediate_sig.to_vec()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;

    struct Fixture {
        rng: StdRng,
        root: KeyPair,
        intermediate: KeyPair,
        server: KeyPair,
    }

    fn fixture() -> Fixture {
        let mut rng = StdRng::seed_from_u64(42);
        let root = KeyPair::generate(&mut rng);
        let intermediate = KeyPair::generate(&mut rng);
        let server = KeyPair::generate(&mut rng);
        Fixture { rng, root, intermediate, server }
    }

    /// Re-signs `details` with `signer` into `cert`.
    fn resign(
        cert: &mut Option<NoiseCertificate>,
        signer: &KeyPair,
        rng: &mut StdRng,
        edit: impl FnOnce(&mut Details),
    ) {
        let cert = cert.as_mut().unwrap();
        let mut details = Details::decode(cert.details.as_deref().unwrap()).unwrap();
        edit(&mut details);
        let bytes = details.encode_to_vec();
        cert.signature = Some(signer.sign(&bytes, rng).to_vec());
        cert.details = Some(bytes);
    }

    #[test]
    fn a_built_chain_verifies() {
        let mut f = fixture();
        let spec = ChainSpec {
            intermediate_serial: 7,
            leaf_serial: 9,
            ..ChainSpec::new(&f.root, f.intermediate.clone(), 100, 200)
        };
        let chain = spec.build(&f.server.public, &mut f.rng);
        let verified =
            CertVerifier::new(f.root.public, 100).verify(&chain, &f.server.public).unwrap();
        assert_eq!(verified.intermediate_serial, 7);
        assert_eq!(verified.leaf_serial, 9);
        assert_eq!(verified.intermediate_key, f.intermediate.public);
        assert_eq!(verified.not_after, 200);
        assert!(CertVerifier::new(f.root.public, 200).verify(&chain, &f.server.public).is_ok());
        let bytes = chain.encode_to_vec();
        assert!(
            CertVerifier::new(f.root.public, 150).verify_bytes(&bytes, &f.server.public).is_ok()
        );
    }

    #[test]
    fn default_root_is_whatsapps() {
        let mut f = fixture();
        let chain = ChainSpec::new(&f.root, f.intermediate.clone(), 0, 10)
            .build(&f.server.public, &mut f.rng);
        assert_eq!(CertVerifier::whatsapp(5).root(), WA_ROOT_KEY);
        assert_eq!(
            CertVerifier::whatsapp(5).verify(&chain, &f.server.public),
            Err(Error::Cert(CertError::BadSignature(CertRole::Intermediate)))
        );
    }

    #[test]
    fn wrong_signatures_are_refused() {
        let mut f = fixture();
        let spec = ChainSpec::new(&f.root, f.intermediate.clone(), 0, 10);
        let good = spec.build(&f.server.public, &mut f.rng);
        let verifier = CertVerifier::new(f.root.public, 5);

        for (role, zero) in [
            (CertRole::Intermediate, true),
            (CertRole::Leaf, true),
            (CertRole::Intermediate, false),
            (CertRole::Leaf, false),
        ] {
            let mut chain = good.clone();
            let cert = match role {
                CertRole::Leaf => chain.leaf.as_mut().unwrap(),
                _ => chain.intermediate.as_mut().unwrap(),
            };
            if zero {
                cert.signature = Some(vec![0; 64]);
            } else {
                cert.signature.as_mut().unwrap()[10] ^= 4;
            }
            assert_eq!(
                verifier.verify(&chain, &f.server.public),
                Err(Error::Cert(CertError::BadSignature(role)))
            );
        }

        // Intermediate signed by another root; leaf signed by the root instead of the intermediate.
        let other = KeyPair::generate(&mut f.rng);
        let chain = ChainSpec::new(&other, f.intermediate.clone(), 0, 10)
            .build(&f.server.public, &mut f.rng);
        assert_eq!(
            verifier.verify(&chain, &f.server.public),
            Err(Error::Cert(CertError::BadSignature(CertRole::Intermediate)))
        );
        let mut chain = good.clone();
        resign(&mut chain.leaf, &f.root, &mut f.rng, |_| {});
        assert_eq!(
            verifier.verify(&chain, &f.server.public),
            Err(Error::Cert(CertError::BadSignature(CertRole::Leaf)))
        );
        // Details altered after signing.
        let mut chain = good;
        chain.leaf.as_mut().unwrap().details.as_mut().unwrap().push(0);
        assert_eq!(
            verifier.verify(&chain, &f.server.public),
            Err(Error::Cert(CertError::BadSignature(CertRole::Leaf)))
        );
    }

    #[test]
    fn wrong_serials_are_refused() {
        let mut f = fixture();
        let verifier = CertVerifier::new(f.root.public, 5);
        let spec = ChainSpec {
            intermediate_serial: 3,
            ..ChainSpec::new(&f.root, f.intermediate.clone(), 0, 10)
        };
        let good = spec.build(&f.server.public, &mut f.rng);

        let mut chain = good.clone();
        resign(&mut chain.intermediate, &f.root, &mut f.rng, |d| d.issuer_serial = Some(1));
        assert_eq!(
            verifier.verify(&chain, &f.server.public),
            Err(Error::Cert(CertError::IssuerSerial {
                cert: CertRole::Intermediate,
                expected: 0,
                found: 1
            }))
        );
        let mut chain = good;
        resign(&mut chain.leaf, &f.intermediate, &mut f.rng, |d| d.issuer_serial = Some(4));
        assert_eq!(
            verifier.verify(&chain, &f.server.public),
            Err(Error::Cert(CertError::IssuerSerial {
                cert: CertRole::Leaf,
                expected: 3,
                found: 4
            }))
        );
    }

    #[test]
    fn wrong_key_is_refused() {
        let mut f = fixture();
        let chain = ChainSpec::new(&f.root, f.intermediate.clone(), 0, 10)
            .build(&f.server.public, &mut f.rng);
        let other = KeyPair::generate(&mut f.rng);
        assert_eq!(
            CertVerifier::new(f.root.public, 5).verify(&chain, &other.public),
            Err(Error::Cert(CertError::KeyMismatch))
        );
    }

    #[test]
    fn wrong_dates_are_refused() {
        let mut f = fixture();
        let good = ChainSpec::new(&f.root, f.intermediate.clone(), 100, 200)
            .build(&f.server.public, &mut f.rng);
        let at = |now| CertVerifier::new(f.root.public, now).verify(&good, &f.server.public);
        assert_eq!(
            at(99),
            Err(Error::Cert(CertError::NotYetValid {
                cert: CertRole::Intermediate,
                not_before: 100,
                now: 99
            }))
        );
        assert_eq!(
            at(201),
            Err(Error::Cert(CertError::Expired {
                cert: CertRole::Intermediate,
                not_after: 200,
                now: 201
            }))
        );

        // A leaf whose own window is narrower than the intermediate's.
        let verifier = CertVerifier::new(f.root.public, 150);
        let mut chain = good.clone();
        resign(&mut chain.leaf, &f.intermediate, &mut f.rng, |d| d.not_after = Some(149));
        assert_eq!(
            verifier.verify(&chain, &f.server.public),
            Err(Error::Cert(CertError::Expired { cert: CertRole::Leaf, not_after: 149, now: 150 }))
        );
        let mut chain = good;
        resign(&mut chain.leaf, &f.intermediate, &mut f.rng, |d| d.not_before = Some(151));
        assert_eq!(
            verifier.verify(&chain, &f.server.public),
            Err(Error::Cert(CertError::NotYetValid {
                cert: CertRole::Leaf,
                not_before: 151,
                now: 150
            }))
        );
    }

    #[test]
    fn malformed_chains_are_refused() {
        let mut f = fixture();
        let verifier = CertVerifier::new(f.root.public, 5);
        let good = ChainSpec::new(&f.root, f.intermediate.clone(), 0, 10)
            .build(&f.server.public, &mut f.rng);
        let is_malformed = |r: Result<VerifiedChain>, role| {
            matches!(
                r,
                Err(Error::Cert(CertError::Malformed { cert, .. })) if cert == role
            )
        };

        let mut chain = good.clone();
        chain.leaf = None;
        assert!(is_malformed(verifier.verify(&chain, &f.server.public), CertRole::Leaf));
        let mut chain = good.clone();
        chain.intermediate.as_mut().unwrap().signature = None;
        assert!(is_malformed(verifier.verify(&chain, &f.server.public), CertRole::Intermediate));
        let mut chain = good.clone();
        resign(&mut chain.intermediate, &f.root, &mut f.rng, |d| d.key = Some(vec![1; 31]));
        assert!(is_malformed(verifier.verify(&chain, &f.server.public), CertRole::Intermediate));
        let mut chain = good;
        resign(&mut chain.leaf, &f.intermediate, &mut f.rng, |d| d.not_after = None);
        assert!(is_malformed(verifier.verify(&chain, &f.server.public), CertRole::Leaf));
        assert!(is_malformed(
            verifier.verify_bytes(&[0xff, 0xff], &f.server.public),
            CertRole::Chain
        ));
    }
}
