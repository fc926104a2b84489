//! The webm (Matroska) structure a browser's MediaRecorder writes, read with the bounded EBML
//! reader: the EBML header, a Segment (often of unknown size), Tracks, and Clusters (often of
//! unknown size) of SimpleBlocks or BlockGroups. Only what a remux needs is kept.

use super::{
    VoiceError,
    ebml::{self, Header},
};

// Element ids (Matroska specification).
const EBML: u32 = 0x1A45_DFA3;
const DOC_TYPE: u32 = 0x4282;
const SEGMENT: u32 = 0x1853_8067;
const SEEK_HEAD: u32 = 0x114D_9B74;
const INFO: u32 = 0x1549_A966;
const TRACKS: u32 = 0x1654_AE6B;
const CLUSTER: u32 = 0x1F43_B675;
const CUES: u32 = 0x1C53_BB6B;
const ATTACHMENTS: u32 = 0x1941_A469;
const CHAPTERS: u32 = 0x1043_A770;
const TAGS: u32 = 0x1254_C367;
const TRACK_ENTRY: u32 = 0xAE;
const TRACK_NUMBER: u32 = 0xD7;
const TRACK_TYPE: u32 = 0x83;
const CODEC_ID: u32 = 0x86;
const CODEC_PRIVATE: u32 = 0x63A2;
const CODEC_DELAY: u32 = 0x56AA;
const SIMPLE_BLOCK: u32 = 0xA3;
const BLOCK_GROUP: u32 = 0xA0;
const BLOCK: u32 = 0xA1;
const DISCARD_PADDING: u32 = 0x75A2;

/// Matroska's track type for audio.
const TRACK_TYPE_AUDIO: u64 = 2;

/// How deep elements may nest (the structure read here needs 4 levels).
pub(crate) const MAX_DEPTH: usize = 8;

/// Bounds on what a recording may make the reader do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest input accepted, in bytes (default 16 MiB: about an hour of 32 kbit/s Opus).
    pub max_input: usize,
    /// The most audio packets accepted (default 200,000: over an hour of 20 ms packets).
    pub max_packets: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_input: 16 * 1024 * 1024, max_packets: 200_000 }
    }
}

/// One block of the Opus track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Block<'a> {
    /// The Opus packet.
    pub(crate) data: &'a [u8],
    /// Nanoseconds of padding to drop from the end of this block (BlockGroup's DiscardPadding).
    pub(crate) discard_padding_ns: i64,
}

/// What a remux needs from a webm recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WebmOpus<'a> {
    /// The Opus track's `CodecPrivate` (an `OpusHead`).
    pub(crate) codec_private: &'a [u8],
    /// The track's `CodecDelay` in nanoseconds, if written.
    pub(crate) codec_delay_ns: Option<u64>,
    /// The track's packets in file order.
    pub(crate) blocks: Vec<Block<'a>>,
}

#[derive(Debug, Default)]
struct Track<'a> {
    number: Option<u64>,
    kind: Option<u64>,
    codec: Option<&'a [u8]>,
    codec_private: Option<&'a [u8]>,
    codec_delay: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Top,
    Segment,
    Tracks,
    TrackEntry,
    Cluster,
    BlockGroup,
}

impl Level {
    /// Whether an element with `id` closes an unknown-size element at this level (it belongs to
    /// an ancestor).
    fn closed_by(self, id: u32) -> bool {
        let top = matches!(id, EBML | SEGMENT);
        let level1 = matches!(
            id,
            SEEK_HEAD | INFO | TRACKS | CLUSTER | CUES | ATTACHMENTS | CHAPTERS | TAGS
        );
        match self {
            Level::Segment => top,
            Level::Cluster => top || level1,
            _ => false,
        }
    }
}

#[derive(Debug, Default)]
struct Reader<'a> {
    limits: Limits,
    doc_type_ok: Option<bool>,
    seen_ebml: bool,
    tracks: Vec<Track<'a>>,
    // Blocks of every track: (track number, block).
    blocks: Vec<(u64, Block<'a>)>,
    // The BlockGroup being read.
    group_block: Option<(u64, &'a [u8])>,
    group_padding: i64,
}

/// Reads the Opus track of a webm recording.
pub(crate) fn read(input: &[u8], limits: Limits) -> Result<WebmOpus<'_>, VoiceError> {
    if input.len() > limits.max_input {
        return Err(VoiceError::TooLarge { size: input.len(), limit: limits.max_input });
    }
    let mut reader = Reader { limits, ..Reader::default() };
    reader.children(input, Level::Top, false, 0)?;
    if !reader.seen_ebml {
        return Err(VoiceError::NotWebm("no EBML header"));
    }
    if reader.doc_type_ok == Some(false) {
        return Err(VoiceError::NotWebm("DocType is neither webm nor matroska"));
    }
    let track = reader
        .tracks
        .iter()
        .find(|t| {
            t.codec == Some(b"A_OPUS".as_slice())
                && t.kind.is_none_or(|k| k == TRACK_TYPE_AUDIO)
                && t.number.is_some()
        })
        .ok_or(VoiceError::NoOpusTrack)?;
    let number = track.number.ok_or(VoiceError::NoOpusTrack)?;
    let codec_private = track.codec_private.ok_or(VoiceError::BadOpusHead("no CodecPrivate"))?;
    let blocks: Vec<Block<'_>> =
        reader.blocks.iter().filter(|(n, _)| *n == number).map(|(_, b)| *b).collect();
    if blocks.is_empty() {
        return Err(VoiceError::Empty);
    }
    Ok(WebmOpus { codec_private, codec_delay_ns: track.codec_delay, blocks })
}

impl<'a> Reader<'a> {
    /// Reads the children in `data` (the parent's body; for an unknown-size parent, everything
    /// up to the end of its own parent). Returns how many bytes the parent's body took.
    fn children(
        &mut self,
        data: &'a [u8],
        level: Level,
        unknown_size: bool,
        depth: usize,
    ) -> Result<usize, VoiceError> {
        if depth > MAX_DEPTH {
            return Err(VoiceError::TooDeep(MAX_DEPTH));
        }
        let mut pos = 0;
        while pos < data.len() {
            let rest = &data[pos..];
            let h = ebml::header(rest)?;
            if unknown_size && level.closed_by(h.id) {
                return Ok(pos);
            }
            if level == Level::Top && !self.seen_ebml && h.id != EBML {
                return Err(VoiceError::NotWebm("no EBML header"));
            }
            let after_header = &rest[h.len..];
            let body_len = match h.size {
                Some(size) => {
                    let remaining = after_header.len() as u64;
                    if size > remaining {
                        return Err(VoiceError::ElementOverrun { id: h.id, size, remaining });
                    }
                    usize::try_from(size).map_err(|_| VoiceError::ElementOverrun {
                        id: h.id,
                        size,
                        remaining,
                    })?
                }
                None => {
                    let child = self
                        .child_level(level, h.id)
                        .filter(|l| matches!(l, Level::Segment | Level::Cluster));
                    let Some(child) = child else { return Err(VoiceError::UnknownSize(h.id)) };
                    self.children(after_header, child, true, depth + 1)?
                }
            };
            let body = &after_header[..body_len];
            if h.size.is_some() {
                self.element(level, h, body, depth)?;
            }
            pos += h.len + body_len;
        }
        Ok(pos)
    }

    /// The level of a master element `id` inside `level`, if it is one this reader descends into.
    fn child_level(&self, level: Level, id: u32) -> Option<Level> {
        match (level, id) {
            (Level::Top, SEGMENT) => Some(Level::Segment),
            (Level::Segment, TRACKS) => Some(Level::Tracks),
            (Level::Segment, CLUSTER) => Some(Level::Cluster),
            (Level::Tracks, TRACK_ENTRY) => Some(Level::TrackEntry),
            (Level::Cluster, BLOCK_GROUP) => Some(Level::BlockGroup),
            _ => None,
        }
    }

    /// Handles one element of known size.
    fn element(
        &mut self,
        level: Level,
        h: Header,
        body: &'a [u8],
        depth: usize,
    ) -> Result<(), VoiceError> {
        match (level, h.id) {
            (Level::Top, EBML) => {
                self.seen_ebml = true;
                self.ebml_header(body)?;
            }
            (Level::TrackEntry, _) => self.track_field(h.id, body)?,
            (Level::Cluster, SIMPLE_BLOCK) => {
                let (track, data) = block(body)?;
                self.push_block(track, Block { data, discard_padding_ns: 0 })?;
            }
            (Level::BlockGroup, BLOCK) => self.group_block = Some(block(body)?),
            (Level::BlockGroup, DISCARD_PADDING) => self.group_padding = ebml::int(h.id, body)?,
            _ => {
                if let Some(child) = self.child_level(level, h.id) {
                    if child == Level::TrackEntry {
                        self.tracks.push(Track::default());
                    }
                    if child == Level::BlockGroup {
                        self.group_block = None;
                        self.group_padding = 0;
                    }
                    self.children(body, child, false, depth + 1)?;
                    if child == Level::BlockGroup {
                        let (track, data) = self
                            .group_block
                            .take()
                            .ok_or(VoiceError::Truncated("BlockGroup without Block"))?;
                        let padding = self.group_padding;
                        self.push_block(track, Block { data, discard_padding_ns: padding })?;
                    }
                }
                // Anything else (Void, Cues, Info, Tags, Timecode...) is skipped.
            }
        }
        Ok(())
    }

    fn ebml_header(&mut self, body: &'a [u8]) -> Result<(), VoiceError> {
        let mut pos = 0;
        while pos < body.len() {
            let h = ebml::header(&body[pos..])?;
            let size = h.size.ok_or(VoiceError::UnknownSize(h.id))?;
            let remaining = (body.len() - pos - h.len) as u64;
            if size > remaining {
                return Err(VoiceError::ElementOverrun { id: h.id, size, remaining });
            }
            let start = pos + h.len;
            let end = start + usize::try_from(size).map_err(|_| VoiceError::BadVint)?;
            if h.id == DOC_TYPE {
                let doc = ebml::string(&body[start..end]);
                self.doc_type_ok = Some(doc == b"webm" || doc == b"matroska");
            }
            pos = end;
        }
        Ok(())
    }

    fn track_field(&mut self, id: u32, body: &'a [u8]) -> Result<(), VoiceError> {
        let Some(track) = self.tracks.last_mut() else { return Ok(()) };
        match id {
            TRACK_NUMBER => track.number = Some(ebml::uint(id, body)?),
            TRACK_TYPE => track.kind = Some(ebml::uint(id, body)?),
            CODEC_ID => track.codec = Some(ebml::string(body)),
            CODEC_PRIVATE => track.codec_private = Some(body),
            CODEC_DELAY => track.codec_delay = Some(ebml::uint(id, body)?),
            _ => {}
        }
        Ok(())
    }

    fn push_block(&mut self, track: u64, block: Block<'a>) -> Result<(), VoiceError> {
        if self.blocks.len() >= self.limits.max_packets {
            return Err(VoiceError::TooManyPackets(self.limits.max_packets));
        }
        self.blocks.push((track, block));
        Ok(())
    }
}

/// Splits a (Simple)Block body into its track number and its single frame.
fn block(body: &[u8]) -> Result<(u64, &[u8]), VoiceError> {
    let (track, len) = ebml::track_number(body).map_err(|e| match e {
        VoiceError::Truncated(_) => VoiceError::Truncated("block header"),
        other => other,
    })?;
    // Then a signed 16-bit relative timecode and the flags byte.
    let flags = *body.get(len + 2).ok_or(VoiceError::Truncated("block header"))?;
    let lacing = (flags >> 1) & 0x03;
    if lacing != 0 {
        return Err(VoiceError::LacedBlock);
    }
    let frame = &body[len + 3..];
    if frame.is_empty() {
        return Err(VoiceError::BadOpusPacket("empty packet"));
    }
    Ok((track, frame))
}
