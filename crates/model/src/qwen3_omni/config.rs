//! Typed `config.json` of a Qwen3-Omni checkpoint: the whole
//! `Qwen3OmniMoeConfig` tree.
//!
//! Mirrors transformers 5.24's `configuration_qwen3_omni_moe.py`: field names
//! as in `config.json`, unknown fields ignored, defaults as transformers has
//! them where a field may be absent. The three decoders (thinker text model,
//! talker, code predictor) resolve through [`DecoderConfig`], which knows
//! their `model_type` defaults; the vision tower is not run, so only the one
//! vision value the rotary index needs (`spatial_merge_size`) is read.
//!
//! Fields the modelling code reads but the config classes do not declare
//! (`audio_end_token_id`, `vision_start_token_id` on the thinker,
//! `spatial_merge_size` on the talker, `seconds_per_chunk`) are optional
//! here, with the Hub checkpoints' values as defaults where the reference
//! would need one.

use crate::config::DecoderConfig;
use crate::error::{Error, Result};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::Path;

/// The `model_type` of a Qwen3-Omni checkpoint.
pub const MODEL_TYPE: &str = "qwen3_omni_moe";
/// Its `architectures` entry.
pub const ARCHITECTURE: &str = "Qwen3OmniMoeForConditionalGeneration";

/// `config.json` of a Qwen3-Omni checkpoint (`Qwen3OmniMoeConfig`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Qwen3OmniMoeConfig {
    /// `model_type` (`qwen3_omni_moe`).
    pub model_type: String,
    /// `architectures`.
    #[serde(default)]
    pub architectures: Vec<String>,
    /// `thinker_config`: audio encoder and text decoder.
    pub thinker_config: ThinkerConfig,
    /// `talker_config`; absent in thinker-only checkpoints.
    #[serde(default)]
    pub talker_config: Option<TalkerConfig>,
    /// `code2wav_config`; absent in thinker-only checkpoints.
    #[serde(default)]
    pub code2wav_config: Option<Code2WavConfig>,
    /// `enable_audio_output`: whether talker and code2wav are built.
    #[serde(default = "yes")]
    pub enable_audio_output: bool,
    /// `im_start_token_id` (`<|im_start|>`).
    #[serde(default = "d_im_start")]
    pub im_start_token_id: u32,
    /// `im_end_token_id` (`<|im_end|>`).
    #[serde(default = "d_im_end")]
    pub im_end_token_id: u32,
    /// `tts_pad_token_id` (`<tts_pad>`).
    #[serde(default = "d_tts_pad")]
    pub tts_pad_token_id: u32,
    /// `tts_bos_token_id` (`<tts_text_bos>`).
    #[serde(default = "d_tts_bos")]
    pub tts_bos_token_id: u32,
    /// `tts_eos_token_id` (`<tts_text_eod>`).
    #[serde(default = "d_tts_eos")]
    pub tts_eos_token_id: u32,
    /// `system_token_id`: the (first) token of the role name `system`.
    #[serde(default = "d_system")]
    pub system_token_id: u32,
    /// `user_token_id`: the (first) token of the role name `user`.
    #[serde(default = "d_user")]
    pub user_token_id: u32,
    /// `assistant_token_id`: the (first) token of the role name `assistant`.
    #[serde(default = "d_assistant")]
    pub assistant_token_id: u32,
}

/// `thinker_config` (`Qwen3OmniMoeThinkerConfig`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ThinkerConfig {
    /// `audio_config`.
    pub audio_config: AudioEncoderConfig,
    /// `text_config`, resolved (`model_type` `qwen3_omni_moe_text`).
    #[serde(deserialize_with = "thinker_text")]
    pub text_config: DecoderConfig,
    /// `vision_config`: only what the rotary index needs.
    #[serde(default)]
    pub vision_config: VisionConfig,
    /// `position_id_per_seconds`: temporal rotary positions per second of
    /// video (25 in transformers, 13 in the Hub checkpoints).
    #[serde(default = "d_pps")]
    pub position_id_per_seconds: u32,
    /// `seconds_per_chunk` (Hub checkpoints; unused by the reference).
    #[serde(default)]
    pub seconds_per_chunk: Option<f64>,
    /// `audio_token_id` (`<|audio_pad|>`).
    #[serde(default = "d_audio_token")]
    pub audio_token_id: u32,
    /// `audio_start_token_id` (`<|audio_start|>`).
    #[serde(default = "d_audio_start")]
    pub audio_start_token_id: u32,
    /// `audio_end_token_id` (`<|audio_end|>`; not declared by transformers).
    #[serde(default)]
    pub audio_end_token_id: Option<u32>,
    /// `image_token_id` (`<|image_pad|>`).
    #[serde(default = "d_image_token")]
    pub image_token_id: u32,
    /// `video_token_id` (`<|video_pad|>`).
    #[serde(default = "d_video_token")]
    pub video_token_id: u32,
    /// `vision_start_token_id` (`<|vision_start|>`; not declared by
    /// transformers, read by `get_rope_index`).
    #[serde(default = "d_vision_start")]
    pub vision_start_token_id: u32,
    /// `user_token_id`.
    #[serde(default = "d_user")]
    pub user_token_id: u32,
    /// `tie_word_embeddings` (false on the Hub).
    #[serde(default)]
    pub tie_word_embeddings: bool,
}

/// `audio_config` (`Qwen3OmniMoeAudioEncoderConfig`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct AudioEncoderConfig {
    /// `num_mel_bins`.
    pub num_mel_bins: usize,
    /// `encoder_layers`.
    pub encoder_layers: usize,
    /// `encoder_attention_heads`.
    pub encoder_attention_heads: usize,
    /// `encoder_ffn_dim`.
    pub encoder_ffn_dim: usize,
    /// `d_model`.
    pub d_model: usize,
    /// `activation_function` (only `gelu` is supported).
    pub activation_function: String,
    /// `scale_embedding` (declared, never applied by the reference's forward).
    pub scale_embedding: bool,
    /// `max_source_positions`: rows of the sinusoidal position table.
    pub max_source_positions: usize,
    /// `n_window`: half the 100-frame chunk the conv stack runs on.
    pub n_window: usize,
    /// `output_dim`: the thinker's hidden size.
    pub output_dim: usize,
    /// `n_window_infer`: frames per attention window (a multiple of
    /// `2 * n_window`).
    pub n_window_infer: usize,
    /// `conv_chunksize`: chunks per conv call in the reference (memory only).
    pub conv_chunksize: usize,
    /// `downsample_hidden_size`: channels of the conv stack.
    pub downsample_hidden_size: usize,
}

impl Default for AudioEncoderConfig {
    /// transformers' defaults (`Qwen3OmniMoeAudioEncoderConfig()`).
    fn default() -> Self {
        Self {
            num_mel_bins: 128,
            encoder_layers: 32,
            encoder_attention_heads: 20,
            encoder_ffn_dim: 5120,
            d_model: 1280,
            activation_function: "gelu".into(),
            scale_embedding: false,
            max_source_positions: 1500,
            n_window: 50,
            output_dim: 3584,
            n_window_infer: 800,
            conv_chunksize: 500,
            downsample_hidden_size: 480,
        }
    }
}

/// The part of `vision_config` the audio/text path needs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct VisionConfig {
    /// `spatial_merge_size`.
    pub spatial_merge_size: usize,
}

impl Default for VisionConfig {
    fn default() -> Self {
        Self {
            spatial_merge_size: 2,
        }
    }
}

/// `talker_config` (`Qwen3OmniMoeTalkerConfig`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TalkerConfig {
    /// `text_config`, resolved (`model_type` `qwen3_omni_moe_talker_text`).
    #[serde(deserialize_with = "talker_text")]
    pub text_config: DecoderConfig,
    /// `code_predictor_config`.
    pub code_predictor_config: CodePredictorConfig,
    /// `num_code_groups`: codebooks per codec frame.
    #[serde(default = "d_code_groups")]
    pub num_code_groups: usize,
    /// `thinker_hidden_size`.
    #[serde(default = "d_thinker_hidden")]
    pub thinker_hidden_size: usize,
    /// `accept_hidden_layer`: which thinker hidden state (0 = input
    /// embeddings) the talker reads at audio positions.
    #[serde(default = "d_accept")]
    pub accept_hidden_layer: usize,
    /// `codec_eos_token_id`.
    #[serde(default = "d_codec_eos")]
    pub codec_eos_token_id: u32,
    /// `codec_nothink_id`.
    #[serde(default = "d_codec_nothink")]
    pub codec_nothink_id: u32,
    /// `codec_think_bos_id`.
    #[serde(default = "d_codec_think_bos")]
    pub codec_think_bos_id: u32,
    /// `codec_think_eos_id`.
    #[serde(default = "d_codec_think_eos")]
    pub codec_think_eos_id: u32,
    /// `codec_pad_id`.
    #[serde(default = "d_codec_pad")]
    pub codec_pad_id: u32,
    /// `codec_bos_id`.
    #[serde(default = "d_codec_bos")]
    pub codec_bos_id: u32,
    /// `speaker_id`: voice name (lower case) → codec id.
    #[serde(default)]
    pub speaker_id: BTreeMap<String, u32>,
    /// `audio_token_id`.
    #[serde(default = "d_audio_token")]
    pub audio_token_id: u32,
    /// `image_token_id`.
    #[serde(default = "d_image_token")]
    pub image_token_id: u32,
    /// `video_token_id`.
    #[serde(default = "d_video_token")]
    pub video_token_id: u32,
    /// `vision_start_token_id`.
    #[serde(default = "d_vision_start")]
    pub vision_start_token_id: u32,
    /// `audio_start_token_id` (the talker's default differs from the
    /// thinker's: 151669).
    #[serde(default = "d_talker_audio_start")]
    pub audio_start_token_id: u32,
    /// `position_id_per_seconds`.
    #[serde(default = "d_pps")]
    pub position_id_per_seconds: u32,
    /// `spatial_merge_size` (read by the modelling code, not declared).
    #[serde(default = "d_merge")]
    pub spatial_merge_size: usize,
    /// `seconds_per_chunk` (Hub checkpoints).
    #[serde(default)]
    pub seconds_per_chunk: Option<f64>,
}

/// `code_predictor_config` (`Qwen3OmniMoeTalkerCodePredictorConfig`).
#[derive(Debug, Clone, PartialEq)]
pub struct CodePredictorConfig {
    /// The decoder (`model_type` `qwen3_omni_moe_talker_code_predictor`).
    pub decoder: DecoderConfig,
    /// `num_code_groups`.
    pub num_code_groups: usize,
}

impl<'de> Deserialize<'de> for CodePredictorConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        let num_code_groups = value
            .get("num_code_groups")
            .and_then(serde_json::Value::as_u64)
            .map_or(32, |n| n as usize);
        let decoder = decoder(value, "qwen3_omni_moe_talker_code_predictor")
            .map_err(serde::de::Error::custom)?;
        Ok(Self {
            decoder,
            num_code_groups,
        })
    }
}

/// `code2wav_config` (`Qwen3OmniMoeCode2WavConfig`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Code2WavConfig {
    /// `codebook_size`.
    pub codebook_size: usize,
    /// `hidden_size`.
    pub hidden_size: usize,
    /// `max_position_embeddings`.
    pub max_position_embeddings: usize,
    /// `rope_parameters` (or legacy `rope_scaling`), as written.
    pub rope_parameters: Option<serde_json::Value>,
    /// Legacy `rope_theta`.
    pub rope_theta: Option<f64>,
    /// `num_attention_heads`.
    pub num_attention_heads: usize,
    /// `num_key_value_heads`.
    pub num_key_value_heads: usize,
    /// `attention_bias`.
    pub attention_bias: bool,
    /// `sliding_window` (every layer is sliding).
    pub sliding_window: usize,
    /// `intermediate_size`.
    pub intermediate_size: usize,
    /// `hidden_act`.
    pub hidden_act: String,
    /// `layer_scale_initial_scale`.
    pub layer_scale_initial_scale: f64,
    /// `rms_norm_eps`.
    pub rms_norm_eps: f64,
    /// `num_hidden_layers`.
    pub num_hidden_layers: usize,
    /// `num_quantizers`: code groups per frame.
    pub num_quantizers: usize,
    /// `upsample_rates`.
    pub upsample_rates: Vec<usize>,
    /// `upsampling_ratios`.
    pub upsampling_ratios: Vec<usize>,
    /// `decoder_dim`.
    pub decoder_dim: usize,
}

impl Default for Code2WavConfig {
    /// transformers' defaults (`Qwen3OmniMoeCode2WavConfig()`).
    fn default() -> Self {
        Self {
            codebook_size: 2048,
            hidden_size: 1024,
            max_position_embeddings: 8000,
            rope_parameters: None,
            rope_theta: None,
            num_attention_heads: 16,
            num_key_value_heads: 16,
            attention_bias: false,
            sliding_window: 72,
            intermediate_size: 3072,
            hidden_act: "silu".into(),
            layer_scale_initial_scale: 0.01,
            rms_norm_eps: 1e-5,
            num_hidden_layers: 8,
            num_quantizers: 16,
            upsample_rates: vec![8, 5, 4, 3],
            upsampling_ratios: vec![2, 2],
            decoder_dim: 1536,
        }
    }
}

impl Code2WavConfig {
    /// The rotary base: `rope_parameters.rope_theta`, else legacy
    /// `rope_theta`, else 10000.
    pub fn rope_theta(&self) -> f64 {
        self.rope_parameters
            .as_ref()
            .and_then(|p| p.get("rope_theta"))
            .and_then(serde_json::Value::as_f64)
            .or(self.rope_theta)
            .unwrap_or(10_000.0)
    }

    /// Per-head width (`hidden_size / num_attention_heads`).
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads.max(1)
    }
}

impl Qwen3OmniMoeConfig {
    /// Reads `config.json` at `path`, refusing a checkpoint that is not
    /// Qwen3-Omni with an error naming what it is.
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

    /// Parses a `config.json` document (see [`Qwen3OmniMoeConfig::from_file`]).
    pub fn from_json_str(text: &str) -> Result<Self> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| config_error(e.to_string()))?;
        check_kind(&value)?;
        let cfg: Self = serde_json::from_value(value).map_err(|e| config_error(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The talker configuration, or an error for a thinker-only checkpoint.
    pub fn talker(&self) -> Result<&TalkerConfig> {
        self.talker_config.as_ref().ok_or_else(|| {
            invalid(
                "talker_config",
                "the checkpoint has no talker (thinker only)",
            )
        })
    }

    /// The code2wav configuration, or an error for a thinker-only checkpoint.
    pub fn code2wav(&self) -> Result<&Code2WavConfig> {
        self.code2wav_config.as_ref().ok_or_else(|| {
            invalid(
                "code2wav_config",
                "the checkpoint has no code2wav (thinker only)",
            )
        })
    }

    /// Checks that the parts fit together; names the first bad field.
    pub fn validate(&self) -> Result<()> {
        let t = &self.thinker_config;
        t.audio_config.validate()?;
        let hidden = t.text_config.hidden_size;
        if t.audio_config.output_dim != hidden {
            return Err(invalid(
                "output_dim",
                format!(
                    "audio output_dim {} must equal the text hidden_size {hidden}",
                    t.audio_config.output_dim
                ),
            ));
        }
        if t.vision_config.spatial_merge_size == 0 {
            return Err(invalid("spatial_merge_size", "must be positive"));
        }
        if let Some(talker) = &self.talker_config {
            let layers = t.text_config.num_hidden_layers;
            if talker.accept_hidden_layer > layers {
                return Err(invalid(
                    "accept_hidden_layer",
                    format!(
                        "{} exceeds the thinker's {layers} layers",
                        talker.accept_hidden_layer
                    ),
                ));
            }
            if talker.thinker_hidden_size != hidden {
                return Err(invalid(
                    "thinker_hidden_size",
                    format!(
                        "{} differs from the thinker's hidden_size {hidden}",
                        talker.thinker_hidden_size
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl AudioEncoderConfig {
    /// Checks the encoder's sizes; names the first bad field.
    pub fn validate(&self) -> Result<()> {
        for (field, v) in [
            ("num_mel_bins", self.num_mel_bins),
            ("encoder_attention_heads", self.encoder_attention_heads),
            ("d_model", self.d_model),
            ("downsample_hidden_size", self.downsample_hidden_size),
            ("output_dim", self.output_dim),
        ] {
            if v == 0 {
                return Err(invalid(field, "must be positive"));
            }
        }
        if !self.d_model.is_multiple_of(self.encoder_attention_heads) {
            return Err(invalid("encoder_attention_heads", "must divide d_model"));
        }
        if !self.d_model.is_multiple_of(2) {
            return Err(invalid("d_model", "must be even for sinusoidal positions"));
        }
        if self.activation_function != "gelu" {
            let f = &self.activation_function;
            return Err(invalid(
                "activation_function",
                format!("`{f}` is not supported (only gelu)"),
            ));
        }
        // The reference counts 13 tokens per full chunk whatever n_window is
        // (`_get_feat_extract_output_lengths`), which only matches its
        // convolutions for 100-frame chunks.
        if self.n_window != 50 {
            return Err(invalid(
                "n_window",
                format!(
                    "{} is not supported: the reference is only consistent for 50",
                    self.n_window
                ),
            ));
        }
        if self.n_window_infer < 2 * self.n_window {
            return Err(invalid(
                "n_window_infer",
                format!("must be at least 2 * n_window = {}", 2 * self.n_window),
            ));
        }
        if self.max_source_positions < super::audio_encoder::CHUNK_TOKENS {
            return Err(invalid(
                "max_source_positions",
                "must cover the 13 tokens of a chunk",
            ));
        }
        Ok(())
    }
}

/// Refuses a `config.json` that is not Qwen3-Omni, naming what it is.
fn check_kind(value: &serde_json::Value) -> Result<()> {
    let model_type = value.get("model_type").and_then(serde_json::Value::as_str);
    let architectures: Vec<&str> = value
        .get("architectures")
        .and_then(serde_json::Value::as_array)
        .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default();
    if model_type == Some(MODEL_TYPE) {
        return Ok(());
    }
    let found = match model_type {
        Some(t) => format!("model_type `{t}`"),
        None => "no model_type".to_string(),
    };
    Err(config_error(format!(
        "not a Qwen3-Omni checkpoint: found {found} and architectures {architectures:?}; \
         expected model_type `{MODEL_TYPE}` ({ARCHITECTURE})"
    )))
}

/// Resolves a nested decoder config, supplying its `model_type` when absent.
fn decoder(mut value: serde_json::Value, model_type: &str) -> Result<DecoderConfig> {
    if let Some(obj) = value.as_object_mut() {
        obj.entry("model_type")
            .and_modify(|v| {
                if v.as_str().is_none_or(str::is_empty) {
                    *v = model_type.into();
                }
            })
            .or_insert_with(|| model_type.into());
    }
    DecoderConfig::from_value(value)
}

fn thinker_text<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<DecoderConfig, D::Error> {
    let mut value = serde_json::Value::deserialize(d)?;
    // The thinker's MoE block has no shared expert; the Hub config still
    // writes `shared_expert_intermediate_size: 0`, which transformers ignores.
    if let Some(obj) = value.as_object_mut() {
        obj.remove("shared_expert_intermediate_size");
    }
    decoder(value, "qwen3_omni_moe_text")
        .map_err(|e| serde::de::Error::custom(format!("text_config: {e}")))
}

fn talker_text<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<DecoderConfig, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    decoder(value, "qwen3_omni_moe_talker_text")
        .map_err(|e| serde::de::Error::custom(format!("talker text_config: {e}")))
}

fn config_error(reason: String) -> Error {
    Error::Config {
        path: "<json>".into(),
        reason,
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidConfig {
        field,
        reason: reason.into(),
    }
}

fn yes() -> bool {
    true
}
fn d_im_start() -> u32 {
    151_644
}
fn d_im_end() -> u32 {
    151_645
}
fn d_tts_pad() -> u32 {
    151_671
}
fn d_tts_bos() -> u32 {
    151_672
}
fn d_tts_eos() -> u32 {
    151_673
}
fn d_system() -> u32 {
    8948
}
fn d_user() -> u32 {
    872
}
fn d_assistant() -> u32 {
    77_091
}
fn d_pps() -> u32 {
    25
}
fn d_audio_token() -> u32 {
    151_646
}
fn d_audio_start() -> u32 {
    151_647
}
fn d_talker_audio_start() -> u32 {
    151_669
}
fn d_image_token() -> u32 {
    151_655
}
fn d_video_token() -> u32 {
    151_656
}
fn d_vision_start() -> u32 {
    151_652
}
fn d_merge() -> usize {
    2
}
fn d_code_groups() -> usize {
    32
}
fn d_thinker_hidden() -> usize {
    2048
}
fn d_accept() -> usize {
    18
}
fn d_codec_eos() -> u32 {
    4198
}
fn d_codec_nothink() -> u32 {
    4203
}
fn d_codec_think_bos() -> u32 {
    4204
}
fn d_codec_think_eos() -> u32 {
    4205
}
fn d_codec_pad() -> u32 {
    4196
}
fn d_codec_bos() -> u32 {
    4197
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_decoder_checkpoint_is_refused_naming_what_it_is() {
        let text = r#"{"model_type":"qwen3","architectures":["Qwen3ForCausalLM"],"vocab_size":8}"#;
        let err = Qwen3OmniMoeConfig::from_json_str(text)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("model_type `qwen3`") && err.contains("Qwen3ForCausalLM"),
            "{err}"
        );
        let err = Qwen3OmniMoeConfig::from_json_str("{}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no model_type"), "{err}");
    }

    #[test]
    fn a_missing_text_config_is_named() {
        let text = r#"{"model_type":"qwen3_omni_moe","thinker_config":{"audio_config":{}}}"#;
        let err = Qwen3OmniMoeConfig::from_json_str(text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("text_config"), "{err}");
    }
}
