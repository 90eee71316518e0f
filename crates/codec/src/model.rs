//! `Code2Wav`: codec codes → 24 kHz waveform.
//!
//! Reference: `Qwen3OmniMoeCode2Wav` in
//! `transformers/models/qwen3_omni_moe/modeling_qwen3_omni_moe.py`:
//! the mean of the code-group embeddings (one table, offset by
//! `codebook_size` per quantizer), the sliding-window `pre_transformer`,
//! `upsampling_ratios` stages of transposed conv + ConvNeXt, then the
//! decoder — causal conv to `decoder_dim`, one block per `upsample_rates`
//! entry, SnakeBeta, causal conv to one channel — and `clamp(-1, 1)`.
//!
//! Everything is causal, so one implementation serves both the whole
//! utterance and the stream: [`Code2Wav::step`] continues from a
//! [`Code2WavState`] and returns exactly the samples that the new frames
//! made final; a fresh state and all frames at once is the reference's
//! `forward`.

use crate::blocks::{ConvNeXtBlock, DecoderBlock, DecoderBlockState, SnakeBeta};
use crate::config::{self, Code2WavConfig};
use crate::conv::{CausalConv1d, CausalTransConv1d, ConvState, TransConvState};
use crate::error::{Error, Result};
use crate::transformer::{PreTransformer, decoder_config};
use burn::module::Module;
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};
use omnivox_model::ContiguousKvCache;
use omnivox_model::loader::{Checkpoint, TensorSource, VarBuilder};
use omnivox_model::nn::Embedding;
use std::path::Path;

/// Frames [`Code2Wav::decode`] runs at once: bounds its working memory
/// (about 50 MB per activation at the last stage of the released model)
/// whatever the utterance's length.
pub const DECODE_BLOCK_FRAMES: usize = 64;

/// One upsampling stage: transposed conv (kernel = stride = ratio), then a
/// ConvNeXt block.
#[derive(Module, Debug)]
pub struct UpsampleStage<B: Backend> {
    /// `upsample.{i}.0`.
    pub conv: CausalTransConv1d<B>,
    /// `upsample.{i}.1`.
    pub convnext: ConvNeXtBlock<B>,
}

/// The Code2Wav decoder.
#[derive(Module, Debug)]
pub struct Code2Wav<B: Backend> {
    /// `code_embedding`: `[codebook_size · num_quantizers, hidden]`.
    pub code_embedding: Embedding<B>,
    /// `pre_transformer`.
    pub pre_transformer: PreTransformer<B>,
    /// `upsample.{i}`.
    pub upsample: Vec<UpsampleStage<B>>,
    /// `decoder.0`: hidden → `decoder_dim`, kernel 7.
    pub decoder_in: CausalConv1d<B>,
    /// `decoder.1..=n`.
    pub blocks: Vec<DecoderBlock<B>>,
    /// `decoder.{n+1}`.
    pub decoder_snake: SnakeBeta<B>,
    /// `decoder.{n+2}`: → 1 channel, kernel 7.
    pub decoder_out: CausalConv1d<B>,
    /// The configuration it was built from.
    #[module(skip)]
    pub config: Code2WavConfig,
}

/// Everything a stream carries between [`Code2Wav::step`] calls: the
/// transformer's KV cache (at most `sliding_window - 1` frames per layer)
/// and each convolution's left context. Its size does not grow with the
/// stream.
#[derive(Debug, Clone)]
pub struct Code2WavState<B: Backend> {
    cache: ContiguousKvCache<B>,
    upsample: Vec<(TransConvState<B>, ConvState<B>)>,
    decoder_in: ConvState<B>,
    blocks: Vec<DecoderBlockState<B>>,
    decoder_out: ConvState<B>,
    frames: usize,
}

impl<B: Backend> Code2WavState<B> {
    /// Frames this state has seen.
    pub fn frames(&self) -> usize {
        self.frames
    }
}

impl<B: Backend> Code2Wav<B> {
    /// Builds the model from `vb` (the `code2wav` view of a Qwen3-Omni
    /// checkpoint, or the root of a standalone one). Problems with tensors
    /// are recorded in `vb`; call [`VarBuilder::finish`] afterwards.
    pub fn load(vb: &VarBuilder<'_, B>, cfg: &Code2WavConfig) -> Result<Self> {
        config::validate(cfg)?;
        let hidden = cfg.hidden_size;
        let upsample = (cfg.upsampling_ratios.iter().enumerate())
            .map(|(i, &r)| {
                let vb = vb.pp("upsample").pp(i);
                UpsampleStage {
                    conv: CausalTransConv1d::load(&vb.pp(0), hidden, hidden, r, r),
                    convnext: ConvNeXtBlock::load(&vb.pp(1), hidden),
                }
            })
            .collect();
        let dec = vb.pp("decoder");
        let n = cfg.upsample_rates.len();
        let blocks = (cfg.upsample_rates.iter().enumerate())
            .map(|(i, &rate)| DecoderBlock::load(&dec.pp(i + 1), cfg.decoder_dim >> i, rate))
            .collect();
        let out_dim = cfg.decoder_dim >> n;
        Ok(Self {
            code_embedding: Embedding::load(
                &vb.pp("code_embedding"),
                cfg.codebook_size * cfg.num_quantizers,
                hidden,
            ),
            pre_transformer: PreTransformer::load(&vb.pp("pre_transformer"), &decoder_config(cfg)),
            upsample,
            decoder_in: CausalConv1d::load(&dec.pp(0), hidden, cfg.decoder_dim, 7, 1, 1),
            blocks,
            decoder_snake: SnakeBeta::load(&dec.pp(n + 1), out_dim),
            decoder_out: CausalConv1d::load(&dec.pp(n + 2), out_dim, 1, 7, 1, 1),
            config: cfg.clone(),
        })
    }

    /// Loads from `source` under `prefix` (`"code2wav"` in a Qwen3-Omni
    /// checkpoint, `""` standalone), failing with every missing,
    /// wrong-shaped or unexpected tensor under the prefix listed. Tensors
    /// outside the prefix are never read.
    pub fn load_from(
        source: &dyn TensorSource,
        prefix: &str,
        cfg: &Code2WavConfig,
        device: &B::Device,
    ) -> Result<Self> {
        let root = VarBuilder::<B>::new(source, device);
        let vb = if prefix.is_empty() {
            root
        } else {
            root.pp(prefix)
        };
        let model = Self::load(&vb, cfg)?;
        vb.finish()?;
        Ok(model)
    }

    /// Opens `dir` — a whole Qwen3-Omni checkpoint (`code2wav_config`,
    /// tensors under `code2wav.`) or a standalone Code2Wav as
    /// `save_pretrained` writes it — and loads the decoder.
    pub fn from_pretrained(dir: impl AsRef<Path>, device: &B::Device) -> Result<Self> {
        let dir = dir.as_ref();
        let (cfg, prefix) = config::from_dir(dir)?;
        let ckpt = Checkpoint::open(dir)?;
        Self::load_from(&ckpt, prefix, &cfg, device)
    }

    /// Codes per frame.
    pub fn num_quantizers(&self) -> usize {
        self.config.num_quantizers
    }

    /// Waveform samples per frame (1920 for the released model).
    pub fn samples_per_frame(&self) -> usize {
        config::samples_per_frame(&self.config)
    }

    /// Samples the whole-utterance decode of `frames` frames returns
    /// ([`config::output_len`]).
    pub fn output_len(&self, frames: usize) -> usize {
        config::output_len(&self.config, frames)
    }

    /// A fresh stream state.
    pub fn new_state(&self) -> Code2WavState<B> {
        Code2WavState {
            cache: self.pre_transformer.new_cache(),
            upsample: (self.upsample.iter())
                .map(|s| (s.conv.new_state(), ConvState::default()))
                .collect(),
            decoder_in: ConvState::default(),
            blocks: self.blocks.iter().map(DecoderBlock::new_state).collect(),
            decoder_out: ConvState::default(),
            frames: 0,
        }
    }

    /// Frame-major codes (frame `t`'s `num_quantizers` codes at
    /// `t·Q..(t+1)·Q`, the transpose of the reference's `[Q, frames]`)
    /// checked and laid out as the reference's `[Q, frames]` tensor.
    pub fn codes_tensor(&self, frames: &[u32], device: &B::Device) -> Result<Tensor<B, 2, Int>> {
        let q = self.num_quantizers();
        if !frames.len().is_multiple_of(q) {
            return Err(Error::RaggedFrames {
                len: frames.len(),
                num_quantizers: q,
            });
        }
        let n = frames.len() / q;
        let mut data = vec![0i64; frames.len()];
        for (i, &code) in frames.iter().enumerate() {
            let (t, j) = (i / q, i % q);
            self.check_code(i64::from(code), j, t)?;
            data[j * n + t] = i64::from(code);
        }
        Ok(Tensor::from_data(TensorData::new(data, [q, n]), device))
    }

    fn check_code(&self, code: i64, quantizer: usize, frame: usize) -> Result<()> {
        let size = self.config.codebook_size;
        if code < 0 || code as u64 >= size as u64 {
            return Err(Error::CodeOutOfRange {
                code,
                quantizer,
                frame,
                codebook_size: size,
            });
        }
        Ok(())
    }

    /// The mean over quantizers of the code embeddings.
    ///
    /// # Shapes
    /// - `codes`: `[num_quantizers, n]`, already range-checked
    /// - output: `[n, hidden]`
    pub fn embed(&self, codes: Tensor<B, 2, Int>) -> Tensor<B, 2> {
        let [q, n] = codes.dims();
        let size = self.config.codebook_size as i64;
        let offsets: Tensor<B, 2, Int> = Tensor::<B, 1, Int>::arange(0..q as i64, &codes.device())
            .mul_scalar(size)
            .unsqueeze_dim(1);
        let ids = (codes + offsets).reshape([q * n]);
        let emb = self.code_embedding.forward(ids); // [q·n, hidden]
        let hidden = emb.dims()[1];
        emb.reshape([q, n, hidden]).mean_dim(0).reshape([n, hidden])
    }

    /// Decodes the next frames of a stream and returns the samples they
    /// made final (`None` when none did). Concatenated over calls, the
    /// samples equal [`Code2Wav::forward`] on all frames at once, however
    /// the frames are split.
    ///
    /// # Shapes
    /// - `codes`: `[num_quantizers, n]`, `n > 0`, range-checked (see
    ///   [`Code2Wav::codes_tensor`])
    /// - output: `[samples]`; after `F` frames in total, `output_len(F)`
    ///   samples have come out
    pub fn step(
        &self,
        codes: Tensor<B, 2, Int>,
        state: &mut Code2WavState<B>,
    ) -> Result<Option<Tensor<B, 1>>> {
        let n = codes.dims()[1];
        if n == 0 {
            return Ok(None);
        }
        let hidden = self
            .pre_transformer
            .forward(self.embed(codes), &mut state.cache)?;
        state.frames += n;
        let mut x: Tensor<B, 3> = hidden.transpose().unsqueeze_dim(0); // [1, hidden, n]
        for (stage, (tc, dw)) in self.upsample.iter().zip(state.upsample.iter_mut()) {
            let Some(up) = stage.conv.forward(x, tc) else {
                return Ok(None);
            };
            x = stage.convnext.forward(up, dw);
        }
        x = self.decoder_in.forward(x, &mut state.decoder_in);
        for (block, st) in self.blocks.iter().zip(state.blocks.iter_mut()) {
            let Some(y) = block.forward(x, st) else {
                return Ok(None);
            };
            x = y;
        }
        let wav = self
            .decoder_out
            .forward(self.decoder_snake.forward(x), &mut state.decoder_out);
        let len = wav.dims()[2];
        Ok(Some(wav.clamp(-1.0, 1.0).reshape([len])))
    }

    /// The reference's `forward` on one utterance, in one pass (working
    /// memory grows with the utterance; [`Code2Wav::decode`] bounds it).
    ///
    /// # Shapes
    /// - `codes`: `[num_quantizers, frames]`
    /// - output: `[output_len(frames)]`
    pub fn forward(&self, codes: Tensor<B, 2, Int>) -> Result<Tensor<B, 1>> {
        let [q, n] = codes.dims();
        if q != self.num_quantizers() {
            return Err(Error::QuantizerCount {
                expected: self.num_quantizers(),
                got: q,
            });
        }
        let host: Vec<i64> = (codes.clone().into_data().convert::<i64>().into_vec())
            .map_err(|e| omnivox_model::Error::InvalidInput(format!("codes: {e:?}")))?;
        for (i, &code) in host.iter().enumerate() {
            self.check_code(code, i / n, i % n)?;
        }
        let device = codes.device();
        let mut state = self.new_state();
        Ok(match self.step(codes, &mut state)? {
            Some(wav) => wav,
            None => Tensor::from_data(TensorData::new(Vec::<f32>::new(), [0]), &device),
        })
    }

    /// Decodes a whole utterance given frame-major (see
    /// [`Code2Wav::codes_tensor`]): equal to the reference's `forward`,
    /// computed [`DECODE_BLOCK_FRAMES`] frames at a time through the stream
    /// state so that memory does not grow with the utterance.
    pub fn decode(&self, frames: &[u32], device: &B::Device) -> Result<Vec<f32>> {
        let q = self.num_quantizers();
        let codes = self.codes_tensor(frames, device)?; // checks everything first
        let n = codes.dims()[1];
        let mut state = self.new_state();
        let mut out = Vec::with_capacity(self.output_len(n));
        for start in (0..n).step_by(DECODE_BLOCK_FRAMES) {
            let len = DECODE_BLOCK_FRAMES.min(n - start);
            let block = codes.clone().slice([0..q, start..start + len]);
            if let Some(wav) = self.step(block, &mut state)? {
                out.extend(to_vec(wav));
            }
        }
        Ok(out)
    }

    /// The reference's `chunked_decode(codes, chunk_size, left_context_size)`
    /// (what `generate` calls, with 300 and 25): each chunk of `chunk_size`
    /// frames is decoded afresh with up to `left_context` frames before it,
    /// whose samples are then dropped. Unlike [`Code2Wav::decode`] it is
    /// not equal to the whole-utterance decode once there is more than one
    /// chunk: each chunk restarts the transformer's positions and drops the
    /// trailing `chunk · samples_per_frame - output_len(chunk)` samples (555
    /// for the released model).
    pub fn chunked_decode(
        &self,
        frames: &[u32],
        chunk_size: usize,
        left_context: usize,
        device: &B::Device,
    ) -> Result<Vec<f32>> {
        if chunk_size == 0 {
            return Err(Error::InvalidStream("chunk_size must be positive".into()));
        }
        let q = self.num_quantizers();
        let codes = self.codes_tensor(frames, device)?;
        let n = codes.dims()[1];
        let per_frame = self.samples_per_frame();
        let mut out = Vec::new();
        let mut start = 0;
        while start < n {
            let end = (start + chunk_size).min(n);
            let context = left_context.min(start);
            let chunk = codes.clone().slice([0..q, start - context..end]);
            let wav = to_vec(self.forward(chunk)?);
            out.extend(wav.into_iter().skip(context * per_frame));
            start = end;
        }
        Ok(out)
    }
}

/// A 1-D tensor's values on the host.
pub(crate) fn to_vec<B: Backend>(t: Tensor<B, 1>) -> Vec<f32> {
    (t.into_data().convert::<f32>().into_vec::<f32>()).expect("converted to f32 just above")
}
