//! The Qwen3-Omni prompt path: render the chat template, expand each audio
//! placeholder to the clip's number of audio tokens, tokenize, and compute
//! each clip's log-mel features.
//!
//! Reference: `Qwen3OmniMoeProcessor` (`models/qwen3_omni_moe/processing_qwen3_omni_moe.py`)
//! and `ProcessorMixin.apply_chat_template` / `OmniModalProcessorMixin.__call__`
//! (`processing_utils.py`) in transformers 5: the template writes one
//! `<|audio_pad|>` per audio content block; each is replaced, in order, by
//! `num_audio_tokens(frames)` copies of itself, where `frames` is the clip's
//! attention-mask length from the feature extractor called on all clips of
//! the prompt as one batch.

use crate::audio::{LogMel, LogMelExtractor, WhisperConfig};
use crate::error::{Error, Result};
use crate::template::{ChatInput, ChatTemplates, TemplateOwner};
use crate::text::{MARK_START, Tokenizer, strip_markers};
use std::path::Path;

/// The processor's default `n_window` (the audio encoder's half-chunk).
pub const DEFAULT_N_WINDOW: usize = 50;

/// How many audio tokens a clip of `frames` mel frames becomes:
/// `_get_feat_extract_output_lengths`. Each full chunk of `2 * n_window`
/// frames gives 13 (the reference hard-codes 13, the output of three
/// stride-2 convolutions on 100 frames); the remainder `r` gives
/// `g(r)`, where `g` applies `x -> (x - 1) // 2 + 1` three times
/// (floor division) and `g(0) = 0`.
pub fn num_audio_tokens(frames: usize, n_window: usize) -> usize {
    let chunk = (2 * n_window).max(1) as i64;
    let frames = frames as i64;
    let halve = |x: i64| (x - 1).div_euclid(2) + 1;
    let leave = frames % chunk;
    let tail = halve(halve(halve(leave)));
    (tail + (frames / chunk) * 13).max(0) as usize
}

/// One audio clip of a processed prompt.
#[derive(Debug, Clone)]
pub struct PromptAudio {
    /// Log-mel features, `[n_mels, frames]`, masked frames only (the
    /// reference's `input_features[i][:, :feature_attention_mask[i].sum()]`).
    pub features: LogMel,
    /// Audio tokens the clip occupies in `input_ids`.
    pub num_tokens: usize,
    /// Index in `input_ids` of the clip's first audio token.
    pub token_offset: usize,
}

/// A processed prompt: what the thinker consumes.
#[derive(Debug, Clone)]
pub struct Prompt {
    /// The rendered template, before placeholder expansion.
    pub text: String,
    /// Token ids with every placeholder expanded.
    pub input_ids: Vec<u32>,
    /// One entry per clip, in prompt order.
    pub audio: Vec<PromptAudio>,
}

/// Qwen3-Omni's processor for text and audio (images and video are not
/// supported).
#[derive(Debug)]
pub struct Qwen3OmniProcessor {
    tokenizer: Tokenizer,
    templates: Option<ChatTemplates>,
    extractor: LogMelExtractor,
    audio_token: String,
    audio_token_id: u32,
    n_window: usize,
}

impl Qwen3OmniProcessor {
    /// Loads a checkpoint directory: `tokenizer.json` and
    /// `tokenizer_config.json`; the chat template by the processor's rules
    /// (falling back to the tokenizer's, as vLLM does; transformers would
    /// have no template); `preprocessor_config.json` (Qwen3-Omni's values
    /// when absent).
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let tokenizer = Tokenizer::from_dir(dir)?;
        let templates = match ChatTemplates::from_dir(dir, TemplateOwner::Processor)? {
            Some(t) => Some(t),
            None => ChatTemplates::from_dir(dir, TemplateOwner::Tokenizer)?,
        };
        let whisper = if dir.join("preprocessor_config.json").is_file() {
            WhisperConfig::from_dir(dir)?
        } else {
            WhisperConfig::qwen3_omni()
        };
        Self::new(tokenizer, templates, whisper, DEFAULT_N_WINDOW)
    }

    /// Assembles a processor from parts. The audio token is the tokenizer
    /// config's `audio_token` (default `<|audio_pad|>`) and must be in the
    /// vocabulary.
    pub fn new(
        tokenizer: Tokenizer,
        templates: Option<ChatTemplates>,
        whisper: WhisperConfig,
        n_window: usize,
    ) -> Result<Self> {
        if n_window == 0 {
            return Err(Error::Config {
                field: "n_window",
                reason: "must be positive".into(),
            });
        }
        let audio_token = tokenizer
            .config()
            .token("audio_token")
            .unwrap_or("<|audio_pad|>")
            .to_owned();
        let audio_token_id =
            tokenizer
                .token_to_id(&audio_token)
                .ok_or_else(|| Error::MissingToken {
                    token: audio_token.clone(),
                    role: "audio_token".into(),
                })?;
        Ok(Self {
            tokenizer,
            templates,
            extractor: LogMelExtractor::new(whisper)?,
            audio_token,
            audio_token_id,
            n_window,
        })
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The feature extractor.
    pub fn extractor(&self) -> &LogMelExtractor {
        &self.extractor
    }

    /// The chat templates, if the checkpoint has any.
    pub fn templates(&self) -> Option<&ChatTemplates> {
        self.templates.as_ref()
    }

    /// The id of the audio placeholder token (`<|audio_pad|>`).
    pub fn audio_token_id(&self) -> u32 {
        self.audio_token_id
    }

    /// Audio tokens for a clip of `frames` mel frames.
    pub fn num_audio_tokens(&self, frames: usize) -> usize {
        num_audio_tokens(frames, self.n_window)
    }

    /// The template the processor uses.
    fn template(&self) -> Result<&crate::template::ChatTemplate> {
        self.templates
            .as_ref()
            .ok_or_else(|| Error::NoChatTemplate(Path::new("<processor>").to_path_buf()))?
            .for_processor()
    }

    /// Renders the chat template (`processor.apply_chat_template(…,
    /// tokenize=False)`).
    pub fn render(&self, input: &ChatInput<'_>) -> Result<String> {
        self.template()?
            .render(input, &self.tokenizer.config().special_tokens)
    }

    /// Renders, expands and tokenizes a conversation
    /// (`processor.apply_chat_template(…, tokenize=True, return_dict=True)`,
    /// with `sanitize_control_tokens` from `input`). `audio` holds one clip
    /// of mono samples at the extractor's rate per audio content block, in
    /// conversation order.
    pub fn process(&self, input: &ChatInput<'_>, audio: &[&[f32]]) -> Result<Prompt> {
        if input.sanitize_control_tokens {
            let text = self.tokenizer.render_marked(self.template()?, input)?;
            return self.process_rendered(text, audio, true);
        }
        let text = self.render(input)?;
        self.process_rendered(text, audio, false)
    }

    /// Expands and tokenizes an already rendered prompt
    /// (`processor(text=…, audio=…)`).
    pub fn process_text(&self, text: String, audio: &[&[f32]]) -> Result<Prompt> {
        self.process_rendered(text, audio, false)
    }

    /// `marked`: the text was rendered from marked input; marked audio
    /// tokens are user text, not placeholders.
    fn process_rendered(&self, text: String, audio: &[&[f32]], marked: bool) -> Result<Prompt> {
        let placeholders = self.placeholders(&text, marked);
        if placeholders.len() != audio.len() {
            return Err(Error::AudioCountMismatch {
                placeholders: placeholders.len(),
                clips: audio.len(),
            });
        }
        let features = self.extractor.extract_batch(audio)?;
        let counts: Vec<usize> = features
            .iter()
            .map(|f| self.num_audio_tokens(f.n_frames))
            .collect();
        let expanded = self.expand(&text, &placeholders, &counts);
        let input_ids = if marked {
            self.tokenizer.encode_marked(&expanded)?
        } else {
            let add_special = !self
                .tokenizer
                .config()
                .token("bos_token")
                .is_some_and(|bos| text.starts_with(bos));
            self.tokenizer.encode(&expanded, add_special)?
        };
        let offsets = runs_of(&input_ids, self.audio_token_id, &counts)?;
        let audio = features
            .into_iter()
            .zip(counts)
            .zip(offsets)
            .map(|((features, num_tokens), token_offset)| PromptAudio {
                features,
                num_tokens,
                token_offset,
            })
            .collect();
        let text = if marked { strip_markers(&text) } else { text };
        Ok(Prompt {
            text,
            input_ids,
            audio,
        })
    }

    /// Byte offsets of the audio placeholders (those not marked as user text).
    fn placeholders(&self, text: &str, marked: bool) -> Vec<usize> {
        text.match_indices(self.audio_token.as_str())
            .map(|(i, _)| i)
            .filter(|&i| !(marked && text[..i].ends_with(MARK_START)))
            .collect()
    }

    /// The prompt with the placeholder at `at[i]` repeated `counts[i]` times.
    fn expand(&self, text: &str, at: &[usize], counts: &[usize]) -> String {
        let tok = self.audio_token.as_str();
        let extra: usize = counts.iter().sum::<usize>() * tok.len();
        let mut out = String::with_capacity(text.len() + extra);
        let mut last = 0;
        for (&i, &n) in at.iter().zip(counts) {
            out.push_str(&text[last..i]);
            for _ in 0..n {
                out.push_str(tok);
            }
            last = i + tok.len();
        }
        out.push_str(&text[last..]);
        out
    }
}

/// Where each clip's run of audio tokens starts; the runs must account for
/// every audio token (a template that writes audio tokens elsewhere would
/// misalign features).
fn runs_of(ids: &[u32], audio_id: u32, counts: &[usize]) -> Result<Vec<usize>> {
    let positions: Vec<usize> = ids
        .iter()
        .enumerate()
        .filter(|&(_, &id)| id == audio_id)
        .map(|(i, _)| i)
        .collect();
    let total: usize = counts.iter().sum();
    if positions.len() != total {
        return Err(Error::AudioCountMismatch {
            placeholders: positions.len(),
            clips: total,
        });
    }
    let mut offsets = Vec::with_capacity(counts.len());
    let mut k = 0;
    for &n in counts {
        offsets.push(positions.get(k).copied().unwrap_or(ids.len()));
        k += n;
    }
    Ok(offsets)
}
