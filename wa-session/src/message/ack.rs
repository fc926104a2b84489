//! The ack every incoming stanza gets, built without IO. The client sends it when a stanza is
//! handled (for a message: once the application has it); the messaging machine hands it out
//! with its outcomes.

use wa_proto::Node;

use crate::{Error, Result};

/// The ack of an incoming `message`, `receipt`, `notification` or `call`:
/// `<ack class=<tag> id=<id> to=<from> [participant] [recipient] [type (not for messages)]/>`.
///
/// # Errors
///
/// [`Error::Malformed`] if the stanza has no `id` or `from`.
pub fn ack_for(stanza: &Node) -> Result<Node> {
    let bad = |what: &str| Error::malformed("stanza to ack", format!("no {what}"));
    let id = stanza.attr_opt_str("id").ok().flatten().ok_or_else(|| bad("id"))?;
    let from = stanza.attr("from").ok_or_else(|| bad("from"))?.clone();
    let mut ack = Node::builder("ack")
        .attr("class", stanza.tag.to_string())
        .attr("id", id.to_owned())
        .attr("to", from);
    for key in ["participant", "recipient"] {
        if let Some(value) = stanza.attr(key) {
            ack = ack.attr(key, value.clone());
        }
    }
    if stanza.tag != "message"
        && let Some(kind) = stanza.attr("type")
    {
        ack = ack.attr("type", kind.clone());
    }
    Ok(ack.build())
}
