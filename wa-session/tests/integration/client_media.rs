//! The Client's media upload and download against wa-sim's HTTPS blob host (self-signed
//! certificate trusted through `Config::tls_roots`): every kind byte-equal, the `media_conn`
//! cache, and a typed error for a tampered blob, wrong hashes, a wrong key, 404 and sizes.

use std::{sync::Arc, time::Duration};

use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};
use wa_session::{
    CryptoError, Error, KeyPair, MediaError,
    client::{Client, Config, Event, Events, MediaKind, MediaOptions, VOICE_NOTE_MIMETYPE},
    media::{self, MediaType},
    signal::generate_registration_id,
    store::MemoryStore,
};
use wa_sim::{Sim, SimConfig};

const PHONE: &str = "15550002222";

async fn next(events: &mut Events) -> Event {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event within 10 s")
        .expect("the event stream is still open")
}

/// A simulator with a media host holding at most `media_max` bytes, and a Client paired with
/// it by QR and connected; `tune` adjusts the client's configuration.
async fn paired(media_max: usize, tune: impl FnOnce(&mut Config)) -> (Sim, Client, Events) {
    let sim = Sim::new(SimConfig { seed: Some(3), ..SimConfig::default() });
    sim.create_account(PHONE, None).unwrap();
    let loopback = "127.0.0.1:0".parse().unwrap();
    let ws = sim.serve_ws(loopback).await.unwrap();
    sim.serve_media(loopback, media_max).await.unwrap();
    let mut config = Config {
        url: format!("ws://{ws}/ws/chat"),
        root_key: sim.root_key(),
        tls_roots: Some(vec![sim.certificate_der().unwrap()]),
        seed: Some(5),
        ..Config::default()
    };
    tune(&mut config);
    let mut rng = StdRng::seed_from_u64(5);
    let identity = KeyPair::generate(&mut rng);
    let store = Arc::new(MemoryStore::new(identity, generate_registration_id(&mut rng)));
    let (client, mut events) = Client::start(config, store).await.unwrap();
    loop {
        match next(&mut events).await {
            Event::Qr { code, .. } => {
                sim.scan(&code, PHONE).await.unwrap();
            }
            Event::Connected => break,
            _ => {}
        }
    }
    (sim, client, events)
}

fn random(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..len).map(|_| rng.random()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_and_downloads_every_kind_byte_equal() {
    let (sim, client, _events) = paired(64 << 20, |_| {}).await;
    let options = MediaOptions {
        caption: Some("a caption".to_owned()),
        file_name: Some("report.pdf".to_owned()),
        width: Some(320),
        height: Some(240),
        seconds: Some(4),
        ..MediaOptions::default()
    };
    let sizes = [0usize, 1, 16, 1000, 200_000];
    for (i, kind) in MediaKind::ALL.into_iter().enumerate() {
        for (j, size) in sizes.into_iter().enumerate() {
            let plain = random(size, (i * 10 + j) as u64);
            let uploaded = client.upload(kind, plain.as_slice()).await.unwrap();
            assert_eq!(uploaded.info.file_length, size as u64);
            assert!(uploaded.direct_path.starts_with("/v/t62."), "{}", uploaded.direct_path);
            let message = uploaded.message(&options);
            assert_eq!(client.download_to_vec(&message).await.unwrap(), plain, "{kind:?} {size}");
            // Into an AsyncWrite too, with the hashes returned.
            let mut out = std::io::Cursor::new(Vec::new());
            let info = client.download(&message, &mut out).await.unwrap();
            assert_eq!((out.into_inner(), info), (plain, uploaded.info));
        }
    }
    let uploads = (MediaKind::ALL.len() * sizes.len()) as u64;
    let counters = sim.counters();
    assert_eq!((counters.media_uploads, counters.media_downloads), (uploads, 2 * uploads));

    // What each kind's message says.
    let voice = client.upload_bytes(MediaKind::VoiceNote, b"opus").await.unwrap();
    let audio = voice.message(&options).audio_message.unwrap();
    assert_eq!((audio.ptt, audio.seconds), (Some(true), Some(4)));
    assert_eq!(audio.mimetype.as_deref(), Some(VOICE_NOTE_MIMETYPE));
    assert_eq!(audio.file_enc_sha256.as_deref(), Some(&voice.info.file_enc_sha256[..]));
    assert!(audio.direct_path.unwrap().starts_with("/v/t62.audio/"));
    let doc = client.upload_bytes(MediaKind::Document, b"%PDF").await.unwrap();
    let doc = doc.message(&options).document_message.unwrap();
    assert_eq!(doc.file_name.as_deref(), Some("report.pdf"));
    let image = client.upload_bytes(MediaKind::Image, b"jpeg").await.unwrap();
    let image = image.message(&options).image_message.unwrap();
    assert_eq!((image.caption.as_deref(), image.width), (Some("a caption"), Some(320)));
    assert!(image.media_key_timestamp.unwrap() > 1_700_000_000);
    let sticker = client.upload_bytes(MediaKind::Sticker, b"webp").await.unwrap();
    // Stickers go to the image path, with image keys.
    assert!(sticker.direct_path.starts_with("/v/t62.image/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_conn_is_reused_within_its_ttl() {
    let (_sim, client, _events) = paired(1 << 20, |_| {}).await;
    let first = client.media_conn().await.unwrap();
    let second = client.media_conn().await.unwrap();
    // The simulator issues a new auth for every media_conn iq: the same one means the cache.
    assert_eq!(first, second);
    assert_eq!(first.ttl, Duration::from_secs(300));
    assert!(first.hosts[0].starts_with("127.0.0.1:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_typed_errors() {
    let (_sim, client, _events) = paired(1 << 20, |config| config.max_media_upload = 100_000).await;
    let plain = random(5000, 1);
    let good = client.upload(MediaKind::Image, plain.as_slice()).await.unwrap();
    let message = good.message(&MediaOptions::default());

    // A blob altered on the host: the MAC no longer verifies.
    let key = [9u8; 32];
    let (mut blob, info) = media::encrypt(&key, MediaType::Image, &plain);
    blob[100] ^= 1;
    let (url, direct_path) = client.upload_encrypted(MediaType::Image, blob).await.unwrap();
    let mut tampered = message.clone();
    let image = tampered.image_message.as_mut().unwrap();
    image.url = Some(url);
    image.direct_path = Some(direct_path);
    image.media_key = Some(key.to_vec());
    image.file_enc_sha256 = Some(info.file_enc_sha256.to_vec());
    image.file_sha256 = Some(info.file_sha256.to_vec());
    assert_eq!(
        client.download_to_vec(&tampered).await,
        Err(Error::Crypto(CryptoError::BadMac("media blob")))
    );

    // Another media key: the MAC does not verify either.
    let mut wrong_key = message.clone();
    wrong_key.image_message.as_mut().unwrap().media_key = Some(vec![1; 32]);
    assert_eq!(
        client.download_to_vec(&wrong_key).await,
        Err(Error::Crypto(CryptoError::BadMac("media blob")))
    );

    // The announced hashes do not match the blob.
    let mut wrong = message.clone();
    wrong.image_message.as_mut().unwrap().file_enc_sha256 = Some(vec![0; 32]);
    assert_eq!(
        client.download_to_vec(&wrong).await,
        Err(Error::Media(MediaError::HashMismatch("encrypted")))
    );
    let mut wrong = message.clone();
    wrong.image_message.as_mut().unwrap().file_sha256 = Some(vec![0; 32]);
    assert_eq!(
        client.download_to_vec(&wrong).await,
        Err(Error::Media(MediaError::HashMismatch("plaintext")))
    );

    // An unknown blob.
    let mut missing = message.clone();
    let image = missing.image_message.as_mut().unwrap();
    image.direct_path = Some("/v/t62.image/nothing-here".to_owned());
    assert_eq!(
        client.download_to_vec(&missing).await,
        Err(Error::Media(MediaError::Status { status: 404 }))
    );

    // A host sending more than the message announced (the blob of 5000 bytes is 5018).
    let mut short = message.clone();
    short.image_message.as_mut().unwrap().file_length = Some(100);
    assert_eq!(
        client.download_to_vec(&short).await,
        Err(Error::Media(MediaError::TooLarge { limit: 126 }))
    );

    // Not a media message at all.
    assert_eq!(
        client.download_to_vec(&wa_proto::proto::e2e::Message::default()).await,
        Err(Error::Media(MediaError::NotMedia))
    );

    // Uploads past the configured limit are refused before anything is sent.
    let big = random(100_001, 2);
    assert_eq!(
        client.upload(MediaKind::Video, big.as_slice()).await.map(|_| ()),
        Err(Error::Media(MediaError::TooLarge { limit: 100_000 }))
    );
    // And the host's own limit (1 MiB in all) answers 413.
    let (blob, _) = media::encrypt(&key, MediaType::Video, &random(99_000, 3));
    let mut refused = None;
    for _ in 0..12 {
        if let Err(error) = client.upload_encrypted(MediaType::Video, blob.clone()).await {
            refused = Some(error);
            break;
        }
    }
    assert_eq!(refused, Some(Error::Media(MediaError::Status { status: 413 })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_are_bounded_by_the_configured_maximum() {
    let (_sim, client, _events) = paired(1 << 20, |config| config.max_media_download = 4096).await;
    let uploaded = client.upload_bytes(MediaKind::Document, &random(10_000, 4)).await.unwrap();
    let mut message = uploaded.message(&MediaOptions::default());
    assert_eq!(
        client.download_to_vec(&message).await,
        Err(Error::Media(MediaError::TooLarge { limit: 4096 }))
    );
    // Without an announced length the limit still holds (here through the Content-Length).
    message.document_message.as_mut().unwrap().file_length = None;
    assert_eq!(
        client.download_to_vec(&message).await,
        Err(Error::Media(MediaError::TooLarge { limit: 4096 }))
    );
}

/// A hostile media host on loopback (HTTPS, its own self-signed certificate): to every request it
/// answers `head` and then, chunk after chunk, endless bytes. Returns its port and certificate.
async fn hostile_host(head: &'static str) -> (u16, Vec<u8>) {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = key.cert.der().to_vec();
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![key.cert.der().clone()], der)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut request = [0u8; 4096];
                let _ = tls.read(&mut request).await;
                if tls.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("{:x}\r\n{}\r\n", 8192, "x".repeat(8192));
                while tls.write_all(chunk.as_bytes()).await.is_ok() {}
            });
        }
    });
    (port, cert)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_host_cannot_make_a_download_read_past_the_limit() {
    // Downloading a message that carries its URL needs no WhatsApp connection: the client's
    // server is unreachable here.
    let (port, cert) = hostile_host("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").await;
    let mut rng = StdRng::seed_from_u64(8);
    let identity = KeyPair::generate(&mut rng);
    let store = Arc::new(MemoryStore::new(identity, generate_registration_id(&mut rng)));
    let config = Config {
        url: "ws://127.0.0.1:9/ws/chat".to_owned(),
        tls_roots: Some(vec![cert]),
        max_media_download: 100_000,
        ..Config::default()
    };
    let (client, _events) = Client::start(config, store).await.unwrap();
    let uploaded = wa_session::client::UploadedMedia {
        kind: MediaKind::Video,
        url: format!("https://127.0.0.1:{port}/v/t62.video/endless"),
        direct_path: "/v/t62.video/endless".to_owned(),
        media_key: zeroize::Zeroizing::new([3; 32]),
        info: media::MediaInfo { file_sha256: [0; 32], file_enc_sha256: [0; 32], file_length: 0 },
        media_key_timestamp: 0,
    };
    let mut message = uploaded.message(&MediaOptions::default());
    message.video_message.as_mut().unwrap().file_length = None;
    // No Content-Length: the bytes are counted as they come, and the download stops at the limit.
    let mut sink = tokio::io::sink();
    let outcome =
        tokio::time::timeout(Duration::from_secs(10), client.download(&message, &mut sink))
            .await
            .expect("the download ends by itself");
    assert_eq!(outcome, Err(Error::Media(MediaError::TooLarge { limit: 100_000 })));

    // A host that does not speak HTTP.
    let (port, cert) = hostile_host("SSH-2.0-OpenSSH\r\n").await;
    let mut rng = StdRng::seed_from_u64(9);
    let identity = KeyPair::generate(&mut rng);
    let store = Arc::new(MemoryStore::new(identity, generate_registration_id(&mut rng)));
    let config = Config {
        url: "ws://127.0.0.1:9/ws/chat".to_owned(),
        tls_roots: Some(vec![cert]),
        ..Config::default()
    };
    let (client, _events) = Client::start(config, store).await.unwrap();
    message.video_message.as_mut().unwrap().url =
        Some(format!("https://127.0.0.1:{port}/v/t62.video/endless"));
    let outcome = client.download_to_vec(&message).await;
    assert!(matches!(outcome, Err(Error::Media(MediaError::Http(_)))), "{outcome:?}");
}
