//! The frame codec under the Noise layer, sans-IO.
//!
//! The byte stream of a connection (carried in binary WebSocket messages) is a sequence of frames
//! `len (3 bytes, big-endian) || payload`. A client writes, once and before its first frame, the
//! optional edge-routing prefix `ED 00 01 len24 routing_info` and then the intro header
//! `WA 06 03`; a server reads them once. One WebSocket message may hold part of a frame or several
//! frames, so the decoder buffers (never more than one frame's worth).

use crate::{Error, NoiseError, Result};

/// The intro header a client sends before its first frame: `W`, `A`, magic 6, dictionary
/// version 3. It is also the Noise prologue.
pub const WA_HEADER: [u8; 4] = *b"WA\x06\x03";

/// The start of the optional edge-routing prefix that precedes [`WA_HEADER`].
pub const EDGE_ROUTING_MAGIC: [u8; 4] = *b"ED\x00\x01";

/// The largest payload a frame can carry (the length is 3 bytes).
pub const MAX_FRAME_LEN: usize = (1 << 24) - 1;

/// Appends `len24 || payload` to `out`.
///
/// # Errors
///
/// [`NoiseError::FrameTooLarge`] if `payload` is longer than [`MAX_FRAME_LEN`].
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>) -> Result<()> {
    out.extend_from_slice(&len24(payload.len())?);
    out.extend_from_slice(payload);
    Ok(())
}

fn len24(len: usize) -> Result<[u8; 3]> {
    if len > MAX_FRAME_LEN {
        return Err(Error::Noise(NoiseError::FrameTooLarge { len, max: MAX_FRAME_LEN }));
    }
    let [_, a, b, c] = u32::try_from(len)
        .map_err(|_| Error::Noise(NoiseError::FrameTooLarge { len, max: MAX_FRAME_LEN }))?
        .to_be_bytes();
    Ok([a, b, c])
}

/// Writes frames, prefixing the first one with the connection header (client role) or not
/// (server role).
#[derive(Debug, Clone)]
pub struct FrameEncoder {
    /// Bytes still to send before the next frame (the header), empty once sent.
    pending_header: Vec<u8>,
}

impl FrameEncoder {
    /// The client role: the first frame is preceded by `ED 00 01 len24 routing_info` (when
    /// `routing_info` is given) and [`WA_HEADER`].
    ///
    /// # Errors
    ///
    /// [`NoiseError::FrameTooLarge`] if `routing_info` is longer than a 3-byte length allows.
    pub fn client(routing_info: Option<&[u8]>) -> Result<Self> {
        let mut pending_header = Vec::new();
        if let Some(info) = routing_info {
            pending_header.extend_from_slice(&EDGE_ROUTING_MAGIC);
            pending_header.extend_from_slice(&len24(info.len())?);
            pending_header.extend_from_slice(info);
        }
        pending_header.extend_from_slice(&WA_HEADER);
        Ok(Self { pending_header })
    }

    /// The server role: frames only.
    #[must_use]
    pub const fn server() -> Self {
        Self { pending_header: Vec::new() }
    }

    /// The bytes to send for one frame carrying `payload` (with the header if it is the first).
    ///
    /// # Errors
    ///
    /// [`NoiseError::FrameTooLarge`] if `payload` is longer than [`MAX_FRAME_LEN`]; nothing is
    /// consumed.
    pub fn encode(&mut self, payload: &[u8]) -> Result<Vec<u8>> {
        let header_len = len24(payload.len())?;
        let mut out = std::mem::take(&mut self.pending_header);
        out.reserve(3 + payload.len());
        out.extend_from_slice(&header_len);
        out.extend_from_slice(payload);
        Ok(out)
    }
}

/// Where a decoder is in the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Server role, nothing read yet: an `ED` prefix or the `WA` header comes next.
    Intro,
    /// Server role, the `ED` prefix was read: the `WA` header comes next.
    Header,
    /// Frames.
    Frames,
}

/// Reassembles frames from the bytes of a connection, in any chunking.
///
/// In the server role it first reads the optional edge-routing prefix and the intro header.
/// Buffered bytes never exceed one frame (its length prefix included). After an error the
/// connection is unusable: the decoder refuses further input.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    stage: Stage,
    buffer: Vec<u8>,
    max_frame_len: usize,
    routing_info: Option<Vec<u8>>,
    failed: bool,
}

impl FrameDecoder {
    /// The client role: the server sends frames only.
    #[must_use]
    pub const fn client() -> Self {
        Self::new(Stage::Frames)
    }

    /// The server role: the client's first bytes are the optional `ED` prefix and [`WA_HEADER`].
    #[must_use]
    pub const fn server() -> Self {
        Self::new(Stage::Intro)
    }

    const fn new(stage: Stage) -> Self {
        Self {
            stage,
            buffer: Vec::new(),
            max_frame_len: MAX_FRAME_LEN,
            routing_info: None,
            failed: false,
        }
    }

    /// Lowers the largest accepted frame payload (never above [`MAX_FRAME_LEN`]).
    #[must_use]
    pub fn with_max_frame_len(mut self, max: usize) -> Self {
        self.max_frame_len = max.min(MAX_FRAME_LEN);
        self
    }

    /// The routing info of the client's `ED` prefix, once read (server role).
    #[must_use]
    pub fn routing_info(&self) -> Option<&[u8]> {
        self.routing_info.as_deref()
    }

    /// Whether the intro header has been read (always true in the client role).
    #[must_use]
    pub fn header_read(&self) -> bool {
        self.stage == Stage::Frames
    }

    /// Bytes held that do not yet form a whole frame.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Feeds the bytes of one WebSocket message and returns every frame payload they complete,
    /// in order.
    ///
    /// # Errors
    ///
    /// [`NoiseError::BadConnectionHeader`] if the connection does not start with the expected
    /// header (server role), [`NoiseError::FrameTooLarge`] if a frame (or the routing info)
    /// declares a length above the maximum. Frames completed before the error are lost with the
    /// connection.
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<Vec<u8>>> {
        if self.failed {
            return Err(Error::Noise(NoiseError::BadConnectionHeader(
                "the connection already failed",
            )));
        }
        let result = self.feed_inner(data);
        if result.is_err() {
            self.failed = true;
            self.buffer = Vec::new();
        }
        result
    }

    fn feed_inner(&mut self, mut data: &[u8]) -> Result<Vec<Vec<u8>>> {
        let mut frames = Vec::new();
        loop {
            // Take just enough of `data` to complete the item in progress, so that the buffer
            // never holds more than one item.
            let need = self.needed()?;
            if self.buffer.len() < need {
                let take = (need - self.buffer.len()).min(data.len());
                self.buffer.extend_from_slice(&data[..take]);
                data = &data[take..];
                if self.buffer.len() < need {
                    // `data` is exhausted; wait for more.
                    return Ok(frames);
                }
                // The item may need more than we knew (a length was just completed).
                continue;
            }
            let item = std::mem::take(&mut self.buffer);
            match self.stage {
                Stage::Intro if item.starts_with(&EDGE_ROUTING_MAGIC) => {
                    self.routing_info = Some(item[7..].to_vec());
                    self.stage = Stage::Header;
                }
                Stage::Intro | Stage::Header => {
                    if item != WA_HEADER {
                        return Err(Error::Noise(NoiseError::BadConnectionHeader(
                            "expected WA 06 03",
                        )));
                    }
                    self.stage = Stage::Frames;
                }
                Stage::Frames => frames.push(item[3..].to_vec()),
            }
            if data.is_empty() {
                return Ok(frames);
            }
        }
    }

    /// How many bytes the item in progress needs, as far as the buffer tells.
    fn needed(&self) -> Result<usize> {
        let buffer = &self.buffer;
        match self.stage {
            Stage::Intro => {
                if buffer.len() < 4 {
                    return Ok(4);
                }
                if buffer[..4] == EDGE_ROUTING_MAGIC {
                    if buffer.len() < 7 {
                        return Ok(7);
                    }
                    let len = read_len24(&buffer[4..7]);
                    if len > self.max_frame_len {
                        return Err(Error::Noise(NoiseError::FrameTooLarge {
                            len,
                            max: self.max_frame_len,
                        }));
                    }
                    return Ok(7 + len);
                }
                if buffer[..4] == WA_HEADER {
                    return Ok(4);
                }
                Err(Error::Noise(NoiseError::BadConnectionHeader("expected ED 00 01 or WA 06 03")))
            }
            Stage::Header => Ok(4),
            Stage::Frames => {
                if buffer.len() < 3 {
                    return Ok(3);
                }
                let len = read_len24(&buffer[..3]);
                if len > self.max_frame_len {
                    return Err(Error::Noise(NoiseError::FrameTooLarge {
                        len,
                        max: self.max_frame_len,
                    }));
                }
                Ok(3 + len)
            }
        }
    }
}

fn read_len24(bytes: &[u8]) -> usize {
    bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn client_writes_the_header_once() {
        let mut enc = FrameEncoder::client(None).unwrap();
        assert_eq!(enc.encode(b"ab").unwrap(), b"WA\x06\x03\x00\x00\x02ab");
        assert_eq!(enc.encode(b"c").unwrap(), b"\x00\x00\x01c");
        let mut enc = FrameEncoder::client(Some(b"xyz")).unwrap();
        assert_eq!(enc.encode(b"").unwrap(), b"ED\x00\x01\x00\x00\x03xyzWA\x06\x03\x00\x00\x00");
        let mut enc = FrameEncoder::server();
        assert_eq!(enc.encode(b"q").unwrap(), b"\x00\x00\x01q");
    }

    #[test]
    fn oversized_payloads_are_refused() {
        let big = vec![0u8; MAX_FRAME_LEN + 1];
        let mut enc = FrameEncoder::client(None).unwrap();
        assert_eq!(
            enc.encode(&big),
            Err(Error::Noise(NoiseError::FrameTooLarge {
                len: MAX_FRAME_LEN + 1,
                max: MAX_FRAME_LEN
            }))
        );
        // The header was not consumed by the failed call.
        assert_eq!(enc.encode(b"").unwrap(), b"WA\x06\x03\x00\x00\x00");
        assert!(encode_frame(&big, &mut Vec::new()).is_err());
        assert_eq!(encode_frame(&big[..MAX_FRAME_LEN], &mut Vec::new()), Ok(()));
    }

    #[test]
    fn server_reads_header_and_routing_prefix() {
        let mut dec = FrameDecoder::server();
        assert!(dec.feed(b"ED\x00").unwrap().is_empty());
        assert!(dec.feed(b"\x01\x00\x00\x02r").unwrap().is_empty());
        assert_eq!(dec.routing_info(), None);
        assert!(!dec.header_read());
        let frames = dec.feed(b"sWA\x06\x03\x00\x00\x01a\x00\x00\x00\x00\x00").unwrap();
        assert_eq!(frames, vec![b"a".to_vec(), Vec::new()]);
        assert_eq!(dec.routing_info(), Some(&b"rs"[..]));
        assert!(dec.header_read());
        assert_eq!(dec.buffered(), 2);
        assert_eq!(dec.feed(b"\x02hi").unwrap(), vec![b"hi".to_vec()]);
    }

    #[test]
    fn bad_headers_and_lengths_fail() {
        assert!(matches!(
            FrameDecoder::server().feed(b"WA\x05\x03"),
            Err(Error::Noise(NoiseError::BadConnectionHeader(_)))
        ));
        assert!(matches!(
            FrameDecoder::server().feed(b"\x00\x00\x01a"),
            Err(Error::Noise(NoiseError::BadConnectionHeader(_)))
        ));
        assert!(matches!(
            FrameDecoder::server().feed(b"ED\x00\x01\x00\x00\x00XA\x06\x03"),
            Err(Error::Noise(NoiseError::BadConnectionHeader(_)))
        ));
        // A header does not repeat in the client role: WA06 03 is a (huge) frame length there.
        let mut dec = FrameDecoder::client().with_max_frame_len(100);
        assert_eq!(
            dec.feed(b"\x00\x00\x65"),
            Err(Error::Noise(NoiseError::FrameTooLarge { len: 101, max: 100 }))
        );
        assert!(dec.feed(b"").is_err(), "a failed decoder stays failed");
        let mut dec = FrameDecoder::server().with_max_frame_len(4);
        assert_eq!(
            dec.feed(b"ED\x00\x01\x00\x00\x05"),
            Err(Error::Noise(NoiseError::FrameTooLarge { len: 5, max: 4 }))
        );
        assert_eq!(dec.buffered(), 0);
    }

    fn stream(frames: &[Vec<u8>], routing: Option<&[u8]>) -> Vec<u8> {
        let mut enc = FrameEncoder::client(routing).unwrap();
        frames.iter().flat_map(|f| enc.encode(f).unwrap()).collect()
    }

    proptest! {
        #[test]
        fn any_chunking_yields_the_same_frames(
            frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..12),
            routing in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
            cuts in proptest::collection::vec(0usize..2000, 0..20),
        ) {
            let bytes = stream(&frames, routing.as_deref());
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.push(0);
            cuts.push(bytes.len());
            cuts.sort_unstable();
            let mut dec = FrameDecoder::server();
            let mut got = Vec::new();
            for pair in cuts.windows(2) {
                got.extend(dec.feed(&bytes[pair[0]..pair[1]]).unwrap());
                prop_assert!(dec.buffered() <= 3 + 300 + 7 + 40);
            }
            prop_assert_eq!(got, frames);
            prop_assert_eq!(dec.routing_info(), routing.as_deref());
            prop_assert_eq!(dec.buffered(), 0);
        }

        #[test]
        fn arbitrary_input_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = FrameDecoder::server().with_max_frame_len(64).feed(&data);
            let _ = FrameDecoder::client().with_max_frame_len(64).feed(&data);
        }
    }
}
