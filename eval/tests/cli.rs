//! End-to-end `asgl-eval` runs on a synthetic prepared dataset: the report files exist and agree
//! with an independent ort run over the same shards, the candle comparison is reported, and a
//! dataset prepared differently is refused (unless --allow-mismatch).

mod common;

use std::path::Path;
use std::process::Command;

use asgl_eval::metrics::argmax;
use asgl_eval::{OnnxModel, SessionOptions};
use asgl_train::export::export_to_file;
use asgl_train::spec::LayerSpec;
use common::*;
use dvs_frames::{Loader, LoaderConfig};

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
