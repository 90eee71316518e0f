//! [`SpeechModel`]: talker, code predictor and Code2Wav of a checkpoint,
//! stepped for a batch of sequences at once.
//!
//! Per step, for every ready [`TalkerState`] (see its docs): the input rows
//! are built (the whole talker prompt on the first step; afterwards the
//! last frame's summed code embeddings plus the next text row — a spoken
//! token's projection, `tts_eos` once the text has ended, `tts_pad` after
//! that); one talker forward runs over all of them (flattened, each against
//! its own cache); code 0 is chosen per sequence (repetition penalty over
//! its own codes, the top 1024 ids but codec EOS suppressed); the sequences
//! that go on get their residual codes from one batched code-predictor run;
//! each finished frame goes through the sequence's streaming Code2Wav.
//! Reference: `Qwen3OmniMoeTalkerForConditionalGeneration.prepare_inputs_for_generation`
//! and `Qwen3OmniMoeForConditionalGeneration.generate` (transformers 5.24).

use super::error::SpeechError;
use super::filter::SpokenFilter;
use super::state::{Phase, SpeechFinish, SpeechSampling, TalkerState};
use super::voices::{Voice, VoiceConfig, VoiceTable};
use crate::sampling::{Sampler, SamplingError};
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};
use omnivox_codec::{Code2Wav, Code2WavConfig, StreamMode};
use omnivox_model::BatchSeq;
use omnivox_model::nn::Embedding;
use omnivox_model::qwen3_omni::talker::{
    SUPPRESSED_TOP_IDS, TalkerPromptLayout, TalkerTextEmbeds, TtsSpecialIds, suppressed_ids,
};
use omnivox_model::qwen3_omni::{
    CODE2WAV_PREFIX, Qwen3OmniCheckpoint, Qwen3OmniTalker, Qwen3OmniThinker,
};
use std::collections::VecDeque;

/// What one step did for one sequence.
#[derive(Debug, Default)]
pub struct SpeechStep {
    /// Whether the sequence took part in the step.
    pub stepped: bool,
    /// The frame completed by this step (`num_code_groups` codes).
    pub frame: Option<Vec<u32>>,
    /// Waveform samples (24 kHz) that became final.
    pub samples: Vec<f32>,
    /// Set when speech ended in this step.
    pub finished: Option<SpeechFinish>,
    /// Why it failed, with [`SpeechFinish::Failed`].
    pub error: Option<SpeechError>,
}

/// The text row a stepping sequence reads.
enum TextRow {
    /// Index into this step's projected spoken tokens.
    Token(usize),
    Eos,
    Pad,
}

/// The talker side of a Qwen3-Omni checkpoint, shared by all sequences.
#[derive(Debug)]
pub struct SpeechModel<B: Backend> {
    talker: Qwen3OmniTalker<B>,
    code2wav: Code2Wav<B>,
    thinker_embed: Embedding<B>,
    text: TalkerTextEmbeds<B>,
    ids: TtsSpecialIds,
    suppressed: Vec<u32>,
    voices: VoiceTable,
    mode: StreamMode,
    device: B::Device,
}

impl<B: Backend> SpeechModel<B> {
    /// Loads talker and Code2Wav from an opened checkpoint; `thinker` lends
    /// its token embeddings (the talker's text rows project them). `mode`
    /// is how Code2Wav streams: [`StreamMode::REFERENCE`] equals what
    /// `generate` returns.
    pub fn load(
        ckpt: &Qwen3OmniCheckpoint,
        thinker: &Qwen3OmniThinker<B>,
        voices: &VoiceConfig,
        mode: StreamMode,
        device: &B::Device,
    ) -> Result<Self, SpeechError> {
        let talker = Qwen3OmniTalker::from_checkpoint(ckpt, device)?;
        let codec_cfg = ckpt.config().code2wav()?.clone();
        let code2wav = Code2Wav::load_from(ckpt.weights(), CODE2WAV_PREFIX, &codec_cfg, device)?;
        check_codebooks(&talker, &codec_cfg)?;
        let ids = TtsSpecialIds::from(ckpt.config());
        let thinker_embed = thinker.model.embed_tokens.clone();
        let specials = lookup(
            &thinker_embed,
            &[ids.tts_bos, ids.tts_eos, ids.tts_pad],
            device,
        )?;
        let text = talker.text_embeds(specials)?;
        Ok(Self {
            suppressed: suppressed_ids(&talker.config),
            voices: VoiceTable::new(&talker.config.speaker_id, voices)?,
            talker,
            code2wav,
            thinker_embed,
            text,
            ids,
            mode,
            device: device.clone(),
        })
    }

    /// The voices this checkpoint accepts.
    pub fn voices(&self) -> &VoiceTable {
        &self.voices
    }

    /// The talker.
    pub fn talker(&self) -> &Qwen3OmniTalker<B> {
        &self.talker
    }

    /// Code2Wav.
    pub fn code2wav(&self) -> &Code2Wav<B> {
        &self.code2wav
    }

    /// The thinker hidden state the talker reads at audio positions
    /// (capture it, with `0`, during the thinker's prefill).
    pub fn accept_hidden_layer(&self) -> usize {
        self.talker.config.accept_hidden_layer
    }

    /// Starts one sequence's speech once the thinker has run its prompt.
    /// The prompt's tokens after the assistant header (none with
    /// Qwen3-Omni's tokenizer) go through `filter` into the text queue.
    ///
    /// # Shapes
    /// - `thinker_embeds`: `[prompt, thinker hidden]`, the thinker's input
    ///   embeddings (hidden state 0)
    /// - `thinker_hidden`: `[prompt, thinker hidden]`, its hidden state
    ///   [`SpeechModel::accept_hidden_layer`]
    pub fn start(
        &self,
        prompt: &[u32],
        thinker_embeds: Tensor<B, 2>,
        thinker_hidden: Tensor<B, 2>,
        voice: &Voice,
        sampling: &SpeechSampling,
        filter: &mut SpokenFilter,
    ) -> Result<TalkerState<B>, SpeechError> {
        let layout = TalkerPromptLayout::new(prompt, &self.ids)?;
        let user = self
            .talker
            .user_rows(&layout, thinker_embeds, thinker_hidden)?;
        let head = lookup(
            &self.thinker_embed,
            layout.assistant_head(prompt),
            &self.device,
        )?;
        let block = self.talker.assistant_rows(head, &self.text, voice.id)?;
        let queue: VecDeque<u32> = (layout.assistant_tail(prompt).iter())
            .filter_map(|&t| filter.push(t))
            .collect();
        Ok(TalkerState {
            phase: Phase::Prefill(Tensor::cat(vec![user, block], 0)),
            queue,
            text_ended: false,
            eos_fed: false,
            cache: self.talker.new_cache(),
            sampler: Sampler::new(sampling.talker_config(self.suppressed.clone()), &[]),
            predictor: Sampler::new(sampling.predictor_config(), &[]),
            tokens: Vec::new(),
            max_new_tokens: sampling.max_new_tokens.max(1),
            decoder: self.code2wav.stream(self.mode, &self.device)?,
            frames: 0,
            text_consumed: 0,
            samples: 0,
        })
    }

    /// One step for every ready state (the others are left alone and get a
    /// default [`SpeechStep`]). Results are in the order of `states`. An
    /// error here is one of the whole batch (the model failed); a
    /// sequence's own failure is reported in its [`SpeechStep`].
    pub fn step(&self, states: &mut [&mut TalkerState<B>]) -> Result<Vec<SpeechStep>, SpeechError> {
        let mut out: Vec<SpeechStep> = states.iter().map(|_| SpeechStep::default()).collect();
        let (active, text_ids) = self.take_text(states, &mut out);
        if active.is_empty() {
            return Ok(out);
        }
        let text_rows = if text_ids.is_empty() {
            None
        } else {
            Some(
                self.talker
                    .project_text(lookup(&self.thinker_embed, &text_ids, &self.device)?),
            )
        };
        let mut inputs = Vec::with_capacity(active.len());
        for (i, row) in &active {
            let row = match row {
                TextRow::Token(k) => text_rows
                    .clone()
                    .map(|r| r.narrow(0, *k, 1))
                    .ok_or_else(internal)?,
                TextRow::Eos => self.text.eos.clone(),
                TextRow::Pad => self.text.pad.clone(),
            };
            inputs.push(match &states[*i].phase {
                Phase::Prefill(prefix) => {
                    Tensor::cat(vec![prefix.clone(), self.talker.first_text_row(row)?], 0)
                }
                Phase::Decode(frame) => frame.clone() + row,
                Phase::Done(_) => return Err(internal()),
            });
        }
        let last = self.forward(states, &active, inputs)?;
        self.choose_codes(states, &active, last, &mut out)?;
        Ok(out)
    }

    /// Pops each ready state's text row; finishes states with nothing to say.
    fn take_text(
        &self,
        states: &mut [&mut TalkerState<B>],
        out: &mut [SpeechStep],
    ) -> (Vec<(usize, TextRow)>, Vec<u32>) {
        let mut active = Vec::new();
        let mut text_ids = Vec::new();
        for (i, s) in states.iter_mut().enumerate() {
            if !s.is_ready() {
                continue;
            }
            out[i].stepped = true;
            if matches!(s.phase, Phase::Prefill(_)) && s.queue.is_empty() {
                s.phase = Phase::Done(SpeechFinish::NoText);
                out[i].finished = Some(SpeechFinish::NoText);
                continue;
            }
            let row = if let Some(t) = s.queue.pop_front() {
                let vocab = self.thinker_embed.vocab_size();
                if t as usize >= vocab {
                    s.phase = Phase::Done(SpeechFinish::Failed);
                    out[i].finished = Some(SpeechFinish::Failed);
                    let msg =
                        format!("text token {t} is outside the thinker vocabulary of {vocab}");
                    out[i].error = Some(SpeechError::InvalidRequest(msg));
                    continue;
                }
                s.text_consumed += 1;
                text_ids.push(t);
                TextRow::Token(text_ids.len() - 1)
            } else if !s.eos_fed {
                s.eos_fed = true;
                TextRow::Eos
            } else {
                TextRow::Pad
            };
            active.push((i, row));
        }
        (active, text_ids)
    }

    /// The talker over every active sequence's rows; returns each one's
    /// last final-normed hidden state, `[active, hidden]`.
    fn forward(
        &self,
        states: &mut [&mut TalkerState<B>],
        active: &[(usize, TextRow)],
        inputs: Vec<Tensor<B, 2>>,
    ) -> Result<Tensor<B, 2>, SpeechError> {
        let lens: Vec<usize> = inputs.iter().map(|t| t.dims()[0]).collect();
        let mut lasts = Vec::with_capacity(lens.len());
        let mut end = 0;
        for &n in &lens {
            end += n;
            lasts.push(end - 1);
        }
        let mut seqs: Vec<BatchSeq<'_, B>> = Vec::with_capacity(active.len());
        let mut want = active.iter().map(|(i, _)| *i).zip(&lens).peekable();
        for (i, s) in states.iter_mut().enumerate() {
            if let Some(&(j, &n)) = want.peek()
                && i == j
            {
                seqs.push(BatchSeq::text(&mut s.cache, n));
                want.next();
            }
        }
        let hidden = self.talker.forward(Tensor::cat(inputs, 0), &mut seqs)?;
        Ok(self.talker.select_rows(hidden, &lasts))
    }

    /// Code 0 per sequence, then the residual codes of those that go on, then
    /// Code2Wav.
    fn choose_codes(
        &self,
        states: &mut [&mut TalkerState<B>],
        active: &[(usize, TextRow)],
        last: Tensor<B, 2>,
        out: &mut [SpeechStep],
    ) -> Result<(), SpeechError> {
        let mut logits = host(self.talker.codec_logits(last.clone()))?;
        let vocab = self.talker.vocab_size();
        let eos = self.talker.config.codec_eos_token_id;
        let mut going = Vec::new(); // (row in `last`, state index, code 0)
        for (k, ((i, _), row)) in active
            .iter()
            .zip(logits.chunks_exact_mut(vocab))
            .enumerate()
        {
            let s = &mut *states[*i];
            let code = match s.sampler.sample(row) {
                Ok(c) => c,
                Err(e) => {
                    fail(s, &mut out[*i], e);
                    continue;
                }
            };
            s.tokens.push(code);
            if code == eos || s.tokens.len() >= s.max_new_tokens {
                let reason = if code == eos {
                    SpeechFinish::Eos
                } else {
                    SpeechFinish::Length
                };
                s.phase = Phase::Done(reason);
                out[*i].finished = Some(reason);
                // Code2Wav owes nothing at the end (every sample is final once
                // its frame is in); finishing the stream says so.
                let rest = s.decoder.finish(&self.code2wav)?;
                s.samples += rest.len();
                out[*i].samples.extend(rest);
            } else {
                going.push((k, *i, code));
            }
        }
        if !going.is_empty() {
            self.residuals(states, &going, last, out)?;
        }
        Ok(())
    }

    /// The code predictor for the frames that go on, their next input rows,
    /// and their audio.
    fn residuals(
        &self,
        states: &mut [&mut TalkerState<B>],
        going: &[(usize, usize, u32)],
        last: Tensor<B, 2>,
        out: &mut [SpeechStep],
    ) -> Result<(), SpeechError> {
        let rows: Vec<usize> = going.iter().map(|g| g.0).collect();
        let code0: Vec<u32> = going.iter().map(|g| g.2).collect();
        let hidden = self.talker.select_rows(last, &rows);
        let embeds = self.talker.codec_embed(&code0)?;
        let mut failed: Vec<Option<SamplingError>> = vec![None; going.len()];
        let residual =
            self.talker
                .code_predictor
                .predict::<SpeechError>(hidden, embeds, |j, row| {
                    let s = &mut *states[going[j].1];
                    match s.predictor.sample(row) {
                        Ok(c) => Ok(c),
                        Err(e) => {
                            failed[j] = Some(e);
                            Ok(0)
                        }
                    }
                })?;
        let frames: Vec<Vec<u32>> = (code0.iter().zip(residual))
            .map(|(&c, r)| std::iter::once(c).chain(r).collect())
            .collect();
        let next = self.talker.frame_embeds(&frames)?;
        for (j, (frame, &(_, i, _))) in frames.into_iter().zip(going).enumerate() {
            let s = &mut *states[i];
            if let Some(e) = failed[j].take() {
                fail(s, &mut out[i], e);
                continue;
            }
            s.phase = Phase::Decode(next.clone().narrow(0, j, 1));
            s.frames += 1;
            let samples = s.decoder.push(&self.code2wav, &frame)?;
            s.samples += samples.len();
            out[i].samples = samples;
            out[i].frame = Some(frame);
        }
        Ok(())
    }
}

/// Marks a sequence failed by its sampler.
fn fail<B: Backend>(s: &mut TalkerState<B>, out: &mut SpeechStep, e: SamplingError) {
    s.phase = Phase::Done(SpeechFinish::Failed);
    out.finished = Some(SpeechFinish::Failed);
    out.error = Some(e.into());
}

/// Rows of the thinker's embedding table, rejecting ids outside it.
///
/// # Shapes
/// - output: `[ids.len(), thinker hidden]`
fn lookup<B: Backend>(
    table: &Embedding<B>,
    ids: &[u32],
    device: &B::Device,
) -> Result<Tensor<B, 2>, SpeechError> {
    let vocab = table.vocab_size();
    if let Some(bad) = ids.iter().find(|&&t| t as usize >= vocab) {
        return Err(SpeechError::InvalidRequest(format!(
            "text token {bad} is outside the thinker vocabulary of {vocab}"
        )));
    }
    let data: Vec<i64> = ids.iter().map(|&t| i64::from(t)).collect();
    Ok(table.forward(Tensor::<B, 1, Int>::from_data(
        TensorData::new(data, [ids.len()]),
        device,
    )))
}

/// A 2-D tensor's values on the host, row-major.
fn host<B: Backend>(t: Tensor<B, 2>) -> Result<Vec<f32>, SpeechError> {
    t.into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .map_err(|e| SpeechError::Internal(format!("logits: {e:?}")))
}

fn internal() -> SpeechError {
    SpeechError::Internal("a talker step lost track of its inputs".into())
}

/// Every code the talker and the code predictor can produce must index
/// Code2Wav's codebooks, and a frame must have one code per quantizer.
fn check_codebooks<B: Backend>(
    talker: &Qwen3OmniTalker<B>,
    codec: &Code2WavConfig,
) -> Result<(), SpeechError> {
    let groups = talker.num_code_groups();
    if groups != codec.num_quantizers {
        return Err(SpeechError::Incompatible(format!(
            "the talker makes {groups} code groups per frame and Code2Wav reads {}",
            codec.num_quantizers
        )));
    }
    let first = talker
        .vocab_size()
        .saturating_sub(SUPPRESSED_TOP_IDS as usize);
    let residual = talker.code_predictor.vocab_size();
    if first.max(residual) > codec.codebook_size {
        return Err(SpeechError::Incompatible(format!(
            "codes reach {} but Code2Wav's codebooks have {} entries",
            first.max(residual),
            codec.codebook_size
        )));
    }
    Ok(())
}
