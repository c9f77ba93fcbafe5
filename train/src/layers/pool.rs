//! k×k average pooling with stride k (the VGG nets' `P` layers) as one CPU custom op.
//!
//! Why not candle's `avg_pool2d`: its CPU forward runs on one thread, and its backward is two
//! more full-size ops (`upsample_nearest2d`, then a scale), each of whose results candle's
//! backprop zero-fills and adds once more. Here both directions are one parallel pass over the
//! planes. The values are candle's: the forward sums the window in order and multiplies by
//! 1/k², the backward gives every input of a window g·(1/k²); inputs past the last whole window
//! (an odd size) get 0, the exact gradient (candle's nearest upsampling spreads them a value).
//! Other devices use `avg_pool2d`.
use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor, WithDType};
use rayon::prelude::*;

use crate::layers::cpu_kernel::{storage_slice, with_tensor_slice, Uninit};

/// Average pooling over k×k windows with stride k: [N, C, H, W] → [N, C, ⌊H/k⌋, ⌊W/k⌋].
pub fn avg_pool(x: &Tensor, k: usize) -> candle_core::Result<Tensor> {
    if !x.device().is_cpu() {
        return x.avg_pool2d(k);
    }
    x.contiguous()?.apply_op1(AvgPool { k })
}

struct AvgPool {
    k: usize,
}

impl AvgPool {
    fn sizes(&self, shape: &Shape) -> candle_core::Result<(usize, usize, usize, usize, usize)> {
        let (n, c, h, w) = shape.dims4()?;
        if self.k == 0 || h < self.k || w < self.k {
            candle_core::bail!("avg-pool: window {} does not fit {h}x{w}", self.k);
        }
        Ok((n * c, h, w, h / self.k, w / self.k))
    }

    fn fwd_typed<F: WithDType>(&self, x: &[F], shape: &Shape) -> candle_core::Result<Vec<F>> {
        let (planes, h, w, ho, wo) = self.sizes(shape)?;
        let k = self.k;
        let scale = F::from_f64(1.0 / (k * k) as f64);
        if x.len() != planes * h * w {
            candle_core::bail!(
                "avg-pool: {} inputs for {planes} planes of {h}x{w}",
                x.len()
            );
        }
        let mut out = Uninit::new(planes * ho * wo);
        out.pieces()
            .par_chunks_mut(ho * wo)
            .zip(x.par_chunks(h * w))
            .for_each(|(o, src)| {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let mut sum = F::zero();
                        for m in 0..k {
                            let row = &src[(oy * k + m) * w + ox * k..][..k];
                            for &v in row {
                                sum += v;
                            }
                        }
                        o[oy * wo + ox] = std::mem::MaybeUninit::new(sum * scale);
                    }
                }
            });
        // SAFETY: x holds exactly one plane per output plane (checked above), so the zipped
        // chunks cover the output, and every task stored each (oy, ox) of its ho × wo plane.
        Ok(unsafe { out.assume_init() })
    }

    fn bwd_typed<F: WithDType>(&self, g: &[F], shape: &Shape) -> candle_core::Result<Vec<F>> {
        let (planes, h, w, ho, wo) = self.sizes(shape)?;
        let k = self.k;
        let scale = F::from_f64(1.0 / (k * k) as f64);
        if g.len() != planes * ho * wo {
            candle_core::bail!(
                "avg-pool: {} gradients for {planes} planes of {ho}x{wo}",
                g.len()
            );
        }
        let covered = ho * k == h && wo * k == w;
        let mut dx = Uninit::new(planes * h * w);
        dx.pieces()
            .par_chunks_mut(h * w)
            .zip(g.par_chunks(ho * wo))
            .for_each(|(d, gp)| {
                // The windows cover the plane unless h or w is not a multiple of k: only then
                // do the leftover rows and columns need zeros.
                if !covered {
                    d.fill(std::mem::MaybeUninit::new(F::zero()));
                }
                for oy in 0..ho {
                    for m in 0..k {
                        let row = &mut d[(oy * k + m) * w..][..wo * k];
                        for (ox, win) in row.chunks_exact_mut(k).enumerate() {
                            win.fill(std::mem::MaybeUninit::new(gp[oy * wo + ox] * scale));
                        }
                    }
                }
            });
        // SAFETY: g holds exactly one plane per input plane (checked above), so the zipped
        // chunks cover dx; in each plane the windows (oy < ho, m < k, ox < wo) store every
        // element when `covered`, and the plane was zeroed first otherwise.
        Ok(unsafe { dx.assume_init() })
    }
}

impl CustomOp1 for AvgPool {
    fn name(&self) -> &'static str {
        "avg-pool"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = l.shape().dims4()?;
        let out_shape = Shape::from((n, c, h / self.k.max(1), w / self.k.max(1)));
        let out = match s {
            CpuStorage::F32(_) => CpuStorage::F32(self.fwd_typed(storage_slice(s, l)?, l.shape())?),
            CpuStorage::F64(_) => CpuStorage::F64(self.fwd_typed(storage_slice(s, l)?, l.shape())?),
            _ => candle_core::bail!("avg-pool: only f32 and f64"),
        };
        Ok((out, out_shape))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let dx = match arg.dtype() {
            candle_core::DType::F32 => Tensor::from_vec(
                with_tensor_slice::<f32, _>(grad_res, |g| self.bwd_typed(g, arg.shape()))?,
                arg.shape(),
                arg.device(),
            )?,
            candle_core::DType::F64 => Tensor::from_vec(
                with_tensor_slice::<f64, _>(grad_res, |g| self.bwd_typed(g, arg.shape()))?,
                arg.shape(),
                arg.device(),
            )?,
            dt => candle_core::bail!("avg-pool: unsupported dtype {dt:?}"),
        };
        Ok(Some(dx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn values(t: &Tensor) -> Vec<f64> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    #[test]
    fn forward_and_gradient_match_candle() {
        for (n, c, h, w, k) in [
            (2, 3, 8, 6, 2),
            (1, 2, 9, 9, 3),
            (3, 1, 4, 4, 4),
            (2, 2, 7, 5, 2),
        ] {
            let len = n * c * h * w;
            let v: Vec<f64> = (0..len)
                .map(|i| ((i * 37 % 101) as f64 - 50.0) / 7.0)
                .collect();
            let x = Var::from_vec(v, (n, c, h, w), &Device::Cpu).unwrap();
            let ours = avg_pool(x.as_tensor(), k).unwrap();
            let theirs = x.as_tensor().avg_pool2d(k).unwrap();
            let a = values(&ours);
            assert_eq!(a, values(&theirs), "forward ({n}, {c}, {h}, {w}), k = {k}");
            let r = Tensor::rand(0f64, 1f64, ours.shape(), &Device::Cpu).unwrap();
            let grad_of = |y: &Tensor| {
                let g = (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
                values(g.get(x.as_tensor()).unwrap())
            };
            let (da, db) = (grad_of(&ours), grad_of(&theirs));
            if h % k == 0 && w % k == 0 {
                assert_eq!(da, db, "gradient ({n}, {c}, {h}, {w}), k = {k}");
            } else {
                // candle's backward (a nearest upsample) spreads the gradient over the leftover
                // rows and columns too; the exact one is r/k² inside the whole windows, 0 outside.
                let (ho, wo) = (h / k, w / k);
                let rv = values(&r);
                for (i, x) in da.iter().enumerate() {
                    let (plane, yy, xx) = (i / (h * w), (i / w) % h, i % w);
                    let want = if yy < ho * k && xx < wo * k {
                        rv[(plane * ho + yy / k) * wo + xx / k] / (k * k) as f64
                    } else {
                        0.0
                    };
                    assert_eq!(*x, want, "gradient at {i} of ({n}, {c}, {h}, {w}), k = {k}");
                }
            }
        }
    }
}
