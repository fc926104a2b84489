#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod connectors;
mod contact_center;
mod control;
mod crm;
mod crm_shell;
mod crm_stages;
mod error;
mod faults;
mod files;
mod messageservice;
mod oauth;
mod outbound;
mod placements;
mod portal;
mod reply;
mod rest;
mod router;
mod shell;
mod sim;
mod state;
mod users;

pub use config::SimConfig;
pub use contact_center::{
    CrmBindings, Dialog, MessageAuthor, OpenLineCustomer, OpenLineMessage, OpenLineSession, Posted,
};
pub use error::{Error, Result};
pub use faults::{Fault, FaultAction};
pub use messageservice::SentSms;
pub use outbound::{EventOptions, OutFile};
pub use portal::PortalSpec;
pub use sim::Sim;
pub use state::{Delivery, RecordedCall};
