//! Where a run's batches come from: a prepared frames dataset (the `dvs_frames` loader) or the
//! static CIFAR path ([`cifar`]: the release files, [`augment_image`]: the reference's image
//! augmentation), both as [`dvs_frames::Batch`]es [B, T, C, H, W].
//!
//! Direct encoding: a CIFAR batch carries each normalised image repeated over the T steps, so
//! the first convolution sees the same image at every step — the reference's
//! `torch.broadcast_tensors(x, zeros((T,) + x.shape))` before `conv0`.
pub mod augment_image;
pub mod autoaugment;
pub mod cifar;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use dvs_frames::{Augment, Batch, DatasetInfo, Loader, LoaderConfig, SplitInfo};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::config::TrainConfig;
use crate::data::augment_image::{augment_into, ImageAugment};
use crate::data::cifar::{CifarFiles, CifarImages, CifarKind, IMAGE_BYTES, SIDE};
use crate::error::{Result, TrainError};

/// A CIFAR split in memory with its batching: shuffling and augmentation are functions of
/// (seed, epoch, position), so an epoch replays exactly.
pub struct CifarLoader {
    images: Arc<CifarImages>,
    kind: CifarKind,
    time_steps: usize,
    batch_size: usize,
    shuffle: bool,
    seed: u64,
    augment: ImageAugment,
}

impl CifarLoader {
    /// Batches of `images` with `time_steps` copies of each image (direct encoding).
    pub fn new(
        images: CifarImages,
        kind: CifarKind,
        time_steps: usize,
        batch_size: usize,
        shuffle: bool,
        seed: u64,
        augment: ImageAugment,
    ) -> Self {
        CifarLoader {
            images: Arc::new(images),
            kind,
            time_steps,
            batch_size: batch_size.max(1),
            shuffle,
            seed,
            augment,
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether the split is empty.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Batches per epoch (the last one may be short, as the reference's `DataLoader`).
    pub fn num_batches(&self) -> usize {
        self.len().div_ceil(self.batch_size)
    }

    /// The batches of epoch `epoch`.
    pub fn epoch(&self, epoch: u64) -> impl Iterator<Item = Result<Batch>> + '_ {
        let mut order: Vec<usize> = (0..self.len()).collect();
        if self.shuffle {
            order.shuffle(&mut ChaCha8Rng::seed_from_u64(
                self.seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            ));
        }
        let batches: Vec<Vec<usize>> = order
            .chunks(self.batch_size)
            .map(<[usize]>::to_vec)
            .collect();
        batches
            .into_iter()
            .enumerate()
            .map(move |(index, ids)| Ok(self.batch(epoch, index, &ids)))
    }

    fn batch(&self, epoch: u64, index: usize, ids: &[usize]) -> Batch {
        let t = self.time_steps;
        let per_sample = t * IMAGE_BYTES;
        let (mean, std) = self.kind.normalisation();
        let mut data = vec![0f32; ids.len() * per_sample];
        data.par_chunks_mut(per_sample)
            .zip(ids.par_iter())
            .for_each(|(out, &i)| {
                // One stream per (seed, epoch, image): independent of batch size and threads.
                let mut rng = ChaCha8Rng::seed_from_u64(
                    self.seed ^ (epoch << 40) ^ (i as u64).wrapping_mul(0xD1B5_4A32_D192_ED03),
                );
                let (first, rest) = out.split_at_mut(IMAGE_BYTES);
                augment_into(
                    self.images.image(i),
                    SIDE,
                    &self.augment,
                    &mean,
                    &std,
                    &mut rng,
                    first,
                );
                for step in rest.chunks_exact_mut(IMAGE_BYTES) {
                    step.copy_from_slice(first);
                }
            });
        Batch {
            data,
            shape: [ids.len(), t, 3, SIDE, SIDE],
            labels: ids
                .iter()
                .map(|&i| u32::from(self.images.labels[i]))
                .collect(),
            keys: ids
                .iter()
                .map(|i| format!("{}:{i}", self.kind.name()))
                .collect(),
            wait: Duration::ZERO,
            index,
            skipped: Vec::new(),
        }
    }
}

/// The CIFAR train and test loaders of `dir` and a [`DatasetInfo`] describing them (kind,
/// class names, T, 32×32, the normalisation as its parameters), as a frames dataset would.
pub fn open_cifar(
    dir: &Path,
    kind: CifarKind,
    time_steps: usize,
    (train_batch, test_batch): (usize, usize),
    seed: u64,
    augment: ImageAugment,
) -> Result<(DatasetInfo, CifarLoader, CifarLoader)> {
    let files = CifarFiles::locate(dir, kind)?;
    let classes = files.class_names()?;
    let train = files.read_split("train")?;
    let test = files.read_split("test")?;
    let (mean, std) = kind.normalisation();
    let params = serde_json::json!({
        "source": "cifar",
        "dataset": kind.name(),
        "format": format!("{:?}", files.format).to_lowercase(),
        "encoding": "direct",
        "mean": mean,
        "std": std,
    });
    let params_hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(params.to_string()));
    let split = |n: usize| SplitInfo {
        shards: Vec::new(),
        samples: n as u64,
    };
    let info = DatasetInfo {
        format_version: DatasetInfo::FORMAT_VERSION,
        kind: kind.name().to_string(),
        classes,
        frames: time_steps,
        height: SIDE,
        width: SIDE,
        dtype: dvs_frames::Dtype::F32,
        params,
        params_hash,
        splits: [
            ("train".to_string(), split(train.len())),
            ("test".to_string(), split(test.len())),
        ]
        .into_iter()
        .collect(),
    };
    let train = CifarLoader::new(train, kind, time_steps, train_batch, true, seed, augment);
    let test = CifarLoader::new(
        test,
        kind,
        time_steps,
        test_batch,
        false,
        seed,
        ImageAugment::NONE,
    );
    Ok((info, train, test))
}

/// The CIFAR set a model was trained on, from the dataset parameters its checkpoint or ONNX
/// metadata carries (`{"source": "cifar", "dataset": "cifar10" | "cifar100", …}`).
pub fn cifar_kind_of(params: &serde_json::Value) -> Option<CifarKind> {
    if params.get("source")?.as_str()? != "cifar" {
        return None;
    }
    match params.get("dataset")?.as_str()? {
        "cifar10" => Some(CifarKind::Cifar10),
        "cifar100" => Some(CifarKind::Cifar100),
        _ => None,
    }
}

/// One CIFAR split for evaluation (no augmentation, in file order) and the dataset description.
pub fn open_cifar_split(
    dir: &Path,
    kind: CifarKind,
    time_steps: usize,
    split: &str,
    batch_size: usize,
) -> Result<(DatasetInfo, CifarLoader)> {
    let (info, train, test) = open_cifar(
        dir,
        kind,
        time_steps,
        (batch_size, batch_size),
        0,
        ImageAugment::NONE,
    )?;
    let loader = match split {
        "test" => test,
        "train" => CifarLoader {
            shuffle: false,
            ..train
        },
        other => {
            return Err(TrainError::Config(format!(
                "split `{other}`: CIFAR has the splits train and test"
            )))
        }
    };
    Ok((info, loader))
}

/// One split's batches: a frames dataset or CIFAR.
pub enum SplitLoader {
    Frames(Loader),
    Cifar(CifarLoader),
}

impl SplitLoader {
    /// Samples per epoch.
    pub fn len(&self) -> usize {
        match self {
            SplitLoader::Frames(l) => l.len(),
            SplitLoader::Cifar(l) => l.len(),
        }
    }

    /// Whether the split is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Batches per epoch.
    pub fn num_batches(&self) -> usize {
        match self {
            SplitLoader::Frames(l) => l.num_batches(),
            SplitLoader::Cifar(l) => l.num_batches(),
        }
    }

    /// The batches of epoch `epoch`.
    pub fn epoch(&self, epoch: u64) -> Box<dyn Iterator<Item = Result<Batch>> + '_> {
        match self {
            SplitLoader::Frames(l) => Box::new(l.epoch(epoch).map(|b| b.map_err(Into::into))),
            SplitLoader::Cifar(l) => Box::new(l.epoch(epoch)),
        }
    }
}

/// What `--data` holds (`--dataset`): a prepared frames dataset (default) or the CIFAR release
/// files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DatasetSource {
    /// `frames`: `dataset.json` + shards (Contract 1).
    #[default]
    Frames,
    /// `cifar10` / `cifar100`: the official release files (python or binary).
    Cifar(CifarKind),
}

impl DatasetSource {
    /// Whether this is the default (frames), which configurations do not spell out.
    pub fn is_frames(&self) -> bool {
        *self == DatasetSource::Frames
    }
}

impl std::str::FromStr for DatasetSource {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "frames" => Ok(DatasetSource::Frames),
            "cifar10" => Ok(DatasetSource::Cifar(CifarKind::Cifar10)),
            "cifar100" => Ok(DatasetSource::Cifar(CifarKind::Cifar100)),
            _ => Err(format!("unknown dataset `{s}` (frames, cifar10, cifar100)")),
        }
    }
}

impl std::fmt::Display for DatasetSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatasetSource::Frames => f.write_str("frames"),
            DatasetSource::Cifar(kind) => f.write_str(kind.name()),
        }
    }
}

/// A named set of settings (`--preset`): the published runs as command lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// `cifar100-resnet18`: the seed README's CIFAR-100 command (`--seed 60 --arch resnet18
    /// --auto_aug --cutout --wd 5e-4 --dataset CIFAR100 --act mns_sig --T 2 --decay 0.5
    /// --thresh 1.0 --bn_type tdbn --alpha 5.0 --p 0.2 --gamma 1.0`) over the development
    /// config's defaults (batch 128, lr 0.1, 300 epochs, SGD momentum 0.9, cosine; each LIF
    /// layer's decay is a learnable copy).
    Cifar100Resnet18,
}

impl Preset {
    /// The settings as TOML keys of `asgl-train fit`.
    pub fn toml(self) -> &'static str {
        match self {
            Preset::Cifar100Resnet18 => {
                "seed = 60\narch = \"resnet18\"\nauto_aug = true\ncutout = true\nwd = 5e-4\ndataset = \"cifar100\"\n\
                 act = \"mns_sig\"\nT = 2\ndecay = 0.5\nthresh = 1.0\nbn_type = \"tdbn\"\n\
                 alpha = 5.0\np = 0.2\ngamma = 1.0\ntrain_batch_size = 128\nval_batch_size = 128\n\
                 lr = 0.1\nnum_epoch = 300\nmomentum = 0.9\ntrain_decay = true\n"
            }
        }
    }
}

impl std::str::FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "cifar100-resnet18" => Ok(Preset::Cifar100Resnet18),
            _ => Err(format!("unknown preset `{s}` (cifar100-resnet18)")),
        }
    }
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Preset::Cifar100Resnet18 => "cifar100-resnet18",
        })
    }
}

dvs_frames::settings::serde_via_str!(DatasetSource, Preset);

/// Opens the train and test splits of `cfg` at `data`: the prepared frames dataset (its
/// loader, with the configured augmentation and value transform) or the CIFAR release files
/// (`--augment` = random crop with padding 4 + horizontal flip, `--auto_aug`, `--cutout`). Returns the dataset
/// description, the two loaders and the per-step input shape [C, H, W].
pub fn open_splits(
    cfg: &TrainConfig,
    data: &Path,
) -> Result<(DatasetInfo, SplitLoader, SplitLoader, [usize; 3])> {
    if let DatasetSource::Cifar(kind) = cfg.dataset {
        for (flag, split, want) in [
            ("--train_split", &cfg.train_split, "train"),
            ("--test_split", &cfg.test_split, "test"),
        ] {
            if split != want {
                return Err(TrainError::Config(format!(
                    "{flag} {split}: CIFAR has the splits train and test"
                )));
            }
        }
        let augment = ImageAugment {
            crop_padding: if cfg.augment { 4 } else { 0 },
            flip: cfg.augment && cfg.flip,
            auto_aug: cfg.auto_aug,
            cutout: if cfg.cutout { 16 } else { 0 },
        };
        let (info, train, test) = open_cifar(
            data,
            kind,
            cfg.t,
            (cfg.train_batch_size, cfg.val_batch_size),
            cfg.seed,
            augment,
        )?;
        return Ok((
            info,
            SplitLoader::Cifar(train),
            SplitLoader::Cifar(test),
            [3, SIDE, SIDE],
        ));
    }
    let info = DatasetInfo::read(data)?;
    if info.frames != cfg.t {
        return Err(TrainError::Config(format!(
            "--T {} does not match the dataset's {} frames per sample",
            cfg.t, info.frames
        )));
    }
    let train_loader = Loader::open(
        data,
        &cfg.train_split,
        LoaderConfig {
            batch_size: cfg.train_batch_size,
            shuffle: true,
            seed: cfg.seed,
            augment: if cfg.augment {
                Augment {
                    flip: cfg.flip,
                    roll_max: cfg.roll_max,
                }
            } else {
                Augment::NONE
            },
            transform: cfg.transform,
            workers: cfg.workers,
            ..LoaderConfig::default()
        },
    )?;
    let test_loader = Loader::open(
        data,
        &cfg.test_split,
        LoaderConfig {
            batch_size: cfg.val_batch_size,
            transform: cfg.transform,
            workers: cfg.workers,
            ..LoaderConfig::default()
        },
    )?;
    let [_, c, h, w] = info.sample_shape();
    Ok((
        info,
        SplitLoader::Frames(train_loader),
        SplitLoader::Frames(test_loader),
        [c, h, w],
    ))
}
