//! Typed `config.json` for the Qwen decoder family.
//!
//! Mirrors transformers 5.24's `Qwen2Config`, `Qwen3Config`,
//! `Qwen3MoeConfig`, `Qwen2MoeConfig` and the Qwen3-Omni text configs
//! (`transformers/models/*/configuration_*.py`): field names as in
//! `config.json`, unknown fields ignored, defaults as transformers has them
//! for the checkpoint's `model_type`, legacy `rope_scaling` / `rope_theta`
//! accepted. The structural sizes (`vocab_size`, `hidden_size`,
//! `intermediate_size`, `num_hidden_layers`, `num_attention_heads`) and
//! `model_type` are required: a checkpoint without them is broken, and
//! guessing transformers' 7B-sized defaults would only move the error.
//! Validation happens once, in [`DecoderConfig::from_json_str`], and names
//! the bad field.

use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::Path;

/// Which attention a layer uses (`layer_types` in `config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerType {
    /// Causal attention over the whole context.
    Full,
    /// Causal attention over the last `sliding_window` positions.
    Sliding,
}

/// How rotary frequencies are computed (`rope_parameters.rope_type`).
#[derive(Debug, Clone, PartialEq)]
pub enum RopeKind {
    /// `"default"`: `inv_freq = 1 / theta^(2i/d)`.
    Default,
    /// `"linear"`: positions divided by `factor`.
    Linear {
        /// The scaling factor.
        factor: f64,
    },
}

/// Rotary embedding parameters, standardised from `rope_parameters`,
/// `rope_scaling` (legacy) and `rope_theta` (legacy).
#[derive(Debug, Clone, PartialEq)]
pub struct RopeConfig {
    /// Base wavelength.
    pub theta: f64,
    /// Frequency scheme.
    pub kind: RopeKind,
    /// Multimodal RoPE: frequencies per axis (temporal, height, width),
    /// summing to `head_dim / 2`. `None` for 1-D positions.
    pub mrope_section: Option<Vec<usize>>,
}

/// Sparse mixture-of-experts parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct MoeConfig {
    /// `num_experts` (written `num_local_experts` by transformers 5).
    pub num_experts: usize,
    /// `num_experts_per_tok`: the router's top-k.
    pub num_experts_per_tok: usize,
    /// `moe_intermediate_size`: each expert's hidden width.
    pub moe_intermediate_size: usize,
    /// `norm_topk_prob`: renormalise the top-k probabilities to sum to one.
    pub norm_topk_prob: bool,
    /// `decoder_sparse_step`: layer `i` is sparse when `(i + 1) % step == 0`.
    pub decoder_sparse_step: usize,
    /// `mlp_only_layers`: layers that stay dense.
    pub mlp_only_layers: Vec<usize>,
    /// `shared_expert_intermediate_size`: a shared expert with a sigmoid gate
    /// (Qwen2-MoE, the Qwen3-Omni talker); `None` when the family has none.
    pub shared_expert_intermediate_size: Option<usize>,
}

/// A resolved Qwen decoder configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct DecoderConfig {
    /// `model_type`.
    pub model_type: String,
    /// `vocab_size`.
    pub vocab_size: usize,
    /// `hidden_size`.
    pub hidden_size: usize,
    /// `intermediate_size` (dense MLP width).
    pub intermediate_size: usize,
    /// `num_hidden_layers`.
    pub num_hidden_layers: usize,
    /// `num_attention_heads`.
    pub num_attention_heads: usize,
    /// `num_key_value_heads`.
    pub num_key_value_heads: usize,
    /// `head_dim`.
    pub head_dim: usize,
    /// `rms_norm_eps`.
    pub rms_norm_eps: f64,
    /// `tie_word_embeddings`: the LM head reuses `embed_tokens`.
    pub tie_word_embeddings: bool,
    /// `max_position_embeddings`.
    pub max_position_embeddings: usize,
    /// Rotary embedding parameters.
    pub rope: RopeConfig,
    /// Bias on `q_proj`, `k_proj`, `v_proj` (Qwen2: always; Qwen3:
    /// `attention_bias`; Qwen2-MoE: `qkv_bias`).
    pub qkv_bias: bool,
    /// Bias on `o_proj` (Qwen3: `attention_bias`).
    pub o_bias: bool,
    /// RMSNorm on each head of q and k (Qwen3 family).
    pub qk_norm: bool,
    /// The sliding window, when enabled (`use_sliding_window`).
    pub sliding_window: Option<usize>,
    /// Per-layer attention kind.
    pub layer_types: Vec<LayerType>,
    /// Mixture-of-experts parameters (MoE families).
    pub moe: Option<MoeConfig>,
    /// `bos_token_id`.
    pub bos_token_id: Option<u32>,
    /// `eos_token_id` (one or several).
    pub eos_token_id: Vec<u32>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(u32),
    Many(Vec<u32>),
}

/// `config.json` as written; `None` means "absent" (defaults resolved per
/// `model_type` afterwards).
#[derive(Deserialize)]
struct Raw {
    model_type: String,
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    #[serde(default)]
    num_key_value_heads: Option<Option<usize>>,
    head_dim: Option<usize>,
    hidden_act: Option<String>,
    rms_norm_eps: Option<f64>,
    tie_word_embeddings: Option<bool>,
    max_position_embeddings: Option<usize>,
    rope_parameters: Option<serde_json::Value>,
    rope_scaling: Option<serde_json::Value>,
    rope_theta: Option<f64>,
    attention_bias: Option<bool>,
    qkv_bias: Option<bool>,
    use_sliding_window: Option<bool>,
    #[serde(default)]
    sliding_window: Option<Option<usize>>,
    max_window_layers: Option<usize>,
    layer_types: Option<Vec<String>>,
    #[serde(alias = "num_local_experts")]
    num_experts: Option<usize>,
    num_experts_per_tok: Option<usize>,
    moe_intermediate_size: Option<usize>,
    norm_topk_prob: Option<bool>,
    decoder_sparse_step: Option<usize>,
    mlp_only_layers: Option<Vec<usize>>,
    shared_expert_intermediate_size: Option<usize>,
    bos_token_id: Option<u32>,
    eos_token_id: Option<OneOrMany>,
}

/// transformers' per-`model_type` defaults for the optional fields.
struct Family {
    num_key_value_heads: usize,
    head_dim: Option<usize>,
    qk_norm: bool,
    default_theta: f64,
    sliding: SlidingRule,
    moe: Option<(usize, usize, usize, bool, Option<usize>)>,
}

enum SlidingRule {
    /// `layer_types[i]` sliding when `i >= max_window_layers` (Qwen2/Qwen3).
    FromMaxWindowLayers,
    /// Every layer (Qwen3-MoE).
    AllLayers,
    /// Odd-numbered layers below `max_window_layers` (Qwen2-MoE).
    Alternating,
    /// Only what `layer_types` says (Qwen3-Omni text).
    LayerTypesOnly,
}

fn family(model_type: &str) -> Option<Family> {
    use SlidingRule::*;
    let dense = |kv, head_dim, qk_norm, sliding| Family {
        num_key_value_heads: kv,
        head_dim,
        qk_norm,
        default_theta: 10_000.0,
        sliding,
        moe: None,
    };
    Some(match model_type {
        "qwen2" => dense(32, None, false, FromMaxWindowLayers),
        "qwen3" => dense(32, Some(128), true, FromMaxWindowLayers),
        "qwen3_omni_moe_talker_code_predictor" => dense(8, Some(128), true, FromMaxWindowLayers),
        "qwen3_moe" => Family {
            moe: Some((128, 8, 768, false, None)),
            ..dense(4, None, true, AllLayers)
        },
        "qwen2_moe" => Family {
            moe: Some((60, 4, 1408, false, Some(5632))),
            ..dense(16, None, false, Alternating)
        },
        "qwen3_omni_moe_text" => Family {
            default_theta: 1_000_000.0,
            moe: Some((128, 8, 768, true, None)),
            ..dense(4, None, true, LayerTypesOnly)
        },
        "qwen3_omni_moe_talker_text" => Family {
            moe: Some((128, 8, 384, false, None)),
            ..dense(2, None, true, LayerTypesOnly)
        },
        _ => return None,
    })
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidConfig {
        field,
        reason: reason.into(),
    }
}

impl DecoderConfig {
    /// Reads and resolves `config.json` at `path`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json_str(&text).map_err(|e| match e {
            Error::Config { reason, .. } => Error::Config {
                path: path.to_path_buf(),
                reason,
            },
            other => other,
        })
    }

    /// Parses and resolves a `config.json` document.
    pub fn from_json_str(text: &str) -> Result<Self> {
        let raw: Raw = serde_json::from_str(text).map_err(|e| Error::Config {
            path: "<json>".into(),
            reason: e.to_string(),
        })?;
        Self::resolve(raw)
    }

    /// Parses and resolves an already-parsed `config.json` (or a nested
    /// `text_config`).
    pub fn from_value(value: serde_json::Value) -> Result<Self> {
        let raw: Raw = serde_json::from_value(value).map_err(|e| Error::Config {
            path: "<json>".into(),
            reason: e.to_string(),
        })?;
        Self::resolve(raw)
    }

    fn resolve(raw: Raw) -> Result<Self> {
        let fam = family(&raw.model_type).ok_or_else(|| {
            invalid(
                "model_type",
                format!("`{}` is not a supported Qwen decoder", raw.model_type),
            )
        })?;
        let act = raw.hidden_act.as_deref().unwrap_or("silu");
        if act != "silu" {
            return Err(invalid(
                "hidden_act",
                format!("`{act}` is not supported (only silu)"),
            ));
        }
        let heads = raw.num_attention_heads;
        let kv_heads = match raw.num_key_value_heads {
            None => fam.num_key_value_heads,
            Some(None) => heads,
            Some(Some(n)) => n,
        };
        let head_dim = raw
            .head_dim
            .or(fam.head_dim)
            .unwrap_or(raw.hidden_size / heads.max(1));
        let rope = resolve_rope(&raw, fam.default_theta)?;
        let (sliding_window, layer_types) = resolve_sliding(&raw, &fam.sliding)?;
        let moe = fam.moe.map(|(e, k, w, norm, shared)| MoeConfig {
            num_experts: raw.num_experts.unwrap_or(e),
            num_experts_per_tok: raw.num_experts_per_tok.unwrap_or(k),
            moe_intermediate_size: raw.moe_intermediate_size.unwrap_or(w),
            norm_topk_prob: raw.norm_topk_prob.unwrap_or(norm),
            decoder_sparse_step: raw.decoder_sparse_step.unwrap_or(1),
            mlp_only_layers: raw.mlp_only_layers.clone().unwrap_or_default(),
            shared_expert_intermediate_size: raw.shared_expert_intermediate_size.or(shared),
        });
        let is_qwen2 = matches!(raw.model_type.as_str(), "qwen2" | "qwen2_moe");
        let attention_bias = raw.attention_bias.unwrap_or(false);
        let cfg = Self {
            qkv_bias: if is_qwen2 {
                raw.qkv_bias.unwrap_or(true)
            } else {
                attention_bias
            },
            o_bias: !is_qwen2 && attention_bias,
            qk_norm: fam.qk_norm,
            model_type: raw.model_type,
            vocab_size: raw.vocab_size,
            hidden_size: raw.hidden_size,
            intermediate_size: raw.intermediate_size,
            num_hidden_layers: raw.num_hidden_layers,
            num_attention_heads: heads,
            num_key_value_heads: kv_heads,
            head_dim,
            rms_norm_eps: raw.rms_norm_eps.unwrap_or(1e-6),
            tie_word_embeddings: raw.tie_word_embeddings.unwrap_or(false),
            max_position_embeddings: raw.max_position_embeddings.unwrap_or(32_768),
            rope,
            sliding_window,
            layer_types,
            moe,
            bos_token_id: raw.bos_token_id,
            eos_token_id: match raw.eos_token_id {
                None => Vec::new(),
                Some(OneOrMany::One(t)) => vec![t],
                Some(OneOrMany::Many(v)) => v,
            },
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks the sizes fit together; names the first bad field.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_key_value_heads),
            ("head_dim", self.head_dim),
        ];
        for (field, v) in positive {
            if v == 0 {
                return Err(invalid(field, "must be positive"));
            }
        }
        if !self
            .num_attention_heads
            .is_multiple_of(self.num_key_value_heads)
        {
            return Err(invalid(
                "num_key_value_heads",
                format!(
                    "{} does not divide num_attention_heads {}",
                    self.num_key_value_heads, self.num_attention_heads
                ),
            ));
        }
        if !self.head_dim.is_multiple_of(2) {
            return Err(invalid("head_dim", "must be even for rotary embeddings"));
        }
        if let Some(sec) = &self.rope.mrope_section
            && sec.iter().sum::<usize>() != self.head_dim / 2
        {
            let half = self.head_dim / 2;
            return Err(invalid(
                "mrope_section",
                format!("{sec:?} must sum to head_dim / 2 = {half}"),
            ));
        }
        if self.sliding_window == Some(0) {
            return Err(invalid("sliding_window", "must be positive"));
        }
        if let Some(m) = &self.moe {
            if m.num_experts_per_tok == 0 || m.num_experts_per_tok > m.num_experts {
                return Err(invalid(
                    "num_experts_per_tok",
                    format!("must be in 1..={}", m.num_experts),
                ));
            }
            if m.decoder_sparse_step == 0 {
                return Err(invalid("decoder_sparse_step", "must be positive"));
            }
        }
        Ok(())
    }

    /// The attention window of layer `i` (`None`: full causal attention).
    pub fn window(&self, layer: usize) -> Option<usize> {
        match self.layer_types.get(layer) {
            Some(LayerType::Sliding) => self.sliding_window,
            _ => None,
        }
    }

    /// Whether layer `i` has a sparse MoE block (else a dense MLP).
    pub fn is_sparse(&self, layer: usize) -> bool {
        self.moe.as_ref().is_some_and(|m| {
            m.num_experts > 0
                && !m.mlp_only_layers.contains(&layer)
                && (layer + 1).is_multiple_of(m.decoder_sparse_step)
        })
    }
}

fn resolve_rope(raw: &Raw, default_theta: f64) -> Result<RopeConfig> {
    // transformers: `rope_parameters = rope_scaling or rope_parameters`.
    let params = match (&raw.rope_scaling, &raw.rope_parameters) {
        (Some(v), _) if !v.is_null() => Some(v),
        (_, Some(v)) if !v.is_null() => Some(v),
        _ => None,
    };
    let get = |k: &str| params.and_then(|p| p.get(k));
    let theta = get("rope_theta")
        .and_then(serde_json::Value::as_f64)
        .or(raw.rope_theta)
        .unwrap_or(default_theta);
    let rope_type = get("rope_type")
        .or_else(|| get("type"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or("default");
    let kind = match rope_type {
        "default" | "mrope" => RopeKind::Default,
        "linear" => RopeKind::Linear {
            factor: get("factor")
                .and_then(serde_json::Value::as_f64)
                .ok_or_else(|| invalid("rope_parameters", "linear RoPE needs `factor`"))?,
        },
        other => {
            return Err(invalid(
                "rope_parameters",
                format!("rope_type `{other}` is not supported"),
            ));
        }
    };
    let mrope_section = match get("mrope_section") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(
            serde_json::from_value::<Vec<usize>>(v.clone())
                .map_err(|e| invalid("mrope_section", e.to_string()))?,
        ),
    };
    Ok(RopeConfig {
        theta,
        kind,
        mrope_section,
    })
}

fn resolve_sliding(raw: &Raw, rule: &SlidingRule) -> Result<(Option<usize>, Vec<LayerType>)> {
    let n = raw.num_hidden_layers;
    let window = match rule {
        SlidingRule::LayerTypesOnly => raw.sliding_window.flatten(),
        _ if raw.use_sliding_window.unwrap_or(false) => match raw.sliding_window {
            None => Some(4096),
            Some(w) => w,
        },
        _ => None,
    };
    if let Some(types) = &raw.layer_types {
        if types.len() != n {
            return Err(invalid(
                "layer_types",
                format!("has {} entries for {n} layers", types.len()),
            ));
        }
        let parsed = types
            .iter()
            .map(|t| match t.as_str() {
                "full_attention" => Ok(LayerType::Full),
                "sliding_attention" => Ok(LayerType::Sliding),
                other => Err(invalid(
                    "layer_types",
                    format!("unknown layer type `{other}`"),
                )),
            })
            .collect::<Result<Vec<_>>>()?;
        return Ok((window, parsed));
    }
    let max_window_layers = raw.max_window_layers.unwrap_or(28);
    let types = (0..n)
        .map(|i| {
            let sliding = window.is_some()
                && match rule {
                    SlidingRule::FromMaxWindowLayers => i >= max_window_layers,
                    SlidingRule::AllLayers => true,
                    SlidingRule::Alternating => (i + 1) % 2 == 1 && i < max_window_layers,
                    SlidingRule::LayerTypesOnly => false,
                };
            if sliding {
                LayerType::Sliding
            } else {
                LayerType::Full
            }
        })
        .collect();
    Ok((window, types))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = r#"{"model_type":"qwen3","vocab_size":10,"hidden_size":8,
        "intermediate_size":16,"num_hidden_layers":2,"num_attention_heads":2,
        "num_key_value_heads":1,"head_dim":4,"some_future_field":{"x":1}}"#;

    #[test]
    fn unknown_fields_are_ignored_and_defaults_follow_transformers() {
        let c = DecoderConfig::from_json_str(MIN).unwrap();
        assert_eq!(c.rope.theta, 10_000.0);
        assert_eq!(c.rms_norm_eps, 1e-6);
        assert!(c.qk_norm && !c.qkv_bias && !c.tie_word_embeddings);
        assert_eq!(c.layer_types, vec![LayerType::Full; 2]);
    }

    #[test]
    fn a_missing_required_field_is_named() {
        let text = MIN.replace(r#""vocab_size":10,"#, "");
        let err = DecoderConfig::from_json_str(&text).unwrap_err().to_string();
        assert!(err.contains("missing field `vocab_size`"), "{err}");
    }

    #[test]
    fn legacy_rope_keys_are_accepted() {
        let text = MIN.replace(
            r#""head_dim":4,"#,
            r#""head_dim":4,"rope_theta":1000000.0,"rope_scaling":{"type":"default","mrope_section":[1,1,0]},"#,
        );
        let c = DecoderConfig::from_json_str(&text).unwrap();
        assert_eq!(c.rope.theta, 1_000_000.0);
        assert_eq!(c.rope.mrope_section, Some(vec![1, 1, 0]));
    }

    #[test]
    fn bad_values_name_the_field() {
        let text = MIN.replace(r#""num_key_value_heads":1"#, r#""num_key_value_heads":3"#);
        let err = DecoderConfig::from_json_str(&text).unwrap_err().to_string();
        assert!(err.contains("num_key_value_heads"), "{err}");
        let text = MIN.replace(r#""qwen3""#, r#""llama""#);
        let err = DecoderConfig::from_json_str(&text).unwrap_err().to_string();
        assert!(err.contains("model_type"), "{err}");
    }
}
