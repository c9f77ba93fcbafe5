//! End-to-end `asgl-eval` runs on a synthetic prepared dataset: the report files exist and agree
//! with an independent ort run over the same shards, the candle comparison is reported, a dataset
//! prepared differently is refused (unless --allow-mismatch), a corrupt shard is reported once,
//! and both commands take `--config` (the saved effective settings reproduce a run).

mod common;

use std::path::Path;
use std::process::Command;

use asgl_eval::metrics::argmax;
use asgl_eval::{OnnxModel, SessionOptions};
use asgl_train::export::export_to_file;
use asgl_train::network::spec::LayerSpec;
use common::*;
use dvs_frames::{FrameError, Loader, LoaderConfig, ShardIndex};

fn asgl_eval() -> Command {
    Command::new(env!("CARGO_BIN_EXE_asgl-eval"))
}

struct Fixture {
    _tmp: tempfile::TempDir,
    root: std::path::PathBuf,
}

/// A checkpoint folder, its exported model and a matching 40-sample test split.
fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let spec = small_spec(4, 16, 5, LayerSpec::Bn, false);
    let (_, params) = random_checkpoint(&spec, &root.join("ckpt"), 42);
    let meta = test_metadata(&spec);
    export_to_file(&spec, &params, &meta, &root.join("model.onnx")).unwrap();
    write_dataset(&root.join("data"), &meta, "test", 40, 7);
    Fixture { _tmp: tmp, root }
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "asgl-eval failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn evaluation_writes_consistent_reports_and_compares_with_candle() {
    let f = fixture();
    let out_dir = f.root.join("out");
    let stdout = run_ok(
        asgl_eval()
            .arg("--model")
            .arg(f.root.join("model.onnx"))
            .arg("--data")
            .arg(f.root.join("data"))
            .args(["--batch-size", "16", "--threads", "1", "--quiet"])
            .arg("--compare-checkpoint")
            .arg(f.root.join("ckpt"))
            .arg("--out")
            .arg(&out_dir),
    );
    assert!(stdout.contains("top-1"), "{stdout}");

    // Independent recomputation: the loader + ort, sample by sample, gives the same predictions.
    let mut model =
        OnnxModel::load(&f.root.join("model.onnx"), &SessionOptions::default()).unwrap();
    let loader = Loader::open(f.root.join("data"), "test", LoaderConfig::eval(7)).unwrap();
    let mut expected = Vec::new();
    for batch in loader.epoch(0) {
        let batch = batch.unwrap();
        let out = model.run(&batch.data, batch.shape).unwrap();
        for b in 0..batch.len() {
            expected.push((
                batch.keys[b].clone(),
                batch.labels[b],
                argmax(&out.mean[b * 5..(b + 1) * 5]),
            ));
        }
    }
    assert_eq!(expected.len(), 40);
    let correct = expected
        .iter()
        .filter(|(_, l, p)| *l as usize == *p)
        .count();

    let report = read_json(&out_dir.join("report.json"));
    assert_eq!(report["samples"], 40);
    assert_eq!(report["correct"].as_u64().unwrap() as usize, correct);
    let confusion: Vec<Vec<u64>> = serde_json::from_value(report["confusion"].clone()).unwrap();
    assert_eq!(confusion.iter().flatten().sum::<u64>(), 40);
    let per_class_total: u64 = report["per_class"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["samples"].as_u64().unwrap())
        .sum();
    assert_eq!(per_class_total, 40);
    assert!(
        report["throughput"]["model_samples_per_sec"]
            .as_f64()
            .unwrap()
            > 0.0
    );

    let predictions = std::fs::read_to_string(out_dir.join("predictions.csv")).unwrap();
    let rows: Vec<&str> = predictions.lines().skip(1).collect();
    assert_eq!(rows.len(), 40);
    for ((key, label, predicted), row) in expected.iter().zip(&rows) {
        assert_eq!(*row, format!("{key},{label},{predicted}"));
    }
    let csv = std::fs::read_to_string(out_dir.join("confusion.csv")).unwrap();
    assert_eq!(csv.lines().count(), 6, "{csv}");
    let png = std::fs::read(out_dir.join("confusion.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    let cmp = &report["compare"];
    assert_eq!(cmp["samples"], 40);
    let agreement = cmp["agreement"].as_f64().unwrap();
    eprintln!(
        "candle agreement {agreement}, max logit diff {}",
        cmp["max_abs_diff_logits"]
    );
    assert!(agreement >= 0.95, "candle/ort agreement {agreement}");
    assert!(stdout.contains("identical predictions"), "{stdout}");
}

#[test]
fn dataset_prepared_differently_is_refused_unless_allowed() {
    let f = fixture();
    let data = f.root.join("data");
    let mut info: serde_json::Value = read_json(&data.join("dataset.json"));
    info["params_hash"] = serde_json::json!("a-different-integration");
    std::fs::write(
        data.join("dataset.json"),
        serde_json::to_vec_pretty(&info).unwrap(),
    )
    .unwrap();

    let base = |cmd: &mut Command| {
        cmd.arg("--model")
            .arg(f.root.join("model.onnx"))
            .arg("--data")
            .arg(&data)
            .arg("--quiet");
    };
    let mut refused = asgl_eval();
    base(&mut refused);
    refused.arg("--out").arg(f.root.join("refused"));
    let out = refused.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("params_hash") && stderr.contains("a-different-integration"),
        "{stderr}"
    );
    assert!(stderr.contains("--allow-mismatch"), "{stderr}");
    assert!(!f.root.join("refused/report.json").exists());

    let mut allowed = asgl_eval();
    base(&mut allowed);
    allowed
        .arg("--allow-mismatch")
        .arg("--out")
        .arg(f.root.join("allowed"));
    let stdout = run_ok(&mut allowed);
    assert!(stdout.contains("allowed mismatch"), "{stdout}");
    let report = read_json(&f.root.join("allowed/report.json"));
    assert_eq!(report["mismatches_allowed"].as_array().unwrap().len(), 1);

    // A shape mismatch cannot be allowed.
    info["params_hash"] = serde_json::json!("test-params-hash");
    info["frames"] = serde_json::json!(6);
    std::fs::write(
        data.join("dataset.json"),
        serde_json::to_vec_pretty(&info).unwrap(),
    )
    .unwrap();
    let mut shape = asgl_eval();
    base(&mut shape);
    shape
        .arg("--allow-mismatch")
        .arg("--out")
        .arg(f.root.join("shape"));
    let out = shape.output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("frames T"));
}

#[test]
fn config_file_supplies_options_and_unknown_keys_are_rejected() {
    let f = fixture();
    let cfg = f.root.join("eval.toml");
    std::fs::write(
        &cfg,
        format!(
            "model = {:?}\ndata = {:?}\nbatch_size = 9\nmax_samples = 20\nthreads = 1\nout = {:?}\n",
            f.root.join("model.onnx"),
            f.root.join("data"),
            f.root.join("from-config")
        ),
    )
    .unwrap();
    run_ok(asgl_eval().arg("--config").arg(&cfg).arg("--quiet"));
    let report = read_json(&f.root.join("from-config/report.json"));
    assert_eq!(report["samples"], 20);
    assert_eq!(report["throughput"]["batch_size"], 9);

    std::fs::write(&cfg, "modle = \"x\"\n").unwrap();
    let out = asgl_eval().arg("--config").arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("modle"));
}

#[test]
fn missing_onnx_runtime_names_the_fix() {
    let f = fixture();
    let out = asgl_eval()
        .env("ORT_DYLIB_PATH", f.root.join("no-such-libonnxruntime.so"))
        .arg("--model")
        .arg(f.root.join("model.onnx"))
        .arg("--data")
        .arg(f.root.join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ORT_DYLIB_PATH") && stderr.contains("provision-ort.sh"),
        "{stderr}"
    );
}

#[test]
fn corrupt_shard_is_reported_once_with_file_record_and_offset() {
    let f = fixture();
    let data = f.root.join("data");
    let info = dvs_frames::DatasetInfo::read(&data).unwrap();
    let shard = data.join(&info.splits["test"].shards[0]);
    // Flip a byte inside the first record's stored bytes (located through the shard's own index).
    let entry = ShardIndex::read(&shard).unwrap().entry(0).unwrap().clone();
    let mut bytes = std::fs::read(&shard).unwrap();
    bytes[(entry.offset + entry.stored_len / 2) as usize] ^= 0x40;
    std::fs::write(&shard, bytes).unwrap();

    let out = asgl_eval()
        .arg("--model")
        .arg(f.root.join("model.onnx"))
        .arg("--data")
        .arg(&data)
        .arg("--quiet")
        .arg("--out")
        .arg(f.root.join("corrupt"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("asgl-eval: error: "))
        .unwrap_or_else(|| panic!("no error line in {stderr}"));
    eprintln!("{line}");
    let message = FrameError::CorruptRecord {
        path: shard.clone(),
        index: 0,
        key: entry.key.clone(),
        offset: entry.offset,
        reason: String::new(),
    }
    .to_string();
    // The message up to the reason: file, record, key and offset.
    let head = message.trim_end_matches(": ");
    assert_eq!(line.matches(head).count(), 1, "{line}");
    assert_eq!(line.matches("corrupt record").count(), 1, "{line}");
    assert_eq!(
        line.matches(&*shard.display().to_string()).count(),
        1,
        "{line}"
    );
    assert!(!f.root.join("corrupt/report.json").exists());
}

#[test]
fn saved_effective_config_reproduces_the_run() {
    let f = fixture();
    let first = f.root.join("first");
    run_ok(
        asgl_eval()
            .arg("--model")
            .arg(f.root.join("model.onnx"))
            .arg("--data")
            .arg(f.root.join("data"))
            .args(["--batch-size", "5", "--max-samples", "12", "--quiet"])
            .arg("--out")
            .arg(&first),
    );
    let saved = first.join("eval-config.toml");
    let text = std::fs::read_to_string(&saved).unwrap();
    assert!(text.contains("batch_size = 5"), "{text}");
    let second = f.root.join("second");
    run_ok(
        asgl_eval()
            .arg("--config")
            .arg(&saved)
            .arg("--out")
            .arg(&second),
    );
    let (a, b) = (
        read_json(&first.join("report.json")),
        read_json(&second.join("report.json")),
    );
    assert_eq!(b["samples"], 12);
    assert_eq!(b["throughput"]["batch_size"], 5);
    assert_eq!(a["confusion"], b["confusion"]);
    assert_eq!(
        std::fs::read(first.join("predictions.csv")).unwrap(),
        std::fs::read(second.join("predictions.csv")).unwrap()
    );
}

#[test]
fn bench_takes_a_config_file_and_writes_json() {
    let f = fixture();
    let cfg = f.root.join("bench.toml");
    let json = f.root.join("bench/rust.json");
    std::fs::create_dir_all(json.parent().unwrap()).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "model = {:?}\ncheckpoint = {:?}\nbatch_size = 2\niters = 1\nthreads = 1\njson = {:?}\n",
            f.root.join("model.onnx"),
            f.root.join("ckpt"),
            json
        ),
    )
    .unwrap();
    let stdout = run_ok(asgl_eval().arg("bench").arg("--config").arg(&cfg));
    assert!(stdout.contains("samples/s"), "{stdout}");
    let report = read_json(&json);
    for engine in ["ort", "candle"] {
        assert!(
            report[engine]["samples_per_sec"].as_f64().unwrap() > 0.0,
            "{report}"
        );
    }
    let saved = std::fs::read_to_string(f.root.join("bench/bench-config.toml")).unwrap();
    assert!(saved.contains("batch_size = 2"), "{saved}");

    std::fs::write(&cfg, "iterations = 3\n").unwrap();
    let out = asgl_eval()
        .arg("bench")
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("iterations") && stderr.contains("bench.toml"),
        "{stderr}"
    );
}
