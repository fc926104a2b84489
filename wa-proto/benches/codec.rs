//! Our half of `scripts/bench codec`: decode then encode every frame of a corpus, for a few seconds.
//!
//! `cargo bench -p wa-proto --bench codec -- CORPUS` where CORPUS holds frames (flags byte and node,
//! as Baileys' `encodeBinaryNode` writes them), each preceded by its length as a little-endian u32;
//! `interop/bench/codec.mjs` writes it and runs Baileys on the same frames. Prints one JSON line:
//! `{"frames", "bytes", "passes", "seconds", "mb_per_s", "frames_per_s"}` (MB = 10^6 bytes of
//! input frames). `BENCH_SECONDS` sets the measured time (default 3) after one second of warm-up.
//!
//! Without a corpus (as under `cargo test --all-targets`) it decodes and re-encodes one built-in
//! frame once and exits: nothing is timed then.

#![expect(clippy::disallowed_methods, reason = "a benchmark measures wall-clock time")]

use std::{
    hint::black_box,
    process::ExitCode,
    time::{Duration, Instant},
};

use wa_proto::{Jid, Node, Server};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("codec bench: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let Some(path) = std::env::args().skip(1).find(|arg| !arg.starts_with("--")) else {
        return smoke();
    };
    let data = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
    let frames = split(&data)?;
    if frames.is_empty() {
        return Err("the corpus is empty".into());
    }
    let seconds: f64 = match std::env::var("BENCH_SECONDS") {
        Ok(text) => text.parse().map_err(|_| format!("BENCH_SECONDS={text}"))?,
        Err(_) => 3.0,
    };
    // Every frame must round-trip before we time anything.
    for (index, frame) in frames.iter().enumerate() {
        let node = wa_proto::decode(frame).map_err(|e| format!("frame {index}: {e}"))?;
        wa_proto::encode(&node).map_err(|e| format!("frame {index}: {e}"))?;
    }
    measure(&frames, Duration::from_secs(1))?;
    let (passes, elapsed) = measure(&frames, Duration::from_secs_f64(seconds))?;
    let bytes: usize = frames.iter().map(|f| f.len()).sum();
    let total = elapsed.as_secs_f64();
    println!(
        "{{\"frames\":{},\"bytes\":{bytes},\"passes\":{passes},\"seconds\":{total:.3},\"mb_per_s\":{:.3},\"frames_per_s\":{:.1}}}",
        frames.len(),
        (bytes * passes) as f64 / total / 1e6,
        (frames.len() * passes) as f64 / total,
    );
    Ok(())
}

/// Whole passes over the corpus until `at_least` has gone by.
fn measure(frames: &[&[u8]], at_least: Duration) -> Result<(usize, Duration), String> {
    let start = Instant::now();
    let mut passes = 0;
    loop {
        for frame in frames {
            let node = wa_proto::decode(black_box(frame)).map_err(|e| e.to_string())?;
            let bytes = wa_proto::encode(&node).map_err(|e| e.to_string())?;
            black_box(bytes);
        }
        passes += 1;
        let elapsed = start.elapsed();
        if elapsed >= at_least {
            return Ok((passes, elapsed));
        }
    }
}

fn split(mut data: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut frames = Vec::new();
    while !data.is_empty() {
        let (len, rest) = data.split_first_chunk::<4>().ok_or("a truncated length")?;
        let len = u32::from_le_bytes(*len) as usize;
        if rest.len() < len {
            return Err("a truncated frame".into());
        }
        let (frame, rest) = rest.split_at(len);
        frames.push(frame);
        data = rest;
    }
    Ok(frames)
}

fn smoke() -> Result<(), String> {
    let node = Node::builder("message")
        .attr("to", Jid::with_device("5511987654321", Server::User, 3))
        .attr("id", "3EB0C431D5F1A2B3C4D5")
        .children([Node::builder("enc").attr("v", "2").bytes(vec![1; 64]).build()])
        .build();
    let frame = wa_proto::encode(&node).map_err(|e| e.to_string())?;
    let back = wa_proto::decode(&frame).map_err(|e| e.to_string())?;
    if back != node {
        return Err("the built-in frame did not round-trip".into());
    }
    println!(
        "codec bench: no corpus given (see scripts/bench codec); the built-in frame round-trips"
    );
    Ok(())
}
