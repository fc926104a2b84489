//! The simulated phones: they send as their account (the companions really decrypt with
//! wa-session's message layer), decrypt what companions send them, auto-answer, resend on retry
//! receipts; and the server's phash check in the message ack.

use rand::{SeedableRng as _, rngs::StdRng};
use wa_proto::{Jid, Node, proto::e2e};
use wa_session::{
    media::{MediaDecryptor, MediaType},
    message::{
        OwnDevice, decrypt_message, delivery_receipt, encrypt_message, establish_sessions,
        fetch_bundles_iq, parse_bundles, participant_hash, retry_receipt,
    },
    signal::{PreKeyBundle, SignedPreKeyRecord, generate_pre_keys},
    store::{MemoryStore, PreKeyStore as _, SignedPreKeyStore as _},
};
use wa_sim::{MediaKind, PhoneContent, PhoneMessage, Quoted, Sim};

use super::{BOB, Client, NOW, PHONE, login_with_success, new_companion, pair, start};

/// A logged-in companion with a Signal store whose keys the server holds.
struct Device {
    client: Client,
    store: MemoryStore,
    own: OwnDevice,
    keys: PreKeyBundle,
    rng: StdRng,
}

fn jid(text: &str) -> Jid {
    text.parse().unwrap()
}

fn be(value: u32, len: usize) -> Vec<u8> {
    value.to_be_bytes()[4 - len..].to_vec()
}

fn bytes(tag: &'static str, value: Vec<u8>) -> Node {
    Node::builder(tag).bytes(value).build()
}

impl Device {
    /// Pairs a companion with `phone` (as device 1), logs in and uploads its prekeys.
    async fn new(sim: &Sim, url: &str, phone: &'static str, lid: &str, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let companion = new_companion(&mut rng);
        assert_eq!(pair(sim, url, &companion, phone).await, 1);
        let (mut client, success, _, _) = login_with_success(sim, url, &companion, phone).await;
        let store = MemoryStore::new(companion.identity.clone(), companion.registration_id);
        let signed = SignedPreKeyRecord::generate(&companion.identity, 1, NOW, &mut rng);
        store.save_signed_pre_key(&signed).await.unwrap();
        let prekeys = generate_pre_keys(1, 20, &mut rng);
        for prekey in &prekeys {
            store.save_pre_key(prekey).await.unwrap();
        }
        let upload = Node::builder("iq")
            .attr("id", "up1")
            .attr("type", "set")
            .attr("xmlns", "encrypt")
            .attr("to", Jid::server_jid())
            .children([
                bytes("registration", be(companion.registration_id, 4)),
                bytes("type", vec![5]),
                bytes("identity", companion.identity.public.as_bytes().to_vec()),
                Node::builder("list")
                    .children(prekeys.iter().map(|p| {
                        Node::builder("key")
                            .children([
                                bytes("id", be(p.id, 3)),
                                bytes("value", p.key_pair.public.as_bytes().to_vec()),
                            ])
                            .build()
                    }))
                    .build(),
                Node::builder("skey")
                    .children([
                        bytes("id", be(1, 3)),
                        bytes("value", signed.key_pair.public.as_bytes().to_vec()),
                        bytes("signature", signed.signature.to_vec()),
                    ])
                    .build(),
            ])
            .build();
        client.send(&upload).await;
        assert_eq!(client.recv().await.attr_str("type").unwrap(), "result");
        let own = OwnDevice {
            jid: jid(&format!("{phone}:1@s.whatsapp.net")),
            // Like Baileys (`CB:success` -> `creds.me.lid`), the device trusts `<success lid>`.
            lid: Some(success.attr_jid("lid").unwrap()),
            device_identity: None,
        };
        let keys = PreKeyBundle {
            registration_id: companion.registration_id,
            device_id: 1,
            pre_key: None,
            signed_pre_key_id: 1,
            signed_pre_key: signed.key_pair.public,
            signed_pre_key_signature: signed.signature.to_vec(),
            identity_key: companion.identity.public,
        };
        assert_eq!(own.lid, Some(jid(&format!("{lid}:1@lid"))), "<success lid> names the device");
        Self { client, store, own, keys, rng }
    }

    /// The next stanza with this tag (acking messages and receipts it skips or returns).
    async fn next(&mut self, tag: &str) -> Node {
        loop {
            let node = tokio::time::timeout(std::time::Duration::from_secs(5), self.client.recv())
                .await
                .expect("no stanza within 5 s");
            if node.tag == "message" || node.tag == "receipt" {
                let ack = Node::builder("ack")
                    .attr("class", node.tag.to_string())
                    .attr("id", node.attr_str("id").unwrap().to_owned())
                    .build();
                self.client.send(&ack).await;
            }
            if node.tag == tag {
                return node;
            }
        }
    }

    /// Decrypts the next message and answers it with a delivery receipt.
    async fn receive(&mut self) -> wa_session::message::ReceivedMessage {
        let node = self.next("message").await;
        let received = decrypt_message(&self.store, &self.own, &node, &mut self.rng).await.unwrap();
        self.client.send(&delivery_receipt(&received.info)).await;
        received
    }

    /// Sends `text` to account `to` (its devices and our own phone), with sessions from the
    /// server's bundles; returns the stanza sent.
    async fn send_text(&mut self, id: &str, to: &str, devices: &[Jid], text: &str) -> Node {
        let chat = jid(&format!("{to}@s.whatsapp.net"));
        self.send_text_in(id, &chat, devices, text).await
    }

    /// [`Device::send_text`] to the chat `chat` (phone-number or LID addressing).
    async fn send_text_in(&mut self, id: &str, chat: &Jid, devices: &[Jid], text: &str) -> Node {
        let iq = fetch_bundles_iq("b1", devices);
        self.client.send(&iq).await;
        let answer = self.next("iq").await;
        let bundles = parse_bundles(&answer).unwrap();
        establish_sessions(&self.store, &bundles, &mut self.rng).await.unwrap();
        let message = e2e::Message { conversation: Some(text.to_owned()), ..Default::default() };
        let encrypted =
            encrypt_message(&self.store, &self.own, id, chat, &message, devices, &mut self.rng)
                .await
                .unwrap();
        assert!(encrypted.skipped.is_empty(), "{:?}", encrypted.skipped);
        self.client.send(&encrypted.node).await;
        encrypted.node
    }
}

const ALICE_LID: &str = "100200300400500";
const BOB_LID: &str = "900800700600500";

async fn two_accounts(seed: u64) -> (Sim, String, Device, Device) {
    let (sim, url) = start(seed).await;
    sim.create_account(BOB, Some(BOB_LID)).unwrap();
    let alice = Device::new(&sim, &url, PHONE, ALICE_LID, seed + 1).await;
    let bob = Device::new(&sim, &url, BOB, BOB_LID, seed + 2).await;
    (sim, url, alice, bob)
}

fn text(message: &e2e::Message) -> Option<String> {
    message
        .conversation
        .clone()
        .or_else(|| message.extended_text_message.as_ref().and_then(|m| m.text.clone()))
}

/// Waits until `check` holds for the phone's records (the phones work on their own tasks).
async fn eventually<T>(mut check: impl FnMut() -> Option<T>) -> T {
    for _ in 0..200 {
        if let Some(value) = check() {
            return value;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("condition not reached in 2 s");
}

#[tokio::test]
async fn phone_sends_text_quote_and_media_to_a_companion_and_its_own_companion_gets_a_copy() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (sim, _url, mut alice, mut bob) = two_accounts(40).await;
    let media = sim.serve_media("127.0.0.1:0".parse().unwrap(), 1 << 20).await.unwrap();

    // Bob's phone writes to Alice: her companion decrypts it; Bob's own companion gets the
    // DeviceSentMessage copy, from_me, in the chat with Alice.
    let send = |content, quoted| PhoneMessage { to: PHONE.to_owned(), content, quoted };
    let id =
        sim.phone_send(BOB, send(PhoneContent::Text("hello Alice".into()), None)).await.unwrap();
    let got = alice.receive().await;
    assert_eq!(
        (got.info.id.as_str(), text(&got.message).as_deref()),
        (id.as_str(), Some("hello Alice"))
    );
    assert_eq!(got.info.sender, jid(&format!("{BOB}@s.whatsapp.net")));
    assert!(!got.info.from_me);
    let copy = bob.receive().await;
    assert!(copy.info.from_me);
    assert_eq!(copy.info.chat, jid(&format!("{PHONE}@s.whatsapp.net")));
    assert_eq!(text(&copy.message).as_deref(), Some("hello Alice"));
    // Both delivery receipts reach the phone.
    eventually(|| {
        let receipts = sim.phone_receipts(BOB).unwrap();
        (receipts.iter().filter(|r| r.id == id && r.kind == "delivered").count() == 2).then_some(())
    })
    .await;

    // A quoted reply.
    let quoted = Quoted { id: "QUOTED1".into(), participant: None, text: Some("earlier".into()) };
    sim.phone_send(BOB, send(PhoneContent::Text("re".into()), Some(quoted))).await.unwrap();
    let got = alice.receive().await;
    let extended = got.message.extended_text_message.unwrap();
    assert_eq!(extended.text.as_deref(), Some("re"));
    let context = extended.context_info.unwrap();
    assert_eq!(context.stanza_id.as_deref(), Some("QUOTED1"));
    // No participant given: the chat partner wrote the quoted message.
    assert_eq!(context.participant.as_deref(), Some(format!("{PHONE}@s.whatsapp.net").as_str()));
    assert_eq!(context.quoted_message.unwrap().conversation.as_deref(), Some("earlier"));
    bob.receive().await;

    // An image: the blob is on the media host and decrypts to the bytes sent.
    let picture: Vec<u8> = (0..3000u32).map(|i| (i * 7).to_le_bytes()[0]).collect();
    let content = PhoneContent::Media {
        kind: MediaKind::Image,
        bytes: picture.clone(),
        mimetype: "image/jpeg".into(),
        caption: Some("a picture".into()),
        file_name: None,
    };
    sim.phone_send(BOB, send(content, None)).await.unwrap();
    let image = alice.receive().await.message.image_message.unwrap();
    assert_eq!(image.caption.as_deref(), Some("a picture"));
    let http = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
    let blob = http
        .get(format!("https://{media}{}", image.direct_path.unwrap()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let key: [u8; 32] = image.media_key.unwrap().try_into().unwrap();
    let mut decryptor = MediaDecryptor::new(&key, MediaType::Image);
    let mut plain = Vec::new();
    decryptor.update(&blob, &mut plain);
    decryptor.finish(&mut plain, None).unwrap();
    assert_eq!(plain, picture);
    bob.receive().await;

    // A voice note.
    let voice = PhoneContent::Voice { bytes: b"OggS fake opus".to_vec(), seconds: 3 };
    sim.phone_send(BOB, send(voice, None)).await.unwrap();
    let audio = alice.receive().await.message.audio_message.unwrap();
    assert_eq!((audio.ptt, audio.seconds), (Some(true), Some(3)));
    assert_eq!(audio.mimetype.as_deref(), Some("audio/ogg; codecs=opus"));
}

#[tokio::test]
async fn phone_decrypts_companions_records_copies_and_auto_answers() {
    let (sim, _url, mut alice, _bob) = two_accounts(50).await;
    let bob_devices =
        [jid(&format!("{BOB}@s.whatsapp.net")), jid(&format!("{BOB}:1@s.whatsapp.net"))];
    let mut devices = bob_devices.to_vec();
    devices.push(jid(&format!("{PHONE}@s.whatsapp.net")));
    alice.send_text("A1", BOB, &devices, "hi Bob").await;

    // Bob's phone decrypted it and answered with a delivery receipt; Alice's own phone got the
    // copy, from_me.
    let got =
        eventually(|| sim.phone_received(BOB).unwrap().into_iter().find(|r| r.id == "A1")).await;
    assert_eq!(
        (got.kind.as_str(), got.text.as_deref(), got.from_me),
        ("text", Some("hi Bob"), false)
    );
    assert_eq!(got.sender, format!("{PHONE}:1@s.whatsapp.net"));
    let receipt = alice.next("receipt").await;
    assert_eq!(receipt.attr_str("id").unwrap(), "A1");
    let copy =
        eventually(|| sim.phone_received(PHONE).unwrap().into_iter().find(|r| r.id == "A1")).await;
    assert!(copy.from_me);
    assert_eq!(copy.chat, format!("{BOB}@s.whatsapp.net"));

    // Auto-answer: the phone replies with the template; Alice decrypts the answer.
    sim.set_auto_answer(BOB, Some("echo: {text}".into())).unwrap();
    alice.send_text("A2", BOB, &devices, "ping").await;
    let answer = alice.receive().await;
    assert_eq!(text(&answer.message).as_deref(), Some("echo: ping"));
    assert_eq!(answer.info.sender, jid(&format!("{BOB}@s.whatsapp.net")));

    // Read receipts on request.
    sim.phone_read(BOB, PHONE, &["A2".to_owned()]).unwrap();
    // (Alice's phone's `sender` receipts for its copies may come first.)
    let mut read = alice.next("receipt").await;
    while read.attr_opt_str("type").unwrap() == Some("sender") {
        read = alice.next("receipt").await;
    }
    assert_eq!((read.attr_str("id").unwrap(), read.attr_str("type").unwrap()), ("A2", "read"));
}

/// Difference 1 of issue 17: a companion that takes its own LID from `<success lid>` (Baileys
/// `src/Socket/socket.ts`, `CB:success`; whatsmeow `connectionevents.go`,
/// `handleConnectSuccess`) and writes in LID addressing still covers its primary phone: the
/// phone gets the `DeviceSentMessage` copy of every message, nobody sends a retry receipt.
#[tokio::test]
async fn lid_addressed_sends_reach_the_own_phone_without_retries() {
    let (sim, _url, mut alice, _bob) = two_accounts(70).await;
    let chat = jid(&format!("{BOB_LID}@lid"));
    let devices = [
        jid(&format!("{BOB_LID}@lid")),
        jid(&format!("{BOB_LID}:1@lid")),
        jid(&format!("{ALICE_LID}@lid")),
    ];
    let ids = ["L1", "L2", "L3"];
    for id in ids {
        alice.send_text_in(id, &chat, &devices, &format!("lid {id}")).await;
        // Bob's phone's delivery receipt comes back (her own phone's `sender` receipt may come
        // first); none is a retry.
        loop {
            let receipt = alice.next("receipt").await;
            let kind = receipt.attr_opt_str("type").unwrap().unwrap_or("delivery");
            assert_ne!(kind, "retry", "{receipt:?}");
            if kind == "delivery" {
                assert_eq!(receipt.attr_str("id").unwrap(), id);
                break;
            }
        }
    }
    for id in ids {
        let copy =
            eventually(|| sim.phone_received(PHONE).unwrap().into_iter().find(|r| r.id == id))
                .await;
        assert!(copy.from_me, "{copy:?}");
        assert_eq!((copy.error.as_deref(), copy.text.clone()), (None, Some(format!("lid {id}"))));
        let got =
            eventually(|| sim.phone_received(BOB).unwrap().into_iter().find(|r| r.id == id)).await;
        assert_eq!(got.error, None);
    }
    let errors: Vec<_> = [PHONE, BOB]
        .iter()
        .flat_map(|phone| sim.phone_received(phone).unwrap())
        .filter(|r| r.error.is_some())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

#[tokio::test]
async fn retry_receipts_both_ways() {
    let (sim, _url, mut alice, _bob) = two_accounts(60).await;

    // Alice's companion cannot decrypt (it pretends it lost the message) and asks for a retry
    // with its keys: the phone starts a new session from them and resends to that device alone.
    let id = sim
        .phone_send(
            BOB,
            PhoneMessage {
                to: PHONE.into(),
                content: PhoneContent::Text("again".into()),
                quoted: None,
            },
        )
        .await
        .unwrap();
    let first = alice.next("message").await;
    let retry = retry_receipt(&first, 1, &alice.keys, true, None).unwrap();
    alice.client.send(&retry).await;
    let resent = alice.next("message").await;
    assert_eq!(resent.attr_str("id").unwrap(), id);
    assert_eq!(resent.child("enc").unwrap().attr_str("count").unwrap(), "1");
    let got = decrypt_message(&alice.store, &alice.own, &resent, &mut alice.rng).await.unwrap();
    assert_eq!(text(&got.message).as_deref(), Some("again"));
    let retries = sim.phone_receipts(BOB).unwrap();
    assert!(retries.iter().any(|r| r.id == id && r.kind == "retry"), "{retries:?}");

    // A message the phone cannot decrypt: recorded with the error, and a retry receipt to the
    // sender.
    let garbage = Node::builder("message")
        .attr("id", "BAD1")
        .attr("to", jid(&format!("{BOB}@s.whatsapp.net")))
        .attr("type", "text")
        .children([Node::builder("participants")
            .children([Node::builder("to")
                .attr("jid", jid(&format!("{BOB}@s.whatsapp.net")))
                .children([Node::builder("enc")
                    .attr("v", "2")
                    .attr("type", "msg")
                    .bytes(vec![0x33; 40])
                    .build()])
                .build()])
            .build()])
        .build();
    alice.client.send(&garbage).await;
    let receipt = alice.next("receipt").await;
    assert_eq!(
        (receipt.attr_str("id").unwrap(), receipt.attr_str("type").unwrap()),
        ("BAD1", "retry")
    );
    let failed =
        eventually(|| sim.phone_received(BOB).unwrap().into_iter().find(|r| r.id == "BAD1")).await;
    assert!(failed.error.is_some());
}

#[tokio::test]
async fn the_message_ack_carries_the_server_phash_when_the_list_is_stale() {
    let (sim, url) = start(70).await;
    sim.create_account(BOB, Some(BOB_LID)).unwrap();
    let mut alice = Device::new(&sim, &url, PHONE, ALICE_LID, 71).await;
    let pn = |user: &str, device: u16| {
        Jid::with_device(user, wa_proto::Server::from_name("s.whatsapp.net"), device)
    };
    let message = |id: &str, phash: &str| {
        Node::builder("message")
            .attr("id", id.to_owned())
            .attr("to", jid(&format!("{BOB}@s.whatsapp.net")))
            .attr("type", "text")
            .attr("phash", phash.to_owned())
            .children([Node::builder("participants")
                .children([Node::builder("to")
                    .attr("jid", pn(BOB, 0))
                    .children([Node::builder("enc")
                        .attr("v", "2")
                        .attr("type", "msg")
                        .bytes(vec![1])
                        .build()])
                    .build()])
                .build()])
            .build()
    };
    // Bob has only his phone; Alice's other device is her phone: the hash matches, no phash.
    let current = participant_hash([&pn(BOB, 0), &pn(PHONE, 0)]);
    alice.client.send(&message("P1", &current)).await;
    let ack = alice.next("ack").await;
    assert_eq!(ack.attr_str("id").unwrap(), "P1");
    assert!(ack.attr_opt_str("phash").unwrap().is_none());
    // Baileys' shorter form (6 base64 characters of the whole hash) is a prefix: accepted too.
    alice.client.send(&message("P1b", &current[..8])).await;
    let ack = alice.next("ack").await;
    assert_eq!(ack.attr_str("id").unwrap(), "P1b");
    assert!(ack.attr_opt_str("phash").unwrap().is_none());
    // Bob pairs a companion after Alice computed the hash: the ack carries the new one.
    let _bob = Device::new(&sim, &url, BOB, BOB_LID, 72).await;
    alice.client.send(&message("P2", &current)).await;
    let ack = alice.next("ack").await;
    assert_eq!(ack.attr_str("id").unwrap(), "P2");
    let fresh = participant_hash([&pn(BOB, 0), &pn(BOB, 1), &pn(PHONE, 0)]);
    assert_ne!(fresh, current);
    assert_eq!(ack.attr_opt_str("phash").unwrap(), Some(fresh.as_str()));
}

#[tokio::test]
async fn phones_over_the_control_api() {
    use serde_json::json;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (sim, _url, mut alice, _bob) = two_accounts(80).await;
    let control = sim.serve_control("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://{control}");

    // Send as Bob's phone; Alice's companion decrypts it.
    let res = http
        .post(format!("{base}/phones/{BOB}/send"))
        .json(&json!({"to": PHONE, "text": "over http", "quoted": {"id": "Q9"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let id = res.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let got = alice.receive().await;
    assert_eq!(
        (got.info.id.as_str(), text(&got.message).as_deref()),
        (id.as_str(), Some("over http"))
    );

    // The server's view of what reached Alice's companion.
    let routed: serde_json::Value = http
        .get(format!("{base}/accounts/{PHONE}/devices/1/received"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let last = routed.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["id"], id.as_str());
    assert_eq!(last["from"], format!("{BOB}@s.whatsapp.net"));
    assert_eq!(last["enc_types"], json!(["pkmsg"]));

    // A place and contact cards over http: the companion reads them as such.
    use wa_session::message::{ContentKind, MessageContent};
    let shared = [
        json!({"to": PHONE, "location": {"latitude": 1.5, "longitude": -2.25, "name": "Here"}}),
        json!({"to": PHONE, "contacts": [{"name": "Ana", "vcard": "BEGIN:VCARD\nTEL:+1 555\nEND:VCARD"}]}),
    ];
    let mut summaries = vec![];
    for body in shared {
        let res = http.post(format!("{base}/phones/{BOB}/send")).json(&body).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let got = alice.receive().await;
        let content = MessageContent::of(&got.message);
        summaries.push((content.kind(), content.summary()));
    }
    assert_eq!(
        summaries,
        [
            (ContentKind::Location, Some("Here\n1.500000, -2.250000".to_owned())),
            (ContentKind::Contact, Some("Ana\n+1 555".to_owned())),
        ]
    );
    for bad in [
        json!({"to": PHONE, "text": "a", "location": {"latitude": 1.0, "longitude": 2.0}}),
        json!({"to": PHONE, "contacts": []}),
    ] {
        let res = http.post(format!("{base}/phones/{BOB}/send")).json(&bad).send().await.unwrap();
        assert_eq!(res.status(), 400, "{bad}");
    }

    // Auto-answer on; Alice writes; the answer comes back; the phone lists what it decrypted.
    let res = http
        .post(format!("{base}/phones/{BOB}/auto-answer"))
        .json(&json!({"enabled": true, "template": "you said {text}"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let devices = [
        jid(&format!("{BOB}@s.whatsapp.net")),
        jid(&format!("{BOB}:1@s.whatsapp.net")),
        jid(&format!("{PHONE}@s.whatsapp.net")),
    ];
    alice.send_text("H1", BOB, &devices, "yo").await;
    let answer = alice.receive().await;
    assert_eq!(text(&answer.message).as_deref(), Some("you said yo"));
    let received: serde_json::Value = http
        .get(format!("{base}/phones/{BOB}/received"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let messages = received["messages"].as_array().unwrap();
    assert!(messages.iter().any(|m| m["id"] == "H1" && m["text"] == "yo"), "{received}");

    // Bad bodies and unknown phones.
    let res = http
        .post(format!("{base}/phones/{BOB}/send"))
        .json(&json!({"to": PHONE, "text": "a", "image": "AAAA"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = http
        .post(format!("{base}/phones/{BOB}/send"))
        .json(&json!({"to": "999999999", "text": "a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = http.get(format!("{base}/phones/123456789/received")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let res = http
        .post(format!("{base}/phones/{BOB}/read"))
        .json(&json!({"chat": PHONE, "ids": ["H1"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
