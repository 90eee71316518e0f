//! `generation_config.json`: the checkpoint's default decoding parameters.
//!
//! Mirrors the fields of transformers' `GenerationConfig`
//! (`generation/configuration_utils.py`) that decide which token comes next
//! and when to stop. Every field is optional: a value the file does not
//! set is `None` here, and the caller falls back to its own default (the
//! server's are OpenAI's: temperature 1, top_p 1, no top-k, no penalties —
//! not transformers' `top_k = 50`). `presence_penalty` and
//! `frequency_penalty` are not transformers fields, but vLLM-style files
//! carry them; they are read when present.

use crate::error::{Error, Result};
use serde::{Deserialize, Deserializer};
use std::path::Path;

/// File name of the generation defaults.
pub const GENERATION_CONFIG_FILE: &str = "generation_config.json";

/// The decoding defaults of a checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct GenerationConfig {
    /// `eos_token_id`: one id or several; generation stops after any.
    #[serde(deserialize_with = "one_or_many")]
    pub eos_token_id: Vec<u32>,
    /// `bos_token_id`.
    pub bos_token_id: Option<u32>,
    /// `pad_token_id`.
    pub pad_token_id: Option<u32>,
    /// `do_sample`: `false` means greedy whatever the temperature.
    pub do_sample: Option<bool>,
    /// `temperature`.
    pub temperature: Option<f32>,
    /// `top_p`.
    pub top_p: Option<f32>,
    /// `top_k` (0 disables it, as in transformers).
    pub top_k: Option<usize>,
    /// `min_p`.
    pub min_p: Option<f32>,
    /// `repetition_penalty` (multiplicative; applies even when greedy).
    pub repetition_penalty: Option<f32>,
    /// `presence_penalty` (additive, OpenAI-style; not a transformers field).
    pub presence_penalty: Option<f32>,
    /// `frequency_penalty` (additive, OpenAI-style; not a transformers field).
    pub frequency_penalty: Option<f32>,
    /// `suppress_tokens`: ids that are never generated.
    #[serde(deserialize_with = "many_or_null")]
    pub suppress_tokens: Vec<u32>,
    /// `max_new_tokens`.
    pub max_new_tokens: Option<usize>,
}

impl GenerationConfig {
    /// Reads `generation_config.json` in `dir`; a missing file means no
    /// defaults (transformers does the same).
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let path = dir.as_ref().join(GENERATION_CONFIG_FILE);
        if !path.is_file() {
            return Ok(Self::default());
        }
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        Self::from_json_str(&text).map_err(|e| match e {
            Error::Config { reason, .. } => Error::Config { path, reason },
            other => other,
        })
    }

    /// Parses a `generation_config.json` document.
    pub fn from_json_str(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| Error::Config {
            path: "<json>".into(),
            reason: e.to_string(),
        })
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<u32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(u32),
        Many(Vec<u32>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(t)) => vec![t],
        Some(OneOrMany::Many(v)) => v,
    })
}

fn many_or_null<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<u32>, D::Error> {
    Ok(Option::<Vec<u32>>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_style_files_parse() {
        let g = GenerationConfig::from_json_str(
            r#"{"bos_token_id": 1, "eos_token_id": [2, 3], "do_sample": true, "temperature": 0.7,
                "top_k": 20, "top_p": 0.8, "repetition_penalty": 1.05, "suppress_tokens": null,
                "transformers_version": "4.57.0"}"#,
        )
        .unwrap();
        assert_eq!(g.eos_token_id, vec![2, 3]);
        assert_eq!(
            (g.top_k, g.top_p, g.repetition_penalty),
            (Some(20), Some(0.8), Some(1.05))
        );
        assert!(g.suppress_tokens.is_empty() && g.max_new_tokens.is_none());
        let g = GenerationConfig::from_json_str(r#"{"eos_token_id": 7}"#).unwrap();
        assert_eq!(g.eos_token_id, vec![7]);
    }

    #[test]
    fn a_bad_value_is_named() {
        let err = GenerationConfig::from_json_str(r#"{"temperature": "hot"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("temperature") || err.contains("invalid type"),
            "{err}"
        );
    }
}
