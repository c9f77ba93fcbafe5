//! BatchNorm + LIF as one CPU graph node (`asgl_train::neuron::bn_lif`) against the same two
//! layers as two nodes (fused BN op, then fused LIF op): the same kernels in the same order, so
//! everything must be bit-identical — the op's output and its three gradients on their own, and
//! in a network (tdBN and BNTT blocks, learnable width, decay and threshold, noisy spikes, f32
//! and f64) the logits, every LIF output, the spike sums, every parameter gradient and the BN
//! running estimates after the step.
use std::sync::{Arc, Mutex};

use asgl_train::fit::loss::TetLoss;
use asgl_train::layers::fused_bn::batch_norm_train;
use asgl_train::network::model::Network;
use asgl_train::network::spec::{LayerSpec, NetSpec, NeuronSpec, SpikeMode, SurrogateKind};
use asgl_train::network::vars::ParamGroup;
use asgl_train::neuron::bn_lif::bn_lif_train;
use asgl_train::neuron::fused_lif::{FusedLif, FusedLifConfig, SpikeMix};
use asgl_train::neuron::spike::ForwardCtx;
use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const T: usize = 4;
const B: usize = 3;

fn bits(t: &Tensor) -> Vec<u64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

fn random(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.random_range(-1.5..2.0)).collect()
}

#[test]
fn the_op_equals_bn_then_lif_bit_for_bit() {
    for (dtype, groups) in [
        (DType::F32, 1),
        (DType::F64, 1),
        (DType::F32, T),
        (DType::F64, T),
    ] {
        let (n, c, h, w) = (T * B, 3, 4, 5);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let var = |rng: &mut ChaCha8Rng, len: usize, shape: &[usize]| {
            let t = Tensor::from_vec(random(rng, len), shape, &Device::Cpu).unwrap();
            Var::from_tensor(&t.to_dtype(dtype).unwrap()).unwrap()
        };
        let x = var(&mut rng, n * c * h * w, &[n, c, h, w]);
        let gamma = var(&mut rng, groups * c, &[groups * c]);
        let beta = var(&mut rng, groups * c, &[groups * c]);
        let raw = var(&mut rng, 3, &[3]);
        let mask: Vec<u8> = (0..n * c * h * w)
            .map(|_| rng.random_range(0..2u8))
            .collect();
        let lif = || {
            FusedLif::new(
                FusedLifConfig {
                    time_steps: T,
                    surrogate: SurrogateKind::Rectangle,
                    decay_is_logit: true,
                    mix: SpikeMix::Masked(mask.clone()),
                },
                Arc::new(Mutex::new(0.0)),
            )
        };
        let r = Tensor::rand(0f64, 1f64, (n, c, h, w), &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        let (one, s1) = bn_lif_train(
            x.as_tensor(),
            (gamma.as_tensor(), beta.as_tensor()),
            groups,
            1e-5,
            lif(),
            raw.as_tensor(),
        )
        .unwrap();
        let (y, s2) = batch_norm_train(
            x.as_tensor(),
            gamma.as_tensor(),
            beta.as_tensor(),
            groups,
            1e-5,
        )
        .unwrap();
        let two = y.apply_op2(raw.as_tensor(), lif()).unwrap();
        assert_eq!(bits(&one), bits(&two), "{dtype:?} G={groups}: outputs");
        assert!(bits(&one).iter().any(|&b| b != 0), "never fires");
        assert_eq!((&s1.mean, &s1.var, s1.count), (&s2.mean, &s2.var, s2.count));
        let g1 = (&one * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let g2 = (&two * &r).unwrap().sum_all().unwrap().backward().unwrap();
        for (name, v) in [("x", &x), ("γ", &gamma), ("β", &beta), ("α, d, θ", &raw)] {
            let a = bits(g1.get(v.as_tensor()).unwrap());
            assert_eq!(
                a,
                bits(g2.get(v.as_tensor()).unwrap()),
                "{dtype:?} G={groups}: d{name}"
            );
            assert!(
                a.iter().any(|&b| b != 0),
                "{dtype:?} G={groups}: d{name} all zero"
            );
        }
    }
}

fn spec(neuron: NeuronSpec) -> NetSpec {
    let conv = |out| LayerSpec::Conv {
        out,
        kernel: 3,
        padding: 1,
        bias: false,
    };
    NetSpec {
        time_steps: T,
        input_shape: [2, 6, 6],
        num_classes: 3,
        neuron,
        layers: vec![
            conv(4),
            LayerSpec::Bn,
            LayerSpec::Lif,
            conv(4),
            LayerSpec::Bntt,
            LayerSpec::Lif,
            LayerSpec::Avgpool { size: 2 },
            LayerSpec::Flatten,
            LayerSpec::Linear {
                out: 3,
                bias: false,
            },
        ],
    }
}

struct Run {
    logits: Vec<u64>,
    lif: Vec<(usize, Vec<u64>)>,
    spike_sums: Vec<(usize, f64, usize)>,
    grads: Vec<(String, Vec<u64>)>,
    buffers: Vec<(String, Vec<u64>)>,
}

fn run(neuron: &NeuronSpec, dtype: DType, one_node: bool) -> Run {
    let mut net = Network::new(spec(neuron.clone()), dtype, &Device::Cpu, 7).unwrap();
    net.set_fused_bn_lif(one_node);
    let mut data_rng = ChaCha8Rng::seed_from_u64(11);
    let x = random(&mut data_rng, T * B * 2 * 36);
    let x = Tensor::from_vec(x, (T, B, 2, 6, 6), &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut ctx = ForwardCtx::train(&mut rng);
    ctx.record = Some(Vec::new());
    let logits = net.forward(&x, &mut ctx).unwrap();
    let lif = ctx.record.take().unwrap();
    let lif = lif.iter().map(|(i, t)| (*i, bits(t))).collect();
    let spike_sums = ctx.spike_sums.clone();
    let labels = Tensor::new(&[0u32, 2, 1], &Device::Cpu).unwrap();
    let loss = TetLoss {
        lambda: 1e-3,
        means: 1.0,
    }
    .forward(&logits, &labels)
    .unwrap();
    let g = loss.backward().unwrap();
    let (mut grads, mut buffers) = (Vec::new(), Vec::new());
    for v in net.vars() {
        if v.group == ParamGroup::Buffer {
            buffers.push((v.name.clone(), bits(v.var.as_tensor())));
        } else {
            let gv = g
                .get(v.var.as_tensor())
                .unwrap_or_else(|| panic!("no gradient for {}", v.name));
            grads.push((v.name.clone(), bits(gv)));
        }
    }
    Run {
        logits: bits(&logits),
        lif,
        spike_sums,
        grads,
        buffers,
    }
}

#[test]
fn one_node_blocks_train_exactly_like_two_nodes() {
    let base = NeuronSpec {
        decay: 0.4,
        thresh: 0.3,
        reset: "hard".into(),
        surrogate: SurrogateKind::Rectangle,
        width: 1.3,
        noise_p: 0.3,
        train_width: true,
        train_decay: true,
        train_thresh: true,
        spike: SpikeMode::Noisy,
    };
    let sigmoid = NeuronSpec {
        surrogate: SurrogateKind::Sigmoid,
        width: 0.4,
        ..base.clone()
    };
    for neuron in [base, sigmoid] {
        for dtype in [DType::F32, DType::F64] {
            let (one, two) = (run(&neuron, dtype, true), run(&neuron, dtype, false));
            let case = format!("{:?} {dtype:?}", neuron.surrogate);
            assert_eq!(one.lif.len(), 2, "{case}");
            assert_eq!(one.lif, two.lif, "{case}: LIF outputs");
            assert_eq!(one.logits, two.logits, "{case}: logits");
            assert_eq!(one.spike_sums, two.spike_sums, "{case}: spike sums");
            assert_eq!(one.buffers, two.buffers, "{case}: running estimates");
            assert_eq!(one.grads.len(), two.grads.len());
            for ((name, a), (_, b)) in one.grads.iter().zip(&two.grads) {
                assert_eq!(a, b, "{case}: gradient of {name}");
                assert!(
                    a.iter().any(|&v| v != 0),
                    "{case}: gradient of {name} all zero"
                );
            }
        }
    }
}
