//! `LayerNorm`: `(x - mean) / sqrt(var + eps) * weight + bias` over the last
//! dimension, with the biased variance, as `torch.nn.LayerNorm` computes it.
//!
//! Reference: `torch.nn.LayerNorm` (used by the Qwen3-Omni audio encoder
//! and Code2Wav's ConvNeXt blocks).

use crate::loader::VarBuilder;
use burn::module::{Module, Param};
use burn::tensor::{Tensor, backend::Backend};

/// Layer normalisation with a learned scale and (optionally) shift.
#[derive(Module, Debug)]
pub struct LayerNorm<B: Backend> {
    /// `weight`, `[dim]`.
    pub weight: Param<Tensor<B, 1>>,
    /// `bias`, `[dim]`.
    pub bias: Option<Param<Tensor<B, 1>>>,
    /// `eps` (torch's default is 1e-5).
    pub eps: f64,
}

impl<B: Backend> LayerNorm<B> {
    /// Loads `weight` and, with `bias`, `bias` (`[dim]` each) from `vb`.
    pub fn load(vb: &VarBuilder<'_, B>, dim: usize, eps: f64, bias: bool) -> Self {
        Self {
            weight: Param::from_tensor(vb.get([dim], "weight")),
            bias: bias.then(|| Param::from_tensor(vb.get([dim], "bias"))),
            eps,
        }
    }

    /// Normalises over the last dimension.
    ///
    /// # Shapes
    /// - `x`: `[..., dim]`
    /// - output: same as `x`
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let mean = x.clone().mean_dim(D - 1);
        let centered = x - mean;
        let var = centered.clone().square().mean_dim(D - 1);
        // A division, not `recip()` (ndarray's SIMD `recip` is approximate).
        let y = centered / var.add_scalar(self.eps).sqrt();
        let w: Tensor<B, D> = self.weight.val().unsqueeze();
        match &self.bias {
            Some(b) => y * w + b.val().unsqueeze(),
            None => y * w,
        }
    }
}
