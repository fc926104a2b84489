//! Ogg pages (RFC 3533): a writer that lays packets out with lacing and a reader that checks
//! them back (capture pattern, version, checksum, segment table against what remains).

use super::{VoiceError, ogg_crc::ogg_crc};

/// Header flag: the page starts with the continuation of a packet.
pub const FLAG_CONTINUED: u8 = 0x01;
/// Header flag: the first page of the stream.
pub const FLAG_BOS: u8 = 0x02;
/// Header flag: the last page of the stream.
pub const FLAG_EOS: u8 = 0x04;

/// The granule position of a page on which no packet ends.
pub const NO_GRANULE: u64 = u64::MAX;

/// The fixed part of a page header.
const HEADER_LEN: usize = 27;
/// A page closes once it holds this many packets (about a second of 20 ms packets)...
const PACKETS_PER_PAGE: usize = 50;
/// ... or this many bytes, so that players can seek and stream in small steps.
const PAGE_BODY_TARGET: usize = 4096;

/// One page read back from a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OggPage {
    /// `FLAG_*` bits.
    pub flags: u8,
    /// The granule position ([`NO_GRANULE`] when no packet ends here).
    pub granule: u64,
    /// The stream's serial number.
    pub serial: u32,
    /// The page's sequence number.
    pub sequence: u32,
    /// The segment table's lacing values.
    pub lacing: Vec<u8>,
    /// The page's body.
    pub body: Vec<u8>,
}

/// Writes one logical stream's pages.
#[derive(Debug)]
pub struct OggWriter {
    serial: u32,
    sequence: u32,
    out: Vec<u8>,
    // The page being filled.
    lacing: Vec<u8>,
    body: Vec<u8>,
    packets: usize,
    granule: u64,
    continued: bool,
}

impl OggWriter {
    /// A writer for the stream `serial`.
    #[must_use]
    pub fn new(serial: u32) -> OggWriter {
        OggWriter {
            serial,
            sequence: 0,
            out: Vec::new(),
            lacing: Vec::new(),
            body: Vec::new(),
            packets: 0,
            granule: NO_GRANULE,
            continued: false,
        }
    }

    /// Writes `packet` alone on its own page (the identification and comment headers).
    pub fn header_page(&mut self, packet: &[u8], first: bool) {
        self.flush(false);
        self.packet(packet, 0, usize::MAX);
        let flags = if first { FLAG_BOS } else { 0 };
        self.flush_with(flags);
    }

    /// Adds an audio packet that ends at `granule`; pages close when full.
    pub fn audio_packet(&mut self, packet: &[u8], granule: u64) {
        self.packet(packet, granule, PACKETS_PER_PAGE);
    }

    /// Closes the last page with the end-of-stream flag and returns the stream.
    #[must_use]
    pub fn finish(mut self) -> Vec<u8> {
        self.flush_with(FLAG_EOS);
        self.out
    }

    fn packet(&mut self, packet: &[u8], granule: u64, max_packets: usize) {
        let segments = packet.len() / 255 + 1;
        if self.packets >= max_packets
            || self.body.len() >= PAGE_BODY_TARGET
            || self.lacing.len() + segments > 255
        {
            self.flush(false);
        }
        let mut rest = packet;
        loop {
            if self.lacing.len() == 255 {
                // The packet goes on over the next page, which starts continued.
                self.flush(true);
            }
            let take = rest.len().min(255);
            #[allow(clippy::cast_possible_truncation)] // at most 255
            self.lacing.push(take as u8);
            self.body.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if take < 255 {
                break;
            }
        }
        self.packets += 1;
        self.granule = granule;
    }

    /// Writes the pending page if it holds anything; `continued` says whether the next page
    /// starts with the rest of an unfinished packet.
    fn flush(&mut self, continued: bool) {
        if self.lacing.is_empty() {
            return;
        }
        // `granule` is that of the last packet completed on this page (NO_GRANULE if none is:
        // it is only set when a packet ends).
        self.flush_with(0);
        self.continued = continued;
    }

    fn flush_with(&mut self, extra_flags: u8) {
        if self.lacing.is_empty() && extra_flags & FLAG_EOS == 0 {
            return;
        }
        let flags = extra_flags | if self.continued { FLAG_CONTINUED } else { 0 };
        let start = self.out.len();
        self.out.extend_from_slice(b"OggS");
        self.out.push(0);
        self.out.push(flags);
        self.out.extend_from_slice(&self.granule.to_le_bytes());
        self.out.extend_from_slice(&self.serial.to_le_bytes());
        self.out.extend_from_slice(&self.sequence.to_le_bytes());
        self.out.extend_from_slice(&[0; 4]);
        #[allow(clippy::cast_possible_truncation)] // at most 255 segments
        self.out.push(self.lacing.len() as u8);
        self.out.extend_from_slice(&self.lacing);
        self.out.extend_from_slice(&self.body);
        let crc = ogg_crc(&self.out[start..]);
        self.out[start + 22..start + 26].copy_from_slice(&crc.to_le_bytes());
        self.sequence = self.sequence.wrapping_add(1);
        self.lacing.clear();
        self.body.clear();
        self.packets = 0;
        self.granule = NO_GRANULE;
        self.continued = false;
    }
}

/// Reads every page of `data`, checking each one's structure and checksum.
///
/// # Errors
///
/// [`VoiceError::BadOggPage`] for a malformed page, [`VoiceError::BadOggCrc`] for a checksum
/// that does not match.
pub fn read_pages(mut data: &[u8]) -> Result<Vec<OggPage>, VoiceError> {
    let mut pages = Vec::new();
    while !data.is_empty() {
        let header = data.get(..HEADER_LEN).ok_or(VoiceError::BadOggPage("truncated header"))?;
        if &header[..4] != b"OggS" {
            return Err(VoiceError::BadOggPage("no capture pattern"));
        }
        if header[4] != 0 {
            return Err(VoiceError::BadOggPage("unknown version"));
        }
        let le32 = |at: usize| {
            u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
        };
        let mut granule = [0u8; 8];
        granule.copy_from_slice(&header[6..14]);
        let count = usize::from(header[26]);
        let lacing = data
            .get(HEADER_LEN..HEADER_LEN + count)
            .ok_or(VoiceError::BadOggPage("truncated segment table"))?;
        let body_len: usize = lacing.iter().map(|&l| usize::from(l)).sum();
        let total = HEADER_LEN + count + body_len;
        let page = data.get(..total).ok_or(VoiceError::BadOggPage("truncated body"))?;
        let sequence = le32(18);
        let mut zeroed = page.to_vec();
        zeroed[22..26].fill(0);
        if ogg_crc(&zeroed) != le32(22) {
            return Err(VoiceError::BadOggCrc { sequence });
        }
        pages.push(OggPage {
            flags: header[5],
            granule: u64::from_le_bytes(granule),
            serial: le32(14),
            sequence,
            lacing: lacing.to_vec(),
            body: page[HEADER_LEN + count..].to_vec(),
        });
        data = &data[total..];
    }
    Ok(pages)
}

/// Joins the pages' segments back into packets; each packet comes with the index of the page it
/// ends on.
///
/// # Errors
///
/// [`VoiceError::BadOggPage`] when continuation flags and unfinished packets disagree.
pub fn packets(pages: &[OggPage]) -> Result<Vec<(Vec<u8>, usize)>, VoiceError> {
    let mut out = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    for (index, page) in pages.iter().enumerate() {
        let continued = page.flags & FLAG_CONTINUED != 0;
        if continued != current.is_some() {
            return Err(VoiceError::BadOggPage("continuation flag does not match"));
        }
        let mut at = 0;
        for &l in &page.lacing {
            let l = usize::from(l);
            let part = current.get_or_insert_with(Vec::new);
            part.extend_from_slice(&page.body[at..at + l]);
            at += l;
            if l < 255 {
                out.push((current.take().unwrap_or_default(), index));
            }
        }
    }
    if current.is_some() {
        return Err(VoiceError::BadOggPage("stream ends inside a packet"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lacing_and_spanning() {
        let mut w = OggWriter::new(7);
        w.header_page(b"head", true);
        w.header_page(b"tags", false);
        // 255 bytes exactly needs a trailing zero lacing value; 70,000 bytes span two pages.
        let a = vec![1u8; 255];
        let b = vec![2u8; 70_000];
        let c = vec![3u8; 10];
        w.audio_packet(&a, 100);
        w.audio_packet(&b, 200);
        w.audio_packet(&c, 300);
        let stream = w.finish();
        let pages = read_pages(&stream).unwrap();
        assert_eq!(pages[0].flags, FLAG_BOS);
        assert_eq!(pages[0].granule, 0);
        assert_eq!(pages[1].flags, 0);
        assert!(pages.iter().all(|p| p.serial == 7));
        for (i, p) in pages.iter().enumerate() {
            assert_eq!(p.sequence as usize, i);
        }
        let last = pages.last().unwrap();
        assert_eq!(last.flags & FLAG_EOS, FLAG_EOS);
        assert_eq!(last.granule, 300);
        assert!(pages.iter().any(|p| p.flags & FLAG_CONTINUED != 0));
        assert!(pages.iter().any(|p| p.granule == NO_GRANULE));
        let got: Vec<Vec<u8>> = packets(&pages).unwrap().into_iter().map(|(p, _)| p).collect();
        assert_eq!(got, vec![b"head".to_vec(), b"tags".to_vec(), a, b, c]);
    }

    #[test]
    fn corrupted_pages_are_refused() {
        let mut w = OggWriter::new(1);
        w.header_page(b"head", true);
        let mut stream = w.finish();
        // Page 0's body starts after 27 header bytes and a one-entry segment table.
        stream[29] ^= 1;
        assert!(matches!(read_pages(&stream), Err(VoiceError::BadOggCrc { sequence: 0 })));
        assert!(read_pages(&stream[..20]).is_err());
        assert!(read_pages(b"OggT0000000000000000000000000").is_err());
    }
}
