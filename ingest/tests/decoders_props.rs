//! Property tests: truncated and byte-mutated copies of every good binary
//! fixture (AEDAT 2.0 / 3.1 / 4.0 files listed in the manifest) never panic;
//! they decode or give an error naming the file, and a truncated copy either
//! fails or yields a prefix of the full decode.

use std::path::PathBuf;
use std::sync::LazyLock;

use dvs_decode::{read_all_bytes, DecodeOptions, Events, Format};
use proptest::prelude::*;

mod common;
use common::{check_error_names, is_prefix};

struct Fixture {
    name: PathBuf,
    format: Format,
    bytes: Vec<u8>,
    events: Events,
}

static FIXTURES: LazyLock<Vec<Fixture>> = LazyLock::new(|| {
    let root = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/events"
    ));
    let text =
        std::fs::read_to_string(root.join("manifest.json")).expect("fixture manifest is missing");
    let m: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    for f in m["files"].as_array().unwrap() {
        let fmt = f["format"].as_str().unwrap();
        let format = if fmt.starts_with("AEDAT 2.0") {
            Format::Aedat2
        } else if fmt.starts_with("AEDAT 3.1") {
            Format::Aedat31
        } else if fmt.starts_with("AEDAT 4.0") {
            Format::Aedat4
        } else {
            continue; // HDF5 goes through libhdf5, not these decoders
        };
        let name = root.join(f["path"].as_str().unwrap());
        let bytes = std::fs::read(&name).unwrap();
        let events = read_all_bytes(&name, &bytes, format, &DecodeOptions::default()).unwrap();
        out.push(Fixture {
            name,
            format,
            bytes,
            events,
        });
    }
    assert!(out.len() >= 3, "expected AEDAT fixtures of every format");
    out
});

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn truncated_fixture_errors_or_yields_a_prefix(which in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>()) {
        let fx = which.get(&FIXTURES);
        let len = cut.index(fx.bytes.len());
        let result = read_all_bytes(&fx.name, &fx.bytes[..len], fx.format, &DecodeOptions::default());
        check_error_names(&fx.name, &result, len);
        if let Ok(ev) = &result {
            prop_assert!(is_prefix(ev, &fx.events), "{}: truncation at {len} decoded non-prefix events", fx.name.display());
        }
    }

    #[test]
    fn mutated_fixture_never_panics(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
    ) {
        let fx = which.get(&FIXTURES);
        let mut bytes = fx.bytes.clone();
        for (at, value) in &edits {
            let i = at.index(bytes.len());
            bytes[i] = *value;
        }
        let result = read_all_bytes(&fx.name, &bytes, fx.format, &DecodeOptions::default());
        check_error_names(&fx.name, &result, bytes.len());
        if let Ok(ev) = &result {
            let n = ev.len();
            prop_assert!(ev.x.len() == n && ev.y.len() == n && ev.p.len() == n);
        }
    }

    #[test]
    fn mutated_header_region_never_panics(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec((0usize..2048, any::<u8>()), 1..8),
    ) {
        // Concentrate mutations on headers (text header, IOHeader, first packets).
        let fx = which.get(&FIXTURES);
        let mut bytes = fx.bytes.clone();
        for (at, value) in &edits {
            let i = at % bytes.len();
            bytes[i] = *value;
        }
        let result = read_all_bytes(&fx.name, &bytes, fx.format, &DecodeOptions::default());
        check_error_names(&fx.name, &result, bytes.len());
    }
}
