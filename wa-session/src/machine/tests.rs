//! Two machines talking through nodes only, no sockets: a tiny "server" in this file answers
//! usync and key fetches from what each side published and hands each `<message>` over in the
//! form the recipient's device gets it.

use std::sync::Arc;

use wa_proto::{Content, Jid, Node, proto::e2e};

use super::*;
use crate::{
    KeyPair, PrivateKey,
    message::{OwnDevice, ReceiptKind, parse_receipt, protocol_address},
    signal::{PreKeyBundle, PreKeyRecord, SignedPreKeyRecord},
    store::{
        MemoryStore, PreKeyStore as _, SessionStore as _, SignedPreKeyStore as _,
        conformance::{TestRng, block_on},
    },
};

const NOW: u64 = 1_700_000_000;

fn jid(text: &str) -> Jid {
    text.parse().unwrap()
}

fn text(body: &str) -> e2e::Message {
    e2e::Message { conversation: Some(body.to_owned()), ..Default::default() }
}

/// One primary device: its machine, who it is, its LID, and the bundle it published.
struct Party {
    own: OwnDevice,
    lid: Jid,
    machine: Machine<MemoryStore>,
    bundle: PreKeyBundle,
}

async fn party(device: &str, lid: &str, seed: u8) -> Party {
    let mut rng = TestRng(u64::from(seed));
    let keys = KeyPair::from_private(PrivateKey::from_bytes([seed; 32]));
    let registration_id = 100 + u32::from(seed);
    let store = MemoryStore::new(keys.clone(), registration_id);
    let signed = SignedPreKeyRecord::generate(&keys, 1, NOW, &mut rng);
    store.save_signed_pre_key(&signed).await.unwrap();
    let pre_key = PreKeyRecord { id: 1, key_pair: KeyPair::generate(&mut rng) };
    store.save_pre_key(&pre_key).await.unwrap();
    let bundle = PreKeyBundle {
        registration_id,
        device_id: 0,
        pre_key: Some((pre_key.id, pre_key.key_pair.public)),
        signed_pre_key_id: signed.id,
        signed_pre_key: signed.key_pair.public,
        signed_pre_key_signature: signed.signature.to_vec(),
        identity_key: keys.public,
    };
    Party {
        own: OwnDevice { jid: jid(device), lid: Some(jid(lid)), device_identity: None },
        lid: jid(lid),
        machine: Machine::new(Arc::new(store), MachineConfig::default()),
        bundle,
    }
}

fn bytes(tag: &'static str, value: impl Into<Vec<u8>>) -> Node {
    Node::builder(tag).bytes(value).build()
}

fn be(value: u32, len: usize) -> Vec<u8> {
    value.to_be_bytes()[4 - len..].to_vec()
}

/// The usync answer listing each party's one device (device 0) and its LID.
fn usync_answer(parties: &[&Party]) -> Node {
    let users = parties.iter().map(|party| {
        Node::builder("user")
            .attr("jid", party.own.jid.to_non_device())
            .children([
                Node::builder("devices")
                    .children([Node::builder("device-list")
                        .children([Node::builder("device").attr("id", "0").build()])
                        .build()])
                    .build(),
                Node::builder("lid").attr("val", party.lid.clone()).build(),
            ])
            .build()
    });
    Node::builder("iq")
        .attr("type", "result")
        .children([Node::builder("usync")
            .children([Node::builder("list").children(users).build()])
            .build()])
        .build()
}

/// The key-fetch answer with `party`'s bundle for `asked` (the address it was asked under).
fn bundle_answer(asked: &Jid, party: &Party) -> Node {
    let bundle = &party.bundle;
    let (id, key) = bundle.pre_key.unwrap();
    let user = Node::builder("user")
        .attr("jid", asked.clone())
        .children([
            bytes("registration", be(bundle.registration_id, 4)),
            bytes("type", [5]),
            bytes("identity", bundle.identity_key.as_bytes().to_vec()),
            Node::builder("key")
                .children([bytes("id", be(id, 3)), bytes("value", key.as_bytes().to_vec())])
                .build(),
            Node::builder("skey")
                .children([
                    bytes("id", be(bundle.signed_pre_key_id, 3)),
                    bytes("value", bundle.signed_pre_key.as_bytes().to_vec()),
                    bytes("signature", bundle.signed_pre_key_signature.clone()),
                ])
                .build(),
        ])
        .build();
    Node::builder("iq")
        .attr("type", "result")
        .children([Node::builder("list").children([user]).build()])
        .build()
}

/// What the server delivers to the device `to` for a sent `<message>`: its own `<enc>`, the
/// sender as `from`.
fn deliver(sent: &Node, from: &Jid, to: &Jid) -> Node {
    let enc = match sent.child("participants") {
        Some(participants) => participants
            .children_with_tag("to")
            .find(|node| node.attr_jid("jid").unwrap() == *to)
            .and_then(|node| node.child("enc"))
            .expect("the message addresses this device")
            .clone(),
        None => sent.child("enc").unwrap().clone(),
    };
    Node::builder("message")
        .attr("id", sent.attr_str("id").unwrap().to_owned())
        .attr("from", from.clone())
        .attr("type", sent.attr_str("type").unwrap().to_owned())
        .attr("t", (NOW + 5).to_string())
        .children([enc])
        .build()
}

fn enc_type(node: &Node) -> String {
    let enc = node.child("enc").unwrap();
    enc.attr_str("type").unwrap().to_owned()
}

/// `from` sends `message` to `to`'s user as the client does: device lists, sessions,
/// encryption. Returns the sent `<message>`.
async fn send(
    from: &Party,
    to: &Party,
    chat: &Jid,
    message: &e2e::Message,
    rng: &mut TestRng,
) -> Node {
    let users = [chat.clone(), from.own.jid.to_non_device()];
    let lookup = from.machine.known_devices(&users, NOW);
    let devices = match lookup.query("u-1", "sid-1") {
        Some(_query) => from.machine.devices_answered(lookup, &usync_answer(&[to, from]), NOW),
        None => Ok(lookup.devices),
    }
    .unwrap();
    let targets: Vec<Jid> =
        devices.iter().filter(|d| !from.own.is_this_device(d)).cloned().collect();
    if let Some(query) = from.machine.sessions_needed(&targets).await.unwrap() {
        assert_eq!(query.devices.len(), 1, "{query:?}");
        let asked = &query.devices[0];
        assert_eq!(query.node("k-1").tag, "iq");
        let failed = from.machine.bundles_answered(&bundle_answer(asked, to), rng).await.unwrap();
        assert!(failed.is_empty(), "{failed:?}");
    }
    let id = crate::message::generate_message_id(Some(&from.own.jid.user), NOW, rng);
    let encrypted =
        from.machine.encrypt(&from.own, &id, chat, message, &devices, rng).await.unwrap();
    assert!(encrypted.skipped.is_empty(), "{:?}", encrypted.skipped);
    encrypted.node
}

/// `to` opens and commits `delivered`, which must decrypt to `expected`.
async fn receive(to: &Party, delivered: &Node, expected: &e2e::Message, rng: &mut TestRng) {
    let Opened::Message(received) = to.machine.open(&to.own, delivered, rng).await.unwrap() else {
        panic!("not decrypted");
    };
    assert_eq!(received.message, *expected);
    let done = to.machine.commit(&to.own, delivered, rng).await.unwrap();
    let tags: Vec<&str> = done.iter().map(|node| node.tag.as_ref()).collect();
    assert_eq!(tags, ["receipt", "ack"]);
}

/// Alice and Bob, both phones, after Alice's first message and Bob's answer.
async fn talking(rng: &mut TestRng) -> (Party, Party) {
    let alice = party("5511@s.whatsapp.net", "111@lid", 1).await;
    let bob = party("5522@s.whatsapp.net", "222@lid", 2).await;
    let bob_chat = bob.own.jid.to_non_device();
    let sent = send(&alice, &bob, &bob_chat, &text("hello bob"), rng).await;
    let to_bob = deliver(&sent, &alice.own.jid, &bob.own.jid);
    assert_eq!(enc_type(&to_bob), "pkmsg");
    receive(&bob, &to_bob, &text("hello bob"), rng).await;
    // The same stanza again (the ack got lost): acked again, nothing handed over twice.
    let Opened::Duplicate(again) = bob.machine.open(&bob.own, &to_bob, rng).await.unwrap() else {
        panic!("a redelivery is a duplicate");
    };
    assert_eq!(again.len(), 2);

    let alice_chat = alice.own.jid.to_non_device();
    let reply = send(&bob, &alice, &alice_chat, &text("hi alice"), rng).await;
    let to_alice = deliver(&reply, &bob.own.jid, &alice.own.jid);
    assert_eq!(enc_type(&to_alice), "msg", "Bob answers on the session Alice started");
    receive(&alice, &to_alice, &text("hi alice"), rng).await;
    (alice, bob)
}

#[test]
fn a_one_to_one_exchange() {
    block_on(async {
        let mut rng = TestRng(7);
        let (alice, bob) = talking(&mut rng).await;
        // Both learnt the other's LID from usync.
        assert_eq!(alice.machine.alternate_jid(&bob.own.jid), Some(bob.lid.clone()));
        assert_eq!(bob.machine.alternate_jid(&alice.lid), Some(alice.own.jid.clone()));
        // Established both ways: the next message is a plain `msg`, with no query on the way.
        let bob_chat = bob.own.jid.to_non_device();
        let sent = send(&alice, &bob, &bob_chat, &text("again"), &mut rng).await;
        let to_bob = deliver(&sent, &alice.own.jid, &bob.own.jid);
        assert_eq!(enc_type(&to_bob), "msg");
        receive(&bob, &to_bob, &text("again"), &mut rng).await;
    });
}

#[test]
fn a_retry_receipt_is_answered_from_the_sent_store() {
    block_on(async {
        let mut rng = TestRng(8);
        let (alice, bob) = talking(&mut rng).await;
        let bob_chat = bob.own.jid.to_non_device();
        let sent = send(&alice, &bob, &bob_chat, &text("lost on the way"), &mut rng).await;
        let delivered = deliver(&sent, &alice.own.jid, &bob.own.jid);

        // The copy Bob gets is damaged (its MAC no longer matches): he asks again.
        let mut damaged = delivered.clone();
        let Content::Nodes(children) = &mut damaged.content else { panic!("{damaged:?}") };
        let enc = children.iter_mut().find(|child| child.tag == "enc").unwrap();
        let Content::Bytes(ciphertext) = &mut enc.content else { panic!("{enc:?}") };
        *ciphertext.last_mut().unwrap() ^= 1;
        let Opened::Undecryptable { retry: Some(ask), ack, .. } =
            bob.machine.open(&bob.own, &damaged, &mut rng).await.unwrap()
        else {
            panic!("a damaged message asks for a retry");
        };
        assert_eq!(ask, RetryAsk { count: 1, include_keys: false });
        assert_eq!(ack.tag, "ack");
        let retry = bob.machine.retry_receipt(&bob.own, &damaged, ask, &bob.bundle).unwrap();

        // The server hands the receipt to Alice from Bob's device.
        let mut at_alice = Node::builder("receipt")
            .attr("id", retry.attr_str("id").unwrap().to_owned())
            .attr("type", "retry")
            .attr("from", bob.own.jid.clone())
            .attr("t", (NOW + 6).to_string());
        at_alice = at_alice.children(retry.children().to_vec());
        let receipt = parse_receipt(&at_alice.build()).unwrap();
        let ReceiptKind::Retry(request) = &receipt.kind else { panic!("{receipt:?}") };
        let Resend::Stanza(again) =
            alice.machine.retry_requested(&alice.own, &receipt, request, &mut rng).await.unwrap()
        else {
            panic!("Alice has the message and a session");
        };
        receive(
            &bob,
            &deliver(&again, &alice.own.jid, &bob.own.jid),
            &text("lost on the way"),
            &mut rng,
        )
        .await;

        // A retry for a message Alice never sent (or no longer keeps) is answered by nothing.
        let mut unknown = receipt.clone();
        unknown.ids = vec!["3EB0UNKNOWN".to_owned()];
        let outcome = alice.machine.retry_requested(&alice.own, &unknown, request, &mut rng).await;
        assert!(matches!(outcome, Ok(Resend::Forgotten)), "{outcome:?}");
    });
}

#[test]
fn the_session_follows_a_move_to_lid_addressing() {
    block_on(async {
        let mut rng = TestRng(9);
        let (alice, bob) = talking(&mut rng).await;
        let store = alice.machine.store();
        let (bob_pn, bob_lid) = (protocol_address(&bob.own.jid), protocol_address(&bob.lid));
        assert!(store.session(&bob_pn).await.unwrap().is_some());
        assert!(store.session(&bob_lid).await.unwrap().is_none());

        // The chat moves to LID addressing: Alice now writes to Bob's LID. The device list comes
        // from the cache (usync named the LID) and the session moves with the address.
        let sent = send(&alice, &bob, &bob.lid, &text("by lid"), &mut rng).await;
        assert!(store.session(&bob_lid).await.unwrap().is_some(), "moved to the LID");
        assert!(store.session(&bob_pn).await.unwrap().is_none(), "one session per device");
        let to_bob = deliver(&sent, &alice.own.jid, &bob.lid);
        assert_eq!(enc_type(&to_bob), "msg", "the same session goes on: no new prekey message");
        receive(&bob, &to_bob, &text("by lid"), &mut rng).await;

        // Bob's answer comes from his LID; Alice shows it by phone number, one chat per contact.
        let alice_chat = alice.own.jid.to_non_device();
        let reply = send(&bob, &alice, &alice_chat, &text("lid reply"), &mut rng).await;
        let at_alice = deliver(&reply, &bob.lid, &alice.own.jid);
        let Opened::Message(received) =
            alice.machine.open(&alice.own, &at_alice, &mut rng).await.unwrap()
        else {
            panic!("decrypted on the moved session");
        };
        assert_eq!(received.message, text("lid reply"));
        let shown = alice.machine.by_phone_number(received.info);
        assert_eq!((shown.chat, shown.sender), (bob.own.jid.to_non_device(), bob.own.jid.clone()));
    });
}
