//! Device selection, the only place with device-specific code: `cpu` (default) or `cuda:N`
//! (needs the crate's `cuda` feature, which enables candle's CUDA backend).
use candle_core::Device;

use crate::error::{Result, TrainError};

/// Parses `cpu` or `cuda:N` into a candle device.
pub fn parse_device(name: &str) -> Result<Device> {
    if name == "cpu" {
        return Ok(Device::Cpu);
    }
    if let Some(idx) = name.strip_prefix("cuda:") {
        let idx: usize = idx
            .parse()
            .map_err(|_| TrainError::Config(format!("bad device `{name}` (cpu or cuda:N)")))?;
        return cuda_device(idx);
    }
    Err(TrainError::Config(format!(
        "unknown device `{name}` (cpu or cuda:N)"
    )))
}

#[cfg(feature = "cuda")]
fn cuda_device(idx: usize) -> Result<Device> {
    Ok(Device::new_cuda(idx)?)
}

#[cfg(not(feature = "cuda"))]
fn cuda_device(_idx: usize) -> Result<Device> {
    Err(TrainError::Config(
        "this binary was built without CUDA; rebuild with `--features cuda`".into(),
    ))
}
