//! The talker's generation defaults: what
//! `Qwen3OmniMoeForConditionalGeneration.generate` (transformers 5.24) passes
//! to the talker's and the code predictor's `generate`.
//!
//! - Talker: stops on `codec_eos_token_id` or after `talker_max_new_tokens`
//!   (4096); `suppress_tokens` = the top 1024 ids of the codec vocabulary
//!   except codec EOS (the control codes: pad, bos, think markers, speakers);
//!   `repetition_penalty` 1.05 — a logits processor, so it applies when
//!   greedy too — over the talker's own generated codes only (`generate` is
//!   called with `inputs_embeds` and no `input_ids`, so its `input_ids` start
//!   empty); sampling with temperature 0.9, top-k 50, top-p 1.0 unless
//!   `talker_do_sample=False`.
//! - Code predictor: `do_sample` copied from the talker
//!   (`_prepare_generation_config`); when sampling, top-k 50 and top-p 0.8
//!   at its generation config's temperature (1.0); no penalty, no
//!   suppression, no stop id: always `num_code_groups - 1` codes.
//!
//! Greedy end to end therefore needs only `talker_do_sample=False` (and the
//! thinker's own `thinker_do_sample=False`); the penalty and the suppressed
//! ids stay.

use crate::qwen3_omni::config::TalkerConfig;

/// Ids at the top of the codec vocabulary that are always suppressed.
pub const SUPPRESSED_TOP_IDS: u32 = 1024;

/// The reference's talker and code-predictor sampling defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct TalkerGenerationDefaults {
    /// `talker_max_new_tokens`.
    pub max_new_tokens: usize,
    /// `talker_temperature` (when sampling).
    pub temperature: f32,
    /// `talker_top_k` (when sampling).
    pub top_k: usize,
    /// `talker_top_p` (when sampling).
    pub top_p: f32,
    /// `talker_repetition_penalty` (always).
    pub repetition_penalty: f32,
    /// The code predictor's temperature (when sampling).
    pub predictor_temperature: f32,
    /// The code predictor's top-k (when sampling).
    pub predictor_top_k: usize,
    /// The code predictor's top-p (when sampling).
    pub predictor_top_p: f32,
}

impl Default for TalkerGenerationDefaults {
    fn default() -> Self {
        Self {
            max_new_tokens: 4096,
            temperature: 0.9,
            top_k: 50,
            top_p: 1.0,
            repetition_penalty: 1.05,
            predictor_temperature: 1.0,
            predictor_top_k: 50,
            predictor_top_p: 0.8,
        }
    }
}

/// The ids `generate` always suppresses in the talker: the top
/// [`SUPPRESSED_TOP_IDS`] of its vocabulary, codec EOS excepted (ids below 0
/// in a vocabulary smaller than 1024 do not exist and are skipped, as
/// `SuppressTokensLogitsProcessor` ignores them).
pub fn suppressed_ids(cfg: &TalkerConfig) -> Vec<u32> {
    let vocab = cfg.text_config.vocab_size as u32;
    (vocab.saturating_sub(SUPPRESSED_TOP_IDS)..vocab)
        .filter(|&i| i != cfg.codec_eos_token_id)
        .collect()
}
