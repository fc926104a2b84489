//! The simulator's self-signed TLS certificate, made once with rcgen and shared by the `wss://`
//! listener and the media blob host (rustls, ring).

use std::sync::{Arc, Mutex};

use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        self, ServerConfig,
        pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
    },
};

use crate::error::{Error, Result};

/// A certificate for `127.0.0.1` and `localhost` with its key, made at start.
pub(crate) struct SelfSigned {
    cert: CertificateDer<'static>,
    pem: String,
    key: Vec<u8>,
}

impl SelfSigned {
    fn generate() -> Result<Self> {
        let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        let made = rcgen::generate_simple_self_signed(names)
            .map_err(|e| Error::Tls(format!("certificate: {e}")))?;
        Ok(Self {
            cert: made.cert.der().clone(),
            pem: pem(made.cert.der()),
            key: made.signing_key.serialize_der(),
        })
    }

    /// The certificate, DER.
    pub(crate) fn der(&self) -> &[u8] {
        &self.cert
    }

    /// The certificate, PEM.
    pub(crate) fn pem(&self) -> &str {
        &self.pem
    }

    /// A rustls acceptor presenting this certificate, offering `alpn` (empty: none).
    pub(crate) fn acceptor(&self, alpn: &[&[u8]]) -> Result<TlsAcceptor> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()));
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| Error::Tls(e.to_string()))?
                .with_no_client_auth()
                .with_single_cert(vec![self.cert.clone()], key)
                .map_err(|e| Error::Tls(e.to_string()))?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

/// PEM armour for a DER certificate (base64 in lines of 64).
fn pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// Where the simulator keeps its certificate, made on first use (rcgen draws its own key, so it
/// does not follow `SimConfig::seed`).
#[derive(Default)]
pub(crate) struct CertificateSlot(Mutex<Option<Arc<SelfSigned>>>);

impl CertificateSlot {
    /// The certificate, made now if it was not yet.
    pub(crate) fn get(&self) -> Result<Arc<SelfSigned>> {
        let mut slot = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(made) = &*slot {
            return Ok(made.clone());
        }
        let made = Arc::new(SelfSigned::generate()?);
        *slot = Some(made.clone());
        Ok(made)
    }
}
