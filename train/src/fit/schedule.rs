//! Schedules: cosine LR annealing stepped once per epoch (PyTorch `CosineAnnealingLR`,
//! eta_min = 0) and the multi-step p schedule (reference `MutiStepNoisyRateScheduler`).

/// Learning rate of epoch `epoch` (0-based) for a cosine schedule over `total` epochs:
/// lr = base·(1 + cos(π·e/T_max))/2 (closed form of PyTorch's recursion, equal up to rounding).
pub fn cosine_lr(base: f64, epoch: usize, total: usize) -> f64 {
    if total == 0 {
        return base;
    }
    base * 0.5 * (1.0 + (std::f64::consts::PI * epoch as f64 / total as f64).cos())
}

/// Milestone epochs int(f·num_epoch) for fractions f (`--ns_milestone`).
pub fn p_milestones(fractions: &[f64], num_epochs: usize) -> Vec<usize> {
    fractions
        .iter()
        .map(|f| (f * num_epochs as f64) as usize)
        .collect()
}

/// p in effect for epoch `epoch`: the scheduler runs after each epoch e and multiplies p by γ
/// when e is a milestone, so epoch e uses p₀·γ^(number of milestones < e).
pub fn p_for_epoch(p0: f64, gamma: f64, milestones: &[usize], epoch: usize) -> f64 {
    let n = milestones.iter().filter(|&&m| m < epoch).count();
    p0 * gamma.powi(n as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_matches_reference_formula() {
        // Epoch e uses lr = 0.05·(1 + cos(π·e/100)) for base 0.1 over 100 epochs.
        for e in [0usize, 1, 50, 99] {
            let want = 0.05 * (1.0 + (std::f64::consts::PI * e as f64 / 100.0).cos());
            assert!((cosine_lr(0.1, e, 100) - want).abs() < 1e-15);
        }
    }

    #[test]
    fn p_schedule_matches_reference_epochs() {
        let ms = p_milestones(&[0.0, 0.2, 0.4, 0.6, 0.8, 0.95], 100);
        assert_eq!(ms, vec![0, 20, 40, 60, 80, 95]);
        assert_eq!(p_for_epoch(1.0, 0.5, &ms, 0), 1.0);
        assert_eq!(p_for_epoch(1.0, 0.5, &ms, 1), 0.5);
        assert_eq!(p_for_epoch(1.0, 0.5, &ms, 20), 0.5);
        assert_eq!(p_for_epoch(1.0, 0.5, &ms, 21), 0.25);
        assert_eq!(p_for_epoch(1.0, 0.5, &ms, 96), 0.5f64.powi(6));
    }
}
