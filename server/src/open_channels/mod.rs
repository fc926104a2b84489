//! Bitrix24 Open Channels: wab24 as an `imconnector`.
//!
//! - [`connector`]: its id, name, icon, settings page and events; [`registration`]:
//!   `imconnector.register` and `event.bind` on install and at start.
//! - [`worker`]: the outbox towards Bitrix24 sent with the portal's limits and backoff;
//!   [`customer_message`]: a stored WhatsApp message as `imconnector.send.messages` wants it;
//!   [`files`]: the signed links Bitrix24 fetches files from; [`line_state`]: activation,
//!   channel data and status following the line's setting and WhatsApp state; [`recovery`]:
//!   whether a retried message already reached Bitrix24.
//! - [`operator`]: what operators do in an Open Line (connector events), sent to WhatsApp once
//!   [`confirm`] has the portal confirm it ([`pending_event`]: what waits meanwhile);
//!   [`download`]: the files they attach, fetched from the portal.
//! - [`format`]: message text between Bitrix24's BB-code and WhatsApp's markup.

pub mod confirm;
pub mod connector;
pub mod customer_message;
pub mod download;
pub mod files;
pub mod format;
pub mod line_state;
pub mod operator;
pub mod pending_event;
pub mod recovery;
pub mod registration;
pub mod sms_senders;
pub(crate) mod store_error;
pub mod worker;

pub use connector::CONNECTOR_ID;
