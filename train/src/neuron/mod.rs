//! Neurons of ASGL (Wang et al., ICML 2023), SpikingJelly style: surrogates apart from neurons, and
//! a neuron takes any surrogate.
//!
//! - [`surrogate`]: H_α, the smooth stand-in for the Heaviside step Θ, with width α (`--alpha`,
//!   learnable with `--train_width`); rectangle H = clamp(e^a·x + ½, 0, 1), a = ln(1/α), or
//!   sigmoid H = σ(k·x), k = 1/α; its derivative h_α is the surrogate gradient.
//! - [`spike`]: the hybrid noisy spike s = m·Θ(x) + (1 − m)·H_α(x), m ~ Bernoulli(1 − p) per
//!   element and step (p = probability of analog mode), backward h_α everywhere; and the plain
//!   straight-through SG spike.
//! - [`lif`]: the multi-step LIF layer u_t = λ·u_{t−1}(1 − s_{t−1}) + I_t, s_t = S(u_t − θ),
//!   output θ·s_t (leak λ = sigmoid(d), threshold θ), as the per-step tensor loop any device runs;
//! - [`fused_lif`]: the same recurrence as one CPU custom op with a hand-written BPTT backward
//!   (where a CUDA kernel will sit next to it);
//! - [`bn_lif`]: training-mode BatchNorm and the fused LIF as one CPU graph node.
pub mod bn_lif;
pub mod fused_lif;
pub mod lif;
pub mod spike;
pub mod surrogate;
