//! The "WhatsApp" tab in Bitrix24's CRM cards (contact, company, lead, deal): the placements
//! bound at install and at start ([`placements`]), the card's phone numbers read from the
//! portal ([`phones`]) and the conversations they match ([`matching`]). The page itself is
//! [`crate::http::crm_tab`].

pub mod matching;
pub mod phones;
pub mod placements;
