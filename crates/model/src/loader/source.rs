//! Where a [`VarBuilder`](super::VarBuilder) gets its tensors: a checkpoint
//! on disk, or seeded random weights at the shapes asked for.

use super::checkpoint::{Checkpoint, INDEX_FILE, SINGLE_FILE};
use super::safetensors::{StoredDtype, TensorSpec, encode_f32, write_safetensors};
use crate::error::{Error, Result};
use burn::tensor::TensorData;
use std::path::Path;
use std::sync::Mutex;

/// A provider of named float tensors, converted to `f32` on demand.
pub trait TensorSource: Send + Sync {
    /// The stored shape of `name`, or `None` when the source lacks it. A
    /// source that makes tensors up answers `requested`.
    fn shape(&self, name: &str, requested: &[usize]) -> Option<Vec<usize>>;
    /// Reads `name` (whose stored shape is `shape`) as `f32`; with
    /// `transpose`, a 2-D tensor comes back transposed.
    fn read_f32(&self, name: &str, shape: &[usize], transpose: bool) -> Result<TensorData>;
    /// Stored names starting with `prefix` (none for made-up sources).
    fn names_under(&self, prefix: &str) -> Vec<String>;
    /// The stored dtype of `name` (`None` when absent, and for made-up
    /// sources, whose tensors are all floats). Quantized layers are told
    /// apart by it (bitsandbytes stores them as `U8` / `I8`).
    fn dtype(&self, _name: &str) -> Option<StoredDtype> {
        None
    }
    /// The bytes of `name` exactly as stored (little-endian elements), for
    /// tensors that are not floats to convert: packed quantized weights,
    /// their integer scales, bitsandbytes' JSON quant state.
    fn read_raw(&self, name: &str) -> Result<Vec<u8>> {
        Err(Error::MissingTensor(name.to_string()))
    }
}

impl TensorSource for Checkpoint {
    fn shape(&self, name: &str, _requested: &[usize]) -> Option<Vec<usize>> {
        self.info(name).map(|i| i.shape.clone())
    }

    fn read_f32(&self, name: &str, _shape: &[usize], transpose: bool) -> Result<TensorData> {
        Checkpoint::read_f32(self, name, transpose)
    }

    fn dtype(&self, name: &str) -> Option<StoredDtype> {
        Checkpoint::dtype(self, name)
    }

    fn read_raw(&self, name: &str) -> Result<Vec<u8>> {
        self.with_bytes(name, |_, bytes| bytes.to_vec())
    }

    fn names_under(&self, prefix: &str) -> Vec<String> {
        self.tensors()
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect()
    }
}

/// Seeded random weights at whatever shapes are asked for: benchmarks and
/// memory tests build real-shaped models through the same constructors as a
/// checkpoint load.
///
/// Each tensor is drawn from its own generator seeded by `seed` and its name,
/// so values do not depend on load order. Names ending in `norm.weight` are
/// ones, names ending in `.bias` zeros, and every other tensor is uniform
/// with standard deviation `std` (transformers' `initializer_range` is 0.02).
/// Values are drawn in the stored (Hub) layout, so a checkpoint written by
/// [`RandomWeights::write_checkpoint`] holds the same numbers.
#[derive(Debug)]
pub struct RandomWeights {
    seed: u64,
    std: f32,
    requested: Mutex<Vec<(String, Vec<usize>)>>,
}

impl RandomWeights {
    /// Random weights with the given seed and standard deviation.
    pub fn new(seed: u64, std: f32) -> Self {
        Self {
            seed,
            std,
            requested: Mutex::new(Vec::new()),
        }
    }

    /// Every `(name, stored shape)` read so far, in order.
    pub fn requested(&self) -> Vec<(String, Vec<usize>)> {
        self.requested
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The values of tensor `name` with `shape`, in the stored layout.
    pub fn values(&self, name: &str, shape: &[usize]) -> Vec<f32> {
        let n: usize = shape.iter().product();
        if name.ends_with("norm.weight") {
            return vec![1.0; n];
        }
        if name.ends_with(".bias") {
            return vec![0.0; n];
        }
        let mut rng = SplitMix64(self.seed ^ fnv1a(name.as_bytes()));
        // Uniform on [-a, a) has standard deviation a / sqrt(3).
        let a = self.std * 3f32.sqrt();
        (0..n)
            .map(|_| ((rng.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * a)
            .collect()
    }

    /// Writes every tensor read so far as a Hub-layout checkpoint in `dir`
    /// (`model.safetensors`, stored as `dtype`), plus `config.json`. Streams
    /// one tensor at a time.
    pub fn write_checkpoint(
        &self,
        dir: &Path,
        dtype: StoredDtype,
        config_json: &serde_json::Value,
    ) -> Result<()> {
        let io = |source| Error::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let _ = std::fs::remove_file(dir.join(INDEX_FILE));
        let specs: Vec<TensorSpec> = self
            .requested()
            .into_iter()
            .map(|(name, shape)| TensorSpec { name, shape, dtype })
            .collect();
        let tmp = dir.join(format!("{SINGLE_FILE}.tmp"));
        write_safetensors(&tmp, &specs, |s, w| {
            encode_f32(&self.values(&s.name, &s.shape), s.dtype, w)
        })?;
        std::fs::rename(&tmp, dir.join(SINGLE_FILE)).map_err(io)?;
        let text = serde_json::to_string_pretty(config_json).map_err(|e| Error::Checkpoint {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        std::fs::write(dir.join("config.json"), text).map_err(io)
    }
}

impl TensorSource for RandomWeights {
    fn shape(&self, _name: &str, requested: &[usize]) -> Option<Vec<usize>> {
        Some(requested.to_vec())
    }

    fn read_f32(&self, name: &str, shape: &[usize], transpose: bool) -> Result<TensorData> {
        {
            let mut req = self.requested.lock().unwrap_or_else(|e| e.into_inner());
            if !req.iter().any(|(n, _)| n == name) {
                req.push((name.to_string(), shape.to_vec()));
            }
        }
        let values = self.values(name, shape);
        if !transpose {
            return Ok(TensorData::new(values, shape.to_vec()));
        }
        let [r, c] = shape else {
            return Err(Error::InvalidInput(format!(
                "tensor `{name}` has shape {shape:?}; only 2-D tensors can be read transposed"
            )));
        };
        let (r, c) = (*r, *c);
        let mut out = vec![0f32; values.len()];
        for i in 0..r {
            for j in 0..c {
                out[j * r + i] = values[i * c + j];
            }
        }
        Ok(TensorData::new(out, vec![c, r]))
    }

    fn names_under(&self, _prefix: &str) -> Vec<String> {
        Vec::new()
    }
}

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
