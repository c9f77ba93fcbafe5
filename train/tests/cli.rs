//! The `asgl-train fit` CLI: TOML config supplies defaults, flags override, the effective config
//! is written to the run directory; a diverging run stops with an error naming epoch and step.

use std::process::Command;

use asgl_train::config::TrainConfig;
use asgl_train::fit::{fit, FitOptions};
use asgl_train::TrainError;
use dvs_fixtures::testing::prepared::moving_blobs;

#[test]
fn fit_cli_merges_toml_and_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    moving_blobs(&data, 3, 12, 8, 4, 1).unwrap();
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
    moving_blobs(&data, 3, 12, 16, 4, 2).unwrap();
    let cfg = TrainConfig {
        data: Some(data),
        arch: "vgg:4,P".parse().unwrap(),
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

/// Runs `asgl-train <args>` and returns (exit code, stderr).
fn asgl_train(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_asgl-train"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn unknown_keys_and_bad_values_are_one_line_errors_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let toml = tmp.path().join("cfg.toml");
    let fit_with = |text: &str| {
        std::fs::write(&toml, text).unwrap();
        asgl_train(&[
            "fit".as_ref(),
            "--out".as_ref(),
            run.as_os_str(),
            "--config".as_ref(),
            toml.as_os_str(),
        ])
    };
    // `epochs` is a flag alias, not a key: keys are the flag ids.
    let (code, stderr) = fit_with("epochs = 3\n");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.starts_with("asgl-train: error: "), "{stderr}");
    assert!(
        stderr.contains("unknown key `epochs`") && stderr.contains("num_epoch"),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    let (code, stderr) = fit_with("lr = 0.05\nact = \"relu\"\n");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("`act`") && stderr.contains("mns_rec"),
        "{stderr}"
    );
    let (code, stderr) = fit_with("arch = \"resnet\"\n");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("`arch`") && stderr.contains("vggsnn2"),
        "{stderr}"
    );
    // The same text on the command line is a usage error.
    let (code, stderr) = asgl_train(&[
        "fit".as_ref(),
        "--out".as_ref(),
        run.as_os_str(),
        "--device".as_ref(),
        "gpu".as_ref(),
    ]);
    assert_eq!(code, Some(64), "{stderr}");
    assert!(stderr.contains("cpu or cuda:N"), "{stderr}");
    // bench and export read --config the same way.
    std::fs::write(&toml, "batch = 4\n").unwrap();
    let (code, stderr) = asgl_train(&["bench".as_ref(), "--config".as_ref(), toml.as_os_str()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("unknown key `batch`") && stderr.contains("batch_size"),
        "{stderr}"
    );
    assert!(
        !run.exists(),
        "nothing is written before the settings resolve"
    );
}

#[test]
fn every_saved_key_is_a_flag_id() {
    let mut cfg = TrainConfig::default();
    dvs_frames::settings::check_keys(&cfg).unwrap();
    cfg.data = Some("prepared".into());
    cfg.transform = dvs_frames::ValueTransform::Clamp(2.0);
    dvs_frames::settings::check_keys(&cfg).unwrap();
    let text = dvs_frames::settings::to_toml(&cfg).unwrap();
    let back: TrainConfig = toml::from_str(&text).unwrap();
    assert_eq!(back, cfg, "{text}");
}
