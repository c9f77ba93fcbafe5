//! Portability of the exported file: the official Python `onnx` checker (full_check, i.e. with
//! strict shape inference) accepts it, and the Python `onnxruntime` package runs it and reproduces
//! the outputs of the Rust `ort` run on the same input.
//!
//! The test only uses the interpreter named by `$SPIKETRAIN_PYTHON`; provisioning is the scripts'
//! job (`scripts/test.sh` runs `scripts/pyenv.sh numpy onnx==1.23.2 onnxruntime==1.31.1 ...` and
//! exports it). Without it the test fails in CI (`CI=true`) and is skipped, with the reason
//! printed, elsewhere.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use asgl_eval::{OnnxModel, SessionOptions};
use asgl_train::export::export_to_file;
use asgl_train::network::spec::{LayerSpec, NetSpec};
use common::*;

const CHECK_SCRIPT: &str = r#"
import json, sys
import numpy as np
import onnx, onnxruntime as ort
case = json.load(open(sys.argv[1]))
model = onnx.load(case["model"])
onnx.checker.check_model(model, full_check=True)
inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
assert model.opset_import[0].version >= 17, model.opset_import
props = {p.key: p.value for p in model.metadata_props}
assert json.loads(props["classes"]) == case["classes"], props["classes"]
assert int(props["time_steps"]) == case["time_steps"]
sess = ort.InferenceSession(case["model"], providers=["CPUExecutionProvider"])
frames = np.fromfile(case["input"], dtype="<f4").reshape(case["input_shape"])
per_step, mean = sess.run(["logits_per_step", "logits"], {"frames": frames})
want_step = np.fromfile(case["rust_per_step"], dtype="<f4").reshape(per_step.shape)
want_mean = np.fromfile(case["rust_mean"], dtype="<f4").reshape(mean.shape)
assert list(per_step.shape) == case["per_step_shape"], per_step.shape
assert np.allclose(per_step, want_step, atol=1e-5, rtol=1e-5), np.abs(per_step - want_step).max()
assert np.allclose(mean, want_mean, atol=1e-5, rtol=1e-5), np.abs(mean - want_mean).max()
batch_dim = sess.get_inputs()[0].shape[0]
assert isinstance(batch_dim, str), sess.get_inputs()[0].shape
print(json.dumps({"ok": True, "onnx": onnx.__version__, "onnxruntime": ort.__version__,
                  "max_diff": float(np.abs(per_step - want_step).max())}))
"#;

/// The environment variable naming the Python interpreter with numpy, onnx and onnxruntime.
const PYTHON_VAR: &str = "SPIKETRAIN_PYTHON";

/// The interpreter of `$SPIKETRAIN_PYTHON`; `None` (skip) when it is unset outside CI.
fn python() -> Option<PathBuf> {
    let how = "run scripts/test.sh, or: eval \"$(bash scripts/pyenv.sh numpy onnx==1.23.2 \
               onnxruntime==1.31.1)\"; export SPIKETRAIN_PYTHON=\"$VIRTUAL_ENV/bin/python\"";
    let Some(python) = std::env::var_os(PYTHON_VAR).filter(|p| !p.is_empty()) else {
        let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(!in_ci, "{PYTHON_VAR} is not set (CI=true): {how}");
        eprintln!("skipped: {PYTHON_VAR} is not set ({how})");
        return None;
    };
    let python = PathBuf::from(python);
    assert!(
        python.is_file(),
        "{PYTHON_VAR}={} is not a file: {how}",
        python.display()
    );
    Some(python)
}

fn write_f32(path: &Path, data: &[f32]) {
    let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

fn check_in_python(
    python: &Path,
    dir: &Path,
    name: &str,
    spec: &NetSpec,
    params: &asgl_train::export::ParamMap,
) {
    let meta = test_metadata(spec);
    let model_path = dir.join(format!("{name}.onnx"));
    export_to_file(spec, params, &meta, &model_path).unwrap();
    let mut model = OnnxModel::load(
        &model_path,
        &SessionOptions {
            intra_threads: 1,
            optimize: true,
        },
    )
    .unwrap_or_else(|e| panic!("ONNX Runtime is required for this test: {e}"));
    let [c, h, w] = spec.input_shape;
    let shape = [3, spec.time_steps, c, h, w];
    let frames = random_frames(shape, 0.25, 99);
    let out = model.run(&frames, shape).unwrap();
    let (input, per_step, mean) = (
        dir.join(format!("{name}.in")),
        dir.join(format!("{name}.ps")),
        dir.join(format!("{name}.mean")),
    );
    write_f32(&input, &frames);
    write_f32(&per_step, &out.per_step);
    write_f32(&mean, &out.mean);
    let case = serde_json::json!({
        "model": model_path, "input": input, "input_shape": shape, "rust_per_step": per_step, "rust_mean": mean,
        "per_step_shape": [spec.time_steps, 3, spec.num_classes], "classes": meta.classes, "time_steps": spec.time_steps,
    });
    let case_path = dir.join(format!("{name}.json"));
    std::fs::write(&case_path, serde_json::to_vec(&case).unwrap()).unwrap();
    let output = Command::new(python)
        .arg("-c")
        .arg(CHECK_SCRIPT)
        .arg(&case_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{name}: Python onnx/onnxruntime check failed:\n{stdout}\n{stderr}"
    );
    eprintln!("{name}: {}", stdout.trim());
    assert!(
        stdout.contains("\"ok\": true"),
        "{name}: unexpected output {stdout}"
    );
}

#[test]
fn exported_models_pass_onnx_checker_and_run_in_python_onnxruntime() {
    let Some(python) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    for (case, spec, tensors) in &golden_eval_cases() {
        check_in_python(&python, tmp.path(), case.name(), spec, tensors);
    }
    for (name, bn) in [
        ("random_tdbn", LayerSpec::Bn),
        ("random_bntt", LayerSpec::Bntt),
    ] {
        let spec = small_spec(4, 16, 6, bn, true);
        let (_, params) = random_checkpoint(&spec, &tmp.path().join(name), 3);
        check_in_python(&python, tmp.path(), name, &spec, &params);
    }
}
