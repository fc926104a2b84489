//! The media blob host: HTTPS on loopback with a self-signed certificate made at start.
//!
//! Uploads: `POST /mms/<type>/<token>?auth=<auth>&token=<token>`, where `auth` was issued in a
//! `media_conn` answer and `token` is base64url (padded or not) of SHA-256 of the body (the
//! encrypted file). The answer is `{"url", "direct_path", "handle"}`; downloads are
//! `GET <direct_path>` (the query is ignored). Blobs live in memory within a total size limit.

use std::net::SocketAddr;

use base64::Engine as _;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::{Method, Request, Response, StatusCode, body::Bytes};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::{
    error::{Error, Result},
    sim::Sim,
};

/// Why an upload or download was refused; each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
enum MediaError {
    #[error("unknown path")]
    NotFound,
    #[error("method not allowed")]
    Method,
    #[error("auth missing or not issued by media_conn")]
    Auth,
    #[error("token is not base64url SHA-256 of the body")]
    Hash,
    #[error("blob larger than the space left ({0} bytes)")]
    TooLarge(usize),
    #[error("cannot read the body: {0}")]
    Body(String),
}

impl MediaError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Method => StatusCode::METHOD_NOT_ALLOWED,
            Self::Auth => StatusCode::UNAUTHORIZED,
            Self::Hash | Self::Body(_) => StatusCode::BAD_REQUEST,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }
}

impl Sim {
    /// Starts the media blob host on `addr` (HTTPS with the simulator's self-signed certificate,
    /// [`Sim::certificate_der`]), keeping at most `max_bytes` of blobs in memory. From then on
    /// `media_conn` answers advertise `127.0.0.1:<port>`. Returns the bound address.
    ///
    /// # Errors
    ///
    /// [`Error::NotLoopback`], [`Error::Bind`], [`Error::Tls`].
    pub async fn serve_media(&self, addr: SocketAddr, max_bytes: usize) -> Result<SocketAddr> {
        if !addr.ip().is_loopback() {
            return Err(Error::NotLoopback(addr));
        }
        let acceptor = self.tls()?.acceptor(&[b"http/1.1"])?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let local = listener.local_addr().map_err(|source| Error::Bind { addr, source })?;
        {
            let mut media = self.media();
            media.host = Some(local.to_string());
            media.limit = max_bytes;
        }
        let sim = self.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sim = sim.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else { return };
                    let service = hyper::service::service_fn(move |request| {
                        let sim = sim.clone();
                        async move { Ok::<_, std::convert::Infallible>(handle(&sim, request).await) }
                    });
                    let io = hyper_util::rt::TokioIo::new(tls);
                    if let Err(error) = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await
                    {
                        tracing::debug!(%error, "media connection");
                    }
                });
            }
        });
        Ok(local)
    }

    /// Issues an upload auth token, as a `media_conn` answer does (for clients that do not go
    /// through the iq).
    #[must_use]
    pub fn media_auth(&self) -> String {
        let auth = self.random_text(40);
        self.media().issue(auth.clone());
        auth
    }

    /// Bytes of media blobs stored.
    #[must_use]
    pub fn media_bytes(&self) -> usize {
        self.media().total
    }
}

async fn handle(sim: &Sim, request: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let outcome = match *request.method() {
        Method::POST => upload(sim, request).await,
        Method::GET => download(sim, request.uri().path()),
        _ => Err(MediaError::Method),
    };
    match outcome {
        Ok(response) => response,
        Err(error) => {
            tracing::debug!(%error, "media request refused");
            let body = json!({ "error": error.to_string() }).to_string();
            let mut response = Response::new(Full::new(Bytes::from(body)));
            *response.status_mut() = error.status();
            response
        }
    }
}

async fn upload(
    sim: &Sim,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, MediaError> {
    let path = request.uri().path().to_owned();
    let mut parts = path.trim_start_matches('/').split('/');
    let (Some("mms"), Some(kind), Some(token), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(MediaError::NotFound);
    };
    if kind.is_empty() || token.is_empty() {
        return Err(MediaError::NotFound);
    }
    let query = request.uri().query().unwrap_or_default().to_owned();
    let auth = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "auth")
        .map(|(_, v)| v.into_owned())
        .ok_or(MediaError::Auth)?;
    let room = {
        let media = sim.media();
        if !media.auths.contains(&auth) {
            return Err(MediaError::Auth);
        }
        media.limit.saturating_sub(media.total)
    };
    let body = Limited::new(request.into_body(), room)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                MediaError::TooLarge(room)
            } else {
                MediaError::Body(e.to_string())
            }
        })?
        .to_bytes();
    let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&body));
    // Baileys strips the padding (`encodeBase64EncodedStringForUpload`), whatsmeow keeps it
    // (`upload.go`, `base64.URLEncoding`); the real hosts take both. 32 bytes pad with one `=`,
    // which may come percent-encoded.
    let unpadded = token.strip_suffix("%3D").or_else(|| token.strip_suffix('=')).unwrap_or(token);
    if digest != unpadded {
        return Err(MediaError::Hash);
    }
    let (url, direct_path, id) = store_blob(sim, kind, body)?;
    let body = json!({ "url": url, "direct_path": direct_path, "handle": id });
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// Stores an encrypted blob of media type `kind` (an upload, or a simulated phone's media) within
/// the size limit; returns its `url`, `direct_path` and handle.
fn store_blob(sim: &Sim, kind: &str, body: Bytes) -> Result<(String, String, String), MediaError> {
    let id = sim.random_text(32);
    let oh = sim.random_text(24);
    let (host, direct) = {
        let mut media = sim.media();
        if body.len() > media.limit.saturating_sub(media.total) {
            return Err(MediaError::TooLarge(media.limit.saturating_sub(media.total)));
        }
        let key = format!("/v/t62.{kind}/{id}");
        media.total += body.len();
        media.uploads += 1;
        media.blobs.insert(key.clone(), body);
        (media.host.clone().unwrap_or_default(), key)
    };
    let direct_path = format!("{direct}?ccb=11-4&oh={oh}&oe=00000000&_nc_sid=5e03e0");
    Ok((format!("https://{host}{direct_path}&mms3=true"), direct_path, id))
}

/// [`store_blob`] for the simulated phones: the blob goes straight into the store.
pub(crate) fn store_phone_blob(sim: &Sim, kind: &str, body: Vec<u8>) -> Result<(String, String)> {
    store_blob(sim, kind, Bytes::from(body))
        .map(|(url, direct_path, _)| (url, direct_path))
        .map_err(|error| Error::Phone(format!("media store: {error}")))
}

fn download(sim: &Sim, path: &str) -> Result<Response<Full<Bytes>>, MediaError> {
    let blob = {
        let mut media = sim.media();
        let blob = media.blobs.get(path).cloned().ok_or(MediaError::NotFound)?;
        media.downloads += 1;
        blob
    };
    let mut response = Response::new(Full::new(blob));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/octet-stream"),
    );
    Ok(response)
}
