#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod clock;
mod crypto;
mod db;
mod error;
mod model;
mod record_cache;
mod signal;
mod store;
mod tenant;

pub use audit;
pub use clock::{Clock, ManualClock, SystemClock, now};
pub use crypto::{MasterKey, OsRandom, Random};
pub use error::{Error, Result};
pub use model::{
    AccessList, B24Enqueue, B24MessageLink, B24OutboxItem, B24OutboxKind, B24OutboxState,
    CRM_ORIGINATOR, Caller, Contact, Conversation, ConversationId, CrmLink, CrmMode, CrmPolicy,
    CrmResponsible, CrmSourceOfTruth, Department, DepartmentId, Direction, DirectoryUser,
    HistoryPage, Inbound, Install, Line, LineId, LineSettings, LineStatus, MAX_INBOUND_TEXT,
    MAX_OUTBOUND_TEXT, MAX_PAGE, Media, Message, MessageHit, MessageId, MessageKind, MessageNote,
    MessageStatus, OpenChannel, OpenChannelStatus, OpenLineChange, Outbound, OutboxItem,
    OutboxKind, PortalTokens, PortalUser, ReadOutcome, Recorded, ResponsibleMode,
    ReturningClosedDeal, Standing, StatusChange, TenantInfo, TenantStatus, User, UserId, WaAmended,
    WaAmendment, WaChange, b24_backoff, crm_day, crm_origin_id,
};
pub use signal::LineSignalStore;
pub use store::{Cleanup, SealedLog, Store};
pub use tenant::{ColdOutreach, ColdSend, MAX_COLD_LISTED, MAX_SMS_ID, START_REFUSED, Tenant};
pub use wa_session;
