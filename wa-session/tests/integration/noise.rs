//! The Noise layer end to end through the public API: frames in arbitrary chunks, the handshake in
//! both roles, transport frames both ways, and chains the initiator must refuse.

use rand::{RngExt, SeedableRng, rngs::StdRng};
use wa_proto::proto::handshake::{
    ClientPayload,
    client_payload::{DevicePairingRegistrationData, UserAgent, user_agent::Platform},
};
use wa_session::{
    CertError, CertRole, CryptoError, Error, KeyPair,
    cert::{CertVerifier, ChainSpec},
    noise::{FrameDecoder, FrameEncoder, InitiatorHandshake, ResponderHandshake, Transport},
};

const NOW: u64 = 1_750_000_000;

fn payload(identity: &KeyPair) -> ClientPayload {
    ClientPayload {
        user_agent: Some(UserAgent { platform: Some(Platform::Web as i32), ..Default::default() }),
        passive: Some(false),
        pull: Some(false),
        device_pairing_data: Some(DevicePairingRegistrationData {
            e_ident: Some(identity.public.as_bytes().to_vec()),
            e_keytype: Some(vec![5]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Delivers `bytes` to `decoder` in random chunks and returns the frames.
fn deliver(decoder: &mut FrameDecoder, bytes: &[u8], rng: &mut StdRng) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let take = rng.random_range(1..=rest.len());
        frames.extend(decoder.feed(&rest[..take]).unwrap());
        rest = &rest[take..];
    }
    frames
}

struct Connected {
    client: Transport,
    server: Transport,
    client_decoder: FrameDecoder,
    server_decoder: FrameDecoder,
    client_encoder: FrameEncoder,
    server_encoder: FrameEncoder,
}

/// A whole connection set-up over the frame layer, as a driver would run it.
fn connect(seed: u64, routing: Option<&[u8]>) -> Result<(Connected, ClientPayload), Error> {
    let mut rng = StdRng::seed_from_u64(seed);
    let root = KeyPair::generate(&mut rng);
    let server_static = KeyPair::generate(&mut rng);
    let chain = ChainSpec::new(&root, KeyPair::generate(&mut rng), NOW - 10, NOW + 10)
        .build(&server_static.public, &mut rng);
    let noise_key = KeyPair::generate(&mut rng);
    let sent_payload = payload(&KeyPair::generate(&mut rng));

    let mut client_encoder = FrameEncoder::client(routing)?;
    let mut server_encoder = FrameEncoder::server();
    let mut client_decoder = FrameDecoder::client();
    let mut server_decoder = FrameDecoder::server();

    let (client, hello) = InitiatorHandshake::start(KeyPair::generate(&mut rng));
    let wire = client_encoder.encode(&hello)?;
    assert_eq!(&wire[wire.len() - hello.len() - 7..][..4], b"WA\x06\x03");
    let frames = deliver(&mut server_decoder, &wire, &mut rng);
    assert_eq!(frames, vec![hello]);
    assert_eq!(server_decoder.routing_info(), routing);

    let (server, server_hello) = ResponderHandshake::respond(
        &frames[0],
        KeyPair::generate(&mut rng),
        &server_static,
        &chain,
    )?;
    let wire = server_encoder.encode(&server_hello)?;
    let frames = deliver(&mut client_decoder, &wire, &mut rng);
    let verifier = CertVerifier::new(root.public, NOW);
    let (client, finish, identity) =
        client.process(&frames[0], &verifier, &noise_key, &sent_payload)?;
    assert_eq!(identity.static_key, server_static.public);

    let wire = client_encoder.encode(&finish)?;
    let frames = deliver(&mut server_decoder, &wire, &mut rng);
    let (server, accepted) = server.process(&frames[0])?;
    assert_eq!(accepted.noise_key, noise_key.public);
    assert_eq!(accepted.payload, sent_payload);
    Ok((
        Connected {
            client,
            server,
            client_decoder,
            server_decoder,
            client_encoder,
            server_encoder,
        },
        accepted.payload,
    ))
}

#[test]
fn handshake_and_transport_over_chunked_frames() {
    for (seed, routing) in [(1, None), (2, Some(&b"edge-route"[..])), (3, Some(&b""[..]))] {
        let (mut c, payload) = connect(seed, routing).unwrap();
        assert_eq!(payload.user_agent.and_then(|u| u.platform), Some(Platform::Web as i32));
        let mut rng = StdRng::seed_from_u64(seed + 100);
        // Several frames per delivery, both ways.
        let mut wire = Vec::new();
        for i in 0..20u8 {
            wire.extend(
                c.client_encoder
                    .encode(&c.client.encrypt(&vec![i; usize::from(i) * 7]).unwrap())
                    .unwrap(),
            );
        }
        let frames = deliver(&mut c.server_decoder, &wire, &mut rng);
        assert_eq!(frames.len(), 20);
        for (i, frame) in (0..20u8).zip(frames) {
            assert_eq!(c.server.decrypt(&frame).unwrap(), vec![i; usize::from(i) * 7]);
        }
        let mut wire = Vec::new();
        for i in 0..20u8 {
            wire.extend(c.server_encoder.encode(&c.server.encrypt(&[i]).unwrap()).unwrap());
        }
        for (i, frame) in (0..20u8).zip(deliver(&mut c.client_decoder, &wire, &mut rng)) {
            assert_eq!(c.client.decrypt(&frame).unwrap(), [i]);
        }
    }
}

#[test]
fn a_frame_from_another_connection_does_not_decrypt() {
    let (mut a, _) = connect(5, None).unwrap();
    let (mut b, _) = connect(6, None).unwrap();
    let frame = a.client.encrypt(b"hello").unwrap();
    assert_eq!(
        b.server.decrypt(&frame),
        Err(Error::Crypto(CryptoError::BadMac("transport frame")))
    );
    // Keys are per direction: a client cannot read its own frames.
    let frame = a.client.encrypt(b"hello").unwrap();
    assert!(a.client.decrypt(&frame).is_err());
}

#[test]
fn initiator_refuses_expired_and_foreign_chains() {
    let mut rng = StdRng::seed_from_u64(9);
    let root = KeyPair::generate(&mut rng);
    let server_static = KeyPair::generate(&mut rng);
    let noise_key = KeyPair::generate(&mut rng);
    let run = |chain: &wa_proto::proto::cert::CertChain,
               verifier: CertVerifier,
               rng: &mut StdRng| {
        let (client, hello) = InitiatorHandshake::start(KeyPair::generate(rng));
        let (_, server_hello) =
            ResponderHandshake::respond(&hello, KeyPair::generate(rng), &server_static, chain)
                .unwrap();
        client.process(&server_hello, &verifier, &noise_key, &ClientPayload::default()).map(|_| ())
    };
    let old = ChainSpec::new(&root, KeyPair::generate(&mut rng), NOW - 100, NOW - 1)
        .build(&server_static.public, &mut rng);
    assert!(matches!(
        run(&old, CertVerifier::new(root.public, NOW), &mut rng),
        Err(Error::Cert(CertError::Expired { cert: CertRole::Intermediate, .. }))
    ));
    let future = ChainSpec::new(&root, KeyPair::generate(&mut rng), NOW + 1, NOW + 100)
        .build(&server_static.public, &mut rng);
    assert!(matches!(
        run(&future, CertVerifier::new(root.public, NOW), &mut rng),
        Err(Error::Cert(CertError::NotYetValid { cert: CertRole::Intermediate, .. }))
    ));
    let good = ChainSpec::new(&root, KeyPair::generate(&mut rng), NOW - 1, NOW + 1)
        .build(&server_static.public, &mut rng);
    assert!(run(&good, CertVerifier::new(root.public, NOW), &mut rng).is_ok());
    // The same chain is refused under WhatsApp's real root, which did not sign it.
    assert_eq!(
        run(&good, CertVerifier::whatsapp(NOW), &mut rng),
        Err(Error::Cert(CertError::BadSignature(CertRole::Intermediate)))
    );
}
