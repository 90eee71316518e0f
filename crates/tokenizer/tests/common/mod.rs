//! Shared helpers for the parity tests: fixture paths and readers.
#![allow(dead_code)]

use anyhow::{Context, Result};
use std::path::PathBuf;

/// `fixtures/<name>` at the workspace root.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name)
}

/// A fixture's JSON file.
pub fn json(name: &str, file: &str) -> Result<serde_json::Value> {
    let path = fixture(name).join(file);
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

/// Tensors of a fixture's safetensors file, as f32 / i64 vectors.
pub struct Tensors {
    bytes: Vec<u8>,
}

impl Tensors {
    pub fn open(name: &str, file: &str) -> Result<Self> {
        let path = fixture(name).join(file);
        let bytes = std::fs::read(&path).with_context(|| format!("{}", path.display()))?;
        Ok(Self { bytes })
    }

    fn view(&self, key: &str) -> Result<(Vec<usize>, safetensors::Dtype, Vec<u8>)> {
        let st = safetensors::SafeTensors::deserialize(&self.bytes)?;
        let t = st.tensor(key).with_context(|| format!("tensor {key}"))?;
        Ok((t.shape().to_vec(), t.dtype(), t.data().to_vec()))
    }

    /// An f32 tensor and its shape.
    pub fn f32(&self, key: &str) -> Result<(Vec<f32>, Vec<usize>)> {
        let (shape, dtype, data) = self.view(key)?;
        anyhow::ensure!(dtype == safetensors::Dtype::F32, "{key} is {dtype:?}");
        let v = data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok((v, shape))
    }

    /// An f64 tensor and its shape.
    pub fn f64(&self, key: &str) -> Result<(Vec<f64>, Vec<usize>)> {
        let (shape, dtype, data) = self.view(key)?;
        anyhow::ensure!(dtype == safetensors::Dtype::F64, "{key} is {dtype:?}");
        let v = data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect();
        Ok((v, shape))
    }

    /// An integer tensor (i32 or i64) as i64, and its shape.
    pub fn i64(&self, key: &str) -> Result<(Vec<i64>, Vec<usize>)> {
        let (shape, dtype, data) = self.view(key)?;
        let v = match dtype {
            safetensors::Dtype::I64 => data
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect(),
            safetensors::Dtype::I32 => data
                .chunks_exact(4)
                .map(|b| i64::from(i32::from_le_bytes(b.try_into().expect("4 bytes"))))
                .collect(),
            other => anyhow::bail!("{key} is {other:?}"),
        };
        Ok((v, shape))
    }
}
