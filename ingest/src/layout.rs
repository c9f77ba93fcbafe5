//! Dataset layouts on disk and how their recordings, labels and splits are
//! found: DVS128 Gesture (trials lists + labels CSVs), CIFAR10-DVS in the
//! original AEDAT 2.0 release and in tonic's AEDAT 4 re-pack (class from the
//! folder, selectable named splits), and DECOLLE/torchneuromorphic HDF5 (the
//! file's own train/test keys), and the two general layouts of any camera:
//! `folder` (one subfolder per class, any mix of formats; [`crate::folder`]) and `table`
//! (a CSV / parquet list of recordings and labelled windows; [`crate::table`]).
//!
//! Discovery never fails as a whole because of one recording: a listed trial
//! that is missing, an unknown class folder or an unparseable file index is a
//! [`RecordingFailure`] for that file, reported with the others.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::labels::{parse_trials_list, GESTURE_CLASSES};
use crate::report::RecordingFailure;
use dvs_decode::Format;

/// The supported dataset layouts (spelled as [`DatasetKind::as_str`] on the
/// command line, in config files and in `dataset.json`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DatasetKind {
    /// DVS128 Gesture release (AEDAT 3.1 trials, labels CSVs, trials lists).
    Gesture,
    /// CIFAR10-DVS original release (`<class>/cifar10_<class>_<k>.aedat`, AEDAT 2.0).
    Cifar10Dvs,
    /// tonic's CIFAR10-DVS re-pack (`<class>/cifar10_<class>_<k>.aedat4`, AEDAT 4.0).
    Cifar10DvsAedat4,
    /// DECOLLE / torchneuromorphic HDF5 file of pre-cut samples.
    Hdf5,
    /// One subfolder per class (or `train/` and `test/` above them), any format.
    Folder,
    /// A CSV or parquet table `path,label[,split][,start_us,end_us]`.
    Table,
}

impl DatasetKind {
    /// CLI / config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetKind::Gesture => "gesture",
            DatasetKind::Cifar10Dvs => "cifar10dvs",
            DatasetKind::Cifar10DvsAedat4 => "cifar10dvs-aedat4",
            DatasetKind::Hdf5 => "hdf5",
            DatasetKind::Folder => "folder",
            DatasetKind::Table => "table",
        }
    }

    /// True for the DVS128 layouts, whose sensor is known before any file is read.
    pub fn has_fixed_sensor(self) -> bool {
        !matches!(self, DatasetKind::Folder | DatasetKind::Table)
    }

    /// Class names in label order (the fixed layouts'; `folder` and `table` take theirs
    /// from the data: [`Discovered::classes`]).
    pub fn class_names(self) -> Vec<String> {
        let names: &[&str] = match self {
            DatasetKind::Gesture | DatasetKind::Hdf5 => &GESTURE_CLASS_NAMES,
            DatasetKind::Cifar10Dvs | DatasetKind::Cifar10DvsAedat4 => &CIFAR10_CLASS_NAMES,
            DatasetKind::Folder | DatasetKind::Table => &[],
        };
        names.iter().map(|s| s.to_string()).collect()
    }

    /// Folder name used for `label` in sample ids and exports: the label
    /// number for Gesture/HDF5 (SpikingJelly's `events_np/<split>/<label>/`),
    /// the class name otherwise (CIFAR10-DVS release folders, `folder` / `table` classes,
    /// given in label order by `classes`).
    pub fn class_dir(self, label: u32, classes: &[String]) -> String {
        match self {
            DatasetKind::Gesture | DatasetKind::Hdf5 => label.to_string(),
            _ => classes
                .get(label as usize)
                .cloned()
                .unwrap_or_else(|| label.to_string()),
        }
    }

    /// Whether the `--split` choice applies.
    pub fn is_cifar(self) -> bool {
        matches!(
            self,
            DatasetKind::Cifar10Dvs | DatasetKind::Cifar10DvsAedat4
        )
    }
}

impl std::str::FromStr for DatasetKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "gesture" | "dvsgesture" | "dvs128-gesture" => Ok(DatasetKind::Gesture),
            "cifar10dvs" | "cifar10-dvs" => Ok(DatasetKind::Cifar10Dvs),
            "cifar10dvs-aedat4" | "cifar10-dvs-aedat4" => Ok(DatasetKind::Cifar10DvsAedat4),
            "hdf5" => Ok(DatasetKind::Hdf5),
            "folder" => Ok(DatasetKind::Folder),
            "table" => Ok(DatasetKind::Table),
            other => Err(format!(
                "unknown dataset '{other}' (expected gesture, cifar10dvs, cifar10dvs-aedat4, \
                 hdf5, folder or table)"
            )),
        }
    }
}

impl std::fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

dvs_frames::settings::serde_via_str!(DatasetKind);

/// DVS128 Gesture class names, label order (CSV class 1..11).
pub const GESTURE_CLASS_NAMES: [&str; GESTURE_CLASSES] = [
    "hand_clapping",
    "right_hand_wave",
    "left_hand_wave",
    "right_arm_clockwise",
    "right_arm_counter_clockwise",
    "left_arm_clockwise",
    "left_arm_counter_clockwise",
    "arm_roll",
    "air_drums",
    "air_guitar",
    "other_gestures",
];

/// CIFAR10-DVS class folders, label order (the CIFAR-10 order, alphabetical).
pub const CIFAR10_CLASS_NAMES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Named CIFAR10-DVS train/test splits (the dataset has no official one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CifarSplit {
    /// SpikingJelly `split_to_train_test_set(0.9, ..., random_split=False)`:
    /// per class, the first `ceil(0.9 n)` files in file-name (lexicographic)
    /// order are train, the rest test.
    #[default]
    Sj90,
    /// "TEBN split" (SpikingJelly `CIFAR10DVSTEBNSplit`): files with index
    /// 0..=99 of each class are test, the others train.
    Tebn,
    /// TET / ASGL preprocessing: files with index 0..=899 are train,
    /// 900 and above test (900/100 per class).
    Tet,
}

impl CifarSplit {
    /// CLI / config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CifarSplit::Sj90 => "sj90",
            CifarSplit::Tebn => "tebn",
            CifarSplit::Tet => "tet",
        }
    }
}

impl std::str::FromStr for CifarSplit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sj90" => Ok(CifarSplit::Sj90),
            "tebn" => Ok(CifarSplit::Tebn),
            "tet" => Ok(CifarSplit::Tet),
            other => Err(format!(
                "unknown split '{other}' (expected sj90, tebn or tet)"
            )),
        }
    }
}

impl std::fmt::Display for CifarSplit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

dvs_frames::settings::serde_via_str!(CifarSplit);

/// Default share of each class in the test split of a `folder` / `table` dataset that
/// states no split.
pub const DEFAULT_TEST_RATIO: f64 = 0.2;

/// The test share of a seeded split, `0 <= r < 1` (written as a plain number).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TestRatio(pub f64);

impl Eq for TestRatio {}

impl std::hash::Hash for TestRatio {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}

impl Default for TestRatio {
    fn default() -> Self {
        TestRatio(DEFAULT_TEST_RATIO)
    }
}

impl TestRatio {
    fn checked(r: f64) -> Result<Self, String> {
        if (0.0..1.0).contains(&r) {
            Ok(TestRatio(r))
        } else {
            Err(format!("test_ratio {r} outside 0 <= r < 1"))
        }
    }

    /// Test recordings of a class of `n`: `round(n r)` (half away from zero), at most
    /// `n - 1` when `n >= 2` so that every class keeps a training recording.
    pub fn test_count(self, n: usize) -> usize {
        let k = (n as f64 * self.0).round() as usize;
        if n >= 2 {
            k.min(n - 1)
        } else {
            0
        }
    }
}

impl std::str::FromStr for TestRatio {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let r: f64 = s
            .trim()
            .parse()
            .map_err(|e| format!("test_ratio '{s}' is not a number: {e}"))?;
        TestRatio::checked(r)
    }
}

impl std::fmt::Display for TestRatio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for TestRatio {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

impl<'de> Deserialize<'de> for TestRatio {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        TestRatio::checked(f64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// The seeded, stratified split of one class's recording ids (any order): ordered by
/// `xxh3_64_with_seed(id, seed)`, the first [`TestRatio::test_count`] are test. Each
/// recording's place depends only on its own id, so adding files moves no other file.
pub fn seeded_split(ids: &[String], ratio: TestRatio, seed: u64) -> Vec<(String, Split)> {
    let mut keyed: Vec<(u64, &String)> = ids
        .iter()
        .map(|id| {
            (
                xxhash_rust::xxh3::xxh3_64_with_seed(id.as_bytes(), seed),
                id,
            )
        })
        .collect();
    keyed.sort();
    let test = ratio.test_count(ids.len());
    keyed
        .into_iter()
        .enumerate()
        .map(|(pos, (_, id))| {
            let split = if pos < test {
                Split::Test
            } else {
                Split::Train
            };
            (id.clone(), split)
        })
        .collect()
}

/// Train or test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training set.
    Train,
    /// Test set.
    Test,
}

impl Split {
    /// `"train"` / `"test"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// What to do with one recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordingPlan {
    /// A Gesture trial: cut one sample per row of `labels_csv`.
    GestureTrial {
        /// The `<trial>_labels.csv` next to the trial.
        labels_csv: PathBuf,
        /// From the trials lists.
        split: Split,
        /// Trial name (file stem), the prefix of its sample names.
        trial: String,
    },
    /// A whole file is one sample (CIFAR10-DVS).
    WholeFile {
        /// From the class folder.
        label: u32,
        /// From the chosen split.
        split: Split,
        /// Sample name (file stem).
        name: String,
    },
    /// An HDF5 file of pre-cut samples with its own train/test keys.
    Hdf5File,
    /// Labelled windows of one recording (`table` rows): each is a sample.
    Windows(Vec<Window>),
}

/// One labelled window of a recording (`table` layout).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// Label (index into the dataset's classes).
    pub label: u32,
    /// Train or test.
    pub split: Split,
    /// Events with `start_us <= t < end_us`; `None` = the whole recording.
    pub range: Option<(i64, i64)>,
    /// Sample name.
    pub name: String,
}

/// One file to ingest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recording {
    /// Path relative to the input root with `/` separators; stable and unique.
    pub id: String,
    /// Absolute (or as given) path.
    pub path: PathBuf,
    /// Decoder to use.
    pub format: Format,
    /// How to cut it.
    pub plan: RecordingPlan,
}

/// Everything discovery found.
#[derive(Debug, Default)]
pub struct Discovered {
    /// Recordings to ingest, sorted by id.
    pub recordings: Vec<Recording>,
    /// Files that cannot be ingested, found before decoding.
    pub failures: Vec<RecordingFailure>,
    /// Class names in label order.
    pub classes: Vec<String>,
}

/// How `folder` / `table` recordings without a stated split are split.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SplitRule {
    /// Fixed layouts: the CIFAR10-DVS split.
    pub cifar: CifarSplit,
    /// `folder` / `table`: test share.
    pub test_ratio: TestRatio,
    /// `folder` / `table`: seed.
    pub seed: u64,
}

/// Finds the recordings of `kind` under `input` (a directory, or the HDF5 file) with the
/// CIFAR10-DVS split `split` and the default `folder` / `table` split rule.
pub fn discover(kind: DatasetKind, input: &Path, split: CifarSplit) -> std::io::Result<Discovered> {
    let rule = SplitRule {
        cifar: split,
        ..SplitRule::default()
    };
    discover_with(kind, input, rule)
}

/// Finds the recordings of `kind` under `input` (a directory, or the HDF5 file, or the
/// table file).
pub fn discover_with(
    kind: DatasetKind,
    input: &Path,
    rule: SplitRule,
) -> std::io::Result<Discovered> {
    let mut found = match kind {
        DatasetKind::Gesture => discover_gesture(input)?,
        DatasetKind::Cifar10Dvs => discover_cifar(input, "aedat", Format::Aedat2, rule.cifar)?,
        DatasetKind::Cifar10DvsAedat4 => {
            discover_cifar(input, "aedat4", Format::Aedat4, rule.cifar)?
        }
        DatasetKind::Hdf5 => discover_hdf5(input)?,
        DatasetKind::Folder => crate::folder::discover_folder(input, rule)?,
        DatasetKind::Table => crate::table::discover_table(input, rule)?,
    };
    if kind.has_fixed_sensor() {
        found.classes = kind.class_names();
    }
    found.recordings.sort_by(|a, b| a.id.cmp(&b.id));
    found.failures.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(found)
}

/// `path` relative to `root` with `/` separators (the recording id).
pub(crate) fn relative_id(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

fn read_text(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn discover_gesture(root: &Path) -> std::io::Result<Discovered> {
    let mut out = Discovered::default();
    let mut listed = BTreeMap::new();
    for (list, split) in [
        ("trials_to_train.txt", Split::Train),
        ("trials_to_test.txt", Split::Test),
    ] {
        let text = read_text(&root.join(list))?;
        for name in parse_trials_list(&text) {
            if let Some(previous) = listed.insert(name.clone(), split) {
                if previous != split {
                    out.failures.push(RecordingFailure::new(
                        &name,
                        None,
                        "listed in both trials_to_train.txt and trials_to_test.txt",
                    ));
                }
            }
        }
    }
    for (name, split) in listed {
        if out.failures.iter().any(|f| f.file == name) {
            continue;
        }
        let path = root.join(&name);
        let trial = Path::new(&name)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| name.clone());
        let labels_csv = path.with_file_name(format!("{trial}_labels.csv"));
        if !path.is_file() {
            out.failures.push(RecordingFailure::new(
                &name,
                None,
                "listed in the trials lists but the file does not exist",
            ));
            continue;
        }
        if !labels_csv.is_file() {
            out.failures.push(RecordingFailure::new(
                &name,
                None,
                format!("labels file {} does not exist", labels_csv.display()),
            ));
            continue;
        }
        out.recordings.push(Recording {
            id: relative_id(root, &path),
            path,
            format: Format::Aedat31,
            plan: RecordingPlan::GestureTrial {
                labels_csv,
                split,
                trial,
            },
        });
    }
    // Trials on disk but in neither list are not part of either split (as in SpikingJelly).
    if let Ok(entries) = std::fs::read_dir(root) {
        let mut unlisted: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".aedat"))
            .filter(|n| !out.recordings.iter().any(|r| &r.id == n))
            .filter(|n| !out.failures.iter().any(|f| &f.file == n))
            .collect();
        unlisted.sort();
        for name in unlisted {
            tracing::warn!("{name}: not in trials_to_train.txt or trials_to_test.txt; skipped");
        }
    }
    Ok(out)
}

/// Parses the trailing `_<k>` index of a CIFAR10-DVS file stem.
pub fn cifar_file_index(stem: &str) -> Option<u32> {
    stem.rsplit('_').next()?.parse().ok()
}

/// Assigns a split to each of one class's file names (given in any order).
/// Returns `(name, Some(split))`, or `None` when the split needs a file index
/// that the name does not have.
pub fn assign_cifar_split(names: &[String], split: CifarSplit) -> Vec<(String, Option<Split>)> {
    let mut sorted: Vec<String> = names.to_vec();
    sorted.sort();
    let train_count = (sorted.len() as f64 * 0.9).ceil() as usize;
    sorted
        .into_iter()
        .enumerate()
        .map(|(pos, name)| {
            let stem = Path::new(&name)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let assigned = match split {
                CifarSplit::Sj90 => Some(if pos < train_count {
                    Split::Train
                } else {
                    Split::Test
                }),
                CifarSplit::Tebn => {
                    cifar_file_index(&stem)
                        .map(|k| if k < 100 { Split::Test } else { Split::Train })
                }
                CifarSplit::Tet => {
                    cifar_file_index(&stem)
                        .map(|k| if k < 900 { Split::Train } else { Split::Test })
                }
            };
            (name, assigned)
        })
        .collect()
}

fn discover_cifar(
    root: &Path,
    extension: &str,
    format: Format,
    split: CifarSplit,
) -> std::io::Result<Discovered> {
    let mut out = Discovered::default();
    let mut class_dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", root.display())))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    class_dirs.sort();
    for dir in class_dirs {
        let folder = dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut names: Vec<String> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| Path::new(n).extension().is_some_and(|e| e == extension))
            .collect();
        names.sort();
        if names.is_empty() {
            continue;
        }
        let Some(label) = CIFAR10_CLASS_NAMES.iter().position(|c| *c == folder) else {
            for name in names {
                out.failures.push(RecordingFailure::new(
                    relative_id(root, &dir.join(&name)),
                    None,
                    format!("class folder '{folder}' is not a CIFAR-10 class"),
                ));
            }
            continue;
        };
        for (name, assigned) in assign_cifar_split(&names, split) {
            let path = dir.join(&name);
            let id = relative_id(root, &path);
            let Some(assigned) = assigned else {
                out.failures.push(RecordingFailure::new(
                    id,
                    None,
                    format!(
                        "file name has no trailing _<index>, needed by the '{}' split",
                        split.as_str()
                    ),
                ));
                continue;
            };
            let stem = Path::new(&name)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| name.clone());
            out.recordings.push(Recording {
                id,
                path,
                format,
                plan: RecordingPlan::WholeFile {
                    label: label as u32,
                    split: assigned,
                    name: stem,
                },
            });
        }
    }
    Ok(out)
}

fn discover_hdf5(input: &Path) -> std::io::Result<Discovered> {
    let mut out = Discovered::default();
    let files: Vec<PathBuf> = if input.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(input)?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "hdf5" || e == "h5"))
            .collect();
        v.sort();
        v
    } else {
        vec![input.to_path_buf()]
    };
    let root = if input.is_dir() {
        input.to_path_buf()
    } else {
        input.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    for path in files {
        out.recordings.push(Recording {
            id: relative_id(&root, &path),
            path,
            format: Format::Hdf5,
            plan: RecordingPlan::Hdf5File,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn sj90_uses_lexicographic_order_and_ceil() {
        // 11 files: ceil(9.9) = 10 train; lexicographic order puts _9 last.
        let files: Vec<String> = (0..11).map(|k| format!("c_{k}.aedat")).collect();
        let out = assign_cifar_split(&files, CifarSplit::Sj90);
        let test: Vec<&str> = out
            .iter()
            .filter(|(_, s)| *s == Some(Split::Test))
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(test, vec!["c_9.aedat"]);
    }

    #[test]
    fn tebn_and_tet_by_index() {
        let files = names(&[
            "c_0.aedat",
            "c_99.aedat",
            "c_100.aedat",
            "c_899.aedat",
            "c_900.aedat",
        ]);
        let tebn: Vec<_> = assign_cifar_split(&files, CifarSplit::Tebn);
        let get =
            |v: &[(String, Option<Split>)], n: &str| v.iter().find(|(m, _)| m == n).unwrap().1;
        assert_eq!(get(&tebn, "c_0.aedat"), Some(Split::Test));
        assert_eq!(get(&tebn, "c_99.aedat"), Some(Split::Test));
        assert_eq!(get(&tebn, "c_100.aedat"), Some(Split::Train));
        let tet = assign_cifar_split(&files, CifarSplit::Tet);
        assert_eq!(get(&tet, "c_899.aedat"), Some(Split::Train));
        assert_eq!(get(&tet, "c_900.aedat"), Some(Split::Test));
        let bad = assign_cifar_split(&names(&["noindex.aedat"]), CifarSplit::Tet);
        assert_eq!(bad[0].1, None);
    }
}
