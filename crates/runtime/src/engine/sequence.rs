//! A request admitted to the running batch.

use super::output::Output;
use super::prepare::Prepared;
use super::speaking::Speaking;
use super::stream::Emitter;
use crate::api::{Event, FinishReason, TokenCounts, Usage};
use crate::kv::BlockTable;
use crate::sampling::Sampler;
use burn::tensor::backend::Backend;
use omnivox_model::nn::Positions;
use omnivox_model::qwen3_omni::{AudioSpan, RopeIndex};
use omnivox_tokenizer::LogMel;
use std::collections::VecDeque;

/// One running sequence.
pub(crate) struct Sequence<B: Backend> {
    /// Admission order (older sequences have priority for KV blocks).
    pub order: u64,
    pub request_id: String,
    /// Prompt then generated tokens.
    pub tokens: Vec<u32>,
    pub prompt_len: usize,
    /// Tokens in the KV cache (`tokens[..fed]`).
    pub fed: usize,
    pub table: BlockTable,
    pub rope: Option<RopeIndex>,
    /// Audio features until the encoder has run.
    pub mels: Vec<LogMel>,
    /// Audio embeddings on the prompt's placeholders (kept so that a
    /// preempted sequence can be prefilled again).
    pub audio: Option<Vec<AudioSpan<B>>>,
    pub sampler: Sampler,
    pub output: Output,
    pub emitter: Emitter,
    /// Most tokens to generate.
    pub max_tokens: usize,
    pub usage_prompt: TokenCounts,
    /// Tokens the reply must be (read-aloud requests): taken instead of
    /// sampling, in order.
    pub forced: VecDeque<u32>,
    /// Speech out, when asked for.
    pub speech: Option<Box<Speaking<B>>>,
    /// Set when the thinker has finished (a speaking sequence then waits
    /// for its talker).
    pub thinker_done: Option<FinishReason>,
}

impl<B: Backend> std::fmt::Debug for Sequence<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequence")
            .field("request_id", &self.request_id)
            .field("tokens", &self.tokens.len())
            .field("fed", &self.fed)
            .finish_non_exhaustive()
    }
}

impl<B: Backend> Sequence<B> {
    pub fn new(
        p: Prepared,
        order: u64,
        table: BlockTable,
        sampler: Sampler,
        output: Output,
        emitter: Emitter,
        speech: Option<Box<Speaking<B>>>,
    ) -> Self {
        let prompt_len = p.prompt.len();
        Self {
            order,
            request_id: p.request_id,
            tokens: p.prompt,
            prompt_len,
            fed: 0,
            table,
            rope: p.rope,
            mels: p.audio,
            audio: None,
            sampler,
            output,
            emitter,
            max_tokens: p.max_tokens,
            usage_prompt: p.usage_prompt,
            forced: p.forced.into(),
            speech,
            thinker_done: None,
        }
    }

    /// Tokens generated so far.
    pub fn generated(&self) -> usize {
        self.tokens.len() - self.prompt_len
    }

    /// Tokens known but not yet in the cache (none once the thinker has
    /// finished).
    pub fn pending(&self) -> usize {
        if self.thinker_done.is_some() {
            return 0;
        }
        self.tokens.len() - self.fed
    }

    /// Whether the audio encoder still has to run before the prompt's audio
    /// placeholders can be fed.
    pub fn needs_audio(&self) -> bool {
        self.audio.is_none() && !self.mels.is_empty() && self.fed < self.prompt_len
    }

    /// Rotary positions of tokens `start..start + len`.
    pub fn positions(&self, start: usize, len: usize) -> omnivox_model::Result<Positions> {
        let Some(rope) = &self.rope else {
            return Ok(Positions::range(start, len));
        };
        let end = start + len;
        let split = self.prompt_len.clamp(start, end);
        let parts: Vec<Positions> = [
            (split > start).then(|| rope.slice(start, split - start)),
            (end > split).then(|| rope.continuation(split, end - split)),
        ]
        .into_iter()
        .flatten()
        .collect::<omnivox_model::Result<_>>()?;
        Ok(concat(parts))
    }

    /// The audio embeddings that fall on tokens `start..start + len`,
    /// placed at `offset + (token - start)` of the step's flattened batch.
    pub fn audio_in(&self, start: usize, len: usize, offset: usize) -> Vec<AudioSpan<B>> {
        let Some(spans) = &self.audio else {
            return Vec::new();
        };
        let end = start + len;
        spans
            .iter()
            .filter_map(|s| {
                let n = s.embeds.dims()[0];
                let (a, b) = (s.start.max(start), (s.start + n).min(end));
                (a < b).then(|| AudioSpan {
                    start: offset + a - start,
                    embeds: s.embeds.clone().narrow(0, a - s.start, b - a),
                })
            })
            .collect()
    }

    /// Sends the closing events (`audio`: talker tokens generated).
    pub fn close(&self, reason: FinishReason, audio: u32) {
        self.emitter.send(Event::Usage(Usage {
            prompt: self.usage_prompt,
            cached_prompt_tokens: 0,
            completion: TokenCounts {
                text: self.generated() as u32,
                audio,
            },
        }));
        self.emitter.send(Event::Finished(reason));
    }
}

/// Positions of consecutive runs, joined.
fn concat(parts: Vec<Positions>) -> Positions {
    let mut iter = parts.into_iter();
    let Some(first) = iter.next() else {
        return Positions::Text(Vec::new());
    };
    iter.fold(first, |acc, p| match (acc, p) {
        (Positions::Text(mut a), Positions::Text(b)) => {
            a.extend(b);
            Positions::Text(a)
        }
        (a, b) => {
            let axes = |p: Positions| match p {
                Positions::Text(v) => [v.clone(), v.clone(), v],
                Positions::Multimodal(m) => m,
            };
            let (mut a, b) = (axes(a), axes(b));
            for (x, y) in a.iter_mut().zip(b) {
                x.extend(y);
            }
            Positions::Multimodal(a)
        }
    })
}
