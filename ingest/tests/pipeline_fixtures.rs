//! The whole ingest pipeline against the shared fixtures: every sample the
//! fixture manifest lists (Gesture windows, CIFAR10-DVS AEDAT 2.0 and AEDAT 4
//! files, HDF5 keys) must come out of `run` with the right id, label, split,
//! window and event count, and with frames equal, element for element, to the
//! SpikingJelly / tonic tensors in `expected/**.npz`, for all three rules.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use dvs_decode::{self as decode, DecodeOptions, Format};
use dvs_ingest::labels::{cut_window, parse_labels_csv};
use dvs_ingest::layout::{discover, CifarSplit, RecordingPlan};
use dvs_ingest::DatasetKind;

/// Manifest row of a prepared dataset, by sample id.
fn manifest_rows(dir: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let manifest = dvs_ingest::manifest::read(dir).expect("manifest.parquet reads");
    let mut rows = BTreeMap::new();
    for r in manifest {
        let row: BTreeMap<String, String> = r
            .cells()
            .into_iter()
            .map(|(name, value)| (name.to_string(), value))
            .collect();
        rows.insert(row["sample_id"].clone(), row);
    }
    rows
}

/// (dataset kind, our sample id, expected npz, manifest sample entry) for every
/// sample the fixture manifest lists, including the HDF5 keys.
fn expected_samples() -> Vec<(DatasetKind, String, std::path::PathBuf, serde_json::Value)> {
    let m = manifest();
    let f = fixtures();
    let mut out = Vec::new();
    let samples = m["samples"].as_array().expect("samples");
    assert!(!samples.is_empty());
    for s in samples {
        let source = s["source"].as_str().unwrap();
        let expected = s["expected"].as_str().unwrap();
        let name = s["sample"].as_str().unwrap();
        let (kind, id) = if source.starts_with("DvsGesture/") {
            let id = expected
                .strip_prefix("expected/DvsGesture/samples/")
                .and_then(|p| p.strip_suffix(".npz"))
                .expect("gesture sample path");
            (DatasetKind::Gesture, id.to_string())
        } else {
            let kind = if source.starts_with("CIFAR10-DVS/") {
                DatasetKind::Cifar10Dvs
            } else if source.starts_with("CIFAR10DVS-aedat4/") {
                DatasetKind::Cifar10DvsAedat4
            } else {
                panic!("unknown sample source {source}");
            };
            let class = source.split('/').nth(1).unwrap();
            // Default split sj90: split assigned per class in file-name order.
            let class_dir = f.join(source).parent().unwrap().to_path_buf();
            let mut names: Vec<String> = std::fs::read_dir(&class_dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            let pos = names
                .iter()
                .position(|n| source.ends_with(n.as_str()))
                .unwrap();
            let train = (names.len() as f64 * 0.9).ceil() as usize;
            let split = if pos < train { "train" } else { "test" };
            (kind, format!("{split}/{class}/{name}"))
        };
        out.push((kind, id, f.join(expected), s.clone()));
    }
    for file in m["files"].as_array().unwrap() {
        let Some(keys) = file.get("keys").and_then(|k| k.as_object()) else {
            continue;
        };
        for (key, k) in keys {
            let split = if k["train"].as_bool().unwrap() {
                "train"
            } else {
                "test"
            };
            let label = k["label"].as_u64().unwrap();
            let sample = k["sample"].as_str().unwrap();
            let expected = f.join(format!(
                "expected/DvsGesture/samples/{split}/{label}/{sample}.npz"
            ));
            let entry = serde_json::json!({"label": label, "events": k["events"], "split": split});
            out.push((
                DatasetKind::Hdf5,
                format!("{split}/{label}/{key}"),
                expected,
                entry,
            ));
        }
    }
    out
}

#[test]
fn every_fixture_sample_matches_all_three_integrations_through_the_pipeline() {
    let tmp = tempfile::tempdir().unwrap();
    let expected = expected_samples();
    let mut checked = 0;
    for (npz_key, frames, split_by) in INTEGRATIONS {
        for (kind, input) in fixture_inputs() {
            let out = tmp
                .path()
                .join(format!("{}-{}", kind.as_str(), split_by.as_str()));
            let summary =
                dvs_ingest::run(&config(kind, &input, &out, frames, split_by), false).unwrap();
            assert!(summary.failures.is_empty(), "{:?}", summary.failures);
            let ours = read_dataset(&out);
            let rows = manifest_rows(&out);
            let wanted: Vec<_> = expected.iter().filter(|e| e.0 == kind).collect();
            assert!(
                !wanted.is_empty(),
                "fixture manifest has no {kind:?} samples"
            );
            assert_eq!(
                ours.keys().cloned().collect::<Vec<_>>().len(),
                wanted.len(),
                "{kind:?}: sample ids {:?}",
                ours.keys().collect::<Vec<_>>()
            );
            for (_, id, npz, entry) in wanted {
                let (label, values, shape) = ours.get(id).unwrap_or_else(|| {
                    panic!(
                        "{kind:?}: no sample {id}; have {:?}",
                        ours.keys().collect::<Vec<_>>()
                    )
                });
                assert_eq!(
                    u64::from(*label),
                    entry["label"].as_u64().unwrap(),
                    "{id} label"
                );
                let (eshape, evalues) = npz_array(npz, npz_key);
                assert_eq!(shape.to_vec(), eshape, "{id} {npz_key} shape");
                let mismatches = values
                    .iter()
                    .zip(&evalues)
                    .filter(|(a, b)| f64::from(**a) != **b)
                    .count();
                assert_eq!(
                    mismatches, 0,
                    "{id} {npz_key}: {mismatches} elements differ"
                );
                // The manifest row agrees with the fixture manifest.
                let row = &rows[id];
                assert_eq!(row["label"], entry["label"].to_string(), "{id}");
                assert_eq!(row["event_count"], entry["events"].to_string(), "{id}");
                if let Some(split) = entry.get("split") {
                    assert_eq!(&row["split"], split.as_str().unwrap(), "{id}");
                }
                if let (Some(start), Some(end)) = (entry.get("start"), entry.get("end")) {
                    assert_eq!(row["t_start"], start.to_string(), "{id}");
                    assert_eq!(row["t_end"], end.to_string(), "{id}");
                }
                // events not in any frame: 0 for SpikingJelly, tonic's count otherwise
                if let Some(d) = entry["frames"]
                    .get(npz_key)
                    .and_then(|f| f.get("events_dropped"))
                {
                    assert_eq!(row["events_dropped"], d.to_string(), "{id} {npz_key}");
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, expected.len() * 3);
}

#[test]
fn gesture_cutting_matches_the_expected_sample_events() {
    let m = manifest();
    let f = fixtures();
    let found = discover(
        DatasetKind::Gesture,
        &f.join("DvsGesture"),
        CifarSplit::Sj90,
    )
    .unwrap();
    assert!(found.failures.is_empty());
    let mut checked = 0;
    for s in m["samples"].as_array().unwrap() {
        let source = s["source"].as_str().unwrap();
        if !source.starts_with("DvsGesture/") {
            continue;
        }
        let rec = found
            .recordings
            .iter()
            .find(|r| f.join(source) == r.path)
            .unwrap_or_else(|| panic!("{source} not discovered"));
        let RecordingPlan::GestureTrial {
            labels_csv,
            split,
            trial,
        } = &rec.plan
        else {
            panic!("not a trial plan");
        };
        assert_eq!(
            split.as_str(),
            s["split"].as_str().unwrap(),
            "{source} split"
        );
        let events =
            decode::read_all(&rec.path, Format::Aedat31, &DecodeOptions::default()).unwrap();
        let windows =
            parse_labels_csv(labels_csv, &std::fs::read_to_string(labels_csv).unwrap()).unwrap();
        let name = s["sample"].as_str().unwrap();
        let k: usize = name.rsplit('_').next().unwrap().parse().unwrap();
        assert_eq!(name, format!("{trial}_{k}"));
        let label = s["label"].as_u64().unwrap() as u32;
        let w = windows
            .iter()
            .find(|w| w.label == label && w.k == k)
            .expect("window");
        assert_eq!(
            (w.start, w.end),
            (s["start"].as_i64().unwrap(), s["end"].as_i64().unwrap())
        );
        let cut = cut_window(&events, w.start, w.end, true);
        let npz = f.join(s["expected"].as_str().unwrap());
        assert_eq!(
            npz_array(&npz, "t").1,
            cut.t.iter().map(|&v| v as f64).collect::<Vec<_>>(),
            "{name} t"
        );
        assert_eq!(
            npz_array(&npz, "x").1,
            cut.x.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
            "{name} x"
        );
        assert_eq!(
            npz_array(&npz, "y").1,
            cut.y.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
            "{name} y"
        );
        assert_eq!(
            npz_array(&npz, "p").1,
            cut.p.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
            "{name} p"
        );
        assert_eq!(npz_array(&npz, "label").1, vec![f64::from(label)]);
        assert_eq!(
            npz_array(&npz, "window").1,
            vec![w.start as f64, w.end as f64]
        );
        // the unsorted (filtering) path cuts identically
        assert_eq!(cut_window(&events, w.start, w.end, false), cut);
        checked += 1;
    }
    assert!(checked > 0);
}

#[test]
fn resize_48_is_the_area_average_of_the_expected_frames() {
    let tmp = tempfile::tempdir().unwrap();
    let expected = expected_samples();
    for (kind, input) in fixture_inputs() {
        let out = tmp.path().join(kind.as_str());
        let mut cfg = config(kind, &input, &out, 10, dvs_ingest::SplitBy::Number);
        cfg.resize = Some(dvs_ingest::geometry::ResizeTo::square(48));
        dvs_ingest::run(&cfg, false).unwrap();
        let info = dvs_frames::DatasetInfo::read(&out).unwrap();
        assert_eq!(
            (info.height, info.width, info.dtype),
            (48, 48, dvs_frames::Dtype::F32)
        );
        let ours = read_dataset(&out);
        for (_, id, npz, _) in expected.iter().filter(|e| e.0 == kind) {
            let (_, values, shape) = &ours[id];
            assert_eq!(*shape, [10, 2, 48, 48]);
            let (_, full) = npz_array(npz, "frames_sj_number_10");
            let counts: Vec<u32> = full.iter().map(|&v| v as u32).collect();
            let want = dvs_ingest::resize::area_resize(&counts, 20, (128, 128), (48, 48));
            assert_eq!(values, &want, "{id}");
            let total_in: f64 = full.iter().sum();
            let total_out: f64 = values.iter().map(|&v| f64::from(v)).sum();
            let ratio = (48.0f64 / 128.0).powi(2);
            assert!(
                (total_out - total_in * ratio).abs() <= 1e-4 * total_in * ratio,
                "{id}"
            );
        }
    }
}
