//! The fused CPU LIF op against the unfused per-step loop: for every neuron variant (rectangle /
//! sigmoid surrogate, p = 0, 0.3, 1, straight-through, learnable or fixed width, decay and
//! threshold), in f32 and f64, two networks with identical weights see the same random input and
//! the same seeded RNG. Forward values (every LIF output and the logits) must be bit-identical
//! (the mask stream and the floating-point operations are the same); every gradient (weights,
//! widths, decay, threshold) must agree to rounding (the fused op sums parameter gradients in a
//! different order). Eval mode is compared too.
use asgl_train::fit::loss::TetLoss;
use asgl_train::network::model::Network;
use asgl_train::network::spec::{LayerSpec, NetSpec, NeuronSpec, SpikeMode, SurrogateKind};
use asgl_train::network::vars::ParamGroup;
use asgl_train::neuron::spike::ForwardCtx;
use candle_core::{DType, Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const T: usize = 5;
const B: usize = 3;

fn spec(neuron: NeuronSpec) -> NetSpec {
    NetSpec {
        time_steps: T,
        input_shape: [2, 6, 6],
        num_classes: 3,
        neuron,
        layers: vec![
            LayerSpec::Conv {
                out: 4,
                kernel: 3,
                padding: 1,
                bias: false,
            },
            LayerSpec::Bn,
            LayerSpec::Lif,
            LayerSpec::Avgpool { size: 2 },
            LayerSpec::Flatten,
            LayerSpec::Linear { out: 8, bias: true },
            LayerSpec::Lif,
            LayerSpec::Linear {
                out: 3,
                bias: false,
            },
        ],
    }
}

fn neurons() -> Vec<(&'static str, NeuronSpec)> {
    let base = NeuronSpec {
        decay: 0.4,
        thresh: 0.3,
        reset: "hard".into(),
        surrogate: SurrogateKind::Rectangle,
        width: 1.3,
        noise_p: 0.3,
        train_width: true,
        train_decay: false,
        train_thresh: false,
        spike: SpikeMode::Noisy,
    };
    vec![
        ("rect p=0.3", base.clone()),
        (
            "rect p=0.3 learn decay+thresh",
            NeuronSpec {
                train_decay: true,
                train_thresh: true,
                ..base.clone()
            },
        ),
        (
            "rect p=0 fixed width",
            NeuronSpec {
                noise_p: 0.0,
                train_width: false,
                ..base.clone()
            },
        ),
        (
            "rect p=1",
            NeuronSpec {
                noise_p: 1.0,
                ..base.clone()
            },
        ),
        (
            "sigmoid p=0.3 learn all",
            NeuronSpec {
                surrogate: SurrogateKind::Sigmoid,
                width: 0.4,
                train_decay: true,
                train_thresh: true,
                ..base.clone()
            },
        ),
        (
            "sigmoid straight-through",
            NeuronSpec {
                surrogate: SurrogateKind::Sigmoid,
                width: 0.4,
                spike: SpikeMode::StraightThrough,
                ..base
            },
        ),
    ]
}

struct Run {
    logits: Vec<f64>,
    lif: Vec<(usize, Vec<f64>)>,
    grads: Vec<(String, Vec<f64>)>,
    spike_sums: Vec<(usize, f64, usize)>,
}

fn values(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn run(neuron: &NeuronSpec, dtype: DType, fused: bool, train: bool) -> Run {
    let mut net = Network::new(spec(neuron.clone()), dtype, &Device::Cpu, 7).unwrap();
    net.set_fused_lif(fused);
    let mut data_rng = ChaCha8Rng::seed_from_u64(11);
    let x: Vec<f32> = (0..T * B * 2 * 36)
        .map(|_| rand::Rng::random_range(&mut data_rng, -1.0f32..2.0))
        .collect();
    let x = Tensor::from_vec(x, (T, B, 2, 6, 6), &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut ctx = if train {
        ForwardCtx::train(&mut rng)
    } else {
        ForwardCtx::eval()
    };
    ctx.record = Some(Vec::new());
    let logits = net.forward(&x, &mut ctx).unwrap();
    let lif = ctx
        .record
        .take()
        .unwrap()
        .iter()
        .map(|(i, t)| (*i, values(t)))
        .collect();
    let spike_sums = ctx.spike_sums.clone();
    let mut grads = Vec::new();
    if train {
        let labels = Tensor::new(&[0u32, 2, 1], &Device::Cpu).unwrap();
        let loss = TetLoss {
            lambda: 1e-3,
            means: 1.0,
        }
        .forward(&logits, &labels)
        .unwrap();
        let g = loss.backward().unwrap();
        for v in net.vars().iter().filter(|v| v.group != ParamGroup::Buffer) {
            let gv = g
                .get(v.var.as_tensor())
                .map(values)
                .unwrap_or_else(|| panic!("no gradient for {}", v.name));
            grads.push((v.name.clone(), gv));
        }
    }
    Run {
        logits: values(&logits),
        lif,
        grads,
        spike_sums,
    }
}

fn compare(case: &str, dtype: DType, train: bool) {
    let neuron = neurons().into_iter().find(|(n, _)| *n == case).unwrap().1;
    let fused = run(&neuron, dtype, true, train);
    let loop_ = run(&neuron, dtype, false, train);
    assert_eq!(fused.lif.len(), 2);
    for ((i, a), (j, b)) in fused.lif.iter().zip(&loop_.lif) {
        assert_eq!(i, j);
        assert!(
            a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()),
            "{case} {dtype:?}: LIF {i} output differs"
        );
        assert!(a.iter().any(|&v| v != 0.0), "{case}: LIF {i} never fires");
    }
    assert_eq!(
        fused.logits, loop_.logits,
        "{case} {dtype:?}: logits differ"
    );
    for ((i, sa, na), (j, sb, nb)) in fused.spike_sums.iter().zip(&loop_.spike_sums) {
        assert_eq!((i, na), (j, nb));
        assert!(
            (sa - sb).abs() <= 1e-3 * (1.0 + sb.abs()),
            "{case}: spike sums"
        );
    }
    let (rtol, atol) = if dtype == DType::F64 {
        (1e-9, 1e-12)
    } else {
        (2e-4, 2e-6)
    };
    assert_eq!(fused.grads.len(), loop_.grads.len());
    let mut nonzero = 0;
    for ((name, a), (_, b)) in fused.grads.iter().zip(&loop_.grads) {
        let scale = b.iter().fold(0f64, |m, v| m.max(v.abs()));
        for (k, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= atol + rtol * scale.max(y.abs()),
                "{case} {dtype:?}: grad {name}[{k}] fused {x} vs loop {y}"
            );
        }
        if a.iter().any(|v| *v != 0.0) {
            nonzero += 1;
        }
    }
    if train {
        assert!(
            nonzero >= fused.grads.len() - 1,
            "{case}: too many zero gradients"
        );
    }
}

#[test]
fn fused_matches_loop_in_training_f32_and_f64() {
    for (case, _) in neurons() {
        for dtype in [DType::F32, DType::F64] {
            compare(case, dtype, true);
        }
    }
}

#[test]
fn fused_matches_loop_in_eval() {
    for dtype in [DType::F32, DType::F64] {
        compare("rect p=0.3 learn decay+thresh", dtype, false);
    }
}
