//! ONNX export (the library behind `asgl-train export`): checkpoint → `model.onnx` (opset 17)
//! holding the eval-mode inference network, with the data contract (classes, T, H, W, integration
//! parameters and hash, value transform, config hash) in `metadata_props`.
//!
//! The protobuf is written with prost types generated at build time from the vendored
//! `train/proto/onnx.proto` (see [`proto`]); the graph layout is described in [`lower`].

pub mod graph;
pub mod lower;
pub mod metadata;
pub mod params;
pub mod proto;

use std::path::{Path, PathBuf};

use prost::Message;

pub use lower::{lower_network, LowerOptions, INPUT_FRAMES, OUTPUT_MEAN, OUTPUT_PER_STEP};
pub use metadata::{ModelMetadata, METADATA_FORMAT, PRODUCER_NAME};
pub use params::{read_safetensors, ParamMap, ParamTensor};

use crate::network::spec::NetSpec;

/// The ONNX operator set the exporter targets.
pub const OPSET_VERSION: i64 = 17;
/// The ONNX IR version that goes with opset 17.
pub const IR_VERSION: i64 = 8;

/// Errors of the exporter; each names the file or tensor concerned.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a valid safetensors file: {reason}")]
    Safetensors { path: PathBuf, reason: String },
    /// The checkpoint's `config.json` could not be read (the error names the file).
    #[error(transparent)]
    Checkpoint(Box<crate::TrainError>),
    #[error("checkpoint has no tensor `{0}` required by the network spec")]
    MissingTensor(String),
    #[error("cannot export: {0}")]
    Invalid(String),
    #[error("model metadata: {0}")]
    Metadata(String),
    #[error("not a valid ONNX model: {0}")]
    Decode(String),
}

/// Builds the complete ONNX model (graph + opset + metadata) for a network and its parameters.
pub fn build_model(
    spec: &NetSpec,
    params: &ParamMap,
    metadata: &ModelMetadata,
) -> Result<proto::ModelProto, ExportError> {
    if metadata.time_steps != spec.time_steps
        || [metadata.channels, metadata.height, metadata.width] != spec.input_shape
    {
        return Err(ExportError::Invalid(format!(
            "metadata (T={}, {}x{}x{}) disagrees with the network spec (T={}, {:?})",
            metadata.time_steps,
            metadata.channels,
            metadata.height,
            metadata.width,
            spec.time_steps,
            spec.input_shape
        )));
    }
    let lowered = lower_network(
        spec,
        params,
        &LowerOptions {
            time_steps: spec.time_steps,
            input_shape: spec.input_shape,
        },
    )?;
    if lowered.num_classes != metadata.classes.len() {
        return Err(ExportError::Invalid(format!(
            "the network produces {} logits but {} class names are given",
            lowered.num_classes,
            metadata.classes.len()
        )));
    }
    let metadata_props = metadata
        .to_props()?
        .into_iter()
        .map(|(key, value)| proto::StringStringEntryProto {
            key: Some(key),
            value: Some(value),
        })
        .collect();
    Ok(proto::ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![proto::OperatorSetIdProto { domain: Some(String::new()), version: Some(OPSET_VERSION) }],
        producer_name: Some(PRODUCER_NAME.to_string()),
        producer_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        domain: Some("org.spiketrain".to_string()),
        model_version: Some(1),
        doc_string: Some(format!(
            "Spiking network exported by spiketrain: input `{INPUT_FRAMES}` [batch, T={}, {}, {}, {}], outputs \
             `{OUTPUT_PER_STEP}` [T, batch, K={}] and `{OUTPUT_MEAN}` [batch, K] (mean over T). Eval semantics: \
             Heaviside spikes, BatchNorm running statistics (folded into the convolutions).",
            spec.time_steps, spec.input_shape[0], spec.input_shape[1], spec.input_shape[2], lowered.num_classes
        )),
        graph: Some(lowered.graph),
        metadata_props,
        ..Default::default()
    })
}

/// Serializes a model to protobuf bytes.
pub fn encode_model(model: &proto::ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

/// Parses protobuf bytes back into a model (used by tests and for reading metadata without ort).
pub fn decode_model(bytes: &[u8]) -> Result<proto::ModelProto, ExportError> {
    proto::ModelProto::decode(bytes).map_err(|e| ExportError::Decode(e.to_string()))
}

/// Reads the spiketrain metadata of an encoded model.
pub fn read_metadata(model: &proto::ModelProto) -> Result<ModelMetadata, ExportError> {
    ModelMetadata::from_props(|key| {
        model
            .metadata_props
            .iter()
            .find(|p| p.key.as_deref() == Some(key))
            .and_then(|p| p.value.clone())
    })
}

/// Builds, encodes and atomically writes a model; returns the number of bytes written.
pub fn export_to_file(
    spec: &NetSpec,
    params: &ParamMap,
    metadata: &ModelMetadata,
    out: &Path,
) -> Result<usize, ExportError> {
    let bytes = encode_model(&build_model(spec, params, metadata)?);
    dvs_frames::fsutil::atomic_write(out, &bytes).map_err(|source| ExportError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    Ok(bytes.len())
}

/// What [`export_checkpoint`] wrote.
#[derive(Debug, Clone)]
pub struct ExportSummary {
    pub output: PathBuf,
    pub bytes: usize,
    pub metadata: ModelMetadata,
}

/// The metadata of a checkpoint's `config.json`.
pub fn checkpoint_metadata(
    config: &crate::checkpoint::CheckpointConfig,
) -> Result<ModelMetadata, ExportError> {
    Ok(ModelMetadata {
        classes: config.classes.clone(),
        time_steps: config.time_steps,
        channels: config.net.input_shape[0],
        height: config.height,
        width: config.width,
        integration_params: config.dataset_params.clone(),
        params_hash: config.dataset_params_hash.clone(),
        value_transform: serde_json::to_value(config.transform)
            .map_err(|e| ExportError::Metadata(e.to_string()))?,
        config_hash: config.train_hash.clone(),
        network: config.net.clone(),
    })
}

/// Exports a checkpoint folder (`config.json` + `model.safetensors`) to an ONNX file.
pub fn export_checkpoint(checkpoint: &Path, output: &Path) -> Result<ExportSummary, ExportError> {
    let config = crate::checkpoint::CheckpointConfig::read(checkpoint)
        .map_err(|e| ExportError::Checkpoint(Box::new(e)))?;
    let metadata = checkpoint_metadata(&config)?;
    let params = read_safetensors(&checkpoint.join("model.safetensors"))?;
    let bytes = export_to_file(&config.net, &params, &metadata, output)?;
    Ok(ExportSummary {
        output: output.to_path_buf(),
        bytes,
        metadata,
    })
}
