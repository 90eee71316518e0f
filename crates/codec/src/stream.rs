//! Streaming decode: push codec frames as the talker produces them, get
//! waveform samples out at once.
//!
//! Two modes, both through the explicit state of [`Code2Wav::step`] (the
//! transformer's windowed KV cache and each convolution's left context):
//!
//! - [`StreamMode::Exact`]: the concatenated output equals the
//!   whole-utterance decode (the reference's `forward`) to float precision,
//!   whatever the push pattern. No sample is ever held back beyond what the
//!   architecture makes non-final: after `F` frames, exactly
//!   `output_len(F)` samples are out — for the released model `1920·F - 555`,
//!   so the first push of one frame already yields 1365 samples (57 ms of
//!   24 kHz audio) and the stream trails the nominal 1920 samples per frame
//!   by 555 samples (23.1 ms, 0.29 frame).
//! - [`StreamMode::Chunked`]: equals the reference's `chunked_decode` —
//!   what `Qwen3OmniMoeForConditionalGeneration.generate` returns (chunk 300,
//!   left context 25: [`StreamMode::REFERENCE`]). At each chunk boundary
//!   the state restarts and is primed with the context frames, whose
//!   samples are dropped; within a chunk it streams exactly like `Exact`,
//!   so the latency is the same. For utterances of at most one chunk the
//!   two modes agree.

use crate::error::{Error, Result};
use crate::model::{Code2Wav, Code2WavState, DECODE_BLOCK_FRAMES, to_vec};
use burn::tensor::backend::Backend;
use std::collections::VecDeque;

/// How a [`StreamingDecoder`] decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamMode {
    /// Equal to the whole-utterance decode.
    Exact,
    /// Equal to the reference's `chunked_decode(chunk_size,
    /// left_context_size)`.
    Chunked {
        /// Frames per chunk (positive).
        chunk_size: usize,
        /// Frames of left context each chunk after the first is decoded
        /// with.
        left_context: usize,
    },
}

impl StreamMode {
    /// What the reference's `generate` does: `chunked_decode(codes,
    /// chunk_size=300, left_context_size=25)`.
    pub const REFERENCE: Self = Self::Chunked {
        chunk_size: 300,
        left_context: 25,
    };
}

/// A stream of codec frames turned into samples as they arrive.
///
/// Owns its state and borrows the model per call, so one loaded
/// [`Code2Wav`] serves any number of concurrent streams. Memory per stream
/// is bounded by the attention window and the convolutions' left context
/// (plus `left_context` frames of codes in chunked mode), not by the
/// stream's length.
#[derive(Debug, Clone)]
pub struct StreamingDecoder<B: Backend> {
    mode: StreamMode,
    state: Code2WavState<B>,
    device: B::Device,
    num_quantizers: usize,
    /// Frames pushed so far.
    frames: usize,
    /// First frame of the current chunk (chunked mode).
    chunk_start: usize,
    /// The last `left_context` frames' codes, frame-major (chunked mode).
    context: VecDeque<u32>,
    /// Output samples still to drop: the current chunk's context.
    skip: usize,
    emitted: usize,
    finished: bool,
}

impl<B: Backend> StreamingDecoder<B> {
    /// A new stream for `model`, decoding on `device`.
    pub fn new(model: &Code2Wav<B>, mode: StreamMode, device: &B::Device) -> Result<Self> {
        if let StreamMode::Chunked { chunk_size: 0, .. } = mode {
            return Err(Error::InvalidStream("chunk_size must be positive".into()));
        }
        Ok(Self {
            mode,
            state: model.new_state(),
            device: device.clone(),
            num_quantizers: model.num_quantizers(),
            frames: 0,
            chunk_start: 0,
            context: VecDeque::new(),
            skip: 0,
            emitted: 0,
            finished: false,
        })
    }

    /// The mode it decodes in.
    pub fn mode(&self) -> StreamMode {
        self.mode
    }

    /// Frames pushed so far.
    pub fn frames_pushed(&self) -> usize {
        self.frames
    }

    /// Samples returned so far.
    pub fn samples_emitted(&self) -> usize {
        self.emitted
    }

    /// Pushes frames, frame-major (frame `t`'s `num_quantizers` codes at
    /// `t·Q..(t+1)·Q`; any number of frames, zero included), and returns
    /// the samples that became final. Every code is checked before any is
    /// decoded: on error the stream is unchanged.
    pub fn push(&mut self, model: &Code2Wav<B>, frames: &[u32]) -> Result<Vec<f32>> {
        if self.finished {
            return Err(Error::StreamFinished);
        }
        model.codes_tensor(frames, &self.device)?; // validation only
        let q = self.num_quantizers;
        let mut out = Vec::new();
        let mut rest = frames;
        while !rest.is_empty() {
            let mut room = DECODE_BLOCK_FRAMES;
            let mut prefix = Vec::new();
            if let StreamMode::Chunked {
                chunk_size,
                left_context,
            } = self.mode
            {
                if self.frames > 0 && self.frames == self.chunk_start + chunk_size {
                    prefix = self.restart(model, left_context);
                }
                room = room.min(self.chunk_start + chunk_size - self.frames);
            }
            let take = room.min(rest.len() / q) * q;
            let (piece, tail) = rest.split_at(take);
            prefix.extend_from_slice(piece);
            out.extend(self.run(model, &prefix)?);
            self.remember(piece);
            self.frames += take / q;
            rest = tail;
        }
        self.emitted += out.len();
        Ok(out)
    }

    /// Ends the stream and returns the samples still owed. For Code2Wav
    /// that is always none: every sample the whole decode returns is final
    /// as soon as its frames are in, and `push` has already returned it.
    /// After this, `push` fails.
    pub fn finish(&mut self, _model: &Code2Wav<B>) -> Result<Vec<f32>> {
        if self.finished {
            return Err(Error::StreamFinished);
        }
        self.finished = true;
        Ok(Vec::new())
    }

    /// Starts a new chunk: a fresh state, primed with up to `left_context`
    /// frames before it, whose samples (`context · samples_per_frame`, as
    /// the reference slices) will be dropped. Returns those frames' codes.
    fn restart(&mut self, model: &Code2Wav<B>, left_context: usize) -> Vec<u32> {
        let q = self.num_quantizers;
        let context = left_context.min(self.frames).min(self.context.len() / q);
        self.state = model.new_state();
        self.chunk_start = self.frames;
        self.skip = context * model.samples_per_frame();
        let skip_codes = self.context.len() - context * q;
        self.context.iter().skip(skip_codes).copied().collect()
    }

    /// Runs frame-major `codes` through the state; drops what is left of
    /// `skip`.
    fn run(&mut self, model: &Code2Wav<B>, codes: &[u32]) -> Result<Vec<f32>> {
        if codes.is_empty() {
            return Ok(Vec::new());
        }
        let tensor = model.codes_tensor(codes, &self.device)?;
        let Some(wav) = model.step(tensor, &mut self.state)? else {
            return Ok(Vec::new());
        };
        let mut wav = to_vec(wav);
        let dropped = self.skip.min(wav.len());
        self.skip -= dropped;
        wav.drain(..dropped);
        Ok(wav)
    }

    /// Keeps the last `left_context` frames' codes (chunked mode).
    fn remember(&mut self, codes: &[u32]) {
        let StreamMode::Chunked { left_context, .. } = self.mode else {
            return;
        };
        let keep = left_context * self.num_quantizers;
        self.context.extend(codes.iter().copied());
        let excess = self.context.len().saturating_sub(keep);
        self.context.drain(..excess);
    }
}

impl<B: Backend> Code2Wav<B> {
    /// A new [`StreamingDecoder`] over this model.
    pub fn stream(&self, mode: StreamMode, device: &B::Device) -> Result<StreamingDecoder<B>> {
        StreamingDecoder::new(self, mode, device)
    }
}
