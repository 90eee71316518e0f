//! int8 weights, one scale per output channel.
//!
//! Reference: bitsandbytes' LLM.int8 weight format,
//! `int8_vectorwise_quant` (`backends/default/ops.py`): per row of the
//! `[out, in]` weight, `absmax = max |w|` and `q = round(w · (127 / absmax))`
//! (ties to even, f32); `int8_vectorwise_dequant`: `w ≈ q · absmax · (1/127)`.
//! `nn.Linear8bitLt` saves `q` as `weight` (I8) and `absmax` as `SCB`.
//! Only the weights are quantized here: activations stay f32 (LLM.int8 also
//! quantizes activations at run time; that part is not reproduced).

use super::weight::{chunked_product, tokens_major};
use crate::error::{Error, Result};
use burn::module::Module;
use burn::tensor::{DType, Int, Tensor, TensorData, backend::Backend};

/// `1/127` as bitsandbytes writes it in `int8_vectorwise_dequant` (the
/// same f32 as `1.0 / 127.0`).
#[allow(clippy::excessive_precision)]
pub const INV_127: f32 = 7.874_015_718_698_502e-3;

/// Quantizes a row-major `[rows, cols]` matrix per row: `(q, absmax)`.
/// A row of zeros gets `absmax = 0` and zero codes.
pub fn quantize_rows(w: &[f32], cols: usize) -> (Vec<i8>, Vec<f32>) {
    let cols = cols.max(1);
    let mut q = Vec::with_capacity(w.len());
    let mut absmax = Vec::with_capacity(w.len() / cols);
    for row in w.chunks(cols) {
        let m = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        absmax.push(m);
        if m > 0.0 {
            // `127.0 / absmax` in torch is `absmax.reciprocal() * 127.0`
            // (`Tensor.__rtruediv__`): two roundings, reproduced.
            let s = (1.0 / m) * 127.0;
            q.extend(row.iter().map(|v| (v * s).round_ties_even() as i8));
        } else {
            q.extend(std::iter::repeat_n(0i8, row.len()));
        }
    }
    (q, absmax)
}

/// An int8 weight `[out, in]` with a per-row absmax, on the device.
#[derive(Module, Debug)]
pub struct Int8Weight<B: Backend> {
    /// Codes, `[out, in]`, dtype I8.
    pub q: Tensor<B, 2, Int>,
    /// Row absmax (bitsandbytes' `SCB`), `[out, 1]`: row `o` dequantizes to
    /// `q[o] · absmax[o] · (1/127)`.
    pub absmax: Tensor<B, 2>,
    /// Rows dequantized per matmul step.
    pub chunk_rows: usize,
}

impl<B: Backend> Int8Weight<B> {
    /// Uploads codes `q` (row-major `[out, in]`) and row maxima `absmax`
    /// (`[out]`); chunks of at most `chunk_bytes` of f32.
    pub fn from_parts(
        q: Vec<i8>,
        absmax: Vec<f32>,
        [out, inp]: [usize; 2],
        chunk_bytes: usize,
        device: &B::Device,
    ) -> Result<Self> {
        if q.len() != out * inp || absmax.len() != out {
            return Err(Error::InvalidInput(format!(
                "int8 weight [{out}, {inp}] given {} codes and {} row scales",
                q.len(),
                absmax.len()
            )));
        }
        Ok(Self {
            q: Tensor::from_data(TensorData::new(q, [out, inp]), (device, DType::I8)),
            absmax: Tensor::from_data(TensorData::new(absmax, [out, 1]), device),
            chunk_rows: super::chunk_rows(out, inp, 1, chunk_bytes),
        })
    }

    /// Output features.
    pub fn out_features(&self) -> usize {
        self.q.dims()[0]
    }

    /// Input features.
    pub fn in_features(&self) -> usize {
        self.q.dims()[1]
    }

    /// Bytes on the device: one per code, four per row.
    pub fn stored_bytes(&self) -> usize {
        let [out, inp] = self.q.dims();
        out * inp + 4 * out
    }

    /// `x Wᵀ`: `(q_chunk · xᵀ) · absmax · (1/127)` over row chunks; the scale
    /// is applied once to the `[out, tokens]` product.
    ///
    /// # Shapes
    /// - `x`: `[tokens, in]`
    /// - output: `[tokens, out]`
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let out = self.out_features();
        let yt = chunked_product(x, out, self.chunk_rows, |r0, n| {
            self.q.clone().narrow(0, r0, n).float()
        });
        tokens_major((yt * self.absmax.clone()).mul_scalar(INV_127))
    }

    /// The whole weight as f32 `[out, in]`, computed as bitsandbytes'
    /// `int8_vectorwise_dequant` (`q · absmax · (1/127)`). Materialises the
    /// full matrix: for tests and tools.
    pub fn dequantize(&self) -> Tensor<B, 2> {
        (self.q.clone().float() * self.absmax.clone()).mul_scalar(INV_127)
    }
}
