//! Operating the `dvs-ingest` binary: bad recordings are reported and never
//! stop the others, runs are resumable and byte-identical after interruption
//! (including kill -9), changed parameters never reuse a stale dataset, the
//! TOML config is honoured and saved, and `export` / `inspect` work on the
//! result.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dvs-ingest"));
    c.env("RUST_LOG", "warn");
    c
}

fn run_cli(args: &[&str]) -> std::process::Output {
    let out = bin().args(args).output().expect("spawn dvs-ingest");
    out
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The sorted names of the files in `dir` that satisfy `keep`.
fn file_names(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| keep(n))
        .collect();
    names.sort();
    names
}

/// The CIFAR10-DVS file index `k` of `cifar10_<class>_<k>.aedat[4]`.
fn cifar_index(name: &str) -> Option<u64> {
    name.rsplit_once('_')?.1.split('.').next()?.parse().ok()
}

/// A copy of a fixture folder plus, for each broken fixture file of a matching
/// format, a copy placed as if it were a real recording of that layout (a
/// Gesture trial listed for training with a copy of an existing labels CSV;
/// a CIFAR10-DVS file of the first class folder, numbered after its files).
fn layout_with_broken(tmp: &Path) -> Vec<(String, PathBuf, Vec<String>)> {
    let f = fixtures();
    let m = manifest();
    let gesture = tmp.join("gesture-in");
    let cifar = tmp.join("cifar-in");
    copy_tree(&f.join("DvsGesture"), &gesture);
    copy_tree(&f.join("CIFAR10-DVS"), &cifar);
    let labels_csv = file_names(&gesture, |n| n.ends_with("_labels.csv"))
        .into_iter()
        .next()
        .expect("a Gesture labels CSV in the fixtures");
    let class = file_names(&cifar, |n| cifar.join(n).is_dir())
        .into_iter()
        .next()
        .expect("a CIFAR10-DVS class folder in the fixtures");
    let next_index = file_names(&cifar.join(&class), |n| n.ends_with(".aedat"))
        .iter()
        .filter_map(|n| cifar_index(n))
        .max()
        .map_or(0, |k| k + 1);
    let mut bad_gesture = Vec::new();
    let mut bad_cifar = Vec::new();
    for (i, b) in m["broken"]
        .as_array()
        .expect("broken list")
        .iter()
        .enumerate()
    {
        let path = f.join(b["path"].as_str().unwrap());
        match b["format"].as_str().unwrap() {
            "AEDAT 3.1" => {
                let trial = format!("user99_broken{i}");
                std::fs::copy(&path, gesture.join(format!("{trial}.aedat"))).unwrap();
                std::fs::copy(
                    gesture.join(&labels_csv),
                    gesture.join(format!("{trial}_labels.csv")),
                )
                .unwrap();
                let list = gesture.join("trials_to_train.txt");
                let mut text = std::fs::read_to_string(&list).unwrap();
                text.push_str(&format!("\n{trial}.aedat\n"));
                std::fs::write(&list, text).unwrap();
                bad_gesture.push(format!("{trial}.aedat"));
            }
            "AEDAT 2.0" => {
                let name = format!("{class}/cifar10_{class}_{}.aedat", next_index + i as u64);
                std::fs::copy(&path, cifar.join(&name)).unwrap();
                bad_cifar.push(name);
            }
            other => panic!("no layout for broken format {other}"),
        }
    }
    assert!(!bad_gesture.is_empty() && !bad_cifar.is_empty());
    vec![
        ("gesture".into(), gesture, bad_gesture),
        ("cifar10dvs".into(), cifar, bad_cifar),
    ]
}

#[test]
fn bad_recordings_are_reported_and_the_rest_ingested() {
    let tmp = tempfile::tempdir().unwrap();
    for (dataset, input, bad) in layout_with_broken(tmp.path()) {
        let out = tmp.path().join(format!("{dataset}-out"));
        let o = run_cli(&[
            "run",
            "--dataset",
            &dataset,
            "--input",
            p(&input),
            "--output",
            p(&out),
            "--no-progress",
            // The TEBN split goes by file index alone, so the broken files added to a class
            // folder cannot move a good recording to the other split (SJ90's would).
            "--split",
            "tebn",
        ]);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{dataset}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("errors.json")).unwrap()).unwrap();
        let failures = report["failures"].as_array().unwrap();
        let files: Vec<&str> = failures
            .iter()
            .map(|f| f["file"].as_str().unwrap())
            .collect();
        assert_eq!(files.len(), bad.len(), "{failures:?}");
        for b in &bad {
            assert!(files.contains(&b.as_str()), "{b} not in {files:?}");
        }
        for f in failures {
            assert!(f["offset"].is_u64(), "offset missing: {f}");
            assert!(!f["reason"].as_str().unwrap().is_empty());
        }
        // every good recording made it: compare with a run on the clean fixtures
        let clean_out = tmp.path().join(format!("{dataset}-clean"));
        let clean_in = match dataset.as_str() {
            "gesture" => fixtures().join("DvsGesture"),
            _ => fixtures().join("CIFAR10-DVS"),
        };
        let o = run_cli(&[
            "run",
            "--dataset",
            &dataset,
            "--input",
            p(&clean_in),
            "--output",
            p(&clean_out),
            "--no-progress",
            // The TEBN split goes by file index alone, so the broken files added to a class
            // folder cannot move a good recording to the other split (SJ90's would).
            "--split",
            "tebn",
        ]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let good = read_dataset(&out);
        let clean = read_dataset(&clean_out);
        assert!(!clean.is_empty());
        assert_eq!(
            good, clean,
            "{dataset}: the good recordings' samples differ"
        );
    }
}

fn gesture_args<'a>(input: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "run",
        "--dataset",
        "gesture",
        "--input",
        input,
        "--output",
        out,
        "--no-progress",
        "--shard-mb",
        "1",
        "--jobs",
        "2",
    ]
}

#[test]
fn interrupted_runs_resume_to_byte_identical_output() {
    let tmp = tempfile::tempdir().unwrap();
    let input = fixtures().join("DvsGesture");
    let out = tmp.path().join("out");
    let args = gesture_args(p(&input), p(&out));
    assert!(run_cli(&args).status.success());
    let clean = snapshot(&out);
    assert!(
        clean.keys().any(|k| k.ends_with(".dvsf")),
        "{:?}",
        clean.keys()
    );
    assert!(
        clean.keys().all(|k| !k.starts_with(".work")),
        "work dir left behind"
    );

    // Simulated interruption: completion marker gone, a shard missing, a stray
    // temp shard, a corrupt work part and a stale-parameter work dir.
    std::fs::remove_file(out.join("dataset.json")).unwrap();
    let shard = clean.keys().find(|k| k.ends_with(".dvsf")).unwrap();
    std::fs::remove_file(out.join(shard)).unwrap();
    std::fs::write(out.join("train/.shard-00000.dvsf.tmp-4242"), b"partial").unwrap();
    std::fs::create_dir_all(out.join(".work/0000000000000000")).unwrap();
    std::fs::write(out.join(".work/0000000000000000/x.part"), b"stale").unwrap();
    let o = run_cli(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(snapshot(&out), clean, "rerun after interruption differs");

    // A rerun of a complete dataset changes nothing.
    let o = run_cli(&args);
    assert!(String::from_utf8_lossy(&o.stdout).contains("up to date"));
    assert_eq!(snapshot(&out), clean);
}

#[test]
fn kill_9_never_leaves_a_visible_partial_shard_and_rerun_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = fixtures().join("DvsGesture");
    let out = tmp.path().join("out");
    let args = gesture_args(p(&input), p(&out));
    assert!(run_cli(&args).status.success());
    let clean = snapshot(&out);
    for delay_ms in [0u64, 5, 15, 30, 60, 120, 250] {
        std::fs::remove_dir_all(&out).unwrap();
        let mut child = bin().args(&args).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL on Unix
        let _ = child.wait();
        // Whatever is visible under a final shard name is a complete, valid shard.
        for split in ["train", "test"] {
            let Ok(entries) = std::fs::read_dir(out.join(split)) else {
                continue;
            };
            for e in entries {
                let path = e.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if name.starts_with("shard-") {
                    dvs_frames::ShardReader::open(&path).unwrap_or_else(|e| {
                        panic!("after kill at {delay_ms} ms, {name} is partial: {e}")
                    });
                }
            }
        }
        // dataset.json, if present, describes a complete dataset.
        if out.join("dataset.json").exists() {
            assert_eq!(
                snapshot(&out),
                clean,
                "kill at {delay_ms} ms: complete marker over partial data"
            );
        }
        let o = run_cli(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(
            snapshot(&out),
            clean,
            "rerun after kill at {delay_ms} ms differs"
        );
    }
}

#[test]
fn changed_parameters_never_reuse_a_stale_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let input = fixtures().join("CIFAR10-DVS");
    let out = tmp.path().join("out");
    let base = [
        "run",
        "--dataset",
        "cifar10dvs",
        "--input",
        p(&input),
        "--output",
        p(&out),
        "--no-progress",
    ];
    assert!(run_cli(&base).status.success());
    let first = dvs_frames::DatasetInfo::read(&out).unwrap();
    assert_eq!(first.params["frames"], 10);
    for change in [
        ["--frames", "8"],
        ["--split-by", "time"],
        ["--resize", "48"],
        ["--split", "tet"],
        ["--orientation", "raw"],
    ] {
        let mut args = base.to_vec();
        args.extend(change);
        let o = run_cli(&args);
        assert_eq!(o.status.code(), Some(1), "{change:?} silently accepted");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("params_hash"),
            "{change:?}"
        );
        assert_eq!(
            dvs_frames::DatasetInfo::read(&out).unwrap(),
            first,
            "{change:?} touched the dataset"
        );
        args.push("--overwrite");
        assert!(
            run_cli(&args).status.success(),
            "{change:?} with --overwrite"
        );
        let replaced = dvs_frames::DatasetInfo::read(&out).unwrap();
        assert_ne!(replaced.params_hash, first.params_hash);
        // back to the base for the next change
        let mut back = base.to_vec();
        back.push("--overwrite");
        assert!(run_cli(&back).status.success());
    }
}

#[test]
fn config_file_is_used_flags_override_it_and_the_effective_config_is_saved() {
    let tmp = tempfile::tempdir().unwrap();
    let input = fixtures().join("CIFAR10-DVS");
    let out = tmp.path().join("out");
    let cfg = tmp.path().join("ingest.toml");
    std::fs::write(
        &cfg,
        format!(
            "dataset = \"cifar10dvs\"\ninput = {:?}\noutput = {:?}\nframes = 6\nsplit_by = \"time\"\nsplit = \"tebn\"\n",
            p(&input),
            p(&out)
        ),
    )
    .unwrap();
    let o = run_cli(&["run", "--config", p(&cfg), "--frames", "4", "--no-progress"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let info = dvs_frames::DatasetInfo::read(&out).unwrap();
    assert_eq!(info.frames, 4, "flag overrides file");
    assert_eq!(info.params["split_by"], "time", "file value used");
    assert_eq!(info.params["split"], "tebn");
    // TEBN: files 0..=99 of each class are test, the others train.
    let (mut test, mut train) = (0u64, 0u64);
    for class in file_names(&input, |n| input.join(n).is_dir()) {
        for name in file_names(&input.join(&class), |n| n.ends_with(".aedat")) {
            match cifar_index(&name).expect("CIFAR10-DVS file index") {
                0..=99 => test += 1,
                _ => train += 1,
            }
        }
    }
    let samples = |split: &str| info.splits.get(split).map_or(0, |s| s.samples);
    assert_eq!((samples("test"), samples("train")), (test, train));
    let saved = std::fs::read_to_string(out.join("ingest-config.toml")).unwrap();
    let parsed: dvs_ingest::IngestConfig = toml::from_str(&saved).unwrap();
    assert_eq!(parsed.frames, 4);
    assert_eq!(parsed.split_by, dvs_ingest::SplitBy::Time);
    // The saved config reproduces the dataset.
    let again = run_cli(&[
        "run",
        "--config",
        p(&out.join("ingest-config.toml")),
        "--no-progress",
    ]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("up to date"));
    // Unknown keys, the old kebab-case spelling and bad values are errors naming the key.
    for (text, key) in [
        ("frame = 3\n", "`frame`"),
        ("split-by = \"time\"\n", "`split-by`"),
        ("split_by = \"sideways\"\n", "`split_by`"),
    ] {
        std::fs::write(&cfg, text).unwrap();
        let o = run_cli(&["run", "--config", p(&cfg)]);
        assert_eq!(o.status.code(), Some(1), "{text}");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            stderr.starts_with("dvs-ingest: error: ") && stderr.contains(key),
            "{text}: {stderr}"
        );
    }
    // A missing required setting is an error; a flag that does not parse is a usage error.
    let o = run_cli(&["run", "--no-progress"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("`dataset`"));
    let o = run_cli(&["run", "--split-by", "sideways"]);
    assert_eq!(o.status.code(), Some(64));
}

#[test]
fn export_writes_spikingjelly_npz_and_inspect_renders_a_png() {
    let tmp = tempfile::tempdir().unwrap();
    let input = fixtures().join("DvsGesture");
    let out = tmp.path().join("ds");
    assert!(run_cli(&[
        "run",
        "--dataset",
        "gesture",
        "--input",
        p(&input),
        "--output",
        p(&out),
        "--no-progress"
    ])
    .status
    .success());
    let npz_dir = tmp.path().join("npz");
    let o = run_cli(&["export", "--dataset", p(&out), "--output", p(&npz_dir)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = manifest();
    let mut n = 0;
    for s in m["samples"].as_array().unwrap() {
        let expected = s["expected"].as_str().unwrap();
        let Some(rel) = expected.strip_prefix("expected/DvsGesture/samples/") else {
            continue;
        };
        let ours = npz_dir.join(rel);
        assert_eq!(npz_names(&ours), vec!["frames".to_string()]);
        let (shape, values) = npz_array(&ours, "frames");
        let (eshape, evalues) = npz_array(&fixtures().join(expected), "frames_sj_number_10");
        assert_eq!((shape, values), (eshape, evalues), "{rel}");
        n += 1;
    }
    assert!(n > 0);

    let png = tmp.path().join("sample.png");
    let o = run_cli(&[
        "inspect",
        "--dataset",
        p(&out),
        "--sample",
        "1",
        "--png",
        p(&png),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // One sample per labels-CSV row of the fixture trials, in its trial's split.
    let text = String::from_utf8_lossy(&o.stdout);
    let mut per_split = std::collections::BTreeMap::<&str, usize>::new();
    for s in m["samples"].as_array().unwrap() {
        let expected = s["expected"].as_str().unwrap();
        if let Some(rel) = expected.strip_prefix("expected/DvsGesture/samples/") {
            *per_split.entry(rel.split('/').next().unwrap()).or_default() += 1;
        }
    }
    assert!(!per_split.is_empty());
    for (split, n) in &per_split {
        let line = format!("split {split}: {n} samples");
        assert!(text.contains(&line), "{line} missing from {text}");
    }
    let img = image::open(&png).unwrap().to_rgb8();
    assert_eq!(img.height(), 128);
    assert!(img.pixels().any(|px| px.0[1] > 0), "no ON pixel drawn");
    assert!(img.pixels().any(|px| px.0[0] > 0), "no OFF pixel drawn");
}
