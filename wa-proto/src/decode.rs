//! The bounded decoder: untrusted bytes in, a [`Node`] or a typed error out, never a panic.

use std::{borrow::Cow, io::Read as _, mem::size_of};

use crate::{
    error::{Error, Result},
    jid::{Jid, Server},
    node::{AttrValue, Content, Node, Text},
    packed::{self, Alphabet},
    reader::Reader,
    tag, token,
};

/// Caps on what one decoded frame may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeLimits {
    /// Deepest nesting of nodes (the root is depth 1).
    pub max_depth: usize,
    /// Bytes the decoder may allocate: the inflated body plus every string, byte buffer and node.
    pub max_allocation: usize,
}

impl Default for DecodeLimits {
    /// 64 levels and 64 MiB: far above any real stanza, far below what would hurt a server.
    fn default() -> Self {
        Self { max_depth: 64, max_allocation: 64 << 20 }
    }
}

impl DecodeLimits {
    /// Limits with this maximum depth.
    pub fn with_max_depth(self, max_depth: usize) -> Self {
        Self { max_depth, ..self }
    }

    /// Limits with this allocation budget.
    pub fn with_max_allocation(self, max_allocation: usize) -> Self {
        Self { max_allocation, ..self }
    }
}

/// Decodes a decrypted frame: a flags byte, then the node, zlib-compressed when the flags say so.
///
/// ```
/// let frame = [0x00, 0xf8, 0x01, 0x08]; // flags, LIST_8 of size 1, token 8 ("id")
/// assert_eq!(wa_proto::decode(&frame)?.tag, "id");
/// assert!(wa_proto::decode(&[0x00, 0xf8, 0x01, 0x08, 0x00]).is_err()); // trailing byte
/// # Ok::<(), wa_proto::Error>(())
/// ```
pub fn decode(frame: &[u8]) -> Result<Node> {
    decode_with(frame, DecodeLimits::default())
}

/// [`decode`] with explicit limits.
pub fn decode_with(frame: &[u8], limits: DecodeLimits) -> Result<Node> {
    let (&flags, body) = frame.split_first().ok_or(Error::EmptyFrame)?;
    if flags & tag::FLAG_COMPRESSED == 0 {
        return decode_node_with(body, limits);
    }
    let budget = limits.max_allocation;
    let mut inflated = Vec::new();
    // Read one byte past the budget to tell "exactly at the limit" from "over it".
    let cap = u64::try_from(budget).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::ZlibDecoder::new(body)
        .take(cap)
        .read_to_end(&mut inflated)
        .map_err(|error| Error::Inflate(error.to_string()))?;
    if inflated.len() > budget {
        return Err(Error::AllocationLimit { limit: budget });
    }
    let remaining = DecodeLimits { max_allocation: budget - inflated.len(), ..limits };
    decode_node_with(&inflated, remaining)
}

/// Decodes one node that fills `body` exactly (no flags byte).
pub fn decode_node(body: &[u8]) -> Result<Node> {
    decode_node_with(body, DecodeLimits::default())
}

/// [`decode_node`] with explicit limits.
pub fn decode_node_with(body: &[u8], limits: DecodeLimits) -> Result<Node> {
    let mut decoder = Decoder { reader: Reader::new(body), limits, allocated: 0 };
    let node = decoder.node(1)?;
    decoder.reader.finish()?;
    Ok(node)
}

/// A string item: text, or a JID form.
enum Item {
    Text(Text),
    Jid(Jid),
}

struct Decoder<'a> {
    reader: Reader<'a>,
    limits: DecodeLimits,
    allocated: usize,
}

impl<'a> Decoder<'a> {
    fn charge(&mut self, bytes: usize) -> Result<()> {
        self.allocated = self.allocated.saturating_add(bytes);
        if self.allocated > self.limits.max_allocation {
            return Err(Error::AllocationLimit { limit: self.limits.max_allocation });
        }
        Ok(())
    }

    fn node(&mut self, depth: usize) -> Result<Node> {
        if depth > self.limits.max_depth {
            return Err(Error::DepthLimit { limit: self.limits.max_depth });
        }
        let header = self.reader.u8()?;
        let size = match self.list_size(header)? {
            Some(size @ 1..) => size,
            _ => return Err(Error::InvalidNodeHeader { tag: header }),
        };
        let tag = self.text("tag")?;
        if tag.is_empty() {
            return Err(Error::EmptyTag);
        }
        let attr_count = (size - 1) / 2;
        self.charge(size_of::<Node>() + attr_count * size_of::<(Text, AttrValue)>())?;
        let mut attrs = Vec::with_capacity(attr_count);
        for _ in 0..attr_count {
            let key = self.text("attribute key")?;
            let value = match self.item("attribute value")? {
                Item::Text(text) => AttrValue::Text(text),
                Item::Jid(jid) => AttrValue::Jid(jid),
            };
            attrs.push((key, value));
        }
        let content = if size % 2 == 0 { self.content(depth)? } else { Content::None };
        Ok(Node { tag, attrs, content })
    }

    /// `Some(size)` for a list header, `None` for any other byte.
    fn list_size(&mut self, header: u8) -> Result<Option<usize>> {
        Ok(match header {
            tag::LIST_EMPTY => Some(0),
            tag::LIST_8 => Some(usize::from(self.reader.u8()?)),
            tag::LIST_16 => Some(usize::from(self.reader.u16()?)),
            _ => None,
        })
    }

    fn content(&mut self, depth: usize) -> Result<Content> {
        let header = self.reader.u8()?;
        if let Some(count) = self.list_size(header)? {
            // Each child takes at least two bytes, so a count beyond that is a lie; checking
            // first keeps a forged count from reserving memory.
            if count.saturating_mul(2) > self.reader.remaining() {
                return Err(Error::UnexpectedEnd {
                    needed: count * 2,
                    remaining: self.reader.remaining(),
                });
            }
            self.charge(count * size_of::<Node>())?;
            let mut children = Vec::with_capacity(count);
            for _ in 0..count {
                children.push(self.node(depth + 1)?);
            }
            return Ok(Content::Nodes(children));
        }
        if let Some(bytes) = self.binary(header)? {
            self.charge(bytes.len())?;
            return Ok(Content::Bytes(bytes.to_vec()));
        }
        match self.string(header, "content") {
            // Content is text only where an encoder writes it compactly again (a token, or a
            // packed string of at most 127 characters); anything else is the same as raw bytes.
            Ok(Item::Text(text))
                if token::lookup(&text).is_none() && Alphabet::for_text(&text).is_none() =>
            {
                Ok(Content::Bytes(text.into_owned().into_bytes()))
            }
            Ok(Item::Text(text)) => Ok(Content::Text(text)),
            Ok(Item::Jid(jid)) => Ok(Content::Jid(jid)),
            Err(Error::InvalidStringTag { tag }) => Err(Error::InvalidContentTag { tag }),
            Err(error) => Err(error),
        }
    }

    /// The payload of a BINARY_* item, or `None` if `header` is not one.
    fn binary(&mut self, header: u8) -> Result<Option<&'a [u8]>> {
        let len = match header {
            tag::BINARY_8 => usize::from(self.reader.u8()?),
            tag::BINARY_20 => self.reader.u20()? as usize,
            tag::BINARY_32 => self.reader.u32()? as usize,
            _ => return Ok(None),
        };
        self.reader.take(len).map(Some)
    }

    fn item(&mut self, what: &'static str) -> Result<Item> {
        let header = self.reader.u8()?;
        self.string(header, what)
    }

    /// A string that must not be a JID (tags, keys, JID parts). JID tags are refused before they
    /// are read, so JID parts cannot nest and the decoder's recursion stays bounded by node depth.
    fn text(&mut self, what: &'static str) -> Result<Text> {
        let header = self.reader.u8()?;
        if matches!(header, tag::JID_PAIR | tag::AD_JID | tag::FB_JID | tag::INTEROP_JID) {
            return Err(Error::InvalidJid { reason: "a JID where plain text belongs" });
        }
        match self.string(header, what)? {
            Item::Text(text) => Ok(text),
            Item::Jid(_) => Err(Error::InvalidJid { reason: "a JID where plain text belongs" }),
        }
    }

    fn string(&mut self, header: u8, what: &'static str) -> Result<Item> {
        match header {
            tag::LIST_EMPTY => Ok(Item::Text(Cow::Borrowed(""))),
            tag::DICTIONARY_0..=tag::DICTIONARY_3 => {
                let index = self.reader.u8()?;
                let text = token::double(header - tag::DICTIONARY_0, index)
                    .ok_or(Error::InvalidStringTag { tag: header })?;
                Ok(Item::Text(Cow::Borrowed(text)))
            }
            tag::BINARY_8 | tag::BINARY_20 | tag::BINARY_32 => {
                let bytes = self.binary(header)?.unwrap_or_default();
                let text = std::str::from_utf8(bytes).map_err(|_| Error::InvalidUtf8 { what })?;
                self.charge(text.len())?;
                Ok(Item::Text(Cow::Owned(text.to_owned())))
            }
            tag::NIBBLE_8 | tag::HEX_8 => {
                let alphabet =
                    if header == tag::NIBBLE_8 { Alphabet::Nibble } else { Alphabet::Hex };
                let start = self.reader.u8()?;
                let bytes = self.reader.take(usize::from(start & 0x7f))?;
                self.charge(bytes.len() * 2)?;
                Ok(Item::Text(Cow::Owned(packed::unpack(alphabet, bytes, start & 0x80 != 0)?)))
            }
            tag::JID_PAIR => {
                let user = self.text("JID user")?;
                let server = self.text("JID server")?;
                if server.is_empty() {
                    return Err(Error::InvalidJid { reason: "a JID pair needs a server" });
                }
                Ok(Item::Jid(Jid::new(user, Server::from_name(&server))))
            }
            tag::AD_JID => {
                let domain = self.reader.u8()?;
                let device = self.reader.u8()?;
                let user = self.text("JID user")?;
                let (server, agent) = Server::from_domain_type(domain);
                Ok(Item::Jid(Jid { agent, ..Jid::with_device(user, server, device.into()) }))
            }
            tag::FB_JID => {
                let user = self.text("JID user")?;
                let device = self.reader.u16()?;
                if self.text("JID server")? != Server::Messenger.as_str() {
                    return Err(Error::InvalidJid { reason: "an FB JID must be on msgr" });
                }
                Ok(Item::Jid(Jid::with_device(user, Server::Messenger, device)))
            }
            tag::INTEROP_JID => {
                let user = self.text("JID user")?;
                let device = self.reader.u16()?;
                let integrator = self.reader.u16()?;
                if self.text("JID server")? != Server::Interop.as_str() {
                    return Err(Error::InvalidJid { reason: "an interop JID must be on interop" });
                }
                let jid = Jid::with_device(user, Server::Interop, device);
                Ok(Item::Jid(Jid { integrator, ..jid }))
            }
            index => token::single(index)
                .map(|text| Item::Text(Cow::Borrowed(text)))
                .ok_or(Error::InvalidStringTag { tag: index }),
        }
    }
}
