//! The spiking network built from a [`NetSpec`]: conv / BN / LIF / avgpool / flatten / linear
//! layers over activations folded to [T·B, ...] (t-major, the reference's `tdLayer`), parameters
//! held in a candle [`VarMap`] under the golden names `param.<i>.<name>`.
use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{Init, Linear, VarBuilder, VarMap};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::conv::Conv;
use crate::error::{Result, TrainError};
use crate::lif::{decay_logit, fixed_leak, Lif, NeuronParam};
use crate::norm::BatchNorm;
use crate::spec::{ActShape, LayerSpec, NetSpec};
use crate::spike::{ForwardCtx, NoisySpike};
use crate::surrogate::{Surrogate, SurrogateParam};

/// Standard deviation of the reference's conv/linear weight init N(0, 0.5²).
pub const INIT_STD: f64 = 0.5;

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

/// One layer of the network.
#[derive(Clone, Debug)]
pub enum Layer {
    Conv(Conv),
    Norm(BatchNorm),
    Lif(Lif),
    AvgPool(usize),
    Flatten,
    Linear(Linear),
}

/// A spiking network: input [T, B, C, H, W] → per-step logits [T, B, K].
pub struct Network {
    spec: NetSpec,
    varmap: VarMap,
    vars: Vec<NamedVar>,
    layers: Vec<Layer>,
    device: Device,
    dtype: DType,
}

fn normal_tensor(
    rng: &mut ChaCha8Rng,
    shape: &[usize],
    std: f64,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let dist = Normal::new(0.0f32, std as f32).map_err(|e| TrainError::Spec(e.to_string()))?;
    let data: Vec<f32> = (0..n).map(|_| dist.sample(rng)).collect();
    Ok(Tensor::from_vec(data, shape, device)?.to_dtype(dtype)?)
}

impl Network {
    /// Builds the network with the reference initialisation: conv/linear weights ~ N(0, 0.5²)
    /// drawn from a ChaCha8 stream seeded by `seed`, biases 0, BN γ = 1, β = 0, running mean 0,
    /// running var 1, surrogate parameter from the width.
    pub fn new(spec: NetSpec, dtype: DType, device: &Device, seed: u64) -> Result<Self> {
        let shapes = spec.shapes()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let varmap = VarMap::new();
        let t = spec.time_steps;
        // Pre-populate the VarMap so that the VarBuilder below returns seeded tensors.
        let mut init: Vec<(String, Tensor)> = Vec::new();
        for (i, layer) in spec.layers.iter().enumerate() {
            let p = |n: &str| format!("param.{i}.{n}");
            match (layer, &shapes[i]) {
                (
                    LayerSpec::Conv {
                        out, kernel, bias, ..
                    },
                    ActShape::Map([c, _, _]),
                ) => {
                    init.push((
                        p("weight"),
                        normal_tensor(
                            &mut rng,
                            &[*out, *c, *kernel, *kernel],
                            INIT_STD,
                            dtype,
                            device,
                        )?,
                    ));
                    if *bias {
                        init.push((p("bias"), Tensor::zeros(*out, dtype, device)?));
                    }
                }
                (LayerSpec::Linear { out, bias }, ActShape::Flat(f)) => {
                    init.push((
                        p("weight"),
                        normal_tensor(&mut rng, &[*out, *f], INIT_STD, dtype, device)?,
                    ));
                    if *bias {
                        init.push((p("bias"), Tensor::zeros(*out, dtype, device)?));
                    }
                }
                _ => {}
            }
        }
        {
            let mut data = varmap.data().lock().expect("varmap lock");
            for (name, t) in init {
                data.insert(name, Var::from_tensor(&t)?);
            }
        }
        let vb = VarBuilder::from_varmap(&varmap, dtype, device);
        let mut layers = Vec::with_capacity(spec.layers.len());
        let mut named: Vec<(String, ParamGroup)> = Vec::new();
        let neuron = &spec.neuron;
        if neuron.reset != "hard" {
            return Err(TrainError::Spec(format!(
                "reset `{}` is not supported (the reference only uses hard reset)",
                neuron.reset
            )));
        }
        for (i, layer) in spec.layers.iter().enumerate() {
            let vb = vb.pp(format!("param.{i}"));
            let name = |n: &str| format!("param.{i}.{n}");
            let built = match (layer, &shapes[i]) {
                (
                    LayerSpec::Conv {
                        out,
                        kernel,
                        padding,
                        bias,
                    },
                    ActShape::Map([c, _, _]),
                ) => {
                    let w = vb.get((*out, *c, *kernel, *kernel), "weight")?;
                    named.push((name("weight"), ParamGroup::Weight));
                    let b = if *bias {
                        named.push((name("bias"), ParamGroup::NoDecay));
                        Some(vb.get(*out, "bias")?)
                    } else {
                        None
                    };
                    Layer::Conv(Conv::new(w, b, *padding))
                }
                (LayerSpec::Linear { out, bias }, ActShape::Flat(f)) => {
                    let w = vb.get((*out, *f), "weight")?;
                    named.push((name("weight"), ParamGroup::Weight));
                    let b = if *bias {
                        named.push((name("bias"), ParamGroup::NoDecay));
                        Some(vb.get(*out, "bias")?)
                    } else {
                        None
                    };
                    Layer::Linear(Linear::new(w, b))
                }
                (LayerSpec::Bn | LayerSpec::Bntt, ActShape::Map([c, _, _])) => {
                    let groups = if *layer == LayerSpec::Bn { 1 } else { t };
                    let shape: Vec<usize> = if groups == 1 { vec![*c] } else { vec![t, *c] };
                    vb.get_with_hints(shape.as_slice(), "weight", Init::Const(1.0))?;
                    vb.get_with_hints(shape.as_slice(), "bias", Init::Const(0.0))?;
                    vb.get_with_hints(shape.as_slice(), "running_mean", Init::Const(0.0))?;
                    vb.get_with_hints(shape.as_slice(), "running_var", Init::Const(1.0))?;
                    named.push((name("weight"), ParamGroup::NoDecay));
                    named.push((name("bias"), ParamGroup::NoDecay));
                    named.push((name("running_mean"), ParamGroup::Buffer));
                    named.push((name("running_var"), ParamGroup::Buffer));
                    let get = |n: &str| Self::var_of(&varmap, &name(n));
                    Layer::Norm(BatchNorm::new(
                        get("weight")?,
                        get("bias")?,
                        get("running_mean")?,
                        get("running_var")?,
                        groups,
                    ))
                }
                (LayerSpec::Lif, _) => {
                    let a0 = Surrogate::stored_param(neuron.surrogate, neuron.width) as f64;
                    let surrogate = if neuron.train_width {
                        vb.get_with_hints(1, "width", Init::Const(a0))?;
                        named.push((name("width"), ParamGroup::Neuron));
                        Surrogate::new(
                            neuron.surrogate,
                            SurrogateParam::Learnable(Self::var_of(&varmap, &name("width"))?),
                        )
                    } else {
                        Surrogate::fixed(neuron.surrogate, neuron.width, dtype, device)?
                    };
                    let decay = if neuron.train_decay {
                        vb.get_with_hints(
                            1,
                            "decay",
                            Init::Const(decay_logit(neuron.decay) as f64),
                        )?;
                        named.push((name("decay"), ParamGroup::Neuron));
                        NeuronParam::Learnable(Self::var_of(&varmap, &name("decay"))?)
                    } else {
                        NeuronParam::Fixed(fixed_leak(neuron.decay))
                    };
                    let thresh = if neuron.train_thresh {
                        vb.get_with_hints(1, "thresh", Init::Const(neuron.thresh))?;
                        named.push((name("thresh"), ParamGroup::Neuron));
                        NeuronParam::Learnable(Self::var_of(&varmap, &name("thresh"))?)
                    } else {
                        NeuronParam::Fixed(neuron.thresh)
                    };
                    let spike = NoisySpike::new(surrogate, neuron.noise_p, neuron.spike);
                    Layer::Lif(Lif::new(i, t, spike, decay, thresh))
                }
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
        let vars = named
            .into_iter()
            .map(|(name, group)| {
                Ok(NamedVar {
                    var: Self::var_of(&varmap, &name)?,
                    name,
                    group,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Network {
            spec,
            varmap,
            vars,
            layers,
            device: device.clone(),
            dtype,
        })
    }

    fn var_of(varmap: &VarMap, name: &str) -> Result<Var> {
        varmap
            .data()
            .lock()
            .expect("varmap lock")
            .get(name)
            .cloned()
            .ok_or_else(|| TrainError::Spec(format!("missing variable {name}")))
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

    /// Runs every BatchNorm layer's training forward/backward through the fused CPU op (`true`,
    /// the default) or op by op (`false`; what non-CPU devices always use). For tests and
    /// benchmarks.
    pub fn set_fused_bn(&mut self, fused: bool) {
        for l in &mut self.layers {
            if let Layer::Norm(bn) = l {
                bn.set_fused(fused);
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
        for layer in &self.layers {
            a = match layer {
                Layer::Conv(conv) => conv.forward(&a)?,
                Layer::Norm(bn) => bn.forward(&a, ctx.train)?,
                Layer::Lif(lif) => lif.forward(&a, ctx)?,
                Layer::AvgPool(s) => a.avg_pool2d(*s)?,
                Layer::Flatten => a.flatten_from(1)?,
                Layer::Linear(lin) => lin.forward(&a)?,
            };
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
        crate::io::save_tensors_atomic(&map, path)
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
