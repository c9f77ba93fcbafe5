//! Many-machine ingest: `run --part i/N` for N = 3 and `merge` give a dataset
//! whose every file (shards, manifest.parquet, dataset.json, errors.json,
//! ingest-config.toml) is byte-identical to one single-process run, for every
//! layout of a fixtures-written tiny set (a broken recording included; `folder` with a
//! seeded split and the sensor from the files); merge
//! refuses missing, repeated, overlapping, mismatched, unfinished and corrupt
//! parts with errors that name them; an interrupted merge reruns cleanly; and
//! the binary's `--part` / `merge` are wired and validated.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use dvs_fixtures::prophesee::{burst_events, encode_dat, encode_evt3, RawOptions};
use dvs_fixtures::{generate, FixtureSpec, Layout, Size};
use dvs_ingest::config::IngestConfig;
use dvs_ingest::merge::{merge, MergeConfig, MergeError, PartManifest, PartSpec, PART_FILE};
use dvs_ingest::pipeline::{run, run_part};
use dvs_ingest::{DatasetKind, SplitBy};

const PARTS: usize = 3;

/// A tiny fixtures set (all layouts) with the broken AEDAT 2.0 fixtures added
/// to a CIFAR10-DVS class folder as if they were recordings.
fn tiny_inputs(tmp: &Path) -> Vec<(DatasetKind, PathBuf, usize)> {
    let raw = tmp.join("raw");
    generate(&FixtureSpec::new(Layout::All, Size::Tiny, &raw, 21)).expect("fixtures");
    let cifar = raw.join("CIFAR10-DVS");
    let class = std::fs::read_dir(&cifar)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .min()
        .expect("a CIFAR10-DVS class folder");
    let class_name = class.file_name().unwrap().to_string_lossy().into_owned();
    let mut broken = 0;
    for b in manifest()["broken"].as_array().expect("broken list") {
        if b["format"] == "AEDAT 2.0" {
            let dest = class.join(format!("cifar10_{class_name}_{}.aedat", 900 + broken));
            std::fs::copy(fixtures().join(b["path"].as_str().unwrap()), dest).unwrap();
            broken += 1;
        }
    }
    assert!(broken > 0, "no broken AEDAT 2.0 fixture to plant");
    let hdf5 = std::fs::read_dir(raw.join("hdf5"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .expect("an HDF5 file");
    // `folder`: EVT 3.0 and DAT recordings of a 64x48 sensor (size from their headers) in
    // class folders, a seeded stratified split, and one of another sensor that fails alone.
    let folder = raw.join("folder");
    for (class, n) in [("left", 7), ("right", 5)] {
        let dir = folder.join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for k in 0..n {
            let events = burst_events(200 + 150 * k, 40 + k as u64, 64, 48, 0);
            let (name, bytes) = if k % 2 == 0 {
                (
                    format!("r{k}.raw"),
                    encode_evt3(&events, 64, 48, &RawOptions::default()),
                )
            } else {
                (format!("r{k}.dat"), encode_dat(&events, 64, 48))
            };
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    let other_sensor = burst_events(100, 99, 128, 96, 0);
    std::fs::write(
        folder.join("left/other.raw"),
        encode_evt3(&other_sensor, 128, 96, &RawOptions::default()),
    )
    .unwrap();
    vec![
        (DatasetKind::Folder, folder, 1),
        (DatasetKind::Gesture, raw.join("DvsGesture"), 0),
        (DatasetKind::Cifar10Dvs, cifar, broken),
        (
            DatasetKind::Cifar10DvsAedat4,
            raw.join("CIFAR10DVS-aedat4"),
            0,
        ),
        (DatasetKind::Hdf5, hdf5, 0),
    ]
}

fn config_for(kind: DatasetKind, input: &Path, output: &Path) -> IngestConfig {
    let mut c = config(kind, input, output, 40, SplitBy::Number);
    c.shard_mb = 1;
    if kind == DatasetKind::Folder {
        c.test_ratio = Some("0.3".parse().expect("a ratio"));
        c.split_seed = Some(3);
    }
    if kind == DatasetKind::Cifar10Dvs {
        // f32 frames (area resize) of 100 bins make records large enough for several
        // 1 MiB shards, so shard boundaries fall across parts.
        c.frames = 100;
        c.resize = Some("100".parse().expect("a resize side"));
    }
    c
}

/// Runs every part of `base` into `<root>/part-<i>` and returns the directories.
fn run_parts(base: &IngestConfig, root: &Path) -> Vec<PathBuf> {
    (1..=PARTS)
        .map(|index| {
            let dir = root.join(format!("part-{index}"));
            let cfg = IngestConfig {
                output: dir.clone(),
                ..base.clone()
            };
            let spec = PartSpec {
                index,
                count: PARTS,
            };
            run_part(&cfg, spec, false).unwrap_or_else(|e| panic!("part {spec}: {e}"));
            dir
        })
        .collect()
}

fn merge_into(parts: &[PathBuf], output: &Path) -> Result<dvs_ingest::RunSummary, MergeError> {
    merge(
        &MergeConfig {
            parts: parts.to_vec(),
            output: output.to_path_buf(),
            jobs: 2,
            overwrite: false,
        },
        false,
    )
}

/// Asserts two dataset folders hold the same files with the same bytes.
fn assert_same_files(expected: &Path, got: &Path, what: &str) {
    let a = snapshot(expected);
    let b = snapshot(got);
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "{what}: file lists differ"
    );
    for (name, bytes) in &a {
        assert!(b[name] == *bytes, "{what}: {name} differs");
    }
}

#[test]
fn three_parts_merge_to_the_bytes_of_one_run_for_every_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let mut several_shards = false;
    for (kind, input, broken) in tiny_inputs(tmp.path()) {
        let root = tmp.path().join(kind.as_str());
        let out = root.join("out");
        let base = config_for(kind, &input, &out);
        let single = run(&base, false).expect("single run");
        assert_eq!(single.failures.len(), broken, "{kind:?}");
        // The merge writes to the same --output path, so ingest-config.toml matches too.
        let reference = root.join("single");
        std::fs::rename(&out, &reference).unwrap();

        let parts = run_parts(&base, &root);
        let mut held = 0;
        let mut non_empty = 0;
        for dir in &parts {
            let m = PartManifest::read(dir).unwrap();
            held += m.recordings.len();
            non_empty += usize::from(!m.recordings.is_empty());
        }
        assert_eq!(held, single.recordings_ok, "{kind:?}");
        if single.recordings_ok >= PARTS {
            assert_eq!(non_empty, PARTS, "{kind:?}: a part got no recording");
        }
        // Parts given in any order.
        let mut shuffled = parts.clone();
        shuffled.reverse();
        let merged = merge_into(&shuffled, &out).expect("merge");
        assert_eq!(merged.failures, single.failures, "{kind:?}");
        assert_eq!(merged.samples, single.samples, "{kind:?}");
        assert_same_files(&reference, &out, kind.as_str());

        let info = dvs_frames::DatasetInfo::read(&out).unwrap();
        several_shards |= info.splits.values().any(|s| s.shards.len() > 1);
        if broken > 0 {
            let report = dvs_ingest::report::ErrorsReport::read(&out).unwrap();
            assert_eq!(report.failures.len(), broken);
        }
    }
    assert!(
        several_shards,
        "no split spans several shards: shard boundaries untested"
    );
}

#[test]
fn merge_refuses_missing_repeated_overlapping_mismatched_and_corrupt_parts() {
    let tmp = tempfile::tempdir().unwrap();
    let (kind, input, _) = tiny_inputs(tmp.path())
        .into_iter()
        .find(|(k, _, _)| *k == DatasetKind::Cifar10DvsAedat4)
        .unwrap();
    let base = config_for(kind, &input, &tmp.path().join("unused"));
    let parts = run_parts(&base, tmp.path());
    let out = tmp.path().join("merged");
    let err = |dirs: &[PathBuf]| merge_into(dirs, &out).unwrap_err().to_string();

    let e = err(&parts[..2]);
    assert!(e.contains("parts 3 of 3 are missing"), "{e}");
    let e = err(&[parts[0].clone(), parts[1].clone(), parts[1].clone()]);
    assert!(e.contains("part 2/3 given twice"), "{e}");
    assert!(err(&[]).contains("no part directories"));

    // A part made with other settings.
    let other = tmp.path().join("other-3");
    let cfg = IngestConfig {
        frames: 7,
        output: other.clone(),
        ..base.clone()
    };
    run_part(&cfg, PartSpec { index: 3, count: 3 }, false).unwrap();
    let e = err(&[parts[0].clone(), parts[1].clone(), other.clone()]);
    assert!(e.contains("params_hash"), "{e}");
    assert!(e.contains(other.to_str().unwrap()), "{e}");

    // A copy of part 1 relabelled as part 3: its recordings are in two parts.
    let relabelled = tmp.path().join("relabelled");
    copy_tree(&parts[0], &relabelled);
    let text = std::fs::read_to_string(relabelled.join(PART_FILE)).unwrap();
    let text = text.replacen("\"part\": \"1/3\"", "\"part\": \"3/3\"", 1);
    std::fs::write(relabelled.join(PART_FILE), text).unwrap();
    let e = err(&[parts[0].clone(), parts[1].clone(), relabelled]);
    assert!(e.contains("is in two parts"), "{e}");

    // An unfinished part (no part.json) and a corrupt work part.
    let unfinished = tmp.path().join("unfinished");
    copy_tree(&parts[2], &unfinished);
    std::fs::remove_file(unfinished.join(PART_FILE)).unwrap();
    let e = err(&[parts[0].clone(), parts[1].clone(), unfinished.clone()]);
    assert!(
        e.contains("not a finished part") && e.contains(PART_FILE),
        "{e}"
    );

    let corrupt = tmp.path().join("corrupt");
    copy_tree(&parts[2], &corrupt);
    let m = PartManifest::read(&corrupt).unwrap();
    let victim = corrupt.join(&m.recordings[0].file);
    let mut bytes = std::fs::read(&victim).unwrap();
    // A byte inside this recording's entry of the journal (its header JSON).
    let inside = m.recordings[0].offset as usize + 40;
    bytes[inside] ^= 0x5a;
    std::fs::write(&victim, bytes).unwrap();
    let e = err(&[parts[0].clone(), parts[1].clone(), corrupt]);
    assert!(
        e.contains(&m.recordings[0].id) && e.contains("rerun that part"),
        "{e}"
    );
    assert!(
        !out.join("dataset.json").exists(),
        "a refused merge wrote a dataset"
    );
}

#[test]
fn an_interrupted_merge_reruns_to_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let (kind, input, _) = tiny_inputs(tmp.path())
        .into_iter()
        .find(|(k, _, _)| *k == DatasetKind::Gesture)
        .unwrap();
    let out = tmp.path().join("out");
    let base = config_for(kind, &input, &out);
    let parts = run_parts(&base, tmp.path());
    merge_into(&parts, &out).unwrap();
    let reference = tmp.path().join("first");
    copy_tree(&out, &reference);

    // As if killed before dataset.json: no marker, a shard gone, a stray temp left.
    std::fs::remove_file(out.join("dataset.json")).unwrap();
    let info = dvs_frames::DatasetInfo::read(&reference).unwrap();
    let shard = info.splits.values().next().unwrap().shards[0].clone();
    std::fs::remove_file(out.join(&shard)).unwrap();
    std::fs::write(out.join("train/.shard-00009.dvsf.tmp-1"), b"partial").unwrap();
    let again = merge_into(&parts, &out).unwrap();
    assert!(!again.up_to_date);
    assert_same_files(&reference, &out, "rerun merge");
    assert!(merge_into(&parts, &out).unwrap().up_to_date);

    // A part rerun with the same settings is up to date; another part number is refused.
    let cfg = IngestConfig {
        output: parts[0].clone(),
        ..base.clone()
    };
    assert!(
        run_part(&cfg, PartSpec { index: 1, count: 3 }, false)
            .unwrap()
            .up_to_date
    );
    let e = run_part(&cfg, PartSpec { index: 2, count: 3 }, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("holds part 1/3"), "{e}");
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dvs-ingest"));
    c.env("RUST_LOG", "warn");
    c
}

#[test]
fn the_binary_runs_parts_and_merges_and_validates_part_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, input, _) = tiny_inputs(tmp.path())
        .into_iter()
        .find(|(k, _, _)| *k == DatasetKind::Cifar10DvsAedat4)
        .unwrap();
    let input = input.to_str().unwrap().to_string();
    let args = |out: &str| -> Vec<String> {
        ["run", "--dataset", "cifar10dvs-aedat4", "--input", &input]
            .iter()
            .map(|s| s.to_string())
            .chain(["--output".into(), out.into(), "--no-progress".into()])
            .collect()
    };
    let single = tmp.path().join("out");
    let o = bin().args(args(single.to_str().unwrap())).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let reference = tmp.path().join("single");
    std::fs::rename(&single, &reference).unwrap();
    let mut dirs = Vec::new();
    for i in 1..=2 {
        let dir = tmp.path().join(format!("p{i}"));
        let o = bin()
            .args(args(dir.to_str().unwrap()))
            .args(["--part", &format!("{i}/2")])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains(&format!("part {i}/2")),
            "{}",
            String::from_utf8_lossy(&o.stdout)
        );
        dirs.push(dir);
    }
    let o = bin()
        .arg("merge")
        .args(&dirs)
        .args(["--output", single.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_same_files(&reference, &single, "CLI merge");

    for bad in ["0/3", "4/3", "1/0", "2", "a/b"] {
        let o = bin()
            .args(args(tmp.path().join("x").to_str().unwrap()))
            .args(["--part", bad])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(64), "--part {bad}: {stderr}");
        assert!(stderr.contains("numbered from 1"), "--part {bad}: {stderr}");
    }
    let o = bin()
        .arg("merge")
        .arg(&dirs[0])
        .args(["--output", tmp.path().join("m").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("parts 2 of 2 are missing"));
}
