//! Surrogate functions H_α with their stored parameters (reference `model/activation.py`).
//!
//! A surrogate is independent of the neuron that uses it (SpikingJelly style): a LIF layer takes
//! any [`Surrogate`]. Each surrogate holds one parameter tensor (a learnable [`Var`] when
//! `train_width`, else a constant), shape [1] ("layer" granularity).
use candle_core::{DType, Device, Tensor, Var};

use crate::error::Result;
use crate::network::spec::SurrogateKind;
use crate::network::vars::{ParamGroup, ParamInit, Vars};

/// The parameter of a surrogate: learnable or fixed.
#[derive(Clone, Debug)]
pub enum SurrogateParam {
    /// Learnable scalar (shape [1]); its gradient sums over every element, step and sample.
    Learnable(Var),
    /// Fixed scalar (shape [1]).
    Fixed(Tensor),
}

impl SurrogateParam {
    /// The parameter as a tensor usable in the graph.
    pub fn tensor(&self) -> &Tensor {
        match self {
            SurrogateParam::Learnable(v) => v.as_tensor(),
            SurrogateParam::Fixed(t) => t,
        }
    }
}

/// A smooth stand-in H_α for the Heaviside step, with its derivative h_α = dH/dx given by
/// autograd through [`Surrogate::forward`].
#[derive(Clone, Debug)]
pub struct Surrogate {
    kind: SurrogateKind,
    param: SurrogateParam,
}

impl Surrogate {
    /// Name of the stored parameter under the neuron layer's prefix.
    pub const WIDTH: &'static str = "width";

    /// The surrogate of one neuron layer: with `learnable`, its parameter `width` (shape [1],
    /// Adam group) is created through `vars`, else it is a constant of the store's dtype.
    pub fn load(vars: &Vars, kind: SurrogateKind, width: f64, learnable: bool) -> Result<Self> {
        if !learnable {
            return Self::fixed(kind, width, vars.dtype(), vars.device());
        }
        let stored = f64::from(Self::stored_param(kind, width));
        let var = vars.var(
            Self::WIDTH,
            &[1],
            ParamInit::Const(stored),
            ParamGroup::Neuron,
        )?;
        Ok(Self::new(kind, SurrogateParam::Learnable(var)))
    }

    /// The stored parameter for width w: a = ln(1/w) (rectangle) or k = 1/w (sigmoid), rounded
    /// to float32 exactly as the reference creates it.
    pub fn stored_param(kind: SurrogateKind, width: f64) -> f32 {
        match kind {
            SurrogateKind::Rectangle => (1.0 / width).ln() as f32,
            SurrogateKind::Sigmoid => (1.0 / width) as f32,
        }
    }

    /// A fixed (non-learnable) surrogate of width w.
    pub fn fixed(kind: SurrogateKind, width: f64, dtype: DType, device: &Device) -> Result<Self> {
        let t = Tensor::new(&[Self::stored_param(kind, width)], device)?.to_dtype(dtype)?;
        Ok(Surrogate {
            kind,
            param: SurrogateParam::Fixed(t),
        })
    }

    /// A surrogate over an existing parameter tensor or variable.
    pub fn new(kind: SurrogateKind, param: SurrogateParam) -> Self {
        Surrogate { kind, param }
    }

    /// The surrogate shape.
    pub fn kind(&self) -> SurrogateKind {
        self.kind
    }

    /// The stored parameter.
    pub fn param(&self) -> &SurrogateParam {
        &self.param
    }

    /// The width w implied by the current parameter value (w = e^−a or 1/k).
    pub fn width(&self) -> Result<f64> {
        let v = self
            .param
            .tensor()
            .to_dtype(DType::F64)?
            .flatten_all()?
            .to_vec1::<f64>()?[0];
        Ok(match self.kind {
            SurrogateKind::Rectangle => (-v).exp(),
            SurrogateKind::Sigmoid => 1.0 / v,
        })
    }

    /// H_α(x), differentiable w.r.t. x and the parameter.
    ///
    /// Rectangle: H = clamp(e^a·x + ½, 0, 1), built as `y·1[0<y<1] + 1[y≥1]` with the masks
    /// computed on the detached ramp, so h = e^a on the OPEN ramp |x| < w/2 and 0 outside, and
    /// dH/da = e^a·x on the ramp. This is torch ≥ 2's strict clamp gradient (torch 1.11 gives 1 at
    /// the two boundary points; the golden cases keep a 1e-3 margin so both agree there).
    ///
    /// Sigmoid: H = σ(k·x), h = k·σ(1−σ), dH/dk = x·σ(1−σ).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let p = self.param.tensor();
        Ok(match self.kind {
            SurrogateKind::Rectangle => {
                let ramp = x.broadcast_mul(&p.exp()?)?.affine(1.0, 0.5)?;
                let r = ramp.detach();
                let inside = r.gt(0.0)?.mul(&r.lt(1.0)?)?.to_dtype(x.dtype())?;
                let above = r.ge(1.0)?.to_dtype(x.dtype())?;
                ramp.mul(&inside)?.add(&above)?
            }
            SurrogateKind::Sigmoid => candle_nn::ops::sigmoid(&x.broadcast_mul(p)?)?,
        })
    }
}

/// Heaviside step Θ(x) = 1[x ≥ 0] (inclusive), without gradient.
pub fn heaviside(x: &Tensor) -> Result<Tensor> {
    Ok(x.ge(0.0)?.to_dtype(x.dtype())?)
}
