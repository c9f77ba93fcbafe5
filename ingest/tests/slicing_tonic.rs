//! `--slice` against tonic: `tests/data/slicing/` holds event files written by the dvs-fixtures
//! encoders (`examples/slicing-fixtures.rs`: `recordings.json` lists the generator arguments) and
//! the index ranges tonic 1.7's `SliceByTime` / `SliceByEventCount` gave on them
//! (`scripts/tonic_slices.py` → `tonic_slices.json`). The tests check that the files are the
//! fixtures' events, that [`Slice::ranges`] equals tonic's ranges for every case, and that a whole
//! `folder` ingest with `--slice` (npy needs `--sensor`) makes one sample per tonic slice with
//! tonic's event counts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dvs_decode::{DecodeOptions, Format};
use dvs_fixtures::prophesee::burst_events;
use dvs_ingest::slice::Slice;
use dvs_ingest::{DatasetKind, IngestConfig};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/slicing")
}

fn json(name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(data().join(name)).unwrap()).unwrap()
}

/// `(file, slice spelling, tonic's ranges)` of every recorded case.
fn cases() -> Vec<(String, String, Vec<std::ops::Range<usize>>)> {
    let doc = json("tonic_slices.json");
    doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let ranges = c["ranges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r[0].as_u64().unwrap() as usize..r[1].as_u64().unwrap() as usize)
                .collect();
            (
                c["file"].as_str().unwrap().to_string(),
                c["slice"].as_str().unwrap().to_string(),
                ranges,
            )
        })
        .collect()
}

fn decode(file: &str) -> dvs_decode::Events {
    dvs_decode::read_all(&data().join(file), Format::Npy, &DecodeOptions::default()).unwrap()
}

#[test]
fn the_files_are_the_fixtures_events() {
    let listing = json("recordings.json");
    let listing = listing.as_array().unwrap();
    assert!(!listing.is_empty());
    for entry in listing {
        let file = entry["file"].as_str().unwrap();
        let events = burst_events(
            entry["events"].as_u64().unwrap() as usize,
            entry["seed"].as_u64().unwrap(),
            entry["width"].as_u64().unwrap() as u16,
            entry["height"].as_u64().unwrap() as u16,
            entry["t0"].as_i64().unwrap(),
        );
        let decoded = decode(file);
        assert_eq!(decoded.len(), events.len(), "{file}");
        for (i, e) in events.iter().enumerate() {
            let got = (decoded.t[i], decoded.x[i], decoded.y[i], decoded.p[i] != 0);
            assert_eq!(got, (e.t, e.x, e.y, e.on), "{file} event {i}");
        }
    }
}

#[test]
fn slice_ranges_equal_tonics_for_every_case() {
    let cases = cases();
    assert!(cases.len() >= 50, "only {} cases", cases.len());
    let mut events: BTreeMap<String, dvs_decode::Events> = BTreeMap::new();
    let (mut time, mut count, mut incomplete) = (0, 0, 0);
    for (file, spelled, tonic) in &cases {
        let e = events.entry(file.clone()).or_insert_with(|| decode(file));
        let slice: Slice = spelled.parse().unwrap();
        assert_eq!(slice.to_string(), *spelled);
        let ours = slice.ranges(&e.t);
        // tonic's metadata may run past the events (count slices); `data[start:end]` clips.
        let n = e.len();
        let clipped: Vec<_> = tonic
            .iter()
            .map(|r| r.start.min(n)..r.end.min(n).max(r.start.min(n)))
            .collect();
        assert_eq!(ours, clipped, "{file} --slice {spelled}");
        match slice {
            Slice::Time { .. } => time += 1,
            Slice::Count { .. } => count += 1,
        }
        incomplete += usize::from(spelled.ends_with(":incomplete"));
    }
    assert!(time > 0 && count > 0 && incomplete > 0);
}

#[test]
fn a_sliced_folder_ingest_has_one_sample_per_tonic_slice() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("raw");
    let class = input.join("bursts");
    std::fs::create_dir_all(&class).unwrap();
    let file = "events-11.npy";
    std::fs::copy(data().join(file), class.join(file)).unwrap();
    let spelled = cases()
        .into_iter()
        .find(|(f, s, r)| f == file && s.starts_with("time:") && r.len() > 3)
        .map(|(_, s, r)| (s, r))
        .unwrap();
    let config = |out: &str| IngestConfig {
        slice: Some(spelled.0.parse().unwrap()),
        frames: 2,
        jobs: 1,
        ..IngestConfig::new(DatasetKind::Folder, &input, tmp.path().join(out))
    };
    // .npy states no sensor: the run refuses without --sensor, naming the flag.
    let err = dvs_ingest::run(&config("refused"), false).unwrap_err();
    assert!(err.to_string().contains("--sensor"), "{err}");
    let with_sensor = IngestConfig {
        sensor: Some("64x48".parse().unwrap()),
        test_ratio: Some("0".parse().unwrap()),
        ..config("data")
    };
    let summary = dvs_ingest::run(&with_sensor, false).unwrap();
    assert!(summary.failures.is_empty(), "{:?}", summary.failures);
    let rows = dvs_ingest::manifest::read(&with_sensor.output).unwrap();
    assert_eq!(rows.len(), spelled.1.len(), "--slice {}", spelled.0);
    let mut rows: Vec<_> = rows.into_iter().map(|r| r.meta).collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    for (k, (meta, range)) in rows.iter().zip(&spelled.1).enumerate() {
        assert_eq!(meta.name, format!("events-11_s{k:05}"));
        assert_eq!(meta.event_count as usize, range.len(), "slice {k}");
        assert_eq!(meta.class_name, "bursts");
    }
}
