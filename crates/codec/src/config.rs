//! `code2wav_config`: the typed struct is omnivox-model's
//! [`Code2WavConfig`] (part of its Qwen3-Omni config tree, mirroring
//! transformers 5.24's `Qwen3OmniMoeCode2WavConfig`); this module adds what
//! the decoder derives from it — validation naming the bad field, samples
//! per frame, output lengths — and reading it from a checkpoint directory.
//!
//! transformers' defaults equal the released `Qwen/Qwen3-Omni-30B-A3B-*`
//! values ([`released`]).

use crate::error::{Error, Result};
use std::path::Path;

pub use omnivox_model::qwen3_omni::Code2WavConfig;

/// The waveform's sample rate. Not part of `code2wav_config`: Qwen3-Omni's
/// codec runs at 12.5 frames per second and the released config upsamples
/// each frame 1920 times, which is 24 kHz.
pub const SAMPLE_RATE: u32 = 24_000;

/// The `code2wav_config` of `Qwen/Qwen3-Omni-30B-A3B-Instruct` (and
/// `-Thinking`, `-Captioner`): transformers' defaults, with the rotary
/// parameters written out as the Hub file has them.
pub fn released() -> Code2WavConfig {
    Code2WavConfig {
        rope_parameters: Some(serde_json::json!({"rope_theta": 10000, "rope_type": "default"})),
        ..Code2WavConfig::default()
    }
}

/// Parses and validates a `code2wav_config` object.
pub fn from_value(value: serde_json::Value) -> Result<Code2WavConfig> {
    let cfg: Code2WavConfig = serde_json::from_value(value).map_err(|e| Error::Config {
        path: "<json>".into(),
        reason: e.to_string(),
    })?;
    validate(&cfg)?;
    Ok(cfg)
}

/// Reads `config.json` in `dir`: the `code2wav_config` of a Qwen3-Omni
/// checkpoint, or the whole file for a standalone Code2Wav (as
/// `save_pretrained` writes it). Returns the config and the weight prefix
/// (`"code2wav"` or `""`).
pub fn from_dir(dir: impl AsRef<Path>) -> Result<(Code2WavConfig, &'static str)> {
    let path = dir.as_ref().join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    let mut value: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Config {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let (value, prefix) = match value.get_mut("code2wav_config") {
        Some(sub) => (sub.take(), omnivox_model::qwen3_omni::CODE2WAV_PREFIX),
        None => (value, ""),
    };
    let cfg = from_value(value).map_err(|e| match e {
        Error::Config { reason, .. } => Error::Config {
            path: path.clone(),
            reason,
        },
        other => other,
    })?;
    Ok((cfg, prefix))
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidConfig {
        field,
        reason: reason.into(),
    }
}

/// Checks that the sizes fit together; names the first bad field.
pub fn validate(cfg: &Code2WavConfig) -> Result<()> {
    let positive = [
        ("codebook_size", cfg.codebook_size),
        ("hidden_size", cfg.hidden_size),
        ("num_hidden_layers", cfg.num_hidden_layers),
        ("num_attention_heads", cfg.num_attention_heads),
        ("num_key_value_heads", cfg.num_key_value_heads),
        ("sliding_window", cfg.sliding_window),
        ("intermediate_size", cfg.intermediate_size),
        ("num_quantizers", cfg.num_quantizers),
        ("decoder_dim", cfg.decoder_dim),
    ];
    for (field, v) in positive {
        if v == 0 {
            return Err(invalid(field, "must be positive"));
        }
    }
    if cfg.hidden_act != "silu" {
        return Err(invalid(
            "hidden_act",
            format!("`{}` is not supported (only silu)", cfg.hidden_act),
        ));
    }
    let (heads, kv) = (cfg.num_attention_heads, cfg.num_key_value_heads);
    if !heads.is_multiple_of(kv) {
        return Err(invalid(
            "num_key_value_heads",
            format!("{kv} does not divide num_attention_heads {heads}"),
        ));
    }
    if !cfg.hidden_size.is_multiple_of(heads) || !cfg.head_dim().is_multiple_of(2) {
        return Err(invalid(
            "num_attention_heads",
            format!(
                "hidden_size {} / {heads} heads must be an even head size",
                cfg.hidden_size
            ),
        ));
    }
    let kind = (cfg.rope_parameters.as_ref())
        .and_then(|p| p.get("rope_type").or_else(|| p.get("type")))
        .and_then(serde_json::Value::as_str)
        .unwrap_or("default");
    if kind != "default" {
        return Err(invalid(
            "rope_parameters",
            format!("rope_type `{kind}` is not supported"),
        ));
    }
    if cfg.upsample_rates.contains(&0) {
        return Err(invalid("upsample_rates", "every rate must be positive"));
    }
    if cfg.upsampling_ratios.contains(&0) {
        return Err(invalid("upsampling_ratios", "every ratio must be positive"));
    }
    let halvings = cfg.upsample_rates.len();
    if halvings >= usize::BITS as usize || cfg.decoder_dim >> halvings == 0 {
        return Err(invalid(
            "decoder_dim",
            format!(
                "{} cannot be halved {halvings} times (once per upsample rate)",
                cfg.decoder_dim
            ),
        ));
    }
    total_upsample(cfg)
        .ok_or_else(|| invalid("upsample_rates", "the total upsampling overflows"))?;
    Ok(())
}

fn total_upsample(cfg: &Code2WavConfig) -> Option<usize> {
    (cfg.upsampling_ratios.iter().chain(&cfg.upsample_rates))
        .try_fold(1usize, |acc, &r| acc.checked_mul(r))
}

/// Waveform samples per codec frame: the product of `upsampling_ratios` and
/// `upsample_rates` (1920 for the released model: 2·2·8·5·4·3). Saturates
/// for a config that [`validate`] refuses.
pub fn samples_per_frame(cfg: &Code2WavConfig) -> usize {
    total_upsample(cfg).unwrap_or(usize::MAX)
}

/// Samples the reference's `forward` returns for `frames` frames.
///
/// The upsampling stages multiply the length by their ratio; each decoder
/// block's causal transposed convolution (kernel `2s`, stride `s`, `s`
/// samples trimmed on each side) turns `L` inputs into `(L - 1) · s`
/// outputs. For the released model that is `1920 · frames - 555`.
pub fn output_len(cfg: &Code2WavConfig, frames: usize) -> usize {
    let mut len = (cfg.upsampling_ratios.iter()).fold(frames, |l, &r| l.saturating_mul(r));
    for &s in &cfg.upsample_rates {
        len = len.saturating_sub(1).saturating_mul(s);
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_config_gives_1920_samples_per_frame_and_loses_555() {
        let c = released();
        validate(&c).unwrap();
        assert_eq!(samples_per_frame(&c), 1920);
        assert_eq!(c.head_dim(), 64);
        assert_eq!(c.rope_theta(), 10_000.0);
        for n in [1, 2, 125, 300] {
            assert_eq!(output_len(&c, n), 1920 * n - 555);
        }
        assert_eq!(output_len(&c, 0), 0);
    }

    #[test]
    fn an_empty_object_gives_transformers_defaults() {
        let c = from_value(serde_json::json!({})).unwrap();
        assert_eq!(samples_per_frame(&c), 1920);
        assert_eq!(c.sliding_window, 72);
    }

    #[test]
    fn bad_values_name_the_field() {
        let cases = [
            (
                serde_json::json!({"num_key_value_heads": 3}),
                "num_key_value_heads",
            ),
            (serde_json::json!({"decoder_dim": 8}), "decoder_dim"),
            (
                serde_json::json!({"upsample_rates": [8, 0]}),
                "upsample_rates",
            ),
            (
                serde_json::json!({"rope_parameters": {"rope_type": "yarn"}}),
                "rope_parameters",
            ),
            (serde_json::json!({"hidden_act": "gelu"}), "hidden_act"),
            (serde_json::json!({"upsample_rates": "x"}), "invalid type"),
        ];
        for (json, want) in cases {
            let err = from_value(json).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
    }
}
