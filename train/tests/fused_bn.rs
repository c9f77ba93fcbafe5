//! The fused CPU BatchNorm op against the op-by-op path (autograd-differentiated), for both
//! variants (groups = 1: tdbn over T·B; groups = T: bntt) on odd shapes, in f64 (tight: the two
//! differ only in summation order) and f32 (loose: the fused op accumulates in f64). Compared:
//! the training output, the updated running mean and variance, and the gradients of the input,
//! γ and β under a loss Σ y·r with random r (so dy is not constant). Eval mode after the update
//! must agree as well (it reads the running estimates).
use asgl_train::layers::norm::BatchNorm;
use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Shape of one case: T, B, C, H, W.
type Dims = (usize, usize, usize, usize, usize);

fn random(rng: &mut ChaCha8Rng, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

struct Run {
    y: Tensor,
    y_eval: Tensor,
    initial_running_mean: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
    dx: Tensor,
    dgamma: Tensor,
    dbeta: Tensor,
}

/// One training forward + backward (and one eval forward) with fresh parameters from `seed`.
fn run(dims: Dims, groups: usize, fused: bool, dtype: DType, seed: u64) -> Run {
    let (t, b, c, h, w) = dims;
    let dev = Device::Cpu;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let pshape: Vec<usize> = if groups == 1 { vec![c] } else { vec![t, c] };
    let np = groups * c;
    let n = t * b * c * h * w;
    let tensor = |v: Vec<f64>, shape: &[usize]| {
        Tensor::from_vec(v, shape, &dev)
            .unwrap()
            .to_dtype(dtype)
            .unwrap()
    };
    let gamma = Var::from_tensor(&tensor(random(&mut rng, np, 0.5, 1.5), &pshape)).unwrap();
    let beta = Var::from_tensor(&tensor(random(&mut rng, np, -0.5, 0.5), &pshape)).unwrap();
    let rmean = Var::from_tensor(&tensor(random(&mut rng, np, -0.2, 0.2), &pshape)).unwrap();
    let rvar = Var::from_tensor(&tensor(random(&mut rng, np, 0.5, 2.0), &pshape)).unwrap();
    // Offset and scaled input so the mean subtraction matters.
    let x = Var::from_tensor(&tensor(random(&mut rng, n, 1.0, 4.0), &[t * b, c, h, w])).unwrap();
    let r = tensor(random(&mut rng, n, -1.0, 1.0), &[t * b, c, h, w]);
    let initial_running_mean = rmean.as_tensor().copy().unwrap();
    let mut bn = BatchNorm::new(
        gamma.clone(),
        beta.clone(),
        rmean.clone(),
        rvar.clone(),
        groups,
    );
    bn.set_fused(fused);
    let y = bn.forward(x.as_tensor(), true).unwrap();
    let loss = (&y * &r).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    let y_eval = bn.forward(x.as_tensor(), false).unwrap();
    Run {
        y,
        y_eval,
        initial_running_mean,
        running_mean: rmean.as_tensor().clone(),
        running_var: rvar.as_tensor().clone(),
        dx: grads.get(x.as_tensor()).expect("dx").clone(),
        dgamma: grads.get(gamma.as_tensor()).expect("dgamma").clone(),
        dbeta: grads.get(beta.as_tensor()).expect("dbeta").clone(),
    }
}

/// max |a − b| / max(max |b|, tiny), over every element.
fn rel_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.dims(), b.dims());
    let a: Vec<f64> = a
        .to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let b: Vec<f64> = b
        .to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-300);
    let diff = a.iter().zip(&b).fold(0f64, |m, (x, y)| {
        if x.is_finite() {
            m.max((x - y).abs())
        } else {
            f64::INFINITY
        }
    });
    diff / scale
}

fn compare(dims: Dims, groups: usize, dtype: DType, tol: f64) {
    let fused = run(dims, groups, true, dtype, 7);
    let plain = run(dims, groups, false, dtype, 7);
    let checks = [
        ("y", &fused.y, &plain.y),
        ("y (eval)", &fused.y_eval, &plain.y_eval),
        ("running_mean", &fused.running_mean, &plain.running_mean),
        ("running_var", &fused.running_var, &plain.running_var),
        ("dx", &fused.dx, &plain.dx),
        ("dgamma", &fused.dgamma, &plain.dgamma),
        ("dbeta", &fused.dbeta, &plain.dbeta),
    ];
    for (name, a, b) in checks {
        let d = rel_diff(a, b);
        assert!(
            d <= tol,
            "{dims:?} groups {groups} {dtype:?}: {name} differs by {d:.3e} (relative to max |·|), tolerance {tol:.1e}"
        );
    }
    // The update must actually move the running estimates (guards against comparing no-ops).
    let moved = rel_diff(&fused.running_mean, &fused.initial_running_mean);
    assert!(
        moved > 1e-3,
        "{dims:?} groups {groups}: running mean did not move"
    );
}

/// Odd shapes; the second has H = W = 1 (3 elements per bntt group: with 2 the true input
/// gradient is ≈ 0, pure cancellation, and f32 rounding dominates any relative comparison).
const SHAPES: [Dims; 3] = [(3, 5, 7, 5, 3), (4, 3, 3, 1, 1), (2, 3, 5, 6, 7)];

#[test]
fn fused_bn_matches_op_by_op_f64_tdbn() {
    for dims in SHAPES {
        compare(dims, 1, DType::F64, 1e-10);
    }
}

#[test]
fn fused_bn_matches_op_by_op_f64_bntt() {
    for dims in SHAPES {
        compare(dims, dims.0, DType::F64, 1e-10);
    }
}

#[test]
fn fused_bn_matches_op_by_op_f32_tdbn() {
    for dims in SHAPES {
        compare(dims, 1, DType::F32, 2e-4);
    }
}

#[test]
fn fused_bn_matches_op_by_op_f32_bntt() {
    for dims in SHAPES {
        compare(dims, dims.0, DType::F32, 2e-4);
    }
}

/// A group with a single element (N/G·H·W = 1) has zero variance; both paths must stay finite
/// and agree (running variance uses the biased estimate when the count is 1).
#[test]
fn fused_bn_single_element_groups() {
    compare((3, 1, 2, 1, 1), 3, DType::F64, 1e-10);
}

/// An input that needs no gradient (a plain tensor, not a variable or the result of one) gets
/// none from the fused op, and γ/β get exactly the gradients they get when the input does.
#[test]
fn fused_bn_skips_the_input_gradient_when_nothing_needs_it() {
    let dev = Device::Cpu;
    let (t, b, c, h, w) = (3, 4, 5, 3, 2);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let x = Tensor::from_vec(
        random(&mut rng, t * b * c * h * w, 1.0, 4.0),
        (t * b, c, h, w),
        &dev,
    )
    .unwrap();
    let r = Tensor::from_vec(
        random(&mut rng, t * b * c * h * w, -1.0, 1.0),
        (t * b, c, h, w),
        &dev,
    )
    .unwrap();
    let grads_of = |input: &Tensor| {
        let param = |v: f64| Var::from_tensor(&Tensor::full(v, c, &dev).unwrap()).unwrap();
        let (gamma, beta) = (param(1.5), param(0.25));
        let bn = BatchNorm::new(gamma.clone(), beta.clone(), param(0.0), param(1.0), 1);
        let y = bn.forward(input, true).unwrap();
        let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let vec = |t: &Tensor| t.to_vec1::<f64>().unwrap();
        (
            grads.get(input).map(|g| g.dims().to_vec()),
            vec(grads.get(gamma.as_tensor()).unwrap()),
            vec(grads.get(beta.as_tensor()).unwrap()),
        )
    };
    let (dx_plain, dgamma_plain, dbeta_plain) = grads_of(&x);
    let x_var = Var::from_tensor(&x).unwrap();
    let (dx_var, dgamma_var, dbeta_var) = grads_of(x_var.as_tensor());
    assert_eq!(dx_plain, None, "no input gradient for a plain tensor");
    assert_eq!(dx_var, Some(vec![t * b, c, h, w]));
    assert_eq!(dgamma_plain, dgamma_var);
    assert_eq!(dbeta_plain, dbeta_var);
}

/// Eval mode on the CPU kernel gives the op-by-op path's values bit for bit (same statistics,
/// same element-wise operations in the same order), for both variants and element types.
#[test]
fn fused_bn_eval_is_bit_identical_to_op_by_op() {
    let dev = Device::Cpu;
    for dtype in [DType::F32, DType::F64] {
        for (dims, bntt) in SHAPES.into_iter().flat_map(|d| [(d, false), (d, true)]) {
            let (t, b, c, h, w) = dims;
            let groups = if bntt { t } else { 1 };
            let pshape: Vec<usize> = if bntt { vec![t, c] } else { vec![c] };
            let mut rng = ChaCha8Rng::seed_from_u64(5);
            let mut var = |lo: f64, hi: f64, shape: &[usize]| {
                let n = shape.iter().product();
                let v = Tensor::from_vec(random(&mut rng, n, lo, hi), shape, &dev).unwrap();
                Var::from_tensor(&v.to_dtype(dtype).unwrap()).unwrap()
            };
            let (gamma, beta) = (var(0.5, 1.5, &pshape), var(-0.5, 0.5, &pshape));
            let (rmean, rvar) = (var(-0.2, 0.2, &pshape), var(0.5, 2.0, &pshape));
            let x = var(1.0, 4.0, &[t * b, c, h, w]);
            let mut bn = BatchNorm::new(gamma, beta, rmean, rvar, groups);
            let y_fused = bn.forward(x.as_tensor(), false).unwrap();
            bn.set_fused(false);
            let y_plain = bn.forward(x.as_tensor(), false).unwrap();
            let bits = |y: &Tensor| -> Vec<u64> {
                let y = y.flatten_all().unwrap();
                match dtype {
                    DType::F32 => y
                        .to_vec1::<f32>()
                        .unwrap()
                        .iter()
                        .map(|v| u64::from(v.to_bits()))
                        .collect(),
                    _ => y
                        .to_vec1::<f64>()
                        .unwrap()
                        .iter()
                        .map(|v| v.to_bits())
                        .collect(),
                }
            };
            assert_eq!(
                bits(&y_fused),
                bits(&y_plain),
                "{dims:?} bntt {bntt} {dtype:?}"
            );
        }
    }
}
