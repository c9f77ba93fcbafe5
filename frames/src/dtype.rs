//! The stored element type of a record's frames and the "narrowest type that holds the counts"
//! rule the writer applies.

use serde::{Deserialize, Serialize};

/// Stored element type of a record's frames (little-endian on disk).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    U8,
    U16,
    U32,
    F32,
}

impl Dtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::U8 => 1,
            Dtype::U16 => 2,
            Dtype::U32 | Dtype::F32 => 4,
        }
    }

    /// The one-byte code stored in the shard index (see `docs/shard-format.md`).
    pub fn code(self) -> u8 {
        match self {
            Dtype::U8 => 1,
            Dtype::U16 => 2,
            Dtype::U32 => 3,
            Dtype::F32 => 4,
        }
    }

    /// Inverse of [`Dtype::code`]; `None` for unknown codes.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Dtype::U8),
            2 => Some(Dtype::U16),
            3 => Some(Dtype::U32),
            4 => Some(Dtype::F32),
            _ => None,
        }
    }

    /// Lower-case name, as in `dataset.json` ("u8", "u16", "u32", "f32").
    pub fn name(self) -> &'static str {
        match self {
            Dtype::U8 => "u8",
            Dtype::U16 => "u16",
            Dtype::U32 => "u32",
            Dtype::F32 => "f32",
        }
    }

    /// The narrowest unsigned integer type that holds every count up to `max_count`.
    pub fn narrowest_for(max_count: u32) -> Self {
        if max_count <= u32::from(u8::MAX) {
            Dtype::U8
        } else if max_count <= u32::from(u16::MAX) {
            Dtype::U16
        } else {
            Dtype::U32
        }
    }

    /// The wider of two dtypes, for a dataset-wide "stored dtype" (F32 is widest).
    pub fn widest(self, other: Self) -> Self {
        self.max(other)
    }
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
