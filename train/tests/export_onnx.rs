//! ONNX export structure and metadata (no ONNX Runtime needed here; numerical checks against ort,
//! candle, the golden cases and the Python onnx checker live in `eval/tests`).
//!
//! - the golden eval networks export to a well-formed opset-17 graph: symbolic batch, BN folded
//!   into the convs, the LIF recurrence unrolled T times per layer, every node input defined;
//! - the metadata round-trips through the encoded bytes;
//! - `asgl-train export` turns a checkpoint folder into a file with the checkpoint's metadata;
//! - inconsistent checkpoints fail with messages that name the tensor.

use std::collections::{HashMap, HashSet};

use asgl_train::checkpoint::CheckpointConfig;
use asgl_train::config::TrainConfig;
use asgl_train::export::proto::{
    tensor_proto::DataType, tensor_shape_proto::dimension::Value, type_proto, ValueInfoProto,
};
use asgl_train::export::{
    build_model, decode_model, encode_model, read_metadata, read_safetensors, ExportError,
    ModelMetadata, ParamMap, ParamTensor, INPUT_FRAMES, OPSET_VERSION, OUTPUT_MEAN,
    OUTPUT_PER_STEP,
};
use asgl_train::network::model::Network;
use asgl_train::network::spec::{LayerSpec, NetSpec};
use candle_core::{DType, Device};
use dvs_fixtures::testing::golden::{GoldenSet, Mode};
use dvs_frames::ValueTransform;

/// Every eval-mode network case of the golden folder: name, spec and `param.*` tensors.
fn golden_eval_cases() -> Vec<(String, NetSpec, ParamMap)> {
    let set = GoldenSet::load_default();
    let out: Vec<_> = set
        .cases_in(Mode::Eval)
        .map(|case| {
            let spec: NetSpec = serde_json::from_value(case.raw.clone()).unwrap();
            let params: ParamMap = case
                .tensors_with_prefix("param.")
                .map(|(name, t)| {
                    let tensor = ParamTensor::new(t.shape.clone(), t.data.clone()).unwrap();
                    (name.to_string(), tensor)
                })
                .collect();
            (case.name().to_string(), spec, params)
        })
        .collect();
    assert!(
        !out.is_empty(),
        "no eval-mode golden case in {}",
        set.dir.display()
    );
    out
}

fn metadata(spec: &NetSpec) -> ModelMetadata {
    ModelMetadata {
        classes: (0..spec.num_classes)
            .map(|k| format!("gesture \"{k}\", ü"))
            .collect(),
        time_steps: spec.time_steps,
        channels: spec.input_shape[0],
        height: spec.input_shape[1],
        width: spec.input_shape[2],
        integration_params: serde_json::json!({"slicing": "event_count", "frames": spec.time_steps, "nested": [1, 2]}),
        params_hash: "0123abcd".into(),
        value_transform: serde_json::to_value(ValueTransform::Clamp(2.5)).unwrap(),
        config_hash: "feedbeef".into(),
        network: spec.clone(),
    }
}

fn dims(info: &ValueInfoProto) -> Vec<String> {
    let Some(type_proto::Value::TensorType(t)) = &info.r#type.as_ref().unwrap().value else {
        panic!("not a tensor")
    };
    assert_eq!(t.elem_type, Some(DataType::Float as i32));
    t.shape
        .as_ref()
        .unwrap()
        .dim
        .iter()
        .map(|d| match d.value.as_ref().unwrap() {
            Value::DimValue(v) => v.to_string(),
            Value::DimParam(p) => p.clone(),
        })
        .collect()
}

#[test]
fn golden_networks_export_to_a_well_formed_graph() {
    for (name, spec, params) in golden_eval_cases() {
        let model = build_model(&spec, &params, &metadata(&spec)).unwrap();
        assert_eq!(model.opset_import[0].version, Some(OPSET_VERSION));
        assert!(
            model.opset_import[0].version.unwrap() >= 17,
            "the issue requires opset >= 17"
        );
        assert_eq!(model.producer_name.as_deref(), Some("spiketrain"));
        let graph = model.graph.as_ref().unwrap();
        let t = spec.time_steps.to_string();
        let [c, h, w] = spec.input_shape.map(|v| v.to_string());
        let k = spec.num_classes.to_string();
        assert_eq!(graph.input.len(), 1);
        assert_eq!(graph.input[0].name.as_deref(), Some(INPUT_FRAMES));
        assert_eq!(dims(&graph.input[0]), ["batch", &t, &c, &h, &w]);
        let outputs: Vec<_> = graph
            .output
            .iter()
            .map(|o| (o.name.clone().unwrap(), dims(o)))
            .collect();
        assert_eq!(
            outputs[0],
            (
                OUTPUT_PER_STEP.to_string(),
                vec![t.clone(), "batch".into(), k.clone()]
            )
        );
        assert_eq!(
            outputs[1],
            (
                OUTPUT_MEAN.to_string(),
                vec!["batch".to_string(), k.clone()]
            )
        );

        let mut ops: HashMap<&str, usize> = HashMap::new();
        for node in &graph.node {
            *ops.entry(node.op_type.as_deref().unwrap()).or_default() += 1;
        }
        let count = |op: &LayerSpec| spec.layers.iter().filter(|l| *l == op).count();
        let lifs = count(&LayerSpec::Lif);
        let convs = spec
            .layers
            .iter()
            .filter(|l| matches!(l, LayerSpec::Conv { .. }))
            .count();
        assert!(
            lifs > 0 && count(&LayerSpec::Bn) > 0,
            "{name}: golden net should have LIF and BN"
        );
        assert_eq!(ops.get("Conv").copied(), Some(convs), "{name}");
        assert_eq!(
            ops.get("BatchNormalization"),
            None,
            "{name}: BN after conv must be folded"
        );
        assert_eq!(
            ops["GreaterOrEqual"],
            lifs * spec.time_steps,
            "{name}: one threshold compare per step"
        );
        assert_eq!(ops["Cast"], lifs * spec.time_steps, "{name}");
        assert_eq!(
            ops["Where"],
            lifs * (spec.time_steps - 1),
            "{name}: hard reset between steps"
        );
        assert_eq!(ops["Split"], lifs, "{name}");
        assert_eq!(ops["ReduceMean"], 1, "{name}");

        // Every node input is a graph input, an initializer or an earlier node's output.
        let mut defined: HashSet<&str> = graph
            .initializer
            .iter()
            .map(|i| i.name.as_deref().unwrap())
            .collect();
        defined.insert(INPUT_FRAMES);
        for node in &graph.node {
            for input in &node.input {
                assert!(
                    defined.contains(input.as_str()),
                    "{name}: {input} used before definition"
                );
            }
            for output in &node.output {
                assert!(
                    defined.insert(output.as_str()),
                    "{name}: {output} defined twice"
                );
            }
        }
        // Initializers carry exactly dims-many little-endian values.
        for init in &graph.initializer {
            let n: i64 = init.dims.iter().product();
            let width = if init.data_type == Some(DataType::Int64 as i32) {
                8
            } else {
                4
            };
            assert_eq!(
                init.raw_data.as_ref().unwrap().len() as i64,
                n * width,
                "{:?}",
                init.name
            );
        }
    }
}

#[test]
fn metadata_round_trips_through_the_encoded_model() {
    for (_, spec, params) in golden_eval_cases() {
        let meta = metadata(&spec);
        let bytes = encode_model(&build_model(&spec, &params, &meta).unwrap());
        let decoded = decode_model(&bytes).unwrap();
        assert_eq!(read_metadata(&decoded).unwrap(), meta);
        let keys: Vec<_> = decoded
            .metadata_props
            .iter()
            .map(|p| p.key.clone().unwrap())
            .collect();
        for key in [
            "classes",
            "time_steps",
            "height",
            "width",
            "integration_params",
            "params_hash",
            "value_transform",
            "config_hash",
        ] {
            assert!(keys.iter().any(|k| k == key), "missing metadata key {key}");
        }
    }
    assert!(matches!(
        decode_model(b"\xff\xff not protobuf"),
        Err(ExportError::Decode(_))
    ));
}

#[test]
fn inconsistent_checkpoints_are_rejected_with_the_tensor_named() {
    let (_, spec, params) = golden_eval_cases().remove(0);
    let conv_index = spec
        .layers
        .iter()
        .position(|l| matches!(l, LayerSpec::Conv { .. }))
        .unwrap();
    let key = format!("param.{conv_index}.weight");

    let mut missing = params.clone();
    missing.remove(&key);
    let err = build_model(&spec, &missing, &metadata(&spec)).unwrap_err();
    assert!(err.to_string().contains(&key), "{err}");

    let mut reshaped = params.clone();
    let t = reshaped.get_mut(&key).unwrap();
    t.shape = vec![t.data.len()];
    let err = build_model(&spec, &reshaped, &metadata(&spec)).unwrap_err();
    assert!(
        err.to_string().contains(&key) && err.to_string().contains("shape"),
        "{err}"
    );

    let mut meta = metadata(&spec);
    meta.classes.pop();
    let err = build_model(&spec, &params, &meta).unwrap_err();
    assert!(err.to_string().contains("class names"), "{err}");

    let mut meta = metadata(&spec);
    meta.time_steps += 1;
    assert!(build_model(&spec, &params, &meta).is_err());
}

#[test]
fn export_subcommand_writes_the_checkpoint_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, golden_spec, _) = golden_eval_cases().remove(0);
    let mut spec = golden_spec.clone();
    spec.neuron.train_decay = true;
    spec.neuron.train_thresh = true;
    let network = Network::new(spec.clone(), DType::F32, &Device::Cpu, 3).unwrap();
    let train = TrainConfig::default();
    let config = CheckpointConfig {
        format: CheckpointConfig::FORMAT,
        net: spec.clone(),
        classes: (0..spec.num_classes)
            .map(|k| format!("class-{k}"))
            .collect(),
        time_steps: spec.time_steps,
        height: spec.input_shape[1],
        width: spec.input_shape[2],
        transform: ValueTransform::MaxNorm,
        dataset_params: serde_json::json!({"frames": spec.time_steps}),
        dataset_params_hash: "dataset-hash".into(),
        train_hash: train.hash(),
        train,
        epoch: 0,
        test_accuracy: 0.0,
    };
    let ckpt = tmp.path().join("best");
    asgl_train::checkpoint::save(&ckpt, &network, &config, None).unwrap();

    let out = tmp.path().join("exported.onnx");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_asgl-train"))
        .arg("export")
        .arg("--checkpoint")
        .arg(&ckpt)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let model = decode_model(&std::fs::read(&out).unwrap()).unwrap();
    let meta = read_metadata(&model).unwrap();
    assert_eq!(meta.classes, config.classes);
    assert_eq!(meta.params_hash, "dataset-hash");
    assert_eq!(meta.config_hash, config.train_hash);
    assert_eq!(
        meta.value_transform,
        serde_json::to_value(ValueTransform::MaxNorm).unwrap()
    );
    assert_eq!(meta.network, spec);
    // Learnable decay/thresh tensors become the LIF constants: sigmoid(d) and max(θ, 0).
    let graph = model.graph.unwrap();
    let lif = spec
        .layers
        .iter()
        .position(|l| *l == LayerSpec::Lif)
        .unwrap();
    let params = read_safetensors(&ckpt.join("model.safetensors")).unwrap();
    let d = params[&format!("param.{lif}.decay")].data[0];
    let decay_init = graph
        .initializer
        .iter()
        .find(|i| {
            i.name
                .as_deref()
                .unwrap()
                .starts_with(&format!("lif{lif}_decay"))
        })
        .unwrap();
    let stored = f32::from_le_bytes(
        decay_init.raw_data.as_ref().unwrap()[..4]
            .try_into()
            .unwrap(),
    );
    assert!(
        (stored - 1.0 / (1.0 + (-d).exp())).abs() < 1e-7,
        "decay {stored} from logit {d}"
    );

    // A folder without config.json is refused with the path named.
    std::fs::remove_file(ckpt.join("config.json")).unwrap();
    let failed = std::process::Command::new(env!("CARGO_BIN_EXE_asgl-train"))
        .args(["export", "--checkpoint"])
        .arg(&ckpt)
        .output()
        .unwrap();
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("config.json"));
}
