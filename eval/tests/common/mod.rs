//! Helpers of the eval integration tests: the golden eval cases as networks, small random networks
//! turned into checkpoints, prepared datasets that match a model, and layout conversions. Datasets
//! and golden cases come from the shared test support, `dvs_fixtures::testing`.
#![allow(dead_code)]

use std::path::Path;

use asgl_train::export::{read_safetensors, ModelMetadata, ParamMap, ParamTensor};
use asgl_train::network::model::Network;
use asgl_train::network::spec::{LayerSpec, NetSpec, NeuronSpec, SpikeMode, SurrogateKind};
use candle_core::{DType, Device, Tensor};
use dvs_fixtures::testing::golden::{GoldenCase, GoldenSet, Mode};
use dvs_fixtures::testing::prepared::{self, PreparedSpec};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Every eval-mode golden case of the shared folder, with its network spec and parameter tensors
/// in the exporter's form.
pub fn golden_eval_cases() -> Vec<(GoldenCase, NetSpec, ParamMap)> {
    let set = GoldenSet::load_default();
    let cases: Vec<_> = set
        .cases_in(Mode::Eval)
        .map(|case| {
            let spec: NetSpec = serde_json::from_value(case.raw.clone())
                .unwrap_or_else(|e| panic!("{}: {e}", case.path.display()));
            let params: ParamMap = case
                .tensors
                .iter()
                .map(|(name, t)| {
                    let tensor = ParamTensor::new(t.shape.clone(), t.data.clone()).unwrap();
                    (name.clone(), tensor)
                })
                .collect();
            (case.clone(), spec, params)
        })
        .collect();
    assert!(
        !cases.is_empty(),
        "no eval-mode golden case in {}",
        set.dir.display()
    );
    cases
}

/// Metadata for a test network with `k` classes.
pub fn test_metadata(spec: &NetSpec) -> ModelMetadata {
    ModelMetadata {
        classes: (0..spec.num_classes)
            .map(|i| format!("class {i}"))
            .collect(),
        time_steps: spec.time_steps,
        channels: spec.input_shape[0],
        height: spec.input_shape[1],
        width: spec.input_shape[2],
        integration_params: serde_json::json!({"mode": "event_count", "frames": spec.time_steps}),
        params_hash: "test-params-hash".into(),
        value_transform: serde_json::json!("raw"),
        config_hash: "test-config-hash".into(),
        network: spec.clone(),
    }
}

pub fn neuron(decay: f64, thresh: f64) -> NeuronSpec {
    NeuronSpec {
        decay,
        thresh,
        reset: "hard".into(),
        surrogate: SurrogateKind::Rectangle,
        width: 1.0,
        noise_p: 0.0,
        train_width: true,
        train_decay: false,
        train_thresh: false,
        spike: SpikeMode::Noisy,
    }
}

/// A small VGG-like spec: conv-bn-lif-pool-conv-bn-lif-pool-flatten-linear.
pub fn small_spec(t: usize, hw: usize, classes: usize, bn: LayerSpec, biases: bool) -> NetSpec {
    let layers = vec![
        LayerSpec::Conv {
            out: 6,
            kernel: 3,
            padding: 1,
            bias: biases,
        },
        bn.clone(),
        LayerSpec::Lif,
        LayerSpec::Avgpool { size: 2 },
        LayerSpec::Conv {
            out: 8,
            kernel: 3,
            padding: 1,
            bias: false,
        },
        bn,
        LayerSpec::Lif,
        LayerSpec::Avgpool { size: 2 },
        LayerSpec::Flatten,
        LayerSpec::Linear {
            out: classes,
            bias: biases,
        },
    ];
    NetSpec {
        time_steps: t,
        input_shape: [2, hw, hw],
        num_classes: classes,
        neuron: neuron(0.5, 0.5),
        layers,
    }
}

/// Builds the candle network of `spec` with random weights (seeded) and non-trivial BN running
/// statistics, saves it as `<dir>/model.safetensors` and returns the network and its tensors.
pub fn random_checkpoint(spec: &NetSpec, dir: &Path, seed: u64) -> (Network, ParamMap) {
    let network = Network::new(spec.clone(), DType::F32, &Device::Cpu, seed).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    for v in network.vars() {
        let dims = v.var.dims().to_vec();
        let n: usize = dims.iter().product();
        let values: Option<Vec<f32>> = if v.name.ends_with("running_mean") {
            Some((0..n).map(|_| rng.random_range(-0.5..0.5)).collect())
        } else if v.name.ends_with("running_var") {
            Some((0..n).map(|_| rng.random_range(0.5..3.0)).collect())
        } else if v.name.ends_with(".bias") || (v.name.ends_with(".weight") && dims.len() == 1) {
            // BN affine parameters and biases: away from the 1/0 defaults so folding is exercised.
            Some(
                (0..n)
                    .map(|_| {
                        rng.random_range(-0.3..0.3)
                            + if v.name.ends_with("weight") { 1.0 } else { 0.0 }
                    })
                    .collect(),
            )
        } else {
            None
        };
        if let Some(values) = values {
            v.var
                .set(&Tensor::from_vec(values, dims.as_slice(), &Device::Cpu).unwrap())
                .unwrap();
        }
    }
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("model.safetensors");
    network.save(&path).unwrap();
    let params = read_safetensors(&path).unwrap();
    (network, params)
}

/// Sparse event-like frames `[B, T, C, H, W]` in [0, 2), seeded.
pub fn random_frames(shape: [usize; 5], density: f64, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..shape.iter().product::<usize>())
        .map(|_| {
            if rng.random::<f64>() < density {
                rng.random_range(0.0..2.0)
            } else {
                0.0
            }
        })
        .collect()
}

/// `[T, B, ...]` → `[B, T, ...]` (or back: the permutation is its own inverse).
pub fn swap_first_two(data: &[f32], d0: usize, d1: usize) -> Vec<f32> {
    let inner = data.len() / (d0 * d1);
    let mut out = vec![0.0; data.len()];
    for a in 0..d0 {
        for b in 0..d1 {
            let src = (a * d1 + b) * inner;
            let dst = (b * d0 + a) * inner;
            out[dst..dst + inner].copy_from_slice(&data[src..src + inner]);
        }
    }
    out
}

/// Asserts |got − want| ≤ atol + rtol·|want| elementwise, naming the worst element.
pub fn assert_close(got: &[f32], want: &[f32], atol: f32, rtol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = (0usize, 0.0f32);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let excess = (g - w).abs() - (atol + rtol * w.abs());
        if excess > worst.1 || !g.is_finite() {
            worst = (
                i,
                excess.max(f32::MAX * f32::from(u8::from(!g.is_finite()))),
            );
        }
    }
    assert!(
        worst.1 <= 0.0,
        "{what}: element {} got {} want {} (atol {atol}, rtol {rtol})",
        worst.0,
        got[worst.0],
        want[worst.0]
    );
}

/// Writes a prepared dataset matching `meta` (dataset.json + one split of `samples` random sparse
/// count samples, seeded) and returns the labels in sample order.
pub fn write_dataset(
    dir: &Path,
    meta: &ModelMetadata,
    split: &str,
    samples: usize,
    seed: u64,
) -> Vec<u32> {
    let shape = [meta.time_steps, meta.channels, meta.height, meta.width];
    let spec = PreparedSpec::new(shape, meta.classes.len())
        .class_names(meta.classes.clone())
        .split(split, samples)
        .shard_bytes(64 * 1024)
        .kind("synthetic-test")
        .params(meta.integration_params.clone())
        .params_hash(&meta.params_hash);
    let mut written = prepared::sparse_random(dir, &spec, seed).unwrap();
    written.labels.remove(split).unwrap()
}
