//! The stateless layers between the neurons, each with its CPU kernel beside it (where CUDA
//! kernels will sit next to their CPU twins):
//! - [`conv`]: per-step 2-D convolution (stride 1) as one CPU custom op (im2col + GEMM, exact
//!   backward); candle's conv2d elsewhere;
//! - [`norm`]: batch norm variants (`tdbn` over the folded T·B batch, `bntt` per time step);
//! - [`fused_bn`]: training-mode batch norm as one CPU custom op (closed-form backward);
//! - [`linear`]: the per-step linear classifier;
//! - [`pool`]: k×k average pooling as one CPU custom op (parallel, one-pass backward);
//! - `cpu_kernel` (crate-private): the float trait and slice access the CPU kernels share;
//! - `gemm` (crate-private): checked single-threaded matrix products for those kernels.
pub mod conv;
pub(crate) mod cpu_kernel;
pub mod fused_bn;
pub(crate) mod gemm;
pub mod linear;
pub mod norm;
pub mod pool;
