//! Statistics of the hybrid noisy spike for 0 < p < 1: the fraction of analog-mode elements is p,
//! and the masks differ across time steps and across LIF layers.
use asgl_train::network::model::{Layer, Network};
use asgl_train::network::spec::{LayerSpec, NetSpec, NeuronSpec, SpikeMode, SurrogateKind};
use asgl_train::neuron::spike::ForwardCtx;
use candle_core::{DType, Device, Tensor};
use rand::SeedableRng;

fn neuron(p: f64) -> NeuronSpec {
    NeuronSpec {
        decay: 0.5,
        thresh: 0.5,
        reset: "hard".into(),
        surrogate: SurrogateKind::Rectangle,
        width: 100.0, // ramp |x| < 50: every membrane value is strictly inside
        noise_p: p,
        train_width: true,
        train_decay: false,
        train_thresh: false,
        spike: SpikeMode::Noisy,
    }
}

/// analog[i] = output strictly between 0 and θ (the rectangle ramp never reaches 0 or 1 here).
fn analog_mask(out: &Tensor) -> Vec<bool> {
    out.flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .iter()
        .map(|&v| v > 0.0 && v < 0.5)
        .collect()
}

#[test]
fn analog_fraction_is_p_and_masks_are_fresh_per_step_and_layer() {
    let p = 0.25;
    let (t, b, c, hw) = (4usize, 8usize, 4usize, 16usize);
    // Two LIF layers in a row: the second sees the first's outputs.
    let spec = NetSpec {
        time_steps: t,
        input_shape: [c, hw, hw],
        num_classes: 2,
        neuron: neuron(p),
        layers: vec![
            LayerSpec::Lif,
            LayerSpec::Lif,
            LayerSpec::Flatten,
            LayerSpec::Linear {
                out: 2,
                bias: false,
            },
        ],
    };
    let net = Network::new(spec, DType::F32, &Device::Cpu, 1).unwrap();
    assert!(matches!(net.layers()[0], Layer::Lif(_)));
    let x = Tensor::full(0.3f32, (t, b, c, hw, hw), &Device::Cpu).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut ctx = ForwardCtx::train(&mut rng);
    ctx.record = Some(Vec::new());
    net.forward(&x, &mut ctx).unwrap();
    let rec = ctx.record.take().unwrap();
    let l0 = analog_mask(&rec[0].1);
    let l1 = analog_mask(&rec[1].1);
    let n = l0.len();
    let frac = l0.iter().filter(|&&a| a).count() as f64 / n as f64;
    let sigma = (p * (1.0 - p) / n as f64).sqrt();
    assert!(
        (frac - p).abs() < 5.0 * sigma,
        "analog fraction {frac} vs p = {p} (n = {n}, 5σ = {})",
        5.0 * sigma
    );
    let per_step = n / t;
    let step0 = &l0[..per_step];
    let step1 = &l0[per_step..2 * per_step];
    let same_steps = step0.iter().zip(step1).filter(|(a, b)| a == b).count();
    // Independent masks agree on a fraction p² + (1−p)² = 0.625 of elements, identical ones on all.
    assert!(
        same_steps < per_step * 9 / 10,
        "masks repeat across time steps"
    );
    let same_layers = l0[..per_step]
        .iter()
        .zip(&l1[..per_step])
        .filter(|(a, b)| a == b)
        .count();
    assert!(
        same_layers < per_step * 9 / 10,
        "masks repeat across layers"
    );
}

#[test]
fn p_zero_is_binary_and_p_one_is_analog_in_training_and_eval_is_binary() {
    let (t, b, c, hw) = (2usize, 2usize, 2usize, 4usize);
    for p in [0.0, 1.0] {
        let spec = NetSpec {
            time_steps: t,
            input_shape: [c, hw, hw],
            num_classes: 2,
            neuron: neuron(p),
            layers: vec![
                LayerSpec::Lif,
                LayerSpec::Flatten,
                LayerSpec::Linear {
                    out: 2,
                    bias: false,
                },
            ],
        };
        let net = Network::new(spec, DType::F32, &Device::Cpu, 1).unwrap();
        let x = Tensor::full(0.3f32, (t, b, c, hw, hw), &Device::Cpu).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut ctx = ForwardCtx::train(&mut rng);
        ctx.record = Some(Vec::new());
        net.forward(&x, &mut ctx).unwrap();
        let analog = analog_mask(&ctx.record.take().unwrap()[0].1);
        let frac = analog.iter().filter(|&&a| a).count() as f64 / analog.len() as f64;
        assert_eq!(frac, p, "p = {p}");
        let mut ctx = ForwardCtx::eval();
        ctx.record = Some(Vec::new());
        net.forward(&x, &mut ctx).unwrap();
        let analog = analog_mask(&ctx.record.take().unwrap()[0].1);
        assert!(analog.iter().all(|a| !a), "eval must be binary");
    }
}
