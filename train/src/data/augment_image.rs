//! The reference's CIFAR train-time image pipeline on one planar RGB image, in its order:
//! `RandomCrop(32, padding=4)` (zero padding), `RandomHorizontalFlip()` (p = 0.5), AutoAugment's
//! `CIFAR10Policy` ([`crate::data::autoaugment`], on the u8 image), `ToTensor`
//! (÷255), `Cutout(n_holes=1, length=16)` (a 16×16 square around a uniform centre, clipped at
//! the border, set to 0), `Normalize(mean, std)`. Every random choice comes from the `rng` the
//! caller seeds per (seed, epoch, sample).
use rand::Rng;

use crate::data::autoaugment::cifar10_policy;

/// Which steps run (`--augment` = crop + flip, `--auto_aug`, `--cutout`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImageAugment {
    /// Random crop with this zero padding (0 = none; the reference: 4).
    pub crop_padding: usize,
    /// Horizontal flip with probability 0.5.
    pub flip: bool,
    /// AutoAugment's CIFAR-10 policy after crop and flip.
    pub auto_aug: bool,
    /// Cutout square side (0 = none; the reference: 16, one hole).
    pub cutout: usize,
}

impl ImageAugment {
    /// No augmentation (the test split).
    pub const NONE: ImageAugment = ImageAugment {
        crop_padding: 0,
        flip: false,
        auto_aug: false,
        cutout: 0,
    };
}

/// Writes image `src` ([3, side, side] u8) into `out` ([3, side, side] f32) through the
/// pipeline: crop/flip per `aug`, the AutoAugment policy, ÷255, cutout, then (v − mean[c]) / std[c].
pub fn augment_into(
    src: &[u8],
    side: usize,
    aug: &ImageAugment,
    mean: &[f32; 3],
    std: &[f32; 3],
    rng: &mut impl Rng,
    out: &mut [f32],
) {
    let plane = side * side;
    debug_assert_eq!(src.len(), 3 * plane);
    debug_assert_eq!(out.len(), 3 * plane);
    let pad = aug.crop_padding as isize;
    // torchvision draws the crop offset (i, j) in [0, 2·pad], then the flip.
    let (dy, dx) = if pad > 0 {
        (
            rng.random_range(0..=2 * pad as i64) as isize - pad,
            rng.random_range(0..=2 * pad as i64) as isize - pad,
        )
    } else {
        (0, 0)
    };
    let flip = aug.flip && rng.random_bool(0.5);
    let s = side as isize;
    let mut moved = vec![0u8; 3 * plane];
    for c in 0..3 {
        for y in 0..s {
            let sy = y + dy;
            for x in 0..s {
                let ox = if flip { s - 1 - x } else { x };
                let sx = ox + dx;
                if (0..s).contains(&sy) && (0..s).contains(&sx) {
                    moved[c * plane + (y * s + x) as usize] =
                        src[c * plane + (sy * s + sx) as usize];
                }
            }
        }
    }
    if aug.auto_aug {
        cifar10_policy(&mut moved, side, rng);
    }
    for (o, &v) in out.iter_mut().zip(&moved) {
        *o = f32::from(v) / 255.0;
    }
    if aug.cutout > 0 {
        let (cy, cx) = (rng.random_range(0..side), rng.random_range(0..side));
        let half = aug.cutout / 2;
        let (y0, y1) = (cy.saturating_sub(half), (cy + half).min(side));
        let (x0, x1) = (cx.saturating_sub(half), (cx + half).min(side));
        for c in 0..3 {
            for y in y0..y1 {
                out[c * plane + y * side + x0..c * plane + y * side + x1].fill(0.0);
            }
        }
    }
    for c in 0..3 {
        for v in &mut out[c * plane..(c + 1) * plane] {
            *v = (*v - mean[c]) / std[c];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    const MEAN: [f32; 3] = [0.0; 3];
    const STD: [f32; 3] = [1.0; 3];

    fn ramp(side: usize) -> Vec<u8> {
        (0..3 * side * side).map(|i| (i % 251) as u8 + 1).collect()
    }

    #[test]
    fn no_augmentation_is_the_normalised_image() {
        let src = ramp(8);
        let mut out = vec![0.0; src.len()];
        let mean = [0.5, 0.25, 0.0];
        let std = [0.5, 2.0, 1.0];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        augment_into(
            &src,
            8,
            &ImageAugment::NONE,
            &mean,
            &std,
            &mut rng,
            &mut out,
        );
        for (i, (&s, &o)) in src.iter().zip(&out).enumerate() {
            let c = i / 64;
            assert!((o - (f32::from(s) / 255.0 - mean[c]) / std[c]).abs() < 1e-6);
        }
    }

    #[test]
    fn crop_shifts_flip_mirrors_and_cutout_zeroes_a_square() {
        let side = 8;
        let src = ramp(side);
        let aug = ImageAugment {
            crop_padding: 2,
            flip: true,
            auto_aug: false,
            cutout: 4,
        };
        let (mut shifted, mut flipped, mut cut) = (false, false, false);
        for seed in 0..64 {
            let mut out = vec![0.0; src.len()];
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            augment_into(&src, side, &aug, &MEAN, &STD, &mut rng, &mut out);
            let zeros = out.iter().filter(|&&v| v == 0.0).count();
            // Every non-zero value is a source pixel (crop/flip only move pixels).
            assert!(out
                .iter()
                .filter(|&&v| v != 0.0)
                .all(|v| src.iter().any(|&s| (f32::from(s) / 255.0 - v).abs() < 1e-7)));
            cut |= zeros >= 3 * 4; // at least a 2×2 corner of the square per plane
            let first_row: Vec<f32> = out[..side].to_vec();
            let want: Vec<f32> = src[..side].iter().map(|&s| f32::from(s) / 255.0).collect();
            let mirrored: Vec<f32> = want.iter().rev().copied().collect();
            flipped |= first_row == mirrored;
            shifted |= first_row != want && first_row != mirrored;
            // Same seed, same image.
            let mut again = vec![0.0; src.len()];
            augment_into(
                &src,
                side,
                &aug,
                &MEAN,
                &STD,
                &mut ChaCha8Rng::seed_from_u64(seed),
                &mut again,
            );
            assert_eq!(out, again);
        }
        assert!(shifted && flipped && cut);
    }
}
