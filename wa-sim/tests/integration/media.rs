//! The media blob host over real HTTPS: uploads checked against the issued auth and the body's
//! SHA-256, downloads by direct path, the total size limit.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest as _, Sha256};
use wa_sim::{Sim, SimConfig};

fn token(body: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(body))
}

#[tokio::test]
async fn media_host_upload_download_and_refusals() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = Sim::new(SimConfig { seed: Some(5), ..SimConfig::default() });
    let addr = sim.serve_media("127.0.0.1:0".parse().unwrap(), 1000).await.unwrap();
    assert!(sim.serve_media("0.0.0.0:0".parse().unwrap(), 1000).await.is_err());
    // The certificate is self-signed: this client trusts it blindly, as the Baileys harness does.
    let http = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
    let base = format!("https://{addr}");
    let auth = sim.media_auth();
    let post = |kind: &str, tok: &str, auth: &str, body: Vec<u8>| {
        http.post(format!("{base}/mms/{kind}/{tok}?auth={auth}&token={tok}")).body(body).send()
    };

    // A good upload answers url + direct_path; the url's host is the media host.
    let blob = b"encrypted image bytes + mac".to_vec();
    let res = post("image", &token(&blob), &auth, blob.clone()).await.unwrap();
    assert_eq!(res.status(), 200);
    let answer: serde_json::Value = res.json().await.unwrap();
    let direct = answer["direct_path"].as_str().unwrap().to_owned();
    let url = answer["url"].as_str().unwrap();
    assert!(direct.starts_with("/v/t62."), "{direct}");
    assert!(url.starts_with(&format!("{base}{direct}")), "{url}");
    assert_eq!(sim.media_bytes(), blob.len());

    // Download by direct path (query included or not) gives the same bytes.
    for path in [direct.clone(), direct.split('?').next().unwrap().to_owned()] {
        let res = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.bytes().await.unwrap().as_ref(), blob.as_slice());
    }
    // Unknown path.
    let res = http.get(format!("{base}/v/t62.image/nothing-here")).send().await.unwrap();
    assert_eq!(res.status(), 404);

    // A token that is not the body's hash.
    let res = post("audio", &token(b"other bytes"), &auth, b"some bytes".to_vec()).await.unwrap();
    assert_eq!(res.status(), 400);
    // An auth never issued, and none at all.
    let res = post("image", &token(&blob), "not-issued", blob.clone()).await.unwrap();
    assert_eq!(res.status(), 401);
    let res = http
        .post(format!("{base}/mms/image/{}", token(&blob)))
        .body(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // Over the total size limit (1000 bytes, some already used): refused, nothing stored.
    let big = vec![7u8; 990];
    let res = post("video", &token(&big), &auth, big.clone()).await.unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(sim.media_bytes(), blob.len());
    // What fits is still accepted, by a second issued auth.
    let auth2 = sim.media_auth();
    let small = vec![1u8; 1000 - blob.len()];
    let res = post("document", &token(&small), &auth2, small.clone()).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(sim.media_bytes(), 1000);
    // Other methods.
    let res = http.put(format!("{base}{direct}")).send().await.unwrap();
    assert_eq!(res.status(), 405);
}

/// Difference 2 of issue 17: the upload token is accepted padded (whatsmeow `upload.go`,
/// `base64.URLEncoding`, also percent-encoded) and unpadded (Baileys
/// `src/Utils/messages-media.ts`, `encodeBase64EncodedStringForUpload`), as the real media
/// hosts do; a token padded wrongly is still not the body's hash.
#[tokio::test]
async fn upload_token_padded_or_not() {
    use base64::engine::general_purpose::URL_SAFE;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = Sim::new(SimConfig { seed: Some(6), ..SimConfig::default() });
    let addr = sim.serve_media("127.0.0.1:0".parse().unwrap(), 1 << 20).await.unwrap();
    let http = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
    let auth = sim.media_auth();
    let upload = |tok: String, body: Vec<u8>| {
        http.post(format!("https://{addr}/mms/image/{tok}?auth={auth}&token={tok}"))
            .body(body)
            .send()
    };
    let padded = |body: &[u8]| URL_SAFE.encode(Sha256::digest(body));
    assert!(padded(b"x").ends_with('='));
    let cases = [
        (token(b"unpadded"), b"unpadded".to_vec(), 200),
        (padded(b"padded"), b"padded".to_vec(), 200),
        (padded(b"encoded").replace('=', "%3D"), b"encoded".to_vec(), 200),
        (format!("{}=", padded(b"twice")), b"twice".to_vec(), 400),
    ];
    for (tok, body, status) in cases {
        let res = upload(tok.clone(), body).await.unwrap();
        assert_eq!(res.status(), status, "{tok}");
    }
    assert_eq!(sim.counters().media_uploads, 3);
}
