//! The spiking network built from a [`NetSpec`]: conv / BN / LIF / avgpool / flatten / linear
//! layers over activations folded to [T·B, ...] (t-major, the reference's `tdLayer`). Each layer
//! creates its own parameters through the prefix `param.<i>` of a [`VarStore`] (the golden names
//! `param.<i>.<name>`, see [`crate::network::vars`]).
use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Linear, VarMap};

use crate::error::{Result, TrainError};
use crate::layers::conv::Conv;
use crate::layers::linear;
use crate::layers::norm::BatchNorm;
use crate::network::resnet::{subsample, Shortcut};
use crate::network::spec::{ActShape, LayerSpec, NetSpec};
use crate::network::vars::{layer_prefix, NamedVar, ParamInit, VarStore};
use crate::neuron::lif::Lif;
use crate::neuron::spike::ForwardCtx;

/// Standard deviation of the reference's conv/linear weight init N(0, 0.5²).
pub const INIT_STD: f64 = 0.5;

/// How conv/linear weights start out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WeightInit {
    /// N(0, std²), biases 0: the reference DVS main's init (std [`INIT_STD`]).
    Normal { std: f64 },
    /// PyTorch's default (kaiming-uniform with a = √5): weight and bias U(±1/√fan_in). The
    /// reference's CIFAR main (`experiment/development`) keeps it for its ResNets.
    TorchDefault,
}

impl WeightInit {
    /// The reference DVS init, N(0, 0.5²).
    pub const REFERENCE_DVS: WeightInit = WeightInit::Normal { std: INIT_STD };

    /// The init of one conv/linear weight with `fan_in` inputs per output.
    pub fn param(self, fan_in: usize) -> ParamInit {
        match self {
            WeightInit::Normal { std } => ParamInit::Normal { std },
            WeightInit::TorchDefault => ParamInit::Uniform {
                bound: 1.0 / (fan_in.max(1) as f64).sqrt(),
            },
        }
    }
}

/// One layer of the network.
#[derive(Clone, Debug)]
pub enum Layer {
    Conv(Conv),
    Norm(BatchNorm),
    Lif(Lif),
    AvgPool(usize),
    Flatten,
    Linear(Linear),
    /// Keep every n-th row and column.
    Subsample(usize),
    /// Residual add of layer `from`'s output, through the projection if any.
    Add {
        from: usize,
        shortcut: Option<Shortcut>,
    },
}

/// A spiking network: input [T, B, C, H, W] → per-step logits [T, B, K].
pub struct Network {
    spec: NetSpec,
    varmap: VarMap,
    vars: Vec<NamedVar>,
    layers: Vec<Layer>,
    /// Layers whose output a residual add reads.
    keep: Vec<usize>,
    device: Device,
    dtype: DType,
    /// Run a training-mode BatchNorm followed by a LIF layer as one CPU node (default `true`).
    fuse_bn_lif: bool,
}

impl Network {
    /// Builds the network with the reference initialisation: conv/linear weights ~ N(0, 0.5²)
    /// drawn in layer order from a ChaCha8 stream seeded by `seed`, biases 0, BN γ = 1, β = 0,
    /// running mean 0, running var 1, surrogate parameter from the width.
    pub fn new(spec: NetSpec, dtype: DType, device: &Device, seed: u64) -> Result<Self> {
        Self::with_init(spec, dtype, device, seed, WeightInit::REFERENCE_DVS)
    }

    /// Builds the network with conv/linear weights from `init` (drawn in layer order from the
    /// ChaCha8 stream seeded by `seed`); BN and LIF parameters as in [`Network::new`].
    pub fn with_init(
        spec: NetSpec,
        dtype: DType,
        device: &Device,
        seed: u64,
        init: WeightInit,
    ) -> Result<Self> {
        let shapes = spec.shapes()?;
        let t = spec.time_steps;
        let neuron = &spec.neuron;
        if neuron.reset != "hard" {
            return Err(TrainError::Spec(format!(
                "reset `{}` is not supported (the reference only uses hard reset)",
                neuron.reset
            )));
        }
        let store = VarStore::new(dtype, device, seed);
        let mut layers = Vec::with_capacity(spec.layers.len());
        for (i, layer) in spec.layers.iter().enumerate() {
            let vars = store.pp(layer_prefix(i));
            let built = match (layer, &shapes[i]) {
                (
                    LayerSpec::Conv {
                        out,
                        kernel,
                        padding,
                        bias,
                    },
                    ActShape::Map([c, _, _]),
                ) => Layer::Conv(Conv::load(
                    &vars,
                    *c,
                    *out,
                    *kernel,
                    *padding,
                    *bias,
                    init.param(c * kernel * kernel),
                )?),
                (LayerSpec::Linear { out, bias }, ActShape::Flat(f)) => {
                    Layer::Linear(linear::load(&vars, *f, *out, *bias, init.param(*f))?)
                }
                (LayerSpec::Subsample { stride }, _) => Layer::Subsample(*stride),
                (LayerSpec::Add { from, proj }, _) => Layer::Add {
                    from: *from,
                    shortcut: match (proj, &shapes[*from + 1]) {
                        (Some(p), ActShape::Map([c, _, _])) => {
                            Some(Shortcut::load(&vars, *c, p, t, init.param(*c))?)
                        }
                        _ => None,
                    },
                },
                (LayerSpec::Bn | LayerSpec::Bntt, ActShape::Map([c, _, _])) => {
                    let groups = if *layer == LayerSpec::Bn { 1 } else { t };
                    Layer::Norm(BatchNorm::load(&vars, *c, groups)?)
                }
                (LayerSpec::Lif, _) => Layer::Lif(Lif::load(&vars, i, t, neuron)?),
                (LayerSpec::Avgpool { size }, _) => Layer::AvgPool(*size),
                (LayerSpec::Flatten, _) => Layer::Flatten,
                (l, s) => {
                    return Err(TrainError::Spec(format!(
                        "layer {i} {l:?} cannot take input {s:?}"
                    )))
                }
            };
            layers.push(built);
        }
        let (varmap, vars) = store.into_parts();
        let keep = spec
            .layers
            .iter()
            .filter_map(|l| match l {
                LayerSpec::Add { from, .. } => Some(*from),
                _ => None,
            })
            .collect();
        Ok(Network {
            spec,
            varmap,
            vars,
            layers,
            keep,
            device: device.clone(),
            dtype,
            fuse_bn_lif: true,
        })
    }

    /// The network description.
    pub fn spec(&self) -> &NetSpec {
        &self.spec
    }

    /// Device of every parameter.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Compute dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Every parameter and buffer, in layer order, with its optimiser group.
    pub fn vars(&self) -> &[NamedVar] {
        &self.vars
    }

    /// The layers.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The underlying candle VarMap.
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// Sets the analog probability p of every LIF layer.
    pub fn set_noise_p(&mut self, p: f64) {
        self.spec.neuron.noise_p = p;
        for l in &mut self.layers {
            if let Layer::Lif(lif) = l {
                lif.spike_mut().set_p(p);
            }
        }
    }

    /// Runs every LIF layer through the fused CPU op (`true`, the default) or the unfused
    /// per-step loop (`false`; what non-CPU devices always use). For tests and benchmarks.
    pub fn set_fused_lif(&mut self, fused: bool) {
        for l in &mut self.layers {
            if let Layer::Lif(lif) = l {
                lif.set_fused(fused);
            }
        }
    }

    /// Runs each training-mode BatchNorm that feeds a LIF layer together with it as one CPU
    /// graph node ([`crate::neuron::bn_lif`]; `true`, the default, where both layers are fused)
    /// or as two nodes (`false`). The same values and gradients either way; for tests and
    /// benchmarks.
    pub fn set_fused_bn_lif(&mut self, fused: bool) {
        self.fuse_bn_lif = fused;
    }

    /// Runs every BatchNorm layer's training forward/backward through the fused CPU op (`true`,
    /// the default) or op by op (`false`; what non-CPU devices always use). For tests and
    /// benchmarks.
    pub fn set_fused_bn(&mut self, fused: bool) {
        for l in &mut self.layers {
            match l {
                Layer::Norm(bn) => bn.set_fused(fused),
                Layer::Add {
                    shortcut: Some(s), ..
                } => s.set_fused_bn(fused),
                _ => {}
            }
        }
    }

    /// Current surrogate widths w per LIF layer: (layer index, w).
    pub fn widths(&self) -> Result<Vec<(usize, f64)>> {
        let mut out = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            if let Layer::Lif(lif) = l {
                out.push((i, lif.spike().surrogate().width()?));
            }
        }
        Ok(out)
    }

    /// Forward pass: `x` [T, B, C, H, W] → logits [T, B, K].
    pub fn forward(&self, x: &Tensor, ctx: &mut ForwardCtx) -> Result<Tensor> {
        let (t, b, c, h, w) = x.dims5()?;
        if t != self.spec.time_steps || [c, h, w] != self.spec.input_shape {
            return Err(TrainError::Spec(format!(
                "input [T={t}, B={b}, {c}, {h}, {w}] does not match the network (T={}, {:?})",
                self.spec.time_steps, self.spec.input_shape
            )));
        }
        let mut a = x.reshape((t * b, c, h, w))?;
        // Outputs that a later residual add reads, by layer index.
        let mut kept: HashMap<usize, Tensor> = HashMap::new();
        // Set when layer i − 1 (a BatchNorm) already ran layer i (its LIF) as one node.
        let mut ran_with_previous = false;
        for (i, layer) in self.layers.iter().enumerate() {
            if std::mem::take(&mut ran_with_previous) {
                if self.keep.contains(&i) {
                    kept.insert(i, a.clone());
                }
                continue;
            }
            a = match layer {
                Layer::Conv(conv) => conv.forward(&a)?,
                Layer::Norm(bn) => {
                    let next_lif = match self.layers.get(i + 1) {
                        Some(Layer::Lif(lif)) if self.fuse_bn_lif && !self.keep.contains(&i) => {
                            Some(lif)
                        }
                        _ => None,
                    };
                    match next_lif
                        .map(|lif| lif.forward_after_bn(bn, &a, ctx))
                        .transpose()?
                    {
                        Some(Some(out)) => {
                            ran_with_previous = true;
                            out
                        }
                        _ => bn.forward(&a, ctx.train)?,
                    }
                }
                Layer::Lif(lif) => lif.forward(&a, ctx)?,
                Layer::AvgPool(s) => crate::layers::pool::avg_pool(&a, *s)?,
                Layer::Flatten => a.flatten_from(1)?,
                Layer::Linear(lin) => lin.forward(&a)?,
                Layer::Subsample(s) => subsample(&a, *s)?,
                Layer::Add { from, shortcut } => {
                    let x = kept.get(from).ok_or_else(|| {
                        TrainError::Spec(format!("layer {i}: output of layer {from} not kept"))
                    })?;
                    let short = match shortcut {
                        Some(s) => s.forward(x, ctx.train)?,
                        None => x.clone(),
                    };
                    (&a + short)?
                }
            };
            if self.keep.contains(&i) {
                kept.insert(i, a.clone());
            }
        }
        let k = a.dim(1)?;
        Ok(a.reshape((t, b, k))?)
    }

    /// Saves every parameter and buffer as safetensors (atomic: temp + fsync + rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let map: HashMap<String, Tensor> = self
            .vars
            .iter()
            .map(|v| Ok((v.name.clone(), v.var.as_tensor().to_dtype(DType::F32)?)))
            .collect::<Result<_>>()?;
        crate::checkpoint::save_tensors(&map, path)
    }

    /// Loads parameters and buffers from a safetensors map (extra tensors are ignored; every
    /// network variable must be present with the right shape).
    pub fn load_tensors(&self, tensors: &HashMap<String, Tensor>, origin: &Path) -> Result<()> {
        for v in &self.vars {
            let t = tensors.get(&v.name).ok_or_else(|| TrainError::Tensor {
                path: origin.to_path_buf(),
                name: v.name.clone(),
                reason: "missing".into(),
            })?;
            if t.dims() != v.var.dims() {
                return Err(TrainError::Tensor {
                    path: origin.to_path_buf(),
                    name: v.name.clone(),
                    reason: format!("shape {:?}, network expects {:?}", t.dims(), v.var.dims()),
                });
            }
            v.var
                .set(&t.to_dtype(self.dtype)?.to_device(&self.device)?)?;
        }
        Ok(())
    }

    /// Loads parameters and buffers from a safetensors file.
    pub fn load(&self, path: &Path) -> Result<()> {
        let tensors =
            candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| TrainError::Tensor {
                path: path.to_path_buf(),
                name: "*".into(),
                reason: e.to_string(),
            })?;
        self.load_tensors(&tensors, path)
    }
}
