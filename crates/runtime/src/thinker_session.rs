//! The library-level entry for text generation: a Qwen3-Omni checkpoint,
//! one request (messages with text and 16 kHz audio, tools, sampling
//! parameters) in, text tokens out as they are generated.
//!
//! Single request, no batching: [`ThinkerSession::generate`] renders and
//! tokenizes the prompt ([`Qwen3OmniProcessor`]: chat template, audio
//! placeholders, log-mel features), encodes the audio, and returns a
//! [`TextStream`] — an iterator whose first step runs the prefill and each
//! later step one decode step, yielding the chosen token with the text it
//! completes (the tokenizer's [`DecodeStream`], special tokens skipped).
//! The batched engine builds on the same model API
//! ([`Qwen3OmniThinker::forward`] over several sequences).
//!
//! Reference behaviour it reproduces: `Qwen3OmniMoeProcessor.apply_chat_template`
//! followed by `Qwen3OmniMoeThinkerForConditionalGeneration.generate` with
//! the checkpoint's `generation_config.json` in force where the request
//! sets nothing (see [`SamplingConfig::resolve`]); generation stops after
//! any of its `eos_token_id`s (or `<|im_end|>` when it names none).

use crate::sampling::{Sampler, SamplingConfig, SamplingError, SamplingOverrides};
use burn::tensor::backend::Backend;
use omnivox_model::qwen3_omni::{
    MelFeatures, Qwen3OmniCheckpoint, Qwen3OmniThinker, RopeIndex, ThinkerInput,
};
use omnivox_model::{BatchSeq, ContiguousKvCache, KvCache};
use omnivox_tokenizer::{ChatInput, DecodeStream, Prompt, Qwen3OmniProcessor};
use std::path::Path;

/// Tokens generated when neither the request nor the checkpoint says
/// (transformers' `thinker_max_new_tokens` default).
pub const DEFAULT_MAX_NEW_TOKENS: usize = 1024;

/// What can go wrong in a session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// Loading or running the model.
    #[error(transparent)]
    Model(#[from] omnivox_model::Error),
    /// Templates, tokenization, audio features.
    #[error(transparent)]
    Tokenizer(#[from] omnivox_tokenizer::Error),
    /// Sampling parameters, or nothing left to sample.
    #[error(transparent)]
    Sampling(#[from] SamplingError),
    /// A request that cannot be served.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

/// One generation request.
#[derive(Debug, Clone, Default)]
pub struct ThinkerRequest {
    /// The conversation, shaped as transformers expects (`{"role", "content"}`;
    /// audio content blocks are `{"type": "audio"}`).
    pub messages: Vec<serde_json::Value>,
    /// One clip of mono 16 kHz samples per audio content block, in order.
    pub audio: Vec<Vec<f32>>,
    /// Tool schemas (`{"type": "function", "function": {…}}`), if any.
    pub tools: Option<Vec<serde_json::Value>>,
    /// Extra template variables (`enable_thinking`, …).
    pub template_kwargs: serde_json::Map<String, serde_json::Value>,
    /// Sampling parameters the request sets.
    pub sampling: SamplingOverrides,
    /// Upper bound on generated tokens (stop token included).
    pub max_new_tokens: Option<usize>,
    /// Extra ids that end generation.
    pub stop_token_ids: Vec<u32>,
    /// Encode control tokens typed by users as plain text (the server sets
    /// it; see `ChatInput::sanitize_control_tokens`).
    pub sanitize_control_tokens: bool,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// A stop token was generated.
    Stop,
    /// The token limit was reached.
    Length,
}

/// One generated token.
#[derive(Debug, Clone, PartialEq)]
pub struct TextToken {
    /// Its id.
    pub id: u32,
    /// The text it completes (possibly empty: a token may end inside a
    /// character, and special tokens print nothing). On the last token this
    /// includes everything still held back.
    pub text: String,
    /// Set on the last token.
    pub finish: Option<FinishReason>,
}

/// A Qwen3-Omni checkpoint ready to generate text.
#[derive(Debug)]
pub struct ThinkerSession<B: Backend> {
    checkpoint: Qwen3OmniCheckpoint,
    processor: Qwen3OmniProcessor,
    thinker: Qwen3OmniThinker<B>,
    stop_ids: Vec<u32>,
}

impl<B: Backend> ThinkerSession<B> {
    /// Opens a checkpoint directory (configs, tokenizer, chat template,
    /// preprocessor) and loads the thinker on `device`.
    pub fn open(dir: impl AsRef<Path>, device: &B::Device) -> Result<Self, SessionError> {
        let dir = dir.as_ref();
        let checkpoint = Qwen3OmniCheckpoint::open(dir)?;
        let processor = Qwen3OmniProcessor::from_dir(dir)?;
        let thinker = checkpoint.load_thinker::<B>(device)?;
        let mut stop_ids = checkpoint.generation_config().eos_token_id.clone();
        if stop_ids.is_empty() {
            stop_ids.push(checkpoint.config().im_end_token_id);
        }
        Ok(Self {
            checkpoint,
            processor,
            thinker,
            stop_ids,
        })
    }

    /// The checkpoint (configs, generation defaults, tensor index).
    pub fn checkpoint(&self) -> &Qwen3OmniCheckpoint {
        &self.checkpoint
    }

    /// The processor (tokenizer, templates, feature extractor).
    pub fn processor(&self) -> &Qwen3OmniProcessor {
        &self.processor
    }

    /// The model.
    pub fn thinker(&self) -> &Qwen3OmniThinker<B> {
        &self.thinker
    }

    /// The ids that end generation by default.
    pub fn stop_ids(&self) -> &[u32] {
        &self.stop_ids
    }

    /// Prepares a request: prompt, audio encoding, sampler. The returned
    /// stream runs the model as it is iterated.
    pub fn generate(&self, req: &ThinkerRequest) -> Result<TextStream<'_, B>, SessionError> {
        let input = ChatInput {
            messages: &req.messages,
            tools: req.tools.as_deref(),
            documents: None,
            add_generation_prompt: true,
            kwargs: Some(&req.template_kwargs),
            sanitize_control_tokens: req.sanitize_control_tokens,
        };
        let clips: Vec<&[f32]> = req.audio.iter().map(Vec::as_slice).collect();
        let prompt = self.processor.process(&input, &clips)?;
        let config = SamplingConfig::resolve(&req.sampling, self.checkpoint.generation_config())?;
        let max_positions = self.thinker.config.text_config.max_position_embeddings;
        let n = prompt.input_ids.len();
        if n >= max_positions {
            return Err(SessionError::InvalidRequest(format!(
                "the prompt has {n} tokens; the model's context is {max_positions}"
            )));
        }
        let limit = req
            .max_new_tokens
            .or(self.checkpoint.generation_config().max_new_tokens)
            .unwrap_or(DEFAULT_MAX_NEW_TOKENS)
            .min(max_positions - n);
        if limit == 0 {
            return Err(SessionError::InvalidRequest(
                "max_new_tokens must be at least 1".into(),
            ));
        }
        let (first, rope) = self.prefill_input(&prompt)?;
        let mut stop_ids = self.stop_ids.clone();
        stop_ids.extend(&req.stop_token_ids);
        Ok(TextStream {
            session: self,
            sampler: Sampler::new(config, &prompt.input_ids),
            cache: self.thinker.new_cache(),
            decode: Some(self.processor.tokenizer().decode_stream(true)),
            pending: Some(first),
            rope,
            prompt_tokens: n,
            generated: 0,
            limit,
            stop_ids,
        })
    }

    /// The prompt's ids, audio embeddings and rotary positions.
    fn prefill_input(&self, prompt: &Prompt) -> Result<(Step<B>, RopeIndex), SessionError> {
        let mels: Vec<MelFeatures<'_>> = prompt
            .audio
            .iter()
            .map(|a| MelFeatures {
                data: &a.features.data,
                n_mels: a.features.n_mels,
                frames: a.features.n_frames,
            })
            .collect();
        let frames: Vec<usize> = mels.iter().map(|m| m.frames).collect();
        let rope = self.thinker.rope_index(&prompt.input_ids, &frames)?;
        let audio = if mels.is_empty() {
            Vec::new()
        } else {
            let out = self.thinker.encode_audio(&mels)?;
            self.thinker.audio_spans(&prompt.input_ids, 0, &out)?
        };
        let step = Step {
            input: ThinkerInput {
                ids: prompt.input_ids.clone(),
                audio,
            },
            prefill: true,
        };
        Ok((step, rope))
    }
}

/// The input of the next forward step.
struct Step<B: Backend> {
    input: ThinkerInput<B>,
    /// Whether this is the prompt (else one generated token).
    prefill: bool,
}

/// Generated tokens of one request, produced as it is iterated. Dropping it
/// stops generation.
pub struct TextStream<'a, B: Backend> {
    session: &'a ThinkerSession<B>,
    sampler: Sampler,
    cache: ContiguousKvCache<B>,
    decode: Option<DecodeStream>,
    pending: Option<Step<B>>,
    rope: RopeIndex,
    prompt_tokens: usize,
    generated: usize,
    limit: usize,
    stop_ids: Vec<u32>,
}

impl<B: Backend> std::fmt::Debug for TextStream<'_, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextStream")
            .field("prompt_tokens", &self.prompt_tokens)
            .field("generated", &self.generated)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl<B: Backend> TextStream<'_, B> {
    /// Tokens in the prompt.
    pub fn prompt_tokens(&self) -> usize {
        self.prompt_tokens
    }

    /// Tokens generated so far.
    pub fn generated_tokens(&self) -> usize {
        self.generated
    }

    /// The sampling parameters in force.
    pub fn sampling(&self) -> &SamplingConfig {
        self.sampler.config()
    }

    /// Runs one forward step and chooses a token.
    fn step(&mut self, step: Step<B>) -> Result<TextToken, SessionError> {
        let thinker = &self.session.thinker;
        let n = step.input.ids.len();
        let positions = if step.prefill {
            self.rope.to_positions()?
        } else {
            self.rope.continuation(self.cache.seq_len(), n)?
        };
        let mut seqs = [BatchSeq {
            positions,
            cache: &mut self.cache,
        }];
        let hidden = thinker.forward(step.input, &mut seqs, &[])?.hidden;
        let logits = thinker.last_logits(hidden, &[n])?;
        let mut row = logits
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| {
                SessionError::Model(omnivox_model::Error::InvalidInput(format!("logits: {e:?}")))
            })?;
        let id = self.sampler.sample(&mut row)?;
        self.generated += 1;
        let finish = if self.stop_ids.contains(&id) {
            Some(FinishReason::Stop)
        } else if self.generated >= self.limit {
            Some(FinishReason::Length)
        } else {
            None
        };
        let mut text = String::new();
        if let Some(decode) = self.decode.as_mut()
            && let Some(delta) = decode.step(id)?
        {
            text.push_str(&delta);
        }
        if finish.is_some() {
            if let Some(decode) = self.decode.take() {
                text.push_str(&decode.finish()?);
            }
        } else {
            self.pending = Some(Step {
                input: ThinkerInput::text(vec![id]),
                prefill: false,
            });
        }
        Ok(TextToken { id, text, finish })
    }
}

impl<B: Backend> Iterator for TextStream<'_, B> {
    type Item = Result<TextToken, SessionError>;

    fn next(&mut self) -> Option<Self::Item> {
        let step = self.pending.take()?;
        let out = self.step(step);
        if out.is_err() {
            self.pending = None;
        }
        Some(out)
    }
}
