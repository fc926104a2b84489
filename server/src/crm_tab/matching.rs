//! Which conversations a set of phone numbers names: a number's key is its digits (a Russian
//! trunk `8` before ten digits read as `7`), compared with the contact's phone and the user
//! part of its JID. Pure functions.

use tenancy::Conversation;

/// At most this many numbers per request (a CRM card has a handful).
pub const MAX_PHONES: usize = 20;

/// The comparable key of a phone number as written (`+7 (916) 000-00-01`, `8 916 000 00 01`,
/// `79160000001`): its digits, with a leading trunk `8` of an 11-digit number as `7`. `None`
/// for fewer than 6 or more than 15 digits (E.164's maximum).
pub fn phone_key(s: &str) -> Option<String> {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    if !(6..=15).contains(&digits.len()) {
        return None;
    }
    if digits.len() == 11
        && let Some(rest) = digits.strip_prefix('8')
    {
        return Some(format!("7{rest}"));
    }
    Some(digits)
}

/// Whether the conversation's contact has one of these keys (its phone, or its JID's number).
pub fn matches(conversation: &Conversation, keys: &[String]) -> bool {
    let contact = &conversation.contact;
    let jid_number =
        contact.jid.split_once('@').map(|(user, _)| user.split(':').next().unwrap_or(user));
    [contact.phone.as_deref(), jid_number]
        .into_iter()
        .flatten()
        .filter_map(phone_key)
        .any(|k| keys.contains(&k))
}

/// The distinct keys of `phones` (unusable numbers dropped).
pub fn keys(phones: &[String]) -> Vec<String> {
    let mut keys: Vec<String> = phones.iter().filter_map(|p| phone_key(p)).collect();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenancy::Contact;

    fn conv(jid: &str, phone: Option<&str>) -> Conversation {
        Conversation {
            id: 1,
            line_id: 1,
            contact: Contact {
                id: 1,
                line_id: 1,
                jid: jid.to_owned(),
                phone: phone.map(str::to_owned),
                push_name: None,
            },
            unread: 0,
            last_message_id: None,
            last_message_at: None,
        }
    }

    #[test]
    fn numbers_written_differently_have_one_key() {
        for s in ["+7 (916) 000-00-01", "8 916 000 00 01", "79160000001", "+79160000001"] {
            assert_eq!(phone_key(s).as_deref(), Some("79160000001"), "{s}");
        }
        assert_eq!(phone_key("+49 30 1234567").as_deref(), Some("49301234567"));
        for bad in ["", "12345", "call me", "1234567890123456"] {
            assert_eq!(phone_key(bad), None, "{bad}");
        }
        assert_eq!(
            keys(&["8 916 000-00-01".into(), "+79160000001".into(), "x".into()]),
            vec!["79160000001"]
        );
    }

    #[test]
    fn a_conversation_matches_by_phone_or_by_its_jids_number() {
        let keys = keys(&["+7 916 000-00-01".into()]);
        assert!(matches(&conv("79160000001@s.whatsapp.net", None), &keys));
        assert!(matches(&conv("79160000001:3@s.whatsapp.net", None), &keys));
        assert!(matches(&conv("1234@lid", Some("+7 916 000 00 01")), &keys));
        assert!(!matches(&conv("79160000002@s.whatsapp.net", Some("79160000002")), &keys));
        assert!(!matches(&conv("79160000001@s.whatsapp.net", None), &[]));
    }
}
