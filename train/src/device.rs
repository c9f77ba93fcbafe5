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

/// Runs `f` on a worker of the one CPU compute pool: every kernel's parallel loop, the GEMMs and
/// candle's rayon work then share one set of threads, sized to the cores (`RAYON_NUM_THREADS`
/// overrides, as for candle), and the calling thread is one of them.
///
/// Why: the training loop used to run on the main thread while rayon's global pool had a worker
/// per core, so the serial work between kernels (mask draws, candle's element-wise ops) ran on a
/// third thread beside two busy workers: on 2 cores the issue measured 100 % + 2 × 60–67 %. The
/// pool is built once per process and reused by later calls.
pub fn in_compute_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    let pool = POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(candle_core::utils::get_num_threads())
            .thread_name(|i| format!("asgl-compute-{i}"))
            .build()
            .map_err(|e| tracing::warn!("no compute pool ({e}); using rayon's global pool"))
            .ok()
    });
    match pool {
        // Already on one of its workers (a nested call): stay.
        Some(pool) if pool.current_thread_index().is_none() => pool.install(f),
        _ => f(),
    }
}
