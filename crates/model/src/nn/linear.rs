//! `Linear`, `Embedding` and `RmsNorm`, loaded from Hub names.
//!
//! Reference: `torch.nn.Linear`, `torch.nn.Embedding` and `Qwen3RMSNorm` in
//! `transformers/models/qwen3/modeling_qwen3.py`.

use crate::loader::VarBuilder;
use crate::quant::LinearWeight;
use burn::module::{Module, Param};
use burn::tensor::{Int, Tensor, backend::Backend};

/// A dense linear layer `y = x W + b`.
///
/// The weight is kept as `[in, out]` — the Hub's `[out, in]` transposed once,
/// while converting from the checkpoint — because `x.matmul(w)` on that
/// layout is as fast as any on flex and 3–7× faster than a transposed view on
/// ndarray (measured; see docs/architecture.md). It is our own type so that
/// quantized weights ([`crate::quant`]: int8, NF4) replace the dense one
/// without touching callers.
#[derive(Module, Debug)]
pub struct Linear<B: Backend> {
    /// Dense `[in, out]` (the default), or quantized `[out, in]`.
    pub weight: LinearWeight<B>,
    /// `[out]`.
    pub bias: Option<Param<Tensor<B, 1>>>,
}

impl<B: Backend> Linear<B> {
    /// Loads `weight` (`[out, in]` on the Hub) and, with `bias`, `bias` from
    /// `vb`. The weight is dense unless `vb` carries a quantization for this
    /// module or the checkpoint stores it quantized by bitsandbytes (see
    /// [`LinearWeight::load`]).
    pub fn load(
        vb: &VarBuilder<'_, B>,
        in_features: usize,
        out_features: usize,
        bias: bool,
    ) -> Self {
        let weight = LinearWeight::load(vb, in_features, out_features);
        let bias = bias.then(|| Param::from_tensor(vb.get([out_features], "bias")));
        Self { weight, bias }
    }

    /// Input features.
    pub fn in_features(&self) -> usize {
        self.weight.in_features()
    }

    /// Output features.
    pub fn out_features(&self) -> usize {
        self.weight.out_features()
    }

    /// Applies the layer to a batch of rows.
    ///
    /// # Shapes
    /// - `x`: `[tokens, in]`
    /// - output: `[tokens, out]`
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let y = self.weight.forward(x);
        match &self.bias {
            Some(b) => y + b.val().unsqueeze_dim(0),
            None => y,
        }
    }
}

/// A token embedding table.
#[derive(Module, Debug)]
pub struct Embedding<B: Backend> {
    /// `[vocab, hidden]`, the Hub layout.
    pub weight: Param<Tensor<B, 2>>,
}

impl<B: Backend> Embedding<B> {
    /// Loads `weight` (`[vocab, hidden]`) from `vb`.
    pub fn load(vb: &VarBuilder<'_, B>, vocab: usize, hidden: usize) -> Self {
        Self {
            weight: Param::from_tensor(vb.get([vocab, hidden], "weight")),
        }
    }

    /// Vocabulary size.
    pub fn vocab_size(&self) -> usize {
        self.weight.dims()[0]
    }

    /// Looks the ids up. Ids must be below the vocabulary size (the model's
    /// entry points check this before calling).
    ///
    /// # Shapes
    /// - `ids`: `[tokens]`
    /// - output: `[tokens, hidden]`
    pub fn forward(&self, ids: Tensor<B, 1, Int>) -> Tensor<B, 2> {
        self.weight.val().select(0, ids)
    }

    /// Logits against the transposed table, for a tied LM head (a transposed
    /// view; no second copy of the table is kept).
    ///
    /// # Shapes
    /// - `x`: `[tokens, hidden]`
    /// - output: `[tokens, vocab]`
    pub fn attend(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        x.matmul(self.weight.val().transpose())
    }
}

/// Root-mean-square layer norm: `w * x / sqrt(mean(x²) + eps)` over the last
/// dimension, computed in `f32` as transformers does.
#[derive(Module, Debug)]
pub struct RmsNorm<B: Backend> {
    /// `[dim]`.
    pub weight: Param<Tensor<B, 1>>,
    /// `rms_norm_eps` from the config.
    pub eps: f64,
}

impl<B: Backend> RmsNorm<B> {
    /// Loads `weight` (`[dim]`) from `vb`.
    pub fn load(vb: &VarBuilder<'_, B>, dim: usize, eps: f64) -> Self {
        Self {
            weight: Param::from_tensor(vb.get([dim], "weight")),
            eps,
        }
    }

    /// Normalises over the last dimension.
    ///
    /// # Shapes
    /// - `x`: `[..., dim]`
    /// - output: same as `x`
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let variance = x.clone().square().mean_dim(D - 1);
        // A division, not `recip()`: ndarray's SIMD `recip` is an approximate
        // reciprocal (about 1e-5 relative error), enough to fail parity.
        let rms = variance.add_scalar(self.eps).sqrt();
        let w: Tensor<B, D> = self.weight.val().unsqueeze();
        x / rms * w
    }
}
