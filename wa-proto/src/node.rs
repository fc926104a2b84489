//! The node tree: what every WhatsApp Web stanza is on the wire.

use std::borrow::Cow;

use crate::{
    error::{Error, Result},
    jid::Jid,
};

/// A string that is usually a dictionary token: borrowed from the token table when it is one.
pub type Text = Cow<'static, str>;

/// A stanza: `<tag attrs...>content</tag>`.
///
/// ```
/// use wa_proto::{Jid, Node};
///
/// let ping = Node::builder("iq")
///     .attr("id", "ping-1")
///     .attr("to", Jid::server_jid())
///     .attr("type", "get")
///     .attr("xmlns", "w:p")
///     .children([Node::new("ping")])
///     .build();
/// assert_eq!(ping.attr_str("type")?, "get");
/// assert_eq!(ping.attr_jid("to")?, Jid::server_jid());
/// assert!(ping.child("ping").is_some());
/// assert!(ping.attr_str("missing").is_err());
/// # Ok::<(), wa_proto::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    /// The tag, never empty on the wire.
    pub tag: Text,
    /// Attributes in wire order.
    pub attrs: Vec<(Text, AttrValue)>,
    /// What the node holds.
    pub content: Content,
}

/// An attribute value: a string or a typed JID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrValue {
    /// A string.
    Text(Text),
    /// A JID, encoded in one of the JID forms.
    Jid(Jid),
}

/// The content of a node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Content {
    /// No content.
    #[default]
    None,
    /// Raw bytes (a binary item on the wire).
    Bytes(Vec<u8>),
    /// A string written in a compact form: a token, a packed string or a JID.
    Text(Text),
    /// A JID, encoded in one of the JID forms.
    Jid(Jid),
    /// Child nodes.
    Nodes(Vec<Node>),
}

impl From<&'static str> for AttrValue {
    fn from(text: &'static str) -> Self {
        Self::Text(Cow::Borrowed(text))
    }
}

impl From<String> for AttrValue {
    fn from(text: String) -> Self {
        Self::Text(Cow::Owned(text))
    }
}

impl From<Jid> for AttrValue {
    fn from(jid: Jid) -> Self {
        Self::Jid(jid)
    }
}

impl Node {
    /// A node with a tag and nothing else.
    pub fn new(tag: impl Into<Text>) -> Self {
        Self { tag: tag.into(), attrs: Vec::new(), content: Content::None }
    }

    /// A builder for a node with this tag.
    pub fn builder(tag: impl Into<Text>) -> NodeBuilder {
        NodeBuilder { node: Self::new(tag) }
    }

    /// The value of attribute `key`, if present.
    pub fn attr(&self, key: &str) -> Option<&AttrValue> {
        self.attrs.iter().find(|(k, _)| k == key).map(|(_, value)| value)
    }

    /// Attribute `key` as a string; a JID value is an error (use [`Node::attr_jid`]).
    pub fn attr_str(&self, key: &str) -> Result<&str> {
        match self.required(key)? {
            AttrValue::Text(text) => Ok(text),
            AttrValue::Jid(_) => Err(self.invalid(key, "a string")),
        }
    }

    /// Attribute `key` as a string, or `None` if absent.
    pub fn attr_opt_str(&self, key: &str) -> Result<Option<&str>> {
        self.attr(key).map(|_| self.attr_str(key)).transpose()
    }

    /// Attribute `key` as a JID: a JID value, or a string that parses as one.
    pub fn attr_jid(&self, key: &str) -> Result<Jid> {
        match self.required(key)? {
            AttrValue::Jid(jid) => Ok(jid.clone()),
            AttrValue::Text(text) => text.parse().map_err(|_| self.invalid(key, "a JID")),
        }
    }

    /// Attribute `key` as a JID, or `None` if absent.
    pub fn attr_opt_jid(&self, key: &str) -> Result<Option<Jid>> {
        self.attr(key).map(|_| self.attr_jid(key)).transpose()
    }

    /// Attribute `key` as an unsigned decimal integer (timestamps, counts, codes).
    pub fn attr_u64(&self, key: &str) -> Result<u64> {
        let text = self.attr_str(key).map_err(|error| match error {
            Error::InvalidAttribute { .. } => self.invalid(key, "an unsigned integer"),
            other => other,
        })?;
        text.parse().map_err(|_| self.invalid(key, "an unsigned integer"))
    }

    /// Attribute `key` as `true`/`false` (also `1`/`0`).
    pub fn attr_bool(&self, key: &str) -> Result<bool> {
        match self.attr_str(key) {
            Ok("true" | "1") => Ok(true),
            Ok("false" | "0") => Ok(false),
            Ok(_) | Err(Error::InvalidAttribute { .. }) => Err(self.invalid(key, "a boolean")),
            Err(other) => Err(other),
        }
    }

    /// The child nodes; empty when the content is not a list.
    pub fn children(&self) -> &[Node] {
        match &self.content {
            Content::Nodes(children) => children,
            _ => &[],
        }
    }

    /// The first child with `tag`.
    pub fn child(&self, tag: &str) -> Option<&Node> {
        self.children().iter().find(|child| child.tag == tag)
    }

    /// Every child with `tag`.
    pub fn children_with_tag<'a>(&'a self, tag: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children().iter().filter(move |child| child.tag == tag)
    }

    /// The content as bytes: raw bytes, or the UTF-8 of a compact string.
    pub fn content_bytes(&self) -> Option<&[u8]> {
        match &self.content {
            Content::Bytes(bytes) => Some(bytes),
            Content::Text(text) => Some(text.as_bytes()),
            Content::None | Content::Jid(_) | Content::Nodes(_) => None,
        }
    }

    fn required(&self, key: &str) -> Result<&AttrValue> {
        self.attr(key).ok_or_else(|| Error::MissingAttribute {
            tag: self.tag.to_string(),
            key: key.to_owned(),
        })
    }

    fn invalid(&self, key: &str, expected: &'static str) -> Error {
        Error::InvalidAttribute { tag: self.tag.to_string(), key: key.to_owned(), expected }
    }
}

/// Builds a [`Node`]; see [`Node::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct NodeBuilder {
    node: Node,
}

impl NodeBuilder {
    /// Adds an attribute (replacing one with the same key).
    pub fn attr(mut self, key: impl Into<Text>, value: impl Into<AttrValue>) -> Self {
        let key = key.into();
        let value = value.into();
        match self.node.attrs.iter_mut().find(|(k, _)| *k == key) {
            Some((_, existing)) => *existing = value,
            None => self.node.attrs.push((key, value)),
        }
        self
    }

    /// Adds an attribute if `value` is `Some`.
    pub fn opt_attr(self, key: impl Into<Text>, value: Option<impl Into<AttrValue>>) -> Self {
        match value {
            Some(value) => self.attr(key, value),
            None => self,
        }
    }

    /// Sets the content to child nodes.
    pub fn children(mut self, children: impl IntoIterator<Item = Node>) -> Self {
        self.node.content = Content::Nodes(children.into_iter().collect());
        self
    }

    /// Sets the content to raw bytes.
    pub fn bytes(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.node.content = Content::Bytes(bytes.into());
        self
    }

    /// Sets the content to a compact string.
    pub fn text(mut self, text: impl Into<Text>) -> Self {
        self.node.content = Content::Text(text.into());
        self
    }

    /// The node.
    pub fn build(self) -> Node {
        self.node
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt() -> Node {
        Node::builder("receipt")
            .attr("id", "ABC")
            .attr("t", "1700000000")
            .attr("from", "5511:2@s.whatsapp.net".parse::<Jid>().unwrap())
            .attr("offline", "1")
            .attr("id", "DEF")
            .opt_attr("type", None::<&'static str>)
            .children([Node::builder("list")
                .children([Node::new("item"), Node::new("item")])
                .build()])
            .build()
    }

    #[test]
    fn typed_accessors() {
        let node = receipt();
        assert_eq!(node.attrs.len(), 4, "a repeated key replaces, a None is skipped");
        assert_eq!(node.attr_str("id").unwrap(), "DEF");
        assert_eq!(node.attr_u64("t").unwrap(), 1_700_000_000);
        assert!(node.attr_bool("offline").unwrap());
        assert_eq!(node.attr_jid("from").unwrap().device, 2);
        assert_eq!(node.attr_opt_str("type").unwrap(), None);
        assert_eq!(node.child("list").unwrap().children_with_tag("item").count(), 2);
        assert_eq!(node.content_bytes(), None);
    }

    #[test]
    fn accessor_errors_name_the_node_and_key() {
        let node = receipt();
        assert_eq!(
            node.attr_u64("id").unwrap_err().to_string(),
            "<receipt> attribute \"id\" is not an unsigned integer"
        );
        assert_eq!(
            node.attr_str("nope").unwrap_err().to_string(),
            "<receipt> has no attribute \"nope\""
        );
        assert!(matches!(node.attr_str("from"), Err(Error::InvalidAttribute { .. })));
        assert!(matches!(node.attr_bool("id"), Err(Error::InvalidAttribute { .. })));
        assert!(node.attr_jid("t").is_ok(), "a bare string is a server JID");
    }
}
