//! What the hand-written CPU kernels (`fused_lif`, `fused_bn`, `conv`) share: the float element
//! trait they are generic over, and access to candle tensors and storages as plain contiguous
//! slices.
use candle_core::{CpuStorage, Layout, Storage, Tensor, WithDType};

/// Float element types the kernel runs on (f32, f64), with the exact operations candle uses.
pub(crate) trait Real:
    Copy
    + Send
    + Sync
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
    + candle_core::WithDType
{
    const ZERO: Self;
    const ONE: Self;
    const HALF: Self;
    fn exp_(self) -> Self;
    fn to_f64_(self) -> f64;
    fn storage(v: Vec<Self>) -> CpuStorage;
}

macro_rules! impl_real {
    ($t:ty, $variant:ident) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const HALF: Self = 0.5;
            fn exp_(self) -> Self {
                self.exp()
            }
            fn to_f64_(self) -> f64 {
                f64::from(self)
            }
            fn storage(v: Vec<Self>) -> CpuStorage {
                CpuStorage::$variant(v)
            }
        }
    };
}
impl_real!(f32, F32);
impl_real!(f64, F64);

/// The contiguous slice of a CPU storage.
pub(crate) fn storage_slice<'a, F: WithDType>(
    s: &'a CpuStorage,
    l: &Layout,
) -> candle_core::Result<&'a [F]> {
    let (a, b) = l
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("CPU kernel: non-contiguous input".into()))?;
    Ok(&F::cpu_storage_as_slice(s)?[a..b])
}

/// Runs `f` on the contiguous CPU slice of tensor `t` (element type F).
pub(crate) fn with_tensor_slice<F: WithDType, R>(
    t: &Tensor,
    f: impl FnOnce(&[F]) -> candle_core::Result<R>,
) -> candle_core::Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => f(storage_slice::<F>(cpu, layout)?),
        _ => candle_core::bail!("CPU kernel: only the CPU backend is supported"),
    }
}
