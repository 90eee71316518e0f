//! Speech out inside the batch: each speaking sequence's talker state, fed
//! by its thinker tokens as they are sampled, stepped for every speaking
//! sequence at once after each thinker step.
//!
//! A speaking sequence goes through:
//! 1. thinker prefill — the prompt's input embeddings (hidden state 0) and
//!    its hidden state `accept_hidden_layer` are captured chunk by chunk;
//! 2. its first sampled token — the talker starts
//!    ([`SpeechModel::start`]); from then on every sampled token passes the
//!    never-spoken filter ([`SpokenFilter`]) into the talker's text queue;
//! 3. the thinker finishes — its KV blocks go back to the pool, the text is
//!    marked complete (the last token is never spoken, as in the reference);
//! 4. the talker finishes — the last samples are flushed, the reply is
//!    stored (transcript and codes) and the stream closes.
//!
//! Audio goes out frame by frame: Code2Wav streams exactly
//! ([`omnivox_codec::StreamMode::Exact`]), then the speed stretch
//! ([`omnivox_audio::TimeStretch`]) when `speed` is not 1.

use super::model::StepModel;
use super::sequence::Sequence;
use super::worker::Worker;
use crate::api::{AudioChunk, AudioDone, EngineError, Event, FinishReason};
use crate::audio_store::StoredAudio;
use crate::speech::{SpeechFinish, SpeechSampling, SpokenFilter, TalkerState, Voice};
use burn::tensor::{Tensor, backend::Backend};
use omnivox_audio::TimeStretch;
use std::collections::VecDeque;
use std::time::SystemTime;

/// One sequence's speech.
pub(crate) struct Speaking<B: Backend> {
    /// `audio_…`, announced at admission.
    pub id: String,
    pub voice: Voice,
    pub sampling: SpeechSampling,
    pub filter: SpokenFilter,
    /// Captured prompt rows, chunk by chunk: (input embeddings, hidden
    /// state `accept_hidden_layer`), until the talker starts.
    pub captured: Vec<(Tensor<B, 2>, Tensor<B, 2>)>,
    pub talker: Option<TalkerState<B>>,
    /// `None` at speed 1.
    pub stretch: Option<TimeStretch>,
    /// Where the next chunk starts on the reply's timeline.
    pub next_ms: u64,
    /// Sampled tokens waiting for their text to be final.
    pub held: Held,
    /// The spoken tokens (the transcript, decoded at the end).
    pub spoken: Vec<u32>,
    /// Codes of every frame, back to back.
    pub codes: Vec<u32>,
    pub groups: u32,
}

impl<B: Backend> Speaking<B> {
    pub fn new(voice: Voice, sampling: SpeechSampling, filter: SpokenFilter, speed: f32) -> Self {
        let stretch = if (speed - 1.0).abs() > f32::EPSILON {
            // Checked when the request was prepared.
            TimeStretch::new(crate::api::OUTPUT_SAMPLE_RATE, speed).ok()
        } else {
            None
        };
        Self {
            id: audio_id(),
            voice,
            sampling,
            filter,
            captured: Vec::new(),
            talker: None,
            stretch,
            next_ms: 0,
            held: Held::default(),
            spoken: Vec::new(),
            codes: Vec::new(),
            groups: 0,
        }
    }

    /// Whether the prompt's hidden states are still wanted.
    pub fn capturing(&self) -> bool {
        self.talker.is_none()
    }

    /// A thinker token sampled after the talker started, with the output's
    /// [`mark`](super::output::Output::mark) right after it and how much
    /// of the output is [`settled`](super::output::Output::settled); `last`:
    /// the thinker's final token, which is never spoken.
    ///
    /// A token is spoken once its text is final. Without stop strings that
    /// is at once; with them, a token whose text may begin a stop string
    /// waits, and if the stop string matches, the text it cut is not said
    /// either.
    pub fn thinker_token(&mut self, token: u32, mark: usize, settled: usize, last: bool) {
        let Some(talker) = self.talker.as_mut() else {
            return;
        };
        if !last {
            self.held.push(token, mark);
        }
        for t in self.held.take_settled(settled) {
            if let Some(t) = self.filter.push(t) {
                self.spoken.push(t);
                talker.push_text(t);
            }
        }
        if last {
            // What is still held never became text: a stop string cut it.
            self.held.clear();
            talker.end_text();
        }
    }

    /// Stretches and sends `samples`.
    fn send_audio(&mut self, samples: Vec<f32>, seq_emitter: &super::stream::Emitter) {
        let samples = match self.stretch.as_mut() {
            Some(s) => s.push(&samples),
            None => samples,
        };
        self.send_chunk(samples, seq_emitter);
    }

    fn send_chunk(&mut self, samples: Vec<f32>, seq_emitter: &super::stream::Emitter) {
        if samples.is_empty() {
            return;
        }
        let chunk = AudioChunk::new(samples, self.next_ms);
        self.next_ms += chunk.duration_ms;
        seq_emitter.send(Event::AudioChunk(chunk));
    }
}

/// Tokens in sampling order, each with the output's mark right after it
/// (see [`Output::mark`](super::output::Output::mark)).
#[derive(Debug, Default)]
pub(crate) struct Held(VecDeque<(u32, usize)>);

impl Held {
    pub fn push(&mut self, token: u32, mark: usize) {
        self.0.push_back((token, mark));
    }

    /// Takes, in order, the tokens whose text is final at `settled`.
    pub fn take_settled(&mut self, settled: usize) -> impl Iterator<Item = u32> + '_ {
        std::iter::from_fn(move || {
            let &(token, mark) = self.0.front()?;
            (mark <= settled).then(|| {
                self.0.pop_front();
                token
            })
        })
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// A fresh `audio_…` id (unique, not secret).
fn audio_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = nanos ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(std::process::id());
    let mut id = String::from("audio_");
    for _ in 0..2 {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        id.push_str(&format!("{:016x}", z ^ (z >> 31)));
    }
    id
}

impl<B: Backend, M: StepModel<B>> Worker<B, M> {
    /// The hidden states this step's forward pass must capture: the input
    /// embeddings and `accept_hidden_layer`, when a speaking sequence is
    /// prefilling its prompt.
    pub(super) fn capture_layers(&self, plan: &[(usize, usize)]) -> Vec<usize> {
        let Some(speech) = self.speech.as_ref() else {
            return Vec::new();
        };
        let wanted = plan.iter().any(|&(i, _)| {
            let s = &self.running[i];
            s.fed < s.prompt_len && s.speech.as_ref().is_some_and(|sp| sp.capturing())
        });
        if wanted {
            vec![0, speech.accept_hidden_layer()]
        } else {
            Vec::new()
        }
    }

    /// Keeps each capturing sequence's prompt rows of this step.
    ///
    /// # Shapes
    /// - `captured`: two tensors `[step tokens, thinker hidden]`
    pub(super) fn keep_captured(&mut self, plan: &[(usize, usize)], captured: &[Tensor<B, 2>]) {
        let [embeds, hidden] = captured else {
            return;
        };
        let mut offset = 0;
        for &(i, n) in plan {
            let s = &mut self.running[i];
            let (fed, prompt_len) = (s.fed, s.prompt_len);
            if let Some(sp) = s.speech.as_mut().filter(|sp| sp.capturing())
                && fed < prompt_len
            {
                let rows = n.min(prompt_len - fed);
                sp.captured.push((
                    embeds.clone().narrow(0, offset, rows),
                    hidden.clone().narrow(0, offset, rows),
                ));
            }
            offset += n;
        }
    }

    /// Starts the talker of a speaking sequence whose prompt is in (called
    /// when its first token is sampled).
    pub(super) fn start_talker(&mut self, i: usize) -> Result<(), EngineError> {
        let Some(speech) = self.speech.as_ref() else {
            return Ok(());
        };
        let seq = &mut self.running[i];
        let prompt = &seq.tokens[..seq.prompt_len];
        let Some(sp) = seq.speech.as_mut().filter(|sp| sp.capturing()) else {
            return Ok(());
        };
        let captured = std::mem::take(&mut sp.captured);
        let rows: usize = captured.iter().map(|c| c.0.dims()[0]).sum();
        if rows != prompt.len() {
            return Err(EngineError::Internal(format!(
                "the talker needs {} prompt rows, {rows} were captured",
                prompt.len()
            )));
        }
        let (embeds, hidden): (Vec<_>, Vec<_>) = captured.into_iter().unzip();
        let state = speech
            .start(
                prompt,
                Tensor::cat(embeds, 0),
                Tensor::cat(hidden, 0),
                &sp.voice,
                &sp.sampling,
                &mut sp.filter,
            )
            .map_err(|e| EngineError::Internal(format!("talker: {e}")))?;
        sp.groups = speech.talker().num_code_groups() as u32;
        sp.talker = Some(state);
        Ok(())
    }

    /// One talker step for every speaking sequence that is ready (and whose
    /// consumer keeps up); sends audio and closes the sequences whose speech
    /// and text are both done. Returns whether any talker stepped.
    pub(super) fn speech_step(&mut self) -> bool {
        let Some(speech) = self.speech.as_ref() else {
            return false;
        };
        let backlog = self.config.max_event_backlog;
        let mut idx = Vec::new();
        let mut states: Vec<&mut TalkerState<B>> = Vec::new();
        for (i, s) in self.running.iter_mut().enumerate() {
            if s.emitter.backlog() >= backlog {
                continue;
            }
            if let Some(t) = s.speech.as_mut().and_then(|sp| sp.talker.as_mut())
                && t.is_ready()
            {
                idx.push(i);
                states.push(t);
            }
        }
        if states.is_empty() {
            return false;
        }
        let steps = match speech.step(&mut states) {
            Ok(s) => s,
            Err(e) => {
                let orders: Vec<u64> = idx.iter().map(|&i| self.running[i].order).collect();
                self.fail(&orders, EngineError::Internal(format!("talker step: {e}")));
                return true;
            }
        };
        drop(states);
        let mut failed = Vec::new();
        for (&i, step) in idx.iter().zip(steps) {
            let seq = &mut self.running[i];
            let Some(sp) = seq.speech.as_mut() else {
                continue;
            };
            if let Some(frame) = &step.frame {
                sp.codes.extend_from_slice(frame);
            }
            sp.send_audio(step.samples, &seq.emitter);
            if let Some(e) = step.error {
                tracing::error!(request = %seq.request_id, error = %e, "speech failed");
                failed.push(seq.order);
            } else if step.finished == Some(SpeechFinish::Failed) {
                failed.push(seq.order);
            }
        }
        if !failed.is_empty() {
            self.fail(
                &failed,
                EngineError::Internal("the talker could not sample".into()),
            );
        }
        self.close_finished();
        true
    }

    /// Closes every sequence whose text and speech are both complete.
    pub(super) fn close_finished(&mut self) {
        let store = &self.store;
        let ttl = self.config.audio_ttl;
        let tokenizer = &self.tokenizer;
        let pool = &self.pool;
        self.running.retain_mut(|seq| {
            let Some(reason) = seq.thinker_done else {
                return true;
            };
            let talker_tokens = match seq.speech.as_mut() {
                None => 0,
                Some(sp) => {
                    let done = match &sp.talker {
                        // The thinker ended before its prompt was in (an
                        // error path): nothing was said.
                        None => true,
                        Some(t) => t.finished().is_some(),
                    };
                    if !done {
                        return true;
                    }
                    finish_speech(sp, seq.order, &seq.emitter, store.as_ref(), ttl, tokenizer)
                }
            };
            pool.borrow_mut().release(&mut seq.table);
            seq.close(reason, talker_tokens);
            false
        });
    }
}

/// Flushes the stretch, stores the reply and announces it; returns the
/// talker tokens used (audio completion tokens).
fn finish_speech<B: Backend>(
    sp: &mut Speaking<B>,
    order: u64,
    emitter: &super::stream::Emitter,
    store: &dyn crate::audio_store::AudioStore,
    ttl: std::time::Duration,
    tokenizer: &omnivox_tokenizer::Tokenizer,
) -> u32 {
    if let Some(stretch) = sp.stretch.take() {
        let tail = stretch.finish();
        sp.send_chunk(tail, emitter);
    }
    let tokens = sp.talker.as_ref().map_or(0, |t| t.talker_tokens().len()) as u32;
    if sp.codes.is_empty() {
        return tokens; // nothing was said (a reply that only called tools)
    }
    let transcript = tokenizer.decode(&sp.spoken, true).unwrap_or_default();
    let expires_at = SystemTime::now() + ttl;
    let entry = StoredAudio {
        transcript: transcript.clone(),
        codes: std::mem::take(&mut sp.codes),
        groups: sp.groups,
        expires_at,
    };
    if let Err(e) = store.put(&sp.id, entry) {
        // The audio was delivered; only later turns cannot refer to it.
        tracing::warn!(order, error = %e, "the spoken reply could not be stored");
    }
    emitter.send(Event::AudioDone(AudioDone {
        id: sp.id.clone(),
        expires_at,
        transcript,
    }));
    tokens
}

/// Marks a sequence's thinker finished: its KV blocks go back to the pool
/// at once (the talker has its own cache).
pub(super) fn thinker_finished<B: Backend>(
    seq: &mut Sequence<B>,
    reason: FinishReason,
    pool: &std::cell::RefCell<crate::kv::KvPool<B>>,
) {
    seq.thinker_done = Some(reason);
    if seq.speech.is_some() {
        pool.borrow_mut().release(&mut seq.table);
    }
}
