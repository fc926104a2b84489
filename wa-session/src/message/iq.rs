//! The iq envelope of the queries this module builds, and the check of their answers.

use wa_proto::{Jid, Node};

use crate::{ConnectionError, Error, Result};

/// `<iq id to="s.whatsapp.net" type xmlns>children</iq>`.
pub fn request(
    id: &str,
    kind: &'static str,
    xmlns: &'static str,
    children: impl IntoIterator<Item = Node>,
) -> Node {
    Node::builder("iq")
        .attr("id", id.to_owned())
        .attr("to", Jid::server_jid())
        .attr("type", kind)
        .attr("xmlns", xmlns)
        .children(children)
        .build()
}

/// Checks that `answer` is an `<iq type="result">`; an `<iq type="error">` becomes
/// [`ConnectionError::Iq`].
pub fn check_result(answer: &Node) -> Result<()> {
    if answer.tag != "iq" {
        return Err(Error::stanza(answer.tag.to_string(), "expected an <iq> answer"));
    }
    match answer.attr_opt_str("type").ok().flatten() {
        Some("result") => Ok(()),
        Some("error") => {
            let error = answer.child("error");
            let attr = |key: &str| {
                error
                    .and_then(|e| e.attr_opt_str(key).ok().flatten())
                    .unwrap_or_default()
                    .to_owned()
            };
            Err(Error::Connection(ConnectionError::Iq { code: attr("code"), text: attr("text") }))
        }
        other => Err(Error::stanza("iq", format!("answer type {other:?}, expected result"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MessageError;

    #[test]
    fn results_and_errors() {
        let ok = Node::builder("iq").attr("type", "result").build();
        assert!(check_result(&ok).is_ok());
        let error = Node::builder("iq")
            .attr("type", "error")
            .children([Node::builder("error")
                .attr("code", "404")
                .attr("text", "item-not-found")
                .build()])
            .build();
        assert_eq!(
            check_result(&error),
            Err(Error::Connection(ConnectionError::Iq {
                code: "404".into(),
                text: "item-not-found".into()
            }))
        );
        assert!(matches!(
            check_result(&Node::new("iq")),
            Err(Error::Message(MessageError::Stanza { .. }))
        ));
        assert!(matches!(
            check_result(&Node::new("message")),
            Err(Error::Message(MessageError::Stanza { .. }))
        ));
    }
}
