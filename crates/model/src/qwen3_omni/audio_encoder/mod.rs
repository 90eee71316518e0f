//! The Qwen3-Omni audio encoder ("AuT"): log-mel frames → audio tokens in
//! the thinker's embedding space.
//!
//! Reference: `Qwen3OmniMoeAudioEncoder` in
//! `transformers/models/qwen3_omni_moe/modeling_qwen3_omni_moe.py`
//! (transformers 5.24):
//!
//! 1. every clip is cut into 100-frame chunks, all chunks of the call padded
//!    to the longest ([`plan`]);
//! 2. three stride-2 3×3 convolutions with GELU on each chunk (as an image
//!    of `n_mels × frames`), then `conv_out` over channels × frequency;
//! 3. sinusoidal positions added, restarting at 0 in every chunk; padding
//!    rows dropped;
//! 4. `encoder_layers` pre-norm layers of attention within windows of
//!    `n_window_infer` frames ([`layer`]);
//! 5. `ln_post`, `proj1`, GELU, `proj2`.
//!
//! All chunks of a call go through the convolutions as one batch (in groups
//! bounded by [`CONV_GROUP_BYTES`]), and all windows through attention as
//! one batch.

pub mod layer;
pub mod plan;

pub use plan::{CHUNK_FRAMES, CHUNK_TOKENS, EncoderPlan, audio_tokens};

use self::layer::{EncoderLayer, LAYER_NORM_EPS, Windows};
use super::config::AudioEncoderConfig;
use crate::error::{Error, Result};
use crate::loader::VarBuilder;
use crate::nn::{LayerNorm, Linear};
use burn::module::{Module, Param};
use burn::tensor::activation::gelu;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

/// Upper bound on the first convolution's output per group of chunks: chunks
/// are convolved in groups so that long audio never materialises all conv
/// activations at once (the reference's `conv_chunksize` plays this role).
pub const CONV_GROUP_BYTES: usize = 64 << 20;

/// One clip's log-mel features, mel-major: `data[mel * frames + frame]`.
#[derive(Debug, Clone, Copy)]
pub struct MelFeatures<'a> {
    /// `[n_mels, frames]`, row-major.
    pub data: &'a [f32],
    /// Mel bins.
    pub n_mels: usize,
    /// Frames.
    pub frames: usize,
}

/// What one encoder call returns.
#[derive(Debug, Clone)]
pub struct AudioEncoderOutput<B: Backend> {
    /// `[tokens, output_dim]`: every clip's tokens, clip after clip.
    pub embeds: Tensor<B, 2>,
    /// Tokens of each clip.
    pub clip_tokens: Vec<usize>,
}

impl<B: Backend> AudioEncoderOutput<B> {
    /// One `[tokens_i, output_dim]` tensor per clip.
    pub fn split(&self) -> Vec<Tensor<B, 2>> {
        let mut start = 0;
        self.clip_tokens
            .iter()
            .map(|&n| {
                let t = self.embeds.clone().narrow(0, start, n);
                start += n;
                t
            })
            .collect()
    }
}

/// A 3×3, stride-2, padding-1 convolution with bias (`conv2d{1,2,3}`).
#[derive(Module, Debug)]
pub struct DownsampleConv<B: Backend> {
    /// `weight`, `[out, in, 3, 3]` (PyTorch layout).
    pub weight: Param<Tensor<B, 4>>,
    /// `bias`, `[out]`.
    pub bias: Param<Tensor<B, 1>>,
}

impl<B: Backend> DownsampleConv<B> {
    fn load(vb: &VarBuilder<'_, B>, inputs: usize, outputs: usize) -> Self {
        Self {
            weight: Param::from_tensor(vb.get([outputs, inputs, 3, 3], "weight")),
            bias: Param::from_tensor(vb.get([outputs], "bias")),
        }
    }

    /// # Shapes
    /// - `x`: `[chunks, in, freq, time]`
    /// - output: `[chunks, out, ceil(freq / 2), ceil(time / 2)]`
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let opts = ConvOptions::new([2, 2], [1, 1], [1, 1], 1);
        gelu(conv2d(x, self.weight.val(), Some(self.bias.val()), opts))
    }
}

/// `thinker.audio_tower`.
#[derive(Module, Debug)]
pub struct Qwen3OmniAudioEncoder<B: Backend> {
    /// `conv2d1`: 1 → `downsample_hidden_size` channels.
    pub conv2d1: DownsampleConv<B>,
    /// `conv2d2`.
    pub conv2d2: DownsampleConv<B>,
    /// `conv2d3`.
    pub conv2d3: DownsampleConv<B>,
    /// `conv_out`: channels × frequency → `d_model`, no bias.
    pub conv_out: Linear<B>,
    /// `layers.{i}`.
    pub layers: Vec<EncoderLayer<B>>,
    /// `ln_post`.
    pub ln_post: LayerNorm<B>,
    /// `proj1`: `d_model` → `d_model`.
    pub proj1: Linear<B>,
    /// `proj2`: `d_model` → `output_dim`.
    pub proj2: Linear<B>,
    /// The configuration it was built from.
    #[module(skip)]
    pub config: AudioEncoderConfig,
}

/// Frequency bins after the three halvings.
fn conv_freq(n_mels: usize) -> usize {
    n_mels.div_ceil(2).div_ceil(2).div_ceil(2)
}

impl<B: Backend> Qwen3OmniAudioEncoder<B> {
    /// Builds the encoder from `vb` (a `thinker.audio_tower` view).
    pub fn load(vb: &VarBuilder<'_, B>, cfg: &AudioEncoderConfig) -> Result<Self> {
        cfg.validate()?;
        let (d, c) = (cfg.d_model, cfg.downsample_hidden_size);
        let layers = (0..cfg.encoder_layers)
            .map(|i| {
                EncoderLayer::load(
                    &vb.pp("layers").pp(i),
                    d,
                    cfg.encoder_attention_heads,
                    cfg.encoder_ffn_dim,
                )
            })
            .collect();
        Ok(Self {
            conv2d1: DownsampleConv::load(&vb.pp("conv2d1"), 1, c),
            conv2d2: DownsampleConv::load(&vb.pp("conv2d2"), c, c),
            conv2d3: DownsampleConv::load(&vb.pp("conv2d3"), c, c),
            conv_out: Linear::load(
                &vb.pp("conv_out"),
                c * conv_freq(cfg.num_mel_bins),
                d,
                false,
            ),
            layers,
            ln_post: LayerNorm::load(&vb.pp("ln_post"), d, LAYER_NORM_EPS, true),
            proj1: Linear::load(&vb.pp("proj1"), d, d, true),
            proj2: Linear::load(&vb.pp("proj2"), d, cfg.output_dim, true),
            config: cfg.clone(),
        })
    }

    /// Encodes the clips of one prompt in one call, as the thinker does.
    ///
    /// A clip's tokens depend on the other clips of the call (all chunks are
    /// padded to the longest, and windows are sized from it), exactly as in
    /// the reference: to match it, pass all clips of a prompt together.
    ///
    /// # Shapes
    /// - each clip: `[num_mel_bins, frames]`
    /// - output: `embeds` `[Σ audio_tokens(frames), output_dim]`
    pub fn forward(&self, clips: &[MelFeatures<'_>]) -> Result<AudioEncoderOutput<B>> {
        let plan = self.plan(clips)?;
        let device = self.proj2.weight.device();
        let mut x = self.front_end(clips, &plan, &device); // [tokens, d]
        let windows = Windows::new(&plan.windows, &device);
        for layer in &self.layers {
            x = layer.forward(x, &windows);
        }
        let x = gelu(self.proj1.forward(self.ln_post.forward(x)));
        Ok(AudioEncoderOutput {
            embeds: self.proj2.forward(x),
            clip_tokens: plan.clip_tokens,
        })
    }

    /// The layout of a call, after checking the clips' shapes.
    pub fn plan(&self, clips: &[MelFeatures<'_>]) -> Result<EncoderPlan> {
        let mels = self.config.num_mel_bins;
        for (i, c) in clips.iter().enumerate() {
            if c.n_mels != mels || c.data.len() != c.n_mels * c.frames {
                return Err(Error::InvalidInput(format!(
                    "audio clip {i}: {} values for {} mel bins x {} frames; the encoder takes {mels} bins",
                    c.data.len(),
                    c.n_mels,
                    c.frames
                )));
            }
        }
        let frames: Vec<usize> = clips.iter().map(|c| c.frames).collect();
        EncoderPlan::new(&frames, self.config.n_window_infer)
    }

    /// Steps 1–3: chunks → convolutions → `conv_out` → positions → real
    /// tokens only.
    fn front_end(
        &self,
        clips: &[MelFeatures<'_>],
        plan: &EncoderPlan,
        device: &B::Device,
    ) -> Tensor<B, 2> {
        let (frames, tokens) = (plan.chunk_frames, plan.chunk_tokens);
        let mels = self.config.num_mel_bins;
        let per_chunk =
            self.config.downsample_hidden_size * mels.div_ceil(2) * frames.div_ceil(2) * 4;
        let group = (CONV_GROUP_BYTES / per_chunk.max(1)).max(1);
        let d = self.config.d_model;
        let mut rows = Vec::with_capacity(plan.chunks.len().div_ceil(group));
        for chunks in plan.chunks.chunks(group) {
            let n = chunks.len();
            let mut data = vec![0f32; n * mels * frames];
            for (k, c) in chunks.iter().enumerate() {
                let clip = &clips[c.clip];
                for m in 0..mels {
                    let src =
                        &clip.data[m * clip.frames + c.start..m * clip.frames + c.start + c.frames];
                    let dst = (k * mels + m) * frames;
                    data[dst..dst + c.frames].copy_from_slice(src);
                }
            }
            let x = Tensor::<B, 4>::from_data(TensorData::new(data, [n, 1, mels, frames]), device);
            let x = self
                .conv2d3
                .forward(self.conv2d2.forward(self.conv2d1.forward(x)));
            let [_, ch, freq, time] = x.dims();
            debug_assert_eq!(time, tokens);
            // [n, ch, freq, time] → [n, time, ch, freq] → [n * time, ch * freq]
            let x = x.permute([0, 3, 1, 2]).reshape([n * time, ch * freq]);
            rows.push(self.conv_out.forward(x));
        }
        let x = if rows.len() == 1 {
            rows.pop().expect("one group")
        } else {
            Tensor::cat(rows, 0)
        };
        let chunks = plan.chunks.len();
        let pos = sinusoids::<B>(tokens, d, device).unsqueeze_dim::<3>(0);
        let x = (x.reshape([chunks, tokens, d]) + pos).reshape([chunks * tokens, d]);
        let n = plan.valid_rows.len();
        if n == chunks * tokens {
            return x;
        }
        let idx =
            Tensor::<B, 1, Int>::from_data(TensorData::new(plan.valid_rows.clone(), [n]), device);
        x.select(0, idx)
    }
}

/// The first `len` rows of the sinusoidal table, `[len, channels]`:
/// `[sin(p * f_i) | cos(p * f_i)]` with `f_i = exp(-i * ln(10000) /
/// (channels / 2 - 1))`, in `f32` as the reference computes it
/// (`SinusoidsPositionEmbedding`).
pub fn sinusoids<B: Backend>(len: usize, channels: usize, device: &B::Device) -> Tensor<B, 2> {
    let half = channels / 2;
    let increment = (10_000f64.ln() / (half.max(2) - 1) as f64) as f32;
    let inv: Vec<f32> = (0..half).map(|i| (-increment * i as f32).exp()).collect();
    let mut data = vec![0f32; len * channels];
    for p in 0..len {
        let row = &mut data[p * channels..(p + 1) * channels];
        for (i, &f) in inv.iter().enumerate() {
            let angle = p as f32 * f;
            row[i] = angle.sin();
            row[half + i] = angle.cos();
        }
    }
    Tensor::from_data(TensorData::new(data, [len, channels]), device)
}
