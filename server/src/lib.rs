//! wab24, the reference server: WhatsApp lines inside Bitrix24.
//!
//! - [`config`]: `wab24.toml` and `WAB24_*` variables; [`cli`]: the command line; [`serve`]:
//!   start-up; [`demo`]: the server with an embedded simulated Bitrix24 portal.
//! - [`http`]: the Bitrix24 app endpoints (install, frame, events), the JSON API, SSE,
//!   `/api/openapi.json` and `/metrics`, on warp; [`state`]: what handlers share and the
//!   authentication of API calls; [`session`]: the session tokens (JWT, HS256);
//!   [`media_link`]: signed, expiring links to a message's file.
//! - [`audit_check`]: the audit chains verified at start and on demand.
//! - [`events`]: the typed server events and their bus; [`wire`]: the JSON shapes of a line and a
//!   message that the API and the events share; [`metrics`]: counters; [`error`]: the API error.
//! - [`runtime`]: one task per line running a wa-session `Client` over the tenant's store,
//!   inbound messages committed before they are acked, the outbox sent, statuses published.
//! - [`voice`]: browser voice recordings (webm/opus) remuxed into WhatsApp voice notes (Ogg Opus).
//! - [`open_channels`]: wab24 as a Bitrix24 Open Channels connector.
//! - [`crm_tab`]: the "WhatsApp" tab in Bitrix24's CRM cards.
#![forbid(unsafe_code)]

pub mod audit_check;
pub mod cli;
pub mod config;
pub mod crm;
pub mod crm_tab;
pub mod demo;
pub mod error;
pub mod events;
pub mod http;
pub mod media_link;
pub mod metrics;
pub mod open_channels;
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

    /// Converts arbitrary text both ways between Bitrix24 BB-code and WhatsApp markup and
    /// splits a signature: no panic; outputs at most 8 times the (capped) input; plain text
    /// (letters, digits, spaces, new lines) passes unchanged both ways; WhatsApp markup without
    /// brackets, entities, quotes, code or dashes comes back the same from BB-code.
    pub fn bbcode(data: &[u8]) {
        use crate::open_channels::format::{
            MAX_TEXT, bbcode_to_whatsapp, operator_text, split_signature, whatsapp_to_bbcode,
        };
        let text = String::from_utf8_lossy(data);
        let bound = 8 * text.len().min(MAX_TEXT) + 64;
        let wa = bbcode_to_whatsapp(&text);
        let bb = whatsapp_to_bbcode(&text);
        assert!(wa.len() <= bound, "BB-code to WhatsApp grew to {}", wa.len());
        assert!(bb.len() <= bound, "WhatsApp to BB-code grew to {}", bb.len());
        for keep in [true, false] {
            assert!(operator_text(&text, keep).len() <= bound);
        }
        let signed = split_signature(&text);
        assert!(text.ends_with(signed.body));
        if text.len() > MAX_TEXT {
            return;
        }
        if text.chars().all(|c| c.is_alphanumeric() || c == ' ' || c == '\n') {
            assert_eq!(wa, text, "plain text changed on its way to WhatsApp");
            assert_eq!(bb, text, "plain text changed on its way to Bitrix24");
        }
        if !text.contains(['[', ']', '&', '>', '`', '-']) {
            assert_eq!(bbcode_to_whatsapp(&bb), text, "WhatsApp markup lost in BB-code: {bb:?}");
        }
    }
}
