//! Optimisers with PyTorch semantics (reference `split_params`): SGD with momentum (dampening 0,
//! no Nesterov, weight decay added to the gradient) for conv/linear/BN parameters, and Adam
//! (bias-corrected, eps 1e-8, no weight decay) for the LIF parameters. State is exposed as named
//! tensors for exact resume.
use std::collections::HashMap;

use candle_core::{backprop::GradStore, Tensor, Var};

use crate::config::TrainConfig;
use crate::error::Result;
use crate::network::model::Network;
use crate::network::vars::ParamGroup;

/// The two optimisers of the reference over the network's parameter groups: SGD (lr, momentum,
/// weight decay on conv/linear weights only) and Adam (width_lr) on the LIF parameters; BN
/// running statistics are not optimised. `total_steps` (optimiser steps of the whole run)
/// resolves `--width_lr auto`.
pub fn optimisers(net: &Network, cfg: &TrainConfig, total_steps: usize) -> (SgdMomentum, Adam) {
    let mut sgd = Vec::new();
    let mut adam = Vec::new();
    for v in net.vars() {
        let p = |wd: f64| OptParam {
            name: v.name.clone(),
            var: v.var.clone(),
            weight_decay: wd,
        };
        match v.group {
            ParamGroup::Weight => sgd.push(p(cfg.wd)),
            ParamGroup::NoDecay => sgd.push(p(0.0)),
            ParamGroup::Neuron => adam.push(p(0.0)),
            ParamGroup::Buffer => {}
        }
    }
    (
        SgdMomentum::new(sgd, cfg.lr, cfg.momentum),
        Adam::new(adam, cfg.width_lr.resolve(total_steps)),
    )
}

/// One parameter handled by an optimiser.
#[derive(Clone, Debug)]
pub struct OptParam {
    pub name: String,
    pub var: Var,
    /// L2 weight decay added to the gradient (0 for biases/BN).
    pub weight_decay: f64,
}

impl OptParam {
    /// The gradient with this parameter's L2 decay added: g + wd·w (g itself when wd = 0).
    fn decayed(&self, g: &Tensor, w: &Tensor) -> Result<Tensor> {
        Ok(if self.weight_decay != 0.0 {
            g.add(&w.affine(self.weight_decay, 0.0)?)?
        } else {
            g.clone()
        })
    }
}

/// SGD with momentum: b ← μ·b + (g + wd·w) (b = g + wd·w on the first step); w ← w − lr·b.
#[derive(Debug)]
pub struct SgdMomentum {
    params: Vec<OptParam>,
    momentum: f64,
    lr: f64,
    buffers: HashMap<String, Tensor>,
}

impl SgdMomentum {
    pub fn new(params: Vec<OptParam>, lr: f64, momentum: f64) -> Self {
        SgdMomentum {
            params,
            momentum,
            lr,
            buffers: HashMap::new(),
        }
    }

    pub fn lr(&self) -> f64 {
        self.lr
    }

    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Applies one step; parameters without a gradient are skipped (as PyTorch does).
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        for p in &self.params {
            let Some(g) = grads.get(p.var.as_tensor()) else {
                continue;
            };
            let w = p.var.as_tensor().detach();
            let g = p.decayed(g, &w)?;
            let buf = match self.buffers.get(&p.name) {
                Some(b) if self.momentum != 0.0 => b.affine(self.momentum, 0.0)?.add(&g)?,
                _ => g,
            };
            p.var.set(&w.sub(&buf.affine(self.lr, 0.0)?)?)?;
            self.buffers.insert(p.name.clone(), buf);
        }
        Ok(())
    }

    /// Momentum buffers by parameter name.
    pub fn state(&self) -> &HashMap<String, Tensor> {
        &self.buffers
    }

    /// Restores momentum buffers.
    pub fn load_state(&mut self, buffers: HashMap<String, Tensor>) {
        self.buffers = buffers;
    }
}

/// Adam (PyTorch): m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g²,
/// w ← w − (lr/(1−β₁ᵗ))·m / (√v/√(1−β₂ᵗ) + ε).
#[derive(Debug)]
pub struct Adam {
    params: Vec<OptParam>,
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    step: u64,
    m: HashMap<String, Tensor>,
    v: HashMap<String, Tensor>,
}

impl Adam {
    pub fn new(params: Vec<OptParam>, lr: f64) -> Self {
        Adam {
            params,
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            step: 0,
            m: HashMap::new(),
            v: HashMap::new(),
        }
    }

    /// Number of steps taken.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Applies one step to every parameter that has a gradient.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        if self.params.is_empty() {
            return Ok(());
        }
        self.step += 1;
        let t = self.step as i32;
        let bc1 = 1.0 - self.beta1.powi(t);
        let bc2_sqrt = (1.0 - self.beta2.powi(t)).sqrt();
        for p in &self.params {
            let Some(g) = grads.get(p.var.as_tensor()) else {
                continue;
            };
            let w = p.var.as_tensor().detach();
            let g = p.decayed(g, &w)?;
            let m = match self.m.get(&p.name) {
                Some(m) => m
                    .affine(self.beta1, 0.0)?
                    .add(&g.affine(1.0 - self.beta1, 0.0)?)?,
                None => g.affine(1.0 - self.beta1, 0.0)?,
            };
            let g2 = g.sqr()?.affine(1.0 - self.beta2, 0.0)?;
            let v = match self.v.get(&p.name) {
                Some(v) => v.affine(self.beta2, 0.0)?.add(&g2)?,
                None => g2,
            };
            let denom = v.sqrt()?.affine(1.0 / bc2_sqrt, self.eps)?;
            let update = m.div(&denom)?.affine(self.lr / bc1, 0.0)?;
            p.var.set(&w.sub(&update)?)?;
            self.m.insert(p.name.clone(), m);
            self.v.insert(p.name.clone(), v);
        }
        Ok(())
    }

    /// First and second moments by parameter name.
    pub fn state(&self) -> (&HashMap<String, Tensor>, &HashMap<String, Tensor>) {
        (&self.m, &self.v)
    }

    /// Restores moments and the step count.
    pub fn load_state(
        &mut self,
        m: HashMap<String, Tensor>,
        v: HashMap<String, Tensor>,
        step: u64,
    ) {
        self.m = m;
        self.v = v;
        self.step = step;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn sgd_matches_pytorch_recurrence() {
        let w = Var::new(&[1.0f32, -2.0], &Device::Cpu).unwrap();
        let mut opt = SgdMomentum::new(
            vec![OptParam {
                name: "w".into(),
                var: w.clone(),
                weight_decay: 0.1,
            }],
            0.5,
            0.9,
        );
        // loss = sum(w^2) → g = 2w
        let mut expect = [1.0f64, -2.0];
        let mut buf = [0.0f64; 2];
        for step in 0..3 {
            let loss = w.as_tensor().sqr().unwrap().sum_all().unwrap();
            let grads = loss.backward().unwrap();
            opt.step(&grads).unwrap();
            for i in 0..2 {
                let g = 2.0 * expect[i] + 0.1 * expect[i];
                buf[i] = if step == 0 { g } else { 0.9 * buf[i] + g };
                expect[i] -= 0.5 * buf[i];
            }
        }
        let got = w.as_tensor().to_vec1::<f32>().unwrap();
        for i in 0..2 {
            assert!(
                (got[i] as f64 - expect[i]).abs() < 1e-4,
                "{got:?} vs {expect:?}"
            );
        }
    }

    #[test]
    fn adam_first_step_moves_by_lr() {
        // With bias correction the first Adam step is lr·sign(g) (up to eps).
        let w = Var::new(&[3.0f32, -1.0], &Device::Cpu).unwrap();
        let mut opt = Adam::new(
            vec![OptParam {
                name: "w".into(),
                var: w.clone(),
                weight_decay: 0.0,
            }],
            0.01,
        );
        let loss = w.as_tensor().sqr().unwrap().sum_all().unwrap();
        opt.step(&loss.backward().unwrap()).unwrap();
        let got = w.as_tensor().to_vec1::<f32>().unwrap();
        assert!(
            (got[0] - 2.99).abs() < 1e-6 && (got[1] + 0.99).abs() < 1e-6,
            "{got:?}"
        );
    }
}
