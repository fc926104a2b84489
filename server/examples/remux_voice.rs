//! Remuxes a browser's webm/opus recording into an Ogg Opus voice note:
//! `cargo run -p wab24 --example remux_voice -- in.webm out.ogg`.

use wab24::voice::{RemuxOptions, webm_to_ogg_opus};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(input), Some(output)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: remux_voice IN.webm OUT.ogg");
    };
    let webm = std::fs::read(&input)?;
    let note = webm_to_ogg_opus(&webm, &RemuxOptions { serial: 1, ..RemuxOptions::default() })?;
    std::fs::write(&output, &note.ogg)?;
    println!(
        "{} packets, {:.3} s, {} bytes",
        note.packets,
        note.duration.as_secs_f64(),
        note.ogg.len()
    );
    Ok(())
}
