//! The safetensors file format: header parsing, dtypes, element decoding and
//! a streaming writer.
//!
//! Format (<https://github.com/huggingface/safetensors>): an 8-byte
//! little-endian header length `n`, `n` bytes of JSON mapping each tensor name
//! to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the
//! end of the header, plus an optional `__metadata__` string map), then the
//! raw little-endian data.

use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::ops::Range;
use std::path::Path;

/// The largest header we accept (the format's reference implementation uses
/// the same bound): a header length above this is treated as corruption
/// rather than allocated.
pub const MAX_HEADER_BYTES: u64 = 100 * 1024 * 1024;

/// A dtype as stored in a safetensors file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoredDtype {
    /// `F64`
    F64,
    /// `F32`
    F32,
    /// `F16`
    F16,
    /// `BF16`
    BF16,
    /// `I64`
    I64,
    /// `I32`
    I32,
    /// `I16`
    I16,
    /// `I8`
    I8,
    /// `U8`
    U8,
    /// `BOOL`
    Bool,
}

impl StoredDtype {
    /// Parses the dtype string safetensors writes.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "F64" => Self::F64,
            "F32" => Self::F32,
            "F16" => Self::F16,
            "BF16" => Self::BF16,
            "I64" => Self::I64,
            "I32" => Self::I32,
            "I16" => Self::I16,
            "I8" => Self::I8,
            "U8" => Self::U8,
            "BOOL" => Self::Bool,
            _ => return None,
        })
    }

    /// The name safetensors writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::F64 => "F64",
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::BF16 => "BF16",
            Self::I64 => "I64",
            Self::I32 => "I32",
            Self::I16 => "I16",
            Self::I8 => "I8",
            Self::U8 => "U8",
            Self::Bool => "BOOL",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::F64 | Self::I64 => 8,
            Self::F32 | Self::I32 => 4,
            Self::F16 | Self::BF16 | Self::I16 => 2,
            Self::I8 | Self::U8 | Self::Bool => 1,
        }
    }

    /// Whether this is a floating-point dtype the loader converts to `f32`.
    pub fn is_float(self) -> bool {
        matches!(self, Self::F64 | Self::F32 | Self::F16 | Self::BF16)
    }
}

impl std::fmt::Display for StoredDtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one tensor lives inside one safetensors file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Index of the file in [`crate::loader::Checkpoint::files`].
    pub shard: usize,
    /// The stored dtype.
    pub dtype: StoredDtype,
    /// The stored shape, as in the file.
    pub shape: Vec<usize>,
    /// Byte range in the file (absolute, header included).
    pub range: Range<u64>,
}

impl TensorInfo {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

#[derive(Deserialize)]
struct RawEntry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [u64; 2],
}

/// Reads and validates the header of the safetensors file at `path` (only
/// the header is read). Returns the tensors in name order.
pub fn read_header(path: &Path, shard: usize) -> Result<BTreeMap<String, TensorInfo>> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let bad = |reason: String| Error::Checkpoint {
        path: path.to_path_buf(),
        reason,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    let mut len_bytes = [0u8; 8];
    file.read_exact(&mut len_bytes)
        .map_err(|_| bad("shorter than the 8-byte header length".into()))?;
    let n = u64::from_le_bytes(len_bytes);
    if n > MAX_HEADER_BYTES || n.saturating_add(8) > file_len {
        return Err(bad(format!(
            "header length {n} is larger than the file ({file_len} bytes) or than {MAX_HEADER_BYTES}"
        )));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header).map_err(io)?;
    let raw: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| bad(format!("header is not JSON: {e}")))?;
    let data_start = 8 + n;
    let mut out = BTreeMap::new();
    for (name, value) in raw {
        if name == "__metadata__" {
            continue;
        }
        let entry: RawEntry = serde_json::from_value(value)
            .map_err(|e| bad(format!("tensor `{name}`: bad header entry: {e}")))?;
        let info = validate_entry(&name, entry, shard, data_start, file_len).map_err(bad)?;
        out.insert(name, info);
    }
    Ok(out)
}

fn validate_entry(
    name: &str,
    e: RawEntry,
    shard: usize,
    data_start: u64,
    file_len: u64,
) -> std::result::Result<TensorInfo, String> {
    let dtype = StoredDtype::parse(&e.dtype)
        .ok_or_else(|| format!("tensor `{name}`: unknown dtype {}", e.dtype))?;
    let [begin, end] = e.data_offsets;
    let numel = e
        .shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .ok_or_else(|| format!("tensor `{name}`: shape {:?} overflows", e.shape))?;
    let want = numel
        .checked_mul(dtype.size() as u64)
        .ok_or_else(|| format!("tensor `{name}`: shape {:?} overflows", e.shape))?;
    let (abs_begin, abs_end) = (
        data_start.saturating_add(begin),
        data_start.saturating_add(end),
    );
    if begin > end || abs_end > file_len {
        return Err(format!(
            "tensor `{name}`: data offsets [{begin}, {end}] fall outside the file"
        ));
    }
    if end - begin != want {
        return Err(format!(
            "tensor `{name}`: {} bytes stored for shape {:?} of {dtype} ({want} bytes)",
            end - begin,
            e.shape
        ));
    }
    Ok(TensorInfo {
        shard,
        dtype,
        shape: e.shape,
        range: abs_begin..abs_end,
    })
}

/// Decodes element `i` of little-endian `bytes` stored as float `dtype`.
#[inline]
fn float_at(bytes: &[u8], dtype: StoredDtype, i: usize) -> f32 {
    match dtype {
        StoredDtype::F32 => {
            let b = &bytes[i * 4..i * 4 + 4];
            f32::from_le_bytes([b[0], b[1], b[2], b[3]])
        }
        StoredDtype::BF16 => {
            let bits = u16::from_le_bytes([bytes[i * 2], bytes[i * 2 + 1]]);
            f32::from_bits(u32::from(bits) << 16)
        }
        StoredDtype::F16 => {
            half::f16::from_bits(u16::from_le_bytes([bytes[i * 2], bytes[i * 2 + 1]])).to_f32()
        }
        StoredDtype::F64 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
            f64::from_le_bytes(b) as f32
        }
        _ => 0.0,
    }
}

/// Converts float `bytes` (little-endian `dtype`) to `f32`, writing into
/// `out` (which must hold exactly the element count).
pub fn decode_f32(bytes: &[u8], dtype: StoredDtype, out: &mut [f32]) {
    match dtype {
        StoredDtype::F32 => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        StoredDtype::BF16 => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16);
            }
        }
        _ => {
            for (i, o) in out.iter_mut().enumerate() {
                *o = float_at(bytes, dtype, i);
            }
        }
    }
}

/// Converts rows `row0..row0 + n` of a stored 2-D float tensor
/// `[rows, cols]` (`bytes` holds exactly those rows) to `f32` transposed,
/// i.e. `out[c * rows + r] = in[r * cols + c]`: decoded row-major into
/// `scratch` first (the vectorisable part), then transposed in cache-sized
/// blocks.
pub fn decode_f32_transposed(
    bytes: &[u8],
    dtype: StoredDtype,
    row0: usize,
    rows: usize,
    cols: usize,
    out: &mut [f32],
    scratch: &mut Vec<f32>,
) {
    const BLOCK: usize = 32;
    let n = bytes.len() / dtype.size() / cols.max(1);
    scratch.clear();
    scratch.resize(n * cols, 0.0);
    decode_f32(bytes, dtype, scratch);
    for r0 in (0..n).step_by(BLOCK) {
        let r1 = (r0 + BLOCK).min(n);
        for c0 in (0..cols).step_by(BLOCK) {
            let c1 = (c0 + BLOCK).min(cols);
            for c in c0..c1 {
                let dst = &mut out[c * rows + row0 + r0..c * rows + row0 + r1];
                for (o, r) in dst.iter_mut().zip(r0..r1) {
                    *o = scratch[r * cols + c];
                }
            }
        }
    }
}

/// Decodes little-endian integer (or bool) `bytes` to `i64`.
pub fn decode_i64(bytes: &[u8], dtype: StoredDtype) -> Option<Vec<i64>> {
    let n = bytes.len() / dtype.size();
    let mut out = Vec::with_capacity(n);
    for c in bytes.chunks_exact(dtype.size()) {
        out.push(match dtype {
            StoredDtype::I64 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                i64::from_le_bytes(b)
            }
            StoredDtype::I32 => i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            StoredDtype::I16 => i64::from(i16::from_le_bytes([c[0], c[1]])),
            StoredDtype::I8 => i64::from(c[0] as i8),
            StoredDtype::U8 | StoredDtype::Bool => i64::from(c[0]),
            _ => return None,
        });
    }
    Some(out)
}

/// Encodes `f32` values as `dtype` (F32, F16 or BF16, round-to-nearest-even)
/// and writes them.
pub fn encode_f32(values: &[f32], dtype: StoredDtype, w: &mut dyn Write) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(values.len() * dtype.size());
    for &v in values {
        match dtype {
            StoredDtype::F16 => buf.extend_from_slice(&half::f16::from_f32(v).to_le_bytes()),
            StoredDtype::BF16 => buf.extend_from_slice(&half::bf16::from_f32(v).to_le_bytes()),
            _ => buf.extend_from_slice(&v.to_le_bytes()),
        }
    }
    w.write_all(&buf)
}

/// One tensor to be written by [`write_safetensors`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// Checkpoint name.
    pub name: String,
    /// Shape as stored.
    pub shape: Vec<usize>,
    /// Stored dtype.
    pub dtype: StoredDtype,
}

/// Writes a safetensors file tensor by tensor without holding the whole
/// payload in memory: `fill` is called once per spec, in order, and must
/// write exactly that tensor's bytes.
pub fn write_safetensors(
    path: &Path,
    specs: &[TensorSpec],
    mut fill: impl FnMut(&TensorSpec, &mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut header = serde_json::Map::new();
    let mut offset = 0u64;
    for s in specs {
        let len = (s.shape.iter().product::<usize>() * s.dtype.size()) as u64;
        header.insert(
            s.name.clone(),
            serde_json::json!({"dtype": s.dtype.as_str(), "shape": s.shape, "data_offsets": [offset, offset + len]}),
        );
        offset += len;
    }
    header.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
    let mut text = serde_json::to_vec(&header).map_err(|e| Error::Checkpoint {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    while text.len() % 8 != 0 {
        text.push(b' ');
    }
    let file = std::fs::File::create(path).map_err(io)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    w.write_all(&(text.len() as u64).to_le_bytes())
        .map_err(io)?;
    w.write_all(&text).map_err(io)?;
    for s in specs {
        fill(s, &mut w).map_err(io)?;
    }
    w.flush().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposed_decode_matches_definition() {
        let vals: Vec<f32> = (0..15).map(|i| i as f32).collect();
        let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut out = vec![0.0; 15];
        let mut scratch = Vec::new();
        decode_f32_transposed(
            &bytes[..20],
            StoredDtype::F32,
            0,
            3,
            5,
            &mut out,
            &mut scratch,
        );
        decode_f32_transposed(
            &bytes[20..],
            StoredDtype::F32,
            1,
            3,
            5,
            &mut out,
            &mut scratch,
        );
        for r in 0..3 {
            for c in 0..5 {
                assert_eq!(out[c * 3 + r], vals[r * 5 + c]);
            }
        }
    }

    #[test]
    fn half_roundtrip_is_exact_for_representable_values() {
        let vals = [0.5f32, -2.0, 1.5, 0.0, 65504.0];
        for dtype in [StoredDtype::F16, StoredDtype::BF16, StoredDtype::F32] {
            let mut bytes = Vec::new();
            encode_f32(&vals, dtype, &mut bytes).unwrap();
            let mut out = vec![0.0; vals.len()];
            decode_f32(&bytes, dtype, &mut out);
            if dtype == StoredDtype::BF16 {
                assert_eq!(&out[..4], &vals[..4]);
            } else {
                assert_eq!(out, vals);
            }
        }
    }
}
