//! AutoAugment's CIFAR10Policy (`asgl_train::data::autoaugment`) against Pillow: every op on the
//! fixed images of `autoaugment_cases/cases.json` (made once by
//! scripts/make_autoaugment_cases.py), plus the policy's determinism and its choice
//! distribution.
use std::collections::HashMap;

use asgl_train::data::autoaugment::{cifar10_policy, Op, CIFAR10_POLICY};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

struct Cases {
    side: usize,
    /// The structured low-contrast image (the policy tests use it) and uniform noise.
    inputs: Vec<Vec<u8>>,
    cases: Vec<Value>,
}

fn cases() -> Cases {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/autoaugment_cases/cases.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let json: Value = serde_json::from_str(&text).unwrap();
    Cases {
        side: json["side"].as_u64().unwrap() as usize,
        inputs: json["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| hex::decode(v.as_str().unwrap()).unwrap())
            .collect(),
        cases: json["cases"].as_array().unwrap().clone(),
    }
}

#[test]
fn every_op_matches_pil_byte_for_byte_on_the_committed_cases() {
    let data = cases();
    let side = data.side;
    assert_eq!(data.inputs.len(), 2);
    for input in &data.inputs {
        assert_eq!(input.len(), 3 * side * side);
    }
    let mut seen = HashMap::new();
    let mut failures = Vec::new();
    for case in &data.cases {
        let name = case["op"].as_str().unwrap();
        let op = *Op::ALL
            .iter()
            .find(|op| op.name() == name)
            .unwrap_or_else(|| panic!("unknown op {name}"));
        let index = case["magnitude_index"].as_u64().unwrap() as usize;
        let sign = case["sign"].as_f64().unwrap();
        let want = hex::decode(case["output"].as_str().unwrap()).unwrap();
        let input = case["input"].as_u64().unwrap() as usize;
        let mut got = data.inputs[input].clone();
        op.apply(&mut got, side, op.magnitude(index), sign);
        // Exact: every op is Pillow's integer, fixed-point or float arithmetic in its order.
        if got != want {
            let worst = got.iter().zip(&want).map(|(&g, &w)| g.abs_diff(w)).max();
            let off = got.iter().zip(&want).filter(|(g, w)| g != w).count();
            failures.push(format!(
                "{name} on input {input}, level {index}, sign {sign}: {off} bytes differ, max {worst:?}"
            ));
        }
        *seen.entry(name).or_insert(0) += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The cases cover every op.
    for op in Op::ALL {
        assert!(seen.contains_key(op.name()), "no case for {}", op.name());
    }
}

#[test]
fn ops_change_the_image_where_they_should() {
    // A guard against a test that cannot fail: on the case image every op but the identities
    // (posterize at 8 bits, solarize at 256) changes some byte.
    let data = cases();
    for op in Op::ALL {
        let level = if op == Op::Posterize || op == Op::Solarize {
            5
        } else {
            9
        };
        let mut img = data.inputs[0].clone();
        op.apply(&mut img, data.side, op.magnitude(level), 1.0);
        assert_ne!(img, data.inputs[0], "{}", op.name());
    }
}

fn policy_run(seed: u64, epoch: u64, image: u64, src: &[u8], side: usize) -> (usize, Vec<u8>) {
    // The loader's per-image stream (train/src/data/mod.rs).
    let mut rng =
        ChaCha8Rng::seed_from_u64(seed ^ (epoch << 40) ^ image.wrapping_mul(0xD1B5_4A32_D192_ED03));
    let mut img = src.to_vec();
    let index = cifar10_policy(&mut img, side, &mut rng);
    (index, img)
}

#[test]
fn the_policy_is_a_function_of_seed_epoch_and_image() {
    let data = cases();
    let a = policy_run(60, 3, 17, &data.inputs[0], data.side);
    assert_eq!(a, policy_run(60, 3, 17, &data.inputs[0], data.side));
    // Other epochs pick other sub-policies or draws: over 16 epochs the outputs are not all one.
    let others: Vec<_> = (0..16)
        .map(|epoch| policy_run(60, epoch, 17, &data.inputs[0], data.side))
        .collect();
    assert!(others.iter().any(|o| o.1 != a.1));
    assert!(
        others
            .iter()
            .map(|o| o.0)
            .collect::<std::collections::HashSet<_>>()
            .len()
            > 4
    );
}

#[test]
fn the_policy_chooses_sub_policies_uniformly_and_ops_at_their_rates() {
    let data = cases();
    let draws = 5000u64;
    let mut counts = [0u32; 25];
    let mut unchanged = 0u32;
    for image in 0..draws {
        let (index, img) = policy_run(1, 0, image, &data.inputs[0], data.side);
        counts[index] += 1;
        unchanged += u32::from(img == data.inputs[0]);
    }
    // Each sub-policy 1/25: 200 expected, binomial sd ≈ 14; ±5 sd.
    for (i, &c) in counts.iter().enumerate() {
        assert!((130..=270).contains(&c), "sub-policy {i}: {c} of {draws}");
    }
    // Probability that the image comes out unchanged: mean over sub-policies of
    // Π (1 − p·[the op at its level changes this image]) (Color at level 0 is the identity).
    let changes = |op: Op, level: usize| {
        let mut img = data.inputs[0].clone();
        op.apply(&mut img, data.side, op.magnitude(level), 1.0);
        img != data.inputs[0]
    };
    let expected: f64 = CIFAR10_POLICY
        .iter()
        .map(|s| {
            (1.0 - s.p1 * f64::from(u8::from(changes(s.op1, s.level1))))
                * (1.0 - s.p2 * f64::from(u8::from(changes(s.op2, s.level2))))
        })
        .sum::<f64>()
        / 25.0;
    let rate = f64::from(unchanged) / draws as f64;
    assert!(
        (rate - expected).abs() < 0.03,
        "unchanged {rate:.3}, expected {expected:.3}"
    );
}
