//! CRM routing: what a line's conversations create and show in Bitrix24's CRM.
//!
//! - [`route`]: a new conversation's routing (an outbox item of kind `crm_route`): the client
//!   found by phone, then a contact, lead or deal created as the line's policy says, each once
//!   (`originatorId`/`originId` name the conversation, so a retry finds what an earlier attempt
//!   made).
//! - [`timeline`]: one entry per conversation day in the contact's, lead's or deal's timeline
//!   (kind `crm_timeline`), with a link to the chat and the day's files as signed links.
//! - [`pipelines`]: the deal pipelines and stages the policy form offers.
//! - [`phone`]: our normalisation of a customer's number for `crm.duplicate.findbycomm`.

pub mod phone;
pub mod pipelines;
pub mod route;
pub mod timeline;

/// CRM entity types (`entityTypeId`).
pub mod entity {
    /// A lead.
    pub const LEAD: u32 = 1;
    /// A deal.
    pub const DEAL: u32 = 2;
    /// A contact.
    pub const CONTACT: u32 = 3;
}
