//! Bitrix24 Open Channels: wab24 as an `imconnector`. [`format`]: message text between
//! Bitrix24's BB-code and WhatsApp's markup.

pub mod format;
