//! Helpers shared by the eval integration tests: golden cases, small random networks turned into
//! checkpoints, synthetic prepared datasets, and layout conversions.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use asgl_train::export::{read_safetensors, ModelMetadata, ParamMap};
use asgl_train::model::Network;
use asgl_train::spec::{LayerSpec, NetSpec, NeuronSpec, SpikeMode, SurrogateKind};
use candle_core::{DType, Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub fn golden_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/golden/asgl"
    ));
    assert!(dir.is_dir(), "golden folder {} is missing", dir.display());
    dir
}

/// Every golden case (spec JSON + tensors) whose `mode` is `mode`.
pub fn golden_cases(mode: &str) -> Vec<(String, serde_json::Value, ParamMap)> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        if json.get("layers").is_none() || json["mode"] != mode {
            continue;
        }
        let tensors = read_safetensors(&path.with_extension("safetensors")).unwrap();
        out.push((json["name"].as_str().unwrap().to_string(), json, tensors));
    }
    out
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

/// Writes a prepared dataset (dataset.json + one split of shards) with random sparse count frames.
pub fn write_dataset(
    dir: &Path,
    meta: &ModelMetadata,
    split: &str,
    samples: usize,
    seed: u64,
) -> Vec<u32> {
    use dvs_frames::{DatasetInfo, FrameData, SampleRecord, ShardSetWriter, SplitInfo};
    let [t, c, h, w] = [meta.time_steps, meta.channels, meta.height, meta.width];
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let split_dir = dir.join(split);
    let mut writer = ShardSetWriter::create(&split_dir, "shard", 64 * 1024, 3).unwrap();
    let mut labels = Vec::new();
    for i in 0..samples {
        let label = rng.random_range(0..meta.classes.len() as u32);
        let counts: Vec<u32> = (0..t * c * h * w)
            .map(|_| {
                if rng.random::<f64>() < 0.15 {
                    rng.random_range(1..4)
                } else {
                    0
                }
            })
            .collect();
        let key = format!("sample-{i:04}");
        writer
            .append(&SampleRecord {
                key: &key,
                label,
                shape: [t, c, h, w],
                frames: FrameData::Counts(&counts),
            })
            .unwrap();
        labels.push(label);
    }
    let shards = writer.finish().unwrap();
    let mut splits = BTreeMap::new();
    splits.insert(
        split.to_string(),
        SplitInfo {
            shards: shards
                .iter()
                .map(|s| format!("{split}/{}", s.file))
                .collect(),
            samples: samples as u64,
        },
    );
    let info = DatasetInfo {
        format_version: DatasetInfo::FORMAT_VERSION,
        kind: "synthetic-test".into(),
        classes: meta.classes.clone(),
        frames: t,
        height: h,
        width: w,
        dtype: shards.iter().map(|s| s.dtype).max().unwrap(),
        params: meta.integration_params.clone(),
        params_hash: meta.params_hash.clone(),
        splits,
    };
    info.write_atomic(dir).unwrap();
    labels
}
