//! The exporter's view of a network's parameter tensors (Contract 3 names `param.<i>.<name>`,
//! float32), read straight from a safetensors file so that export does not need candle.

use std::collections::HashMap;
use std::path::Path;

use super::ExportError;

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
