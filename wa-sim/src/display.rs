//! A compact, XML-like rendering of nodes for logs (bytes shown by length only).

use std::fmt::Write as _;

use wa_proto::{AttrValue, Content, Node};

/// Renders `node` on one line: `<iq id="1" type="get"><ping/></iq>`, binary content as `[N bytes]`.
#[must_use]
pub fn render(node: &Node) -> String {
    let mut out = String::new();
    write_node(&mut out, node, 0);
    out
}

fn write_node(out: &mut String, node: &Node, depth: usize) {
    let _ = write!(out, "<{}", node.tag);
    for (key, value) in &node.attrs {
        match value {
            AttrValue::Text(text) => {
                let _ = write!(out, " {key}=\"{text}\"");
            }
            AttrValue::Jid(jid) => {
                let _ = write!(out, " {key}=\"{jid}\"");
            }
        }
    }
    match &node.content {
        Content::None => out.push_str("/>"),
        Content::Bytes(bytes) => {
            let _ = write!(out, ">[{} bytes]</{}>", bytes.len(), node.tag);
        }
        Content::Text(text) => {
            let _ = write!(out, ">{text}</{}>", node.tag);
        }
        Content::Jid(jid) => {
            let _ = write!(out, ">{jid}</{}>", node.tag);
        }
        Content::Nodes(children) => {
            out.push('>');
            if depth > 3 {
                let _ = write!(out, "[{} children]", children.len());
            } else {
                for (i, child) in children.iter().enumerate() {
                    if i == 8 {
                        let _ = write!(out, "[{} more]", children.len() - 8);
                        break;
                    }
                    write_node(out, child, depth + 1);
                }
            }
            let _ = write!(out, "</{}>", node.tag);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_attrs_children_and_bytes() {
        let node = Node::builder("iq")
            .attr("id", "1")
            .children([Node::builder("value").bytes(vec![1, 2, 3]).build(), Node::new("ping")])
            .build();
        assert_eq!(render(&node), "<iq id=\"1\"><value>[3 bytes]</value><ping/></iq>");
    }
}
