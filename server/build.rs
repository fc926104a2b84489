//! Embeds every file of `ui/` (the chat panel: plain ES modules and CSS, no build step) into
//! the binary as a table `(file name, bytes)`, sorted by name.

use std::{env, fs, io, path::Path};

fn main() -> io::Result<()> {
    let dir = Path::new(&env::var("CARGO_MANIFEST_DIR").map_err(io::Error::other)?).join("ui");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files = Vec::new();
    if dir.is_dir() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // Served names are flat and plain; anything else (editor files, folders) stays out.
            let plain = !name.starts_with('.')
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if entry.file_type()?.is_file() && plain {
                files.push((name, entry.path()));
            }
        }
    }
    files.sort();
    let mut table = String::from("&[\n");
    for (name, path) in &files {
        table.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    table.push_str("]\n");
    let out = Path::new(&env::var("OUT_DIR").map_err(io::Error::other)?).join("ui_assets.rs");
    fs::write(out, table)
}
