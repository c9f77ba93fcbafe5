//! The per-step linear layer (the VGG classifier): candle-nn's [`Linear`] over the folded
//! [T·B, features] activations, with its parameters loaded through the layer's prefix.
use candle_nn::Linear;

use crate::error::Result;
use crate::layers::conv::bias_init;
use crate::network::vars::{ParamGroup, ParamInit, Vars};

/// Name of the weight [out, in] under the layer's prefix.
pub const WEIGHT: &str = "weight";
/// Name of the optional bias [out].
pub const BIAS: &str = "bias";

/// Creates a linear layer's parameters through `vars`: weight [out, in_features] from `init`
/// (weight decay), bias [out] when `bias` (no decay; [`bias_init`] of `init`).
pub fn load(
    vars: &Vars,
    in_features: usize,
    out: usize,
    bias: bool,
    init: ParamInit,
) -> Result<Linear> {
    let weight = vars.var(WEIGHT, &[out, in_features], init, ParamGroup::Weight)?;
    let bias = bias
        .then(|| vars.var(BIAS, &[out], bias_init(init), ParamGroup::NoDecay))
        .transpose()?;
    Ok(Linear::new(
        weight.as_tensor().clone(),
        bias.map(|b| b.as_tensor().clone()),
    ))
}
