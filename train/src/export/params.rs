//! The exporter's view of a network's parameter tensors (Contract 3 names `param.<i>.<name>`,
//! float32), read straight from a safetensors file so that export does not need candle, and found
//! per layer through the same prefix the network builder gives each layer ([`LayerParams`]).

use std::collections::HashMap;
use std::path::Path;

use super::ExportError;
use crate::network::vars::{full_name, layer_prefix};

/// A dense float32 tensor read from a safetensors file.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl ParamTensor {
    /// Builds a tensor, checking that the shape matches the data length.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Self, ExportError> {
        let expected = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        if expected != Some(data.len()) {
            return Err(ExportError::Invalid(format!(
                "tensor shape {shape:?} does not match its {} values",
                data.len()
            )));
        }
        Ok(Self { shape, data })
    }
}

/// Named parameter tensors (`param.<i>.<name>` → tensor).
pub type ParamMap = HashMap<String, ParamTensor>;

/// The tensors of one layer: the view of a [`ParamMap`] under the layer's prefix `param.<i>`
/// (the prefix [`crate::network::vars::VarStore`] gives it when the network is built).
pub struct LayerParams<'a> {
    map: &'a ParamMap,
    prefix: String,
}

impl<'a> LayerParams<'a> {
    /// The tensors of layer `layer` (its position in the spec's layer list).
    pub fn of(map: &'a ParamMap, layer: usize) -> Self {
        LayerParams {
            map,
            prefix: layer_prefix(layer),
        }
    }

    /// The tensors of a sub-module of layer `layer` (prefix `param.<i>.<sub>`, e.g. the BN of a
    /// residual add's projection).
    pub fn of_prefix(map: &'a ParamMap, layer: usize, sub: &str) -> Self {
        LayerParams {
            map,
            prefix: full_name(&layer_prefix(layer), sub),
        }
    }

    /// The full tensor name of `name` in this layer.
    pub fn name(&self, name: &str) -> String {
        full_name(&self.prefix, name)
    }

    /// The tensor `name`, if the checkpoint has it.
    pub fn get(&self, name: &str) -> Option<&'a ParamTensor> {
        self.map.get(&self.name(name))
    }

    /// The tensor `name`, which the network spec requires.
    pub fn require(&self, name: &str) -> Result<&'a ParamTensor, ExportError> {
        self.get(name)
            .ok_or_else(|| ExportError::MissingTensor(self.name(name)))
    }

    /// The tensor `name` with exactly `shape`.
    pub fn require_shaped(
        &self,
        name: &str,
        shape: &[usize],
    ) -> Result<&'a ParamTensor, ExportError> {
        let tensor = self.require(name)?;
        self.expect_shape(tensor, name, shape)?;
        Ok(tensor)
    }

    /// Checks that `tensor` (this layer's `name`) has `shape`.
    pub fn expect_shape(
        &self,
        tensor: &ParamTensor,
        name: &str,
        shape: &[usize],
    ) -> Result<(), ExportError> {
        if tensor.shape != shape {
            return Err(ExportError::Invalid(format!(
                "{} has shape {:?}, the network spec implies {shape:?}",
                self.name(name),
                tensor.shape
            )));
        }
        Ok(())
    }
}

/// Reads every float32 tensor of a safetensors file (other dtypes, e.g. int64 labels, are skipped).
pub fn read_safetensors(path: &Path) -> Result<ParamMap, ExportError> {
    let bytes = std::fs::read(path).map_err(|source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let tensors =
        safetensors::SafeTensors::deserialize(&bytes).map_err(|e| ExportError::Safetensors {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    let mut map = ParamMap::new();
    for (name, view) in tensors.tensors() {
        if view.dtype() != safetensors::Dtype::F32 {
            continue;
        }
        let data: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let tensor = ParamTensor::new(view.shape().to_vec(), data).map_err(|e| {
            ExportError::Safetensors {
                path: path.to_path_buf(),
                reason: format!("tensor {name}: {e}"),
            }
        })?;
        map.insert(name, tensor);
    }
    Ok(map)
}
