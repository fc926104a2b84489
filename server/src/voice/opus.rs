//! The parts of Opus a remuxer needs: the `OpusHead` identification header (RFC 7845 section
//! 5.1) and the duration of a packet from its table of contents (RFC 6716 section 3.1).

use super::VoiceError;

/// Opus always runs at 48 kHz in Ogg granule positions.
pub const SAMPLE_RATE: u64 = 48_000;

/// The longest packet Opus allows: 120 ms.
const MAX_PACKET_SAMPLES: u64 = 5_760;

/// The fields of an `OpusHead` packet that the remuxer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusHead {
    /// Output channels (1 or 2 for a voice note; up to 255 with a mapping table).
    pub channels: u8,
    /// Samples at 48 kHz to discard from the start of the decoded stream.
    pub pre_skip: u16,
    /// The sample rate of the original input (informational).
    pub input_sample_rate: u32,
}

impl OpusHead {
    /// Parses and checks an `OpusHead` packet (magic, version 1, channel mapping).
    ///
    /// # Errors
    ///
    /// [`VoiceError::BadOpusHead`] naming what is wrong.
    pub fn parse(packet: &[u8]) -> Result<OpusHead, VoiceError> {
        if packet.len() < 19 {
            return Err(VoiceError::BadOpusHead("shorter than 19 bytes"));
        }
        if &packet[..8] != b"OpusHead" {
            return Err(VoiceError::BadOpusHead("magic is not OpusHead"));
        }
        // The major version (upper four bits) must be 0; minor versions stay compatible.
        if packet[8] & 0xF0 != 0 {
            return Err(VoiceError::BadOpusHead("unsupported version"));
        }
        let channels = packet[9];
        if channels == 0 {
            return Err(VoiceError::BadOpusHead("zero channels"));
        }
        let pre_skip = u16::from_le_bytes([packet[10], packet[11]]);
        let input_sample_rate =
            u32::from_le_bytes([packet[12], packet[13], packet[14], packet[15]]);
        let family = packet[18];
        match family {
            0 if channels > 2 => {
                return Err(VoiceError::BadOpusHead("family 0 with over 2 channels"));
            }
            0 => {}
            _ => {
                // Stream count, coupled count and one mapping byte per channel.
                let need = 21 + usize::from(channels);
                if packet.len() < need {
                    return Err(VoiceError::BadOpusHead("channel mapping table truncated"));
                }
                if packet[19] == 0 || packet[20] > packet[19] {
                    return Err(VoiceError::BadOpusHead("bad stream counts"));
                }
            }
        }
        Ok(OpusHead { channels, pre_skip, input_sample_rate })
    }
}

/// The duration of one Opus packet in 48 kHz samples, from its TOC byte (and the frame count
/// byte of code 3 packets).
///
/// # Errors
///
/// [`VoiceError::BadOpusPacket`] for an empty packet, a code 3 packet without its count byte or
/// with zero frames, or more than 120 ms.
pub fn packet_samples(packet: &[u8]) -> Result<u64, VoiceError> {
    let toc = *packet.first().ok_or(VoiceError::BadOpusPacket("empty packet"))?;
    let config = toc >> 3;
    let frame: u64 = match config {
        // SILK only: 10, 20, 40, 60 ms.
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        // Hybrid: 10, 20 ms.
        12..=15 => [480, 960][usize::from(config % 2)],
        // CELT only: 2.5, 5, 10, 20 ms.
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames: u64 = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => {
            let count =
                packet.get(1).ok_or(VoiceError::BadOpusPacket("code 3 without frame count"))?;
            u64::from(count & 0x3F)
        }
    };
    if frames == 0 {
        return Err(VoiceError::BadOpusPacket("zero frames"));
    }
    let samples = frame * frames;
    if samples > MAX_PACKET_SAMPLES {
        return Err(VoiceError::BadOpusPacket("longer than 120 ms"));
    }
    Ok(samples)
}

/// An `OpusTags` packet with `vendor` and no comments (RFC 7845 section 5.2).
#[must_use]
pub fn opus_tags(vendor: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + vendor.len());
    out.extend_from_slice(b"OpusTags");
    out.extend_from_slice(&u32::try_from(vendor.len()).unwrap_or(0).to_le_bytes());
    if u32::try_from(vendor.len()).is_ok() {
        out.extend_from_slice(vendor.as_bytes());
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(channels: u8, pre_skip: u16, family: u8) -> Vec<u8> {
        let mut p = b"OpusHead".to_vec();
        p.push(1);
        p.push(channels);
        p.extend_from_slice(&pre_skip.to_le_bytes());
        p.extend_from_slice(&48_000u32.to_le_bytes());
        p.extend_from_slice(&0u16.to_le_bytes());
        p.push(family);
        p
    }

    #[test]
    fn parses_opus_head() {
        assert_eq!(
            OpusHead::parse(&head(1, 312, 0)),
            Ok(OpusHead { channels: 1, pre_skip: 312, input_sample_rate: 48_000 })
        );
        assert!(OpusHead::parse(&head(3, 312, 0)).is_err());
        assert!(OpusHead::parse(&head(0, 312, 0)).is_err());
        assert!(OpusHead::parse(&head(2, 312, 1)).is_err(), "family 1 needs its table");
        let mut with_table = head(2, 0, 1);
        with_table.extend_from_slice(&[1, 1, 0, 1]);
        assert!(OpusHead::parse(&with_table).is_ok());
        let mut bad_magic = head(1, 0, 0);
        bad_magic[0] = b'o';
        assert!(OpusHead::parse(&bad_magic).is_err());
        let mut v2 = head(1, 0, 0);
        v2[8] = 0x10;
        assert!(OpusHead::parse(&v2).is_err());
        assert!(OpusHead::parse(&head(1, 0, 0)[..18]).is_err());
    }

    #[test]
    fn packet_durations() {
        // CELT 20 ms (config 31), code 0: MediaRecorder's usual packet.
        assert_eq!(packet_samples(&[0xF8, 0xFF]), Ok(960));
        // SILK 60 ms (config 3), code 1: two frames, 120 ms.
        assert_eq!(packet_samples(&[(3 << 3) | 1]), Ok(5_760));
        // Hybrid 10 ms (config 12), code 2.
        assert_eq!(packet_samples(&[(12 << 3) | 2]), Ok(960));
        // CELT 2.5 ms, code 3 with 48 frames = 120 ms.
        assert_eq!(packet_samples(&[(16 << 3) | 3, 48]), Ok(5_760));
        assert!(packet_samples(&[(16 << 3) | 3, 49]).is_err());
        assert!(packet_samples(&[(16 << 3) | 3, 0]).is_err());
        assert!(packet_samples(&[(16 << 3) | 3]).is_err());
        assert!(packet_samples(&[]).is_err());
    }

    #[test]
    fn tags() {
        let tags = opus_tags("wab24");
        assert_eq!(&tags[..8], b"OpusTags");
        assert_eq!(&tags[8..12], &5u32.to_le_bytes());
        assert_eq!(&tags[12..17], b"wab24");
        assert_eq!(&tags[17..], &0u32.to_le_bytes());
    }
}
