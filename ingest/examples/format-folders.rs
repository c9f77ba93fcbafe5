//! Writes one `folder`-layout dataset per newer format for the whole-ingest benchmark
//! (`scripts/bench-ingest.sh`, `FORMATS`): `<out>/<format>/<class>/<k>.<ext>` for Prophesee
//! EVT 2.0 and EVT 3.0 (`.raw`) and DAT (`.dat`) on a 320x240 sensor, ATIS `.bin` on N-MNIST's
//! 34x34, and tonic-layout `.npy` (x, y: i16, p: bool, t: i64; no sensor stated, so ingest
//! takes `--sensor 320x240`). Events are `dvs_fixtures::prophesee::burst_events` (row bursts,
//! steps of 0..31 µs), seeded per file; two classes.
//!
//! `cargo run --release -p dvs-ingest --example format-folders -- OUT [FILES_PER_CLASS] [EVENTS]`

use dvs_fixtures::npy::NpyLayout;
use dvs_fixtures::prophesee::{burst_events, encode_dat, encode_evt2, encode_evt3, RawOptions};

/// `(folder, extension, width, height)` of each format.
const FORMATS: [(&str, &str, u16, u16); 5] = [
    ("evt2", "raw", 320, 240),
    ("evt3", "raw", 320, 240),
    ("dat", "dat", 320, 240),
    ("atis", "bin", 34, 34),
    ("npy", "npy", 320, 240),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = std::path::PathBuf::from(
        args.next()
            .ok_or("usage: format-folders OUT [N] [EVENTS]")?,
    );
    let per_class: usize = args.next().map_or(Ok(20), |n| n.parse())?;
    let events_per_file: usize = args.next().map_or(Ok(200_000), |n| n.parse())?;
    let tonic_npy = NpyLayout::catalogue().remove(0);
    for (index, (format, ext, width, height)) in FORMATS.iter().enumerate() {
        for class in 0..2u64 {
            let dir = out.join(format).join(format!("class{class}"));
            std::fs::create_dir_all(&dir)?;
            for k in 0..per_class as u64 {
                let seed = (index as u64) << 40 | class << 20 | k;
                let events = burst_events(events_per_file, seed, *width, *height, 0);
                let bytes = match *format {
                    "evt2" => encode_evt2(&events, *width, *height, &RawOptions::default()),
                    "evt3" => encode_evt3(&events, *width, *height, &RawOptions::default()),
                    "dat" => encode_dat(&events, *width, *height),
                    "atis" => dvs_fixtures::atis::encode_auto(&events),
                    _ => dvs_fixtures::npy::encode(&events, &tonic_npy),
                };
                dvs_frames::fsutil::atomic_write(&dir.join(format!("{k:04}.{ext}")), &bytes)?;
            }
        }
    }
    println!(
        "wrote {} files per format ({events_per_file} events each) under {}",
        2 * per_class,
        out.display()
    );
    Ok(())
}
