//! The simulator's data model: portals and their domains, issued tokens and codes, fault rules,
//! and the record of calls and deliveries. Plain data behind one lock; the router's modules read
//! and write it.

use std::collections::{BTreeMap, HashMap};

use b24_client::Secret;
use serde::Serialize;
use serde_json::Value;

use crate::{faults::Fault, portal::Portal};

/// One call the simulator received.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedCall {
    /// The portal, when known.
    pub member_id: Option<String>,
    /// The method (`oauth/token` for the token endpoint, `oauth/app.info` for the OAuth server).
    pub method: String,
    /// The parameters, without `auth`.
    pub params: Value,
    /// The token sent.
    #[serde(skip)]
    pub auth: Option<Secret>,
    /// The HTTP status answered.
    pub status: u16,
    /// The error code answered, if any.
    pub error: Option<String>,
    /// True for a command inside a `batch`.
    pub in_batch: bool,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
}

/// One delivery to the application (frame, install callback, event).
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// What was delivered (`FRAME`, `INSTALL_CALLBACK` or the event name).
    pub what: String,
    /// Where.
    pub url: String,
    /// The application's HTTP status (0 when it did not answer).
    pub status: u16,
    /// The application's answer.
    pub body: String,
    /// Milliseconds the application took.
    pub latency_ms: u64,
}

/// What a token or an authorization code grants: a user of a portal, until a time.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) member_id: String,
    pub(crate) user_id: u64,
    pub(crate) expires_at: i64,
}

/// Everything the simulator knows, behind the one lock of [`crate::Sim`].
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) portals: BTreeMap<String, Portal>,
    pub(crate) domains: HashMap<String, String>,
    pub(crate) renamed: HashMap<String, String>,
    pub(crate) access: HashMap<String, Grant>,
    pub(crate) refresh: HashMap<String, Grant>,
    pub(crate) codes: HashMap<String, Grant>,
    pub(crate) faults: Vec<Fault>,
    pub(crate) calls: Vec<RecordedCall>,
    pub(crate) deliveries: Vec<Delivery>,
    pub(crate) files: HashMap<String, crate::files::HostedFile>,
    counter: u64,
}

impl State {
    /// A new unique token, prefixed with `kind`.
    pub(crate) fn token(&mut self, kind: &str) -> String {
        self.counter += 1;
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ self.counter;
        for b in kind.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        format!("{kind}{:016x}{:08x}", h, self.counter)
    }
}
