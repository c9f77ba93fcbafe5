//! The static CIFAR path end to end: synthetic CIFAR-10 release files (binary) and CIFAR-100
//! (python) → `asgl_train::fit` of small spiking ResNet-18 / ResNet-19 (T = 2) → ONNX export
//! (residual adds, strided convs, BN folded) → `asgl-eval` on the same release folder, whose
//! candle comparison must agree with ONNX Runtime on every prediction.
use std::path::Path;
use std::process::Command;

use asgl_eval::{OnnxModel, SessionOptions};
use asgl_train::config::{Arch, TrainConfig};
use asgl_train::data::cifar::CifarKind;
use asgl_train::data::{open_cifar_split, DatasetSource};
use asgl_train::export::export_checkpoint;
use asgl_train::fit::{fit, FitOptions};
use dvs_fixtures::cifar_static::{write_cifar, CifarFixture, CifarFormat, CifarSet};

/// `epochs`: enough steps for the BN running statistics to leave their initial (0, 1), so that
/// eval-mode spikes reach the classifier (deeper nets need more).
fn run_case(
    root: &Path,
    set: CifarSet,
    format: CifarFormat,
    kind: CifarKind,
    arch: &str,
    epochs: usize,
) {
    write_cifar(
        &CifarFixture {
            set,
            format,
            per_batch: 64,
            batches: 1,
            test: 24,
            seed: 4,
        },
        root,
    )
    .unwrap();
    let cfg = TrainConfig {
        data: Some(root.to_path_buf()),
        dataset: DatasetSource::Cifar(kind),
        arch: arch.parse::<Arch>().unwrap(),
        t: 2,
        num_epoch: epochs,
        train_batch_size: 4,
        val_batch_size: 16,
        workers: 1,
        ..TrainConfig::default()
    };
    let run = root.join("run");
    fit(&cfg, &run, FitOptions::default()).unwrap();
    let ckpt = run.join("last");
    let model = root.join("model.onnx");
    export_checkpoint(&ckpt, &model).unwrap();
    let out_dir = root.join("eval");
    let out = Command::new(env!("CARGO_BIN_EXE_asgl-eval"))
        .arg("--model")
        .arg(&model)
        .arg("--data")
        .arg(root)
        .args(["--batch-size", "8", "--threads", "1", "--quiet"])
        .arg("--compare-checkpoint")
        .arg(&ckpt)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "asgl-eval failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["samples"], 24, "{report}");
    let cmp = &report["compare"];
    assert_eq!(cmp["samples"], 24, "{report}");
    assert_eq!(cmp["identical_predictions"], 24, "{report}");
    let diff = cmp["max_abs_diff_per_step"].as_f64().unwrap();
    assert!(
        diff < 1e-3,
        "ONNX vs candle per-step logits differ by {diff}"
    );
    // The comparison means something: the exported network's logits differ between images
    // (spikes reach the classifier through the residual blocks).
    let mut onnx = OnnxModel::load(&model, &SessionOptions::default()).unwrap();
    let (_, test) = open_cifar_split(root, kind, 2, "test", 8).unwrap();
    let batch = test.epoch(0).next().unwrap().unwrap();
    let logits = onnx.run(&batch.data, batch.shape).unwrap().mean;
    let k = logits.len() / 8;
    let spread = (0..k)
        .map(|c| {
            let col: Vec<f32> = (0..8).map(|b| logits[b * k + c]).collect();
            col.iter().cloned().fold(f32::MIN, f32::max)
                - col.iter().cloned().fold(f32::MAX, f32::min)
        })
        .fold(0f32, f32::max);
    assert!(
        spread > 1e-3,
        "logits do not depend on the image (spread {spread})"
    );
}

#[test]
fn resnet18_on_cifar10_binary_trains_exports_and_evaluates() {
    let tmp = tempfile::tempdir().unwrap();
    run_case(
        tmp.path(),
        CifarSet::Cifar10,
        CifarFormat::Binary,
        CifarKind::Cifar10,
        "resnet18:4",
        1,
    );
}

#[test]
fn resnet19_on_cifar100_python_trains_exports_and_evaluates() {
    let tmp = tempfile::tempdir().unwrap();
    run_case(
        tmp.path(),
        CifarSet::Cifar100,
        CifarFormat::Python,
        CifarKind::Cifar100,
        "resnet19:4",
        4,
    );
}
