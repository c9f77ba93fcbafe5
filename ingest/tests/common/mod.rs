//! Shared helpers for the ingest tests: the fixture folder and manifest,
//! `.npz` readers, a one-call library run into a temporary directory, and the
//! decoder contract checks of the property tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use dvs_ingest::config::IngestConfig;
use dvs_ingest::{DatasetKind, SplitBy};
use ndarray::{ArrayD, IxDyn};
use ndarray_npy::NpzReader;

/// The shared event fixtures (the test fails if they are missing).
pub fn fixtures() -> PathBuf {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/events"
    ));
    assert!(
        dir.join("manifest.json").is_file(),
        "fixtures missing at {}",
        dir.display()
    );
    dir
}

/// The parsed fixture manifest.
pub fn manifest() -> serde_json::Value {
    let bytes = std::fs::read(fixtures().join("manifest.json")).expect("manifest.json");
    serde_json::from_slice(&bytes).expect("manifest.json is JSON")
}

/// Reads array `name` of an `.npz` as f64 values and its shape.
pub fn npz_array(path: &Path, name: &str) -> (Vec<usize>, Vec<f64>) {
    let mut npz =
        NpzReader::new(File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
            .expect("npz");
    macro_rules! try_type {
        ($t:ty) => {
            if let Ok(a) = npz.by_name::<ndarray::OwnedRepr<$t>, IxDyn>(name) {
                let a: ArrayD<$t> = a;
                return (a.shape().to_vec(), a.iter().map(|&v| v as f64).collect());
            }
        };
    }
    try_type!(f32);
    try_type!(i64);
    try_type!(i16);
    try_type!(u8);
    try_type!(u16);
    try_type!(u32);
    try_type!(f64);
    try_type!(i32);
    panic!("{}: no readable array {name}", path.display());
}

/// Names of the arrays in an `.npz`.
pub fn npz_names(path: &Path) -> Vec<String> {
    let mut npz = NpzReader::new(File::open(path).unwrap()).unwrap();
    npz.names().unwrap()
}

/// Input folder (or file) of each fixture dataset kind.
pub fn fixture_inputs() -> Vec<(DatasetKind, PathBuf)> {
    let f = fixtures();
    vec![
        (DatasetKind::Gesture, f.join("DvsGesture")),
        (DatasetKind::Cifar10Dvs, f.join("CIFAR10-DVS")),
        (DatasetKind::Cifar10DvsAedat4, f.join("CIFAR10DVS-aedat4")),
        (DatasetKind::Hdf5, hdf5_fixture()),
    ]
}

/// The DECOLLE HDF5 file of the fixtures (the first `*.hdf5` / `*.h5` in `hdf5/`).
pub fn hdf5_fixture() -> PathBuf {
    let dir = fixtures().join("hdf5");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("hdf5" | "h5")))
        .collect();
    files.sort();
    files
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no HDF5 file in {}", dir.display()))
}

/// A resolved config for `kind` reading `input` and writing `output`.
pub fn config(
    kind: DatasetKind,
    input: &Path,
    output: &Path,
    frames: usize,
    split_by: SplitBy,
) -> IngestConfig {
    let config = IngestConfig {
        frames,
        split_by,
        jobs: 2,
        ..IngestConfig::new(kind, input, output)
    };
    config.validate().expect("valid config");
    config
}

/// The three expected tensors: (npz key, frames, rule).
pub const INTEGRATIONS: [(&str, usize, SplitBy); 3] = [
    ("frames_sj_number_10", 10, SplitBy::Number),
    ("frames_sj_time_8", 8, SplitBy::Time),
    ("frames_tonic_time_bins_10", 10, SplitBy::TonicTimeBins),
];

/// Every file under `dir` (relative path → bytes).
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Samples of a finished dataset: sample id → (label, frames as f32, shape).
pub fn read_dataset(dir: &Path) -> BTreeMap<String, (u32, Vec<f32>, [usize; 4])> {
    let info = dvs_frames::DatasetInfo::read(dir).expect("dataset.json");
    let mut out = BTreeMap::new();
    for split in info.splits.values() {
        for shard in &split.shards {
            let r = dvs_frames::ShardReader::open(dir.join(shard)).expect("shard");
            for i in 0..r.len() {
                out.insert(
                    r.key(i).unwrap().to_string(),
                    (
                        r.label(i).unwrap(),
                        r.read_f32(i).unwrap(),
                        r.shape(i).unwrap(),
                    ),
                );
            }
        }
    }
    out
}

/// Copies a directory tree.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_tree(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// True when `part` is the first `part.len()` events of `full` (a truncated file may decode
/// to a prefix of the whole file, never to other events).
pub fn is_prefix(part: &dvs_decode::Events, full: &dvs_decode::Events) -> bool {
    let n = part.len();
    n <= full.len()
        && part.t == full.t[..n]
        && part.x == full.x[..n]
        && part.y == full.y[..n]
        && part.p == full.p[..n]
}

/// A decode error names the file, an offset inside the `len` bytes, and a reason.
pub fn check_error_names(
    name: &Path,
    result: &Result<dvs_decode::Events, dvs_decode::DecodeError>,
    len: usize,
) {
    if let Err(e) = result {
        assert_eq!(e.file, name);
        assert!(e.offset as usize <= len, "{e}");
        assert!(!e.reason.is_empty());
    }
}
