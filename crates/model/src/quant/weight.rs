//! The weight a [`Linear`](crate::nn::Linear) holds, and how it is loaded:
//! dense, or quantized at load time as the view's [`QuantConfig`] says, or
//! read as bitsandbytes stored it.

use super::{Int8Weight, Nf4Weight, QuantConfig, Quantization, bnb, int8, nf4};
use crate::loader::{StoredDtype, VarBuilder};
use burn::module::{Module, Param};
use burn::tensor::{Tensor, backend::Backend};

/// A linear layer's weight.
#[derive(Module, Debug)]
pub enum LinearWeight<B: Backend> {
    /// f32 `[in, out]` — the Hub's `[out, in]` transposed once at load
    /// (see [`Linear`](crate::nn::Linear)); the unquantized path.
    Dense(Param<Tensor<B, 2>>),
    /// int8 per output channel.
    Int8(Int8Weight<B>),
    /// NF4 (or bitsandbytes' FP4: the same layout with another code).
    Nf4(Nf4Weight<B>),
}

impl<B: Backend> LinearWeight<B> {
    /// Loads `weight` (`[out, in]` on the Hub) from `vb`:
    ///
    /// - stored by bitsandbytes (`U8` packed 4-bit with its quant state, or
    ///   `I8` with `SCB`): read as it is, whatever the configured method;
    /// - else as `vb.quant_config().method_for(vb.prefix())` says: dense
    ///   (exactly the unquantized load), or quantized from the f32/f16/bf16
    ///   values, one tensor at a time.
    ///
    /// Never fails: problems are recorded in `vb`'s report (see
    /// [`VarBuilder::finish`]) and zeros stand in.
    pub fn load(vb: &VarBuilder<'_, B>, in_features: usize, out_features: usize) -> Self {
        let shape = [out_features, in_features];
        match vb.stored_dtype("weight") {
            Some(StoredDtype::U8) => return Self::from_nf4(bnb::load_4bit(vb, shape), vb, shape),
            Some(StoredDtype::I8) => return Self::from_int8(bnb::load_int8(vb, shape), vb, shape),
            _ => {}
        }
        let config: &QuantConfig = vb.quant_config();
        match config.method_for(vb.prefix()) {
            Quantization::None => Self::Dense(Param::from_tensor(
                vb.get_transposed([out_features, in_features], "weight"),
            )),
            Quantization::Int8 => {
                let weight = vb.get_values(shape, "weight");
                let q = weight.map(|w| int8::quantize_rows(&w, in_features));
                Self::from_int8(q, vb, shape)
            }
            Quantization::Nf4 => {
                let weight = vb.get_values(shape, "weight");
                let host = weight.map(|w| {
                    nf4::Nf4Host::quantize(&w, shape, config.nf4_blocksize, config.double_quant)
                });
                Self::from_nf4(host, vb, shape)
            }
        }
    }

    fn from_int8(
        q: Option<(Vec<i8>, Vec<f32>)>,
        vb: &VarBuilder<'_, B>,
        shape: [usize; 2],
    ) -> Self {
        let chunk = vb.quant_config().chunk_bytes;
        match q.map(|(q, absmax)| Int8Weight::from_parts(q, absmax, shape, chunk, vb.device())) {
            Some(Ok(w)) => Self::Int8(w),
            Some(Err(e)) => {
                vb.record_unreadable(format!("{}: {e}", vb.name("weight")));
                Self::zeros(shape, vb.device())
            }
            None => Self::zeros(shape, vb.device()),
        }
    }

    fn from_nf4(host: Option<nf4::Nf4Host>, vb: &VarBuilder<'_, B>, shape: [usize; 2]) -> Self {
        let chunk = vb.quant_config().chunk_bytes;
        match host.map(|h| Nf4Weight::from_host(&h, chunk, vb.device())) {
            Some(Ok(w)) => Self::Nf4(w),
            Some(Err(e)) => {
                vb.record_unreadable(format!("{}: {e}", vb.name("weight")));
                Self::zeros(shape, vb.device())
            }
            None => Self::zeros(shape, vb.device()),
        }
    }

    /// The stand-in for a weight that could not be loaded (the problem is
    /// already in the report).
    fn zeros([out, inp]: [usize; 2], device: &B::Device) -> Self {
        Self::Dense(Param::from_tensor(Tensor::zeros([inp, out], device)))
    }

    /// Which format this weight is in.
    pub fn quantization(&self) -> Quantization {
        match self {
            Self::Dense(_) => Quantization::None,
            Self::Int8(_) => Quantization::Int8,
            Self::Nf4(_) => Quantization::Nf4,
        }
    }

    /// Input features.
    pub fn in_features(&self) -> usize {
        match self {
            Self::Dense(w) => w.dims()[0],
            Self::Int8(w) => w.in_features(),
            Self::Nf4(w) => w.in_features,
        }
    }

    /// Output features.
    pub fn out_features(&self) -> usize {
        match self {
            Self::Dense(w) => w.dims()[1],
            Self::Int8(w) => w.out_features(),
            Self::Nf4(w) => w.out_features,
        }
    }

    /// The device the weight lives on.
    pub fn device(&self) -> B::Device {
        match self {
            Self::Dense(w) => w.device(),
            Self::Int8(w) => w.q.device(),
            Self::Nf4(w) => w.packed.device(),
        }
    }

    /// Bytes the weight occupies on its device (data and scales; the dense
    /// form counts 4 bytes per value).
    pub fn stored_bytes(&self) -> usize {
        match self {
            Self::Dense(w) => 4 * w.dims().iter().product::<usize>(),
            Self::Int8(w) => w.stored_bytes(),
            Self::Nf4(w) => w.stored_bytes(),
        }
    }

    /// `x Wᵀ` (no bias). Quantized weights are dequantized a chunk of rows
    /// at a time inside the product, never as a whole.
    ///
    /// # Shapes
    /// - `x`: `[tokens, in]`
    /// - output: `[tokens, out]`
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        match self {
            Self::Dense(w) => x.matmul(w.val()),
            Self::Int8(w) => w.forward(x),
            Self::Nf4(w) => w.forward(x),
        }
    }

    /// The weight as f32 `[in, out]` (the dense layout). For a quantized
    /// weight this materialises the whole dequantized matrix: for tests and
    /// tools, not for the forward pass.
    pub fn to_dense(&self) -> Tensor<B, 2> {
        match self {
            Self::Dense(w) => w.val(),
            Self::Int8(w) => w.dequantize().transpose(),
            Self::Nf4(w) => w.dequantize().transpose(),
        }
    }
}

/// `y = x Wᵀ` for a weight stored `[rows, cols]` row-major, `chunk` rows at
/// a time: `dequant(r0, n)` gives rows `r0..r0 + n` as f32 `[n, cols]`; each
/// is multiplied as `W_chunk · xᵀ` (contiguous weight rows on the left: the
/// fast layout on ndarray, as fast as any on flex) and dropped before the
/// next. Returns `[rows, tokens]`; see [`tokens_major`].
pub(crate) fn chunked_product<B: Backend>(
    x: Tensor<B, 2>,
    rows: usize,
    chunk: usize,
    dequant: impl Fn(usize, usize) -> Tensor<B, 2>,
) -> Tensor<B, 2> {
    let xt = x.transpose(); // [cols, tokens]
    let chunk = chunk.max(1);
    let mut parts: Vec<Tensor<B, 2>> = (0..rows)
        .step_by(chunk)
        .map(|r0| {
            let n = chunk.min(rows - r0);
            dequant(r0, n).matmul(xt.clone()) // [n, tokens]
        })
        .collect();
    if parts.len() == 1 {
        parts.pop().expect("one part, checked just above")
    } else {
        Tensor::cat(parts, 0)
    }
}

/// `[rows, tokens]` → `[tokens, rows]`: a free reshape for one token (the
/// decode step), a transpose otherwise.
pub(crate) fn tokens_major<B: Backend>(yt: Tensor<B, 2>) -> Tensor<B, 2> {
    let [rows, tokens] = yt.dims();
    if tokens == 1 {
        yt.reshape([1, rows])
    } else {
        yt.transpose()
    }
}
