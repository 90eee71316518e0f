//! The single-request speech pipeline: messages and audio in; the reply's
//! tokens, its transcript and its waveform out, interleaved as they are
//! produced.
//!
//! [`SpeechSession::generate`] prepares the prompt as
//! [`ThinkerSession`] does and returns a [`SpeechStream`]. Each step of
//! the stream runs one thinker step (the first is the prefill, which also
//! captures the hidden states the talker's prompt needs), passes the token
//! through the never-spoken filter into the talker's text queue, then runs
//! the talker for as long as it is ready — at most one step per spoken
//! token — each step completing a frame and streaming it through Code2Wav.
//! Once the thinker has finished, the talker runs on (`tts_eos`, then
//! `tts_pad`) until codec EOS or its token limit.
//!
//! Reproduces `Qwen3OmniMoeForConditionalGeneration.generate` (thinker
//! greedy, `talker_do_sample=False`) token for token and code for code,
//! with the waveform of its `chunked_decode` when the Code2Wav stream mode
//! is [`StreamMode::REFERENCE`].

use super::error::SpeechError;
use super::filter::{SpokenFilterConfig, Transcript};
use super::model::SpeechModel;
use super::state::{SpeechFinish, SpeechSampling, TalkerState};
use super::voices::{Voice, VoiceConfig};
use crate::sampling::{Sampler, SamplingConfig};
use crate::thinker_session::{
    DEFAULT_MAX_NEW_TOKENS, FinishReason, ThinkerRequest, ThinkerSession,
};
use burn::tensor::{Tensor, backend::Backend};
use omnivox_codec::StreamMode;
use omnivox_model::qwen3_omni::{MelFeatures, RopeIndex, ThinkerInput};
use omnivox_model::{BatchSeq, ContiguousKvCache, KvCache};
use omnivox_tokenizer::ChatInput;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

/// One spoken-reply request.
#[derive(Debug, Clone, Default)]
pub struct SpeechRequest {
    /// The conversation, audio, tools and text sampling.
    pub thinker: ThinkerRequest,
    /// A speaker or alias (any case); `None` is the default voice.
    pub voice: Option<String>,
    /// `None`: greedy when the text is greedy (temperature 0), else the
    /// reference's sampling seeded from the text's seed.
    pub sampling: Option<SpeechSampling>,
}

/// What a [`SpeechStream`] yields, in order of production.
#[derive(Debug, Clone, PartialEq)]
pub enum SpeechEvent {
    /// A generated thinker token.
    Text {
        /// Its id.
        id: u32,
        /// Transcript text it made final (empty for tokens never spoken).
        delta: String,
        /// Whether it goes to the talker.
        spoken: bool,
        /// Set on the thinker's last token (which is never spoken).
        finish: Option<FinishReason>,
    },
    /// A codec frame and the samples (24 kHz) it made final.
    Audio {
        /// The frame's `num_code_groups` codes.
        frame: Vec<u32>,
        /// Samples.
        samples: Vec<f32>,
    },
    /// Speech ended; nothing follows.
    Done {
        /// Why.
        reason: SpeechFinish,
        /// Transcript text still held back by the detokenizer.
        transcript_tail: String,
    },
}

/// A Qwen3-Omni checkpoint ready to answer in speech.
#[derive(Debug)]
pub struct SpeechSession<B: Backend> {
    thinker: ThinkerSession<B>,
    speech: SpeechModel<B>,
    filter: Arc<SpokenFilterConfig>,
}

impl<B: Backend> SpeechSession<B> {
    /// Opens a checkpoint directory and loads thinker, talker and Code2Wav;
    /// Code2Wav streams as the reference decodes ([`StreamMode::REFERENCE`]).
    pub fn open(
        dir: impl AsRef<Path>,
        device: &B::Device,
        voices: &VoiceConfig,
    ) -> Result<Self, SpeechError> {
        Self::open_with(dir, device, voices, StreamMode::REFERENCE)
    }

    /// As [`SpeechSession::open`], with Code2Wav streaming in `mode`.
    pub fn open_with(
        dir: impl AsRef<Path>,
        device: &B::Device,
        voices: &VoiceConfig,
        mode: StreamMode,
    ) -> Result<Self, SpeechError> {
        let thinker = ThinkerSession::open(dir, device)?;
        let speech = SpeechModel::load(
            thinker.checkpoint(),
            thinker.thinker(),
            voices,
            mode,
            device,
        )?;
        let filter = Arc::new(SpokenFilterConfig::from_tokenizer(
            thinker.processor().tokenizer(),
        ));
        Ok(Self {
            thinker,
            speech,
            filter,
        })
    }

    /// The text side (checkpoint, processor, thinker).
    pub fn thinker(&self) -> &ThinkerSession<B> {
        &self.thinker
    }

    /// The talker side.
    pub fn speech(&self) -> &SpeechModel<B> {
        &self.speech
    }

    /// The never-spoken filter's configuration.
    pub fn filter(&self) -> &Arc<SpokenFilterConfig> {
        &self.filter
    }

    /// Prepares a request (prompt, audio encoding, samplers, voice); the
    /// stream runs the models as it is iterated.
    pub fn generate(&self, req: &SpeechRequest) -> Result<SpeechStream<'_, B>, SpeechError> {
        let voice = match &req.voice {
            Some(v) => self.speech.voices().resolve(v)?,
            None => self.speech.voices().default_voice(),
        };
        let run = ThinkerRun::new(self, &req.thinker)?;
        let sampling = req.sampling.clone().unwrap_or_else(|| {
            let text = run.sampler.config();
            if text.is_greedy() {
                SpeechSampling::greedy()
            } else {
                SpeechSampling::sampled(text.seed)
            }
        });
        let transcript = Transcript::new(self.filter.clone(), self.thinker.processor().tokenizer());
        Ok(SpeechStream {
            session: self,
            run,
            voice,
            sampling,
            talker: None,
            transcript: Some(transcript),
            events: VecDeque::new(),
            speech_done: false,
            done: false,
        })
    }
}

/// What one thinker step produced: the token, whether it was the last, and
/// the captured hidden states.
type ThinkerStep<B> = (u32, Option<FinishReason>, Vec<Tensor<B, 2>>);

/// The thinker half of one request.
struct ThinkerRun<B: Backend> {
    prompt: Vec<u32>,
    first: Option<ThinkerInput<B>>,
    rope: RopeIndex,
    cache: ContiguousKvCache<B>,
    sampler: Sampler,
    next: Option<u32>,
    generated: usize,
    limit: usize,
    stop_ids: Vec<u32>,
    finished: bool,
}

impl<B: Backend> ThinkerRun<B> {
    /// The prompt, its audio and rotary positions; the text sampler; the
    /// token limit (as [`ThinkerSession::generate`] resolves them).
    fn new(s: &SpeechSession<B>, req: &ThinkerRequest) -> Result<Self, SpeechError> {
        let session = &s.thinker;
        let thinker = session.thinker();
        let input = ChatInput {
            messages: &req.messages,
            tools: req.tools.as_deref(),
            documents: None,
            add_generation_prompt: true,
            kwargs: Some(&req.template_kwargs),
            sanitize_control_tokens: req.sanitize_control_tokens,
        };
        let clips: Vec<&[f32]> = req.audio.iter().map(Vec::as_slice).collect();
        let prompt = session.processor().process(&input, &clips)?;
        let defaults = session.checkpoint().generation_config();
        let config = SamplingConfig::resolve(&req.sampling, defaults)?;
        let n = prompt.input_ids.len();
        let max_positions = thinker.config.text_config.max_position_embeddings;
        if n >= max_positions {
            return Err(SpeechError::InvalidRequest(format!(
                "the prompt has {n} tokens; the model's context is {max_positions}"
            )));
        }
        let limit = (req.max_new_tokens.or(defaults.max_new_tokens))
            .unwrap_or(DEFAULT_MAX_NEW_TOKENS)
            .min(max_positions - n);
        if limit == 0 {
            return Err(SpeechError::InvalidRequest(
                "max_new_tokens must be at least 1".into(),
            ));
        }
        let mels: Vec<MelFeatures<'_>> = (prompt.audio.iter())
            .map(|a| MelFeatures {
                data: &a.features.data,
                n_mels: a.features.n_mels,
                frames: a.features.n_frames,
            })
            .collect();
        let frames: Vec<usize> = mels.iter().map(|m| m.frames).collect();
        let rope = thinker.rope_index(&prompt.input_ids, &frames)?;
        let audio = if mels.is_empty() {
            Vec::new()
        } else {
            thinker.audio_spans(&prompt.input_ids, 0, &thinker.encode_audio(&mels)?)?
        };
        let mut stop_ids = session.stop_ids().to_vec();
        stop_ids.extend(&req.stop_token_ids);
        Ok(Self {
            first: Some(ThinkerInput {
                ids: prompt.input_ids.clone(),
                audio,
            }),
            sampler: Sampler::new(config, &prompt.input_ids),
            prompt: prompt.input_ids,
            rope,
            cache: thinker.new_cache(),
            next: None,
            generated: 0,
            limit,
            stop_ids,
            finished: false,
        })
    }

    /// One thinker step: the token it chose, whether it was the last, and
    /// the hidden states asked for in `capture`.
    fn step(
        &mut self,
        s: &SpeechSession<B>,
        capture: &[usize],
    ) -> Result<ThinkerStep<B>, SpeechError> {
        let thinker = s.thinker.thinker();
        let (input, positions) = match (self.first.take(), self.next.take()) {
            (Some(input), _) => (input, self.rope.to_positions()?),
            (None, Some(id)) => (
                ThinkerInput::text(vec![id]),
                self.rope.continuation(self.cache.seq_len(), 1)?,
            ),
            (None, None) => {
                return Err(SpeechError::Internal(
                    "the thinker has no next input".into(),
                ));
            }
        };
        let n = input.ids.len();
        let mut seqs = [BatchSeq {
            positions,
            cache: &mut self.cache,
        }];
        let out = thinker.forward(input, &mut seqs, capture)?;
        let logits = thinker.last_logits(out.hidden, &[n])?;
        let mut row = logits
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| SpeechError::Internal(format!("logits: {e:?}")))?;
        let id = self.sampler.sample(&mut row)?;
        self.generated += 1;
        let finish = if self.stop_ids.contains(&id) {
            Some(FinishReason::Stop)
        } else if self.generated >= self.limit {
            Some(FinishReason::Length)
        } else {
            self.next = Some(id);
            None
        };
        self.finished = finish.is_some();
        Ok((id, finish, out.captured))
    }
}

/// One request's reply, produced as it is iterated. Dropping it stops
/// generation.
pub struct SpeechStream<'a, B: Backend> {
    session: &'a SpeechSession<B>,
    run: ThinkerRun<B>,
    voice: Voice,
    sampling: SpeechSampling,
    talker: Option<TalkerState<B>>,
    transcript: Option<Transcript>,
    events: VecDeque<SpeechEvent>,
    speech_done: bool,
    done: bool,
}

impl<B: Backend> std::fmt::Debug for SpeechStream<'_, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeechStream")
            .field("prompt_tokens", &self.run.prompt.len())
            .field("generated", &self.run.generated)
            .field("voice", &self.voice)
            .field("talker", &self.talker)
            .finish_non_exhaustive()
    }
}

impl<B: Backend> SpeechStream<'_, B> {
    /// The prompt's token ids.
    pub fn prompt(&self) -> &[u32] {
        &self.run.prompt
    }

    /// The voice speaking.
    pub fn voice(&self) -> &Voice {
        &self.voice
    }

    /// The talker's state, once the thinker's prefill has run.
    pub fn talker(&self) -> Option<&TalkerState<B>> {
        self.talker.as_ref()
    }

    /// Thinker tokens generated so far.
    pub fn generated_tokens(&self) -> usize {
        self.run.generated
    }

    /// Produces the next batch of events.
    fn advance(&mut self) -> Result<(), SpeechError> {
        if !self.run.finished {
            self.thinker_step()?;
        }
        self.talker_steps()
    }

    fn thinker_step(&mut self) -> Result<(), SpeechError> {
        let speech = &self.session.speech;
        let prefill = self.talker.is_none();
        let capture = if prefill {
            vec![0, speech.accept_hidden_layer()]
        } else {
            Vec::new()
        };
        let (id, finish, mut captured) = self.run.step(self.session, &capture)?;
        if prefill {
            let (hidden, embeds) = (captured.pop(), captured.pop());
            let (Some(embeds), Some(hidden), Some(transcript)) =
                (embeds, hidden, self.transcript.as_mut())
            else {
                return Err(SpeechError::Internal(
                    "the thinker's prefill captured nothing".into(),
                ));
            };
            let filter = transcript.filter_mut();
            self.talker = Some(speech.start(
                &self.run.prompt,
                embeds,
                hidden,
                &self.voice,
                &self.sampling,
                filter,
            )?);
        }
        let talker = self
            .talker
            .as_mut()
            .ok_or_else(|| SpeechError::Internal("no talker state".into()))?;
        // The thinker's last token never reaches the talker (the reference
        // never forwards it through the thinker, so it has no embedding
        // there). Once speech has ended, later text is not spoken either.
        let (delta, spoken) = match (finish, self.transcript.as_mut()) {
            (Some(_), _) => {
                talker.end_text();
                (String::new(), false)
            }
            (None, Some(transcript)) => {
                let s = transcript.push(id)?;
                if let Some(t) = s.token {
                    talker.push_text(t);
                }
                (s.delta, s.token.is_some())
            }
            (None, None) => (String::new(), false),
        };
        self.events.push_back(SpeechEvent::Text {
            id,
            delta,
            spoken,
            finish,
        });
        Ok(())
    }

    /// Runs the talker while it is ready: while the thinker runs that is at
    /// most one step per spoken token (each step reads one); once the text
    /// is complete, one step per call, so that frames stream out one by one.
    fn talker_steps(&mut self) -> Result<(), SpeechError> {
        let Some(talker) = self.talker.as_mut() else {
            return Ok(());
        };
        while talker.is_ready() {
            let mut batch = [&mut *talker];
            let step = self
                .session
                .speech
                .step(&mut batch)?
                .pop()
                .unwrap_or_default();
            if let Some(frame) = step.frame {
                self.events.push_back(SpeechEvent::Audio {
                    frame,
                    samples: step.samples,
                });
            }
            if let Some(e) = step.error {
                return Err(e);
            }
            if let Some(reason) = step.finished {
                let tail = match self.transcript.take() {
                    Some(t) => t.finish()?,
                    None => String::new(),
                };
                self.events.push_back(SpeechEvent::Done {
                    reason,
                    transcript_tail: tail,
                });
                self.speech_done = true;
                break;
            }
            if self.run.finished {
                break; // one frame per iteration once the text is complete
            }
        }
        Ok(())
    }
}

impl<B: Backend> Iterator for SpeechStream<'_, B> {
    type Item = Result<SpeechEvent, SpeechError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Some(Ok(e));
            }
            if self.done || (self.speech_done && self.run.finished) {
                return None;
            }
            if let Err(e) = self.advance() {
                self.done = true;
                return Some(Err(e));
            }
        }
    }
}
