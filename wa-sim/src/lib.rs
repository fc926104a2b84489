#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod clock;
mod conn;
mod control;
pub mod display;
mod error;
mod iq;
mod media;
mod qr;
mod route;
mod sim;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, Result};
pub use qr::{QR_URL_PREFIX, QrCode};
pub use sim::{
    AccountInfo, Counters, DeviceInfo, PAIRING_TIMEOUT, PairedDevice, Sim, SimConfig, StreamError,
    Target,
};
