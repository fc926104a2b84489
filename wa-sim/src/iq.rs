//! Answers to the iq requests a client makes: prekeys, keepalive, presence, usync, media hosts,
//! the login-time queries; the real server's 501 error for anything else.

use sha2::{Digest as _, Sha256};
use tracing::debug;
use wa_proto::{Jid, Node};

use crate::{
    sim::Sim,
    state::{Command, Device, SignedPreKey, State, lid_jid, phone_jid},
};

/// The most one-time prekeys the server keeps per device.
const MAX_PREKEYS: usize = 2000;

/// Below this many one-time prekeys left, a companion that hands one out is told to upload more
/// (`<notification type="encrypt"><count value=N/>`), as WhatsApp does.
pub const LOW_PREKEYS: usize = 5;

fn result(request: &Node) -> wa_proto::NodeBuilder {
    Node::builder("iq")
        .attr("from", Jid::server_jid())
        .attr("id", request.attr_str("id").unwrap_or_default().to_owned())
        .attr("type", "result")
}

fn error(request: &Node, code: &'static str, text: &'static str) -> Node {
    Node::builder("iq")
        .attr("from", Jid::server_jid())
        .attr("id", request.attr_str("id").unwrap_or_default().to_owned())
        .attr("type", "error")
        .children([Node::builder("error").attr("code", code).attr("text", text).build()])
        .build()
}

fn bytes_node(tag: &'static str, bytes: impl Into<Vec<u8>>) -> Node {
    Node::builder(tag).bytes(bytes).build()
}

fn be(value: u32, len: usize) -> Vec<u8> {
    value.to_be_bytes()[4 - len..].to_vec()
}

fn parse_be(bytes: Option<&[u8]>) -> Option<u32> {
    let bytes = bytes?;
    (!bytes.is_empty() && bytes.len() <= 4)
        .then(|| bytes.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
}

/// The answer to one iq `get`/`set`. `me` is the logged-in account and device, if any.
///
/// A request the simulator does not implement gets the error the real server gives for an
/// unsupported request, `<error code="501" text="feature-not-implemented"/>` (seen answering
/// unsupported queries in venomous0x/WhatsAPI#643 and mgp25/Chat-API#349), and is counted per
/// namespace in [`Counters::iqs_unhandled_namespaces`](crate::Counters), so that a missing
/// feature shows instead of being papered over by an empty success.
pub(crate) fn answer(sim: &Sim, me: Option<&(String, u16)>, request: &Node) -> Node {
    let xmlns = request.attr_str("xmlns").unwrap_or_default();
    sim.state().counters.iqs += 1;
    match implemented(sim, me, request) {
        Some(answer) => answer,
        None => {
            let first = request.children().first().map(|c| c.tag.to_string());
            debug!(xmlns, first, "iq not implemented: 501");
            let mut state = sim.state();
            state.counters.iqs_unhandled += 1;
            let key = if xmlns.is_empty() { "(none)" } else { xmlns };
            *state.counters.iqs_unhandled_namespaces.entry(key.to_owned()).or_default() += 1;
            error(request, "501", "feature-not-implemented")
        }
    }
}

/// The answer to a request the simulator implements; `None` for any other.
fn implemented(sim: &Sim, me: Option<&(String, u16)>, request: &Node) -> Option<Node> {
    let xmlns = request.attr_str("xmlns").unwrap_or_default();
    let kind = request.attr_str("type").unwrap_or_default();
    let first = request.children().first().map(|c| c.tag.as_ref()).unwrap_or_default();
    let answer = match (xmlns, kind, first) {
        ("encrypt", "set", "rotate") => rotate(sim, me, request),
        ("encrypt", "set", _) => upload_prekeys(sim, me, request),
        ("encrypt", "get", "count") => {
            let count = with_device(sim, me, |d| d.prekeys.len()).unwrap_or(0);
            result(request)
                .children([Node::builder("count").attr("value", count.to_string()).build()])
                .build()
        }
        ("encrypt", "get", "digest") => digest(sim, me, request),
        ("encrypt", "get", "key") => bundles(sim, request),
        ("usync", _, _) => usync(sim, request),
        ("w:m", _, "media_conn") => {
            let auth = sim.media_auth();
            let host =
                sim.media().host.clone().unwrap_or_else(|| sim.inner.config.media_host.clone());
            result(request)
                .children([Node::builder("media_conn")
                    .attr("auth", auth)
                    .attr("ttl", "300")
                    .attr("auth_ttl", "21600")
                    .attr("max_buckets", "12")
                    .children([Node::builder("host").attr("hostname", host).build()])
                    .build()])
                .build()
        }
        ("md", "set", "remove-companion-device") => {
            if let Some((phone, device)) = me {
                let mut state = sim.state();
                if let Some(d) =
                    state.accounts.get_mut(phone).and_then(|a| a.devices.get_mut(device))
                {
                    d.removed = true;
                }
                state.queues.remove(&(phone.clone(), *device));
            }
            result(request).build()
        }
        ("abt", "get", _) => result(request)
            .children([Node::builder("props")
                .attr("protocol", "1")
                .attr("hash", "sim")
                .attr("refresh", "86400")
                .children([])
                .build()])
            .build(),
        ("w", "get", "props") => result(request)
            .children([Node::builder("props")
                .attr("protocol", "2")
                .attr("hash", "sim")
                .attr("refresh", "86400")
                .children([])
                .build()])
            .build(),
        ("privacy", "get", _) => {
            let categories = [
                ("last", "all"),
                ("online", "all"),
                ("profile", "all"),
                ("status", "contacts"),
                ("readreceipts", "all"),
                ("groupadd", "all"),
                ("calladd", "all"),
                ("messages", "all"),
            ];
            result(request)
                .children([Node::builder("privacy")
                    .children(categories.iter().map(|(name, value)| {
                        Node::builder("category").attr("name", *name).attr("value", *value).build()
                    }))
                    .build()])
                .build()
        }
        // After a 1:1 send a client issues its "trusted contact" privacy token to the contact
        // (Baileys `issuePrivacyTokens`, Socket/messages-send.js); the answer carries the tokens,
        // opaque bytes the client keeps for later stanzas (`storeTcTokensFromIqResult`,
        // Utils/tc-token-utils.js, reads `<tokens><token jid t type="trusted_contact">`).
        ("privacy", "set", "tokens") => {
            let asked = request.children().first().map(Node::children).unwrap_or_default();
            let tokens = asked.iter().filter(|t| t.tag == "token").filter_map(|t| {
                let jid = t.attr("jid")?.clone();
                let stamp = t.attr_str("t").ok()?.to_owned();
                let opaque = Sha256::digest(format!("wa-sim tctoken {jid:?} {stamp}").as_bytes());
                Some(
                    Node::builder("token")
                        .attr("jid", jid)
                        .attr("t", stamp)
                        .attr("type", "trusted_contact")
                        .bytes(opaque[..20].to_vec())
                        .build(),
                )
            });
            result(request).children([Node::builder("tokens").children(tokens).build()]).build()
        }
        ("blocklist", "get", _) => {
            result(request).children([Node::builder("list").children([]).build()]).build()
        }
        ("w:p" | "passive" | "presence", _, _) => result(request).build(),
        _ => return None,
    };
    Some(answer)
}

fn with_device<T>(
    sim: &Sim,
    me: Option<&(String, u16)>,
    f: impl FnOnce(&mut Device) -> T,
) -> Option<T> {
    let (phone, device) = me?;
    let mut state = sim.state();
    state.accounts.get_mut(phone)?.devices.get_mut(device).map(f)
}

fn signed_prekey(node: &Node) -> Option<SignedPreKey> {
    Some(SignedPreKey {
        id: parse_be(node.child("id")?.content_bytes())?,
        public: node.child("value")?.content_bytes()?.to_vec(),
        signature: node.child("signature")?.content_bytes()?.to_vec(),
    })
}

fn upload_prekeys(sim: &Sim, me: Option<&(String, u16)>, request: &Node) -> Node {
    let mut keys = Vec::new();
    for key in request.child("list").map(Node::children).unwrap_or_default() {
        let id = parse_be(key.child("id").and_then(Node::content_bytes));
        let value = key.child("value").and_then(Node::content_bytes);
        match (id, value) {
            (Some(id), Some(value)) if value.len() == 32 => keys.push((id, value.to_vec())),
            _ => return error(request, "400", "bad-request"),
        }
    }
    let skey = request.child("skey").and_then(signed_prekey);
    let registration = parse_be(request.child("registration").and_then(Node::content_bytes));
    let uploaded = keys.len();
    let stored = with_device(sim, me, |device| {
        for (id, value) in keys {
            if device.prekeys.len() < MAX_PREKEYS {
                device.prekeys.insert(id, value);
            }
        }
        if let Some(skey) = skey {
            device.signed_prekey = Some(skey);
        }
        if let Some(registration) = registration {
            device.registration_id = registration;
        }
    });
    if stored.is_none() {
        return error(request, "401", "not-authorized");
    }
    sim.state().counters.prekeys_uploaded += uploaded as u64;
    result(request).build()
}

fn rotate(sim: &Sim, me: Option<&(String, u16)>, request: &Node) -> Node {
    let skey = request.child("rotate").and_then(|r| r.child("skey")).and_then(signed_prekey);
    let Some(skey) = skey else { return error(request, "400", "bad-request") };
    match with_device(sim, me, |device| device.signed_prekey = Some(skey)) {
        Some(()) => result(request).build(),
        None => error(request, "401", "not-authorized"),
    }
}

/// What the server holds for the device: registration id, identity, signed prekey, prekey ids.
fn digest(sim: &Sim, me: Option<&(String, u16)>, request: &Node) -> Node {
    let held = with_device(sim, me, |device| {
        (
            device.registration_id,
            device.identity_key,
            device.signed_prekey.clone(),
            device.prekeys.keys().copied().collect::<Vec<_>>(),
        )
    });
    let Some((registration, identity, Some(skey), ids)) = held else {
        return error(request, "404", "item-not-found");
    };
    result(request)
        .children([Node::builder("digest")
            .children([
                bytes_node("registration", be(registration, 4)),
                bytes_node("type", vec![5]),
                bytes_node("identity", identity.as_bytes().to_vec()),
                Node::builder("skey")
                    .children([
                        bytes_node("id", be(skey.id, 3)),
                        bytes_node("value", skey.public),
                        bytes_node("signature", skey.signature),
                    ])
                    .build(),
                Node::builder("list")
                    .children(ids.into_iter().map(|id| bytes_node("id", be(id, 3))))
                    .build(),
            ])
            .build()])
        .build()
}

/// Prekey bundles for `<key><user jid=.../>...</key>`; each one-time prekey is handed out once.
fn bundles(sim: &Sim, request: &Node) -> Node {
    let users = request.child("key").map(Node::children).unwrap_or_default();
    let mut out = Vec::new();
    let mut state = sim.state();
    for user in users {
        let Ok(jid) = user.attr_jid("jid") else { continue };
        if let Some(node) = bundle(&mut state, &jid) {
            out.push(node);
        }
    }
    drop(state);
    result(request).children([Node::builder("list").children(out).build()]).build()
}

/// The `<user jid>` bundle of one device (or its 404 error), consuming a one-time prekey; `None`
/// when the device has no signed prekey yet. The `encrypt` iq and the simulated phones
/// ([`crate::phone`]) both take bundles here.
pub(crate) fn bundle(state: &mut State, jid: &Jid) -> Option<Node> {
    let phone = state
        .accounts
        .values()
        .find(|a| a.phone == jid.user || a.lid == jid.user)
        .map(|a| a.phone.clone());
    let device = phone
        .as_ref()
        .and_then(|p| state.accounts.get_mut(p))
        .and_then(|a| a.devices.get_mut(&jid.device))
        .filter(|d| !d.removed);
    let Some(device) = device else {
        return Some(
            Node::builder("user")
                .attr("jid", jid.clone())
                .children([Node::builder("error")
                    .attr("code", "404")
                    .attr("text", "item-not-found")
                    .build()])
                .build(),
        );
    };
    let skey = device.signed_prekey.clone()?;
    let prekey = device.prekeys.pop_first();
    let served = u64::from(prekey.is_some());
    let mut children = vec![
        bytes_node("registration", be(device.registration_id, 4)),
        bytes_node("type", vec![5]),
        bytes_node("identity", device.identity_key.as_bytes().to_vec()),
    ];
    if let Some((id, value)) = prekey {
        children.push(
            Node::builder("key")
                .children([bytes_node("id", be(id, 3)), bytes_node("value", value)])
                .build(),
        );
    }
    children.push(
        Node::builder("skey")
            .children([
                bytes_node("id", be(skey.id, 3)),
                bytes_node("value", skey.public),
                bytes_node("signature", skey.signature),
            ])
            .build(),
    );
    state.counters.prekeys_served += served;
    let left = device.prekeys.len();
    if served == 1
        && left < LOW_PREKEYS
        && jid.device != 0
        && let Some(phone) = &phone
    {
        notify_low_prekeys(state, phone, jid.device, left);
    }
    Some(Node::builder("user").attr("jid", jid.clone()).children(children).build())
}

/// Tells the device's open connections that its one-time prekeys run low. Not queued: a device
/// that is offline checks the count itself at its next login.
fn notify_low_prekeys(state: &mut State, phone: &str, device: u16, left: usize) {
    state.counters.prekey_notifications += 1;
    let node = Node::builder("notification")
        .attr("from", Jid::server_jid())
        .attr("type", "encrypt")
        .attr("id", format!("prekeys-{}", state.counters.prekey_notifications))
        .children([Node::builder("count").attr("value", left.to_string()).build()])
        .build();
    for (_, entry) in state.connections_of(phone, device) {
        let _ = entry.tx.send(Command::Send(node.clone()));
    }
}

/// `usync`: for each user, the protocols asked for (devices, contact, lid; others empty).
fn usync(sim: &Sim, request: &Node) -> Node {
    let Some(query) = request.child("usync") else { return error(request, "400", "bad-request") };
    let protocols: Vec<String> = query
        .child("query")
        .map(|q| q.children().iter().map(|p| p.tag.to_string()).collect())
        .unwrap_or_default();
    let users = query.child("list").map(Node::children).unwrap_or_default();
    let state = sim.state();
    let mut out = Vec::new();
    for user in users {
        let asked = user.attr_opt_jid("jid").ok().flatten();
        let contact = user
            .child("contact")
            .and_then(Node::content_bytes)
            // `+NUMBER` (Baileys), or `+NUMBER@c.us` (whatsmeow asks with a legacy-server JID).
            .map(|c| {
                let text = String::from_utf8_lossy(c);
                let number = text.split('@').next().unwrap_or_default();
                number.trim_start_matches('+').to_owned()
            });
        let account = state.accounts.values().find(|a| match (&asked, &contact) {
            (Some(jid), _) => a.phone == jid.user || a.lid == jid.user,
            (None, Some(phone)) => &a.phone == phone,
            (None, None) => false,
        });
        // A number asked by `<contact>` is answered whether or not it is registered (whatsmeow's
        // `IsOnWhatsApp` in user.go reads `type="out"` off a `<user jid>` of the answer), in
        // phone-number addressing; something that is not a number is left out.
        let jid = match (account, &asked, &contact) {
            (_, Some(jid), _) => jid.to_non_device(),
            (Some(a), None, _) => phone_jid(&a.phone, 0),
            (None, None, Some(phone)) if is_phone_number(phone) => phone_jid(phone, 0),
            (None, None, _) => continue,
        };
        // The `<contact>` answer echoes the query (whatsmeow keeps it as `Query`).
        let echo = user.child("contact").and_then(Node::content_bytes).map(<[u8]>::to_vec);
        let mut children = Vec::new();
        for protocol in &protocols {
            let node = match (protocol.as_str(), account) {
                ("devices", Some(a)) => Node::builder("devices")
                    .children([Node::builder("device-list")
                        .children(a.devices.iter().filter(|(_, d)| !d.removed).map(|(id, d)| {
                            let mut b = Node::builder("device").attr("id", id.to_string());
                            if *id != 0 {
                                b = b.attr("key-index", d.key_index.to_string());
                            }
                            b.build()
                        }))
                        .build()])
                    .build(),
                ("contact", a) => {
                    let node = Node::builder("contact")
                        .attr("type", if a.is_some() { "in" } else { "out" });
                    match &echo {
                        Some(query) => node.bytes(query.clone()).build(),
                        None => node.build(),
                    }
                }
                ("lid", Some(a)) => Node::builder("lid").attr("val", lid_jid(&a.lid, 0)).build(),
                (other, _) => Node::new(other.to_owned()),
            };
            children.push(node);
        }
        out.push(Node::builder("user").attr("jid", jid).children(children).build());
    }
    drop(state);
    let mut usync = Node::builder("usync")
        .attr("mode", query.attr_str("mode").unwrap_or("query").to_owned())
        .attr("index", "0")
        .attr("last", "true");
    if let Ok(sid) = query.attr_str("sid") {
        usync = usync.attr("sid", sid.to_owned());
    }
    result(request)
        .children([usync
            .children([
                Node::builder("result")
                    .children(protocols.iter().map(|p| Node::new(p.clone())))
                    .build(),
                Node::builder("list").children(out).build(),
            ])
            .build()])
        .build()
}

/// Whether `text` is a phone number as usync's contact protocol names one: 1 to 15 digits.
fn is_phone_number(text: &str) -> bool {
    (1..=15).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}
