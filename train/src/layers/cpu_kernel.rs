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
    fn sqrt_(self) -> Self;
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
            fn sqrt_(self) -> Self {
                self.sqrt()
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

/// A kernel's output, allocated without initialising it and filled piece by piece by the
/// kernel's parallel tasks: each writes every element of its pieces exactly once
/// ([`Uninit::write`], or `MaybeUninit::new` stores in a loop that covers the piece), and zeroes
/// first only the pieces it does not overwrite completely. Why: `vec![0; n]`
/// zero-fills the whole output on the calling thread before the tasks start — at two cores a
/// serial memset of every activation and gradient, 6 % of a small net's training time — and even
/// a zero-fill inside the tasks is one more pass over every output (4–5 % of the small net's
/// step, measured by skipping it).
pub(crate) struct Uninit<F> {
    buf: Vec<std::mem::MaybeUninit<F>>,
}

impl<F: WithDType> Uninit<F> {
    /// `len` uninitialised elements.
    pub fn new(len: usize) -> Self {
        let mut buf = Vec::with_capacity(len);
        // SAFETY: the capacity is `len`, and MaybeUninit elements need no initialisation.
        unsafe { buf.set_len(len) };
        Uninit { buf }
    }

    /// The elements, to be split into the tasks' pieces.
    pub fn pieces(&mut self) -> &mut [std::mem::MaybeUninit<F>] {
        &mut self.buf
    }

    /// Writes `values` into `piece`, one per element, and returns it as initialised elements.
    ///
    /// # Panics
    /// If `values` does not yield exactly `piece.len()` elements: a kernel bug (the lengths come
    /// from checked shapes, never from input bytes).
    pub fn write<I>(piece: &mut [std::mem::MaybeUninit<F>], values: I) -> &mut [F]
    where
        I: IntoIterator<Item = F>,
        I::IntoIter: ExactSizeIterator,
    {
        let values = values.into_iter();
        assert_eq!(values.len(), piece.len(), "CPU kernel: output piece length");
        for (slot, v) in piece.iter_mut().zip(values) {
            *slot = std::mem::MaybeUninit::new(v);
        }
        // SAFETY: the iterator yielded exactly piece.len() values (checked above) and the loop
        // wrote one into every element; MaybeUninit<F> has F's layout.
        unsafe { &mut *(piece as *mut [std::mem::MaybeUninit<F>] as *mut [F]) }
    }

    /// The filled output.
    ///
    /// # Safety
    /// Every element must have been initialised: each piece of a split of [`Uninit::pieces`]
    /// that covers all of it passed through [`Uninit::write`], or every element stored by the
    /// kernel's loops.
    pub unsafe fn assume_init(self) -> Vec<F> {
        let mut buf = std::mem::ManuallyDrop::new(self.buf);
        let (ptr, len, cap) = (buf.as_mut_ptr(), buf.len(), buf.capacity());
        // SAFETY: same allocation, MaybeUninit<F> has F's layout, and the caller guarantees
        // every element is initialised.
        unsafe { Vec::from_raw_parts(ptr.cast::<F>(), len, cap) }
    }
}
