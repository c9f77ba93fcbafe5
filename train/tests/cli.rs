//! The `asgl-train fit` CLI: TOML config supplies defaults, flags override, the effective config
//! is written to the run directory; a diverging run stops with an error naming epoch and step.
mod common;

use std::process::Command;

use asgl_train::config::TrainConfig;
use asgl_train::trainer::{fit, FitOptions};
use asgl_train::TrainError;

#[test]
fn fit_cli_merges_toml_and_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::write_moving_blobs(&data, 3, 12, 8, 4, 1);
    let toml = tmp.path().join("cfg.toml");
    std::fs::write(
        &toml,
        "lr = 0.05\nnum_epoch = 5\narch = \"vgg:4,P\"\nT = 3\n",
    )
    .unwrap();
    let run = tmp.path().join("run");
    let out = Command::new(env!("CARGO_BIN_EXE_asgl-train"))
        .args(["fit", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&run)
        .arg("--config")
        .arg(&toml)
        .args(["--num_epoch", "1", "--train_batch_size", "4", "--p", "0.2"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let eff: TrainConfig =
        toml::from_str(&std::fs::read_to_string(run.join("config.toml")).unwrap()).unwrap();
    assert_eq!(eff.lr, 0.05, "from the TOML file");
    assert_eq!(eff.num_epoch, 1, "flag overrides the TOML file");
    assert_eq!(eff.p, 0.2);
    assert_eq!(eff.train_batch_size, 4);
    assert_eq!(eff.wd, 1e-3, "default of the published DVS run");
    assert!(run.join("last/model.safetensors").is_file());
}

#[test]
fn diverging_run_names_epoch_and_step() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::write_moving_blobs(&data, 3, 12, 16, 4, 2);
    let cfg = TrainConfig {
        data: Some(data),
        arch: "vgg:4,P".into(),
        num_epoch: 2,
        train_batch_size: 4,
        lr: 1e30,
        t: 3,
        ..TrainConfig::default()
    };
    let err = fit(&cfg, &tmp.path().join("run"), FitOptions::default()).unwrap_err();
    match err {
        TrainError::NonFiniteLoss { epoch, step, .. } => {
            assert_eq!(epoch, 0);
            assert!(step >= 1, "the first step cannot diverge before an update");
        }
        other => panic!("expected a non-finite loss error, got {other}"),
    }
}
