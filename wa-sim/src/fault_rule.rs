//! The fault rules the control API sets: plain data kept in the simulator's state.

use serde::{Deserialize, Serialize};

use crate::target::Target;

/// Added latency, in milliseconds, on frames of the connections a rule covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    /// Delay before each frame the simulator sends goes on the wire.
    #[serde(default)]
    pub send_ms: u64,
    /// Delay before each frame the simulator receives is handled.
    #[serde(default)]
    pub receive_ms: u64,
}

/// What a fault rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FaultKind {
    /// Every frame is delayed; frames keep their order.
    Latency(Latency),
    /// The next `remaining` stanzas the simulator sends are silently dropped (before encryption,
    /// so the Noise counter stays in step and the stanza after them arrives).
    Drop {
        /// Stanzas still to drop; the rule ends at zero.
        remaining: u32,
    },
}

/// A fault rule in force, with the connections it covers (as [`Target`]: no phone = every
/// connection, including unpaired ones).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultRule {
    /// Only connections logged in to this account.
    pub phone: Option<String>,
    /// Only this device of the account.
    pub device: Option<u16>,
    /// What it does.
    #[serde(flatten)]
    pub kind: FaultKind,
}

impl FaultRule {
    /// The connections the rule covers.
    pub(crate) fn target(&self) -> Target {
        Target { phone: self.phone.clone(), device: self.device }
    }

    /// Device rules beat account rules, which beat rules for every connection.
    pub(crate) fn specificity(&self) -> u8 {
        u8::from(self.phone.is_some()) + u8::from(self.device.is_some())
    }
}
