//! "Is this number on WhatsApp": the usync `contact` query and its answer.
//!
//! The query asks, in the interactive context, about phone numbers given as `+<digits>`:
//! `<usync sid mode="query" last="true" index="0" context="interactive"><query><contact/></query>
//! <list><user><contact>+NUMBER</contact></user>...</list></usync>`. The answer lists
//! `<user jid="NUMBER@s.whatsapp.net"><contact type="in"|"out">+NUMBER</contact></user>`: `in`
//! for a number registered on WhatsApp, `out` for one that is not. (The shape as whatsmeow's
//! `IsOnWhatsApp` in `user.go` and Baileys' `onWhatsApp` with `USyncContactProtocol` build and
//! read it.)

use wa_proto::{Jid, Node, Server};

use super::iq;
use crate::{Error, Result};

/// The most numbers one contact query asks about (WhatsApp Web asks in batches; a line of ours
/// asks about one number at a time).
pub const MAX_CONTACT_QUERY: usize = 50;

/// A phone number as usync's contact protocol takes it: `+` and 1 to 15 digits (E.164), or
/// `None` when `digits` is not that (it may start with `+`; nothing else is removed).
#[must_use]
pub fn contact_query_number(digits: &str) -> Option<String> {
    let digits = digits.strip_prefix('+').unwrap_or(digits);
    let valid = (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    valid.then(|| format!("+{digits}"))
}

/// `<iq xmlns="usync" type="get">` asking whether each of `phones` (digits, with or without a
/// leading `+`) is on WhatsApp.
///
/// # Errors
///
/// [`crate::MessageError::Stanza`] when `phones` is empty, longer than [`MAX_CONTACT_QUERY`],
/// or holds something that is not a phone number ([`contact_query_number`]).
pub fn contact_query(request_id: &str, sid: &str, phones: &[&str]) -> Result<Node> {
    if phones.is_empty() || phones.len() > MAX_CONTACT_QUERY {
        return Err(Error::stanza(
            "usync",
            format!("a contact query asks about 1 to {MAX_CONTACT_QUERY} numbers"),
        ));
    }
    let mut users = Vec::with_capacity(phones.len());
    for phone in phones {
        let number = contact_query_number(phone)
            .ok_or_else(|| Error::stanza("contact", "not a phone number of 1 to 15 digits"))?;
        users.push(
            Node::builder("user")
                .children([Node::builder("contact").bytes(number.into_bytes()).build()])
                .build(),
        );
    }
    let usync = Node::builder("usync")
        .attr("sid", sid.to_owned())
        .attr("mode", "query")
        .attr("last", "true")
        .attr("index", "0")
        .attr("context", "interactive")
        .children([
            Node::builder("query").children([Node::new("contact")]).build(),
            Node::builder("list").children(users).build(),
        ])
        .build();
    Ok(iq::request(request_id, "get", "usync", [usync]))
}

/// What the contact query says about one number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactStatus {
    /// The number as asked (`+<digits>`), when the answer echoes it; else the digits of
    /// [`ContactStatus::jid`] with a `+`.
    pub query: String,
    /// The account's JID (phone-number addressing, no device).
    pub jid: Jid,
    /// Whether the number is registered on WhatsApp (`type="in"`).
    pub on_whatsapp: bool,
}

/// Parses the answer to [`contact_query`]: each `<user jid>` of `<usync><list>` with its
/// `<contact type>`. A user without `<contact>` (the server could not say) is left out, as
/// whatsmeow and Baileys leave it out.
///
/// # Errors
///
/// [`crate::ConnectionError::Iq`] for an error answer; [`crate::MessageError::Stanza`] for an
/// answer that is not a usync list, a user without a JID or one that is not a phone number, or a
/// contact type other than `in` and `out`.
pub fn parse_contacts(answer: &Node) -> Result<Vec<ContactStatus>> {
    iq::check_result(answer)?;
    let list = answer
        .child("usync")
        .and_then(|usync| usync.child("list"))
        .ok_or_else(|| Error::stanza("iq", "usync answer without <usync><list>"))?;
    let mut out = Vec::new();
    for user in list.children_with_tag("user") {
        let Some(contact) = user.child("contact") else { continue };
        let jid = user.attr_jid("jid").map_err(|error| Error::stanza("user", error.to_string()))?;
        if jid.server != Server::User {
            return Err(Error::stanza("user", "a contact answer names a phone-number JID"));
        }
        let on_whatsapp = match contact.attr_opt_str("type").ok().flatten() {
            Some("in") => true,
            Some("out") => false,
            _ => return Err(Error::stanza("contact", "type is neither in nor out")),
        };
        let echoed = contact
            .content_bytes()
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .and_then(contact_query_number);
        let query = echoed
            .or_else(|| contact_query_number(&jid.user))
            .ok_or_else(|| Error::stanza("user", "the JID's user is not a phone number"))?;
        out.push(ContactStatus { query, jid: jid.to_non_device(), on_whatsapp });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::xml::xml;
    use crate::{ConnectionError, MessageError};

    fn jid(text: &str) -> Jid {
        text.parse().unwrap()
    }

    /// The query whatsmeow's `IsOnWhatsApp` (`user.go`: mode "query", context "interactive",
    /// `<contact>` holding the `+`-prefixed number) and Baileys' `onWhatsApp`
    /// (`USyncQuery().withContactProtocol()`, `USyncUser().withPhone("+…")`) send.
    #[test]
    fn query_shape() {
        let node = contact_query("r-1", "sid-1", &["+5511999990001", "4915100000002"]).unwrap();
        insta::assert_snapshot!(xml(&node));
    }

    #[test]
    fn query_refuses_what_is_not_a_number() {
        for bad in [&[][..], &["+55 11"][..], &["12345678901234567"][..], &["+"][..], &["abc"][..]]
        {
            assert!(
                matches!(
                    contact_query("r", "s", bad),
                    Err(Error::Message(MessageError::Stanza { .. }))
                ),
                "{bad:?}"
            );
        }
        let many: Vec<&str> = std::iter::repeat_n("1", MAX_CONTACT_QUERY + 1).collect();
        assert!(contact_query("r", "s", &many).is_err());
        assert_eq!(contact_query_number("+49151"), Some("+49151".to_owned()));
        assert_eq!(contact_query_number("++49151"), None);
    }

    fn answer(users: Vec<Node>) -> Node {
        Node::builder("iq")
            .attr("type", "result")
            .children([Node::builder("usync")
                .children([Node::builder("list").children(users).build()])
                .build()])
            .build()
    }

    fn user(jid_text: &str, kind: &'static str, echo: Option<&str>) -> Node {
        let mut contact = Node::builder("contact").attr("type", kind);
        if let Some(echo) = echo {
            contact = contact.bytes(echo.as_bytes().to_vec());
        }
        Node::builder("user").attr("jid", jid(jid_text)).children([contact.build()]).build()
    }

    /// whatsmeow reads `type == "in"` as registered and the `<contact>` content as the query;
    /// Baileys' contact protocol parser reads `type === "in"`.
    #[test]
    fn parses_in_and_out() {
        let users = parse_contacts(&answer(vec![
            user("5511999990001@s.whatsapp.net", "in", Some("+5511999990001")),
            user("4915100000002@s.whatsapp.net", "out", None),
            Node::builder("user").attr("jid", jid("1@s.whatsapp.net")).build(),
        ]))
        .unwrap();
        assert_eq!(
            users,
            [
                ContactStatus {
                    query: "+5511999990001".into(),
                    jid: jid("5511999990001@s.whatsapp.net"),
                    on_whatsapp: true,
                },
                ContactStatus {
                    query: "+4915100000002".into(),
                    jid: jid("4915100000002@s.whatsapp.net"),
                    on_whatsapp: false,
                },
            ]
        );
    }

    #[test]
    fn rejects_bad_answers() {
        let bad_type = answer(vec![user("5511@s.whatsapp.net", "maybe", None)]);
        let lid = answer(vec![user("5511@lid", "in", None)]);
        let no_list = Node::builder("iq").attr("type", "result").build();
        for bad in [bad_type, lid, no_list] {
            assert!(
                matches!(parse_contacts(&bad), Err(Error::Message(MessageError::Stanza { .. }))),
                "{bad:?}"
            );
        }
        let error = Node::builder("iq")
            .attr("type", "error")
            .children([Node::builder("error")
                .attr("code", "429")
                .attr("text", "rate-overlimit")
                .build()])
            .build();
        assert!(matches!(
            parse_contacts(&error),
            Err(Error::Connection(ConnectionError::Iq { .. }))
        ));
    }
}
