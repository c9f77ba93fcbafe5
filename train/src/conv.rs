//! Per-step 2-D convolution (stride 1) whose input gradient is computed as a forward conv2d.
//!
//! candle's CPU backward of `conv2d` always computes the input gradient with `conv_transpose2d`
//! (a direct loop on the CPU, even when the input needs no gradient) and the kernel gradient with a
//! conv2d whose "kernel" is the whole output gradient; together they dominated the VGGSNN2 step.
//! On the CPU we compute y = conv2d(detach(x), detach(W)) + Zx(x) + Zw(W), where Zx and Zw are
//! custom ops whose value is 0 and whose backward is the exact gradient:
//! - dL/dx: correlation of dL/dy with the flipped, in/out-transposed kernel, padding k−1−p
//!   (candle's im2col + GEMM conv2d path);
//! - dL/dW[:, :, i, j] = dL/dy[O, N·H·W] · shift_{i,j}(pad(x))[C, N·H·W]ᵀ, one GEMM per tap.
//!
//! On other devices (CUDA) the plain conv2d is used. The golden parity tests cover this path.
use candle_core::{CpuStorage, CustomOp1, Layout, Module, Shape, Tensor};

/// Conv2d layer (weight [O, C, k, k], optional bias [O]), stride 1, dilation 1.
#[derive(Clone, Debug)]
pub struct Conv {
    weight: Tensor,
    bias: Option<Tensor>,
    padding: usize,
}

/// Zero-valued op carrying the input gradient of a stride-1 convolution.
struct ConvInputGrad {
    /// Flipped and transposed kernel [C, O, k, k] (detached).
    kernel_t: Tensor,
    padding: usize,
    out_shape: Shape,
}

impl CustomOp1 for ConvInputGrad {
    fn name(&self) -> &'static str {
        "conv-input-grad"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        _layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let n = self.out_shape.elem_count();
        let zeros = match storage {
            CpuStorage::F32(_) => CpuStorage::F32(vec![0.0; n]),
            CpuStorage::F64(_) => CpuStorage::F64(vec![0.0; n]),
            _ => candle_core::bail!("conv-input-grad: only f32 and f64 are supported"),
        };
        Ok((zeros, self.out_shape.clone()))
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad_res.contiguous()?.conv2d(
            &self.kernel_t,
            self.padding,
            1,
            1,
            1,
        )?))
    }
}

/// Zero-valued op carrying the kernel gradient of a stride-1 convolution.
struct ConvWeightGrad {
    /// The (detached) convolution input [N, C, H, W].
    input: Tensor,
    padding: usize,
    out_shape: Shape,
}

impl CustomOp1 for ConvWeightGrad {
    fn name(&self) -> &'static str {
        "conv-weight-grad"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        _layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let n = self.out_shape.elem_count();
        let zeros = match storage {
            CpuStorage::F32(_) => CpuStorage::F32(vec![0.0; n]),
            CpuStorage::F64(_) => CpuStorage::F64(vec![0.0; n]),
            _ => candle_core::bail!("conv-weight-grad: only f32 and f64 are supported"),
        };
        Ok((zeros, self.out_shape.clone()))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let (o, c, kh, kw) = arg.dims4()?;
        let (n, _, ho, wo) = grad_res.dims4()?;
        // [O, N·Ho·Wo]
        let g = grad_res
            .transpose(0, 1)?
            .contiguous()?
            .reshape((o, n * ho * wo))?;
        let p = self.padding;
        let xpad = if p > 0 {
            self.input
                .pad_with_zeros(2, p, p)?
                .pad_with_zeros(3, p, p)?
        } else {
            self.input.clone()
        };
        let mut taps = Vec::with_capacity(kh * kw);
        for i in 0..kh {
            for j in 0..kw {
                let xs = xpad
                    .narrow(2, i, ho)?
                    .narrow(3, j, wo)?
                    .transpose(0, 1)?
                    .contiguous()?
                    .reshape((c, n * ho * wo))?;
                // [O, C]
                taps.push(g.matmul(&xs.t()?)?);
            }
        }
        // [kh·kw, O, C] → [O, C, kh, kw]
        let dw = Tensor::stack(&taps, 0)?
            .reshape((kh, kw, o, c))?
            .permute((2, 3, 0, 1))?
            .contiguous()?;
        Ok(Some(dw))
    }
}

impl Conv {
    pub fn new(weight: Tensor, bias: Option<Tensor>, padding: usize) -> Self {
        Conv {
            weight,
            bias,
            padding,
        }
    }

    pub fn weight(&self) -> &Tensor {
        &self.weight
    }
}

impl Module for Conv {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (_, _, kh, kw) = self.weight.dims4()?;
        let y = if x.device().is_cpu() && kh == kw && self.padding < kh {
            let mut y = x
                .detach()
                .conv2d(&self.weight.detach(), self.padding, 1, 1, 1)?;
            if self.weight.track_op() {
                let z = self.weight.apply_op1(ConvWeightGrad {
                    input: x.detach(),
                    padding: self.padding,
                    out_shape: y.shape().clone(),
                })?;
                y = y.add(&z)?;
            }
            if x.track_op() {
                let dev = x.device();
                let idx: Vec<u32> = (0..kh as u32).rev().collect();
                let idx = Tensor::new(idx.as_slice(), dev)?;
                let kernel_t = self
                    .weight
                    .detach()
                    .transpose(0, 1)?
                    .contiguous()?
                    .index_select(&idx, 2)?
                    .index_select(&idx, 3)?
                    .contiguous()?;
                let z = x.apply_op1(ConvInputGrad {
                    kernel_t,
                    padding: kh - 1 - self.padding,
                    out_shape: y.shape().clone(),
                })?;
                y.add(&z)?
            } else {
                y
            }
        } else {
            x.conv2d(&self.weight, self.padding, 1, 1, 1)?
        };
        match &self.bias {
            None => Ok(y),
            Some(b) => y.broadcast_add(&b.reshape((1, b.dims1()?, 1, 1))?),
        }
    }
}
