//! The CIFAR readers on the synthetic release files of `dvs_fixtures::cifar_static`: the python
//! and the binary release of the same draw read to the same images, labels and class names (both
//! sets), bad bytes are errors naming the file and offset, the direct-encoded batches repeat the
//! normalised image over T, augmentation replays from the seed, and a tiny ResNet trains on it.
use std::path::Path;

use asgl_train::config::{Arch, TrainConfig};
use asgl_train::data::augment_image::ImageAugment;
use asgl_train::data::cifar::{CifarFiles, CifarKind, ReleaseFormat, IMAGE_BYTES};
use asgl_train::data::{open_cifar, DatasetSource};
use asgl_train::fit::{fit, FitOptions};
use dvs_fixtures::cifar_static::{release_dir, write_cifar, CifarFixture, CifarFormat, CifarSet};

fn write(root: &Path, set: CifarSet, format: CifarFormat, seed: u64) {
    let spec = CifarFixture {
        set,
        format,
        per_batch: 24,
        batches: 2,
        test: 16,
        seed,
    };
    write_cifar(&spec, root).unwrap();
}

#[test]
fn python_and_binary_releases_read_to_the_same_images() {
    let tmp = tempfile::tempdir().unwrap();
    for (set, kind) in [
        (CifarSet::Cifar10, CifarKind::Cifar10),
        (CifarSet::Cifar100, CifarKind::Cifar100),
    ] {
        write(tmp.path(), set, CifarFormat::Python, 5);
        write(tmp.path(), set, CifarFormat::Binary, 5);
        let py = CifarFiles::locate(
            &tmp.path().join(release_dir(set, CifarFormat::Python)),
            kind,
        )
        .unwrap();
        let bin = CifarFiles::locate(
            &tmp.path().join(release_dir(set, CifarFormat::Binary)),
            kind,
        )
        .unwrap();
        assert_eq!(py.format, ReleaseFormat::Python);
        assert_eq!(bin.format, ReleaseFormat::Binary);
        // The parent folder holds both: the python release is preferred.
        assert_eq!(
            CifarFiles::locate(tmp.path(), kind).unwrap().format,
            ReleaseFormat::Python
        );
        for split in ["train", "test"] {
            let a = py.read_split(split).unwrap();
            let b = bin.read_split(split).unwrap();
            assert_eq!(a, b, "{kind:?} {split}");
            assert_eq!(a.len(), if split == "train" { 48 } else { 16 });
            assert_eq!(a.pixels.len(), a.len() * IMAGE_BYTES);
            assert!(a.labels.iter().all(|&l| (l as usize) < kind.num_classes()));
        }
        let names = py.class_names().unwrap();
        assert_eq!(names, bin.class_names().unwrap());
        assert_eq!(names.len(), kind.num_classes());
    }
}

#[test]
fn bad_release_bytes_are_errors_naming_file_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), CifarSet::Cifar10, CifarFormat::Binary, 1);
    write(tmp.path(), CifarSet::Cifar10, CifarFormat::Python, 1);
    let bin = tmp.path().join("cifar-10-batches-bin");
    // A cut-short record.
    let path = bin.join("data_batch_2.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(bytes.len() - 100);
    std::fs::write(&path, &bytes).unwrap();
    let files = CifarFiles::locate(&bin, CifarKind::Cifar10).unwrap();
    let err = files.read_split("train").unwrap_err().to_string();
    assert!(
        err.contains("data_batch_2.bin")
            && err.contains("offset 70679")
            && err.contains("record 23"),
        "{err}"
    );
    // A label out of range.
    let path = bin.join("test_batch.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[3073] = 10;
    std::fs::write(&path, &bytes).unwrap();
    let err = files.read_split("test").unwrap_err().to_string();
    assert!(
        err.contains("offset 3073") && err.contains("record 1"),
        "{err}"
    );
    // A pickle cut in the middle of its pixel string.
    let py = tmp.path().join("cifar-10-batches-py");
    let path = py.join("data_batch_1");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let files = CifarFiles::locate(&py, CifarKind::Cifar10).unwrap();
    let err = files.read_split("train").unwrap_err().to_string();
    assert!(
        err.contains("data_batch_1") && err.contains("more bytes"),
        "{err}"
    );
    // A folder without a release.
    let err = CifarFiles::locate(&tmp.path().join("nothing"), CifarKind::Cifar100)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no cifar100 release files"), "{err}");
}

#[test]
fn direct_encoded_batches_repeat_the_normalised_image_and_replay() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), CifarSet::Cifar10, CifarFormat::Binary, 3);
    let aug = ImageAugment {
        crop_padding: 4,
        flip: true,
        auto_aug: true,
        cutout: 16,
    };
    let (info, train, test) =
        open_cifar(tmp.path(), CifarKind::Cifar10, 3, (8, 8), 7, aug).unwrap();
    assert_eq!((info.frames, info.height, info.width), (3, 32, 32));
    assert_eq!(info.classes.len(), 10);
    let files = CifarFiles::locate(tmp.path(), CifarKind::Cifar10).unwrap();
    let raw = files.read_split("test").unwrap();
    let (mean, std) = CifarKind::Cifar10.normalisation();
    let batch = test.epoch(0).next().unwrap().unwrap();
    assert_eq!(batch.shape, [8, 3, 3, 32, 32]);
    for b in 0..8 {
        let sample = &batch.data[b * 3 * IMAGE_BYTES..(b + 1) * 3 * IMAGE_BYTES];
        for t in 1..3 {
            assert_eq!(
                sample[t * IMAGE_BYTES..(t + 1) * IMAGE_BYTES],
                sample[..IMAGE_BYTES]
            );
        }
        // The test split is not augmented: the normalised pixels, in file order.
        for (i, &v) in sample[..IMAGE_BYTES].iter().enumerate() {
            let c = i / 1024;
            let want = (f32::from(raw.image(b)[i]) / 255.0 - mean[c]) / std[c];
            assert!((v - want).abs() < 1e-6);
        }
        assert_eq!(batch.labels[b], u32::from(raw.labels[b]));
    }
    // Training batches: shuffled and augmented, the same for the same epoch, not for another.
    let e0: Vec<_> = train.epoch(0).map(|b| b.unwrap()).collect();
    let again: Vec<_> = train.epoch(0).map(|b| b.unwrap()).collect();
    let e1: Vec<_> = train.epoch(1).map(|b| b.unwrap()).collect();
    assert_eq!(e0.len(), 6);
    assert_eq!(e0[0].data, again[0].data);
    assert_eq!(e0[0].labels, again[0].labels);
    assert_ne!(e0[0].data, e1[0].data);
}

#[test]
fn a_tiny_resnet_trains_on_the_cifar_files() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), CifarSet::Cifar100, CifarFormat::Python, 9);
    let cfg = TrainConfig {
        data: Some(tmp.path().to_path_buf()),
        dataset: DatasetSource::Cifar(CifarKind::Cifar100),
        arch: "resnet18:2".parse::<Arch>().unwrap(),
        t: 2,
        num_epoch: 1,
        train_batch_size: 16,
        val_batch_size: 16,
        cutout: true,
        auto_aug: true,
        workers: 1,
        ..TrainConfig::default()
    };
    let run = tmp.path().join("run");
    let summary = fit(&cfg, &run, FitOptions::default()).unwrap();
    let m = &summary.history[0];
    assert!(m.train_loss.is_finite() && m.test_loss.is_finite());
    // 17 LIF layers, each with its learnable width.
    assert_eq!(m.width.len(), 17);
    assert!(run.join("last/model.safetensors").is_file());
    let saved = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(
        saved.contains("dataset = \"cifar100\"") && saved.contains("resnet18:2"),
        "{saved}"
    );
}

#[test]
fn the_cifar100_preset_is_the_seed_readme_command_under_the_flags() {
    use asgl_train::config::Act;
    use asgl_train::network::resnet::ResNetDepth;
    use asgl_train::network::spec::BnType;
    use clap::{Args, Command};
    let matches = TrainConfig::augment_args(Command::new("fit"))
        .try_get_matches_from(["fit", "--preset", "cifar100-resnet18", "--num_epoch", "3"])
        .unwrap();
    let cfg = TrainConfig::resolve(&matches).unwrap();
    assert_eq!(
        cfg.arch,
        Arch::ResNet {
            depth: ResNetDepth::R18,
            width: 64
        }
    );
    assert_eq!(cfg.dataset, DatasetSource::Cifar(CifarKind::Cifar100));
    assert_eq!((cfg.seed, cfg.t, cfg.act), (60, 2, Act::MnsSig));
    assert_eq!((cfg.alpha, cfg.p, cfg.gamma), (5.0, 0.2, 1.0));
    assert_eq!(
        (cfg.decay, cfg.thresh, cfg.wd, cfg.lr),
        (0.5, 1.0, 5e-4, 0.1)
    );
    assert_eq!((cfg.train_batch_size, cfg.val_batch_size), (128, 128));
    assert!(cfg.cutout && cfg.auto_aug && cfg.train_decay && cfg.train_width && cfg.augment);
    assert_eq!(cfg.bn_type, BnType::Tdbn);
    // A flag given on the command line wins over the preset.
    assert_eq!(cfg.num_epoch, 3);
    // Without the preset nothing changes: the DVS defaults.
    let plain = TrainConfig::augment_args(Command::new("fit"))
        .try_get_matches_from(["fit"])
        .unwrap();
    assert_eq!(
        TrainConfig::resolve(&plain).unwrap(),
        TrainConfig::default()
    );
}

/// Every prefix of a release pickle and every single-byte corruption of its header region is an
/// error or a value, never a panic (the reader takes untrusted bytes).
#[test]
fn cut_and_corrupted_pickles_never_panic() {
    use asgl_train::data::cifar::Unpickler;
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), CifarSet::Cifar100, CifarFormat::Python, 2);
    let path = tmp.path().join("cifar-100-python/test");
    let bytes = std::fs::read(&path).unwrap();
    let mut errors = 0;
    for cut in (0..bytes.len()).step_by(61) {
        errors += Unpickler::new(&path, &bytes[..cut]).load().is_err() as usize;
    }
    assert!(errors > 0);
    for at in 0..400.min(bytes.len()) {
        for value in [0x00, 0x7f, 0xff, b'(', b'.', b'T'] {
            let mut bad = bytes.clone();
            bad[at] = value;
            let _ = Unpickler::new(&path, &bad).load();
        }
    }
}
