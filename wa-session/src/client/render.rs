//! A one-line, XML-like rendering of nodes, for logs (bytes by length) and snapshots (bytes in
//! hex).

use std::fmt::Write as _;

use wa_proto::{AttrValue, Content, Node};

/// Renders `node` on one line; binary content as hex when `hex_bytes`, else as `[N bytes]` (logs
/// must not carry message contents).
pub(crate) fn render(node: &Node, hex_bytes: bool) -> String {
    let mut out = String::new();
    write_node(&mut out, node, hex_bytes);
    out
}

fn write_node(out: &mut String, node: &Node, hex_bytes: bool) {
    let _ = write!(out, "<{}", node.tag);
    for (key, value) in &node.attrs {
        let _ = match value {
            AttrValue::Text(text) => write!(out, " {key}=\"{text}\""),
            AttrValue::Jid(jid) => write!(out, " {key}=\"{jid}\""),
        };
    }
    let _ = match &node.content {
        Content::None => write!(out, "/>"),
        Content::Bytes(bytes) if hex_bytes => {
            out.push('>');
            for byte in bytes {
                let _ = write!(out, "{byte:02x}");
            }
            write!(out, "</{}>", node.tag)
        }
        Content::Bytes(bytes) => write!(out, ">[{} bytes]</{}>", bytes.len(), node.tag),
        Content::Text(text) => write!(out, ">{text}</{}>", node.tag),
        Content::Jid(jid) => write!(out, ">{jid}</{}>", node.tag),
        Content::Nodes(children) => {
            out.push('>');
            for child in children {
                write_node(out, child, hex_bytes);
            }
            write!(out, "</{}>", node.tag)
        }
    };
}
