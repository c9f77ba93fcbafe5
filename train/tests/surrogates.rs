//! The surrogate table `../shared/golden/asgl/surrogates.json`: H, dH/dx and dH/dparam of every
//! (surrogate, width) table are matched pointwise within the file's tolerance.
use asgl_train::spec::SurrogateKind;
use asgl_train::surrogate::{Surrogate, SurrogateParam};
use candle_core::{DType, Device, Tensor, Var};

const TABLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/golden/asgl/surrogates.json"
);

#[derive(serde::Deserialize)]
struct Tolerance {
    rtol: f64,
    atol: f64,
}

#[derive(serde::Deserialize)]
struct Table {
    surrogate: SurrogateKind,
    width: f64,
    param: f64,
    x: Vec<f64>,
    #[serde(rename = "H")]
    h: Vec<f64>,
    #[serde(rename = "dH_dx")]
    dh_dx: Vec<f64>,
    #[serde(rename = "dH_dparam")]
    dh_dparam: Vec<f64>,
}

#[derive(serde::Deserialize)]
struct File {
    tolerance: Tolerance,
    tables: Vec<Table>,
}

fn check(what: &str, got: &[f64], want: &[f64], x: &[f64], tol: &Tolerance) -> Vec<String> {
    got.iter()
        .zip(want)
        .zip(x)
        .filter(|((g, w), _)| (*g - *w).abs() > tol.atol + tol.rtol * w.abs())
        .map(|((g, w), x)| format!("{what} at x={x}: got {g}, want {w}"))
        .collect()
}

fn run(dtype: DType) -> Vec<String> {
    let file: File = serde_json::from_str(
        &std::fs::read_to_string(TABLE).unwrap_or_else(|e| panic!("{TABLE}: {e}")),
    )
    .unwrap();
    assert!(!file.tables.is_empty());
    let mut failures = Vec::new();
    for t in &file.tables {
        let n = t.x.len();
        // The stored parameter is the float32 rounding of the width's parameter.
        assert_eq!(
            Surrogate::stored_param(t.surrogate, t.width) as f64,
            t.param,
            "{:?} w={}",
            t.surrogate,
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
        let s = Surrogate::new(t.surrogate, SurrogateParam::Learnable(p.clone()));
        let h = s.forward(x.as_tensor()).unwrap();
        let grads = h.sum_all().unwrap().backward().unwrap();
        let v = |t: &Tensor| t.to_dtype(DType::F64).unwrap().to_vec1::<f64>().unwrap();
        let tag = format!("{:?} w={} {dtype:?}", t.surrogate, t.width);
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
