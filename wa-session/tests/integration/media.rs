//! Media streams in bounded memory.

use sha2::{Digest, Sha256};
use wa_session::media::{MediaDecryptor, MediaEncryptor, MediaType};

/// A cheap deterministic byte generator (xorshift), so the 200 MB never exist at once.
struct Source(u64);

impl Source {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            chunk.copy_from_slice(&self.0.to_le_bytes()[..chunk.len()]);
        }
    }
}

#[test]
fn a_200_mb_stream_passes_through_bounded_buffers() {
    const TOTAL: usize = 200 * 1024 * 1024;
    const CHUNK: usize = 64 * 1024 + 7; // deliberately not block aligned
    let key = [0x11u8; 32];
    let mut source = Source(0x9E37_79B9_7F4A_7C15);
    let mut encryptor = MediaEncryptor::new(&key, MediaType::Video);
    let mut decryptor = MediaDecryptor::new(&key, MediaType::Video);
    let mut plain_hash = Sha256::new();
    let mut roundtrip_hash = Sha256::new();
    let mut chunk = vec![0u8; CHUNK];
    let mut cipher = Vec::with_capacity(CHUNK + 64);
    let mut plain_out = Vec::with_capacity(CHUNK + 64);
    let mut done = 0;
    let mut max_buffer = 0;
    while done < TOTAL {
        let n = CHUNK.min(TOTAL - done);
        source.fill(&mut chunk[..n]);
        plain_hash.update(&chunk[..n]);
        encryptor.update(&chunk[..n], &mut cipher);
        decryptor.update(&cipher, &mut plain_out);
        roundtrip_hash.update(&plain_out);
        max_buffer = max_buffer.max(cipher.capacity()).max(plain_out.capacity());
        cipher.clear();
        plain_out.clear();
        done += n;
    }
    let info = encryptor.finish(&mut cipher);
    decryptor.update(&cipher, &mut plain_out);
    let checked = decryptor.finish(&mut plain_out, Some(&info)).unwrap();
    roundtrip_hash.update(&plain_out);
    assert_eq!(checked, info);
    assert_eq!(info.file_length, TOTAL as u64);
    let plain_digest: [u8; 32] = plain_hash.finalize().into();
    assert_eq!(info.file_sha256, plain_digest);
    assert_eq!(<[u8; 32]>::from(roundtrip_hash.finalize()), plain_digest);
    assert!(max_buffer < 2 * CHUNK, "buffers grew to {max_buffer} bytes");
}
