//! A shared contact card (`contactMessage`, one of a `contactsArrayMessage`): its name and the
//! phone numbers read from its vCard, for a person to read.

/// At most this many phone numbers are read from one card.
pub const MAX_PHONE_NUMBERS: usize = 10;
/// At most this many lines of a vCard are looked at.
const MAX_VCARD_LINES: usize = 200;
/// A phone number longer than this (in characters) is not one.
const MAX_PHONE_CHARS: usize = 32;

/// A contact card, borrowed from the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactCard<'a> {
    /// The name the sender's app shows for it.
    pub display_name: Option<&'a str>,
    /// The card itself (vCard 3.0 text).
    pub vcard: Option<&'a str>,
}

impl ContactCard<'_> {
    /// The phone numbers in the vCard's `TEL` lines, in order, at most [`MAX_PHONE_NUMBERS`].
    #[must_use]
    pub fn phone_numbers(&self) -> Vec<String> {
        self.vcard.map(phone_numbers).unwrap_or_default()
    }

    /// What a person reads: the name, then one phone number per line.
    #[must_use]
    pub fn text(&self) -> String {
        let name = self.display_name.map(str::trim).filter(|n| !n.is_empty());
        name.map(str::to_owned)
            .into_iter()
            .chain(self.phone_numbers())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The phone numbers of a vCard: the values of its `TEL` properties (`TEL;type=CELL;waid=…:+1 555…`,
/// with or without a group prefix such as `item1.`, `tel:` URIs too), cleaned to digits and
/// `+ -()`, each with at least one digit.
fn phone_numbers(vcard: &str) -> Vec<String> {
    vcard
        .lines()
        .take(MAX_VCARD_LINES)
        .filter_map(|line| {
            let (property, value) = line.split_once(':')?;
            let name = property.split(';').next()?;
            let name = name.rsplit('.').next()?;
            if !name.trim().eq_ignore_ascii_case("TEL") {
                return None;
            }
            let value = value.trim();
            let value = value.strip_prefix("tel:").unwrap_or(value);
            let number: String = value
                .chars()
                .filter(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')'))
                .collect();
            let number = number.trim();
            (number.chars().any(|c| c.is_ascii_digit())
                && number.chars().count() <= MAX_PHONE_CHARS)
                .then(|| number.to_owned())
        })
        .take(MAX_PHONE_NUMBERS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The card WhatsApp sends (vCard 3.0 with the `waid` parameter), as whatsmeow and Baileys
    // users see it.
    const VCARD: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Silva;Ana;;;\r\nFN:Ana Silva\r\n\
        item1.TEL;waid=5511987654321:+55 11 98765-4321\r\nitem1.X-ABLabel:Mobile\r\n\
        TEL;type=WORK:tel:+1 (555) 010-0199\r\nNOTE:call: after 5\r\nEND:VCARD";

    #[test]
    fn phone_numbers_come_from_tel_lines_only() {
        let card = ContactCard { display_name: Some("Ana Silva"), vcard: Some(VCARD) };
        assert_eq!(card.phone_numbers(), ["+55 11 98765-4321", "+1 (555) 010-0199"]);
        assert_eq!(card.text(), "Ana Silva\n+55 11 98765-4321\n+1 (555) 010-0199");
    }

    #[test]
    fn odd_cards_give_what_they_can_and_no_more() {
        let nameless =
            ContactCard { display_name: Some("  "), vcard: Some("TEL:+7 900\nTEL:none") };
        assert_eq!(nameless.text(), "+7 900");
        assert_eq!(ContactCard { display_name: None, vcard: None }.text(), "");
        let many = "TEL:1\n".repeat(50);
        assert_eq!(phone_numbers(&many).len(), MAX_PHONE_NUMBERS);
        let long = format!("TEL:{}", "1".repeat(MAX_PHONE_CHARS + 1));
        assert!(phone_numbers(&long).is_empty());
        // Lines past the bound are not read.
        let late = format!("{}TEL:+1 555\n", "X:y\n".repeat(MAX_VCARD_LINES));
        assert!(phone_numbers(&late).is_empty());
        assert!(phone_numbers("TEL\u{0}:\u{202E}").is_empty());
    }
}
