//! Protobuf types generated from `proto/*.proto` by the build script.

#![allow(missing_docs, unreachable_pub, clippy::all)]

/// Signal message bodies on the wire.
pub(crate) mod wire {
    include!(concat!(env!("OUT_DIR"), "/wire.rs"));
}

/// Our storage records.
pub(crate) mod record {
    include!(concat!(env!("OUT_DIR"), "/record.rs"));
}
