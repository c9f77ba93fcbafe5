//! Writes the event files of the tonic slicing cross-check (`ingest/tests/data/slicing/`):
//! `events-<seed>.npy` from `dvs_fixtures::prophesee::burst_events` (row bursts with equal
//! timestamps, steps of 0..31 µs and long gaps) in tonic's structured `xytp` layout, and
//! `recordings.json` with the generator arguments, from which `tests/slicing_tonic.rs`
//! regenerates the events. `scripts/tonic_slices.py` then runs tonic's slicers on the files.
//!
//! `cargo run --release -p dvs-ingest --example slicing-fixtures -- ingest/tests/data/slicing`

use dvs_fixtures::npy::{encode, NpyLayout};
use dvs_fixtures::prophesee::burst_events;

/// `(events, seed, t0)` of each file: long, short, tiny and single-event recordings.
const RECORDINGS: [(usize, u64, i64); 4] =
    [(3000, 11, 0), (400, 12, 1_000_000), (7, 13, 5), (1, 14, 42)];

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ingest/tests/data/slicing".into());
    let dir = std::path::Path::new(&dir);
    std::fs::create_dir_all(dir)?;
    // tonic's own event dtype (x, y: i16, p: bool, t: i64).
    let layout = NpyLayout::catalogue().remove(0);
    let mut listing = Vec::new();
    for (n, seed, t0) in RECORDINGS {
        let events = burst_events(n, seed, 64, 48, t0);
        let file = format!("events-{seed}.npy");
        dvs_frames::fsutil::atomic_write(&dir.join(&file), &encode(&events, &layout))?;
        listing.push(
            serde_json::json!({"file": file, "events": n, "seed": seed, "t0": t0,
            "width": 64, "height": 48}),
        );
    }
    let text = serde_json::to_string_pretty(&listing)? + "\n";
    dvs_frames::fsutil::atomic_write(&dir.join("recordings.json"), text.as_bytes())?;
    println!("wrote {} recordings to {}", listing.len(), dir.display());
    Ok(())
}
