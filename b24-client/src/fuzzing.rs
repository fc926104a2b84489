//! Fuzz harnesses: each takes arbitrary bytes and must never panic. The `fuzz/` crate's targets
//! call these; a unit test replays the committed seeds under `fuzz/corpus/<target>/`.

use crate::{
    envelope,
    inbound::{Event, FrameRequest, InstallCallback},
};

/// Target `b24_frame`: the first line is the query string, the rest the form body.
pub fn frame(data: &[u8]) {
    let (q, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let q = String::from_utf8_lossy(q);
    if let Ok(f) = FrameRequest::parse(&q, body) {
        let _ = (f.entity_id(), f.line(), format!("{f:?}"));
    }
}

/// Target `b24_install`: an install callback body.
pub fn install(data: &[u8]) {
    if let Ok(cb) = InstallCallback::parse(data, 1_700_000_000) {
        let _ = format!("{cb:?}");
    }
}

/// Target `b24_event`: an event body.
pub fn event(data: &[u8]) {
    if let Ok(e) = Event::parse(data) {
        let _ = e.verify(&crate::Secret::new("x"));
        let _ = e.auth.token_set(0);
    }
}

/// Target `b24_envelope`: a REST response body.
pub fn response(data: &[u8]) {
    let _ = envelope::parse(200, data);
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    /// Replays every committed seed through its harness.
    #[test]
    fn replays_committed_seeds() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
        type Harness = fn(&[u8]);
        let targets: [(&str, Harness); 4] = [
            ("b24_frame", super::frame),
            ("b24_install", super::install),
            ("b24_event", super::event),
            ("b24_envelope", super::response),
        ];
        for (name, harness) in targets {
            let dir = root.join(name);
            let mut n = 0;
            for entry in
                std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            {
                let data = std::fs::read(entry.unwrap().path()).unwrap();
                harness(&data);
                n += 1;
            }
            assert!(n >= 3, "{name}: only {n} seeds");
        }
    }
}
