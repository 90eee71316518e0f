//! Qwen3-Omni (`Qwen3OmniMoeForConditionalGeneration`): the thinker side.
//!
//! Reference: `transformers/models/qwen3_omni_moe/` (transformers 5.24):
//! `configuration_qwen3_omni_moe.py`, `modeling_qwen3_omni_moe.py`.
//!
//! - [`config`]: the whole `config.json` tree — thinker (audio encoder, text
//!   decoder; the vision tower only as far as the rotary index needs it),
//!   talker (text decoder, code predictor) and Code2Wav.
//! - [`generation_config`]: `generation_config.json` defaults.
//! - [`checkpoint`]: a checkpoint directory; each sub-model loads from its
//!   prefix (`thinker.`, `talker.`, `code2wav.`), the vision tower is never
//!   read, other model types are refused by name.
//! - [`audio_encoder`]: log-mel frames → audio tokens (conv chunks,
//!   windowed attention).
//! - [`rope_index`]: multimodal rotary positions (`get_rope_index`).
//! - [`talker`]: the talker, its code predictor, its prompt and its
//!   generation defaults (thinker text → codec frames).
//! - [`thinker`]: audio merged into the token embeddings, the MoE text
//!   decoder, `lm_head`; hidden-state capture for the talker.

pub mod audio_encoder;
pub mod checkpoint;
pub mod config;
pub mod generation_config;
pub mod rope_index;
pub mod talker;
pub mod thinker;

pub use audio_encoder::{AudioEncoderOutput, MelFeatures, Qwen3OmniAudioEncoder, audio_tokens};
pub use checkpoint::{CODE2WAV_PREFIX, Qwen3OmniCheckpoint, TALKER_PREFIX, THINKER_PREFIX};
pub use config::{
    AudioEncoderConfig, Code2WavConfig, CodePredictorConfig, Qwen3OmniMoeConfig, TalkerConfig,
    ThinkerConfig, VisionConfig,
};
pub use generation_config::GenerationConfig;
pub use rope_index::{MediaLayout, RopeIndex, RopeIndexConfig, rope_index};
pub use talker::{
    CodePredictor, Qwen3OmniTalker, TalkerPromptLayout, TalkerTextEmbeds, TtsSpecialIds,
};
pub use thinker::{AudioSpan, Qwen3OmniThinker, ThinkerInput};
