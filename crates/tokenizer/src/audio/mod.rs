//! Whisper-style log-mel features, as transformers'
//! `WhisperFeatureExtractor` computes them when Qwen3-Omni's processor
//! calls it (`models/whisper/feature_extraction_whisper.py`,
//! `models/qwen3_omni_moe/processing_qwen3_omni_moe.py`).
//!
//! The processor calls the extractor with `padding=True` (pad the batch to
//! its longest clip with `padding_value`), `truncation=False` and
//! `return_attention_mask=True`. There is no 30-second chunking: a clip of
//! any length becomes one matrix of `samples / hop` frames, and the log
//! floor (`max - 8`) is taken over the whole (padded) clip. Per clip:
//!
//! 1. STFT with a periodic Hann window of `n_fft`, hop `hop_length`,
//!    centred: the padded batch is reflect-padded by `n_fft / 2` at both ends;
//!    the last frame is dropped, leaving `max_len / hop` frames;
//! 2. power spectrum → Slaney mel filter bank (0–8000 Hz) →
//!    `log10(max(x, 1e-10))`;
//! 3. `max(x, max(x) - 8)`, then `(x + 4) / 4`;
//! 4. the attention mask keeps frame `j` when `j * hop < len`, i.e.
//!    `min(ceil(len / hop), max_len / hop)` frames — so a clip that is not
//!    the longest of its batch gets one more frame than it would alone, and
//!    its last frames see zeros instead of a reflection.
//!
//! [`LogMelExtractor::extract_batch`] reproduces all of this and returns
//! each clip's masked frames only. We compute in f64 (the reference uses
//! torch's f32 STFT); the two agree within 1e-4.

mod mel;

use crate::error::{Error, Result};
use mel::MelFilter;
use realfft::RealFftPlanner;
use serde::Deserialize;
use std::path::Path;
use std::sync::Arc;

/// `preprocessor_config.json` fields of a `WhisperFeatureExtractor`
/// (unknown fields are ignored; defaults are the class defaults).
#[derive(Debug, Clone, Deserialize)]
pub struct WhisperConfig {
    /// Number of mel bins (`feature_size`; Qwen3-Omni: 128).
    #[serde(default = "default_feature_size")]
    pub feature_size: usize,
    /// Input sample rate in Hz.
    #[serde(default = "default_sampling_rate")]
    pub sampling_rate: u32,
    /// STFT hop in samples.
    #[serde(default = "default_hop_length")]
    pub hop_length: usize,
    /// STFT window and FFT size in samples.
    #[serde(default = "default_n_fft")]
    pub n_fft: usize,
    /// Value used to pad shorter clips of a batch.
    #[serde(default)]
    pub padding_value: f32,
    /// Training-time noise; not reproduced (see [`LogMelExtractor::new`]).
    #[serde(default)]
    pub dither: f32,
    /// Side the batch is padded on; only `"right"` is supported.
    #[serde(default = "default_padding_side")]
    pub padding_side: String,
}

fn default_feature_size() -> usize {
    80
}
fn default_sampling_rate() -> u32 {
    16_000
}
fn default_hop_length() -> usize {
    160
}
fn default_n_fft() -> usize {
    400
}
fn default_padding_side() -> String {
    "right".into()
}

impl WhisperConfig {
    /// The values of Qwen3-Omni's `preprocessor_config.json`: 128 bins,
    /// 16 kHz, `n_fft` 400, hop 160.
    pub fn qwen3_omni() -> Self {
        Self {
            feature_size: 128,
            sampling_rate: 16_000,
            hop_length: 160,
            n_fft: 400,
            padding_value: 0.0,
            dither: 0.0,
            padding_side: "right".into(),
        }
    }

    /// Reads `preprocessor_config.json` from a checkpoint directory.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        crate::error::read_json(&dir.join("preprocessor_config.json"))
    }

    fn validate(&self) -> Result<()> {
        let bad = |field, reason: &str| {
            Err(Error::Config {
                field,
                reason: reason.to_owned(),
            })
        };
        if !(1..=1024).contains(&self.feature_size) {
            return bad("feature_size", "must be between 1 and 1024");
        }
        if self.n_fft < 2 || !self.n_fft.is_multiple_of(2) || self.n_fft > 1 << 16 {
            return bad("n_fft", "must be even, at least 2 and at most 65536");
        }
        if self.hop_length == 0 || self.hop_length > self.n_fft {
            return bad("hop_length", "must be between 1 and n_fft");
        }
        if self.sampling_rate < 16_000 {
            return bad(
                "sampling_rate",
                "the filter bank spans 0-8000 Hz: need >= 16000",
            );
        }
        if !self.padding_value.is_finite() {
            return bad("padding_value", "must be finite");
        }
        if self.padding_side != "right" {
            return bad("padding_side", "only \"right\" is supported");
        }
        Ok(())
    }
}

/// Log-mel features of one clip: `n_mels × n_frames`, mel-major (the
/// reference's `input_features[i]` layout, `[128, T]`).
#[derive(Debug, Clone, PartialEq)]
pub struct LogMel {
    /// Number of mel bins.
    pub n_mels: usize,
    /// Number of frames (the clip's attention-mask length).
    pub n_frames: usize,
    /// `data[mel * n_frames + frame]`.
    pub data: Vec<f32>,
}

impl LogMel {
    /// The value of one bin of one frame; `None` outside the matrix.
    pub fn get(&self, mel: usize, frame: usize) -> Option<f32> {
        if mel >= self.n_mels || frame >= self.n_frames {
            return None;
        }
        self.data.get(mel * self.n_frames + frame).copied()
    }

    /// The features frame-major, `[n_frames, n_mels]` (`data[frame * n_mels + mel]`).
    pub fn to_frame_major(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.data.len()];
        for (mel, row) in self.data.chunks_exact(self.n_frames.max(1)).enumerate() {
            for (frame, &v) in row.iter().enumerate() {
                out[frame * self.n_mels + mel] = v;
            }
        }
        out
    }
}

/// Computes log-mel features; build once, use from many threads.
pub struct LogMelExtractor {
    cfg: WhisperConfig,
    window: Vec<f64>,
    filters: Vec<MelFilter>,
    fft: Arc<dyn realfft::RealToComplex<f64>>,
}

impl std::fmt::Debug for LogMelExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogMelExtractor")
            .field("cfg", &self.cfg)
            .finish()
    }
}

impl LogMelExtractor {
    /// Builds the window, filter bank and FFT plan. A non-zero `dither` is
    /// a training-time augmentation (random noise) and is not reproduced;
    /// it is reported with a warning.
    pub fn new(cfg: WhisperConfig) -> Result<Self> {
        cfg.validate()?;
        if cfg.dither != 0.0 {
            tracing::warn!(dither = cfg.dither, "feature extractor dither is ignored");
        }
        let n = cfg.n_fft;
        let window = (0..n)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos())
            .collect();
        let dense =
            mel::dense_filter_bank(n / 2 + 1, cfg.feature_size, 0.0, 8000.0, cfg.sampling_rate);
        let filters = mel::sparse_filter_bank(&dense, cfg.feature_size);
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n);
        Ok(Self {
            cfg,
            window,
            filters,
            fft,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &WhisperConfig {
        &self.cfg
    }

    /// The mel filter bank as the reference's dense
    /// `[n_fft / 2 + 1][feature_size]` matrix (for tests).
    pub fn filter_bank(&self) -> Vec<Vec<f64>> {
        mel::dense_filter_bank(
            self.cfg.n_fft / 2 + 1,
            self.cfg.feature_size,
            0.0,
            8000.0,
            self.cfg.sampling_rate,
        )
    }

    /// The shortest batch the extractor accepts: the STFT's reflect padding
    /// needs `n_fft / 2 + 1` samples.
    pub fn min_samples(&self) -> usize {
        self.cfg.n_fft / 2 + 1
    }

    /// Frames the attention mask keeps for a clip of `len` samples in a
    /// batch whose longest clip has `max_len` samples.
    pub fn masked_frames(&self, len: usize, max_len: usize) -> usize {
        len.div_ceil(self.cfg.hop_length)
            .min(max_len / self.cfg.hop_length)
    }

    /// Features of a single clip (a batch of one): `len / hop` frames.
    pub fn extract(&self, samples: &[f32]) -> Result<LogMel> {
        let mut out = self.extract_batch(&[samples])?;
        Ok(out.remove(0))
    }

    /// Features of the clips of one prompt, computed as the reference
    /// processor computes them for a batch (see the module docs): each
    /// clip's masked frames.
    pub fn extract_batch(&self, clips: &[&[f32]]) -> Result<Vec<LogMel>> {
        let Some(max_len) = clips.iter().map(|c| c.len()).max() else {
            return Ok(Vec::new());
        };
        if max_len < self.min_samples() {
            return Err(Error::AudioTooShort {
                samples: max_len,
                min: self.min_samples(),
            });
        }
        for (clip, samples) in clips.iter().enumerate() {
            if let Some(index) = samples.iter().position(|s| !s.is_finite()) {
                return Err(Error::NonFiniteSample { clip, index });
            }
        }
        Ok(clips
            .iter()
            .map(|c| self.clip_features(c, max_len))
            .collect())
    }

    /// One clip, zero-padded (with `padding_value`) to `max_len`.
    fn clip_features(&self, clip: &[f32], max_len: usize) -> LogMel {
        let hop = self.cfg.hop_length;
        let half = self.cfg.n_fft / 2;
        let n_mels = self.cfg.feature_size;
        let total = max_len / hop; // frames after dropping the STFT's last
        let keep = self.masked_frames(clip.len(), max_len);
        // Frames whose window lies wholly in zero padding are exactly
        // log10(1e-10) = -10; they matter only through the maximum.
        let computed = if self.cfg.padding_value == 0.0 && clip.len() < max_len {
            (clip.len() + half).div_ceil(hop).min(total)
        } else {
            total
        };
        let mut data = vec![0f32; n_mels * keep];
        let mut max = if computed < total {
            -10.0f64
        } else {
            f64::NEG_INFINITY
        };
        let mut frame = self.fft.make_input_vec();
        let mut spec = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0f64; spec.len()];
        let signal = Padded {
            clip,
            max_len,
            half,
            pad: f64::from(self.cfg.padding_value),
        };
        for j in 0..computed {
            for (k, x) in frame.iter_mut().enumerate() {
                *x = signal.at(j * hop + k) * self.window[k];
            }
            // Lengths are the planner's own; processing cannot fail.
            let _ = self
                .fft
                .process_with_scratch(&mut frame, &mut spec, &mut scratch);
            for (p, c) in power.iter_mut().zip(&spec) {
                *p = c.norm_sqr();
            }
            for (m, f) in self.filters.iter().enumerate() {
                let e = dot(&power[f.start..f.start + f.weights.len()], &f.weights);
                let v = e.max(1e-10).log10();
                max = max.max(v);
                if j < keep {
                    data[m * keep + j] = v as f32;
                }
            }
        }
        let floor = (max - 8.0) as f32;
        for v in &mut data {
            *v = (v.max(floor) + 4.0) / 4.0;
        }
        LogMel {
            n_mels,
            n_frames: keep,
            data,
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A clip padded to the batch length, then reflect-padded by `half` at
/// both ends (torch's `stft(center=True, pad_mode="reflect")`).
struct Padded<'a> {
    clip: &'a [f32],
    max_len: usize,
    half: usize,
    pad: f64,
}

impl Padded<'_> {
    /// Sample `p` of the reflect-padded signal, `0 <= p < max_len + 2 * half`.
    fn at(&self, p: usize) -> f64 {
        let i = if p < self.half {
            self.half - p // mirror without repeating the edge
        } else if p - self.half >= self.max_len {
            2 * (self.max_len - 1) - (p - self.half)
        } else {
            p - self.half
        };
        match self.clip.get(i) {
            Some(&s) => f64::from(s),
            None => self.pad,
        }
    }
}
