#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod companion;
mod conn;
mod control;
pub mod display;
mod error;
mod fault;
mod iq;
mod media;
mod persist;
mod phone;
mod qr;
mod route;
mod sim;
mod tls;

pub use error::{Error, Result};
pub use fault::{FaultKind, FaultRule, Latency};
pub use iq::LOW_PREKEYS;
pub use persist::STATE_VERSION;
pub use phone::{MediaKind, PhoneContent, PhoneMessage, PhoneReceipt, PhoneReceived, Quoted};
pub use qr::{QR_URL_PREFIX, QrCode};
pub use sim::{
    AccountInfo, Counters, DeviceInfo, MAX_COMPANIONS, PAIRING_TIMEOUT, PairedDevice,
    RoutedMessage, STREAM_CLOSE_DELAY, Sim, SimConfig, StreamError, Target,
};
pub use wab24_clock::{Clock, ManualClock, SystemClock};
