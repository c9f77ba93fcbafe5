//! The `metadata_props` an exported model carries, so that `asgl-eval` can check that a prepared
//! dataset matches what the network was trained on (classes, T, H, W, frame integration parameters
//! and their hash, input value transform) and can trace the model back to its training config.

use serde::{Deserialize, Serialize};

use super::ExportError;
use crate::network::spec::NetSpec;

/// Keys of the ONNX `metadata_props` written by the exporter.
pub mod keys {
    pub const FORMAT: &str = "spiketrain.format";
    pub const CLASSES: &str = "classes";
    pub const TIME_STEPS: &str = "time_steps";
    pub const CHANNELS: &str = "channels";
    pub const HEIGHT: &str = "height";
    pub const WIDTH: &str = "width";
    pub const INTEGRATION: &str = "integration_params";
    pub const PARAMS_HASH: &str = "params_hash";
    pub const VALUE_TRANSFORM: &str = "value_transform";
    pub const CONFIG_HASH: &str = "config_hash";
    pub const NETWORK: &str = "network";
}

/// Version tag of the metadata layout (bump when keys change meaning).
pub const METADATA_FORMAT: &str = "spiketrain-onnx/1";
/// The model's `producer_name`.
pub const PRODUCER_NAME: &str = "spiketrain";

/// Everything about the data a model expects, plus its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetadata {
    pub classes: Vec<String>,
    pub time_steps: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// The dataset's frame integration parameters (as recorded in dataset.json), verbatim JSON.
    pub integration_params: serde_json::Value,
    /// The dataset's hash of those parameters.
    pub params_hash: String,
    /// The loader's input value transform the network was trained with, verbatim JSON.
    pub value_transform: serde_json::Value,
    /// Hash of the training configuration.
    pub config_hash: String,
    /// The network spec (for reference; the graph is self-contained).
    pub network: NetSpec,
}

impl ModelMetadata {
    /// Key/value pairs in a stable order.
    pub fn to_props(&self) -> Result<Vec<(String, String)>, ExportError> {
        Ok(vec![
            (keys::FORMAT.into(), METADATA_FORMAT.into()),
            (keys::CLASSES.into(), json(&self.classes)?),
            (keys::TIME_STEPS.into(), self.time_steps.to_string()),
            (keys::CHANNELS.into(), self.channels.to_string()),
            (keys::HEIGHT.into(), self.height.to_string()),
            (keys::WIDTH.into(), self.width.to_string()),
            (keys::INTEGRATION.into(), json(&self.integration_params)?),
            (keys::PARAMS_HASH.into(), self.params_hash.clone()),
            (keys::VALUE_TRANSFORM.into(), json(&self.value_transform)?),
            (keys::CONFIG_HASH.into(), self.config_hash.clone()),
            (keys::NETWORK.into(), json(&self.network)?),
        ])
    }

    /// Parses the properties back; `get` looks a key up (e.g. in ort's model metadata).
    pub fn from_props(get: impl Fn(&str) -> Option<String>) -> Result<Self, ExportError> {
        let need = |key: &str| {
            get(key).ok_or_else(|| {
                ExportError::Metadata(format!(
                    "model metadata has no '{key}' property (was the model exported by `asgl-train export`?)"
                ))
            })
        };
        let format = need(keys::FORMAT)?;
        if format != METADATA_FORMAT {
            return Err(ExportError::Metadata(format!(
                "model metadata format '{format}' is not the supported '{METADATA_FORMAT}'"
            )));
        }
        let number = |key: &str| -> Result<usize, ExportError> {
            let text = need(key)?;
            text.parse().map_err(|_| {
                ExportError::Metadata(format!("model metadata '{key}' = '{text}' is not a number"))
            })
        };
        fn parse<T: serde::de::DeserializeOwned>(key: &str, text: &str) -> Result<T, ExportError> {
            serde_json::from_str(text).map_err(|e| {
                ExportError::Metadata(format!("model metadata '{key}' is not valid JSON: {e}"))
            })
        }
        Ok(Self {
            classes: parse(keys::CLASSES, &need(keys::CLASSES)?)?,
            time_steps: number(keys::TIME_STEPS)?,
            channels: number(keys::CHANNELS)?,
            height: number(keys::HEIGHT)?,
            width: number(keys::WIDTH)?,
            integration_params: parse(keys::INTEGRATION, &need(keys::INTEGRATION)?)?,
            params_hash: need(keys::PARAMS_HASH)?,
            value_transform: parse(keys::VALUE_TRANSFORM, &need(keys::VALUE_TRANSFORM)?)?,
            config_hash: need(keys::CONFIG_HASH)?,
            network: parse(keys::NETWORK, &need(keys::NETWORK)?)?,
        })
    }
}

/// Serializes one property value as compact JSON.
fn json<T: Serialize + ?Sized>(value: &T) -> Result<String, ExportError> {
    serde_json::to_string(value).map_err(|e| ExportError::Metadata(e.to_string()))
}
