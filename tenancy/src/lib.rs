#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod crypto;
mod db;
mod error;
mod model;
mod record_cache;
mod signal;
mod store;
mod tenant;

pub use audit;
pub use crypto::{MasterKey, OsRandom, Random};
pub use error::{Error, Result};
pub use model::{
    Caller, Contact, Conversation, ConversationId, Direction, HistoryPage, Inbound, Install, Line,
    LineId, LineStatus, MAX_PAGE, Media, Message, MessageId, MessageKind, MessageStatus, Outbound,
    OutboxItem, PortalTokens, Recorded, StatusChange, TenantInfo, TenantStatus, User, UserId,
};
pub use signal::{Clock, LineSignalStore};
pub use store::{Cleanup, SealedLog, Store};
pub use tenant::Tenant;
pub use wa_session;
