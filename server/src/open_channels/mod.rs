//! Bitrix24 Open Channels: wab24 as an `imconnector`. [`format`]: message text between
//! Bitrix24's BB-code and WhatsApp's markup; [`operator`]: what operators do in an Open Line,
//! sent to WhatsApp; [`download`]: the files they attach, fetched from the portal.

pub mod download;
pub mod format;
pub mod operator;

/// Our connector's id in Bitrix24 (`imconnector.register` `ID`: lower-case letters, digits and
/// `_`, no dot).
pub const CONNECTOR_ID: &str = "wab24_whatsapp";
