//! A Hugging Face checkpoint on disk: `model.safetensors`, or the shards
//! named by `model.safetensors.index.json`.
//!
//! Opening reads only the safetensors headers and builds the index
//! name → (shard, dtype, shape, byte range). Tensor data is read on demand
//! through memory maps of that tensor's byte range, [`MAP_CHUNK`] bytes at a
//! time, converted straight into the output buffer and unmapped again: pages
//! of a file mapping count towards the process's resident set while mapped,
//! so mapping only what is being converted keeps peak memory at the
//! converted weights plus one chunk — never the file plus the weights.

use super::safetensors::{
    StoredDtype, TensorInfo, decode_f32, decode_f32_transposed, decode_i64, read_header,
};
use crate::error::{Error, Result};
use burn::tensor::TensorData;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// File name of a single-file checkpoint.
pub const SINGLE_FILE: &str = "model.safetensors";
/// File name of a sharded checkpoint's index.
pub const INDEX_FILE: &str = "model.safetensors.index.json";
/// How much of a file is mapped at once while converting a tensor.
pub const MAP_CHUNK: u64 = 16 << 20;

/// An opened checkpoint: the tensor index of one or more safetensors files.
#[derive(Debug)]
pub struct Checkpoint {
    files: Vec<PathBuf>,
    handles: Vec<std::fs::File>,
    tensors: BTreeMap<String, TensorInfo>,
    bytes_read: AtomicU64,
}

#[derive(serde::Deserialize)]
struct ShardIndex {
    weight_map: BTreeMap<String, String>,
}

impl Checkpoint {
    /// Opens the checkpoint in `dir`: `model.safetensors.index.json` and every
    /// shard it names when present, else `model.safetensors`. Reads only the
    /// headers.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let index = dir.join(INDEX_FILE);
        if index.is_file() {
            return Self::open_sharded(dir, &index);
        }
        let single = dir.join(SINGLE_FILE);
        if single.is_file() {
            return Self::open_file(&single);
        }
        Err(Error::Checkpoint {
            path: dir.to_path_buf(),
            reason: format!("neither {INDEX_FILE} nor {SINGLE_FILE} is there"),
        })
    }

    /// Opens one safetensors file (any name).
    pub fn open_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let tensors = read_header(&path, 0)?;
        Ok(Self {
            handles: vec![open(&path)?],
            files: vec![path],
            tensors,
            bytes_read: AtomicU64::new(0),
        })
    }

    fn open_sharded(dir: &Path, index_path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(index_path).map_err(|source| Error::Io {
            path: index_path.to_path_buf(),
            source,
        })?;
        let index: ShardIndex = serde_json::from_str(&text).map_err(|e| Error::Checkpoint {
            path: index_path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let mut names: Vec<&String> = index.weight_map.values().collect();
        names.sort();
        names.dedup();
        let mut files = Vec::with_capacity(names.len());
        let mut tensors = BTreeMap::new();
        for (shard, name) in names.into_iter().enumerate() {
            if name.contains('/') || name.contains('\\') || name.starts_with('.') {
                return Err(Error::Checkpoint {
                    path: index_path.to_path_buf(),
                    reason: format!("shard name `{name}` is not a plain file name"),
                });
            }
            let path = dir.join(name);
            for (tensor, info) in read_header(&path, shard)? {
                if tensors.contains_key(&tensor) {
                    return Err(Error::Checkpoint {
                        path: path.clone(),
                        reason: format!("tensor `{tensor}` is stored in two shards"),
                    });
                }
                tensors.insert(tensor, info);
            }
            files.push(path);
        }
        let missing: Vec<&str> = index
            .weight_map
            .keys()
            .filter(|k| !tensors.contains_key(*k))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(Error::Checkpoint {
                path: index_path.to_path_buf(),
                reason: format!(
                    "tensors named by the index but absent from their shard: {missing:?}"
                ),
            });
        }
        Ok(Self {
            handles: files.iter().map(|p| open(p)).collect::<Result<_>>()?,
            files,
            tensors,
            bytes_read: AtomicU64::new(0),
        })
    }

    /// The safetensors files, in shard order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Every tensor, by name.
    pub fn tensors(&self) -> &BTreeMap<String, TensorInfo> {
        &self.tensors
    }

    /// One tensor's index entry.
    pub fn info(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.get(name)
    }

    /// Total tensor-data bytes read from the files so far (headers excluded).
    /// Tests use it to prove that loading a sub-model by prefix never touches
    /// the other tensors.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    /// Maps `name`'s bytes and hands them to `f`; the map is dropped after.
    pub fn with_bytes<R>(&self, name: &str, f: impl FnOnce(&TensorInfo, &[u8]) -> R) -> Result<R> {
        let info = self.lookup(name)?;
        let len = info.range.end - info.range.start;
        if len == 0 {
            return Ok(f(info, &[]));
        }
        let map = self.map(info, info.range.start, len)?;
        Ok(f(info, &map))
    }

    fn lookup(&self, name: &str) -> Result<&TensorInfo> {
        self.tensors
            .get(name)
            .ok_or_else(|| Error::MissingTensor(name.to_string()))
    }

    fn map(&self, info: &TensorInfo, offset: u64, len: u64) -> Result<memmap2::Mmap> {
        self.bytes_read.fetch_add(len, Ordering::Relaxed);
        map_range(
            &self.handles[info.shard],
            &self.files[info.shard],
            offset,
            len,
        )
    }

    /// Maps `info`'s bytes a chunk at a time — whole units of `unit` bytes,
    /// about [`MAP_CHUNK`] at once — so that at most one chunk of the file is
    /// resident besides the converted tensor. Calls `f(first_unit, bytes)`.
    fn for_each_chunk(
        &self,
        info: &TensorInfo,
        unit: u64,
        mut f: impl FnMut(usize, &[u8]),
    ) -> Result<()> {
        let unit = unit.max(1);
        let per_chunk = (MAP_CHUNK / unit).max(1) * unit;
        let mut offset = info.range.start;
        while offset < info.range.end {
            let len = per_chunk.min(info.range.end - offset);
            let map = self.map(info, offset, len)?;
            f(((offset - info.range.start) / unit) as usize, &map);
            offset += len;
        }
        Ok(())
    }

    /// Reads float tensor `name` as `f32` (converting from F64/F16/BF16), in
    /// the stored shape or, with `transpose`, a 2-D tensor transposed. The
    /// conversion streams through the file in chunks straight into the one
    /// output buffer.
    pub fn read_f32(&self, name: &str, transpose: bool) -> Result<TensorData> {
        let info = self.lookup(name)?;
        if !info.dtype.is_float() {
            return Err(Error::Dtype {
                name: name.into(),
                dtype: info.dtype.to_string(),
                expected: "F32, F16, BF16 or F64",
            });
        }
        let size = info.dtype.size();
        let mut out = vec![0f32; info.numel()];
        if transpose {
            let &[rows, cols] = info.shape.as_slice() else {
                return Err(Error::InvalidInput(format!(
                    "tensor `{name}` has shape {:?}; only 2-D tensors can be read transposed",
                    info.shape
                )));
            };
            let mut scratch = Vec::new();
            self.for_each_chunk(info, (cols * size) as u64, |row0, bytes| {
                decode_f32_transposed(bytes, info.dtype, row0, rows, cols, &mut out, &mut scratch);
            })?;
            return Ok(TensorData::new(out, vec![cols, rows]));
        }
        self.for_each_chunk(info, size as u64, |first, bytes| {
            let n = bytes.len() / size;
            decode_f32(bytes, info.dtype, &mut out[first..first + n]);
        })?;
        Ok(TensorData::new(out, info.shape.clone()))
    }

    /// Reads integer (or bool) tensor `name` as `i64` with its shape.
    pub fn read_i64(&self, name: &str) -> Result<(Vec<i64>, Vec<usize>)> {
        self.with_bytes(name, |info, bytes| {
            decode_i64(bytes, info.dtype).map(|v| (v, info.shape.clone()))
        })?
        .ok_or_else(|| Error::Dtype {
            name: name.into(),
            dtype: self
                .info(name)
                .map(|i| i.dtype.to_string())
                .unwrap_or_default(),
            expected: "an integer or bool dtype",
        })
    }

    /// Whether `name` is stored as a float dtype.
    pub fn is_float(&self, name: &str) -> bool {
        self.info(name).is_some_and(|i| i.dtype.is_float())
    }

    /// The stored dtype of `name`.
    pub fn dtype(&self, name: &str) -> Option<StoredDtype> {
        self.info(name).map(|i| i.dtype)
    }
}

/// Memory-maps `len` bytes of `path` starting at `offset`, read-only.
fn map_range(file: &std::fs::File, path: &Path, offset: u64, len: u64) -> Result<memmap2::Mmap> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let len = usize::try_from(len).map_err(|_| Error::Checkpoint {
        path: path.to_path_buf(),
        reason: format!("tensor of {len} bytes does not fit in memory"),
    })?;
    let mut opts = memmap2::MmapOptions::new();
    opts.offset(offset).len(len).populate();
    // SAFETY: the mapping is read-only and private to this call: it is
    // created here, read while converting one tensor, and dropped before
    // `with_bytes` returns. The range was checked against the file length
    // when the header was parsed. The remaining hazard of any file mapping —
    // another process truncating or rewriting the checkpoint while we read
    // it — is outside what a memory-safe reader can rule out; checkpoints are
    // treated as immutable while loading, as every mmap-based loader does.
    #[allow(unsafe_code)]
    let map = unsafe { opts.map(file) }.map_err(io)?;
    Ok(map)
}

fn open(path: &Path) -> Result<std::fs::File> {
    std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}
