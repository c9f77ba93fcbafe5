//! End-to-end learning: a small VGG SNN trained with the reference recipe (TET, SGD + Adam,
//! hybrid noisy spikes with p = 0.1, learnable widths) on a synthetic 4-class moving-blob DVS set
//! reaches clearly above chance (25 %) with a fixed seed; metrics, plots and checkpoints exist.

use asgl_train::config::TrainConfig;
use asgl_train::fit::{fit, FitOptions};
use dvs_fixtures::testing::prepared::moving_blobs;

#[test]
fn small_vgg_learns_moving_blobs_above_chance() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    moving_blobs(&data, 4, 16, 96, 48, 11).unwrap();
    let cfg = TrainConfig {
        data: Some(data),
        arch: "vgg:8,P,16,P".parse().unwrap(),
        num_epoch: 8,
        train_batch_size: 16,
        val_batch_size: 16,
        // A horizontal flip would swap the `right` and `left` classes of this set.
        augment: false,
        t: 4,
        seed: 3,
        ..TrainConfig::default()
    };
    let run = tmp.path().join("run");
    let s = fit(&cfg, &run, FitOptions::default()).unwrap();
    for m in &s.history {
        eprintln!(
            "epoch {} loss {:.3} train {:.3} test {:.3} widths {:?} fr {:?}",
            m.epoch, m.train_loss, m.train_accuracy, m.test_accuracy, m.width, m.firing_rate
        );
    }
    assert_eq!(s.history.len(), 8);
    assert!(
        s.best_accuracy >= 0.6,
        "best test accuracy {} is not clearly above chance 0.25",
        s.best_accuracy
    );
    for f in [
        "metrics.csv",
        "metrics.json",
        "loss.png",
        "accuracy.png",
        "widths.png",
        "config.toml",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    for f in [
        "model.safetensors",
        "config.json",
        "state.safetensors",
        "state.json",
    ] {
        assert!(run.join("last").join(f).is_file(), "last/{f} missing");
    }
    assert!(run.join("best/model.safetensors").is_file());
    // Widths are learnable: they moved away from w = 1.
    let last = s.history.last().unwrap();
    assert!(last.width.values().any(|w| (w - 1.0).abs() > 1e-6));
}
