//! Code2Wav's `pre_transformer`: a causal sliding-window transformer with
//! LayerScale on both residual branches, run on the code embeddings.
//!
//! Reference: `Qwen3OmniMoeCode2WavTransformerModel` and
//! `Qwen3OmniMoeCode2WavTransformerLayer` in
//! `transformers/models/qwen3_omni_moe/modeling_qwen3_omni_moe.py`.
//!
//! Attention, RMSNorm, the SwiGLU MLP and rotary embeddings are
//! omnivox-model's blocks; every layer slides (window `sliding_window`), so
//! the KV cache holds at most the window and streaming state stays
//! O(window).

use crate::config::Code2WavConfig;
use crate::error::Result;
use burn::module::{Module, Param};
use burn::tensor::{Tensor, backend::Backend};
use omnivox_model::config::{LayerType, RopeConfig, RopeKind};
use omnivox_model::loader::VarBuilder;
use omnivox_model::nn::{Attention, Mlp, RmsNorm, RopeTables, Rotary};
use omnivox_model::{BatchSeq, ContiguousKvCache, DecoderConfig};

/// One layer: `x + s₁ · attn(norm(x))`, then `x + s₂ · mlp(norm(x))`.
#[derive(Module, Debug)]
pub struct TransformerLayer<B: Backend> {
    /// `input_layernorm`.
    pub input_layernorm: RmsNorm<B>,
    /// `self_attn` (no QK-norm).
    pub self_attn: Attention<B>,
    /// `self_attn_layer_scale.scale`, `[hidden]`.
    pub self_attn_layer_scale: Param<Tensor<B, 1>>,
    /// `post_attention_layernorm`.
    pub post_attention_layernorm: RmsNorm<B>,
    /// `mlp`.
    pub mlp: Mlp<B>,
    /// `mlp_layer_scale.scale`, `[hidden]`.
    pub mlp_layer_scale: Param<Tensor<B, 1>>,
}

impl<B: Backend> TransformerLayer<B> {
    fn load(vb: &VarBuilder<'_, B>, cfg: &DecoderConfig, layer: usize) -> Self {
        let (hidden, eps) = (cfg.hidden_size, cfg.rms_norm_eps);
        Self {
            input_layernorm: RmsNorm::load(&vb.pp("input_layernorm"), hidden, eps),
            self_attn: Attention::load(&vb.pp("self_attn"), cfg, layer),
            self_attn_layer_scale: Param::from_tensor(
                vb.get([hidden], "self_attn_layer_scale.scale"),
            ),
            post_attention_layernorm: RmsNorm::load(
                &vb.pp("post_attention_layernorm"),
                hidden,
                eps,
            ),
            mlp: Mlp::load(&vb.pp("mlp"), hidden, cfg.intermediate_size),
            mlp_layer_scale: Param::from_tensor(vb.get([hidden], "mlp_layer_scale.scale")),
        }
    }

    fn forward(
        &self,
        x: Tensor<B, 2>,
        rope: &RopeTables<B>,
        seqs: &mut [BatchSeq<'_, B>],
    ) -> Result<Tensor<B, 2>> {
        let h = self
            .self_attn
            .forward(self.input_layernorm.forward(x.clone()), rope, seqs)?;
        let x = x + h * self.self_attn_layer_scale.val().unsqueeze_dim(0);
        let h = self
            .mlp
            .forward(self.post_attention_layernorm.forward(x.clone()));
        Ok(x + h * self.mlp_layer_scale.val().unsqueeze_dim(0))
    }
}

/// `pre_transformer`: layers, then a final RMSNorm.
#[derive(Module, Debug)]
pub struct PreTransformer<B: Backend> {
    /// `layers.{i}`.
    pub layers: Vec<TransformerLayer<B>>,
    /// `norm`.
    pub norm: RmsNorm<B>,
    /// Rotary frequencies (not a checkpoint tensor).
    #[module(skip)]
    pub rotary: Rotary,
    /// Attention window of every layer.
    pub window: usize,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads.
    pub num_kv_heads: usize,
}

/// The decoder-block view of a Code2Wav config that omnivox-model's
/// attention is built from: every layer sliding, no QK-norm, biases on all
/// four projections when `attention_bias`.
pub fn decoder_config(cfg: &Code2WavConfig) -> DecoderConfig {
    let n = cfg.num_hidden_layers;
    DecoderConfig {
        model_type: "qwen3_omni_moe_code2wav".into(),
        vocab_size: cfg.codebook_size * cfg.num_quantizers,
        hidden_size: cfg.hidden_size,
        intermediate_size: cfg.intermediate_size,
        num_hidden_layers: n,
        num_attention_heads: cfg.num_attention_heads,
        num_key_value_heads: cfg.num_key_value_heads,
        head_dim: cfg.head_dim(),
        rms_norm_eps: cfg.rms_norm_eps,
        tie_word_embeddings: false,
        max_position_embeddings: cfg.max_position_embeddings,
        rope: RopeConfig {
            theta: cfg.rope_theta(),
            kind: RopeKind::Default,
            mrope_section: None,
        },
        qkv_bias: cfg.attention_bias,
        o_bias: cfg.attention_bias,
        qk_norm: false,
        sliding_window: Some(cfg.sliding_window),
        layer_types: vec![LayerType::Sliding; n],
        moe: None,
        bos_token_id: None,
        eos_token_id: Vec::new(),
    }
}

impl<B: Backend> PreTransformer<B> {
    /// Loads from `vb` (a `pre_transformer` view).
    pub fn load(vb: &VarBuilder<'_, B>, cfg: &DecoderConfig) -> Self {
        Self {
            layers: (0..cfg.num_hidden_layers)
                .map(|i| TransformerLayer::load(&vb.pp("layers").pp(i), cfg, i))
                .collect(),
            norm: RmsNorm::load(&vb.pp("norm"), cfg.hidden_size, cfg.rms_norm_eps),
            rotary: Rotary::new(&cfg.rope, cfg.head_dim),
            window: cfg.sliding_window.unwrap_or(usize::MAX),
            num_heads: cfg.num_attention_heads,
            num_kv_heads: cfg.num_key_value_heads,
        }
    }

    /// An empty cache: each layer keeps at most `window - 1` past frames.
    pub fn new_cache(&self) -> ContiguousKvCache<B> {
        ContiguousKvCache::new(vec![Some(self.window); self.layers.len()])
    }

    /// Runs the next `n` frames, continuing from `cache` (positions and
    /// attention carry on from the frames it has seen).
    ///
    /// # Shapes
    /// - `x`: `[n, hidden]`
    /// - output: `[n, hidden]`
    pub fn forward(
        &self,
        x: Tensor<B, 2>,
        cache: &mut ContiguousKvCache<B>,
    ) -> Result<Tensor<B, 2>> {
        let n = x.dims()[0];
        let mut seqs = [BatchSeq::text(cache, n)];
        let (h, kv) = (self.num_heads, self.num_kv_heads);
        let rope = self
            .rotary
            .tables::<B>(&[&seqs[0].positions], h, kv, &x.device());
        let mut x = x;
        for layer in &self.layers {
            x = layer.forward(x, &rope, &mut seqs)?;
        }
        seqs[0].cache.advance(n);
        Ok(self.norm.forward(x))
    }
}
