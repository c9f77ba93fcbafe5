//! The reference's spiking ResNets (`model/resnet.py`: `ResNet` with `BasicBlock` [2, 2, 2, 2]
//! = ResNet-18, and `ResNet19` [3, 3, 2]) as layer lists of the spec, plus the two pieces a
//! residual network adds to a VGG: [`subsample`] (stride-s down-sampling) and the [`Shortcut`]
//! projection of a residual add.
//!
//! A `BasicBlock(in, planes, stride)` becomes
//! `conv3x3(planes) [subsample(stride)] bn lif conv3x3(planes) bn add(from = block input,
//! proj = conv1x1(stride) + bn when stride ≠ 1 or in ≠ planes) lif`: the reference's
//! `spike2(bn2(conv2(spike1(bn1(conv1(x))))) + shortcut(x))`. A stride-s 3×3 convolution with
//! padding 1 equals the stride-1 one with every s-th output kept, so down-sampling is a layer of
//! its own and the stride-1 CPU convolution kernel serves every convolution.
use candle_core::{Tensor, D};

use crate::error::Result;
use crate::layers::conv::Conv;
use crate::layers::norm::BatchNorm;
use crate::network::spec::{subsampled, BnType, LayerSpec, Projection, PROJ_BN, PROJ_CONV};
use crate::network::vars::{ParamInit, Vars};

/// Keeps rows and columns 0, s, 2s, … of `x` [N, C, H, W] (gradient: scattered back).
pub fn subsample(x: &Tensor, stride: usize) -> Result<Tensor> {
    if stride == 1 {
        return Ok(x.clone());
    }
    let (_, _, h, w) = x.dims4()?;
    let pick = |n: usize| -> Result<Tensor> {
        let idx: Vec<u32> = (0..n).step_by(stride).map(|i| i as u32).collect();
        Ok(Tensor::new(idx.as_slice(), x.device())?)
    };
    Ok(x.index_select(&pick(h)?, D::Minus2)?
        .index_select(&pick(w)?, D::Minus1)?)
}

/// The shortcut projection of a residual add: subsample by the stride, bias-free 1×1 conv,
/// then the block's batch norm (none for `bn_type none`).
#[derive(Clone, Debug)]
pub struct Shortcut {
    stride: usize,
    conv: Conv,
    norm: Option<BatchNorm>,
}

impl Shortcut {
    /// Creates the projection's tensors through `vars` (the add layer's prefix):
    /// `conv.weight` [out, in_channels, 1, 1] from `init`, and `bn.*` for the norm.
    pub fn load(
        vars: &Vars,
        in_channels: usize,
        proj: &Projection,
        time_steps: usize,
        init: ParamInit,
    ) -> Result<Self> {
        let conv = Conv::load(
            &vars.pp(PROJ_CONV),
            in_channels,
            proj.out,
            1,
            0,
            false,
            init,
        )?;
        let norm = match proj.norm {
            BnType::Tdbn => Some(BatchNorm::load(&vars.pp(PROJ_BN), proj.out, 1)?),
            BnType::Bntt => Some(BatchNorm::load(&vars.pp(PROJ_BN), proj.out, time_steps)?),
            BnType::None => None,
        };
        Ok(Shortcut {
            stride: proj.stride,
            conv,
            norm,
        })
    }

    /// Chooses the fused CPU BatchNorm (see [`BatchNorm::set_fused`]).
    pub fn set_fused_bn(&mut self, fused: bool) {
        if let Some(bn) = &mut self.norm {
            bn.set_fused(fused);
        }
    }

    /// The projected shortcut of `x` ([T·B, C, H, W]).
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let y = candle_core::Module::forward(&self.conv, &subsample(x, self.stride)?)?;
        match &self.norm {
            Some(bn) => bn.forward(&y, train),
            None => Ok(y),
        }
    }
}

/// Which of the reference's ResNets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResNetDepth {
    /// `ResNet(BasicBlock, [2, 2, 2, 2])`, widths 64-128-256-512, linear classifier with bias.
    R18,
    /// `ResNet19(BasicBlock, [3, 3, 2])`, widths 128-256-512, classifier
    /// linear(256, no bias) – LIF – linear(K, no bias).
    R19,
}

impl ResNetDepth {
    /// The reference's first-layer width (64 for ResNet-18, 128 for ResNet-19).
    pub fn reference_width(self) -> usize {
        match self {
            ResNetDepth::R18 => 64,
            ResNetDepth::R19 => 128,
        }
    }

    /// Blocks per stage and the stage strides.
    fn stages(self) -> (&'static [usize], &'static [usize]) {
        match self {
            ResNetDepth::R18 => (&[2, 2, 2, 2], &[1, 2, 2, 2]),
            ResNetDepth::R19 => (&[3, 3, 2], &[1, 2, 2]),
        }
    }
}

fn push_bn(layers: &mut Vec<LayerSpec>, bn: BnType) {
    match bn {
        BnType::Tdbn => layers.push(LayerSpec::Bn),
        BnType::Bntt => layers.push(LayerSpec::Bntt),
        BnType::None => {}
    }
}

fn conv3x3(out: usize) -> LayerSpec {
    LayerSpec::Conv {
        out,
        kernel: 3,
        padding: 1,
        bias: false,
    }
}

/// Appends one `BasicBlock(in_planes → planes, stride)`; the block input is the output of the
/// last layer already in `layers`.
pub fn basic_block(
    layers: &mut Vec<LayerSpec>,
    in_planes: usize,
    planes: usize,
    stride: usize,
    bn: BnType,
) {
    let input = layers.len() - 1;
    layers.push(conv3x3(planes));
    if stride != 1 {
        layers.push(LayerSpec::Subsample { stride });
    }
    push_bn(layers, bn);
    layers.push(LayerSpec::Lif);
    layers.push(conv3x3(planes));
    push_bn(layers, bn);
    let proj = (stride != 1 || in_planes != planes).then_some(Projection {
        out: planes,
        stride,
        norm: bn,
    });
    layers.push(LayerSpec::Add { from: input, proj });
    layers.push(LayerSpec::Lif);
}

/// The layer list of the reference ResNet (`depth`) whose first layer has `width` channels
/// (the reference: [`ResNetDepth::reference_width`]; stages double it), for `hw` = [H, W]
/// inputs (the final adaptive 1×1 average pool is a pool over the whole last map, which must
/// be square) and `num_classes` classes.
pub fn resnet_layers(
    depth: ResNetDepth,
    width: usize,
    bn: BnType,
    hw: [usize; 2],
    num_classes: usize,
) -> Vec<LayerSpec> {
    let (blocks, strides) = depth.stages();
    let mut layers = vec![conv3x3(width)];
    push_bn(&mut layers, bn);
    layers.push(LayerSpec::Lif);
    let (mut in_planes, mut side) = (width, hw);
    for (stage, (&n, &stride)) in blocks.iter().zip(strides).enumerate() {
        let planes = width << stage;
        for b in 0..n {
            let s = if b == 0 { stride } else { 1 };
            basic_block(&mut layers, in_planes, planes, s, bn);
            side = [subsampled(side[0], s), subsampled(side[1], s)];
            in_planes = planes;
        }
    }
    layers.push(LayerSpec::Avgpool { size: side[0] });
    layers.push(LayerSpec::Flatten);
    match depth {
        ResNetDepth::R18 => layers.push(LayerSpec::Linear {
            out: num_classes,
            bias: true,
        }),
        ResNetDepth::R19 => {
            layers.push(LayerSpec::Linear {
                out: 256,
                bias: false,
            });
            layers.push(LayerSpec::Lif);
            layers.push(LayerSpec::Linear {
                out: num_classes,
                bias: false,
            });
        }
    }
    layers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::spec::{ActShape, NetSpec, NeuronSpec};

    fn spec(depth: ResNetDepth, width: usize) -> NetSpec {
        NetSpec {
            time_steps: 2,
            input_shape: [3, 32, 32],
            num_classes: 100,
            neuron: NeuronSpec::published_dvs(),
            layers: resnet_layers(depth, width, BnType::Tdbn, [32, 32], 100),
        }
    }

    #[test]
    fn resnet18_has_the_reference_shape() {
        let s = spec(ResNetDepth::R18, 64);
        let shapes = s.shapes().unwrap();
        let count = |f: &dyn Fn(&LayerSpec) -> bool| s.layers.iter().filter(|l| f(l)).count();
        // conv0 + 8 blocks × 2 convs (+ 3 projections inside the adds) + linear = 18 weights.
        assert_eq!(count(&|l| matches!(l, LayerSpec::Conv { .. })), 17);
        assert_eq!(
            count(&|l| matches!(l, LayerSpec::Add { proj: Some(_), .. })),
            3
        );
        assert_eq!(count(&|l| *l == LayerSpec::Lif), 17);
        let pool = s
            .layers
            .iter()
            .position(|l| matches!(l, LayerSpec::Avgpool { .. }))
            .unwrap();
        assert_eq!(shapes[pool], ActShape::Map([512, 4, 4]));
    }

    #[test]
    fn resnet19_has_the_reference_shape() {
        let s = spec(ResNetDepth::R19, 128);
        let shapes = s.shapes().unwrap();
        let pool = s
            .layers
            .iter()
            .position(|l| matches!(l, LayerSpec::Avgpool { .. }))
            .unwrap();
        assert_eq!(shapes[pool], ActShape::Map([512, 8, 8]));
        assert_eq!(
            s.layers.iter().filter(|l| **l == LayerSpec::Lif).count(),
            1 + 8 * 2 + 1
        );
    }

    #[test]
    fn a_shortcut_that_does_not_fit_is_a_spec_error() {
        let mut s = spec(ResNetDepth::R18, 8);
        let add = s
            .layers
            .iter()
            .position(|l| matches!(l, LayerSpec::Add { proj: Some(_), .. }))
            .unwrap();
        s.layers[add] = LayerSpec::Add {
            from: 2,
            proj: None,
        };
        let err = s.shapes().unwrap_err().to_string();
        assert!(err.contains("shortcut"), "{err}");
    }
}
