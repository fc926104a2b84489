//! The stream errors the control API can inject.

use serde::Serialize;
use wa_proto::Node;

/// A stream error the control API can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StreamError {
    /// `<stream:error code="515"/>`: restart required.
    RestartRequired,
    /// `<stream:error code="503"/>`: service unavailable, reconnect.
    Unavailable,
    /// `<stream:error><conflict type="replaced"/></stream:error>`: another connection took over.
    Replaced,
    /// `<stream:error code="401"><conflict type="device_removed"/></stream:error>`: logged out.
    DeviceRemoved,
}

impl StreamError {
    /// The node sent to the client.
    #[must_use]
    pub fn node(self) -> Node {
        match self {
            Self::RestartRequired => Node::builder("stream:error").attr("code", "515").build(),
            Self::Unavailable => Node::builder("stream:error").attr("code", "503").build(),
            Self::Replaced => Node::builder("stream:error")
                .children([Node::builder("conflict").attr("type", "replaced").build()])
                .build(),
            Self::DeviceRemoved => Node::builder("stream:error")
                .attr("code", "401")
                .children([Node::builder("conflict").attr("type", "device_removed").build()])
                .build(),
        }
    }

    /// Parses `515`, `503`, `replaced`, `device_removed`.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "515" | "restart_required" => Some(Self::RestartRequired),
            "503" | "unavailable" => Some(Self::Unavailable),
            "replaced" | "conflict" | "440" => Some(Self::Replaced),
            "device_removed" | "401" => Some(Self::DeviceRemoved),
            _ => None,
        }
    }
}
