//! Voice notes: a browser's MediaRecorder gives webm/opus (EBML/Matroska, SimpleBlocks in
//! Clusters, codec `A_OPUS` with an `OpusHead` as CodecPrivate); WhatsApp plays voice notes as
//! Ogg Opus. [`webm_to_ogg_opus`] remuxes one into the other in pure Rust (no decoding, no
//! ffmpeg): the same Opus packets, in Ogg pages with granule positions from each packet's table
//! of contents (RFC 7845), and the duration.
//!
//! The other direction needs nothing: incoming voice notes are Ogg Opus, which Chromium and
//! Firefox play as they are.

mod ebml;
mod error;
mod ogg;
mod ogg_crc;
mod opus;
mod webm;

use std::time::Duration;

pub use error::VoiceError;
pub use ogg::{
    FLAG_BOS, FLAG_CONTINUED, FLAG_EOS, NO_GRANULE, OggPage, OggWriter, packets, read_pages,
};
pub use ogg_crc::ogg_crc;
pub use opus::{OpusHead, SAMPLE_RATE, opus_tags, packet_samples};
pub use webm::Limits;

/// The vendor string written in `OpusTags`.
pub const VENDOR: &str = "wab24";

/// What [`webm_to_ogg_opus`] takes besides the recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RemuxOptions {
    /// The Ogg stream's serial number (any value; pass a random one).
    pub serial: u32,
    /// Bounds on the input.
    pub limits: Limits,
}

/// A remuxed voice note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceNote {
    /// The Ogg Opus file (`audio/ogg; codecs=opus`).
    pub ogg: Vec<u8>,
    /// How long it plays: the last granule position minus the pre-skip, at 48 kHz.
    pub duration: Duration,
    /// How many Opus packets it holds.
    pub packets: usize,
}

impl VoiceNote {
    /// The duration in whole seconds as WhatsApp's `seconds` field wants it (rounded to the
    /// nearest, at least 1).
    #[must_use]
    pub fn seconds(&self) -> u32 {
        let ms = self.duration.as_millis();
        u32::try_from(ms.saturating_add(500) / 1000).unwrap_or(u32::MAX).max(1)
    }
}

/// Remuxes a webm/opus recording into Ogg Opus.
///
/// The `OpusHead` is the track's CodecPrivate (its pre-skip filled from `CodecDelay` when it is
/// zero and the track has one); `OpusTags` names [`VENDOR`]; audio pages close after 50 packets,
/// 4 KiB or 255 segments, their granule being the 48 kHz sample count at the end of the last packet
/// completed on them; the last page carries the end-of-stream flag, and a `DiscardPadding` on
/// the last block trims the final granule.
///
/// # Errors
///
/// A [`VoiceError`] for every malformed or unsupported input: too large, truncated, bad EBML
/// integers, sizes beyond the parent, unknown sizes where none is allowed, too deep, not webm,
/// no Opus track, a bad `OpusHead`, laced blocks, bad Opus packets, no audio, too many packets.
pub fn webm_to_ogg_opus(input: &[u8], options: &RemuxOptions) -> Result<VoiceNote, VoiceError> {
    let webm = webm::read(input, options.limits)?;
    let head = OpusHead::parse(webm.codec_private)?;
    let mut head_packet = webm.codec_private.to_vec();
    let mut pre_skip = u64::from(head.pre_skip);
    if pre_skip == 0
        && let Some(delay) = webm.codec_delay_ns
    {
        let samples = delay.saturating_mul(SAMPLE_RATE) / 1_000_000_000;
        if let Ok(samples) = u16::try_from(samples) {
            head_packet[10..12].copy_from_slice(&samples.to_le_bytes());
            pre_skip = u64::from(samples);
        }
    }

    let mut writer = OggWriter::new(options.serial);
    writer.header_page(&head_packet, true);
    writer.header_page(&opus_tags(VENDOR), false);
    let mut granule: u64 = 0;
    let last = webm.blocks.len() - 1;
    for (index, block) in webm.blocks.iter().enumerate() {
        let samples = packet_samples(block.data)?;
        granule += samples;
        let mut end = granule;
        if index == last && block.discard_padding_ns > 0 {
            let padding = u64::try_from(block.discard_padding_ns).unwrap_or(0);
            let trim = (padding.saturating_mul(SAMPLE_RATE) / 1_000_000_000).min(samples);
            end = granule - trim;
        }
        writer.audio_packet(block.data, end);
        if index == last {
            granule = end;
        }
    }
    let ogg = writer.finish();
    let played = granule.saturating_sub(pre_skip);
    let duration = Duration::from_nanos(played.saturating_mul(1_000_000_000) / SAMPLE_RATE);
    Ok(VoiceNote { ogg, duration, packets: webm.blocks.len() })
}

/// How long an Ogg Opus file plays: its last granule position minus the `OpusHead` pre-skip,
/// at 48 kHz (for voice notes to send, and for incoming ones).
///
/// # Errors
///
/// The errors of [`read_pages`], and [`VoiceError::BadOpusHead`] if the first page is not an
/// `OpusHead`.
pub fn ogg_opus_duration(ogg: &[u8]) -> Result<Duration, VoiceError> {
    let pages = read_pages(ogg)?;
    let first = pages.first().ok_or(VoiceError::Empty)?;
    let head = OpusHead::parse(&first.body)?;
    let last = pages
        .iter()
        .rev()
        .map(|p| p.granule)
        .find(|&g| g != NO_GRANULE)
        .ok_or(VoiceError::Empty)?;
    let played = last.saturating_sub(u64::from(head.pre_skip));
    Ok(Duration::from_nanos(played.saturating_mul(1_000_000_000) / SAMPLE_RATE))
}
