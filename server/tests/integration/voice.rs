//! The webm -> Ogg Opus remux, on a recording made by Chromium and on hand-built webm files for
//! each malformed case.

use sha2::{Digest, Sha256};
use wab24::voice::{
    self, FLAG_BOS, FLAG_CONTINUED, FLAG_EOS, Limits, NO_GRANULE, RemuxOptions, VoiceError,
};

/// Recorded by Chromium 156 (`--use-fake-device-for-media-stream`, MediaRecorder with
/// `audio/webm;codecs=opus`, 3 s, `record.html` in this directory).
const CHROMIUM: &[u8] = include_bytes!("../vectors/chromium-156-fake-mic-3s.webm");

/// The SimpleBlock payloads of track 1, found by a scan written independently of the reader:
/// it looks for the SimpleBlock id followed by a one-byte size and track 1 (true of every block
/// in this recording), then checks that the blocks tile each cluster.
fn independent_blocks(data: &[u8]) -> Vec<(i16, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 6 < data.len() {
        // Clusters: 1F 43 B6 75, unknown size (01 FF FF FF FF FF FF FF), then Timecode E7.
        if data[i..].starts_with(&[0x1F, 0x43, 0xB6, 0x75, 0x01, 0xFF]) {
            i += 12;
            assert_eq!(data[i], 0xE7, "cluster starts with its timecode");
            let len = usize::from(data[i + 1] & 0x7F);
            i += 2 + len;
            // Then blocks until the next cluster or the end.
            while i < data.len() && data[i] == 0xA3 {
                let size_byte = data[i + 1];
                let (size, hl) = if size_byte & 0x80 != 0 {
                    (usize::from(size_byte & 0x7F), 2)
                } else {
                    assert_eq!(size_byte & 0xC0, 0x40);
                    ((usize::from(size_byte & 0x3F) << 8) | usize::from(data[i + 2]), 3)
                };
                let body = &data[i + hl..i + hl + size];
                assert_eq!(body[0], 0x81, "track 1");
                let timecode = i16::from_be_bytes([body[1], body[2]]);
                out.push((timecode, body[4..].to_vec()));
                i += hl + size;
            }
            continue;
        }
        i += 1;
    }
    out
}

#[test]
fn chromium_recording_remuxes_to_valid_ogg_opus() {
    let note = voice::webm_to_ogg_opus(
        CHROMIUM,
        &RemuxOptions { serial: 0x5eed, ..RemuxOptions::default() },
    )
    .expect("remux");
    let blocks = independent_blocks(CHROMIUM);
    assert!(blocks.len() > 40, "a 3 s recording has dozens of packets, found {}", blocks.len());
    assert_eq!(note.packets, blocks.len());

    let pages = voice::read_pages(&note.ogg).expect("every page parses and its CRC matches");
    assert_eq!(pages[0].flags, FLAG_BOS);
    assert_eq!(&pages[0].body[..8], b"OpusHead");
    assert_eq!(pages[0].granule, 0);
    assert_eq!(&pages[1].body[..8], b"OpusTags");
    assert_eq!(pages[1].granule, 0);
    assert_eq!(pages.iter().filter(|p| p.flags & FLAG_EOS != 0).count(), 1);
    assert_eq!(pages.last().unwrap().flags & FLAG_EOS, FLAG_EOS);
    assert!(pages.iter().all(|p| p.serial == 0x5eed && p.flags & FLAG_CONTINUED == 0));
    for (i, page) in pages.iter().enumerate() {
        assert_eq!(page.sequence as usize, i);
    }

    // Packets: the two headers, then exactly the webm blocks in order.
    let packets = voice::packets(&pages).unwrap();
    assert_eq!(packets.len(), blocks.len() + 2);
    let head = voice::OpusHead::parse(&packets[0].0).unwrap();
    assert_eq!(head.channels, 1);
    for ((packet, _), (_, block)) in packets[2..].iter().zip(&blocks) {
        assert_eq!(packet, block);
    }

    // Granules: strictly increasing over audio pages, each the sample count at the end of the
    // page's last packet; the last page's the whole stream.
    let mut total = 0u64;
    let mut last_granule = 0u64;
    for (page_index, page) in pages.iter().enumerate().skip(2) {
        for (packet, _) in packets.iter().filter(|(_, p)| *p == page_index) {
            total += voice::packet_samples(packet).unwrap();
        }
        assert_ne!(page.granule, NO_GRANULE);
        assert_eq!(page.granule, total, "page {page_index}");
        assert!(page.granule > last_granule);
        last_granule = page.granule;
    }
    // The block timecodes (ms) agree with the granules: the last block starts where the
    // previous packets end.
    let last_packet = voice::packet_samples(&blocks.last().unwrap().1).unwrap();
    let last_start_ms = (total - last_packet) / 48;
    let last_timecode = i64::from(blocks.last().unwrap().0);
    // Cluster timecodes restart the relative ones; compare against the absolute cumulative time
    // only within 100 ms (Chromium stamps blocks by capture time).
    assert!(last_start_ms.abs_diff(u64::try_from(last_timecode).unwrap_or(0) % 65_536) < 100_000);

    // 3 s recorded; the pre-skip here is 0.
    assert_eq!(head.pre_skip, 0);
    let ms = note.duration.as_millis();
    assert!((2_500..=3_300).contains(&ms), "duration {ms} ms");
    assert_eq!(note.seconds(), 3);
    assert_eq!(u128::from(total) * 1000 / 48_000, ms);
}

#[test]
fn chromium_output_is_pinned() {
    let note =
        voice::webm_to_ogg_opus(CHROMIUM, &RemuxOptions { serial: 1, ..RemuxOptions::default() })
            .unwrap();
    let pages = voice::read_pages(&note.ogg).unwrap();
    let summary: Vec<String> = pages
        .iter()
        .map(|p| {
            format!(
                "seq={} flags={} granule={} segments={} bytes={}",
                p.sequence,
                p.flags,
                p.granule,
                p.lacing.len(),
                p.body.len()
            )
        })
        .collect();
    let digest = hex::encode(Sha256::digest(&note.ogg));
    insta::assert_snapshot!(format!(
        "sha256={digest}\nduration_ms={}\n{}",
        note.duration.as_millis(),
        summary.join("\n")
    ));
}

#[test]
fn every_truncation_and_many_corruptions_fail_cleanly() {
    // Cut anywhere: an error, or (at a block boundary inside the last, unknown-size cluster) a
    // shorter voice note; never a panic.
    let full = voice::webm_to_ogg_opus(CHROMIUM, &RemuxOptions::default()).unwrap();
    let mut ok = 0;
    for cut in (0..CHROMIUM.len()).step_by(11) {
        if let Ok(note) = voice::webm_to_ogg_opus(&CHROMIUM[..cut], &RemuxOptions::default()) {
            assert!(note.packets < full.packets);
            ok += 1;
        }
    }
    assert!(ok > 0 && ok < CHROMIUM.len() / 100, "{ok} truncations remuxed");
    // Flip bytes: every outcome is a value or a typed error.
    let mut data = CHROMIUM.to_vec();
    for i in (0..data.len()).step_by(31) {
        let before = data[i];
        data[i] ^= 0x5A;
        let _ = voice::webm_to_ogg_opus(&data, &RemuxOptions::default());
        wab24::fuzzing::webm_to_ogg(&data);
        data[i] = before;
    }
}

// ----- hand-built webm files -----

/// An element with an 8-byte size.
fn el(id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = id_bytes(id);
    out.push(0x01);
    out.extend_from_slice(&(body.len() as u64).to_be_bytes()[1..]);
    out.extend_from_slice(body);
    out
}

/// An element header of unknown size.
fn unknown(id: u32) -> Vec<u8> {
    let mut out = id_bytes(id);
    out.extend_from_slice(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
    out
}

fn id_bytes(id: u32) -> Vec<u8> {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().position(|&b| b != 0).unwrap_or(3);
    bytes[skip..].to_vec()
}

fn opus_head(pre_skip: u16) -> Vec<u8> {
    let mut p = b"OpusHead".to_vec();
    p.extend_from_slice(&[1, 1]);
    p.extend_from_slice(&pre_skip.to_le_bytes());
    p.extend_from_slice(&48_000u32.to_le_bytes());
    p.extend_from_slice(&[0, 0, 0]);
    p
}

struct Built {
    doc_type: &'static [u8],
    codec: &'static [u8],
    head: Vec<u8>,
    codec_delay_ns: Option<u64>,
    entry_unknown: bool,
    blocks: Vec<Vec<u8>>,
    flags: u8,
    group_padding_ns: Option<i64>,
}

impl Default for Built {
    fn default() -> Self {
        Built {
            doc_type: b"webm",
            codec: b"A_OPUS",
            head: opus_head(312),
            codec_delay_ns: None,
            entry_unknown: false,
            // CELT 20 ms, code 0.
            blocks: (0..10u8).map(|i| vec![0xF8, i, 0xAA, 0x55]).collect(),
            flags: 0x80,
            group_padding_ns: None,
        }
    }
}

impl Built {
    fn bytes(&self) -> Vec<u8> {
        let mut out = el(0x1A45_DFA3, &[el(0x4282, self.doc_type), el(0x4287, &[4])].concat());
        out.extend(unknown(0x1853_8067));
        let mut entry =
            [el(0xD7, &[1]), el(0x83, &[2]), el(0x86, self.codec), el(0x63A2, &self.head)].concat();
        if let Some(delay) = self.codec_delay_ns {
            entry.extend(el(0x56AA, &delay.to_be_bytes()));
        }
        let tracks = if self.entry_unknown {
            el(0x1654_AE6B, &[unknown(0xAE), entry].concat())
        } else {
            el(0x1654_AE6B, &el(0xAE, &entry))
        };
        out.extend(tracks);
        out.extend(unknown(0x1F43_B675));
        out.extend(el(0xE7, &[0]));
        let n = self.blocks.len();
        for (i, packet) in self.blocks.iter().enumerate() {
            let mut body = vec![0x81, 0, 0, self.flags];
            body.extend_from_slice(packet);
            match self.group_padding_ns {
                Some(padding) if i + 1 == n => {
                    let block = el(0xA1, &body);
                    let pad = el(0x75A2, &padding.to_be_bytes());
                    out.extend(el(0xA0, &[block, pad].concat()));
                }
                _ => out.extend(el(0xA3, &body)),
            }
        }
        out
    }
}

fn remux(data: &[u8]) -> Result<voice::VoiceNote, VoiceError> {
    voice::webm_to_ogg_opus(data, &RemuxOptions::default())
}

#[test]
fn hand_built_recording() {
    let note = remux(&Built::default().bytes()).unwrap();
    assert_eq!(note.packets, 10);
    // 10 x 960 samples minus a 312-sample pre-skip.
    assert_eq!(note.duration.as_nanos(), u128::from(9_600u64 - 312) * 1_000_000_000 / 48_000);
    let pages = voice::read_pages(&note.ogg).unwrap();
    assert_eq!(pages.last().unwrap().granule, 9_600);
}

#[test]
fn codec_delay_fills_a_zero_pre_skip_and_discard_padding_trims() {
    let built = Built {
        head: opus_head(0),
        codec_delay_ns: Some(6_500_000),
        group_padding_ns: Some(10_000_000),
        ..Built::default()
    };
    let note = remux(&built.bytes()).unwrap();
    let pages = voice::read_pages(&note.ogg).unwrap();
    let head = voice::OpusHead::parse(&pages[0].body).unwrap();
    assert_eq!(head.pre_skip, 312);
    // The last packet loses 10 ms = 480 samples.
    assert_eq!(pages.last().unwrap().granule, 9_600 - 480);
    assert_eq!(note.duration.as_nanos(), u128::from(9_600u64 - 480 - 312) * 1_000_000_000 / 48_000);
}

#[test]
fn many_packets_span_pages_with_increasing_granules() {
    let built = Built {
        blocks: (0..500u32).map(|i| vec![0xF8; 1 + (i as usize * 13) % 700]).collect(),
        ..Built::default()
    };
    let note = remux(&built.bytes()).unwrap();
    let pages = voice::read_pages(&note.ogg).unwrap();
    assert!(pages.len() > 10);
    let granules: Vec<u64> = pages[2..].iter().map(|p| p.granule).collect();
    assert!(granules.windows(2).all(|w| w[0] < w[1]), "{granules:?}");
    assert_eq!(*granules.last().unwrap(), 500 * 960);
    assert!(pages.iter().all(|p| p.lacing.len() <= 255));
    let packets = voice::packets(&pages).unwrap();
    for (got, want) in packets[2..].iter().zip(&built.blocks) {
        assert_eq!(&got.0, want);
    }
}

#[test]
fn each_malformed_case_has_its_error() {
    let good = Built::default().bytes();
    assert!(matches!(
        remux(b"RIFF\0\0\0\0WAVE"),
        Err(VoiceError::NotWebm(_) | VoiceError::BadVint)
    ));
    assert_eq!(remux(&el(0x1853_8067, &[])), Err(VoiceError::NotWebm("no EBML header")));
    assert!(matches!(
        remux(&Built { doc_type: b"mkv3", ..Built::default() }.bytes()),
        Err(VoiceError::NotWebm(_))
    ));
    assert_eq!(
        remux(&Built { codec: b"A_VORBIS", ..Built::default() }.bytes()),
        Err(VoiceError::NoOpusTrack)
    );
    assert!(matches!(
        remux(
            &Built { head: b"OpusHeaX\x01\x01\0\0\x80\xbb\0\0\0\0\0".to_vec(), ..Built::default() }
                .bytes()
        ),
        Err(VoiceError::BadOpusHead(_))
    ));
    assert_eq!(
        remux(&Built { blocks: vec![], ..Built::default() }.bytes()),
        Err(VoiceError::Empty)
    );
    assert_eq!(
        remux(&Built { flags: 0x82, ..Built::default() }.bytes()),
        Err(VoiceError::LacedBlock)
    );
    assert_eq!(
        remux(&Built { blocks: vec![vec![]], ..Built::default() }.bytes()),
        Err(VoiceError::BadOpusPacket("empty packet"))
    );
    assert!(matches!(
        remux(&Built { blocks: vec![vec![0xFB, 0]], ..Built::default() }.bytes()),
        Err(VoiceError::BadOpusPacket(_))
    ));
    assert!(matches!(
        remux(&Built { entry_unknown: true, ..Built::default() }.bytes()),
        Err(VoiceError::UnknownSize(0xAE))
    ));
    // A Tracks element that claims more than the file holds.
    let mut overrun = el(0x1A45_DFA3, &el(0x4282, b"webm"));
    overrun.extend(unknown(0x1853_8067));
    overrun.extend([0x16, 0x54, 0xAE, 0x6B, 0x01, 0, 0, 0, 0, 0, 0x10, 0x00]);
    overrun.extend([0u8; 16]);
    assert!(matches!(
        remux(&overrun),
        Err(VoiceError::ElementOverrun { id: 0x1654_AE6B, size: 4096, remaining: 16 })
    ));
    assert_eq!(
        voice::webm_to_ogg_opus(
            &good,
            &RemuxOptions {
                limits: Limits { max_input: 100, ..Limits::default() },
                ..RemuxOptions::default()
            }
        ),
        Err(VoiceError::TooLarge { size: good.len(), limit: 100 })
    );
    assert_eq!(
        voice::webm_to_ogg_opus(
            &good,
            &RemuxOptions {
                limits: Limits { max_packets: 5, ..Limits::default() },
                ..RemuxOptions::default()
            }
        ),
        Err(VoiceError::TooManyPackets(5))
    );
    assert!(matches!(
        remux(&good[..good.len() - 2]),
        Err(VoiceError::ElementOverrun { .. } | VoiceError::Truncated(_))
    ));
}

#[test]
fn fuzz_seeds_replay() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/voice_webm");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("seed corpus") {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        wab24::fuzzing::webm_to_ogg(&data);
        count += 1;
    }
    assert!(count >= 2, "{count} seeds");
}
