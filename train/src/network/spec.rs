//! Network specification (Contract 3): a `neuron` block shared by every LIF layer plus an ordered
//! list of `layers`, exactly the shape of `../shared/golden/asgl/*.json`. Also builds VGGSNN2 and
//! small `vgg:<spec>` networks as layer lists, with the classifier input size derived from the data.
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// Shape of the surrogate forward function H_α.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SurrogateKind {
    /// H(x) = clamp(e^a·x + 1/2, 0, 1), stored parameter a = ln(1/w) (reference `InvRectangle`).
    Rectangle,
    /// H(x) = sigmoid(k·x), stored parameter k = 1/w (reference `InvSigmoid`).
    Sigmoid,
}

/// How the spike function mixes the Heaviside step Θ and the surrogate H_α in training.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SpikeMode {
    /// ASGL hybrid noisy spike (`EfficientNoisySpikeII`): analog H_α with probability p, else Θ.
    #[default]
    Noisy,
    /// Plain surrogate-gradient baseline (`EfficientNoisySpike`): forward Θ, backward h_α.
    StraightThrough,
}

fn default_reset() -> String {
    "hard".to_string()
}

/// Parameters shared by every LIF layer (`neuron` block of the golden JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NeuronSpec {
    /// Leak λ; stored as the logit d = ln(λ/(1−λ)), effective leak sigmoid(d) in float32.
    pub decay: f64,
    /// Firing threshold θ; the layer output is θ·s.
    pub thresh: f64,
    /// Only `"hard"` (u ← u·(1−s)) exists in the reference.
    #[serde(default = "default_reset")]
    pub reset: String,
    /// Surrogate shape.
    pub surrogate: SurrogateKind,
    /// Width w (CLI `--alpha`); the stored parameter is derived from it.
    pub width: f64,
    /// p: probability of ANALOG mode in training (0 = pure SG SNN, 1 = pure ANN with activation H_α).
    pub noise_p: f64,
    /// Whether the surrogate parameter is learnable (`--train_width`).
    pub train_width: bool,
    /// Whether the decay logit d is learnable (`--train_decay`).
    #[serde(default)]
    pub train_decay: bool,
    /// Whether θ is learnable (`--train_thresh`, clamped to ≥ 0 before every forward).
    #[serde(default)]
    pub train_thresh: bool,
    /// Hybrid noisy spike or plain straight-through SG.
    #[serde(default)]
    pub spike: SpikeMode,
}

impl NeuronSpec {
    /// The neuron of the published DVS run: λ = 0.5, θ = 0.5, hard reset, rectangle H_α with
    /// w = 1 (learnable), hybrid noisy spike with p = 0.1.
    pub fn published_dvs() -> Self {
        NeuronSpec {
            decay: 0.5,
            thresh: 0.5,
            reset: "hard".into(),
            surrogate: SurrogateKind::Rectangle,
            width: 1.0,
            noise_p: 0.1,
            train_width: true,
            train_decay: false,
            train_thresh: false,
            spike: SpikeMode::Noisy,
        }
    }
}

/// One layer of the network, tagged by `op` as in the golden JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum LayerSpec {
    /// Conv2d, stride 1, applied per time step.
    Conv {
        out: usize,
        kernel: usize,
        padding: usize,
        bias: bool,
    },
    /// BatchNorm2d over the folded T·B batch (the reference's `tdbn`).
    Bn,
    /// One BatchNorm2d per time step (the reference's `bntt`).
    Bntt,
    /// Multi-step LIF layer.
    Lif,
    /// AvgPool2d(size, stride = size) per time step.
    Avgpool { size: usize },
    /// [T, B, C, H, W] → [T, B, C·H·W] in (C, H, W) order.
    Flatten,
    /// Linear per time step.
    Linear { out: usize, bias: bool },
    /// Keeps every `stride`-th row and column (rows 0, s, 2s, …): a stride-s k×k convolution
    /// with padding (k−1)/2 is exactly the stride-1 one followed by this (ResNet down-sampling).
    Subsample { stride: usize },
    /// Residual add (the reference `BasicBlock`'s `out += shortcut(x)`): adds the output of
    /// layer `from` — through the projection `proj` when given — to the current activation.
    Add {
        from: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proj: Option<Projection>,
    },
}

/// The shortcut projection of a residual add (reference `BasicBlock.shortcut`): a bias-free
/// 1×1 convolution with stride `stride` to `out` channels, then the block's BN (`norm`).
/// Its tensors are `param.<i>.conv.weight` and `param.<i>.bn.*`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    pub out: usize,
    pub stride: usize,
    pub norm: BnType,
}

/// Prefix (under the add layer's `param.<i>`) of the projection's convolution.
pub const PROJ_CONV: &str = "conv";
/// Prefix (under the add layer's `param.<i>`) of the projection's batch norm.
pub const PROJ_BN: &str = "bn";

/// Output size of keeping every `stride`-th element of `n`: ⌈n / stride⌉.
pub fn subsampled(n: usize, stride: usize) -> usize {
    n.div_ceil(stride)
}

/// A complete network: input geometry, neuron block and layer list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetSpec {
    /// Number of time steps T (must equal the number of frames).
    pub time_steps: usize,
    /// Per-step input shape [C, H, W].
    pub input_shape: [usize; 3],
    /// Number of classes K (the last linear layer's `out`).
    pub num_classes: usize,
    /// Shared LIF parameters.
    pub neuron: NeuronSpec,
    /// Layers in order; parameter names use the position `i` in this list.
    pub layers: Vec<LayerSpec>,
}

/// Batch-norm flavour inserted after each convolution (`--bn_type`); serialised as its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BnType {
    Tdbn,
    Bntt,
    None,
}

impl std::str::FromStr for BnType {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "tdbn" => Ok(BnType::Tdbn),
            "bntt" => Ok(BnType::Bntt),
            "none" | "" => Ok(BnType::None),
            other => Err(format!("unknown bn_type `{other}` (tdbn, bntt, none)")),
        }
    }
}

impl std::fmt::Display for BnType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BnType::Tdbn => "tdbn",
            BnType::Bntt => "bntt",
            BnType::None => "none",
        })
    }
}

dvs_frames::settings::serde_via_str!(BnType);

/// The VGGSNN2 feature configuration: channel counts, `0` = 2×2 average pool.
pub const VGGSNN2_CFG: &[usize] = &[64, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0];

/// Parses a VGG feature string such as `"8,P,16,P"` (channels, `P` = avgpool 2).
pub fn parse_vgg_cfg(spec: &str) -> Result<Vec<usize>> {
    spec.split(',')
        .map(|tok| {
            let tok = tok.trim();
            if tok.eq_ignore_ascii_case("p") {
                Ok(0)
            } else {
                tok.parse::<usize>()
                    .ok()
                    .filter(|&c| c > 0)
                    .ok_or_else(|| TrainError::Spec(format!("bad vgg entry `{tok}` in `{spec}`")))
            }
        })
        .collect()
}

/// Builds the layer list of a VGG-style SNN: for each channel entry conv3x3(no bias) [+ BN] + LIF,
/// for each `0` an avgpool 2, then flatten and a bias-free linear classifier whose input size
/// follows from `input_shape` (the reference hard-codes 4608 = 512·3·3 for 48×48 input).
pub fn vgg_layers(cfg: &[usize], bn: BnType, num_classes: usize) -> Vec<LayerSpec> {
    let mut layers = Vec::new();
    for &c in cfg {
        if c == 0 {
            layers.push(LayerSpec::Avgpool { size: 2 });
            continue;
        }
        layers.push(LayerSpec::Conv {
            out: c,
            kernel: 3,
            padding: 1,
            bias: false,
        });
        match bn {
            BnType::Tdbn => layers.push(LayerSpec::Bn),
            BnType::Bntt => layers.push(LayerSpec::Bntt),
            BnType::None => {}
        }
        layers.push(LayerSpec::Lif);
    }
    layers.push(LayerSpec::Flatten);
    layers.push(LayerSpec::Linear {
        out: num_classes,
        bias: false,
    });
    layers
}

/// Per-layer activation shape (per sample and time step) while walking a layer list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActShape {
    /// [C, H, W]
    Map([usize; 3]),
    /// [features]
    Flat(usize),
}

impl NetSpec {
    /// The VGGSNN2 network of the reference's DVS run for the given input geometry.
    pub fn vggsnn2(
        time_steps: usize,
        input_shape: [usize; 3],
        num_classes: usize,
        neuron: NeuronSpec,
        bn: BnType,
    ) -> Self {
        NetSpec {
            time_steps,
            input_shape,
            num_classes,
            neuron,
            layers: vgg_layers(VGGSNN2_CFG, bn, num_classes),
        }
    }

    /// Walks the layers and returns the activation shape *before* each layer plus the final one,
    /// checking that every op fits its input.
    pub fn shapes(&self) -> Result<Vec<ActShape>> {
        let mut shape = ActShape::Map(self.input_shape);
        let mut out = Vec::with_capacity(self.layers.len() + 1);
        for (i, layer) in self.layers.iter().enumerate() {
            out.push(shape.clone());
            let bad = |what: &str| TrainError::Spec(format!("layer {i} ({layer:?}): {what}"));
            shape = match (layer, &shape) {
                (
                    LayerSpec::Conv {
                        out,
                        kernel,
                        padding,
                        ..
                    },
                    ActShape::Map([_, h, w]),
                ) => {
                    let oh = (h + 2 * padding)
                        .checked_sub(*kernel)
                        .ok_or_else(|| bad("kernel larger than input"))?
                        + 1;
                    let ow = (w + 2 * padding)
                        .checked_sub(*kernel)
                        .ok_or_else(|| bad("kernel larger than input"))?
                        + 1;
                    ActShape::Map([*out, oh, ow])
                }
                (LayerSpec::Bn | LayerSpec::Bntt, ActShape::Map(s)) => ActShape::Map(*s),
                (LayerSpec::Lif, s) => s.clone(),
                (LayerSpec::Avgpool { size }, ActShape::Map([c, h, w])) => {
                    if *size == 0 || h / size == 0 || w / size == 0 {
                        return Err(bad("pool larger than input"));
                    }
                    ActShape::Map([*c, h / size, w / size])
                }
                (LayerSpec::Flatten, ActShape::Map([c, h, w])) => ActShape::Flat(c * h * w),
                (LayerSpec::Linear { out, .. }, ActShape::Flat(_)) => ActShape::Flat(*out),
                (LayerSpec::Subsample { stride }, ActShape::Map([c, h, w])) => {
                    if *stride == 0 {
                        return Err(bad("stride 0"));
                    }
                    ActShape::Map([*c, subsampled(*h, *stride), subsampled(*w, *stride)])
                }
                (LayerSpec::Add { from, proj }, ActShape::Map(_)) => {
                    if *from >= i {
                        return Err(bad("adds the output of a layer that is not before it"));
                    }
                    let short = match (proj, &out[*from + 1]) {
                        (None, s) => s.clone(),
                        (Some(p), ActShape::Map([_, h, w])) if p.stride > 0 => ActShape::Map([
                            p.out,
                            subsampled(*h, p.stride),
                            subsampled(*w, p.stride),
                        ]),
                        (Some(_), s) => {
                            return Err(bad(&format!("cannot project shortcut input {s:?}")))
                        }
                    };
                    if short != shape {
                        return Err(bad(&format!(
                            "shortcut {short:?} does not match the block output {shape:?}"
                        )));
                    }
                    shape.clone()
                }
                _ => return Err(bad(&format!("does not accept input {shape:?}"))),
            };
        }
        match &shape {
            ActShape::Flat(k) if *k == self.num_classes => {}
            other => {
                return Err(TrainError::Spec(format!(
                    "network output {other:?} is not [{}] logits",
                    self.num_classes
                )))
            }
        }
        out.push(shape);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn neuron() -> NeuronSpec {
        NeuronSpec::published_dvs()
    }

    #[test]
    fn vggsnn2_classifier_input_is_4608_for_48x48() {
        let spec = NetSpec::vggsnn2(10, [2, 48, 48], 10, neuron(), BnType::Tdbn);
        let shapes = spec.shapes().unwrap();
        let flat_idx = spec
            .layers
            .iter()
            .position(|l| *l == LayerSpec::Flatten)
            .unwrap();
        assert_eq!(shapes[flat_idx + 1], ActShape::Flat(4608));
        assert_eq!(
            spec.layers.iter().filter(|l| **l == LayerSpec::Lif).count(),
            8
        );
    }

    #[test]
    fn vgg_spec_parses_and_rejects_garbage() {
        assert_eq!(parse_vgg_cfg("8,P,16,p").unwrap(), vec![8, 0, 16, 0]);
        assert!(parse_vgg_cfg("8,x").is_err());
        assert!(parse_vgg_cfg("0").is_err());
    }
}
