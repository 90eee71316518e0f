//! One pre-norm decoder layer: `x + attn(norm(x))`, then `x + ffn(norm(x))`.
//!
//! Reference: `Qwen3DecoderLayer` / `Qwen3MoeDecoderLayer` in
//! `transformers/models/qwen3{,_moe}/modeling_qwen3{,_moe}.py`.

use crate::batch::BatchSeq;
use crate::config::DecoderConfig;
use crate::error::Result;
use crate::loader::VarBuilder;
use crate::nn::{Attention, Mlp, RmsNorm, RopeTables, SparseMoe};
use burn::module::Module;
use burn::tensor::{Tensor, backend::Backend};

/// A layer's feed-forward block: dense SwiGLU or sparse MoE.
// Not boxed: burn's `Module` derive has no `Box<M>` impl, and there is one
// value per layer, so the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum FeedForward<B: Backend> {
    /// A dense SwiGLU MLP.
    Dense(Mlp<B>),
    /// A sparse mixture of experts.
    Sparse(SparseMoe<B>),
}

impl<B: Backend> FeedForward<B> {
    /// # Shapes
    /// - `x`: `[tokens, hidden]`
    /// - output: `[tokens, hidden]`
    pub fn forward(&self, x: Tensor<B, 2>) -> Result<Tensor<B, 2>> {
        match self {
            Self::Dense(m) => Ok(m.forward(x)),
            Self::Sparse(m) => m.forward(x),
        }
    }
}

/// A decoder layer.
#[derive(Module, Debug)]
pub struct DecoderLayer<B: Backend> {
    /// `input_layernorm`.
    pub input_layernorm: RmsNorm<B>,
    /// `self_attn`.
    pub self_attn: Attention<B>,
    /// `post_attention_layernorm`.
    pub post_attention_layernorm: RmsNorm<B>,
    /// `mlp`.
    pub mlp: FeedForward<B>,
}

impl<B: Backend> DecoderLayer<B> {
    /// Loads layer `layer` from `vb` (a `model.layers.{layer}` view).
    pub fn load(vb: &VarBuilder<'_, B>, cfg: &DecoderConfig, layer: usize) -> Self {
        let (hidden, eps) = (cfg.hidden_size, cfg.rms_norm_eps);
        let mlp = match &cfg.moe {
            Some(moe) if cfg.is_sparse(layer) => {
                FeedForward::Sparse(SparseMoe::load(&vb.pp("mlp"), cfg, moe))
            }
            _ => FeedForward::Dense(Mlp::load(&vb.pp("mlp"), hidden, cfg.intermediate_size)),
        };
        Self {
            input_layernorm: RmsNorm::load(&vb.pp("input_layernorm"), hidden, eps),
            self_attn: Attention::load(&vb.pp("self_attn"), cfg, layer),
            post_attention_layernorm: RmsNorm::load(
                &vb.pp("post_attention_layernorm"),
                hidden,
                eps,
            ),
            mlp,
        }
    }

    /// # Shapes
    /// - `x`: `[tokens, hidden]`, sequences back to back as in `seqs`
    /// - output: `[tokens, hidden]`
    pub fn forward(
        &self,
        x: Tensor<B, 2>,
        rope: &RopeTables<B>,
        seqs: &mut [BatchSeq<'_, B>],
    ) -> Result<Tensor<B, 2>> {
        let h = self
            .self_attn
            .forward(self.input_layernorm.forward(x.clone()), rope, seqs)?;
        let x = x + h;
        let h = self
            .mlp
            .forward(self.post_attention_layernorm.forward(x.clone()))?;
        Ok(x + h)
    }
}
