//! A readable, deterministic rendering of a node for snapshot tests: attributes in wire order,
//! bytes as hex.

use std::fmt::Write as _;

use wa_proto::{AttrValue, Content, Node};

/// `node` as indented XML-like text.
pub(crate) fn xml(node: &Node) -> String {
    let mut out = String::new();
    write(node, 0, &mut out);
    out
}

fn write(node: &Node, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    let _ = write!(out, "{pad}<{}", node.tag);
    for (key, value) in &node.attrs {
        match value {
            AttrValue::Text(text) => {
                let _ = write!(out, " {key}=\"{text}\"");
            }
            AttrValue::Jid(jid) => {
                let _ = write!(out, " {key}=jid\"{jid}\"");
            }
        }
    }
    match &node.content {
        Content::None => out.push_str("/>\n"),
        Content::Bytes(bytes) => {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let _ = writeln!(out, ">0x{hex}</{}>", node.tag);
        }
        Content::Text(text) => {
            let _ = writeln!(out, ">{text}</{}>", node.tag);
        }
        Content::Jid(jid) => {
            let _ = writeln!(out, ">jid\"{jid}\"</{}>", node.tag);
        }
        Content::Nodes(children) => {
            out.push_str(">\n");
            for child in children {
                write(child, depth + 1, out);
            }
            let _ = writeln!(out, "{pad}</{}>", node.tag);
        }
    }
}
