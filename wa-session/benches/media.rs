//! Our half of `scripts/bench media`: media encryption and decryption throughput.
//!
//! `cargo bench -p wa-session --bench media -- measure` prints one JSON line per blob size
//! `{"size", "passes", "encrypt_s", "decrypt_s", "mb_per_s"}`: each pass encrypts a blob of random
//! bytes as an image ([`media::encrypt`]: HKDF, AES-256-CBC, HMAC, both SHA-256s) and decrypts it
//! ([`media::decrypt`], which checks the MAC and both hashes). `mb_per_s` is plaintext MB (10^6
//! bytes) encrypted and decrypted per second of both together: 2 x size x passes / (encrypt +
//! decrypt time). Sizes are 1 MB and 16 MB; BENCH_SECONDS (default 3) per size after a warm-up
//! pass. Without `measure` it runs one small pass and exits.

#![expect(clippy::disallowed_methods, reason = "a benchmark measures wall-clock time")]
#![allow(clippy::unwrap_used, missing_docs)]

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use rand::{Rng, RngExt, SeedableRng, rngs::StdRng};
use wa_session::media::{self, MediaType};

const SIZES: [usize; 2] = [1_000_000, 16_000_000];

fn pass(key: &[u8; 32], plain: &[u8]) -> (Duration, Duration) {
    let start = Instant::now();
    let (blob, info) = media::encrypt(key, MediaType::Image, black_box(plain));
    let encrypted = start.elapsed();
    let start = Instant::now();
    let back = media::decrypt(key, MediaType::Image, black_box(&blob), Some(&info)).unwrap();
    let decrypted = start.elapsed();
    assert_eq!(back.len(), plain.len());
    black_box(back);
    (encrypted, decrypted)
}

fn main() {
    let mut rng = StdRng::seed_from_u64(3);
    let key: [u8; 32] = rng.random();
    if !std::env::args().skip(1).any(|arg| arg == "measure") {
        pass(&key, &[7; 1000]);
        println!("media bench: one small pass ran (see scripts/bench media)");
        return;
    }
    let seconds: f64 = std::env::var("BENCH_SECONDS").map_or(3.0, |s| s.parse().unwrap());
    for size in SIZES {
        let mut plain = vec![0u8; size];
        rng.fill_bytes(&mut plain);
        pass(&key, &plain);
        let (mut encrypt, mut decrypt, mut passes) = (Duration::ZERO, Duration::ZERO, 0usize);
        while (encrypt + decrypt).as_secs_f64() < seconds {
            let (e, d) = pass(&key, &plain);
            encrypt += e;
            decrypt += d;
            passes += 1;
        }
        let total = (encrypt + decrypt).as_secs_f64();
        println!(
            "{{\"size\":{size},\"passes\":{passes},\"encrypt_s\":{:.3},\"decrypt_s\":{:.3},\"mb_per_s\":{:.2}}}",
            encrypt.as_secs_f64(),
            decrypt.as_secs_f64(),
            (2 * size * passes) as f64 / total / 1e6,
        );
    }
}
