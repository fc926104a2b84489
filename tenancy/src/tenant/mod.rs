//! One tenant's data, scoped by the caller. Every method is one transaction.
//!
//! The [`Tenant`] handle is defined here; its methods live in one file per section (users,
//! lines, conversations, messages, search, outbox, device store, audit), over the shared row
//! decoders (`rows`) and the caller's scope (`access`).

mod access;
mod amend;
mod audit_log;
mod connector_events;
mod conversations;
mod crm;
mod device_store;
mod directory;
mod lines;
mod messages;
mod open_channels;
mod operator_ticks;
mod outbox;
mod outreach;
mod responsible;
mod rows;
mod search;
mod sms;
mod users;

use std::sync::Arc;

use crate::{
    Result,
    crypto::{Random, TenantKey},
    db::{Db, Tx},
};

pub(crate) use device_store::device_delete;
pub use outreach::{ColdOutreach, ColdSend, MAX_COLD_LISTED, START_REFUSED};
pub use sms::MAX_SMS_ID;

/// A handle on one tenant's file or schema. It cannot name another tenant's data: every query runs
/// against the storage it was opened on. Cheap to clone.
#[derive(Clone)]
pub struct Tenant {
    member_id: Arc<str>,
    db: Db,
    key: Arc<TenantKey>,
    /// Keys this tenant's audit chain (derived from `key`).
    audit_key: Arc<audit::ChainKey>,
    random: Arc<dyn Random>,
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant")
            .field("member_id", &self.member_id)
            .field("backend", &self.db.backend())
            .finish_non_exhaustive()
    }
}

impl Tenant {
    pub(crate) fn new(
        member_id: String,
        db: Db,
        key: TenantKey,
        random: Arc<dyn Random>,
    ) -> Result<Tenant> {
        let audit_key = Arc::new(key.audit_chain_key()?);
        Ok(Tenant { member_id: member_id.into(), db, key: Arc::new(key), audit_key, random })
    }

    /// The portal's member_id.
    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    async fn write(&self) -> Result<Tx> {
        self.db.write().await
    }

    async fn read(&self) -> Result<Tx> {
        self.db.read().await
    }

    /// Which database this tenant lives in.
    pub fn backend(&self) -> audit::Backend {
        self.db.backend()
    }
}
