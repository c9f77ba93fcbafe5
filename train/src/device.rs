//! Device selection, the only place with device-specific code besides the CPU kernels:
//! [`DeviceSpec`] `cpu` (default) or `cuda:N` (needs the crate's `cuda` feature, which enables
//! candle's CUDA backend).
use std::fmt;
use std::str::FromStr;

use candle_core::Device;
use dvs_frames::settings::serde_via_str;

use crate::error::{Result, TrainError};

/// Where the network runs (`--device`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceSpec {
    /// `cpu`
    Cpu,
    /// `cuda:N`
    Cuda(usize),
}

impl DeviceSpec {
    /// The candle device (a CUDA device needs a binary built with `--features cuda`).
    pub fn open(self) -> Result<Device> {
        match self {
            DeviceSpec::Cpu => Ok(Device::Cpu),
            DeviceSpec::Cuda(idx) => cuda_device(idx),
        }
    }
}

impl FromStr for DeviceSpec {
    type Err = String;
    fn from_str(name: &str) -> std::result::Result<Self, String> {
        if name == "cpu" {
            return Ok(DeviceSpec::Cpu);
        }
        match name.strip_prefix("cuda:") {
            Some(idx) => idx
                .parse()
                .map(DeviceSpec::Cuda)
                .map_err(|_| format!("bad device `{name}` (cpu or cuda:N)")),
            None => Err(format!("unknown device `{name}` (cpu or cuda:N)")),
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(idx) => write!(f, "cuda:{idx}"),
        }
    }
}

serde_via_str!(DeviceSpec);

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
