//! wab24, the reference server: WhatsApp lines inside Bitrix24.
//!
//! - [`runtime`]: one task per line running a wa-session `Client` over the tenant's store,
//!   inbound messages committed before they are acked, the outbox sent, statuses published.
//! - [`voice`]: browser voice recordings (webm/opus) remuxed into WhatsApp voice notes (Ogg Opus).
#![forbid(unsafe_code)]

pub mod runtime;
pub mod voice;

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
