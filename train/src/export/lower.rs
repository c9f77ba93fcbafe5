//! Lowers a [`NetSpec`] plus its parameters to an ONNX inference graph (eval-mode semantics:
//! Heaviside spikes, BatchNorm with running statistics).
//!
//! Layout: the stateless ops (conv, BN, pool, flatten, linear) run on all time steps at once on a
//! time-major folded batch `[T*N, ...]` (row `t*N + n`, exactly like the reference's `tdLayer`);
//! only the LIF recurrence is unrolled: `Reshape [T, N, ...]` → `Split` along T → per step
//! `u = λ·u + I_t`, `ge = GreaterOrEqual(u, θ)`, `out_t = θ·Cast(ge)`, hard reset
//! `u = Where(ge, 0, u)` (identical to `u·(1 - s)` for binary s) → `Concat` → fold back.
//! BatchNorm that directly follows a conv is folded into that conv's weights and bias.

use super::graph::{attr_float, attr_int, attr_ints, Dim, GraphBuilder};
use super::params::{LayerParams, ParamMap};
use super::proto::tensor_proto::DataType;
use super::proto::GraphProto;
use super::ExportError;
use crate::layers::conv::Conv;
use crate::layers::linear;
use crate::layers::norm::{BatchNorm, BN_EPS};
use crate::network::spec::{
    subsampled, BnType, LayerSpec, NetSpec, Projection, PROJ_BN, PROJ_CONV,
};
use crate::network::vars::full_name;
use crate::neuron::lif::{fixed_leak, Lif};

/// Graph input name: `[batch, T, C, H, W]` float frames, already value-transformed.
pub const INPUT_FRAMES: &str = "frames";
/// Graph output name: per-step logits `[T, batch, K]`.
pub const OUTPUT_PER_STEP: &str = "logits_per_step";
/// Graph output name: time-mean logits `[batch, K]`.
pub const OUTPUT_MEAN: &str = "logits";

/// Per-sample shape of the activation flowing through the folded `[T*N, ...]` batch.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Act {
    Map { c: usize, h: usize, w: usize },
    Vec { f: usize },
}

impl Act {
    fn dims(self) -> Vec<i64> {
        match self {
            Act::Map { c, h, w } => vec![c as i64, h as i64, w as i64],
            Act::Vec { f } => vec![f as i64],
        }
    }
}

/// A scalar that may be stored as a per-layer tensor of one element (shape [] or [1]).
fn scalar_param(layer: &LayerParams, name: &str) -> Result<Option<f32>, ExportError> {
    match layer.get(name) {
        None => Ok(None),
        Some(t) if t.data.len() == 1 => Ok(Some(t.data[0])),
        Some(t) => Err(ExportError::Invalid(format!(
            "{} has shape {:?}; only one value per LIF layer is supported by the exporter",
            layer.name(name),
            t.shape
        ))),
    }
}

/// BatchNorm running statistics and affine parameters of one layer (γ 1 / β 0 if absent).
struct BnParams {
    scale: Vec<f32>,
    shift: Vec<f32>,
    mean: Vec<f32>,
    var: Vec<f32>,
}

fn bn_params(layer: &LayerParams, shape: &[usize]) -> Result<BnParams, ExportError> {
    let count: usize = shape.iter().product();
    let mean = layer.require_shaped(BatchNorm::RUNNING_MEAN, shape)?;
    let var = layer.require_shaped(BatchNorm::RUNNING_VAR, shape)?;
    let affine = |name: &str, absent: f32| -> Result<Vec<f32>, ExportError> {
        match layer.get(name) {
            Some(t) => {
                layer.expect_shape(t, name, shape)?;
                Ok(t.data.clone())
            }
            None => Ok(vec![absent; count]),
        }
    };
    Ok(BnParams {
        scale: affine(BatchNorm::WEIGHT, 1.0)?,
        shift: affine(BatchNorm::BIAS, 0.0)?,
        mean: mean.data.clone(),
        var: var.data.clone(),
    })
}

/// Folds BatchNorm into a conv's weights and bias: w' = w·γ/√(σ²+ε), b' = (b−μ)·γ/√(σ²+ε) + β.
fn fold_bn(weight: &mut [f32], bias: &mut [f32], bn: &BnParams) {
    let out = bias.len();
    let per_channel = weight.len() / out;
    for o in 0..out {
        let k = f64::from(bn.scale[o]) / (f64::from(bn.var[o]) + BN_EPS).sqrt();
        for v in &mut weight[o * per_channel..(o + 1) * per_channel] {
            *v = (f64::from(*v) * k) as f32;
        }
        bias[o] =
            ((f64::from(bias[o]) - f64::from(bn.mean[o])) * k + f64::from(bn.shift[o])) as f32;
    }
}

/// The shortcut projection of residual add `i`: one strided 1×1 Conv with its BN folded in.
fn lower_projection(
    g: &mut GraphBuilder,
    params: &ParamMap,
    i: usize,
    input: &str,
    input_act: Act,
    proj: &Projection,
) -> Result<String, ExportError> {
    let Act::Map { c, .. } = input_act else {
        return Err(ExportError::Invalid(format!(
            "layer {i}: a projected shortcut needs a [C, H, W] input"
        )));
    };
    let out = proj.out;
    let layer = LayerParams::of(params, i);
    let mut wdata = layer
        .require_shaped(&full_name(PROJ_CONV, Conv::WEIGHT), &[out, c, 1, 1])?
        .data
        .clone();
    let mut bdata = vec![0.0; out];
    match proj.norm {
        BnType::Tdbn => {
            let bn = bn_params(&LayerParams::of_prefix(params, i, PROJ_BN), &[out])?;
            fold_bn(&mut wdata, &mut bdata, &bn);
        }
        BnType::None => {}
        BnType::Bntt => {
            return Err(ExportError::Invalid(format!(
                "layer {i}: a bntt shortcut projection is not supported by the exporter"
            )))
        }
    }
    let w = g.init_f32(
        &format!("proj{i}_weight"),
        &[out as i64, c as i64, 1, 1],
        &wdata,
    );
    let b = g.init_f32(&format!("proj{i}_bias"), &[out as i64], &bdata);
    let s = proj.stride as i64;
    Ok(g.node(
        "Conv",
        &[input, &w, &b],
        vec![
            attr_ints("kernel_shape", &[1, 1]),
            attr_ints("pads", &[0, 0, 0, 0]),
            attr_ints("strides", &[s, s]),
        ],
        &format!("proj{i}"),
    ))
}

/// Options that shape the graph but not its semantics.
#[derive(Debug, Clone)]
pub struct LowerOptions {
    /// Time steps T (the recurrence is unrolled T times).
    pub time_steps: usize,
    /// Per-step input shape [C, H, W].
    pub input_shape: [usize; 3],
}

/// The logit count K of a lowered network.
pub struct Lowered {
    pub graph: GraphProto,
    pub num_classes: usize,
}

/// Builds the inference graph. Fails with a clear message on inconsistent specs or tensors.
pub fn lower_network(
    spec: &NetSpec,
    params: &ParamMap,
    options: &LowerOptions,
) -> Result<Lowered, ExportError> {
    let t_steps = options.time_steps;
    let [c0, h0, w0] = options.input_shape;
    if t_steps == 0 || c0 == 0 || h0 == 0 || w0 == 0 {
        return Err(ExportError::Invalid(format!(
            "time steps {t_steps} and input shape {:?} must be positive",
            options.input_shape
        )));
    }
    let t_i64 = t_steps as i64;
    let mut g = GraphBuilder::default();
    g.add_input(
        INPUT_FRAMES,
        &[
            Dim::Symbolic("batch"),
            Dim::Fixed(t_i64),
            Dim::Fixed(c0 as i64),
            Dim::Fixed(h0 as i64),
            Dim::Fixed(w0 as i64),
        ],
    );

    // [N, T, C, H, W] -> [T, N, C, H, W] -> [T*N, C, H, W] (t-major rows, like tdLayer).
    let time_major = g.node(
        "Transpose",
        &[INPUT_FRAMES],
        vec![attr_ints("perm", &[1, 0, 2, 3, 4])],
        "time_major",
    );
    let fold_shape = g.init_i64("fold_shape", &[4], &[-1, c0 as i64, h0 as i64, w0 as i64]);
    let mut x = g.node("Reshape", &[&time_major, &fold_shape], vec![], "folded");
    let mut act = Act::Map {
        c: c0,
        h: h0,
        w: w0,
    };

    // outputs[j]: the node holding layer j's output (None inside a fused conv/subsample/bn group).
    let mut outputs: Vec<Option<(String, Act)>> = Vec::with_capacity(spec.layers.len());
    let mut i = 0;
    while i < spec.layers.len() {
        match &spec.layers[i] {
            LayerSpec::Conv {
                out,
                kernel,
                padding,
                bias,
            } => {
                let Act::Map { c, h, w } = act else {
                    return Err(ExportError::Invalid(format!(
                        "layer {i}: conv needs a [C, H, W] input"
                    )));
                };
                if *kernel == 0 || h + 2 * padding < *kernel || w + 2 * padding < *kernel {
                    return Err(ExportError::Invalid(format!(
                        "layer {i}: conv kernel {kernel}, padding {padding} does not fit a {h}x{w} input"
                    )));
                }
                let layer = LayerParams::of(params, i);
                let weight = layer.require_shaped(Conv::WEIGHT, &[*out, c, *kernel, *kernel])?;
                let mut wdata = weight.data.clone();
                let mut bdata = if *bias {
                    layer.require_shaped(Conv::BIAS, &[*out])?.data.clone()
                } else {
                    vec![0.0; *out]
                };
                let mut consumed = 1;
                // A following subsample is the conv's stride (output i of a stride-s conv is
                // output s·i of the stride-1 one).
                let stride = match spec.layers.get(i + 1) {
                    Some(LayerSpec::Subsample { stride }) if *stride > 0 => {
                        consumed += 1;
                        *stride
                    }
                    _ => 1,
                };
                // Fold a directly following BatchNorm: w' = w·γ/√(σ²+ε), b' = (b-μ)·γ/√(σ²+ε) + β.
                let folded = if let Some(LayerSpec::Bn) = spec.layers.get(i + consumed) {
                    let bn = bn_params(&LayerParams::of(params, i + consumed), &[*out])?;
                    fold_bn(&mut wdata, &mut bdata, &bn);
                    consumed += 1;
                    true
                } else {
                    false
                };
                let (k, p) = (*kernel as i64, *padding as i64);
                let wname = g.init_f32(
                    &format!("conv{i}_weight"),
                    &[*out as i64, c as i64, k, k],
                    &wdata,
                );
                let has_bias = *bias || folded;
                let bname =
                    has_bias.then(|| g.init_f32(&format!("conv{i}_bias"), &[*out as i64], &bdata));
                let mut inputs = vec![x.as_str(), wname.as_str()];
                if let Some(b) = &bname {
                    inputs.push(b);
                }
                let y = g.node(
                    "Conv",
                    &inputs,
                    vec![
                        attr_ints("kernel_shape", &[k, k]),
                        attr_ints("pads", &[p, p, p, p]),
                        attr_ints("strides", &[stride as i64, stride as i64]),
                    ],
                    &format!("conv{i}"),
                );
                x = y;
                act = Act::Map {
                    c: *out,
                    h: subsampled(h + 2 * padding - kernel + 1, stride),
                    w: subsampled(w + 2 * padding - kernel + 1, stride),
                };
                i += consumed;
            }
            LayerSpec::Bn => {
                let channels = match act {
                    Act::Map { c, .. } => c,
                    Act::Vec { f } => f,
                };
                let bn = bn_params(&LayerParams::of(params, i), &[channels])?;
                let d = [channels as i64];
                let scale = g.init_f32(&format!("bn{i}_scale"), &d, &bn.scale);
                let shift = g.init_f32(&format!("bn{i}_shift"), &d, &bn.shift);
                let mean = g.init_f32(&format!("bn{i}_mean"), &d, &bn.mean);
                let var = g.init_f32(&format!("bn{i}_var"), &d, &bn.var);
                x = g.node(
                    "BatchNormalization",
                    &[&x, &scale, &shift, &mean, &var],
                    vec![attr_float("epsilon", BN_EPS as f32)],
                    &format!("bn{i}"),
                );
                i += 1;
            }
            LayerSpec::Bntt => {
                // One BatchNorm per time step: cannot be folded into a shared conv, so it becomes a
                // per-step affine y = x·k[t,c] + (β - μ·k)[t,c] on the [T, N, C, H, W] view.
                let Act::Map { c, .. } = act else {
                    return Err(ExportError::Invalid(format!(
                        "layer {i}: bntt needs a [C, H, W] input"
                    )));
                };
                let bn = bn_params(&LayerParams::of(params, i), &[t_steps, c])?;
                let mut scale = Vec::with_capacity(t_steps * c);
                let mut shift = Vec::with_capacity(t_steps * c);
                for j in 0..t_steps * c {
                    let k = f64::from(bn.scale[j]) / (f64::from(bn.var[j]) + BN_EPS).sqrt();
                    scale.push(k as f32);
                    shift.push((f64::from(bn.shift[j]) - f64::from(bn.mean[j]) * k) as f32);
                }
                let d = [t_i64, 1, c as i64, 1, 1];
                let scale = g.init_f32(&format!("bntt{i}_scale"), &d, &scale);
                let shift = g.init_f32(&format!("bntt{i}_shift"), &d, &shift);
                let mut steps_dims = vec![t_i64, -1];
                steps_dims.extend(act.dims());
                let mut fold_dims = vec![-1];
                fold_dims.extend(act.dims());
                let steps_shape = g.init_i64(&format!("bntt{i}_steps_shape"), &[5], &steps_dims);
                let fold_shape = g.init_i64(&format!("bntt{i}_fold_shape"), &[4], &fold_dims);
                let steps = g.node(
                    "Reshape",
                    &[&x, &steps_shape],
                    vec![],
                    &format!("bntt{i}_steps"),
                );
                let scaled = g.node("Mul", &[&steps, &scale], vec![], &format!("bntt{i}_scaled"));
                let shifted = g.node(
                    "Add",
                    &[&scaled, &shift],
                    vec![],
                    &format!("bntt{i}_shifted"),
                );
                x = g.node(
                    "Reshape",
                    &[&shifted, &fold_shape],
                    vec![],
                    &format!("bntt{i}"),
                );
                i += 1;
            }
            LayerSpec::Lif => {
                x = lower_lif(&mut g, spec, params, i, &x, act, t_steps)?;
                i += 1;
            }
            LayerSpec::Avgpool { size } => {
                let Act::Map { c, h, w } = act else {
                    return Err(ExportError::Invalid(format!(
                        "layer {i}: avgpool needs a [C, H, W] input"
                    )));
                };
                if *size == 0 || *size > h || *size > w {
                    return Err(ExportError::Invalid(format!(
                        "layer {i}: avgpool {size} does not fit {h}x{w}"
                    )));
                }
                let s = *size as i64;
                x = g.node(
                    "AveragePool",
                    &[&x],
                    vec![
                        attr_ints("kernel_shape", &[s, s]),
                        attr_ints("strides", &[s, s]),
                    ],
                    &format!("pool{i}"),
                );
                act = Act::Map {
                    c,
                    h: h / size,
                    w: w / size,
                };
                i += 1;
            }
            LayerSpec::Flatten => {
                if let Act::Map { c, h, w } = act {
                    x = g.node(
                        "Flatten",
                        &[&x],
                        vec![attr_int("axis", 1)],
                        &format!("flatten{i}"),
                    );
                    act = Act::Vec { f: c * h * w };
                }
                i += 1;
            }
            LayerSpec::Linear { out, bias } => {
                let Act::Vec { f } = act else {
                    return Err(ExportError::Invalid(format!(
                        "layer {i}: linear needs a flat input (add a flatten layer)"
                    )));
                };
                let layer = LayerParams::of(params, i);
                let weight = layer.require_shaped(linear::WEIGHT, &[*out, f])?;
                let wname = g.init_f32(
                    &format!("linear{i}_weight"),
                    &[*out as i64, f as i64],
                    &weight.data,
                );
                let mut inputs = vec![x.clone(), wname];
                if *bias {
                    let b = layer.require_shaped(linear::BIAS, &[*out])?;
                    inputs.push(g.init_f32(&format!("linear{i}_bias"), &[*out as i64], &b.data));
                }
                let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                x = g.node(
                    "Gemm",
                    &refs,
                    vec![attr_int("transB", 1)],
                    &format!("linear{i}"),
                );
                act = Act::Vec { f: *out };
                i += 1;
            }
            LayerSpec::Subsample { stride } => {
                let Act::Map { c, h, w } = act else {
                    return Err(ExportError::Invalid(format!(
                        "layer {i}: subsample needs a [C, H, W] input"
                    )));
                };
                let s = *stride as i64;
                let starts = g.init_i64(&format!("sub{i}_starts"), &[2], &[0, 0]);
                let ends = g.init_i64(&format!("sub{i}_ends"), &[2], &[h as i64, w as i64]);
                let axes = g.init_i64(&format!("sub{i}_axes"), &[2], &[2, 3]);
                let steps = g.init_i64(&format!("sub{i}_steps"), &[2], &[s, s]);
                x = g.node(
                    "Slice",
                    &[&x, &starts, &ends, &axes, &steps],
                    vec![],
                    &format!("sub{i}"),
                );
                act = Act::Map {
                    c,
                    h: subsampled(h, *stride),
                    w: subsampled(w, *stride),
                };
                i += 1;
            }
            LayerSpec::Add { from, proj } => {
                let Some(Some((input, input_act))) = outputs.get(*from).cloned() else {
                    return Err(ExportError::Invalid(format!(
                        "layer {i}: the output of layer {from} is fused into a later layer's \
                         node and cannot feed a residual add"
                    )));
                };
                let short = match proj {
                    None => input,
                    Some(p) => lower_projection(&mut g, params, i, &input, input_act, p)?,
                };
                x = g.node("Add", &[&x, &short], vec![], &format!("add{i}"));
                i += 1;
            }
        }
        // The node (and its shape) that holds the output of layer i − 1, for residual adds.
        outputs.resize(i, None);
        outputs[i - 1] = Some((x.clone(), act));
    }

    let Act::Vec { f: num_classes } = act else {
        return Err(ExportError::Invalid(
            "the network must end with a linear layer producing logits".into(),
        ));
    };
    let k = num_classes as i64;
    let unfold = g.init_i64("logits_shape", &[3], &[t_i64, -1, k]);
    g.node_named("Reshape", &[&x, &unfold], &[OUTPUT_PER_STEP], vec![]);
    g.node_named(
        "ReduceMean",
        &[OUTPUT_PER_STEP],
        &[OUTPUT_MEAN],
        vec![attr_ints("axes", &[0]), attr_int("keepdims", 0)],
    );
    g.add_output(
        OUTPUT_PER_STEP,
        &[Dim::Fixed(t_i64), Dim::Symbolic("batch"), Dim::Fixed(k)],
    );
    g.add_output(OUTPUT_MEAN, &[Dim::Symbolic("batch"), Dim::Fixed(k)]);
    Ok(Lowered {
        graph: g.finish("spiketrain"),
        num_classes,
    })
}

/// The effective leak λ and threshold θ of LIF layer `layer` in eval mode.
///
/// A stored `param.<i>.decay` is the logit d (the reference keeps `d = logit(λ)` and applies
/// `sigmoid(d)` in float32); a stored `param.<i>.thresh` is clamped at 0 like the reference's forward.
pub fn lif_constants(
    spec: &NetSpec,
    params: &ParamMap,
    layer: usize,
) -> Result<(f32, f32), ExportError> {
    let layer_params = LayerParams::of(params, layer);
    let decay = match scalar_param(&layer_params, Lif::DECAY)? {
        Some(d) => (1.0 / (1.0 + (-f64::from(d)).exp())) as f32,
        None => fixed_leak(spec.neuron.decay) as f32,
    };
    let thresh = match scalar_param(&layer_params, Lif::THRESH)? {
        Some(t) => t.max(0.0),
        None => spec.neuron.thresh as f32,
    };
    if !decay.is_finite() || !thresh.is_finite() {
        return Err(ExportError::Invalid(format!(
            "layer {layer}: LIF decay {decay} / thresh {thresh} not finite"
        )));
    }
    if spec.neuron.reset != "hard" {
        return Err(ExportError::Invalid(format!(
            "layer {layer}: reset '{}' is not supported (only \"hard\")",
            spec.neuron.reset
        )));
    }
    Ok((decay, thresh))
}

/// Unrolls one LIF layer over T steps on the folded activation `x` (`[T*N, dims...]`).
fn lower_lif(
    g: &mut GraphBuilder,
    spec: &NetSpec,
    params: &ParamMap,
    layer: usize,
    x: &str,
    act: Act,
    t_steps: usize,
) -> Result<String, ExportError> {
    let (decay, thresh) = lif_constants(spec, params, layer)?;
    let dims = act.dims();
    let mut split_shape = vec![t_steps as i64, -1];
    split_shape.extend(&dims);
    let mut fold_shape = vec![-1];
    fold_shape.extend(&dims);

    let split_shape = g.init_i64(
        &format!("lif{layer}_steps_shape"),
        &[split_shape.len() as i64],
        &split_shape,
    );
    let fold_shape = g.init_i64(
        &format!("lif{layer}_fold_shape"),
        &[fold_shape.len() as i64],
        &fold_shape,
    );
    let sizes = g.init_i64(
        &format!("lif{layer}_split"),
        &[t_steps as i64],
        &vec![1; t_steps],
    );
    let decay = g.scalar_f32(&format!("lif{layer}_decay"), decay);
    let thresh = g.scalar_f32(&format!("lif{layer}_thresh"), thresh);
    let zero = g.scalar_f32(&format!("lif{layer}_zero"), 0.0);

    let steps = g.node(
        "Reshape",
        &[x, &split_shape],
        vec![],
        &format!("lif{layer}_steps"),
    );
    let currents = g.node_multi(
        "Split",
        &[&steps, &sizes],
        t_steps,
        vec![attr_int("axis", 0)],
        &format!("lif{layer}_i"),
    );
    let mut outputs = Vec::with_capacity(t_steps);
    let mut reset_u: Option<String> = None;
    for (t, current) in currents.iter().enumerate() {
        // u_0 = I_0 (the membrane starts at 0); afterwards u_t = λ·u_{t-1} + I_t.
        let u = match &reset_u {
            None => current.clone(),
            Some(prev) => {
                let leaked = g.node("Mul", &[prev, &decay], vec![], &format!("lif{layer}_leak"));
                g.node("Add", &[&leaked, current], vec![], &format!("lif{layer}_u"))
            }
        };
        let fired = g.node(
            "GreaterOrEqual",
            &[&u, &thresh],
            vec![],
            &format!("lif{layer}_fire"),
        );
        let spikes = g.node(
            "Cast",
            &[&fired],
            vec![attr_int("to", DataType::Float as i64)],
            &format!("lif{layer}_s"),
        );
        outputs.push(g.node(
            "Mul",
            &[&spikes, &thresh],
            vec![],
            &format!("lif{layer}_out"),
        ));
        if t + 1 < t_steps {
            reset_u = Some(g.node(
                "Where",
                &[&fired, &zero, &u],
                vec![],
                &format!("lif{layer}_reset"),
            ));
        }
    }
    let refs: Vec<&str> = outputs.iter().map(String::as_str).collect();
    let stacked = g.node(
        "Concat",
        &refs,
        vec![attr_int("axis", 0)],
        &format!("lif{layer}_stack"),
    );
    Ok(g.node(
        "Reshape",
        &[&stacked, &fold_shape],
        vec![],
        &format!("lif{layer}_folded"),
    ))
}
