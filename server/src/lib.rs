//! wab24, the reference server: WhatsApp lines inside Bitrix24.
//!
//! - [`config`]: `wab24.toml` and `WAB24_*` variables; [`cli`]: the command line; [`serve`]:
//!   start-up; [`demo`]: the server with an embedded simulated Bitrix24 portal.
//! - [`http`]: the Bitrix24 app endpoints (install, frame, events), the JSON API, SSE,
//!   `/api/openapi.json` and `/metrics`, on warp; [`state`]: what handlers share and the
//!   authentication of API calls; [`session`]: the session tokens (JWT, HS256).
//! - [`audit_check`]: the audit chains verified at start and on demand.
//! - [`events`]: the typed server events and their bus; [`wire`]: the JSON shapes of a line and a
//!   message that the API and the events share; [`metrics`]: counters; [`error`]: the API error.
//! - [`runtime`]: one task per line running a wa-session `Client` over the tenant's store,
//!   inbound messages committed before they are acked, the outbox sent, statuses published.
//! - [`voice`]: browser voice recordings (webm/opus) remuxed into WhatsApp voice notes (Ogg Opus).
#![forbid(unsafe_code)]

pub mod audit_check;
pub mod cli;
pub mod config;
pub mod demo;
pub mod error;
pub mod events;
pub mod http;
pub mod metrics;
pub mod runtime;
pub mod serve;
pub mod session;
pub mod state;
pub mod voice;
pub mod wire;

/// Harnesses shared by the fuzz targets (`fuzz/fuzz_targets/`) and the seed-replay test.
#[doc(hidden)]
pub mod fuzzing {
    use crate::voice::{self, RemuxOptions};

    /// Remuxes arbitrary bytes as a webm recording; whatever comes out must read back as Ogg
    /// pages with valid checksums, BOS first, EOS last, and the same number of audio packets.
    pub fn webm_to_ogg(data: &[u8]) {
        let Ok(note) = voice::webm_to_ogg_opus(data, &RemuxOptions::default()) else { return };
        let pages = voice::read_pages(&note.ogg).unwrap_or_default();
        assert!(pages.len() >= 3, "head, tags and audio pages");
        assert_eq!(pages[0].flags & voice::FLAG_BOS, voice::FLAG_BOS);
        assert_eq!(pages.last().map(|p| p.flags & voice::FLAG_EOS), Some(voice::FLAG_EOS));
        let packets = voice::packets(&pages).unwrap_or_default();
        assert_eq!(packets.len(), note.packets + 2);
    }
}
