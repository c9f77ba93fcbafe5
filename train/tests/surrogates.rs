//! The surrogate tables of `../shared/golden/asgl` (every file holding `tables`, found by
//! `dvs_fixtures::testing::golden`): H, dH/dx and dH/dparam of every (surrogate, width) table are
//! matched pointwise within the file's tolerance.
use asgl_train::network::spec::SurrogateKind;
use asgl_train::neuron::surrogate::{Surrogate, SurrogateParam};
use candle_core::{DType, Device, Tensor, Var};
use dvs_fixtures::testing::golden::{GoldenSet, SurrogateTables, Tolerance};

fn check(what: &str, got: &[f64], want: &[f64], x: &[f64], tol: &Tolerance) -> Vec<String> {
    got.iter()
        .zip(want)
        .zip(x)
        .filter(|((g, w), _)| !tol.allows(**g, **w))
        .map(|((g, w), x)| format!("{what} at x={x}: got {g}, want {w}"))
        .collect()
}

fn run(dtype: DType) -> Vec<String> {
    let set = GoldenSet::load_default();
    assert!(
        set.surrogate_tables.iter().any(|f| !f.tables.is_empty()),
        "no surrogate table in {}",
        set.dir.display()
    );
    let mut failures = Vec::new();
    for file in &set.surrogate_tables {
        failures.extend(run_file(file, dtype));
    }
    failures
}

fn run_file(file: &SurrogateTables, dtype: DType) -> Vec<String> {
    let mut failures = Vec::new();
    for t in &file.tables {
        let kind: SurrogateKind = serde_json::from_value(t.surrogate.clone().into())
            .unwrap_or_else(|e| panic!("{}: surrogate {}: {e}", file.path.display(), t.surrogate));
        let n = t.x.len();
        // The stored parameter is the float32 rounding of the width's parameter.
        assert_eq!(
            Surrogate::stored_param(kind, t.width) as f64,
            t.param,
            "{:?} w={}",
            kind,
            t.width
        );
        let x = Var::from_tensor(
            &Tensor::new(t.x.as_slice(), &Device::Cpu)
                .unwrap()
                .to_dtype(dtype)
                .unwrap(),
        )
        .unwrap();
        // One parameter copy per point so that the gradient w.r.t. it is pointwise.
        let p = Var::from_tensor(
            &Tensor::full(t.param, n, &Device::Cpu)
                .unwrap()
                .to_dtype(dtype)
                .unwrap(),
        )
        .unwrap();
        let s = Surrogate::new(kind, SurrogateParam::Learnable(p.clone()));
        let h = s.forward(x.as_tensor()).unwrap();
        let grads = h.sum_all().unwrap().backward().unwrap();
        let v = |t: &Tensor| t.to_dtype(DType::F64).unwrap().to_vec1::<f64>().unwrap();
        let tag = format!("{:?} w={} {dtype:?}", kind, t.width);
        failures.extend(check(
            &format!("{tag} H"),
            &v(&h),
            &t.h,
            &t.x,
            &file.tolerance,
        ));
        failures.extend(check(
            &format!("{tag} dH/dx"),
            &v(grads.get(x.as_tensor()).unwrap()),
            &t.dh_dx,
            &t.x,
            &file.tolerance,
        ));
        failures.extend(check(
            &format!("{tag} dH/dparam"),
            &v(grads.get(p.as_tensor()).unwrap()),
            &t.dh_dparam,
            &t.x,
            &file.tolerance,
        ));
    }
    failures
}

#[test]
fn surrogate_tables_match_reference_f32() {
    let f = run(DType::F32);
    assert!(f.is_empty(), "{}", f.join("\n"));
}

#[test]
fn surrogate_tables_match_reference_f64() {
    let f = run(DType::F64);
    assert!(f.is_empty(), "{}", f.join("\n"));
}
