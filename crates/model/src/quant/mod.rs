//! Quantized linear weights: int8 per output channel and NF4, quantized at
//! load time from f32/f16/bf16 checkpoints or read from checkpoints that
//! bitsandbytes already quantized.
//!
//! Reference: bitsandbytes 0.50 (`bitsandbytes/functional.py`:
//! `quantize_4bit` / `dequantize_4bit`, `quantize_blockwise` for the nested
//! absmax, `int8_vectorwise_quant` / `int8_vectorwise_dequant`;
//! `QuantState.as_dict` / `from_dict` and `nn.Linear4bit` /
//! `nn.Linear8bitLt._save_to_state_dict` for the checkpoint layout) and
//! transformers 5.24's bitsandbytes integration, which writes those
//! state dicts under each layer's name.
//!
//! - [`Quantization`] / [`QuantConfig`]: what to do, set on a
//!   [`VarBuilder`](crate::loader::VarBuilder) with
//!   [`with_quantization`](crate::loader::VarBuilder::with_quantization);
//!   every [`Linear`](crate::nn::Linear) loaded through that view (and its
//!   children) follows it, but the modules in
//!   [`QuantConfig::skip_modules`].
//! - [`LinearWeight`] (`weight`): the weight a `Linear` holds — dense, int8
//!   or NF4 — and its dequantize-inside-the-product matmul.
//! - [`int8`]: [`Int8Weight`], bitsandbytes' LLM.int8 weight format
//!   (row-wise absmax, `round(w · 127 / absmax)`), weight-only.
//! - [`nf4`]: [`Nf4Weight`], the NormalFloat4 code, block-wise absmax,
//!   two codes per byte, optional nested ("double quant") absmax.
//! - [`bnb`]: reading the tensors bitsandbytes writes (`weight` packed `U8`,
//!   `weight.absmax`, `weight.quant_map`, `weight.nested_*`,
//!   `weight.quant_state.bitsandbytes__nf4`; `SCB` for int8).
//! - [`memory`]: bytes each format takes, per layer and per decoder config.
//!
//! **How the product avoids a full-size f32 copy.** Quantized weights stay
//! in their packed form on the backend's device (`[out, in]` row-major, as
//! bitsandbytes lays them out). `forward` walks the output rows in chunks of
//! at most [`QuantConfig::chunk_bytes`] of f32 (4 MiB by default):
//! dequantize one chunk with tensor ops (int8: a cast; NF4: one `select` of
//! a 256-entry byte → value-pair table, times the block absmax), multiply
//! it with the activations, drop it, next chunk. The transient memory is one
//! chunk (plus the int64 index copy burn's `select` may make of one chunk's
//! bytes); the weight itself costs 1 byte per value (int8) or ½ byte plus
//! the absmax (NF4). Any backend runs it; a fused CubeCL kernel on CUDA
//! would replace only this loop (see docs/architecture.md).

pub mod bnb;
pub mod int8;
pub mod memory;
pub mod nf4;
mod weight;

pub use int8::Int8Weight;
pub use nf4::{NF4_CODE, Nf4Absmax, Nf4Weight};
pub use weight::LinearWeight;

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How linear weights are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quantization {
    /// Dense f32 (the default): exactly the unquantized path.
    #[default]
    None,
    /// int8 per output channel (symmetric absmax per row of `[out, in]`).
    Int8,
    /// bitsandbytes' NF4: 4-bit NormalFloat codes, block-wise absmax.
    Nf4,
}

impl Quantization {
    /// The name used in configs and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Int8 => "int8",
            Self::Nf4 => "nf4",
        }
    }
}

impl fmt::Display for Quantization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Quantization {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "int8" => Ok(Self::Int8),
            "nf4" => Ok(Self::Nf4),
            _ => Err(Error::InvalidInput(format!(
                "unknown quantization `{s}`; expected none, int8 or nf4"
            ))),
        }
    }
}

/// Modules left unquantized by default, matched as whole name components
/// (see [`QuantConfig::method_for`]): output heads (`lm_head`, the talker's
/// `codec_head`; transformers' bitsandbytes integration skips the output
/// embedding too), MoE routers and the shared-expert gate (tiny, and a
/// rounding error there changes which experts run), and the towers omnivox
/// does not quantize (`audio_tower`, `visual`, `code2wav`).
pub const DEFAULT_SKIP_MODULES: [&str; 7] = [
    "lm_head",
    "codec_head",
    "mlp.gate",
    "shared_expert_gate",
    "audio_tower",
    "visual",
    "code2wav",
];

/// bitsandbytes' default NF4 block size.
pub const DEFAULT_NF4_BLOCKSIZE: usize = 64;
/// The nested absmax block size bitsandbytes uses (`quantize_4bit` with
/// `compress_statistics=True` calls `quantize_blockwise(.., blocksize=256)`).
pub const NESTED_BLOCKSIZE: usize = 256;
/// Default bound on the f32 chunk a quantized matmul dequantizes at once.
pub const DEFAULT_CHUNK_BYTES: usize = 4 << 20;

/// Quantization settings for a load (serde: every field optional).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuantConfig {
    /// The format linear weights are quantized to at load time.
    pub method: Quantization,
    /// NF4 values per absmax (bitsandbytes' `blocksize`; one of 32, 64, …,
    /// 4096).
    pub nf4_blocksize: usize,
    /// Quantize the NF4 absmax again, as bitsandbytes'
    /// `bnb_4bit_use_double_quant` (8-bit dynamic code, blocks of 256, mean
    /// offset): 0.127 instead of 0.5 bits per weight for the scales.
    pub double_quant: bool,
    /// Modules kept dense; see [`QuantConfig::method_for`].
    pub skip_modules: Vec<String>,
    /// Most f32 bytes one matmul step dequantizes (rounded to whole rows and
    /// blocks; at least one row).
    pub chunk_bytes: usize,
}

impl Default for QuantConfig {
    fn default() -> Self {
        Self {
            method: Quantization::None,
            nf4_blocksize: DEFAULT_NF4_BLOCKSIZE,
            double_quant: true,
            skip_modules: DEFAULT_SKIP_MODULES.iter().map(|s| s.to_string()).collect(),
            chunk_bytes: DEFAULT_CHUNK_BYTES,
        }
    }
}

impl QuantConfig {
    /// The defaults with `method`.
    pub fn new(method: Quantization) -> Self {
        Self {
            method,
            ..Self::default()
        }
    }

    /// Checks the settings, naming the bad field.
    pub fn validate(&self) -> Result<()> {
        if !(32..=4096).contains(&self.nf4_blocksize) || !self.nf4_blocksize.is_power_of_two() {
            return Err(Error::InvalidConfig {
                field: "nf4_blocksize",
                reason: format!(
                    "{} is not one of bitsandbytes' block sizes 32, 64, …, 4096",
                    self.nf4_blocksize
                ),
            });
        }
        if self.chunk_bytes == 0 {
            return Err(Error::InvalidConfig {
                field: "chunk_bytes",
                reason: "must be positive".into(),
            });
        }
        Ok(())
    }

    /// The format for the linear layer at `module` (its checkpoint prefix,
    /// e.g. `model.layers.3.mlp.experts.7.up_proj`): [`Quantization::None`]
    /// when a skip pattern matches, else `method`. A pattern matches when
    /// its dot-separated components appear consecutively among the
    /// module's (`mlp.gate` matches `model.layers.0.mlp.gate`, not
    /// `model.layers.0.mlp.gate_proj`; `audio_tower` matches everything
    /// under `thinker.audio_tower`).
    pub fn method_for(&self, module: &str) -> Quantization {
        if self.method == Quantization::None {
            return Quantization::None;
        }
        let parts: Vec<&str> = module.split('.').collect();
        let skipped = self.skip_modules.iter().any(|pattern| {
            let pat: Vec<&str> = pattern.split('.').collect();
            !pat.is_empty() && parts.windows(pat.len()).any(|w| w == pat.as_slice())
        });
        if skipped {
            Quantization::None
        } else {
            self.method
        }
    }
}

/// Rows per dequantized chunk: at most `chunk_bytes` of f32, at least
/// `unit` rows, a multiple of `unit`, never more than `rows`.
pub(crate) fn chunk_rows(rows: usize, cols: usize, unit: usize, chunk_bytes: usize) -> usize {
    let unit = unit.max(1);
    let fit = chunk_bytes / (4 * cols.max(1));
    let rows_per = (fit / unit).max(1) * unit;
    rows_per.min(rows.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_patterns_match_whole_components() {
        let q = QuantConfig::new(Quantization::Nf4);
        let m = |path: &str| q.method_for(path);
        assert_eq!(m("model.layers.0.mlp.gate_proj"), Quantization::Nf4);
        assert_eq!(
            m("model.layers.0.mlp.experts.3.down_proj"),
            Quantization::Nf4
        );
        assert_eq!(m("model.layers.0.mlp.gate"), Quantization::None);
        assert_eq!(
            m("model.layers.0.mlp.shared_expert_gate"),
            Quantization::None
        );
        assert_eq!(
            m("model.layers.0.mlp.shared_expert.up_proj"),
            Quantization::Nf4
        );
        assert_eq!(m("lm_head"), Quantization::None);
        assert_eq!(m("talker.code_predictor.lm_head.3"), Quantization::None);
        assert_eq!(m("thinker.audio_tower.layers.0.fc1"), Quantization::None);
        assert_eq!(
            m("thinker.model.layers.0.self_attn.q_proj"),
            Quantization::Nf4
        );
        let none = QuantConfig::default();
        assert_eq!(
            none.method_for("model.layers.0.mlp.up_proj"),
            Quantization::None
        );
    }

    #[test]
    fn config_parses_and_validates() {
        let q: QuantConfig = serde_json::from_str(r#"{"method": "int8"}"#).unwrap();
        assert_eq!(q, QuantConfig::new(Quantization::Int8));
        let q: Quantization = serde_json::from_str(r#""nf4""#).unwrap();
        assert_eq!(q, Quantization::Nf4);
        assert_eq!("NF4".parse::<Quantization>().unwrap(), Quantization::Nf4);
        assert!("int4".parse::<Quantization>().is_err());
        assert!(serde_json::from_str::<QuantConfig>(r#"{"methd": "nf4"}"#).is_err());
        let bad = QuantConfig {
            nf4_blocksize: 48,
            ..QuantConfig::new(Quantization::Nf4)
        };
        assert!(matches!(
            bad.validate(),
            Err(Error::InvalidConfig {
                field: "nf4_blocksize",
                ..
            })
        ));
    }

    #[test]
    fn chunks_are_whole_aligned_rows_within_budget() {
        // 4 MiB of f32 over rows of 2048: 512 rows.
        assert_eq!(chunk_rows(6144, 2048, 8, DEFAULT_CHUNK_BYTES), 512);
        // At least one aligned unit, never more than the matrix.
        assert_eq!(chunk_rows(6144, 2048, 8, 1), 8);
        assert_eq!(chunk_rows(4, 2048, 8, DEFAULT_CHUNK_BYTES), 4);
        assert_eq!(chunk_rows(100, 768, 64, DEFAULT_CHUNK_BYTES), 100);
    }
}
