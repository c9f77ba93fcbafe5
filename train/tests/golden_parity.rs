//! Parity with the reference ASGL implementation: every `*.json` case in
//! `../shared/golden/asgl/` (except `surrogates.json`, see `surrogates.rs`) is built, loaded,
//! run forward (and backward for train cases) and every `expect.*` tensor in its safetensors file
//! (logits, loss, LIF outputs, gradients incl. widths, BN running statistics) is compared within the
//! case's tolerance |got − want| ≤ atol + rtol·|want|.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use asgl_train::loss::TetLoss;
use asgl_train::model::Network;
use asgl_train::spec::{LayerSpec, NetSpec, NeuronSpec};
use asgl_train::spike::ForwardCtx;
use candle_core::{DType, Device, Tensor, Var};
use rand::SeedableRng;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/golden/asgl");

#[derive(serde::Deserialize)]
struct Tolerance {
    rtol: f64,
    atol: f64,
}

#[derive(serde::Deserialize)]
struct LossSpec {
    kind: String,
    lambda: f64,
    means: f64,
}

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    time_steps: usize,
    batch: usize,
    input_shape: [usize; 3],
    num_classes: usize,
    neuron: NeuronSpec,
    layers: Vec<LayerSpec>,
    loss: LossSpec,
    mode: String,
    tolerance: Tolerance,
}

fn case_files() -> Vec<PathBuf> {
    let dir = Path::new(GOLDEN);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("golden folder {} missing: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && p.file_name().is_some_and(|n| n != "surrogates.json")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no golden cases in {}", dir.display());
    files
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
        if d > tol.atol + tol.rtol * b.abs() || !a.is_finite() {
            bad += 1;
        }
    }
    (max_abs, max_rel, bad, g.len())
}

/// Runs one case in `dtype`; returns the list of failures (empty = pass).
fn run_case(path: &Path, dtype: DType) -> Vec<String> {
    let case: Case = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(case.loss.kind, "tet", "{}: unsupported loss", case.name);
    let st = path.with_extension("safetensors");
    let tensors: HashMap<String, Tensor> =
        candle_core::safetensors::load(&st, &Device::Cpu).expect("golden safetensors");
    let spec = NetSpec {
        time_steps: case.time_steps,
        input_shape: case.input_shape,
        num_classes: case.num_classes,
        neuron: case.neuron.clone(),
        layers: case.layers.clone(),
    };
    let net = Network::new(spec, dtype, &Device::Cpu, 0).expect("build network");
    net.load_tensors(&tensors, &st)
        .expect("load golden parameters");
    let input = Var::from_tensor(&tensors["input"].to_dtype(dtype).unwrap()).unwrap();
    assert_eq!(input.dims()[..2], [case.time_steps, case.batch]);
    let labels = tensors["labels"].to_dtype(DType::U32).unwrap();
    let train = match case.mode.as_str() {
        "train" => true,
        "eval" => false,
        m => panic!("{}: unknown mode {m}", case.name),
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut ctx = if train {
        ForwardCtx::train(&mut rng)
    } else {
        ForwardCtx::eval()
    };
    ctx.record = Some(Vec::new());
    let logits = net.forward(input.as_tensor(), &mut ctx).expect("forward");
    let loss = TetLoss {
        lambda: case.loss.lambda,
        means: case.loss.means,
    }
    .forward(&logits, &labels)
    .expect("loss");
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
    let mut keys: Vec<&String> = tensors
        .keys()
        .filter(|k| k.starts_with("expect."))
        .collect();
    keys.sort();
    let mut failures = Vec::new();
    let mut checked = 0;
    for key in keys {
        let want = &tensors[key];
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
        let (max_abs, max_rel, bad, n) = compare(&got, want, &case.tolerance);
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
    let mut failures = Vec::new();
    for path in case_files() {
        failures.extend(run_case(&path, DType::F32));
    }
    assert!(
        failures.is_empty(),
        "f32 parity failures:\n{}",
        failures.join("\n")
    );
}

#[test]
fn golden_cases_match_reference_in_f64() {
    let mut failures = Vec::new();
    for path in case_files() {
        failures.extend(run_case(&path, DType::F64));
    }
    assert!(
        failures.is_empty(),
        "f64 parity failures:\n{}",
        failures.join("\n")
    );
}
