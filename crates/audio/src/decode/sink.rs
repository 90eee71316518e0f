//! [`Sink`]: where every reader puts its samples. It mixes channels down,
//! enforces the duration limit and resamples to the target rate as samples
//! arrive, so a decode holds only its output.

use crate::resample::Resampler;
use crate::{DecodeOptions, Decoded, Error, Format, Limits, Result};

pub(crate) struct Sink {
    format: Format,
    limits: Limits,
    target_rate: u32,
    /// Set by the first `start` call: the stream's rate and channels.
    source: Option<(u32, u16)>,
    /// What `Decoded` reports as the source, when it differs from what this
    /// sink receives (libopus decodes a stereo 48 kHz stream straight to mono
    /// 16 kHz, say).
    reported: Option<(u32, u16)>,
    resampler: Option<Resampler>,
    /// Frames received so far, at the source rate.
    frames: u64,
    max_frames: u64,
    mono: Vec<f32>,
    out: Vec<f32>,
}

impl Sink {
    pub fn new(format: Format, opts: &DecodeOptions) -> Self {
        Sink {
            format,
            limits: opts.limits,
            target_rate: opts.target_rate,
            source: None,
            reported: None,
            resampler: None,
            frames: 0,
            max_frames: 0,
            mono: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Declares the stream's rate and channel count, validating both against
    /// the limits. A second call with different values is an error: we do
    /// not splice streams of different shapes.
    pub fn start(&mut self, rate: u32, channels: u32) -> Result<()> {
        if let Some((r, c)) = self.source {
            if (r, u32::from(c)) == (rate, channels) {
                return Ok(());
            }
            return Err(Error::unsupported(
                self.format,
                format!(
                    "a change of stream parameters mid-stream ({r} Hz x {c} to {rate} Hz x {channels})"
                ),
            ));
        }
        self.validate(rate, channels)?;
        let channels = channels as u16; // checked against max_channels (a u16)
        self.source = Some((rate, channels));
        self.max_frames = (self.limits.max_duration_secs.max(0.0) * f64::from(rate)).ceil() as u64;
        if rate != self.target_rate {
            self.resampler = Some(Resampler::new(rate, self.target_rate)?);
        }
        Ok(())
    }

    /// Like [`Sink::start`] for a decoder that already converted the stream:
    /// the sink receives `rate` Hz x `channels`, but reports the stream's own
    /// `source_rate` and `source_channels`.
    pub fn start_reporting(
        &mut self,
        rate: u32,
        channels: u32,
        source_rate: u32,
        source_channels: u32,
    ) -> Result<()> {
        self.validate(source_rate, source_channels)?;
        self.start(rate, channels)?;
        self.reported = Some((source_rate, source_channels as u16));
        Ok(())
    }

    /// Checks a rate and channel count against the limits without starting.
    pub fn validate(&self, rate: u32, channels: u32) -> Result<()> {
        Error::check_rate(rate, crate::MIN_SAMPLE_RATE, self.limits.max_sample_rate)?;
        if channels == 0 {
            return Err(Error::header(self.format, "zero channels"));
        }
        if channels > u32::from(self.limits.max_channels) {
            return Err(Error::TooManyChannels {
                channels,
                limit: self.limits.max_channels,
            });
        }
        Ok(())
    }

    /// Whether `start` has been called.
    pub fn started(&self) -> bool {
        self.source.is_some()
    }

    /// The channel count declared by `start`.
    pub fn channels(&self) -> usize {
        self.source.map_or(1, |(_, c)| usize::from(c))
    }

    /// Frames received so far, at the source rate.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Frames (at the source rate) the limit still allows.
    pub fn frames_left(&self) -> u64 {
        self.max_frames.saturating_sub(self.frames)
    }

    /// The error for audio longer than the limit.
    pub fn too_long(&self) -> Error {
        Error::TooLong {
            limit_secs: self.limits.max_duration_secs,
        }
    }

    /// Adds interleaved frames in the declared channel layout.
    pub fn push_interleaved(&mut self, samples: &[f32]) -> Result<()> {
        let channels = self.channels();
        let mut mono = std::mem::take(&mut self.mono);
        mono.clear();
        crate::pcm::mixdown_into(samples, channels, &mut mono);
        let r = self.push_mono(&mono);
        self.mono = mono;
        r
    }

    /// Adds mono frames.
    pub fn push_mono(&mut self, samples: &[f32]) -> Result<()> {
        if self.source.is_none() {
            return Err(Error::corrupt(
                self.format,
                "audio before the stream header",
            ));
        }
        self.frames += samples.len() as u64;
        if self.frames > self.max_frames {
            return Err(self.too_long());
        }
        let clamp = |x: f32| {
            if x.is_finite() {
                x.clamp(-1.0, 1.0)
            } else {
                0.0
            }
        };
        match self.resampler.as_mut() {
            Some(r) => {
                let start = self.out.len();
                r.push_into(samples, &mut self.out)?;
                self.out[start..].iter_mut().for_each(|x| *x = clamp(*x));
            }
            None => self.out.extend(samples.iter().map(|&x| clamp(x))),
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<Decoded> {
        let Some((source_rate, source_channels)) = self.reported.or(self.source) else {
            return Err(Error::corrupt(self.format, "no audio stream found"));
        };
        if let Some(r) = self.resampler.as_mut() {
            let start = self.out.len();
            r.finish_into(&mut self.out)?;
            self.out[start..]
                .iter_mut()
                .for_each(|x| *x = x.clamp(-1.0, 1.0));
        }
        let duration_ms = (self.out.len() as u64 * 1000 + u64::from(self.target_rate) / 2)
            / u64::from(self.target_rate);
        Ok(Decoded {
            samples: self.out,
            sample_rate: self.target_rate,
            source_format: self.format,
            source_rate,
            source_channels,
            duration_ms,
        })
    }
}
