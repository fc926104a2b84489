#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The modules stand in floors (see "Inside" in the README): a module imports only modules of
// its own floor or below, never one that imports it.

// Ground floor: helpers and plain data.
mod config;
pub mod display;
mod error;
mod fault_rule;
mod media_store;
mod phone_store;
mod qr;
mod report;
mod state;
mod stream_error;
mod target;
mod tls;

// The handle.
mod sim;

// The work, and the calls it adds to the handle.
pub mod companion;
mod conn;
mod control;
mod fault;
mod iq;
mod listen;
mod media;
mod persist;
mod phone;
mod route;

pub use config::{STREAM_CLOSE_DELAY, SimConfig};
pub use error::{Error, Result};
pub use fault_rule::{FaultKind, FaultRule, Latency};
pub use iq::LOW_PREKEYS;
pub use persist::STATE_VERSION;
pub use phone::{MediaKind, PhoneContent, PhoneMessage, Quoted};
pub use phone_store::{PhoneReceipt, PhoneReceived};
pub use qr::{QR_URL_PREFIX, QrCode};
pub use report::{AccountInfo, Counters, DeviceInfo, PairedDevice, RoutedMessage};
pub use sim::{PAIRING_TIMEOUT, Sim};
pub use state::MAX_COMPANIONS;
pub use stream_error::StreamError;
pub use target::Target;
pub use wab24_clock::{Clock, ManualClock, SystemClock};
