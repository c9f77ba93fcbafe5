//! Exported ONNX models run through ONNX Runtime (`ort`) against independent references:
//! the golden eval-mode cases of the official ASGL code (`../shared/golden/asgl`), and the candle
//! network of the training crate on random-weight networks (tdbn and bntt, with biases).
//!
//! Needs ONNX Runtime: `eval "$(scripts/provision-ort.sh)"` (or `<repo>/.ort/`); fails, never skips,
//! when it is missing.

mod common;

use asgl_eval::compare::CandleReference;
use asgl_eval::metrics::argmax;
use asgl_eval::{OnnxModel, SessionOptions};
use asgl_train::export::{export_to_file, read_safetensors};
use asgl_train::network::model::Network;
use asgl_train::network::spec::{LayerSpec, NetSpec};
use candle_core::{DType, Device};
use common::*;

fn load(path: &std::path::Path) -> OnnxModel {
    OnnxModel::load(
        path,
        &SessionOptions {
            intra_threads: 1,
            optimize: true,
        },
    )
    .unwrap_or_else(|e| panic!("ONNX Runtime is required for this test: {e}"))
}

#[test]
fn golden_eval_cases_match_onnx_runtime_and_candle() {
    let tmp = tempfile::tempdir().unwrap();
    for (case, spec, tensors) in golden_eval_cases() {
        let name = case.name();
        let (t, b) = (spec.time_steps, case.spec.batch);
        let [c, h, w] = spec.input_shape;
        let k = spec.num_classes;
        let atol = case.spec.tolerance.atol as f32;
        let rtol = case.spec.tolerance.rtol as f32;

        let path = tmp.path().join(format!("{name}.onnx"));
        export_to_file(&spec, &tensors, &test_metadata(&spec), &path).unwrap();
        let mut model = load(&path);

        // The golden input is time-major [T, B, C, H, W]; the model takes [B, T, C, H, W].
        let input = &tensors["input"];
        assert_eq!(input.shape, [t, b, c, h, w]);
        let frames = swap_first_two(&input.data, t, b);
        let out = model.run(&frames, [b, t, c, h, w]).unwrap();
        let want = &tensors["expect.logits"].data;
        assert_close(
            &out.per_step,
            want,
            atol,
            rtol,
            &format!("{name}: ort per-step logits vs golden"),
        );
        let want_mean: Vec<f32> = (0..b * k)
            .map(|i| (0..t).map(|s| want[s * b * k + i]).sum::<f32>() / t as f32)
            .collect();
        assert_close(
            &out.mean,
            &want_mean,
            atol,
            rtol,
            &format!("{name}: ort mean logits vs golden"),
        );

        // The candle network on the same tensors agrees with both.
        let network = Network::new(spec.clone(), DType::F32, &Device::Cpu, 0).unwrap();
        network.load(&case.tensors_path).unwrap();
        let candle = CandleReference::from_network(network)
            .forward(&frames, [b, t, c, h, w])
            .unwrap();
        assert_close(
            &candle.per_step,
            &out.per_step,
            atol,
            rtol,
            &format!("{name}: candle vs ort"),
        );
    }
}

/// Exports a random-weight network, runs ort and candle on the same random event frames and
/// checks prediction agreement and logit closeness.
fn random_network_agrees(spec: NetSpec, seed: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let (network, params) = random_checkpoint(&spec, tmp.path(), seed);
    let path = tmp.path().join("model.onnx");
    export_to_file(&spec, &params, &test_metadata(&spec), &path).unwrap();
    let mut model = load(&path);
    let mut reference = CandleReference::from_network(network);
    let [c, h, w] = spec.input_shape;
    let t = spec.time_steps;
    let k = spec.num_classes;
    let (mut samples, mut identical, mut close, mut elements) = (0usize, 0usize, 0usize, 0usize);
    let mut max_diff = 0.0f32;
    // Several batch sizes: the batch dimension is symbolic.
    for (i, b) in [1usize, 7, 32, 64].into_iter().enumerate() {
        let shape = [b, t, c, h, w];
        let frames = random_frames(shape, 0.2, seed + i as u64);
        let onnx = model.run(&frames, shape).unwrap();
        let candle = reference.forward(&frames, shape).unwrap();
        assert_eq!(onnx.per_step.len(), t * b * k);
        for s in 0..b {
            samples += 1;
            identical += usize::from(
                argmax(&onnx.mean[s * k..(s + 1) * k]) == argmax(&candle.mean[s * k..(s + 1) * k]),
            );
        }
        for (o, r) in onnx.per_step.iter().zip(&candle.per_step) {
            elements += 1;
            close += usize::from((o - r).abs() <= 1e-4 + 1e-4 * r.abs());
            max_diff = max_diff.max((o - r).abs());
        }
    }
    let agreement = identical as f64 / samples as f64;
    let close_fraction = close as f64 / elements as f64;
    eprintln!(
        "{} layers: prediction agreement {identical}/{samples} = {:.4}, per-step logits within 1e-4: {:.5}, max |diff| {max_diff:.3e}",
        spec.layers.len(),
        agreement,
        close_fraction
    );
    assert!(
        agreement >= 0.99,
        "prediction agreement {agreement} below 99%"
    );
    assert!(
        close_fraction >= 0.99,
        "only {close_fraction} of the per-step logits agree within 1e-4"
    );
}

#[test]
fn random_tdbn_network_matches_candle() {
    random_network_agrees(small_spec(5, 16, 7, LayerSpec::Bn, true), 11);
}

#[test]
fn random_bntt_network_matches_candle() {
    random_network_agrees(small_spec(4, 16, 5, LayerSpec::Bntt, false), 23);
}

#[test]
fn checkpoint_tensors_round_trip_through_safetensors_reader() {
    // The exporter reads the same bytes the trainer writes: every network variable is present.
    let tmp = tempfile::tempdir().unwrap();
    let spec = small_spec(3, 8, 4, LayerSpec::Bn, true);
    let (network, params) = random_checkpoint(&spec, tmp.path(), 5);
    let reread = read_safetensors(&tmp.path().join("model.safetensors")).unwrap();
    assert_eq!(params, reread);
    for v in network.vars() {
        let p = &params[&v.name];
        assert_eq!(p.shape, v.var.dims(), "{}", v.name);
        let values = v
            .var
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(p.data, values, "{}", v.name);
    }
}
