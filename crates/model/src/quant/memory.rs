//! Bytes the weights take in each format, counted from a config — the
//! analytical memory figures for shapes too large to load (Qwen3-Omni
//! 30B-A3B).
//!
//! A quantized linear counts what [`LinearWeight::stored_bytes`]
//! (super::LinearWeight::stored_bytes) reports once loaded: int8 one byte
//! per value plus an f32 absmax per row; NF4 half a byte per value, the
//! 256-entry byte table (2 KiB) and its scales (f32 per block, or with
//! double quant one byte per block, an f32 per 256 blocks, the 256-entry
//! nested code and the offset). Everything that stays dense — embeddings,
//! norms, biases, routers, skipped modules — counts `dense` bytes per value.

use super::{QuantConfig, Quantization};
use crate::config::DecoderConfig;

/// How dense tensors are stored, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenseDtype {
    /// 2 bytes per value (a bf16 checkpoint kept as is, e.g. on a GPU).
    Bf16,
    /// 4 bytes per value (what omnivox's loader holds today).
    F32,
}

impl DenseDtype {
    /// Bytes per value.
    pub fn size(self) -> u64 {
        match self {
            Self::Bf16 => 2,
            Self::F32 => 4,
        }
    }
}

/// Weight bytes of a model, split into quantized linears and the rest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WeightBytes {
    /// Linear weights stored quantized.
    pub quantized: u64,
    /// Everything stored dense.
    pub dense: u64,
    /// Values in quantized linears.
    pub quantized_values: u64,
    /// Values stored dense.
    pub dense_values: u64,
}

impl WeightBytes {
    /// All bytes.
    pub fn total(&self) -> u64 {
        self.quantized + self.dense
    }

    /// All values (parameters).
    pub fn values(&self) -> u64 {
        self.quantized_values + self.dense_values
    }

    fn add_dense(&mut self, values: u64, dtype: DenseDtype) {
        self.dense += values * dtype.size();
        self.dense_values += values;
    }
}

/// Bytes of one `[out, in]` weight quantized as `method` (`None`: dense).
pub fn linear_bytes(
    out: u64,
    inp: u64,
    method: Quantization,
    config: &QuantConfig,
    dense: DenseDtype,
) -> u64 {
    let n = out * inp;
    match method {
        Quantization::None => n * dense.size(),
        Quantization::Int8 => n + 4 * out,
        Quantization::Nf4 => {
            let blocks = n.div_ceil(config.nf4_blocksize as u64);
            let nested = super::NESTED_BLOCKSIZE as u64;
            let scales = if config.double_quant {
                blocks + 4 * blocks.div_ceil(nested) + 4 * nested + 4
            } else {
                4 * blocks
            };
            n.div_ceil(2) + 256 * 2 * 4 + scales
        }
    }
}

/// Counts a Qwen decoder (`…ForCausalLM`) whose tensors live under
/// `prefix` (`""`, or `"thinker"` for the Qwen3-Omni thinker's text model),
/// as [`LinearWeight::load`](super::LinearWeight::load) would store it under
/// `config` (skip patterns see the real module names).
pub fn decoder_bytes(
    cfg: &DecoderConfig,
    prefix: &str,
    config: &QuantConfig,
    dense: DenseDtype,
) -> WeightBytes {
    let mut bytes = WeightBytes::default();
    let name = |s: String| {
        if prefix.is_empty() {
            s
        } else {
            format!("{prefix}.{s}")
        }
    };
    let linear = |b: &mut WeightBytes, module: String, out: usize, inp: usize| {
        let method = config.method_for(&name(module));
        let (out, inp) = (out as u64, inp as u64);
        if method == Quantization::None {
            b.add_dense(out * inp, dense);
        } else {
            b.quantized += linear_bytes(out, inp, method, config, dense);
            b.quantized_values += out * inp;
        }
    };
    let (h, vocab) = (cfg.hidden_size, cfg.vocab_size as u64);
    let (q, kv) = (
        cfg.num_attention_heads * cfg.head_dim,
        cfg.num_key_value_heads * cfg.head_dim,
    );
    bytes.add_dense(vocab * h as u64 + h as u64, dense); // embed_tokens, final norm
    if !cfg.tie_word_embeddings {
        linear(&mut bytes, "lm_head".into(), cfg.vocab_size, h);
    }
    for i in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{i}");
        for (proj, out, inp) in [("q", q, h), ("k", kv, h), ("v", kv, h), ("o", h, q)] {
            linear(&mut bytes, format!("{p}.self_attn.{proj}_proj"), out, inp);
        }
        let biases = if cfg.qkv_bias { q + 2 * kv } else { 0 } + if cfg.o_bias { h } else { 0 };
        let qk_norms = if cfg.qk_norm { 2 * cfg.head_dim } else { 0 };
        bytes.add_dense((biases + qk_norms + 2 * h) as u64, dense);
        let mlp = |b: &mut WeightBytes, m: String, width: usize| {
            for (proj, out, inp) in [("gate", width, h), ("up", width, h), ("down", h, width)] {
                linear(b, format!("{m}.{proj}_proj"), out, inp);
            }
        };
        match &cfg.moe {
            Some(moe) if cfg.is_sparse(i) => {
                linear(&mut bytes, format!("{p}.mlp.gate"), moe.num_experts, h);
                for e in 0..moe.num_experts {
                    mlp(
                        &mut bytes,
                        format!("{p}.mlp.experts.{e}"),
                        moe.moe_intermediate_size,
                    );
                }
                if let Some(width) = moe.shared_expert_intermediate_size {
                    mlp(&mut bytes, format!("{p}.mlp.shared_expert"), width);
                    linear(&mut bytes, format!("{p}.mlp.shared_expert_gate"), 1, h);
                }
            }
            _ => mlp(&mut bytes, format!("{p}.mlp"), cfg.intermediate_size),
        }
    }
    bytes
}
