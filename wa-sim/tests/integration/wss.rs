//! `wss://`: a companion trusting only the simulator's self-signed certificate pairs and logs in
//! over TLS.

use std::sync::Arc;

use rand::{SeedableRng as _, rngs::StdRng};
use tokio::net::TcpStream;
use tokio_rustls::{
    TlsConnector,
    client::TlsStream,
    rustls::{ClientConfig, RootCertStore, pki_types::ServerName},
};
use wa_proto::Node;
use wa_sim::{Sim, companion};

use super::{Client, NOW, PHONE, new_companion, sign, start};

async fn connect_tls(
    sim: &Sim,
    url: &str,
    noise: &wa_session::KeyPair,
    payload: &wa_proto::proto::handshake::ClientPayload,
) -> Result<Client<TlsStream<TcpStream>>, String> {
    let mut roots = RootCertStore::empty();
    roots.add(sim.certificate_der().unwrap().into()).unwrap();
    let config = ClientConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let addr = url.trim_start_matches("wss://").trim_end_matches("/ws/chat");
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let client = companion::Client::connect(
        tls,
        url,
        sim.root_key(),
        NOW,
        noise,
        payload,
        &mut StdRng::seed_from_u64(6),
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(Client(client))
}

#[tokio::test]
async fn pairs_and_logs_in_over_wss_trusting_the_sim_certificate() {
    let (sim, _ws) = start(21).await;
    let addr = sim.serve_wss("127.0.0.1:0".parse().unwrap()).await.unwrap();
    assert!(sim.serve_wss("0.0.0.0:0".parse().unwrap()).await.is_err());
    // TLS names the server `localhost` (see connect_tls); the certificate covers both names.
    let url = format!("wss://{addr}/ws/chat");
    // The PEM and the DER are the same certificate, and the media host presents it too.
    let pem = sim.certificate_pem().unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert_eq!(sim.certificate_der().unwrap(), sim.certificate_der().unwrap());

    let companion = new_companion(&mut StdRng::seed_from_u64(22));
    let mut client =
        connect_tls(&sim, &url, &companion.noise, &companion.registration_payload()).await.unwrap();
    let pair_device = client.recv().await;
    let reference = pair_device.child("pair-device").unwrap().children_with_tag("ref").next();
    let reference =
        String::from_utf8(reference.unwrap().content_bytes().unwrap().to_vec()).unwrap();
    let scanner = sim.clone();
    let qr = companion.qr(&reference);
    let scan = tokio::spawn(async move { scanner.scan(&qr, PHONE).await });
    let pair_success = client.recv().await;
    client.send(&sign(&companion, &pair_success, false)).await;
    let paired = scan.await.unwrap().unwrap();
    assert_eq!(client.recv().await.attr_str("code").unwrap(), "515");

    let login = companion::Companion::login_payload(PHONE, paired.device).unwrap();
    let mut client = connect_tls(&sim, &url, &companion.noise, &login).await.unwrap();
    let success = client.recv().await;
    assert_eq!(success.tag, "success");
    assert_eq!(client.recv().await.tag, "ib");
    let ping = Node::builder("iq")
        .attr("id", "p1")
        .attr("type", "get")
        .attr("xmlns", "w:p")
        .children([Node::new("ping")])
        .build();
    client.send(&ping).await;
    assert_eq!(client.recv().await.attr_str("id").unwrap(), "p1");
    let counters = sim.counters();
    assert_eq!((counters.tls_connections, counters.pairings, counters.logins), (2, 1, 1));

    // A client that does not trust the certificate (another simulator's) is refused by TLS.
    let other = Sim::new(wa_sim::SimConfig::default());
    assert!(connect_tls(&other, &url, &companion.noise, &login).await.is_err());
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(sim.counters().tls_failures, 1);
}
