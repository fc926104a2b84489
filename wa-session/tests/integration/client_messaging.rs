//! The Client's messaging against wa-sim: text, quoted reply, reaction and receipts both ways,
//! our own other device's copy, exactly-once delivery while sockets are killed, a handler that
//! does not confirm, a stale device list, sessions broken on the receiving side repaired by
//! retry receipts, and a contact moving between phone-number and LID addressing.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};
use wa_proto::{Jid, Server, proto::e2e};
use wa_session::{
    KeyPair,
    client::{BackoffPolicy, Client, Config, DisconnectReason, Event, Events, Quoted},
    message::{AddressingMode, MessageInfo, ReceiptKind, protocol_address},
    signal::{SessionRecord, generate_registration_id},
    store::{MemoryStore, SessionStore as _},
};
use wa_sim::{PhoneContent, PhoneMessage, Sim, SimConfig, Target};

const ALICE: &str = "15550002001";
const BOB: &str = "15550002002";
const CAROL: &str = "15550002003";

async fn start_sim() -> (Sim, String) {
    let sim = Sim::new(SimConfig { seed: Some(7), ..SimConfig::default() });
    sim.create_account(ALICE, Some("200000000000001")).unwrap();
    sim.create_account(BOB, Some("200000000000002")).unwrap();
    sim.create_account(CAROL, Some("200000000000003")).unwrap();
    let addr = sim.serve_ws("127.0.0.1:0".parse().unwrap()).await.unwrap();
    (sim, format!("ws://{addr}/ws/chat"))
}

fn config(sim: &Sim, url: &str, seed: u64) -> Config {
    Config {
        url: url.to_owned(),
        root_key: sim.root_key(),
        seed: Some(seed),
        backoff: BackoffPolicy {
            base: Duration::from_millis(20),
            max: Duration::from_millis(100),
            ..BackoffPolicy::default()
        },
        ..Config::default()
    }
}

fn user(phone: &str) -> Jid {
    Jid::new(phone, Server::User)
}

struct Peer {
    client: Client,
    events: Events,
}

/// Pairs a new companion of `phone` and waits until it is logged in.
async fn pair(sim: &Sim, seed: u64, phone: &str, config: Config) -> Peer {
    pair_with_store(sim, seed, phone, config).await.0
}

/// [`pair`], also giving the companion's store.
async fn pair_with_store(
    sim: &Sim,
    seed: u64,
    phone: &str,
    config: Config,
) -> (Peer, Arc<MemoryStore>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let store =
        Arc::new(MemoryStore::new(KeyPair::generate(&mut rng), generate_registration_id(&mut rng)));
    let (client, mut events) = Client::start(config, store.clone()).await.unwrap();
    let code = loop {
        if let Event::Qr { code, .. } = next(&mut events).await {
            break code;
        }
    };
    sim.scan(&code, phone).await.unwrap();
    loop {
        if matches!(next(&mut events).await, Event::Connected) {
            break;
        }
    }
    (Peer { client, events }, store)
}

async fn next(events: &mut Events) -> Event {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event within 10 s")
        .expect("the event stream is still open")
}

impl Peer {
    /// The next event `pick` accepts; messages passed over are confirmed, other events skipped.
    async fn expect<T>(&mut self, mut pick: impl FnMut(&Event) -> Option<T>) -> (T, Event) {
        loop {
            let event = next(&mut self.events).await;
            if let Some(found) = pick(&event) {
                return (found, event);
            }
            if let Event::Message { ack, .. } = event {
                ack.ack();
            }
        }
    }

    /// The next message, confirmed.
    async fn message(&mut self) -> (MessageInfo, e2e::Message) {
        let (_, event) = self.expect(|e| matches!(e, Event::Message { .. }).then_some(())).await;
        let Event::Message { info, message, ack } = event else { unreachable!() };
        assert!(ack.ack());
        (info, *message)
    }

    async fn receipt(&mut self, id: &str, kind: &ReceiptKind) -> Jid {
        let (sender, _) = self
            .expect(|e| match e {
                Event::Receipt(r) if r.ids.iter().any(|i| i == id) && &r.kind == kind => {
                    Some(r.sender.clone())
                }
                _ => None,
            })
            .await;
        sender
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_reply_reaction_and_receipts_both_ways() {
    let (sim, url) = start_sim().await;
    let mut alice = pair(&sim, 1, ALICE, config(&sim, &url, 1)).await;
    let mut alice2 = pair(&sim, 2, ALICE, config(&sim, &url, 2)).await;
    let mut bob = pair(&sim, 3, BOB, config(&sim, &url, 3)).await;

    let sent = alice.client.send_text(&user(BOB), "hello bob").await.unwrap();
    assert_eq!(sent.chat, user(BOB));
    assert!(sent.devices >= 3, "bob's phone and companion, alice's phone and other companion");
    let (id, _) = alice
        .expect(|e| match e {
            Event::Sent { id, .. } => Some(id.clone()),
            _ => None,
        })
        .await;
    assert_eq!(id, sent.id);

    let (info, message) = bob.message().await;
    assert_eq!(
        (info.id.as_str(), message.conversation.as_deref()),
        (sent.id.as_str(), Some("hello bob"))
    );
    assert_eq!(
        (info.chat.clone(), info.sender.user.as_str(), info.from_me),
        (user(ALICE), ALICE, false)
    );
    // Alice's other companion gets the from-me copy, in the chat with bob.
    let (copy, copy_message) = alice2.message().await;
    assert_eq!(
        (copy.id.as_str(), copy.from_me, copy.chat.clone()),
        (sent.id.as_str(), true, user(BOB))
    );
    assert_eq!(copy_message.conversation.as_deref(), Some("hello bob"));

    let delivered_by = alice.receipt(&sent.id, &ReceiptKind::Delivered).await;
    assert_eq!(delivered_by.user, BOB);
    bob.client.mark_read(&info.chat, &info.sender, std::slice::from_ref(&info.id)).unwrap();
    assert_eq!(alice.receipt(&sent.id, &ReceiptKind::Read).await.user, BOB);

    // Bob replies, quoting.
    let reply = bob
        .client
        .send_reply(&user(ALICE), "hi alice", &Quoted::of(&info, &message))
        .await
        .unwrap();
    let (reply_info, reply_message) = alice.message().await;
    assert_eq!(reply_info.id, reply.id);
    let text = reply_message.extended_text_message.expect("an extended text message");
    assert_eq!(text.text.as_deref(), Some("hi alice"));
    let context = text.context_info.expect("a context info");
    assert_eq!(context.stanza_id.as_deref(), Some(sent.id.as_str()));
    assert_eq!(context.participant.as_deref(), Some(format!("{ALICE}@s.whatsapp.net").as_str()));
    assert_eq!(context.quoted_message.unwrap().conversation.as_deref(), Some("hello bob"));
    assert_eq!(bob.receipt(&reply.id, &ReceiptKind::Delivered).await.user, ALICE);

    // Alice reacts to the reply, bob to alice's first message.
    let quoted_reply = Quoted::of(&reply_info, &e2e::Message::default());
    alice.client.send_reaction(&user(BOB), &quoted_reply, "👍").await.unwrap();
    let (_, reaction) = bob.message().await;
    let reaction = reaction.reaction_message.expect("a reaction");
    assert_eq!(reaction.text.as_deref(), Some("👍"));
    let key = reaction.key.unwrap();
    assert_eq!((key.id.as_deref(), key.from_me), (Some(reply.id.as_str()), Some(false)));
    let mine = Quoted::of(&info, &message);
    bob.client.send_reaction(&user(ALICE), &mine, "❤").await.unwrap();
    let (_, reaction) = alice.message().await;
    let key = reaction.reaction_message.unwrap().key.unwrap();
    assert_eq!(key.id.as_deref(), Some(sent.id.as_str()));
    // The LID of alice was learnt from the message attributes.
    assert_eq!(
        bob.client.alternate_jid(&format!("{ALICE}:1@s.whatsapp.net").parse().unwrap()),
        Some("200000000000001:1@lid".parse().unwrap())
    );
}

/// What one client's application stored: per chat, the texts in arrival order; the ids seen.
#[derive(Default)]
struct AppStore {
    chats: HashMap<Jid, Vec<String>>,
    ids: HashSet<String>,
    redelivered: usize,
}

fn spawn_app(mut events: Events, received: Arc<AtomicUsize>) -> Arc<Mutex<AppStore>> {
    let store = Arc::new(Mutex::new(AppStore::default()));
    let app = store.clone();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            let Event::Message { info, message, ack } = event else { continue };
            {
                let mut store = app.lock().unwrap();
                // The window between our store write and the client's commit: recognised by id.
                if store.ids.insert(info.id.clone()) {
                    let text = message.conversation.unwrap_or_default();
                    store.chats.entry(info.chat.clone()).or_default().push(text);
                    received.fetch_add(1, Ordering::SeqCst);
                } else {
                    store.redelivered += 1;
                }
            }
            ack.ack();
        }
    });
    store
}

/// The number of messages of the exactly-once test: `WA_EXACTLY_ONCE_MESSAGES` (10,000 in
/// by default: about 20 s in a debug build on two shared cores; set it lower for a quick run).
fn exchange_size() -> usize {
    std::env::var("WA_EXACTLY_ONCE_MESSAGES").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_arrives_exactly_once_and_in_order_while_sockets_are_killed() {
    const KILLS: usize = 100;
    let total = exchange_size();
    let (sim, url) = start_sim().await;
    let phones = [ALICE, BOB, CAROL];
    let mut clients = Vec::new();
    let mut stores = Vec::new();
    let received = Arc::new(AtomicUsize::new(0));
    for (i, phone) in phones.iter().enumerate() {
        let seed = 100 + i as u64;
        let peer = pair(&sim, seed, phone, config(&sim, &url, seed)).await;
        stores.push(spawn_app(peer.events, received.clone()));
        clients.push(peer.client);
    }
    // Four directions over three chats: alice <-> bob, alice <-> carol, bob -> carol.
    let directions = [(0, 1), (1, 0), (0, 2), (2, 0), (1, 2)];
    let per_direction = total / directions.len();
    let started = tokio::time::Instant::now();
    let mut senders = Vec::new();
    for (from, to) in directions {
        let client = clients[from].clone();
        let chat = user(phones[to]);
        senders.push(tokio::spawn(async move {
            for n in 0..per_direction {
                client.send_text(&chat, &format!("{from}->{to} #{n}")).await.unwrap();
            }
        }));
    }
    // The kills, at seeded random points of the exchange.
    let done = Arc::new(AtomicBool::new(false));
    let killer = {
        let (sim, received, done) = (sim.clone(), received.clone(), done.clone());
        let expected = per_direction * directions.len();
        tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(42);
            let mut points: Vec<usize> =
                (0..KILLS).map(|_| rng.random_range(0..expected * 9 / 10)).collect();
            points.sort_unstable();
            let mut kills = 0;
            for point in points {
                while received.load(Ordering::SeqCst) < point && !done.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                // A socket that is down right now is not a kill: pick another until one closes.
                loop {
                    let phone = phones[rng.random_range(0..phones.len())];
                    let target = Target { phone: Some(phone.to_owned()), device: Some(1) };
                    if sim.close(&target) > 0 {
                        kills += 1;
                        break;
                    }
                    if done.load(Ordering::SeqCst) {
                        return kills;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
            kills
        })
    };
    for sender in senders {
        sender.await.unwrap();
    }
    let expected = per_direction * directions.len();
    for _ in 0..600 {
        if received.load(Ordering::SeqCst) >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done.store(true, Ordering::SeqCst);
    let kills = killer.await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(kills, KILLS, "every kill closed a live socket");
    let mut redelivered = 0;
    for (from, to) in directions {
        let store = stores[to].lock().unwrap();
        let texts = store.chats.get(&user(phones[from])).cloned().unwrap_or_default();
        let wanted: Vec<String> =
            (0..per_direction).map(|n| format!("{from}->{to} #{n}")).collect();
        assert_eq!(texts.len(), wanted.len(), "{from}->{to}: every message, once");
        assert_eq!(texts, wanted, "{from}->{to}: in order");
    }
    for store in &stores {
        redelivered += store.lock().unwrap().redelivered;
    }
    // A redelivery happens only when a kill fell between the application's write and the
    // client's commit.
    assert!(redelivered <= KILLS, "{redelivered} redeliveries for {KILLS} kills");
    eprintln!("{expected} messages, {kills} kills, {redelivered} redelivered, {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_handler_did_not_confirm_comes_again_once() {
    let (sim, url) = start_sim().await;
    let alice = pair(&sim, 11, ALICE, config(&sim, &url, 11)).await;
    let mut bob = pair(&sim, 12, BOB, config(&sim, &url, 12)).await;
    for text in ["one", "two", "three"] {
        alice.client.send_text(&user(BOB), text).await.unwrap();
    }
    let mut stored = Vec::new();
    let mut crashed = false;
    let mut reconnected = false;
    while stored.len() < 3 {
        match next(&mut bob.events).await {
            Event::Message { message, ack, .. } => {
                let text = message.conversation.unwrap();
                if text == "two" && !crashed {
                    // The handler "crashes": nothing stored, the token dropped.
                    crashed = true;
                    drop(ack);
                    continue;
                }
                stored.push(text);
                assert!(ack.ack());
            }
            Event::Disconnected { reason, .. } => {
                assert_eq!(reason, DisconnectReason::MessageNotHandled);
                reconnected = true;
            }
            _ => {}
        }
    }
    assert!(crashed && reconnected);
    assert_eq!(stored, ["one", "two", "three"]);
    // Nothing else comes: each message was delivered to the store once.
    let more = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            if let Some(Event::Message { .. }) = bob.events.recv().await {
                return;
            }
        }
    })
    .await;
    assert!(more.is_err(), "no message came a second time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_device_list_is_repaired_through_the_participant_hash_of_the_server_ack() {
    let (sim, url) = start_sim().await;
    let alice = pair(&sim, 21, ALICE, config(&sim, &url, 21)).await;
    let mut bob = pair(&sim, 22, BOB, config(&sim, &url, 22)).await;
    alice.client.send_text(&user(BOB), "first").await.unwrap();
    assert_eq!(bob.message().await.1.conversation.as_deref(), Some("first"));

    // Bob links a second companion after alice cached his device list (one hour to live): the
    // message goes to the cached devices, the server's ack names another participant hash, and
    // alice refreshes the list and sends the same message to the companion it missed.
    let mut bob2 = pair(&sim, 23, BOB, config(&sim, &url, 23)).await;
    let stale = alice.client.send_text(&user(BOB), "second").await.unwrap();
    assert_eq!(stale.devices, 3, "bob's phone and first companion, alice's phone");
    assert_eq!(bob.message().await.1.conversation.as_deref(), Some("second"));
    let (info, message) = bob2.message().await;
    assert_eq!((info.id, message.conversation.as_deref()), (stale.id, Some("second")));

    // From now on the list is the fresh one.
    let fresh = alice.client.send_text(&user(BOB), "third").await.unwrap();
    assert_eq!(fresh.devices, 4);
    let (info, message) = bob2.message().await;
    assert_eq!((info.id, message.conversation.as_deref()), (fresh.id, Some("third")));
}

/// Forgets the Signal session `store` holds with `device`, as a device restored from an old
/// backup or with a torn write would: the next message from it cannot be decrypted.
async fn break_session(store: &MemoryStore, device: &Jid) {
    assert!(has_session(store, device).await, "a session to break");
    store.save_session(&protocol_address(device), &SessionRecord::new()).await.unwrap();
}

/// Whether `store` holds a session with `device` within a second (the client commits a
/// message's session change just after the application confirms it).
async fn has_session(store: &MemoryStore, device: &Jid) -> bool {
    let address = protocol_address(device);
    for _ in 0..100 {
        let record = store.session(&address).await.unwrap();
        if record.is_some_and(|r| r.has_current_session()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// The texts of the messages that arrive within `wait`, confirmed, with their ids.
async fn texts_within(peer: &mut Peer, wait: Duration) -> Vec<(String, String)> {
    let mut texts = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(wait, peer.events.recv()).await {
        if let Event::Message { info, message, ack } = event {
            assert!(ack.ack());
            texts.push((info.id, message.conversation.unwrap_or_default()));
        }
    }
    texts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_receipt_recovers_a_session_the_receiver_lost_in_both_directions() {
    let (sim, url) = start_sim().await;
    let (mut alice, alice_store) = pair_with_store(&sim, 31, ALICE, config(&sim, &url, 31)).await;
    let (mut bob, bob_store) = pair_with_store(&sim, 32, BOB, config(&sim, &url, 32)).await;
    alice.client.send_text(&user(BOB), "one").await.unwrap();
    let (from_alice, _) = bob.message().await;
    bob.client.send_text(&user(ALICE), "two").await.unwrap();
    let (from_bob, _) = alice.message().await;

    recovers(&sim, &mut alice, &mut bob, &bob_store, &from_alice.sender, &user(BOB)).await;
    recovers(&sim, &mut bob, &mut alice, &alice_store, &from_bob.sender, &user(ALICE)).await;
}

/// Breaks the receiver's session with `sender_device`, then checks that the next message still
/// arrives, once, and that the conversation carries on both ways.
async fn recovers(
    sim: &Sim,
    sender: &mut Peer,
    receiver: &mut Peer,
    receiver_store: &MemoryStore,
    sender_device: &Jid,
    to: &Jid,
) {
    break_session(receiver_store, sender_device).await;
    let receipts_before = sim.counters().receipts_relayed;
    let sent = sender.client.send_text(to, "after the break").await.unwrap();
    // Without a session the first decryption fails; the retry receipts (the second with the
    // receiver's keys) make the sender start a new session and send the same message again.
    let (info, message) = receiver.message().await;
    assert_eq!(
        (info.id.as_str(), message.conversation.as_deref()),
        (sent.id.as_str(), Some("after the break"))
    );
    assert!(
        sim.counters().receipts_relayed >= receipts_before + 2,
        "retry receipts went through the server"
    );
    assert!(has_session(receiver_store, sender_device).await, "the receiver holds a new session");
    // The repaired session carries on both ways, and the message is not delivered twice.
    let next = sender.client.send_text(to, "and on").await.unwrap();
    let answer = receiver.client.send_text(&info.chat, "heard").await.unwrap();
    let received = texts_within(receiver, Duration::from_millis(500)).await;
    assert_eq!(received, [(next.id, "and on".to_owned())], "once each, nothing repeated");
    let (back, back_message) = sender.message().await;
    assert_eq!((back.id, back_message.conversation.as_deref()), (answer.id, Some("heard")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_receipt_recovers_a_session_with_a_simulated_phone() {
    let (sim, url) = start_sim().await;
    let (mut bob, bob_store) = pair_with_store(&sim, 41, BOB, config(&sim, &url, 41)).await;
    let send = |text: &str| PhoneMessage {
        to: BOB.to_owned(),
        content: PhoneContent::Text(text.to_owned()),
        quoted: None,
    };
    sim.phone_send(ALICE, send("from the phone")).await.unwrap();
    let (first, _) = bob.message().await;
    assert_eq!(first.sender.device, 0, "alice's primary phone");

    break_session(&bob_store, &first.sender).await;
    let id = sim.phone_send(ALICE, send("after the break")).await.unwrap();
    let (info, message) = bob.message().await;
    assert_eq!(
        (info.id.as_str(), message.conversation.as_deref()),
        (id.as_str(), Some("after the break"))
    );
    let retries = sim
        .phone_receipts(ALICE)
        .unwrap()
        .into_iter()
        .filter(|r| r.id == id && r.kind == "retry")
        .count();
    assert!(retries >= 1, "the phone was asked again");
    let later = sim.phone_send(ALICE, send("later")).await.unwrap();
    let received = texts_within(&mut bob, Duration::from_millis(500)).await;
    assert_eq!(received, [(later, "later".to_owned())], "once each, nothing repeated");
}

/// The phone's texts as it decrypted them: (text, error), in order.
fn phone_texts(sim: &Sim, phone: &str) -> Vec<(Option<String>, Option<String>)> {
    sim.phone_received(phone).unwrap().into_iter().map(|r| (r.text, r.error)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_moving_between_phone_number_and_lid_keeps_one_chat_and_one_session() {
    const ALICE_LID: &str = "200000000000001";
    const BOB_LID: &str = "200000000000002";
    let (sim, url) = start_sim().await;
    let (mut bob, bob_store) = pair_with_store(&sim, 51, BOB, config(&sim, &url, 51)).await;
    let phone_send = |to: String, text: &str| PhoneMessage {
        to,
        content: PhoneContent::Text(text.to_owned()),
        quoted: None,
    };
    let alice_pn = Jid::with_device(ALICE, Server::User, 0);
    let alice_lid = Jid::with_device(ALICE_LID, Server::Lid, 0);

    // By phone number first: the session is made under the phone number.
    let first = sim.phone_send(ALICE, phone_send(BOB.to_owned(), "by number")).await.unwrap();
    let (info, _) = bob.message().await;
    assert_eq!((info.id.as_str(), info.addressing_mode), (first.as_str(), AddressingMode::Pn));
    assert_eq!((&info.chat, &info.sender), (&user(ALICE), &alice_pn));
    bob.client.send_text(&info.chat, "reply by number").await.unwrap();

    // WhatsApp moves the chat to LID: the phone carries its session over and sends a plain
    // message (no new session) from its LID; it arrives in the same chat, without a retry.
    let second =
        sim.phone_send(ALICE, phone_send(format!("{BOB_LID}@lid"), "by lid")).await.unwrap();
    let (info, message) = bob.message().await;
    assert_eq!(
        (info.id.as_str(), info.addressing_mode, message.conversation.as_deref()),
        (second.as_str(), AddressingMode::Lid, Some("by lid"))
    );
    assert_eq!((&info.chat, &info.sender), (&user(ALICE), &alice_pn), "one chat per contact");
    assert_eq!(bob.client.alternate_jid(&user(ALICE)), Some(Jid::new(ALICE_LID, Server::Lid)));
    assert!(has_session(&bob_store, &alice_lid).await, "the session moved to the LID");
    assert!(
        bob_store.session(&protocol_address(&alice_pn)).await.unwrap().is_none(),
        "and is kept once"
    );

    // Answers by phone number and by LID, then the phone by number again: every one decrypts
    // on the first try, whichever address each side uses.
    bob.client.send_text(&info.chat, "reply by number again").await.unwrap();
    bob.client.send_text(&Jid::new(ALICE_LID, Server::Lid), "reply by lid").await.unwrap();
    let third = sim.phone_send(ALICE, phone_send(BOB.to_owned(), "by number again")).await.unwrap();
    let (info, _) = bob.message().await;
    assert_eq!((info.id.as_str(), &info.chat), (third.as_str(), &user(ALICE)));
    assert!(texts_within(&mut bob, Duration::from_millis(300)).await.is_empty(), "once each");
    let mut decrypted = Vec::new();
    for _ in 0..100 {
        decrypted = phone_texts(&sim, ALICE);
        if decrypted.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        decrypted,
        ["reply by number", "reply by number again", "reply by lid"]
            .map(|t| (Some(t.to_owned()), None))
    );
    let retries: Vec<_> =
        sim.phone_receipts(ALICE).unwrap().into_iter().filter(|r| r.kind == "retry").collect();
    assert!(retries.is_empty(), "no retry receipts: {retries:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_who_reinstalls_whatsapp_is_accepted_and_reported() {
    let (sim, url) = start_sim().await;
    let mut bob = pair(&sim, 61, BOB, config(&sim, &url, 61)).await;
    let send = |text: &str| PhoneMessage {
        to: BOB.to_owned(),
        content: PhoneContent::Text(text.to_owned()),
        quoted: None,
    };
    // What the client reports up to (and with) the message with `id`, messages confirmed.
    async fn until(bob: &mut Peer, id: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            match next(&mut bob.events).await {
                Event::IdentityChanged { sender, chat } => {
                    seen.push(format!("identity changed: {} in {chat}", sender.user));
                }
                Event::Message { info, message, ack } => {
                    assert!(ack.ack());
                    seen.push(message.conversation.clone().unwrap_or_default());
                    if info.id == id {
                        return seen;
                    }
                }
                _ => {}
            }
        }
    }
    // First contact: the identity is trusted on first use, nothing to report.
    let first = sim.phone_send(ALICE, send("before")).await.unwrap();
    assert_eq!(until(&mut bob, &first).await, ["before"]);

    sim.reinstall_phone(ALICE).unwrap();
    let second = sim.phone_send(ALICE, send("after the reinstall")).await.unwrap();
    assert_eq!(
        until(&mut bob, &second).await,
        [
            format!("identity changed: {ALICE} in {ALICE}@s.whatsapp.net"),
            "after the reinstall".into()
        ]
    );
    // The new session is the one in use: the next message and our answer both go through, and
    // the change is reported once.
    let third = sim.phone_send(ALICE, send("still me")).await.unwrap();
    assert_eq!(until(&mut bob, &third).await, ["still me"]);
    bob.client.send_text(&user(ALICE), "welcome back").await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !phone_texts(&sim, ALICE).contains(&(Some("welcome back".to_owned()), None)) {
        assert!(tokio::time::Instant::now() < deadline, "{:?}", phone_texts(&sim, ALICE));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// "Is this number on WhatsApp" against wa-sim: a registered number is `in` with its JID, one
/// that is not is `out` (whatsmeow's `IsOnWhatsApp`, user.go; Baileys' `onWhatsApp`), and
/// something that is not a number is refused before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contact_query_tells_registered_numbers_from_others() {
    let (sim, url) = start_sim().await;
    let alice = pair(&sim, 31, ALICE, config(&sim, &url, 31)).await;
    let answer = alice.client.is_on_whatsapp(&[&format!("+{BOB}"), "15559990000"]).await.unwrap();
    assert_eq!(answer.len(), 2);
    let bob = answer.iter().find(|c| c.query == format!("+{BOB}")).unwrap();
    assert!(bob.on_whatsapp);
    assert_eq!(bob.jid, user(BOB));
    let stranger = answer.iter().find(|c| c.query == "+15559990000").unwrap();
    assert!(!stranger.on_whatsapp);
    assert!(alice.client.is_on_whatsapp(&["+1 555"]).await.is_err());
    // whatsmeow's form of the question: the number as a legacy-server JID, `+NUMBER@c.us`.
    let contact =
        wa_proto::Node::builder("contact").bytes(format!("+{BOB}@c.us").into_bytes()).build();
    let usync = wa_proto::Node::builder("usync")
        .attr("sid", "s-1")
        .attr("mode", "query")
        .attr("last", "true")
        .attr("index", "0")
        .attr("context", "interactive")
        .children([
            wa_proto::Node::builder("query").children([wa_proto::Node::new("contact")]).build(),
            wa_proto::Node::builder("list")
                .children([wa_proto::Node::builder("user").children([contact]).build()])
                .build(),
        ])
        .build();
    let answer = alice
        .client
        .iq(wa_session::message::iq::request("wm-1", "get", "usync", [usync]))
        .await
        .unwrap();
    let parsed = wa_session::message::parse_contacts(&answer).unwrap();
    assert_eq!((parsed.len(), parsed[0].on_whatsapp, parsed[0].jid.clone()), (1, true, user(BOB)));
    alice.client.close();
}
