//! The Qwen3-Omni talker: thinker text in, codec frames out.
//!
//! Reference: `Qwen3OmniMoeTalkerForConditionalGeneration`,
//! `Qwen3OmniMoeTalkerModel`, `Qwen3OmniMoeTalkerCodePredictorModelForConditionalGeneration`
//! and `Qwen3OmniMoeForConditionalGeneration.generate` with its
//! `_get_talker_user_parts` / `_get_talker_assistant_parts`, in
//! `transformers/models/qwen3_omni_moe/modeling_qwen3_omni_moe.py`
//! (transformers 5.24).
//!
//! - [`model`]: [`Qwen3OmniTalker`] — the MoE decoder over codec embeddings
//!   (every layer a sparse MoE with a sigmoid-gated shared expert, whatever
//!   `mlp_only_layers` says: the reference overrides it), `codec_head`, the
//!   two resize MLPs (`text_projection`, `hidden_projection`) and the code
//!   predictor; the sum of a frame's code embeddings the next step reads.
//! - [`code_predictor`]: [`CodePredictor`] — the residual code groups of a
//!   frame: a small dense decoder restarted at position 0 every frame, one
//!   embedding and one `lm_head` per residual group; batched over frames.
//! - [`prompt`]: [`TalkerPromptLayout`] — which prompt tokens the talker
//!   sees (every user turn; system and assistant turns are left out) and
//!   where the assistant turn starts; [`TalkerTextEmbeds`] — the projected
//!   `tts_bos` / `tts_eos` / `tts_pad` rows; the prefill assembly.
//! - [`generation`]: the reference's generation defaults — suppressed ids,
//!   stop id, repetition penalty, sampling parameters of both stages.
//!
//! One talker step, as `generate` runs it (see [`prompt`] for the text it
//! consumes): the input is the sum of the previous frame's code embeddings
//! and the next text row; the talker's final-normed last hidden state and
//! `codec_head` give code group 0; the code predictor, fed that hidden
//! state and code 0's embedding, gives groups `1..num_code_groups`. The
//! step that produces codec EOS (or the last allowed step) gets no residual
//! codes: frames = talker tokens − 1 when the talker stops on EOS.

pub mod code_predictor;
pub mod generation;
pub mod model;
pub mod prompt;

pub use code_predictor::CodePredictor;
pub use generation::{SUPPRESSED_TOP_IDS, TalkerGenerationDefaults, suppressed_ids};
pub use model::{Qwen3OmniTalker, ResizeMlp};
pub use prompt::{TalkerPromptLayout, TalkerTextEmbeds, TtsSpecialIds};
