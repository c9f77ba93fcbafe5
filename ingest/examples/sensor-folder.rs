//! Writes a small `folder`-layout dataset on a non-square sensor for the geometry end-to-end
//! check (`scripts/e2e-sensor.sh`): `<out>/<class>/<k>.aedat4` (AEDAT 4, LZ4, the event stream's
//! info declaring `WxH`) and `<out>/<class>/<k>.raw` (Prophesee EVT 3.0, `% format` header with
//! the same geometry), so one folder mixes formats and every file states its sensor. Class `c`
//! of `C` puts its events in the `c`-th vertical band of the sensor (learnable at a glance);
//! every random choice comes from `dvs_fixtures::rng::SplitMix64` seeded per file.
//!
//! `cargo run --release -p dvs-ingest --example sensor-folder -- OUT [WxH] [FILES_PER_CLASS]`

use dvs_fixtures::aedat4::{
    encode_with_info, info_xml_streams, PacketCompression, PacketContent, StreamKind,
};
use dvs_fixtures::prophesee::{encode_evt3, RawOptions};
use dvs_fixtures::rng::SplitMix64;
use dvs_fixtures::Event;

const CLASSES: [&str; 3] = ["band_left", "band_middle", "band_right"];
const EVENTS_PER_FILE: usize = 3000;

fn events_for(class: usize, file: usize, width: u16, height: u16) -> Vec<Event> {
    let mut rng = SplitMix64::new(((class as u64) << 32) ^ file as u64 ^ 0x5E75);
    let band = width as usize / CLASSES.len();
    let mut t = 1_000 + rng.below(1_000) as i64;
    (0..EVENTS_PER_FILE)
        .map(|_| {
            t += rng.below(40) as i64;
            Event {
                t,
                x: (class * band + rng.below(band)) as u16,
                y: rng.below(height as usize) as u16,
                on: rng.below(2) == 1,
            }
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = std::path::PathBuf::from(args.next().ok_or("usage: sensor-folder OUT [WxH] [N]")?);
    let size = args.next().unwrap_or_else(|| "64x48".into());
    let (w, h) = size.split_once('x').ok_or("size is WxH")?;
    let (width, height): (u16, u16) = (w.parse()?, h.parse()?);
    let per_class: usize = args.next().map_or(Ok(6), |n| n.parse())?;
    let compression = PacketCompression::Lz4;
    let xml = info_xml_streams(
        compression,
        "DVXplorer",
        &[(0, StreamKind::Events { width, height })],
    );
    for (class, name) in CLASSES.iter().enumerate() {
        let dir = out.join(name);
        std::fs::create_dir_all(&dir)?;
        for file in 0..per_class {
            let events = events_for(class, file, width, height);
            let bytes = if file % 2 == 0 {
                let packets: Vec<PacketContent> =
                    events.chunks(1000).map(PacketContent::events).collect();
                (encode_with_info(compression, &xml, &packets), "aedat4")
            } else {
                (
                    encode_evt3(&events, width, height, &RawOptions::default()),
                    "raw",
                )
            };
            dvs_frames::fsutil::atomic_write(
                &dir.join(format!("{file:03}.{}", bytes.1)),
                &bytes.0,
            )?;
        }
    }
    println!(
        "wrote {} recordings ({width}x{height}) to {}",
        CLASSES.len() * per_class,
        out.display()
    );
    Ok(())
}
