//! Sensor geometry: the typed `--sensor WxH`, `--crop X,Y,W,H` and `--resize S|HxW`
//! values, what a recording states about its sensor ([`declared_sensor`]), and the one
//! sensor of a dataset ([`dataset_sensor`]): `--sensor` when given, else the size the
//! recordings declare (the most common one; a recording declaring another size is a
//! failure of that recording, never a silent rescale). Formats that state no size
//! (`.npy`, HDF5, AEDAT 3.1 of an unknown chip) need `--sensor`: inferring `max + 1` from the events would make the frame
//! size depend on which events happen to be in the data.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use dvs_decode::{DecodeError, DecodeOptions, Format};
use serde::{Deserialize, Serialize};

use crate::config::{IngestConfig, IngestParams};
use crate::layout::{discover_with, Discovered, Recording};
use crate::report::RecordingFailure;

/// The largest sensor side accepted (Prophesee's formats stop at 2^14).
pub const MAX_SIDE: usize = 1 << 14;

/// A sensor size, spelled `WxH` (width first, as cameras are named: `320x240`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SensorSize {
    /// Pixels per row.
    pub width: usize,
    /// Rows.
    pub height: usize,
}

impl SensorSize {
    /// DVS128 (every fixed layout: Gesture, CIFAR10-DVS, DECOLLE HDF5).
    pub const DVS128: SensorSize = SensorSize {
        width: 128,
        height: 128,
    };
}

fn parse_pair(s: &str, what: &str) -> Result<(usize, usize), String> {
    let (a, b) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("{what} '{s}' is not of the form AxB"))?;
    let num = |v: &str| {
        v.trim()
            .parse::<usize>()
            .map_err(|e| format!("{what} '{s}': '{v}' is not a count: {e}"))
    };
    Ok((num(a)?, num(b)?))
}

fn check_side(v: usize, what: &str) -> Result<usize, String> {
    if v == 0 || v > MAX_SIDE {
        return Err(format!("{what} {v} outside 1..={MAX_SIDE}"));
    }
    Ok(v)
}

impl std::str::FromStr for SensorSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (width, height) = parse_pair(s, "sensor")?;
        Ok(SensorSize {
            width: check_side(width, "sensor width")?,
            height: check_side(height, "sensor height")?,
        })
    }
}

impl std::fmt::Display for SensorSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

dvs_frames::settings::serde_via_str!(SensorSize);

impl SensorSize {
    /// The sensor recorded in a dataset's `params` (`sensor_width`, `sensor_height`).
    pub fn recorded_in(params: &serde_json::Value) -> Option<SensorSize> {
        let side = |key: &str| params.get(key)?.as_u64().map(|v| v as usize);
        Some(SensorSize {
            width: side("sensor_width")?,
            height: side("sensor_height")?,
        })
    }
}

/// A crop window `X,Y,W,H` on the sensor: events with `X <= x < X+W`, `Y <= y < Y+H` are
/// kept with `(x - X, y - Y)`, the others dropped before integration (tonic's
/// `CenterCrop` / `RandomCrop` semantics at a fixed position).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Crop {
    /// First column.
    pub x: usize,
    /// First row.
    pub y: usize,
    /// Columns kept.
    pub width: usize,
    /// Rows kept.
    pub height: usize,
}

impl Crop {
    /// The cropped sensor.
    pub fn size(&self) -> SensorSize {
        SensorSize {
            width: self.width,
            height: self.height,
        }
    }

    /// Checks that the window lies inside `sensor`.
    pub fn check_inside(&self, sensor: SensorSize) -> Result<(), String> {
        if self.x + self.width > sensor.width || self.y + self.height > sensor.height {
            return Err(format!(
                "crop {self} reaches past the {sensor} sensor (x + W <= {}, y + H <= {} needed)",
                sensor.width, sensor.height
            ));
        }
        Ok(())
    }
}

impl std::str::FromStr for Crop {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fields: Vec<&str> = s.split(',').map(str::trim).collect();
        let [x, y, w, h] = fields[..] else {
            return Err(format!("crop '{s}' is not of the form X,Y,W,H"));
        };
        let num = |v: &str| {
            v.parse::<usize>()
                .map_err(|e| format!("crop '{s}': '{v}' is not a count: {e}"))
        };
        Ok(Crop {
            x: check_side(num(x)? + 1, "crop x + 1")? - 1,
            y: check_side(num(y)? + 1, "crop y + 1")? - 1,
            width: check_side(num(w)?, "crop width")?,
            height: check_side(num(h)?, "crop height")?,
        })
    }
}

impl std::fmt::Display for Crop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{},{},{},{}", self.x, self.y, self.width, self.height)
    }
}

dvs_frames::settings::serde_via_str!(Crop);

/// The output frame size of `--resize`: `S` for S×S or `HxW` (height first, as
/// torchvision's `Resize((H, W))`). A square size is written as the plain number `S`
/// (in `ingest-config.toml` and `dataset.json`), as before non-square sizes existed, so
/// the params hash of an unchanged configuration stays the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ResizeTo {
    /// Output rows.
    pub height: usize,
    /// Output columns.
    pub width: usize,
}

impl ResizeTo {
    /// S×S.
    pub fn square(side: usize) -> Self {
        ResizeTo {
            height: side,
            width: side,
        }
    }
}

impl std::str::FromStr for ResizeTo {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains(['x', 'X']) {
            let (height, width) = parse_pair(s, "resize")?;
            return Ok(ResizeTo {
                height: check_side(height, "resize height")?,
                width: check_side(width, "resize width")?,
            });
        }
        let side = s
            .trim()
            .parse::<usize>()
            .map_err(|e| format!("resize '{s}' is neither S nor HxW: {e}"))?;
        Ok(ResizeTo::square(check_side(side, "resize side")?))
    }
}

impl std::fmt::Display for ResizeTo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.height == self.width {
            write!(f, "{}", self.height)
        } else {
            write!(f, "{}x{}", self.height, self.width)
        }
    }
}

impl Serialize for ResizeTo {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.height == self.width {
            s.serialize_u64(self.height as u64)
        } else {
            s.collect_str(self)
        }
    }
}

impl<'de> Deserialize<'de> for ResizeTo {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Spelled {
            Side(u64),
            Text(String),
        }
        match Spelled::deserialize(d)? {
            Spelled::Side(side) => side.to_string().parse(),
            Spelled::Text(text) => text.parse(),
        }
        .map_err(serde::de::Error::custom)
    }
}

/// Bytes read from the start of a file to find its header (AEDAT 3.1 and Prophesee
/// headers are far shorter); a header longer than this is read whole.
const HEADER_PREFIX: usize = 1 << 16;

fn read_prefix(path: &Path, limit: usize) -> Result<Vec<u8>, DecodeError> {
    let file = std::fs::File::open(path).map_err(|e| DecodeError::io(path, 0, &e))?;
    let mut head = Vec::new();
    file.take(limit as u64)
        .read_to_end(&mut head)
        .map_err(|e| DecodeError::io(path, 0, &e))?;
    Ok(head)
}

/// The sensor of an AEDAT 3.1 recording from its `#Source N: <chip>` header line (the
/// chip classes whose array size is fixed); `None` for other chips.
fn aedat31_chip_size(header: &[u8]) -> Option<SensorSize> {
    let text = String::from_utf8_lossy(header);
    let size = |width, height| Some(SensorSize { width, height });
    for line in text.lines().take_while(|l| l.starts_with('#')) {
        let Some(rest) = line.strip_prefix("#Source") else {
            continue;
        };
        let chip = rest
            .split(':')
            .nth(1)
            .unwrap_or("")
            .trim()
            .to_ascii_uppercase();
        return match chip.as_str() {
            c if c.starts_with("DVS128") || c.starts_with("DAVIS128") => size(128, 128),
            c if c.starts_with("DAVIS240") => size(240, 180),
            c if c.starts_with("DAVIS346") => size(346, 260),
            _ => None,
        };
    }
    None
}

/// What `path` (of `format`) states about its sensor, reading only its header:
/// AEDAT 2.0 → 128×128 (the DVS128 address format), AEDAT 3.1 → from the `#Source`
/// chip, EVT 2.0 / EVT 3.0 / DAT → the `%` header's geometry, AEDAT 4 → the decoded event
/// stream's `sizeX` × `sizeY`, ATIS `.bin` → the size its coordinates are checked against
/// ([`DecodeOptions::atis_sensor`]); `None` for formats that state nothing (`.npy`,
/// HDF5) and AEDAT 4 streams without a size.
pub fn declared_sensor(
    path: &Path,
    format: Format,
    options: &DecodeOptions,
) -> Result<Option<SensorSize>, DecodeError> {
    let from = |(w, h): (u16, u16)| SensorSize {
        width: w as usize,
        height: h as usize,
    };
    Ok(match format {
        Format::Aedat2 => Some(SensorSize::DVS128),
        Format::Aedat31 => aedat31_chip_size(&read_prefix(path, HEADER_PREFIX)?),
        Format::AtisBin => Some(from(options.atis_sensor.size())),
        Format::Evt2 | Format::Evt3 | Format::Dat => {
            let head = read_prefix(path, HEADER_PREFIX)?;
            let geometry = |bytes: &[u8]| -> Result<Option<(u16, u16)>, DecodeError> {
                use dvs_decode::prophesee::{dat::DatReader, evt2::Evt2Reader, evt3::Evt3Reader};
                Ok(match format {
                    Format::Evt2 => Evt2Reader::new(path, bytes, options)?.geometry(),
                    Format::Evt3 => Evt3Reader::new(path, bytes, options)?.geometry(),
                    _ => DatReader::new(path, bytes, options)?.geometry(),
                })
            };
            // The header ends well inside the prefix; a file shorter than the prefix was
            // read whole, and a failure on a prefix is retried on the whole file.
            match geometry(&head) {
                Ok(g) => g.map(from),
                Err(_) if head.len() == HEADER_PREFIX => {
                    geometry(&dvs_decode::read_file_bytes(path)?)?.map(from)
                }
                Err(e) => return Err(e),
            }
        }
        // The IOHeader is small but the reader checks it against the whole file.
        Format::Aedat4 => {
            let bytes = dvs_decode::read_file_bytes(path)?;
            dvs_decode::aedat4::Aedat4Reader::new(path, &bytes[..], options)?
                .sensor()
                .map(from)
        }
        Format::Npy | Format::Hdf5 => None,
    })
}

/// The sensor every sample of a dataset is integrated on, and the recordings that cannot
/// join it (moved out of `recordings` into failures).
#[derive(Debug)]
pub struct DatasetSensor {
    /// The sensor.
    pub sensor: SensorSize,
    /// Recordings whose header could not be read or that declare another size.
    pub failures: Vec<RecordingFailure>,
}

/// Chooses the sensor of a folder / table dataset: `requested` (`--sensor`) when given,
/// else the size most recordings declare (ties: the smallest `WxH`). Without `--sensor`,
/// a recording that declares another size, or none, fails on its own (named, with the
/// reason and the flag that fixes it); the others go on. `None` when no recording
/// declares a size and no `--sensor` was given: the caller reports that as a setting
/// error.
pub fn dataset_sensor(
    recordings: &mut Vec<Recording>,
    requested: Option<SensorSize>,
    options: &DecodeOptions,
) -> Option<DatasetSensor> {
    if let Some(sensor) = requested {
        return Some(DatasetSensor {
            sensor,
            failures: Vec::new(),
        });
    }
    let mut failures = Vec::new();
    let mut declared: Vec<Option<SensorSize>> = Vec::with_capacity(recordings.len());
    recordings.retain(
        |rec| match declared_sensor(&rec.path, rec.format, options) {
            Ok(size) => {
                declared.push(size);
                true
            }
            Err(e) => {
                failures.push(RecordingFailure::from_decode(&rec.id, &e));
                false
            }
        },
    );
    let mut votes: BTreeMap<SensorSize, usize> = BTreeMap::new();
    for size in declared.iter().flatten() {
        *votes.entry(*size).or_default() += 1;
    }
    let most = votes.values().copied().max()?;
    let sensor = *votes.iter().find(|(_, &n)| n == most)?.0;
    let mut keep = declared.into_iter();
    recordings.retain(|rec| {
        let reason = match keep.next().flatten() {
            Some(size) if size == sensor => return true,
            Some(size) => format!(
                "declares a {size} sensor but the dataset's is {sensor} (what most recordings \
                 declare); pass --sensor WxH to integrate every recording on one sensor"
            ),
            None => format!(
                "{} states no sensor size; pass --sensor WxH (the dataset's is {sensor})",
                rec.format
            ),
        };
        failures.push(RecordingFailure::new(&rec.id, None, reason));
        false
    });
    Some(DatasetSensor { sensor, failures })
}

/// Discovery and the parameters of a run: finds the recordings of `config`, settles the
/// sensor (fixed layouts: `--sensor` or DVS128; `folder` / `table`: [`dataset_sensor`]
/// over every recording, before any `--part` selection so that all parts agree), checks
/// crop and resize against it, and returns the parameters with the recordings (the
/// recordings that cannot join the sensor moved to the failures). An error is a setting
/// or discovery problem of the whole run.
pub fn plan(config: &IngestConfig) -> Result<(IngestParams, Discovered), String> {
    let mut found = discover_with(config.dataset, &config.input, config.split_rule())
        .map_err(|e| e.to_string())?;
    let sensor = if config.dataset.has_fixed_sensor() {
        config.fixed_sensor()
    } else {
        let options = config.decode_options();
        match dataset_sensor(&mut found.recordings, config.sensor, &options) {
            Some(chosen) => {
                found.failures.extend(chosen.failures);
                chosen.sensor
            }
            None if found.recordings.is_empty() => {
                return Err(format!(
                    "{}: no recording found ({} files failed before decoding)",
                    config.input.display(),
                    found.failures.len()
                ))
            }
            None => {
                return Err(format!(
                    "none of the {} recordings under {} states its sensor size ({}): \
                     pass --sensor WxH",
                    found.recordings.len(),
                    config.input.display(),
                    found.recordings[0].format
                ))
            }
        }
    };
    config
        .check_geometry(sensor)
        .map_err(|e| format!("{e} (sensor {sensor})"))?;
    found.failures.sort_by(|a, b| a.file.cmp(&b.file));
    Ok((config.params_for(sensor), found))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        let s: SensorSize = "320x240".parse().unwrap();
        assert_eq!((s.width, s.height), (320, 240));
        assert_eq!(s.to_string(), "320x240");
        assert!("0x3".parse::<SensorSize>().is_err());
        assert!("320".parse::<SensorSize>().is_err());
        let c: Crop = "4, 2,60,40".parse().unwrap();
        assert_eq!(c.to_string(), "4,2,60,40");
        assert!(c.check_inside("64x42".parse().unwrap()).is_ok());
        assert!(c.check_inside("63x42".parse().unwrap()).is_err());
        assert!("1,2,3".parse::<Crop>().is_err());
        let r: ResizeTo = "48".parse().unwrap();
        assert_eq!(r, ResizeTo::square(48));
        let r: ResizeTo = "24x32".parse().unwrap();
        assert_eq!((r.height, r.width), (24, 32));
        assert_eq!(r.to_string(), "24x32");
    }

    #[test]
    fn square_resize_serialises_as_the_plain_number() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Holder {
            resize: ResizeTo,
        }
        let square = Holder {
            resize: ResizeTo::square(48),
        };
        assert_eq!(serde_json::to_string(&square).unwrap(), r#"{"resize":48}"#);
        assert_eq!(toml::to_string(&square).unwrap(), "resize = 48\n");
        let wide = Holder {
            resize: "24x32".parse().unwrap(),
        };
        let text = toml::to_string(&wide).unwrap();
        assert_eq!(text, "resize = \"24x32\"\n");
        assert_eq!(toml::from_str::<Holder>(&text).unwrap(), wide);
        assert_eq!(toml::from_str::<Holder>("resize = 48").unwrap(), square);
        assert!(toml::from_str::<Holder>("resize = 0").is_err());
    }

    #[test]
    fn aedat31_chip_classes() {
        let h = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n";
        assert_eq!(aedat31_chip_size(h), Some(SensorSize::DVS128));
        let h = b"#!AER-DAT3.1\r\n#Source 1: DAVIS346B\r\n#!END-HEADER\r\n";
        assert_eq!(
            aedat31_chip_size(h).map(|s| s.to_string()),
            Some("346x260".into())
        );
        assert_eq!(
            aedat31_chip_size(b"#!AER-DAT3.1\r\n#Source 1: Mystery\r\n"),
            None
        );
    }
}
