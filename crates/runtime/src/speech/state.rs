//! One sequence's speech: its talker KV cache, the text it has yet to
//! read, its samplers and its Code2Wav stream.
//!
//! The talker is gated by the text: step `k ≥ 1` needs the `k`-th spoken
//! token (or the knowledge that the text has ended, after which it reads
//! `tts_eos` once and `tts_pad` forever). [`TalkerState::is_ready`] says
//! whether a step can run now; [`super::SpeechModel::step`] runs one for
//! every ready state of a batch.

use crate::sampling::{Sampler, SamplingConfig};
use burn::tensor::{Tensor, backend::Backend};
use omnivox_codec::StreamingDecoder;
use omnivox_model::ContiguousKvCache;
use omnivox_model::qwen3_omni::talker::TalkerGenerationDefaults;
use std::collections::VecDeque;

/// How one sequence's speech is sampled.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechSampling {
    /// Greedy talker and code predictor (the reference's
    /// `talker_do_sample=False`); the repetition penalty and the suppressed
    /// ids apply either way.
    pub greedy: bool,
    /// Seed of both samplers (when not greedy).
    pub seed: u64,
    /// Talker tokens at most (`talker_max_new_tokens`); frames are one fewer
    /// when the talker stops on codec EOS.
    pub max_new_tokens: usize,
    /// The reference's sampling parameters.
    pub defaults: TalkerGenerationDefaults,
}

impl SpeechSampling {
    /// Greedy, with the reference's other defaults.
    pub fn greedy() -> Self {
        let defaults = TalkerGenerationDefaults::default();
        Self {
            greedy: true,
            seed: 0,
            max_new_tokens: defaults.max_new_tokens,
            defaults,
        }
    }

    /// Sampling as the reference's `generate` does by default, seeded.
    pub fn sampled(seed: u64) -> Self {
        Self {
            greedy: false,
            seed,
            ..Self::greedy()
        }
    }

    pub(crate) fn talker_config(&self, suppress_tokens: Vec<u32>) -> SamplingConfig {
        let d = &self.defaults;
        SamplingConfig {
            temperature: if self.greedy { 0.0 } else { d.temperature },
            top_p: d.top_p,
            top_k: Some(d.top_k).filter(|&k| k > 0),
            repetition_penalty: d.repetition_penalty,
            suppress_tokens,
            seed: self.seed,
            ..SamplingConfig::default()
        }
    }

    pub(crate) fn predictor_config(&self) -> SamplingConfig {
        let d = &self.defaults;
        SamplingConfig {
            temperature: if self.greedy {
                0.0
            } else {
                d.predictor_temperature
            },
            top_p: d.predictor_top_p,
            top_k: Some(d.predictor_top_k).filter(|&k| k > 0),
            seed: self.seed ^ 0x5eed_c0de_c0de_5eed,
            ..SamplingConfig::default()
        }
    }
}

/// Why a sequence's speech ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpeechFinish {
    /// The talker produced codec EOS.
    Eos,
    /// The talker reached `max_new_tokens`.
    Length,
    /// There was nothing to speak (every token was filtered out, or the
    /// reply was only its final token); the talker never ran.
    NoText,
    /// A sampler had nothing to choose from (non-finite logits); the
    /// step's `error` says more.
    Failed,
}

pub(crate) enum Phase<B: Backend> {
    /// Waiting for the first text token; holds the prompt rows before it.
    Prefill(Tensor<B, 2>),
    /// Holds the last frame's summed code embeddings: the next input minus
    /// its text row.
    Decode(Tensor<B, 2>),
    /// Finished.
    Done(SpeechFinish),
}

/// One sequence's talker, code predictor and Code2Wav state.
pub struct TalkerState<B: Backend> {
    pub(crate) phase: Phase<B>,
    pub(crate) queue: VecDeque<u32>,
    pub(crate) text_ended: bool,
    pub(crate) eos_fed: bool,
    pub(crate) cache: ContiguousKvCache<B>,
    pub(crate) sampler: Sampler,
    pub(crate) predictor: Sampler,
    pub(crate) tokens: Vec<u32>,
    pub(crate) max_new_tokens: usize,
    pub(crate) decoder: StreamingDecoder<B>,
    pub(crate) frames: usize,
    pub(crate) text_consumed: usize,
    pub(crate) samples: usize,
}

impl<B: Backend> std::fmt::Debug for TalkerState<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TalkerState")
            .field("queued_text", &self.queue.len())
            .field("text_ended", &self.text_ended)
            .field("talker_tokens", &self.tokens.len())
            .field("frames", &self.frames)
            .field("finished", &self.finished())
            .finish_non_exhaustive()
    }
}

impl<B: Backend> TalkerState<B> {
    /// Queues a spoken text token (one that passed the never-spoken filter).
    /// Tokens after [`TalkerState::end_text`] are ignored.
    pub fn push_text(&mut self, id: u32) {
        if !self.text_ended {
            self.queue.push_back(id);
        }
    }

    /// Marks the text complete. The thinker's last token (its EOS, or the
    /// token that hit its length limit) must not have been pushed: the
    /// reference never shows it to the talker.
    pub fn end_text(&mut self) {
        self.text_ended = true;
    }

    /// Whether a step can run now.
    pub fn is_ready(&self) -> bool {
        match self.phase {
            Phase::Done(_) => false,
            Phase::Prefill(_) | Phase::Decode(_) => !self.queue.is_empty() || self.text_ended,
        }
    }

    /// Why speech ended, once it has.
    pub fn finished(&self) -> Option<SpeechFinish> {
        match self.phase {
            Phase::Done(r) => Some(r),
            _ => None,
        }
    }

    /// Talker tokens generated so far (code group 0 of every frame, then
    /// codec EOS if it came).
    pub fn talker_tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// Complete frames so far.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Spoken text tokens the talker has read so far.
    pub fn text_consumed(&self) -> usize {
        self.text_consumed
    }

    /// Text tokens queued and not yet read.
    pub fn text_queued(&self) -> usize {
        self.queue.len()
    }

    /// Waveform samples returned so far.
    pub fn samples_emitted(&self) -> usize {
        self.samples
    }
}
