//! Exact resume: 2 epochs in one run and 1 epoch + `--resume` 1 epoch give bit-identical weights,
//! optimiser state and metrics (except wall-clock fields).

use asgl_train::config::TrainConfig;
use asgl_train::fit::{fit, FitOptions};
use dvs_fixtures::testing::prepared::moving_blobs;

#[test]
fn interrupted_run_resumes_bit_identically() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    moving_blobs(&data, 3, 12, 24, 8, 5).unwrap();
    let cfg = TrainConfig {
        data: Some(data),
        arch: "vgg:4,P".parse().unwrap(),
        num_epoch: 2,
        train_batch_size: 8,
        val_batch_size: 8,
        t: 3,
        seed: 9,
        ..TrainConfig::default()
    };
    let straight = tmp.path().join("straight");
    let a = fit(&cfg, &straight, FitOptions::default()).unwrap();
    let split = tmp.path().join("split");
    let first = fit(
        &cfg,
        &split,
        FitOptions {
            resume: false,
            stop_after: Some(1),
        },
    )
    .unwrap();
    assert_eq!(first.history.len(), 1);
    let b = fit(
        &cfg,
        &split,
        FitOptions {
            resume: true,
            stop_after: None,
        },
    )
    .unwrap();
    assert_eq!(b.history.len(), 2);
    for f in ["model.safetensors", "state.safetensors"] {
        let x = std::fs::read(straight.join("last").join(f)).unwrap();
        let y = std::fs::read(split.join("last").join(f)).unwrap();
        assert!(x == y, "last/{f} differs between straight and resumed runs");
    }
    for (m, n) in a.history.iter().zip(&b.history) {
        assert_eq!(m.train_loss.to_bits(), n.train_loss.to_bits());
        assert_eq!(m.test_accuracy, n.test_accuracy);
        assert_eq!(m.width, n.width);
    }
    // Resuming with a different configuration is refused.
    let other = TrainConfig {
        lr: 0.05,
        ..cfg.clone()
    };
    let err = fit(
        &other,
        &split,
        FitOptions {
            resume: true,
            stop_after: None,
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("different configuration"), "{err}");
}
