//! Portability of the exported file: the official Python `onnx` checker (full_check, i.e. with
//! strict shape inference) accepts it, and the Python `onnxruntime` package runs it and reproduces
//! the outputs of the Rust `ort` run on the same input.
//!
//! Python comes from the shared `.venv` made by `scripts/pyenv.sh onnx==1.23.2 onnxruntime==1.31.1
//! numpy` (this test calls the script itself). Fails loudly when Python or the packages are missing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use asgl_eval::{OnnxModel, SessionOptions};
use asgl_train::export::export_to_file;
use asgl_train::spec::{LayerSpec, NetSpec};
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

fn repo_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The Python interpreter of the shared venv with onnx + onnxruntime installed.
fn python() -> PathBuf {
    let script = repo_root().join("scripts/pyenv.sh");
    let status = Command::new("bash")
        .arg(&script)
        .args(["onnx==1.23.2", "onnxruntime==1.31.1", "numpy"])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        status.success(),
        "{} failed to provide onnx/onnxruntime (needs python3 + pip)",
        script.display()
    );
    let venv = std::env::var_os("SPIKETRAIN_VENV")
        .map_or_else(|| repo_root().join(".venv"), PathBuf::from);
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "{} missing after scripts/pyenv.sh",
        python.display()
    );
    python
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
    let python = python();
    let tmp = tempfile::tempdir().unwrap();
    let cases = golden_cases("eval");
    assert!(!cases.is_empty(), "no eval-mode golden case");
    for (name, json, tensors) in &cases {
        let spec: NetSpec = serde_json::from_value(json.clone()).unwrap();
        check_in_python(&python, tmp.path(), name, &spec, tensors);
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
