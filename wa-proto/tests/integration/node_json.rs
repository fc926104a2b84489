//! Test support shared by `examples/interop_nodes.rs` (which includes this file with `#[path]`) and
//! the `baileys_nodes` replay test: the JSON forms of a node, JIDs printed the way Baileys prints
//! them, the `fill` generator of `interop/lib/prng.mjs`, and a wire-level comparison that explains
//! every byte where our encoding differs from Baileys'.
//!
//! Typed form (what we encode): `{tag, attrs: [[key, value]], content}` with `value` a string or
//! `{"jid": {user, server, device, agent, integrator}}`, and `content` one of `null`,
//! `{"bytes": base64}`, `{"fill": [seed, len]}`, `{"text": string}`, `{"jid": ...}`, `[nodes]`.
//! Rendered form (what a decoder gives): the same without `jid` (JIDs become strings) and without
//! `fill` once normalized.

use std::sync::OnceLock;

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde_json::{Map, Value, json};
use wa_proto::{AttrValue, Content, Jid, Node, Server};

/// Every allowed difference between our bytes and Baileys' for the same tree, with its reason.
pub(crate) const DIFFERENCES: &[(&str, &str)] = &[
    (
        "at-string-as-jid",
        "Baileys writes any string containing '@' as a JID (its writeString calls jidDecode); we \
         write only typed JIDs as JIDs (whatsmeow's rule) and other strings as strings. Both read \
         back as the same text.",
    ),
    (
        "at-string-mangled",
        "the same for a string whose part before '@' holds ':' or '_': Baileys' jidDecode splits a \
         device or agent off it, so Baileys' bytes no longer hold the string (it reads back changed); \
         ours do.",
    ),
    (
        "ad-jid-device-0",
        "a string with an explicit ':0' device: Baileys writes an AD JID with device 0; our Jid has \
         no explicit device 0 and writes a JID pair. Both read back as user@server.",
    ),
    (
        "hosted-pair",
        "a hosted or hosted.lid JID without a device: Baileys writes a JID pair, we write the AD \
         form (domain 128 or 129, device 0) as whatsmeow does. Both read back as user@hosted.",
    ),
    (
        "fb-jid-as-ad",
        "a msgr JID: Baileys has no FB_JID writer; jidDecode turns 'user:device@msgr' into an AD \
         JID (domain 0, device cut to one byte) that reads back as user:device@s.whatsapp.net. We \
         write FB_JID.",
    ),
    (
        "interop-jid-as-ad",
        "an interop JID: Baileys likewise writes an AD JID whose user is 'integrator-user' and whose \
         server reads back as s.whatsapp.net. We write INTEROP_JID.",
    ),
    (
        "prototype-name-as-empty",
        "Baileys looks tokens up in a plain object, so a string naming an Object.prototype member \
         ('constructor', 'toString', ...) is 'found' without an index and written as byte 0, which \
         reads back as an empty string. We write the string.",
    ),
    (
        "empty-string-forms",
        "an empty string that Baileys wrote as LIST_EMPTY (byte 0; see prototype-name-as-empty) is \
         written back as an empty binary, the form both encoders use for ''.",
    ),
    (
        "device-less-fb-interop-pair",
        "a msgr or interop JID written as a JID pair (Baileys' form for 'user@msgr'): our Jid has no \
         device-less msgr or interop form, so we read device 0 (and integrator 0), print \
         user:0@msgr or 0-user:0@interop where Baileys prints user@msgr, and write FB_JID or \
         INTEROP_JID.",
    ),
];

/// The names on JavaScript's `Object.prototype` (Node 20), which Baileys' token map "contains".
const PROTOTYPE_NAMES: &[&str] = &[
    "constructor",
    "__defineGetter__",
    "__defineSetter__",
    "hasOwnProperty",
    "__lookupGetter__",
    "__lookupSetter__",
    "isPrototypeOf",
    "propertyIsEnumerable",
    "toString",
    "valueOf",
    "__proto__",
    "toLocaleString",
];

/// The bytes `interop/lib/prng.mjs` `fillBytes(seed, len)` gives.
pub(crate) fn fill(seed: u32, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 4);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9);
        let mut z = state;
        z = (z ^ (z >> 16)).wrapping_mul(0x85eb_ca6b);
        z = (z ^ (z >> 13)).wrapping_mul(0xc2b2_ae35);
        z ^= z >> 16;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(len);
    out
}

pub(crate) fn base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Bytes from a base64 string, `{"bytes": base64}`, `{"fill": [seed, len]}`, or a list of those.
pub(crate) fn bytes_of(value: &Value) -> Result<Vec<u8>> {
    match value {
        Value::String(text) => STANDARD.decode(text).context("base64"),
        Value::Array(parts) => {
            let mut out = Vec::new();
            for part in parts {
                out.extend(bytes_of(part)?);
            }
            Ok(out)
        }
        Value::Object(object) => {
            if let Some(bytes) = object.get("bytes") {
                return bytes_of(bytes);
            }
            let spec = object.get("fill").and_then(Value::as_array).context("bytes or fill")?;
            let [seed, len] = spec.as_slice() else { bail!("fill is [seed, len]") };
            let seed = seed.as_u64().and_then(|s| u32::try_from(s).ok()).context("fill seed")?;
            let len = len.as_u64().and_then(|l| usize::try_from(l).ok()).context("fill len")?;
            Ok(fill(seed, len))
        }
        other => bail!("not bytes: {other}"),
    }
}

fn str_field<'a>(value: &'a Value, key: &str) -> Result<&'a str> {
    value.get(key).and_then(Value::as_str).with_context(|| format!("{key} must be a string"))
}

fn number_field<T: TryFrom<u64>>(value: &Value, key: &str) -> Result<T> {
    let number = value.get(key).and_then(Value::as_u64).unwrap_or(0);
    T::try_from(number).map_err(|_| anyhow!("{key} out of range: {number}"))
}

fn typed_jid(value: &Value) -> Result<Jid> {
    Ok(Jid {
        user: str_field(value, "user")?.to_owned(),
        agent: number_field(value, "agent")?,
        device: number_field(value, "device")?,
        integrator: number_field(value, "integrator")?,
        server: Server::from_name(str_field(value, "server")?),
    })
}

/// The node a typed tree stands for.
pub(crate) fn typed_node(value: &Value) -> Result<Node> {
    let tag = str_field(value, "tag")?.to_owned();
    let mut attrs = Vec::new();
    for pair in value.get("attrs").and_then(Value::as_array).context("attrs")? {
        let [key, value] = pair.as_array().map(Vec::as_slice).unwrap_or_default() else {
            bail!("an attribute is [key, value]")
        };
        let key = key.as_str().context("attribute key")?.to_owned();
        let value = match value {
            Value::String(text) => AttrValue::Text(text.clone().into()),
            other => AttrValue::Jid(typed_jid(other.get("jid").context("attribute value")?)?),
        };
        attrs.push((key.into(), value));
    }
    let content = match value.get("content").unwrap_or(&Value::Null) {
        Value::Null => Content::None,
        Value::Array(children) => {
            Content::Nodes(children.iter().map(typed_node).collect::<Result<_>>()?)
        }
        object @ Value::Object(fields) => {
            if let Some(text) = fields.get("text") {
                Content::Text(text.as_str().context("text")?.to_owned().into())
            } else if let Some(jid) = fields.get("jid") {
                Content::Jid(typed_jid(jid)?)
            } else {
                Content::Bytes(bytes_of(object)?)
            }
        }
        other => bail!("bad content {other}"),
    };
    Ok(Node { tag: tag.into(), attrs, content })
}

/// A JID as Baileys' reader prints the form we write it in: FB and interop JIDs always show their
/// device, AD JIDs lose the agent and a zero device, a userless pair prints as `@server`.
pub(crate) fn render_jid(jid: &Jid) -> String {
    match jid.server {
        Server::Messenger => format!("{}:{}@{}", jid.user, jid.device, jid.server),
        Server::Interop => {
            format!("{}-{}:{}@{}", jid.integrator, jid.user, jid.device, jid.server)
        }
        _ if jid.device != 0 => format!("{}:{}@{}", jid.user, jid.device, jid.server),
        _ => format!("{}@{}", jid.user, jid.server),
    }
}

/// A decoded node in the rendered form.
pub(crate) fn render(node: &Node) -> Value {
    let attrs: Vec<Value> = node
        .attrs
        .iter()
        .map(|(key, value)| match value {
            AttrValue::Text(text) => json!([key, text]),
            AttrValue::Jid(jid) => json!([key, render_jid(jid)]),
        })
        .collect();
    let content = match &node.content {
        Content::None => Value::Null,
        Content::Bytes(bytes) => json!({ "bytes": base64(bytes) }),
        Content::Text(text) => json!({ "text": text }),
        Content::Jid(jid) => json!({ "text": render_jid(jid) }),
        Content::Nodes(children) => Value::Array(children.iter().map(render).collect()),
    };
    json!({ "tag": node.tag, "attrs": attrs, "content": content })
}

/// A rendered tree with every `{"fill": ...}` replaced by `{"bytes": ...}`.
pub(crate) fn normalize(tree: &Value) -> Result<Value> {
    Ok(match tree {
        Value::Array(items) => Value::Array(items.iter().map(normalize).collect::<Result<_>>()?),
        Value::Object(fields) if fields.contains_key("fill") => {
            json!({ "bytes": base64(&bytes_of(tree)?) })
        }
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, value)| Ok((key.clone(), normalize(value)?)))
                .collect::<Result<Map<_, _>>>()?,
        ),
        other => other.clone(),
    })
}

/// Compares our rendered tree with the peer's. Equal trees give no categories; the one allowed
/// difference (a JID pair on msgr or interop, see [`DIFFERENCES`]) is checked exactly; anything
/// else is an error naming the path.
pub(crate) fn compare_trees(ours: &Value, peer: &Value) -> Result<Vec<&'static str>> {
    let mut found = Vec::new();
    compare_values(ours, peer, "", &mut found)?;
    Ok(found)
}

fn compare_values(
    ours: &Value,
    peer: &Value,
    path: &str,
    found: &mut Vec<&'static str>,
) -> Result<()> {
    match (ours, peer) {
        (Value::String(a), Value::String(b)) if a != b => {
            ensure!(device_less_pair(a, b), "{path}: ours {a:?}, Baileys {b:?}");
            found.push("device-less-fb-interop-pair");
        }
        (Value::Array(a), Value::Array(b)) => {
            ensure!(a.len() == b.len(), "{path}: {} items here, {} there", a.len(), b.len());
            for (index, (a, b)) in a.iter().zip(b).enumerate() {
                compare_values(a, b, &format!("{path}/{index}"), found)?;
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            ensure!(
                a.keys().eq(b.keys()),
                "{path}: fields {:?} here, {:?} there",
                a.keys().collect::<Vec<_>>(),
                b.keys().collect::<Vec<_>>()
            );
            for (key, a) in a {
                compare_values(a, &b[key], &format!("{path}/{key}"), found)?;
            }
        }
        (a, b) => ensure!(a == b, "{path}: ours {a}, Baileys {b}"),
    }
    Ok(())
}

/// `ours` is how we print a msgr or interop JID read from the JID pair `peer` (`user@msgr`).
fn device_less_pair(ours: &str, peer: &str) -> bool {
    match peer.split_once('@') {
        Some((user, "msgr")) => ours == format!("{user}:0@msgr"),
        Some((user, "interop")) => ours == format!("0-{user}:0@interop"),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// The wire, item by item: enough structure to say what differs, independent of wa-proto's decoder.

fn dictionary() -> &'static (Vec<String>, Vec<Vec<String>>) {
    static TABLES: OnceLock<(Vec<String>, Vec<Vec<String>>)> = OnceLock::new();
    TABLES.get_or_init(|| {
        let json: Value =
            serde_json::from_str(include_str!("../../data/dictionary-v3.json")).unwrap_or_default();
        let strings = |value: &Value| -> Vec<String> {
            value
                .as_array()
                .map(|items| items.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
                .unwrap_or_default()
        };
        let double = json["double_byte"].as_array().map(|d| d.iter().map(strings).collect());
        (strings(&json["single_byte"]), double.unwrap_or_default())
    })
}

#[derive(Debug)]
enum Kind<'a> {
    Empty,
    Token(String),
    Binary(&'a [u8]),
    Packed(String),
    Pair { user: Box<Item<'a>>, server: Box<Item<'a>> },
    Ad { domain: u8, device: u8, user: Box<Item<'a>> },
    Fb { user: Box<Item<'a>>, device: u16, server: Box<Item<'a>> },
    Interop { user: Box<Item<'a>>, device: u16, integrator: u16, server: Box<Item<'a>> },
}

#[derive(Debug)]
struct Item<'a> {
    raw: &'a [u8],
    kind: Kind<'a>,
}

impl Item<'_> {
    /// The item as a plain string, if it is one.
    fn text(&self) -> Option<String> {
        match &self.kind {
            Kind::Empty => Some(String::new()),
            Kind::Token(text) | Kind::Packed(text) => Some(text.clone()),
            Kind::Binary(bytes) => String::from_utf8(bytes.to_vec()).ok(),
            _ => None,
        }
    }

    /// What Baileys' reader makes of the item (JIDs as it prints them).
    fn peer_view(&self) -> Option<String> {
        Some(match &self.kind {
            Kind::Pair { user, server } => format!("{}@{}", user.text()?, server.text()?),
            Kind::Ad { domain, device, user } => {
                let server = match domain {
                    1 => "lid",
                    128 => "hosted",
                    129 => "hosted.lid",
                    _ => "s.whatsapp.net",
                };
                match device {
                    0 => format!("{}@{server}", user.text()?),
                    device => format!("{}:{device}@{server}", user.text()?),
                }
            }
            Kind::Fb { user, device, server } => {
                format!("{}:{device}@{}", user.text()?, server.text()?)
            }
            Kind::Interop { user, device, integrator, server } => {
                format!("{integrator}-{}:{device}@{}", user.text()?, server.text()?)
            }
            _ => self.text()?,
        })
    }
}

#[derive(Debug)]
enum WireContent<'a> {
    None,
    List { header: &'a [u8], children: Vec<WireNode<'a>> },
    Item(Item<'a>),
}

#[derive(Debug)]
struct WireNode<'a> {
    header: &'a [u8],
    tag: Item<'a>,
    attrs: Vec<(Item<'a>, Item<'a>)>,
    content: WireContent<'a>,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len());
        let end = end.with_context(|| format!("{n} bytes past the end at {}", self.at))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn list_size(&mut self, header: u8) -> Result<Option<usize>> {
        Ok(match header {
            0 => Some(0),
            248 => Some(usize::from(self.u8()?)),
            249 => Some(usize::from(self.u16()?)),
            _ => None,
        })
    }

    fn node(&mut self) -> Result<WireNode<'a>> {
        let start = self.at;
        let header = self.u8()?;
        let size = self.list_size(header)?.context("node header")?;
        let header = &self.bytes[start..self.at];
        ensure!(size > 0, "empty node");
        let tag = self.item()?;
        let mut attrs = Vec::new();
        for _ in 0..(size - 1) / 2 {
            attrs.push((self.item()?, self.item()?));
        }
        let content = if size % 2 == 1 {
            WireContent::None
        } else {
            let start = self.at;
            let first = self.u8()?;
            match self.list_size(first)? {
                Some(count) => {
                    let header = &self.bytes[start..self.at];
                    let children = (0..count).map(|_| self.node()).collect::<Result<_>>()?;
                    WireContent::List { header, children }
                }
                None => {
                    self.at = start;
                    WireContent::Item(self.item()?)
                }
            }
        };
        Ok(WireNode { header, tag, attrs, content })
    }

    fn item(&mut self) -> Result<Item<'a>> {
        let start = self.at;
        let header = self.u8()?;
        let (single, double) = dictionary();
        let kind = match header {
            0 => Kind::Empty,
            236..=239 => {
                let index = self.u8()?;
                let table = double.get(usize::from(header - 236)).context("dictionary")?;
                Kind::Token(table.get(usize::from(index)).context("double token")?.clone())
            }
            245 => {
                let user = Box::new(self.item()?);
                let device = self.u16()?;
                let integrator = self.u16()?;
                Kind::Interop { user, device, integrator, server: Box::new(self.item()?) }
            }
            246 => {
                let user = Box::new(self.item()?);
                let device = self.u16()?;
                Kind::Fb { user, device, server: Box::new(self.item()?) }
            }
            247 => {
                let domain = self.u8()?;
                let device = self.u8()?;
                Kind::Ad { domain, device, user: Box::new(self.item()?) }
            }
            250 => Kind::Pair { user: Box::new(self.item()?), server: Box::new(self.item()?) },
            251 | 255 => {
                let start_byte = self.u8()?;
                let mut text = String::new();
                for &byte in self.take(usize::from(start_byte & 0x7f))? {
                    for nibble in [byte >> 4, byte & 0x0f] {
                        text.push(match (header, nibble) {
                            (_, 0..=9) => char::from(b'0' + nibble),
                            (255, 10) => '-',
                            (255, 11) => '.',
                            (251, 10..=15) => char::from(b'A' + nibble - 10),
                            _ => '\u{0}',
                        });
                    }
                }
                if start_byte & 0x80 != 0 {
                    text.pop();
                }
                Kind::Packed(text)
            }
            252 => {
                let len = self.u8()?;
                Kind::Binary(self.take(usize::from(len))?)
            }
            253 => {
                let b = self.take(3)?;
                let len = (usize::from(b[0] & 0x0f) << 16) | (usize::from(b[1]) << 8);
                Kind::Binary(self.take(len | usize::from(b[2]))?)
            }
            254 => {
                let b = self.take(4)?;
                let len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                Kind::Binary(self.take(usize::try_from(len)?)?)
            }
            index => Kind::Token(single.get(usize::from(index)).context("token")?.clone()),
        };
        Ok(Item { raw: &self.bytes[start..self.at], kind })
    }
}

fn parse_frame(frame: &[u8]) -> Result<WireNode<'_>> {
    let (&flags, body) = frame.split_first().context("empty frame")?;
    ensure!(flags == 0, "flags {flags:#x}");
    let mut cursor = Cursor { bytes: body, at: 0 };
    let node = cursor.node()?;
    ensure!(cursor.at == body.len(), "{} trailing bytes", body.len() - cursor.at);
    Ok(node)
}

/// Explains every difference between `ours` and `peer` (Baileys' bytes): no categories when the
/// bytes are identical, else one [`DIFFERENCES`] name per differing item, in wire order. A
/// difference that is not exactly one of those kinds is an error.
pub(crate) fn explain(ours: &[u8], peer: &[u8]) -> Result<Vec<&'static str>> {
    let mut found = Vec::new();
    if ours != peer {
        let (a, b) = (parse_frame(ours).context("ours")?, parse_frame(peer).context("Baileys'")?);
        explain_node(&a, &b, "", &mut found)?;
        ensure!(!found.is_empty(), "the bytes differ but no item does");
    }
    Ok(found)
}

fn explain_node(
    ours: &WireNode<'_>,
    peer: &WireNode<'_>,
    parent: &str,
    found: &mut Vec<&'static str>,
) -> Result<()> {
    let path = format!("{parent}/{}", ours.tag.text().unwrap_or_default());
    ensure!(
        ours.header == peer.header,
        "{path}: node header {:x?}, {:x?}",
        ours.header,
        peer.header
    );
    explain_item(&ours.tag, &peer.tag, &path, found)?;
    for ((ours_key, ours_value), (peer_key, peer_value)) in ours.attrs.iter().zip(&peer.attrs) {
        explain_item(ours_key, peer_key, &path, found)?;
        let key_path = format!("{path}@{}", ours_key.text().unwrap_or_default());
        explain_item(ours_value, peer_value, &key_path, found)?;
    }
    match (&ours.content, &peer.content) {
        (WireContent::None, WireContent::None) => {}
        (WireContent::Item(a), WireContent::Item(b)) => explain_item(a, b, &path, found)?,
        (
            WireContent::List { header: a, children: ours },
            WireContent::List { header: b, children: peer },
        ) => {
            ensure!(a == b, "{path}: list header {a:x?}, {b:x?}");
            for (index, (a, b)) in ours.iter().zip(peer).enumerate() {
                explain_node(a, b, &format!("{path}[{index}]"), found)?;
            }
        }
        (a, b) => bail!("{path}: content {a:?} here, {b:?} in Baileys'"),
    }
    Ok(())
}

fn explain_item(
    ours: &Item<'_>,
    peer: &Item<'_>,
    path: &str,
    found: &mut Vec<&'static str>,
) -> Result<()> {
    if ours.raw == peer.raw {
        return Ok(());
    }
    let category = classify(ours, peer)
        .with_context(|| format!("{path}: ours {ours:?}, Baileys' {peer:?}"))?;
    found.push(category);
    Ok(())
}

fn same_text(a: &Item<'_>, b: &Item<'_>) -> bool {
    a.text().is_some_and(|a| Some(a) == b.text())
}

fn text_is(item: &Item<'_>, expected: &str) -> bool {
    item.text().is_some_and(|text| text == expected)
}

fn classify(ours: &Item<'_>, peer: &Item<'_>) -> Option<&'static str> {
    use Kind::{Ad, Binary, Empty, Fb, Interop, Pair};
    match (&ours.kind, &peer.kind) {
        (Binary(_), Pair { .. } | Ad { .. }) => {
            let text = ours.text()?;
            let shown = peer.peer_view()?;
            if !text.contains('@') {
                None
            } else if shown == text {
                Some("at-string-as-jid")
            } else if Some(shown) == baileys_mangle(&text) {
                Some("at-string-mangled")
            } else {
                None
            }
        }
        (Pair { user, server }, Ad { domain, device: 0, user: peer_user }) => {
            let server_matches = match domain {
                0 => text_is(server, "s.whatsapp.net"),
                1 => text_is(server, "lid"),
                _ => false,
            };
            (server_matches && same_text(user, peer_user)).then_some("ad-jid-device-0")
        }
        (Ad { domain, device: 0, user }, Pair { user: peer_user, server }) => {
            let server_matches = match domain {
                128 => text_is(server, "hosted"),
                129 => text_is(server, "hosted.lid"),
                _ => false,
            };
            (server_matches && same_text(user, peer_user)).then_some("hosted-pair")
        }
        (Fb { user, device, server }, Ad { domain: 0, device: peer_device, user: peer_user }) => {
            (text_is(server, "msgr")
                && same_text(user, peer_user)
                && u16::from(*peer_device) == device & 0xff)
                .then_some("fb-jid-as-ad")
        }
        (
            Interop { user, device, integrator, server },
            Ad { domain: 0, device: peer_device, user: peer_user },
        ) => {
            let joined = format!("{integrator}-{}", user.text()?);
            (text_is(server, "interop")
                && text_is(peer_user, &joined)
                && u16::from(*peer_device) == device & 0xff)
                .then_some("interop-jid-as-ad")
        }
        (Fb { user, device: 0, server }, Pair { user: peer_user, server: peer_server })
        | (
            Interop { user, device: 0, integrator: 0, server },
            Pair { user: peer_user, server: peer_server },
        ) => (same_text(server, peer_server) && same_text(user, peer_user))
            .then_some("device-less-fb-interop-pair"),
        (Binary([]), Empty) => Some("empty-string-forms"),
        (_, Empty) => {
            let text = ours.text()?;
            PROTOTYPE_NAMES.contains(&text.as_str()).then_some("prototype-name-as-empty")
        }
        _ => None,
    }
}

/// What Baileys' reader shows after Baileys wrote `text` through jidDecode and writeJid, for the
/// shapes the corpus uses (decimal devices and agents, or an agent that is not a number).
fn baileys_mangle(text: &str) -> Option<String> {
    let (user_combined, server) = text.split_once('@')?;
    let mut parts = user_combined.split(':');
    let user_agent = parts.next()?;
    let device = parts.next().filter(|d| !d.is_empty());
    let mut pieces = user_agent.split('_');
    let user = pieces.next()?;
    let agent = pieces.next().filter(|a| !a.is_empty());
    let domain: u32 = match server {
        "lid" => 1,
        "hosted" => 128,
        "hosted.lid" => 129,
        _ => match agent {
            Some(agent) if agent.bytes().all(|b| b.is_ascii_digit()) => agent.parse().ok()?,
            Some(agent) if !agent.as_bytes()[0].is_ascii_digit() => 0, // parseInt gives NaN
            Some(_) => return None,
            None => 0,
        },
    };
    let Some(device) = device else { return Some(format!("{user}@{server}")) };
    if !device.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let device = device.parse::<u32>().ok()? & 0xff;
    let server = match domain & 0xff {
        1 => "lid",
        128 => "hosted",
        129 => "hosted.lid",
        _ => "s.whatsapp.net",
    };
    Some(match device {
        0 => format!("{user}@{server}"),
        device => format!("{user}:{device}@{server}"),
    })
}
