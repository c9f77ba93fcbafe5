//! Parity with the reference ASGL implementation. Two sets of network cases, one runner:
//! - every case in `../shared/golden/asgl/` (found by content through
//!   `dvs_fixtures::testing::golden`; the surrogate tables are `surrogates.rs`'s), computed by the
//!   official ASGL PyTorch code;
//! - the spiking-ResNet cases in `tests/golden_resnet/` (made once by
//!   `scripts/make_resnet_golden.py` with PyTorch from the reference's semantics; torch is not
//!   needed here): a direct-encoded image through a stem, a stride-2 block with the projected
//!   shortcut (1×1 conv + tdBN), an identity block and the linear head, with the sigmoid surrogate
//!   (`mns_sig`) in spike and analog mode and in eval mode.
//!
//! Each case is built, loaded, run forward (and backward for train cases) and every `expect.*`
//! tensor (logits, loss, LIF outputs, every gradient incl. widths and the shortcut's, BN running
//! statistics) is compared within the case's tolerance |got − want| ≤ atol + rtol·|want|.
use std::collections::HashMap;

use asgl_train::fit::loss::{Objective, TetLoss};
use asgl_train::network::model::Network;
use asgl_train::network::spec::{LayerSpec, NetSpec};
use asgl_train::neuron::spike::ForwardCtx;
use candle_core::{DType, Device, Tensor, Var};
use dvs_fixtures::testing::golden::{GoldenCase, GoldenSet, GoldenTensor, Mode, Tolerance};
use rand::SeedableRng;

fn tensor(t: &GoldenTensor<f32>) -> Tensor {
    Tensor::from_vec(t.data.clone(), t.shape.as_slice(), &Device::Cpu).expect("golden tensor")
}

/// Every network case of the shared golden folder (at least one).
fn reference_cases() -> Vec<GoldenCase> {
    non_empty(GoldenSet::load_default())
}

/// Every case of `train/tests/golden_resnet` (at least one).
fn resnet_cases() -> Vec<GoldenCase> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden_resnet");
    non_empty(GoldenSet::load(&dir).unwrap_or_else(|e| panic!("resnet golden cases: {e}")))
}

fn non_empty(set: GoldenSet) -> Vec<GoldenCase> {
    assert!(
        !set.cases.is_empty(),
        "no network case in {}",
        set.dir.display()
    );
    set.cases
}

/// Runs every case in `dtype`; panics with the list of failures.
fn assert_parity(cases: &[GoldenCase], dtype: DType) {
    let failures: Vec<String> = cases.iter().flat_map(|c| run_case(c, dtype)).collect();
    assert!(
        failures.is_empty(),
        "{dtype:?} parity failures:\n{}",
        failures.join("\n")
    );
}

/// Compares `got` with `want`; returns (max abs error, max rel error, violations).
fn compare(got: &Tensor, want: &Tensor, tol: &Tolerance) -> (f64, f64, usize, usize) {
    let g = got
        .to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    let w = want
        .to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    assert_eq!(g.len(), w.len());
    let (mut max_abs, mut max_rel, mut bad) = (0.0f64, 0.0f64, 0usize);
    for (a, b) in g.iter().zip(&w) {
        let d = (a - b).abs();
        max_abs = max_abs.max(d);
        if b.abs() > 0.0 {
            max_rel = max_rel.max(d / b.abs());
        }
        if !tol.allows(*a, *b) {
            bad += 1;
        }
    }
    (max_abs, max_rel, bad, g.len())
}

/// Runs one case in `dtype`; returns the list of failures (empty = pass).
fn run_case(golden: &GoldenCase, dtype: DType) -> Vec<String> {
    let case = &golden.spec;
    let objective = match case.loss.kind.as_str() {
        "tet" => Objective::Tet(TetLoss {
            lambda: case.loss.lambda,
            means: case.loss.means,
        }),
        "ce_mean" => Objective::CeMean,
        other => panic!("{}: unsupported loss {other}", case.name),
    };
    let spec: NetSpec = serde_json::from_value(golden.raw.clone())
        .unwrap_or_else(|e| panic!("{}: {e}", golden.path.display()));
    let params: HashMap<String, Tensor> = golden
        .tensors_with_prefix("param.")
        .map(|(name, t)| (name.to_string(), tensor(t)))
        .collect();
    let net = Network::new(spec, dtype, &Device::Cpu, 0).expect("build network");
    net.load_tensors(&params, &golden.tensors_path)
        .expect("load golden parameters");
    let input = Var::from_tensor(&tensor(golden.tensor("input")).to_dtype(dtype).unwrap()).unwrap();
    assert_eq!(input.dims()[..2], [case.time_steps, case.batch]);
    let labels: Vec<u32> = golden.labels().iter().map(|&l| l as u32).collect();
    let labels = Tensor::new(labels.as_slice(), &Device::Cpu).unwrap();
    let train = case.mode == Mode::Train;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut ctx = if train {
        ForwardCtx::train(&mut rng)
    } else {
        ForwardCtx::eval()
    };
    ctx.record = Some(Vec::new());
    let logits = net.forward(input.as_tensor(), &mut ctx).expect("forward");
    let loss = objective.forward(&logits, &labels).expect("loss");
    let lif: HashMap<usize, Tensor> = ctx.record.take().unwrap().into_iter().collect();
    let grads = if train {
        Some(loss.backward().expect("backward"))
    } else {
        None
    };
    let var = |name: &str| -> Var {
        net.vars()
            .iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("{}: network has no variable {name}", case.name))
            .var
            .clone()
    };
    let mut failures = Vec::new();
    let mut checked = 0;
    for (key, want) in golden.tensors_with_prefix("expect.") {
        let want = tensor(want);
        let rest = &key["expect.".len()..];
        let got: Tensor = if rest == "logits" {
            logits.clone()
        } else if rest == "loss" {
            loss.reshape(1).unwrap()
        } else if let Some(i) = rest.strip_prefix("lif.") {
            lif.get(&i.parse::<usize>().unwrap())
                .unwrap_or_else(|| panic!("{}: no LIF output for layer {i}", case.name))
                .clone()
        } else if let Some(g) = rest.strip_prefix("grad.") {
            let grads = grads
                .as_ref()
                .expect("gradients expected only in train cases");
            let t = if g == "input" {
                input.as_tensor().clone()
            } else {
                var(&format!("param.{g}")).as_tensor().clone()
            };
            grads
                .get(&t)
                .unwrap_or_else(|| panic!("{}: no gradient for {g}", case.name))
                .clone()
        } else if let Some(i) = rest.strip_prefix("running_mean.") {
            // `<i>` or `<i>.bn` (the BN of a residual add's projection).
            var(&format!("param.{i}.running_mean")).as_tensor().clone()
        } else if let Some(i) = rest.strip_prefix("running_var.") {
            var(&format!("param.{i}.running_var")).as_tensor().clone()
        } else {
            panic!("{}: unknown expected tensor {key}", case.name)
        };
        let got = got.reshape(want.shape()).unwrap_or_else(|e| {
            panic!(
                "{}: {key} shape {:?} vs {:?}: {e}",
                case.name,
                got.dims(),
                want.dims()
            )
        });
        let (max_abs, max_rel, bad, n) = compare(&got, &want, &case.tolerance);
        checked += 1;
        eprintln!(
            "{:>20} {:?} {:<28} max_abs {:.3e} max_rel {:.3e} {}",
            case.name,
            dtype,
            key,
            max_abs,
            max_rel,
            if bad == 0 {
                "ok".to_string()
            } else {
                format!("FAIL {bad}/{n}")
            }
        );
        if bad > 0 {
            failures.push(format!(
                "{}: {key}: {bad}/{n} elements out of tolerance (max abs {max_abs:.3e}, max rel {max_rel:.3e})",
                case.name
            ));
        }
    }
    assert!(checked >= 3, "{}: too few expected tensors", case.name);
    failures
}

#[test]
fn golden_cases_match_reference_in_f32() {
    assert_parity(&reference_cases(), DType::F32);
}

#[test]
fn golden_cases_match_reference_in_f64() {
    assert_parity(&reference_cases(), DType::F64);
}

#[test]
fn resnet_cases_match_reference_in_f32() {
    assert_parity(&resnet_cases(), DType::F32);
}

#[test]
fn resnet_cases_match_reference_in_f64() {
    assert_parity(&resnet_cases(), DType::F64);
}

/// The cases exercise what they are for: a projected and an identity residual add, a subsample,
/// a direct-encoded input (every step the same image) and both train and eval mode.
#[test]
fn resnet_cases_cover_the_residual_kinds() {
    let cases = resnet_cases();
    for golden in &cases {
        let spec: NetSpec = serde_json::from_value(golden.raw.clone()).unwrap();
        let has = |f: &dyn Fn(&LayerSpec) -> bool| spec.layers.iter().any(f);
        assert!(has(&|l| matches!(l, LayerSpec::Add { proj: Some(_), .. })));
        assert!(has(&|l| matches!(l, LayerSpec::Add { proj: None, .. })));
        assert!(has(&|l| matches!(l, LayerSpec::Subsample { .. })));
        let input = golden.tensor("input");
        let step = input.data.len() / golden.spec.time_steps;
        for t in 1..golden.spec.time_steps {
            assert_eq!(input.data[t * step..(t + 1) * step], input.data[..step]);
        }
    }
    assert!(cases.iter().any(|c| c.spec.mode == Mode::Train));
    assert!(cases.iter().any(|c| c.spec.mode == Mode::Eval));
}
