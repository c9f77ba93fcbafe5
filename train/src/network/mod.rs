//! The network: what it is ([`spec`], Contract 3: the neuron block and the layer list, as in the
//! golden cases), where its tensors live ([`vars`]: the parameter store that hands each layer a
//! prefix `param.<i>` to load its own parameters through), and how it is built and run
//! ([`model`]: [`model::Network`], input [T, B, C, H, W] → per-step logits [T, B, K]).
pub mod model;
pub mod resnet;
pub mod spec;
pub mod vars;
