//! Media upload and download over HTTPS: the `media_conn` answer cached for its ttl, the blob
//! encrypted with [`crate::media`] and POSTed to a media host, and a received message's blob
//! fetched, verified (size bound, MAC, both hashes) and decrypted into any `AsyncWrite`.
//!
//! HTTP/1.1 is spoken with hyper over the same rustls setup as the WebSocket (so
//! `Config::tls_roots` also covers a simulator's media host), one connection per request.

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::{
    Request, StatusCode,
    body::{Bytes, Incoming},
    header,
};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use tokio::{
    io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _},
    net::TcpStream,
    time::{Instant, timeout},
};
use wa_proto::proto::e2e;

use super::Client;
use crate::{
    ConnectionError, Error, MediaError, Result,
    media::{
        MediaDecryptor, MediaEncryptor, MediaInfo, MediaType,
        conn::{MediaConn, upload_path_type},
        message::{MediaKind, MediaRef, UploadedMedia},
    },
};

/// Bytes read from an upload source at a time.
const CHUNK: usize = 64 * 1024;
/// The most an upload answer (a small JSON object) may take.
const MAX_ANSWER: usize = 64 * 1024;

/// The upload answer: `{"url", "direct_path", ...}`.
#[derive(Deserialize)]
struct UploadAnswer {
    url: String,
    direct_path: String,
}

fn http_error(what: &str, error: impl std::fmt::Display) -> Error {
    Error::Media(MediaError::Http(format!("{what}: {error}")))
}

/// Splits `host[:port]` (port 443 by default).
fn host_port(host: &str) -> Result<(&str, u16)> {
    match host.rsplit_once(':') {
        None => Ok((host, 443)),
        Some((name, port)) => {
            Ok((name, port.parse().map_err(|_| http_error("media host", "bad port"))?))
        }
    }
}

impl Client {
    /// The media hosts and upload auth, from the cache while its ttl lasts, else from a fresh
    /// `media_conn` iq.
    ///
    /// # Errors
    ///
    /// The iq's errors; [`crate::MessageError::Stanza`] for an unusable answer.
    pub async fn media_conn(&self) -> Result<MediaConn> {
        let mut cached = self.media.conn.lock().await;
        let now = Instant::now();
        if let Some((conn, fetched)) = &*cached
            && conn.is_fresh(now.saturating_duration_since(*fetched))
        {
            return Ok(conn.clone());
        }
        let conn = MediaConn::from_answer(&self.iq(MediaConn::request()).await?)?;
        *cached = Some((conn.clone(), now));
        Ok(conn)
    }

    /// Opens an HTTP/1.1 connection over TLS to `host` and sends `request`.
    async fn https(
        &self,
        host: &str,
        request: Request<Full<Bytes>>,
    ) -> Result<hyper::Response<Incoming>> {
        let (name, port) = host_port(host)?;
        let tls = self.media.tls(&self.config)?;
        let connect = async {
            let tcp = TcpStream::connect((name, port)).await.map_err(|e| http_error("TCP", e))?;
            let _ = tcp.set_nodelay(true);
            let server = rustls::pki_types::ServerName::try_from(name.to_owned())
                .map_err(|e| http_error("TLS server name", e))?;
            let stream = tokio_rustls::TlsConnector::from(tls)
                .connect(server, tcp)
                .await
                .map_err(|e| http_error("TLS", e))?;
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| http_error("HTTP", e))
        };
        let (mut sender, connection) = timeout(self.config.connect_timeout, connect)
            .await
            .map_err(|_| Error::Connection(ConnectionError::Timeout("media host connection")))??;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        timeout(self.config.media_timeout, sender.send_request(request))
            .await
            .map_err(|_| Error::Connection(ConnectionError::Timeout("media host answer")))?
            .map_err(|e| http_error("HTTP", e))
    }

    /// Encrypts everything `data` yields for `kind` (in memory, at most `max_media_upload`
    /// bytes), uploads it to a media host and returns what the message needs
    /// ([`UploadedMedia::message`]).
    ///
    /// # Errors
    ///
    /// [`MediaError::TooLarge`] past `max_media_upload`; [`MediaError::Sink`] if `data` fails;
    /// the `media_conn` iq's errors; [`MediaError::Http`] (connection), [`MediaError::Status`]
    /// (the host refused), [`Error::Malformed`] (its answer), [`ConnectionError::Timeout`].
    pub async fn upload(
        &self,
        kind: MediaKind,
        mut data: impl AsyncRead + Unpin,
    ) -> Result<UploadedMedia> {
        let media_key = self.media.media_key();
        let media_key_timestamp = i64::try_from(self.config.clock.now()).unwrap_or(i64::MAX);
        let limit = self.config.max_media_upload;
        let mut encryptor = MediaEncryptor::new(&media_key, kind.media_type());
        let mut blob = Vec::new();
        let mut chunk = vec![0u8; CHUNK];
        let mut total = 0u64;
        loop {
            let n = data
                .read(&mut chunk)
                .await
                .map_err(|e| Error::Media(MediaError::Sink(e.to_string())))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > limit {
                return Err(Error::Media(MediaError::TooLarge { limit }));
            }
            encryptor.update(&chunk[..n], &mut blob);
        }
        let info = encryptor.finish(&mut blob);
        let (url, direct_path) =
            self.post_blob(kind.media_type(), blob, &info.file_enc_sha256).await?;
        Ok(UploadedMedia { kind, url, direct_path, media_key, info, media_key_timestamp })
    }

    /// [`Client::upload`] from a byte slice.
    ///
    /// # Errors
    ///
    /// As [`Client::upload`].
    pub async fn upload_bytes(&self, kind: MediaKind, data: &[u8]) -> Result<UploadedMedia> {
        self.upload(kind, data).await
    }

    /// Uploads a blob that is already encrypted (a forward of received media, say) to the path of
    /// `media_type`; returns the host's `(url, direct_path)`.
    ///
    /// # Errors
    ///
    /// As [`Client::upload`].
    pub async fn upload_encrypted(
        &self,
        media_type: MediaType,
        blob: Vec<u8>,
    ) -> Result<(String, String)> {
        let hash: [u8; 32] = Sha256::digest(&blob).into();
        self.post_blob(media_type, blob, &hash).await
    }

    /// POSTs an encrypted blob to the first media host that answers; returns `(url,
    /// direct_path)`.
    async fn post_blob(
        &self,
        media_type: MediaType,
        blob: Vec<u8>,
        file_enc_sha256: &[u8; 32],
    ) -> Result<(String, String)> {
        let conn = self.media_conn().await?;
        let path = conn.upload_path(upload_path_type(media_type), file_enc_sha256);
        let blob = Bytes::from(blob);
        let mut last = Error::Media(MediaError::Http("no media host".to_owned()));
        for host in &conn.hosts {
            let request = Request::post(path.as_str())
                .header(header::HOST, host.as_str())
                .header(header::ORIGIN, self.config.origin.as_str())
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .header(header::CONTENT_LENGTH, blob.len())
                .body(Full::new(blob.clone()))
                .map_err(|e| http_error("request", e))?;
            let response = match self.https(host, request).await {
                Ok(response) => response,
                // Another host may do; remember why this one failed.
                Err(
                    error @ (Error::Media(MediaError::Http(_))
                    | Error::Connection(ConnectionError::Timeout(_))),
                ) => {
                    last = error;
                    continue;
                }
                Err(error) => return Err(error),
            };
            let status = response.status();
            let body = timeout(
                self.config.media_timeout,
                Limited::new(response.into_body(), MAX_ANSWER).collect(),
            )
            .await
            .map_err(|_| Error::Connection(ConnectionError::Timeout("media upload answer")))?
            .map_err(|e| http_error("upload answer", e))?
            .to_bytes();
            if !status.is_success() {
                return Err(Error::Media(MediaError::Status { status: status.as_u16() }));
            }
            let answer: UploadAnswer = serde_json::from_slice(&body)
                .map_err(|e| Error::malformed("media upload answer", e.to_string()))?;
            if !answer.direct_path.starts_with('/') {
                return Err(Error::malformed("media upload answer", "direct_path is not a path"));
            }
            return Ok((answer.url, answer.direct_path));
        }
        Err(last)
    }

    /// Downloads the blob of a received media message (image, video, document, audio, voice
    /// note, sticker), checks its size against `max_media_download` (and the announced length),
    /// its SHA-256, MAC and the plaintext's SHA-256, and writes the plaintext to `out`. The host
    /// is the one in the message URL, or a `media_conn` host for a message without one.
    ///
    /// `out` receives plaintext before the MAC at the end of the blob has been checked: treat
    /// what it holds as untrusted, and discard it, unless this returns `Ok`.
    ///
    /// # Errors
    ///
    /// [`MediaError::NotMedia`], [`Error::Malformed`] (message), [`MediaError::Status`] (404 and
    /// other refusals), [`MediaError::TooLarge`], [`MediaError::Truncated`],
    /// [`crate::CryptoError::BadMac`], [`MediaError::HashMismatch`], [`MediaError::Http`],
    /// [`MediaError::Sink`] (writing `out`), [`ConnectionError::Timeout`].
    pub async fn download(
        &self,
        message: &e2e::Message,
        out: &mut (impl AsyncWrite + Unpin),
    ) -> Result<MediaInfo> {
        let media = MediaRef::from_message(message)?;
        let fallback = if media.url.is_none() {
            self.media_conn().await?.hosts.into_iter().next()
        } else {
            None
        };
        let (host, path) = media.location(fallback.as_deref())?;
        // A blob is the plaintext padded to whole blocks plus the MAC; a hostile host may not
        // send more than the message announced, nor more than the configured limit.
        let limit = match media.file_length {
            Some(length) => self.config.max_media_download.min(length.saturating_add(16 + 10)),
            None => self.config.max_media_download,
        };
        let request = Request::get(path.as_str())
            .header(header::HOST, host.as_str())
            .header(header::ORIGIN, self.config.origin.as_str())
            .body(Full::new(Bytes::new()))
            .map_err(|e| http_error("request", e))?;
        let response = self.https(&host, request).await?;
        if response.status() != StatusCode::OK {
            return Err(Error::Media(MediaError::Status { status: response.status().as_u16() }));
        }
        let announced = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|length| length > limit) {
            return Err(Error::Media(MediaError::TooLarge { limit }));
        }
        let mut body = response.into_body();
        let mut decryptor = MediaDecryptor::new(&media.media_key, media.kind.media_type());
        let mut plain = Vec::new();
        let mut received = 0u64;
        while let Some(frame) = timeout(self.config.media_timeout, body.frame())
            .await
            .map_err(|_| Error::Connection(ConnectionError::Timeout("media download")))?
        {
            let frame = frame.map_err(|e| http_error("download", e))?;
            let Ok(data) = frame.into_data() else { continue };
            received += data.len() as u64;
            if received > limit {
                return Err(Error::Media(MediaError::TooLarge { limit }));
            }
            plain.clear();
            decryptor.update(&data, &mut plain);
            out.write_all(&plain)
                .await
                .map_err(|e| Error::Media(MediaError::Sink(e.to_string())))?;
        }
        plain.clear();
        let info = decryptor.finish(&mut plain, Some(&media.expected()))?;
        out.write_all(&plain).await.map_err(|e| Error::Media(MediaError::Sink(e.to_string())))?;
        out.flush().await.map_err(|e| Error::Media(MediaError::Sink(e.to_string())))?;
        Ok(info)
    }

    /// [`Client::download`] into memory; nothing is returned unless every check passed.
    ///
    /// # Errors
    ///
    /// As [`Client::download`].
    pub async fn download_to_vec(&self, message: &e2e::Message) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.download(message, &mut out).await?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port() {
        assert_eq!(host_port("mmg.whatsapp.net").unwrap(), ("mmg.whatsapp.net", 443));
        assert_eq!(host_port("127.0.0.1:8443").unwrap(), ("127.0.0.1", 8443));
        assert!(matches!(host_port("h:x"), Err(Error::Media(MediaError::Http(_)))));
    }
}
