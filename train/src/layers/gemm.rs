//! Single-threaded matrix products on slices for the CPU kernels, through the `gemm` crate
//! candle itself uses. Why not `Tensor::matmul`: the kernels run one product per chunk of samples
//! inside their own rayon tasks, and candle's matmul would allocate a fresh output tensor and
//! parallelise each (small) product again on the same cores. The shapes and strides are checked
//! against the slice lengths here, so the unsafe call can neither read nor write out of bounds.
use candle_core::WithDType;
use gemm::Parallelism;

/// A strided read-only matrix view: element (r, c) is `data[r·rs + c·cs]`.
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a, F> {
    data: &'a [F],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a, F> MatRef<'a, F> {
    /// A view of `rows × cols` elements with row stride `rs` and column stride `cs`; an error if
    /// its last element lies outside `data`.
    pub fn new(
        data: &'a [F],
        (rows, cols): (usize, usize),
        (rs, cs): (usize, usize),
    ) -> candle_core::Result<Self> {
        if rows > 0 && cols > 0 {
            let last = (rows - 1)
                .checked_mul(rs)
                .and_then(|a| (cols - 1).checked_mul(cs).and_then(|b| a.checked_add(b)));
            match last {
                Some(last) if last < data.len() => {}
                _ => candle_core::bail!(
                    "gemm: a {rows}x{cols} view with strides ({rs}, {cs}) does not fit {} elements",
                    data.len()
                ),
            }
        }
        Ok(MatRef {
            data,
            rows,
            cols,
            rs,
            cs,
        })
    }

    /// A row-major contiguous `rows × cols` matrix.
    pub fn row_major(data: &'a [F], rows: usize, cols: usize) -> candle_core::Result<Self> {
        Self::new(data, (rows, cols), (cols, 1))
    }

    /// The transposed view (no copy).
    pub fn t(self) -> Self {
        MatRef {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }
}

/// `dst = a · b` (or `dst += a · b` when `accumulate`), with `dst` a row-major contiguous
/// `a.rows × b.cols` matrix; runs on the calling thread.
pub(crate) fn gemm_into<F: WithDType>(
    dst: &mut [F],
    a: MatRef<'_, F>,
    b: MatRef<'_, F>,
    accumulate: bool,
) -> candle_core::Result<()> {
    // SAFETY: dst is initialised, so reading it (when accumulating) is sound.
    unsafe { gemm_ptr(dst.as_mut_ptr(), dst.len(), a, b, accumulate, false) }
}

/// `dstᵀ = (a · b)ᵀ` (or `+=` when `accumulate`): the product stored column-major, i.e. `dst`
/// is the row-major `b.cols × a.rows` transpose. Why: the gemm crate packs the left operand of
/// its column-major product unless that operand is column-major itself; with a row-major
/// destination it swaps the operands, so the conv kernel gradient (a thin dL/dy times a wide
/// column matrix) packed the whole column matrix, twice the time of its multiply. Stored
/// transposed, only the thin operand is packed.
pub(crate) fn gemm_into_t<F: WithDType>(
    dst: &mut [F],
    a: MatRef<'_, F>,
    b: MatRef<'_, F>,
    accumulate: bool,
) -> candle_core::Result<()> {
    // SAFETY: dst is initialised, so reading it (when accumulating) is sound.
    unsafe { gemm_ptr(dst.as_mut_ptr(), dst.len(), a, b, accumulate, true) }
}

/// `dst = a · b` into an uninitialised row-major `a.rows × b.cols` matrix (a kernel's output
/// piece, see [`crate::layers::cpu_kernel::Uninit`]), returned initialised: the product
/// overwrites every element without reading it first.
pub(crate) fn gemm_write<'d, F: WithDType>(
    dst: &'d mut [std::mem::MaybeUninit<F>],
    a: MatRef<'_, F>,
    b: MatRef<'_, F>,
) -> candle_core::Result<&'d mut [F]> {
    // SAFETY: without `accumulate` neither gemm_ptr nor the gemm crate reads dst (the crate
    // sets α = 0 when read_dst is false and stores the first depth block without loading).
    unsafe { gemm_ptr(dst.as_mut_ptr().cast::<F>(), dst.len(), a, b, false, false)? };
    // SAFETY: gemm_ptr returned Ok, so it wrote all dst.len() = m × n elements;
    // MaybeUninit<F> has F's layout.
    Ok(unsafe { &mut *(dst as *mut [std::mem::MaybeUninit<F>] as *mut [F]) })
}

/// The product behind [`gemm_into`], [`gemm_into_t`] and [`gemm_write`]: `dst` holds the
/// `m × n` product row-major, or column-major when `col_major`; on Ok every one of its `len`
/// elements has been written.
///
/// # Safety
/// `dst` must be valid for writes of `len` elements, not overlap `a` or `b`, and be initialised
/// when `accumulate` is set.
unsafe fn gemm_ptr<F: WithDType>(
    dst: *mut F,
    len: usize,
    a: MatRef<'_, F>,
    b: MatRef<'_, F>,
    accumulate: bool,
    col_major: bool,
) -> candle_core::Result<()> {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if b.rows != k || len != m * n {
        candle_core::bail!("gemm: [{m}, {k}] · [{}, {n}] into {len} elements", b.rows);
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        if !accumulate {
            for i in 0..len {
                // SAFETY: i < len, and dst is valid for len writes (the caller's contract).
                unsafe { dst.add(i).write(F::zero()) };
            }
        }
        return Ok(());
    }
    let stride = |s: usize| -> candle_core::Result<isize> {
        isize::try_from(s).map_err(|_| candle_core::Error::Msg("gemm: stride overflow".into()))
    };
    let (a_rs, a_cs, b_rs, b_cs) = (stride(a.rs)?, stride(a.cs)?, stride(b.rs)?, stride(b.cs)?);
    let (d_rs, d_cs) = if col_major {
        (1, stride(m)?)
    } else {
        (stride(n)?, 1)
    };
    // SAFETY: every view was checked to lie inside its slice (MatRef::new), dst holds exactly
    // m × n elements (row stride n, or column stride m) and does not overlap the views (the
    // caller's contract), it is read only when `accumulate` (and then initialised), and
    // Parallelism::None keeps the call on this thread.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            d_cs,
            d_rs,
            accumulate,
            a.data.as_ptr(),
            a_cs,
            a_rs,
            b.data.as_ptr(),
            b_cs,
            b_rs,
            F::one(),
            F::one(),
            false,
            false,
            false,
            Parallelism::None,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum();
            }
        }
        out
    }

    #[test]
    fn products_match_the_naive_loop_with_transposes_and_accumulation() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.91).cos()).collect();
        let want = naive(&a, &b, m, k, n);
        let mut got = vec![0.0; m * n];
        gemm_into(
            &mut got,
            MatRef::row_major(&a, m, k).unwrap(),
            MatRef::row_major(&b, k, n).unwrap(),
            false,
        )
        .unwrap();
        for (x, y) in got.iter().zip(&want) {
            assert!((x - y).abs() < 1e-12);
        }
        // bᵀ stored as [n, k], used through a transposed view; accumulate onto the first result.
        let bt: Vec<f64> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        gemm_into(
            &mut got,
            MatRef::row_major(&a, m, k).unwrap(),
            MatRef::row_major(&bt, n, k).unwrap().t(),
            true,
        )
        .unwrap();
        for (x, y) in got.iter().zip(&want) {
            assert!((x - 2.0 * y).abs() < 1e-12);
        }
    }

    #[test]
    fn writing_into_uninitialised_memory_equals_the_product() {
        let (m, k, n) = (6, 9, 17);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.91).cos()).collect();
        let (a, b) = (
            MatRef::row_major(&a, m, k).unwrap(),
            MatRef::row_major(&b, k, n).unwrap(),
        );
        let mut want = vec![f32::NAN; m * n];
        gemm_into(&mut want, a, b, false).unwrap();
        let mut buf = vec![std::mem::MaybeUninit::<f32>::uninit(); m * n];
        let got = gemm_write(&mut buf, a, b).unwrap();
        assert_eq!(got, &want[..]);
        let mut short = vec![std::mem::MaybeUninit::<f32>::uninit(); m * n - 1];
        assert!(gemm_write(&mut short, a, b).is_err());
    }

    #[test]
    fn the_transposed_product_is_the_transpose() {
        let (m, k, n) = (5, 33, 7);
        let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.91).cos()).collect();
        let want = naive(&a, &b, m, k, n);
        let mut got_t = vec![1.0; m * n];
        let (a, b) = (
            MatRef::row_major(&a, m, k).unwrap(),
            MatRef::row_major(&b, k, n).unwrap(),
        );
        gemm_into_t(&mut got_t, a, b, true).unwrap();
        for i in 0..m {
            for j in 0..n {
                assert!((got_t[j * m + i] - 1.0 - want[i * n + j]).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn views_outside_their_slice_are_refused() {
        let a = vec![0f32; 10];
        assert!(MatRef::new(&a, (3, 4), (4, 1)).is_err());
        assert!(MatRef::new(&a, (2, 5), (5, 1)).is_ok());
        let mut dst = vec![0f32; 3];
        let v = MatRef::row_major(&a, 2, 5).unwrap();
        assert!(gemm_into(&mut dst, v, v.t(), false).is_err());
    }
}
