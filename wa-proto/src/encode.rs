//! The encoder: a [`Node`] to bytes, choosing the most compact form for every string.

use crate::{
    error::{Error, Result},
    jid::{Jid, Server},
    node::{AttrValue, Content, Node},
    packed::{self, Alphabet},
    tag,
    token::{self, Token},
};

/// Encodes `node` as a frame body: the flags byte `0x00` (uncompressed), then the node.
///
/// ```
/// use wa_proto::Node;
///
/// let node = Node::builder("iq").attr("type", "get").build();
/// let frame = wa_proto::encode(&node)?;
/// assert_eq!(wa_proto::decode(&frame)?, node);
/// # Ok::<(), wa_proto::Error>(())
/// ```
pub fn encode(node: &Node) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    out.push(0);
    encode_node_into(node, &mut out)?;
    Ok(out)
}

/// Appends the encoding of `node` (no flags byte) to `out`. On error `out` is left as it was.
pub fn encode_node_into(node: &Node, out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    let result = Encoder { out: &mut *out }.node(node);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Largest list on the wire (LIST_16).
const LIST_MAX: usize = u16::MAX as usize;

struct Encoder<'a> {
    out: &'a mut Vec<u8>,
}

impl Encoder<'_> {
    fn node(&mut self, node: &Node) -> Result<()> {
        if node.tag.is_empty() {
            return Err(Error::EmptyTag);
        }
        let has_content = !matches!(node.content, Content::None);
        let size = 1 + 2 * node.attrs.len() + usize::from(has_content);
        self.list_start(size, "attributes of one node")?;
        self.string(&node.tag)?;
        for (key, value) in &node.attrs {
            self.string(key)?;
            match value {
                AttrValue::Text(text) => self.string(text)?,
                AttrValue::Jid(jid) => self.jid(jid)?,
            }
        }
        match &node.content {
            Content::None => {}
            Content::Bytes(bytes) => self.binary(bytes)?,
            Content::Text(text) => self.string(text)?,
            Content::Jid(jid) => self.jid(jid)?,
            Content::Nodes(children) => {
                self.list_start(children.len(), "children of one node")?;
                for child in children {
                    self.node(child)?;
                }
            }
        }
        Ok(())
    }

    fn list_start(&mut self, size: usize, what: &'static str) -> Result<()> {
        if size == 0 {
            self.out.push(tag::LIST_EMPTY);
        } else if let Ok(size) = u8::try_from(size) {
            self.out.extend_from_slice(&[tag::LIST_8, size]);
        } else if let Ok(size) = u16::try_from(size) {
            self.out.push(tag::LIST_16);
            self.out.extend_from_slice(&size.to_be_bytes());
        } else {
            return Err(Error::TooLarge { what, len: size, max: LIST_MAX });
        }
        Ok(())
    }

    fn binary(&mut self, bytes: &[u8]) -> Result<()> {
        let len = u32::try_from(bytes.len()).map_err(|_| Error::TooLarge {
            what: "binary item",
            len: bytes.len(),
            max: u32::MAX as usize,
        })?;
        let [high, a, b, c] = len.to_be_bytes();
        if let Ok(len) = u8::try_from(len) {
            self.out.extend_from_slice(&[tag::BINARY_8, len]);
        } else if len < 1 << 20 {
            self.out.extend_from_slice(&[tag::BINARY_20, a, b, c]);
        } else {
            self.out.extend_from_slice(&[tag::BINARY_32, high, a, b, c]);
        }
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    /// Token, then double-byte token, then nibble, then hex, then raw UTF-8: the order every peer uses.
    fn string(&mut self, text: &str) -> Result<()> {
        match token::lookup(text) {
            Some(Token::Single(index)) => self.out.push(index),
            Some(Token::Double { dictionary, index }) => {
                self.out.extend_from_slice(&[tag::DICTIONARY_0 + dictionary, index]);
            }
            None => match Alphabet::for_text(text) {
                Some(alphabet) => packed::pack(alphabet, text, self.out),
                None => self.binary(text.as_bytes())?,
            },
        }
        Ok(())
    }

    fn jid(&mut self, jid: &Jid) -> Result<()> {
        match jid.server {
            Server::User | Server::Lid if jid.device != 0 || jid.agent != 0 => self.ad_jid(jid),
            Server::Hosted | Server::HostedLid => self.ad_jid(jid),
            Server::Messenger => {
                self.out.push(tag::FB_JID);
                self.string(&jid.user)?;
                self.out.extend_from_slice(&jid.device.to_be_bytes());
                self.string(jid.server.as_str())
            }
            Server::Interop => {
                self.out.push(tag::INTEROP_JID);
                self.string(&jid.user)?;
                self.out.extend_from_slice(&jid.device.to_be_bytes());
                self.out.extend_from_slice(&jid.integrator.to_be_bytes());
                self.string(jid.server.as_str())
            }
            _ if jid.device != 0 || jid.agent != 0 || jid.integrator != 0 => {
                Err(Error::InvalidJid {
                    reason: "only s.whatsapp.net, lid, hosted, msgr and interop JIDs carry a device",
                })
            }
            _ => {
                self.out.push(tag::JID_PAIR);
                if jid.user.is_empty() {
                    self.out.push(tag::LIST_EMPTY);
                } else {
                    self.string(&jid.user)?;
                }
                self.string(jid.server.as_str())
            }
        }
    }

    fn ad_jid(&mut self, jid: &Jid) -> Result<()> {
        let device = u8::try_from(jid.device)
            .map_err(|_| Error::InvalidJid { reason: "an AD JID's device must be below 256" })?;
        if jid.integrator != 0 {
            return Err(Error::InvalidJid { reason: "only interop JIDs carry an integrator" });
        }
        self.out.extend_from_slice(&[tag::AD_JID, jid.domain_type(), device]);
        self.string(&jid.user)
    }
}
