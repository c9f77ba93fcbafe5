//! Where a network's tensors live and what they are called: a store of candle [`Var`]s that each
//! layer loads its own parameters through, under a prefix (candle-nn's `VarBuilder::pp` style).
//!
//! The network hands layer `i` the prefix [`layer_prefix`]`(i)` = `param.<i>`; the layer asks for
//! its tensors by their short names (`weight`, `running_mean`, `width`, ...), so a stored tensor is
//! `param.<i>.<name>` — the golden names of `../shared/golden/asgl` and of every checkpoint. The
//! exporter reads a checkpoint through the same prefix ([`crate::export::params::LayerParams`]), so
//! this file is the only place that spells the naming scheme.
use std::cell::RefCell;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{Init, VarMap};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::error::{Result, TrainError};

/// Which optimiser group a parameter belongs to (reference `split_params`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamGroup {
    /// Conv/linear weights: SGD with weight decay.
    Weight,
    /// Conv/linear biases and BN γ/β: SGD without weight decay.
    NoDecay,
    /// LIF parameters (widths, decay, threshold): Adam, constant LR.
    Neuron,
    /// BN running statistics: not optimised, but saved.
    Buffer,
}

/// A named parameter or buffer of the network.
#[derive(Clone, Debug)]
pub struct NamedVar {
    pub name: String,
    pub var: Var,
    pub group: ParamGroup,
}

/// How a parameter starts out when the store creates it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ParamInit {
    /// Every element `v` (candle-nn's `Init::Const`).
    Const(f64),
    /// N(0, std²), drawn in float32 from the store's seeded ChaCha8 stream (the reference's
    /// conv/linear init), in the order layers ask for them.
    Normal { std: f64 },
    /// U(−bound, bound), drawn in float32 from the same stream (PyTorch's default conv/linear
    /// init, bound 1/√fan_in, which the reference's CIFAR ResNets keep).
    Uniform { bound: f64 },
}

/// The prefix of layer `i`'s tensors (its position in the spec's layer list): `param.<i>`.
pub fn layer_prefix(i: usize) -> String {
    format!("param.{i}")
}

/// The full name of tensor `name` under `prefix`: `<prefix>.<name>`.
pub fn full_name(prefix: &str, name: &str) -> String {
    format!("{prefix}.{name}")
}

/// Every variable of a network, in the order the layers created them, with one RNG for the
/// random initialisations.
pub struct VarStore {
    varmap: VarMap,
    vars: RefCell<Vec<NamedVar>>,
    rng: RefCell<ChaCha8Rng>,
    dtype: DType,
    device: Device,
}

impl VarStore {
    /// An empty store whose random initialisations come from a ChaCha8 stream seeded by `seed`.
    pub fn new(dtype: DType, device: &Device, seed: u64) -> Self {
        VarStore {
            varmap: VarMap::new(),
            vars: RefCell::new(Vec::new()),
            rng: RefCell::new(ChaCha8Rng::seed_from_u64(seed)),
            dtype,
            device: device.clone(),
        }
    }

    /// The view of the store under `prefix`.
    pub fn pp(&self, prefix: impl Into<String>) -> Vars<'_> {
        Vars {
            store: self,
            prefix: prefix.into(),
        }
    }

    /// The candle VarMap and the variables in creation order.
    pub fn into_parts(self) -> (VarMap, Vec<NamedVar>) {
        (self.varmap, self.vars.into_inner())
    }

    fn normal(&self, shape: &[usize], std: f64) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let dist = Normal::new(0.0f32, std as f32).map_err(|e| TrainError::Spec(e.to_string()))?;
        let mut rng = self.rng.borrow_mut();
        let data: Vec<f32> = (0..n).map(|_| dist.sample(&mut *rng)).collect();
        Ok(Tensor::from_vec(data, shape, &self.device)?.to_dtype(self.dtype)?)
    }
}

impl VarStore {
    fn uniform(&self, shape: &[usize], bound: f64) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let bound = bound as f32;
        let dist = rand_distr::Uniform::new_inclusive(-bound, bound)
            .map_err(|e| TrainError::Spec(format!("uniform init bound {bound}: {e}")))?;
        let mut rng = self.rng.borrow_mut();
        let data: Vec<f32> = (0..n).map(|_| dist.sample(&mut *rng)).collect();
        Ok(Tensor::from_vec(data, shape, &self.device)?.to_dtype(self.dtype)?)
    }
}

/// A view of a [`VarStore`] under a prefix: what a layer receives to load its parameters.
#[derive(Clone)]
pub struct Vars<'a> {
    store: &'a VarStore,
    prefix: String,
}

impl Vars<'_> {
    /// The view one level deeper: `<prefix>.<sub>`.
    pub fn pp(&self, sub: &str) -> Self {
        Vars {
            store: self.store,
            prefix: full_name(&self.prefix, sub),
        }
    }

    /// The full name of `name` in this view.
    pub fn name(&self, name: &str) -> String {
        full_name(&self.prefix, name)
    }

    /// Compute dtype of every variable.
    pub fn dtype(&self) -> DType {
        self.store.dtype
    }

    /// Device of every variable.
    pub fn device(&self) -> &Device {
        &self.store.device
    }

    /// Creates the variable `<prefix>.<name>` with `shape` and `init`, registered with its
    /// optimiser `group`. A name can be created once.
    pub fn var(
        &self,
        name: &str,
        shape: &[usize],
        init: ParamInit,
        group: ParamGroup,
    ) -> Result<Var> {
        let full = self.name(name);
        let (dtype, device) = (self.store.dtype, &self.store.device);
        let var = match init {
            ParamInit::Const(v) => Init::Const(v).var(shape, dtype, device)?,
            ParamInit::Normal { std } => Var::from_tensor(&self.store.normal(shape, std)?)?,
            ParamInit::Uniform { bound } => Var::from_tensor(&self.store.uniform(shape, bound)?)?,
        };
        let mut data = self.store.varmap.data().lock().expect("varmap lock");
        if data.contains_key(&full) {
            return Err(TrainError::Spec(format!("variable {full} created twice")));
        }
        data.insert(full.clone(), var.clone());
        self.store.vars.borrow_mut().push(NamedVar {
            name: full,
            var: var.clone(),
            group,
        });
        Ok(var)
    }
}
