//! CIFAR-10 / CIFAR-100 from the official release files, in either release format:
//! - python: pickled dicts (protocol 2, bytes keys) `cifar-10-batches-py/data_batch_1..5`,
//!   `test_batch`, `batches.meta`; `cifar-100-python/train`, `test`, `meta`. `data` is a numpy
//!   uint8 array [N, 3072] (or raw bytes), `labels` (CIFAR-10) / `fine_labels` (CIFAR-100) a list;
//! - binary: `cifar-10-batches-bin/data_batch_1..5.bin`, `test_batch.bin` (records of one label
//!   byte and 3072 pixel bytes), `batches.meta.txt`; `cifar-100-binary/train.bin`, `test.bin`
//!   (coarse label, fine label, 3072 bytes), `fine_label_names.txt`.
//!
//! Pixels are planar (1024 red, 1024 green, 1024 blue bytes, rows top-down) in both formats.
//! The pickle reader ([`Unpickler`]) is a small stack machine for exactly the opcodes these files
//! use; anything else is an error naming the file, the byte offset and the opcode. No length read
//! from a file is allocated before it is checked against the bytes that are left.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Image side (32) and bytes per image (3 × 32 × 32).
pub const SIDE: usize = 32;
/// Bytes per image: 3 planes of 32 × 32.
pub const IMAGE_BYTES: usize = 3 * SIDE * SIDE;

/// The CIFAR-10 class names (also in `batches.meta`).
pub const CIFAR10_CLASSES: [&str; 10] = [
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

/// Why a CIFAR folder or file could not be read; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum CifarError {
    /// A file could not be read.
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file's bytes are not what the release format says.
    #[error("{path}: offset {offset}: {reason}")]
    Format {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    /// The folder holds neither release format of the set.
    #[error("{path}: {reason}")]
    Layout { path: PathBuf, reason: String },
}

type Result<T> = std::result::Result<T, CifarError>;

/// CIFAR-10 or CIFAR-100 (`--dataset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CifarKind {
    Cifar10,
    Cifar100,
}

impl CifarKind {
    /// Number of classes (fine labels for CIFAR-100).
    pub fn num_classes(self) -> usize {
        match self {
            CifarKind::Cifar10 => 10,
            CifarKind::Cifar100 => 100,
        }
    }

    /// Per-channel mean and standard deviation of the reference's `transforms.Normalize`.
    pub fn normalisation(self) -> ([f32; 3], [f32; 3]) {
        match self {
            CifarKind::Cifar10 => ([0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010]),
            CifarKind::Cifar100 => ([0.5071, 0.4867, 0.4408], [0.2675, 0.2565, 0.2761]),
        }
    }

    /// The folder names of the two release formats.
    pub fn release_dirs(self) -> [(&'static str, ReleaseFormat); 2] {
        match self {
            CifarKind::Cifar10 => [
                ("cifar-10-batches-py", ReleaseFormat::Python),
                ("cifar-10-batches-bin", ReleaseFormat::Binary),
            ],
            CifarKind::Cifar100 => [
                ("cifar-100-python", ReleaseFormat::Python),
                ("cifar-100-binary", ReleaseFormat::Binary),
            ],
        }
    }

    /// The dataset kind name (`cifar10`, `cifar100`).
    pub fn name(self) -> &'static str {
        match self {
            CifarKind::Cifar10 => "cifar10",
            CifarKind::Cifar100 => "cifar100",
        }
    }
}

/// Which release format a folder holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseFormat {
    /// Pickled python dicts.
    Python,
    /// Fixed-size binary records.
    Binary,
}

/// The files of one release folder.
#[derive(Clone, Debug, PartialEq)]
pub struct CifarFiles {
    pub kind: CifarKind,
    pub format: ReleaseFormat,
    pub dir: PathBuf,
    pub train: Vec<PathBuf>,
    pub test: Vec<PathBuf>,
    /// The class-name file, if the folder has one.
    pub meta: Option<PathBuf>,
}

/// `data_batch_<n>[ext]` files of `dir`, by n.
fn numbered_batches(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let io = |source| CifarError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let name = entry.map_err(io)?.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name
            .strip_prefix("data_batch_")
            .and_then(|r| r.strip_suffix(ext))
            .and_then(|n| n.parse::<u32>().ok())
        {
            found.push((n, dir.join(&*name)));
        }
    }
    found.sort();
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

impl CifarFiles {
    /// Finds the release files of `kind` in `dir` (the release folder itself or the folder
    /// that holds it); the python format is preferred when both are there.
    pub fn locate(dir: &Path, kind: CifarKind) -> Result<Self> {
        let mut tried = Vec::new();
        for (sub, format) in kind.release_dirs() {
            for candidate in [dir.join(sub), dir.to_path_buf()] {
                if let Some(files) = Self::in_dir(&candidate, kind, format)? {
                    return Ok(files);
                }
                tried.push(format!("{} ({format:?})", candidate.display()));
            }
        }
        Err(CifarError::Layout {
            path: dir.to_path_buf(),
            reason: format!(
                "no {} release files (python or binary) found; looked in {}",
                kind.name(),
                tried.join(", ")
            ),
        })
    }

    fn in_dir(dir: &Path, kind: CifarKind, format: ReleaseFormat) -> Result<Option<Self>> {
        if !dir.is_dir() {
            return Ok(None);
        }
        let existing = |name: &str| Some(dir.join(name)).filter(|p| p.is_file());
        let (train, test, meta) = match (kind, format) {
            (CifarKind::Cifar10, ReleaseFormat::Python) => (
                numbered_batches(dir, "")?,
                existing("test_batch"),
                existing("batches.meta"),
            ),
            (CifarKind::Cifar10, ReleaseFormat::Binary) => (
                numbered_batches(dir, ".bin")?,
                existing("test_batch.bin"),
                existing("batches.meta.txt"),
            ),
            (CifarKind::Cifar100, ReleaseFormat::Python) => (
                existing("train").into_iter().collect(),
                existing("test"),
                existing("meta"),
            ),
            (CifarKind::Cifar100, ReleaseFormat::Binary) => (
                existing("train.bin").into_iter().collect(),
                existing("test.bin"),
                existing("fine_label_names.txt"),
            ),
        };
        match test {
            Some(test) if !train.is_empty() => Ok(Some(CifarFiles {
                kind,
                format,
                dir: dir.to_path_buf(),
                train,
                test: vec![test],
                meta,
            })),
            _ => Ok(None),
        }
    }

    /// The class names: from the meta file when present, else the CIFAR-10 names or
    /// `class_00` … `class_99`.
    pub fn class_names(&self) -> Result<Vec<String>> {
        let k = self.kind.num_classes();
        let names = match (&self.meta, self.format) {
            (None, _) => None,
            (Some(path), ReleaseFormat::Binary) => {
                let text = std::fs::read_to_string(path).map_err(|source| CifarError::Io {
                    path: path.clone(),
                    source,
                })?;
                Some((
                    path,
                    text.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(String::from)
                        .collect::<Vec<_>>(),
                ))
            }
            (Some(path), ReleaseFormat::Python) => {
                let bytes = read(path)?;
                let dict = Unpickler::new(path, &bytes).load()?;
                let key = match self.kind {
                    CifarKind::Cifar10 => "label_names",
                    CifarKind::Cifar100 => "fine_label_names",
                };
                let list = dict_get(&dict, key)
                    .ok_or_else(|| format_err(path, 0, format!("no `{key}` in the meta dict")))?;
                let Value::List(items) = &**list else {
                    return Err(format_err(path, 0, format!("`{key}` is not a list")));
                };
                let names = items
                    .iter()
                    .map(|v| {
                        v.text().ok_or_else(|| {
                            format_err(path, 0, format!("`{key}` holds a non-string"))
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Some((path, names))
            }
        };
        match names {
            Some((path, names)) if names.len() != k => Err(format_err(
                path,
                0,
                format!(
                    "{} class names, {} expects {k}",
                    names.len(),
                    self.kind.name()
                ),
            )),
            Some((_, names)) => Ok(names),
            None if self.kind == CifarKind::Cifar10 => {
                Ok(CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect())
            }
            None => Ok((0..k).map(|i| format!("class_{i:02}")).collect()),
        }
    }

    /// Reads a split (`train` or `test`) into memory.
    pub fn read_split(&self, split: &str) -> Result<CifarImages> {
        let files = match split {
            "train" => &self.train,
            "test" => &self.test,
            other => {
                return Err(CifarError::Layout {
                    path: self.dir.clone(),
                    reason: format!("CIFAR has the splits train and test, not `{other}`"),
                })
            }
        };
        let mut all = CifarImages::default();
        for path in files {
            let part = match self.format {
                ReleaseFormat::Python => read_python_batch(path, self.kind)?,
                ReleaseFormat::Binary => read_binary_batch(path, self.kind)?,
            };
            all.pixels.extend_from_slice(&part.pixels);
            all.labels.extend_from_slice(&part.labels);
        }
        Ok(all)
    }
}

/// Images of one split: `pixels` [N, 3, 32, 32] (u8, planar), `labels` [N].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CifarImages {
    pub pixels: Vec<u8>,
    pub labels: Vec<u16>,
}

impl CifarImages {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there is no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image `i`'s 3072 bytes.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.pixels[i * IMAGE_BYTES..(i + 1) * IMAGE_BYTES]
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| CifarError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn format_err(path: &Path, offset: u64, reason: impl Into<String>) -> CifarError {
    CifarError::Format {
        path: path.to_path_buf(),
        offset,
        reason: reason.into(),
    }
}

/// A binary batch: records of (CIFAR-100: coarse label byte,) label byte, 3072 pixel bytes.
pub fn read_binary_batch(path: &Path, kind: CifarKind) -> Result<CifarImages> {
    let bytes = read(path)?;
    let label_bytes = match kind {
        CifarKind::Cifar10 => 1,
        CifarKind::Cifar100 => 2,
    };
    let record = label_bytes + IMAGE_BYTES;
    if bytes.is_empty() || bytes.len() % record != 0 {
        let whole = bytes.len() / record;
        return Err(format_err(
            path,
            (whole * record) as u64,
            format!(
                "{} bytes is not a whole number of {record}-byte records (record {whole} is cut short)",
                bytes.len()
            ),
        ));
    }
    let n = bytes.len() / record;
    let mut out = CifarImages {
        pixels: Vec::with_capacity(n * IMAGE_BYTES),
        labels: Vec::with_capacity(n),
    };
    for (i, rec) in bytes.chunks_exact(record).enumerate() {
        let label = rec[label_bytes - 1] as usize;
        if label >= kind.num_classes() {
            return Err(format_err(
                path,
                (i * record + label_bytes - 1) as u64,
                format!(
                    "record {i}: label {label} is not below {}",
                    kind.num_classes()
                ),
            ));
        }
        out.labels.push(label as u16);
        out.pixels.extend_from_slice(&rec[label_bytes..]);
    }
    Ok(out)
}

/// A python batch: the pickled dict with `data` [N, 3072] uint8 and `labels` / `fine_labels`.
pub fn read_python_batch(path: &Path, kind: CifarKind) -> Result<CifarImages> {
    let bytes = read(path)?;
    let dict = Unpickler::new(path, &bytes).load()?;
    let bad = |reason: String| format_err(path, 0, reason);
    let label_key = match kind {
        CifarKind::Cifar10 => "labels",
        CifarKind::Cifar100 => "fine_labels",
    };
    let data = dict_get(&dict, "data").ok_or_else(|| bad("no `data` in the batch dict".into()))?;
    let pixels = uint8_matrix(data, IMAGE_BYTES).map_err(|r| bad(format!("`data`: {r}")))?;
    let labels = dict_get(&dict, label_key)
        .ok_or_else(|| bad(format!("no `{label_key}` in the batch dict")))?;
    let Value::List(labels) = &**labels else {
        return Err(bad(format!("`{label_key}` is not a list")));
    };
    let n = pixels.len() / IMAGE_BYTES;
    if labels.len() != n {
        return Err(bad(format!("{} labels for {n} images", labels.len())));
    }
    let labels = labels
        .iter()
        .enumerate()
        .map(|(i, v)| match **v {
            Value::Int(l) if (0..kind.num_classes() as i64).contains(&l) => Ok(l as u16),
            _ => Err(bad(format!(
                "`{label_key}`[{i}] is not a label below {}",
                kind.num_classes()
            ))),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(CifarImages {
        pixels: pixels.to_vec(),
        labels,
    })
}

/// A pickled value (only the kinds the CIFAR files use).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A python 2 `str` or a python 3 `bytes`.
    Bytes(Vec<u8>),
    /// A python 2 `unicode` / python 3 `str`.
    Str(String),
    List(Vec<Rc<Value>>),
    Tuple(Vec<Rc<Value>>),
    Dict(Vec<(Rc<Value>, Rc<Value>)>),
    /// `module.name` (GLOBAL).
    Global(String, String),
    /// `func(*args)` (REDUCE), not called.
    Call(Rc<Value>, Rc<Value>),
    /// `obj.__setstate__(state)` (BUILD), not called.
    Built(Rc<Value>, Rc<Value>),
}

impl Value {
    /// The text of a `Str` or of UTF-8 `Bytes`.
    pub fn text(&self) -> Option<String> {
        match self {
            Value::Str(s) => Some(s.clone()),
            Value::Bytes(b) => String::from_utf8(b.clone()).ok(),
            _ => None,
        }
    }
}

/// Deepest container nesting the reader accepts (the release files nest 4 deep). Deeper values
/// are refused so that no later recursive walk or drop can exhaust the stack.
pub const MAX_NESTING: usize = 32;

/// Nesting depth of `v` (scalars 0), counted no further than `limit`.
fn nesting(v: &Value, limit: usize) -> usize {
    if limit == 0 {
        return 0;
    }
    let deepest = |items: &mut dyn Iterator<Item = &Rc<Value>>| {
        items.map(|x| nesting(x, limit - 1)).max().unwrap_or(0)
    };
    match v {
        Value::List(l) | Value::Tuple(l) => 1 + deepest(&mut l.iter()),
        Value::Dict(d) => 1 + deepest(&mut d.iter().flat_map(|(k, v)| [k, v])),
        Value::Call(a, b) | Value::Built(a, b) => 1 + deepest(&mut [a, b].into_iter()),
        _ => 0,
    }
}

/// The value of a dict entry whose key is the bytes or str `key`.
pub fn dict_get<'a>(dict: &'a Value, key: &str) -> Option<&'a Rc<Value>> {
    let Value::Dict(items) = dict else {
        return None;
    };
    items
        .iter()
        .find(|(k, _)| k.text().as_deref() == Some(key))
        .map(|(_, v)| v)
}

/// The bytes of a C-ordered uint8 array with rows of `row` bytes: a pickled numpy array
/// (`numpy.core.multiarray._reconstruct` + BUILD state `(version, shape, dtype('u1'), False,
/// raw bytes)`) or plain bytes.
fn uint8_matrix(v: &Value, row: usize) -> std::result::Result<&[u8], String> {
    let raw = match v {
        Value::Bytes(b) => b.as_slice(),
        Value::Built(obj, state) => {
            match &**obj {
                Value::Call(f, _) if matches!(&**f, Value::Global(m, n) if m.starts_with("numpy") && n == "_reconstruct") =>
                    {}
                other => return Err(format!("not a numpy array ({other:.40?})")),
            }
            let Value::Tuple(st) = &**state else {
                return Err("numpy array state is not a tuple".into());
            };
            let [_, shape, dtype, fortran, data] = st.as_slice() else {
                return Err(format!("numpy array state has {} items, not 5", st.len()));
            };
            let dims: Vec<i64> = match &**shape {
                Value::Tuple(d) => d
                    .iter()
                    .map(|x| match **x {
                        Value::Int(i) => Ok(i),
                        _ => Err("non-integer shape".to_string()),
                    })
                    .collect::<std::result::Result<_, _>>()?,
                _ => return Err("numpy shape is not a tuple".into()),
            };
            if dims.len() != 2 || dims[1] != row as i64 || dims[0] < 0 {
                return Err(format!("shape {dims:?}, expected [N, {row}]"));
            }
            if **fortran != Value::Bool(false) && **fortran != Value::Int(0) {
                return Err("Fortran-ordered arrays are not supported".into());
            }
            let dtype_name = numpy_dtype_name(dtype);
            if dtype_name.as_deref() != Some("u1") {
                return Err(format!("dtype {dtype_name:?}, expected u1 (uint8)"));
            }
            let Value::Bytes(b) = &**data else {
                return Err("numpy array data is not a byte string".into());
            };
            if b.len() as i64 != dims[0] * dims[1] {
                return Err(format!("{} data bytes for shape {dims:?}", b.len()));
            }
            b.as_slice()
        }
        other => return Err(format!("not a byte array ({other:.40?})")),
    };
    if raw.len() % row != 0 {
        return Err(format!(
            "{} bytes is not a whole number of {row}-byte rows",
            raw.len()
        ));
    }
    Ok(raw)
}

/// The type string of a pickled `numpy.dtype('u1', …)` (with or without its BUILD state).
fn numpy_dtype_name(v: &Value) -> Option<String> {
    let call = match v {
        Value::Built(obj, _) => &**obj,
        other => other,
    };
    match call {
        Value::Call(_, args) => match &**args {
            Value::Tuple(a) => a.first().and_then(|x| x.text()),
            _ => None,
        },
        _ => None,
    }
}

/// A pickle stack machine for protocols 0–2 binary opcodes (plus the protocol-4 framing and
/// short-unicode opcodes), building [`Value`]s; nothing is imported or called.
pub struct Unpickler<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    pos: usize,
    stack: Vec<Rc<Value>>,
    marks: Vec<usize>,
    memo: HashMap<u32, Rc<Value>>,
}

impl<'a> Unpickler<'a> {
    /// A reader over a file's bytes (`path` names the file in errors).
    pub fn new(path: &'a Path, bytes: &'a [u8]) -> Self {
        Unpickler {
            path,
            bytes,
            pos: 0,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
        }
    }

    fn err(&self, at: usize, reason: impl Into<String>) -> CifarError {
        format_err(self.path, at as u64, reason)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.bytes.len() - self.pos < n {
            return Err(self.err(
                self.pos,
                format!(
                    "needs {n} more bytes, {} are left",
                    self.bytes.len() - self.pos
                ),
            ));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn line(&mut self) -> Result<String> {
        let rest = &self.bytes[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| self.err(self.pos, "unterminated GLOBAL name"))?;
        let s = String::from_utf8_lossy(&rest[..end]).into_owned();
        self.pos += end + 1;
        Ok(s)
    }

    /// Pops a value that is about to go into a container, refusing one nested too deep.
    fn pop(&mut self, at: usize) -> Result<Rc<Value>> {
        let v = self
            .stack
            .pop()
            .ok_or_else(|| self.err(at, "stack underflow"))?;
        self.shallow(&v, at)?;
        Ok(v)
    }

    fn shallow(&self, v: &Value, at: usize) -> Result<()> {
        if nesting(v, MAX_NESTING) >= MAX_NESTING {
            return Err(self.err(at, format!("values nested deeper than {MAX_NESTING}")));
        }
        Ok(())
    }

    fn pop_mark(&mut self, at: usize) -> Result<Vec<Rc<Value>>> {
        let mark = self.marks.pop().ok_or_else(|| self.err(at, "no MARK"))?;
        if mark > self.stack.len() {
            return Err(self.err(at, "MARK above the stack"));
        }
        let items = self.stack.split_off(mark);
        for v in &items {
            self.shallow(v, at)?;
        }
        Ok(items)
    }

    fn top_mut(&mut self, at: usize) -> Result<&mut Value> {
        let err = self.err(at, "stack underflow");
        self.stack.last_mut().map(Rc::make_mut).ok_or(err)
    }

    fn push_str(&mut self, n: usize, bytes: bool) -> Result<()> {
        let at = self.pos;
        let raw = self.take(n)?;
        let v = if bytes {
            Value::Bytes(raw.to_vec())
        } else {
            Value::Str(String::from_utf8(raw.to_vec()).map_err(|_| self.err(at, "invalid UTF-8"))?)
        };
        self.stack.push(Rc::new(v));
        Ok(())
    }

    /// Runs to STOP and returns the top value.
    pub fn load(mut self) -> Result<Value> {
        loop {
            let at = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 4 {
                        return Err(
                            self.err(at, format!("pickle protocol {proto} is not supported"))
                        );
                    }
                }
                0x95 => {
                    self.take(8)?; // FRAME: a length hint only
                }
                b'.' => {
                    let top = self.pop(at)?;
                    return Ok(Rc::try_unwrap(top).unwrap_or_else(|rc| (*rc).clone()));
                }
                b'}' => self.stack.push(Rc::new(Value::Dict(Vec::new()))),
                b']' => self.stack.push(Rc::new(Value::List(Vec::new()))),
                b')' => self.stack.push(Rc::new(Value::Tuple(Vec::new()))),
                b'N' => self.stack.push(Rc::new(Value::None)),
                0x88 => self.stack.push(Rc::new(Value::Bool(true))),
                0x89 => self.stack.push(Rc::new(Value::Bool(false))),
                b'(' => self.marks.push(self.stack.len()),
                b'q' => {
                    let k = self.u8()? as u32;
                    let top = self
                        .stack
                        .last()
                        .ok_or_else(|| self.err(at, "stack underflow"))?;
                    self.memo.insert(k, top.clone());
                }
                b'r' => {
                    let k = self.u32()?;
                    let top = self
                        .stack
                        .last()
                        .ok_or_else(|| self.err(at, "stack underflow"))?;
                    self.memo.insert(k, top.clone());
                }
                0x94 => {
                    let k = self.memo.len() as u32;
                    let top = self
                        .stack
                        .last()
                        .ok_or_else(|| self.err(at, "stack underflow"))?;
                    self.memo.insert(k, top.clone());
                }
                b'h' | b'j' => {
                    let k = if op == b'h' {
                        self.u8()? as u32
                    } else {
                        self.u32()?
                    };
                    let v = self
                        .memo
                        .get(&k)
                        .cloned()
                        .ok_or_else(|| self.err(at, format!("memo {k} is not set")))?;
                    self.stack.push(v);
                }
                b'U' => {
                    let n = self.u8()? as usize;
                    self.push_str(n, true)?;
                }
                b'T' | b'B' => {
                    let n = self.u32()? as usize;
                    self.push_str(n, true)?;
                }
                b'C' => {
                    let n = self.u8()? as usize;
                    self.push_str(n, true)?;
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    self.push_str(n, false)?;
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    self.push_str(n, false)?;
                }
                b'K' => {
                    let v = self.u8()? as i64;
                    self.stack.push(Rc::new(Value::Int(v)));
                }
                b'M' => {
                    let b = self.take(2)?;
                    let v = u16::from_le_bytes([b[0], b[1]]) as i64;
                    self.stack.push(Rc::new(Value::Int(v)));
                }
                b'J' => {
                    let v = self.u32()? as i32 as i64;
                    self.stack.push(Rc::new(Value::Int(v)));
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    if n > 8 {
                        return Err(
                            self.err(at, format!("LONG1 of {n} bytes does not fit 64 bits"))
                        );
                    }
                    let b = self.take(n)?;
                    let mut v: i64 = 0;
                    for (i, &byte) in b.iter().enumerate() {
                        v |= (byte as i64) << (8 * i);
                    }
                    if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    self.stack.push(Rc::new(Value::Int(v)));
                }
                b'G' => {
                    let b = self.take(8)?;
                    let v = f64::from_be_bytes(b.try_into().expect("8 bytes"));
                    self.stack.push(Rc::new(Value::Float(v)));
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.stack.push(Rc::new(Value::Global(module, name)));
                }
                b't' => {
                    let items = self.pop_mark(at)?;
                    self.stack.push(Rc::new(Value::Tuple(items)));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err(self.err(at, "stack underflow"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    for v in &items {
                        self.shallow(v, at)?;
                    }
                    self.stack.push(Rc::new(Value::Tuple(items)));
                }
                b'a' => {
                    let v = self.pop(at)?;
                    match self.top_mut(at)? {
                        Value::List(l) => l.push(v),
                        _ => return Err(self.err(at, "APPEND to a non-list")),
                    }
                }
                b'e' => {
                    let items = self.pop_mark(at)?;
                    match self.top_mut(at)? {
                        Value::List(l) => l.extend(items),
                        _ => return Err(self.err(at, "APPENDS to a non-list")),
                    }
                }
                b's' => {
                    let v = self.pop(at)?;
                    let k = self.pop(at)?;
                    match self.top_mut(at)? {
                        Value::Dict(d) => d.push((k, v)),
                        _ => return Err(self.err(at, "SETITEM on a non-dict")),
                    }
                }
                b'u' => {
                    let items = self.pop_mark(at)?;
                    if items.len() % 2 != 0 {
                        return Err(self.err(at, "SETITEMS with an odd number of items"));
                    }
                    let mut it = items.into_iter();
                    let mut pairs = Vec::new();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    match self.top_mut(at)? {
                        Value::Dict(d) => d.extend(pairs),
                        _ => return Err(self.err(at, "SETITEMS on a non-dict")),
                    }
                }
                b'R' => {
                    let args = self.pop(at)?;
                    let func = self.pop(at)?;
                    self.stack.push(Rc::new(Value::Call(func, args)));
                }
                b'b' => {
                    let state = self.pop(at)?;
                    let obj = self.pop(at)?;
                    self.stack.push(Rc::new(Value::Built(obj, state)));
                }
                other => {
                    return Err(self.err(
                        at,
                        format!("pickle opcode 0x{other:02x} is not used by the CIFAR files"),
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_and_unknown_pickles_are_errors_with_offsets() {
        let p = Path::new("x");
        let err = Unpickler::new(p, b"\x80\x02}q\x00(U\x04dataT\xff\xff\xff\x00")
            .load()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("offset") && err.contains("more bytes"),
            "{err}"
        );
        let err = Unpickler::new(p, b"\x80\x02\xf0")
            .load()
            .unwrap_err()
            .to_string();
        assert!(err.contains("offset 2") && err.contains("0xf0"), "{err}");
        let err = Unpickler::new(p, b"\x80\x02a.")
            .load()
            .unwrap_err()
            .to_string();
        assert!(err.contains("underflow"), "{err}");
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        // 100 000 lists, each appended into the one before.
        let mut bytes = b"\x80\x02".to_vec();
        bytes.extend(std::iter::repeat_n(b']', 100_000));
        bytes.extend(std::iter::repeat_n(b'a', 99_999));
        bytes.push(b'.');
        let err = Unpickler::new(Path::new("x"), &bytes)
            .load()
            .unwrap_err()
            .to_string();
        assert!(err.contains("nested deeper than 32"), "{err}");
    }

    #[test]
    fn a_small_dict_with_a_list_and_a_long_reads_back() {
        // {b'labels': [1, 300, -2], b'n': 2**40} in protocol 2.
        let bytes = b"\x80\x02}q\x00(U\x06labelsq\x01]q\x02(K\x01M,\x01J\xfe\xff\xff\xffeU\x01n\x8a\x06\x00\x00\x00\x00\x00\x01u.";
        let v = Unpickler::new(Path::new("x"), bytes).load().unwrap();
        let labels = dict_get(&v, "labels").unwrap();
        assert_eq!(
            **labels,
            Value::List(vec![
                Rc::new(Value::Int(1)),
                Rc::new(Value::Int(300)),
                Rc::new(Value::Int(-2))
            ])
        );
        assert_eq!(**dict_get(&v, "n").unwrap(), Value::Int(1 << 40));
    }
}
