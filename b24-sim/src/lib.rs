#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod faults;
mod outbound;
mod portal;
mod shell;
mod sim;

pub use error::{Error, Result};
pub use faults::{Fault, FaultAction};
pub use outbound::{EventOptions, OutFile};
pub use portal::PortalSpec;
pub use sim::{Delivery, RecordedCall, Sim, SimConfig};
