//! `asgl-train sweep` end to end on a tiny prepared set (2 methods × 2 widths × 1 seed): the run
//! folders, `sweep.md` against the runs' own metrics, `sweep.png`, and resuming — an interrupted
//! sweep (`--stop_after 1`) continues every run from its checkpoint, and a rerun of a finished
//! sweep trains nothing and writes the same table bytes.
use std::path::Path;
use std::process::{Command, Output};

use asgl_train::config::TrainConfig;
use asgl_train::fit::metrics::EpochMetrics;
use dvs_fixtures::testing::prepared::moving_blobs;

const RUNS: [&str; 4] = ["sg-w1-s5", "sg-w10-s5", "asgl-w1-s5", "asgl-w10-s5"];

fn sweep(data: &Path, out: &Path, extra: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_asgl-train"))
        .args([
            "sweep",
            "--quiet",
            "--widths",
            "1,10",
            "--methods",
            "sg,asgl",
        ])
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(["--arch", "vgg:4,P", "--T", "3", "--num_epoch", "2"])
        .args([
            "--train_batch_size",
            "4",
            "--val_batch_size",
            "4",
            "--seed",
            "5",
        ])
        .args(["--workers", "1", "--jobs", "2", "--width_lr", "auto"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn history(run: &Path) -> Vec<EpochMetrics> {
    serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap()
}

/// The `| method | w | seeds | best | final | widths | width_lr | s |` rows of the Runs table.
fn run_rows(md: &str) -> Vec<Vec<String>> {
    let runs = md.split("## Runs").nth(1).expect("a Runs section");
    runs.lines()
        .filter(|l| l.starts_with("| sg |") || l.starts_with("| asgl |"))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// "12.5 ± 0.0" → 12.5
fn mean_of(cell: &str) -> f64 {
    cell.split('±').next().unwrap().trim().parse().unwrap()
}

#[test]
fn sweep_writes_runs_table_and_figure_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    moving_blobs(&data, 3, 12, 8, 8, 2).unwrap();
    let out = tmp.path().join("sweep");

    // Interrupted: every run stops after its first epoch.
    let first = sweep(&data, &out, &["--stop_after", "1"]);
    let said = String::from_utf8_lossy(&first.stdout).to_string();
    assert!(said.contains("4 runs trained (0 resumed)"), "{said}");
    for run in RUNS {
        assert_eq!(
            history(&out.join(run)).len(),
            1,
            "{run} after the interruption"
        );
    }
    let partial = std::fs::read_to_string(out.join("sweep.md")).unwrap();
    assert!(run_rows(&partial).iter().all(|r| r[3] == "—"), "{partial}");

    // Resumed: each run continues from last/ (same folder, epoch 2 appended).
    let second = sweep(&data, &out, &[]);
    let said = String::from_utf8_lossy(&second.stdout).to_string();
    assert!(said.contains("4 runs trained (4 resumed)"), "{said}");
    for run in RUNS {
        let dir = out.join(run);
        let h = history(&dir);
        assert_eq!(
            h.iter().map(|m| m.epoch).collect::<Vec<_>>(),
            [0, 1],
            "{run}"
        );
        let log = std::fs::read_to_string(dir.join("fit.log")).unwrap();
        assert!(log.contains("resumed from"), "{run}: {log}");
        let cfg: TrainConfig =
            toml::from_str(&std::fs::read_to_string(dir.join("config.toml")).unwrap()).unwrap();
        // --width_lr auto resolved to 8.5 / (2 epochs × 2 batches of 4 out of 8 samples).
        assert_eq!(cfg.width_lr.resolve(1), 8.5 / 4.0, "{run}");
        assert_eq!(cfg.train_width, run.starts_with("asgl"), "{run}");
    }

    // The table holds exactly the runs' numbers.
    let md = std::fs::read_to_string(out.join("sweep.md")).unwrap();
    let rows = run_rows(&md);
    assert_eq!(rows.len(), 4, "{md}");
    for row in &rows {
        let run = format!("{}-w{}-s5", row[0], row[1]);
        let h = history(&out.join(&run));
        let best = h.iter().map(|m| m.test_accuracy).fold(0.0, f64::max);
        let last = h.last().unwrap();
        assert!(
            (mean_of(&row[3]) - 100.0 * best).abs() < 0.051,
            "{run}: {row:?}"
        );
        assert!(
            (mean_of(&row[4]) - 100.0 * last.test_accuracy).abs() < 0.051,
            "{run}"
        );
        let widths: Vec<f64> = row[5].split(", ").map(|w| w.parse().unwrap()).collect();
        assert_eq!(
            widths.len(),
            last.width.len(),
            "{run}: one width per LIF layer"
        );
        let mut by_layer: Vec<(usize, f64)> = last
            .width
            .iter()
            .map(|(k, &w)| (k.trim_start_matches("lif.").parse().unwrap(), w))
            .collect();
        by_layer.sort_by_key(|&(i, _)| i);
        for (shown, (_, w)) in widths.iter().zip(by_layer) {
            assert!((shown - w).abs() < 5e-4, "{run}: {shown} vs {w}");
        }
        if row[0] == "sg" {
            assert!(
                widths.iter().all(|&w| (w - mean_of(&row[1])).abs() < 1e-3),
                "{row:?}"
            );
        }
    }
    assert!(
        md.contains("## Best test accuracy") && md.contains("| asgl |"),
        "{md}"
    );

    let png = std::fs::read(out.join("sweep.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let img = image::load_from_memory(&png).unwrap();
    assert_eq!((img.width(), img.height()), (800, 500));

    // A rerun of the finished sweep trains nothing and writes the same table.
    let stamps: Vec<_> = RUNS
        .iter()
        .map(|r| {
            std::fs::metadata(out.join(r).join("metrics.json"))
                .unwrap()
                .modified()
                .unwrap()
        })
        .collect();
    let third = sweep(&data, &out, &[]);
    let said = String::from_utf8_lossy(&third.stdout).to_string();
    assert!(
        said.contains("0 runs trained (0 resumed), 4 already finished"),
        "{said}"
    );
    assert_eq!(std::fs::read_to_string(out.join("sweep.md")).unwrap(), md);
    for (r, t) in RUNS.iter().zip(stamps) {
        let now = std::fs::metadata(out.join(r).join("metrics.json"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(now, t, "{r} retrained");
    }
}

#[test]
fn a_sweep_refuses_runs_made_with_other_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    moving_blobs(&data, 3, 12, 4, 4, 2).unwrap();
    let out = tmp.path().join("sweep");
    let run = |lr: &str| {
        Command::new(env!("CARGO_BIN_EXE_asgl-train"))
            .args(["sweep", "--quiet", "--widths", "1", "--methods", "sg"])
            .arg("--data")
            .arg(&data)
            .arg("--out")
            .arg(&out)
            .args([
                "--arch",
                "vgg:4,P",
                "--T",
                "3",
                "--num_epoch",
                "1",
                "--lr",
                lr,
            ])
            .args(["--train_batch_size", "4", "--workers", "1"])
            .output()
            .unwrap()
    };
    assert!(run("0.1").status.success());
    let other = run("0.05");
    assert_eq!(other.status.code(), Some(1));
    let err = String::from_utf8_lossy(&other.stderr);
    assert!(
        err.contains("sg-w1-s200") && err.contains("other settings"),
        "{err}"
    );
}

#[test]
fn width_lr_auto_is_refused_for_the_sigmoid_surrogate() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    moving_blobs(&data, 3, 12, 4, 4, 2).unwrap();
    let fit = |act: &str| {
        Command::new(env!("CARGO_BIN_EXE_asgl-train"))
            .args(["fit", "--act", act, "--width_lr", "auto"])
            .arg("--data")
            .arg(&data)
            .arg("--out")
            .arg(tmp.path().join(act))
            .args(["--arch", "vgg:4,P", "--T", "3", "--num_epoch", "1"])
            .args(["--train_batch_size", "4", "--workers", "1"])
            .output()
            .unwrap()
    };
    let sig = fit("mns_sig");
    let err = String::from_utf8_lossy(&sig.stderr);
    assert!(!sig.status.success(), "mns_sig with auto trained");
    assert!(
        err.contains("--width_lr auto") && err.contains("mns_sig"),
        "{err}"
    );
    let rec = fit("mns_rec");
    assert!(
        rec.status.success(),
        "{}",
        String::from_utf8_lossy(&rec.stderr)
    );
}
