//! A customer's number as we give it to the CRM: E.164 with its `+` (`+5511900000501`), from
//! the number WhatsApp gave or the JID. Bitrix24 compares numbers by their digits
//! (`crm.duplicate.findbycomm`, RD `crm/duplicates/crm-duplicate-find-by-comm.md`), so a client
//! stored as `+7 (999) 123-45-67` is found by `+79991234567`.

use tenancy::Conversation;

use crate::open_channels::customer_message::customer_number;

/// The customer's number in E.164 (`None` when the conversation has no digits to go by).
pub fn e164(conversation: &Conversation) -> Option<String> {
    let digits = customer_number(conversation);
    (!digits.is_empty() && digits.len() <= 15).then(|| format!("+{digits}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn conversation(jid: &str, phone: Option<&str>) -> Conversation {
        Conversation {
            id: 1,
            line_id: 1,
            contact: tenancy::Contact {
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
    fn numbers_become_e164() {
        assert_eq!(
            e164(&conversation("x@s.whatsapp.net", Some("5511900000501"))).unwrap(),
            "+5511900000501"
        );
        assert_eq!(
            e164(&conversation("79991234567@s.whatsapp.net", None)).unwrap(),
            "+79991234567"
        );
        assert_eq!(
            e164(&conversation("79991234567:3@s.whatsapp.net", None)).unwrap(),
            "+79991234567"
        );
        assert!(e164(&conversation("group@g.us", None)).is_none());
        assert!(e164(&conversation("1234567890123456@s.whatsapp.net", None)).is_none());
    }
}
