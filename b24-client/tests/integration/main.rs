//! b24-client against b24-sim, one binary.

mod support;

mod batch_lists;
mod calls;
mod faults;
mod inbound;
mod limits;
mod oauth;
