//! Encoding mono `f32` to bytes, whole ([`encode`]) or streamed
//! ([`StreamEncoder`]).
//!
//! | format  | rate written                  | module      | library      |
//! |---------|-------------------------------|-------------|--------------|
//! | wav     | the input's                   | [`wav`]     | —            |
//! | pcm16   | 24 kHz                        | [`raw`]     | —            |
//! | mulaw, alaw | 8 kHz                     | [`raw`]     | —            |
//! | opus    | the input's if libopus takes it (8/12/16/24/48 kHz), else 48 kHz | [`ogg_opus`] | libopus + ogg |
//! | flac    | the input's (≤ 655,350 Hz)    | [`flac`]    | flacenc      |
//! | mp3     | the input's if MP3 has it, else the next MP3 rate up (≤ 48 kHz) | [`mp3`] | LAME |
//!
//! Every streamed [`Chunk`] is playable as it arrives: whole Ogg pages, whole
//! FLAC and MP3 frames, whole PCM samples after a streaming WAV header.

mod flac;
mod mp3;
mod ogg_opus;
mod raw;
mod wav;

use crate::resample::Resampler;
use crate::{Error, Format, Result};

/// Options for the encoders. Defaults suit 24 kHz mono speech.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EncodeOptions {
    /// Target bitrate in bit/s for Opus (default 64,000; 6,000 ..= 510,000)
    /// and MP3 (default 64,000; snapped down to an MP3 bitrate, 8,000 ..= 320,000).
    /// Ignored by the lossless and PCM formats.
    pub bitrate: Option<u32>,
}

/// A piece of a streamed encoding: bytes a client can append and play, and
/// the span of audio they complete, in milliseconds from the stream start.
/// `start_ms` of each chunk is the previous chunk's `start_ms + duration_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chunk {
    pub bytes: Vec<u8>,
    pub start_ms: u64,
    pub duration_ms: u64,
}

/// What each format's streaming backend does. `end` is how many samples (at
/// the backend's `rate`) of the input are fully represented by all the
/// bytes emitted so far.
trait Backend {
    /// Output bytes and the new `end`.
    fn push(&mut self, samples: &[f32]) -> Result<(Vec<u8>, u64)>;
    fn finish(&mut self) -> Result<(Vec<u8>, u64)>;
}

enum Inner {
    Wav(wav::WavEncoder),
    Raw(raw::RawEncoder),
    Opus(Box<ogg_opus::OggOpusEncoder>),
    Flac(Box<flac::FlacEncoder>),
    Mp3(Box<mp3::Mp3Encoder>),
}

impl Inner {
    fn backend(&mut self) -> &mut dyn Backend {
        match self {
            Inner::Wav(b) => b,
            Inner::Raw(b) => b,
            Inner::Opus(b) => b.as_mut(),
            Inner::Flac(b) => b.as_mut(),
            Inner::Mp3(b) => b.as_mut(),
        }
    }
}

/// Push samples, get [`Chunk`]s a client can play as they arrive.
pub struct StreamEncoder {
    format: Format,
    inner: Inner,
    /// Input → codec rate, where the codec cannot take the input's rate.
    resampler: Option<Resampler>,
    /// The rate `end` positions are counted in (the codec's).
    rate: u32,
    last_end_ms: u64,
    scratch: Vec<f32>,
}

impl std::fmt::Debug for StreamEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamEncoder")
            .field("format", &self.format)
            .field("rate", &self.rate)
            .finish()
    }
}

impl StreamEncoder {
    /// A streaming encoder for mono audio at `rate` Hz.
    pub fn new(format: Format, rate: u32, opts: &EncodeOptions) -> Result<Self> {
        Self::with_mode(format, rate, opts, Mode::Stream)
    }

    fn with_mode(format: Format, rate: u32, opts: &EncodeOptions, mode: Mode) -> Result<Self> {
        Error::check_rate(rate, crate::MIN_SAMPLE_RATE, crate::MAX_SAMPLE_RATE)?;
        let codec_rate = codec_rate(format, rate)?;
        let inner = match format {
            Format::Wav => Inner::Wav(wav::WavEncoder::new(codec_rate, mode)),
            Format::Pcm16 | Format::Mulaw | Format::Alaw => {
                Inner::Raw(raw::RawEncoder::new(format))
            }
            Format::Opus => Inner::Opus(Box::new(ogg_opus::OggOpusEncoder::new(
                codec_rate, rate, opts,
            )?)),
            Format::Flac => Inner::Flac(Box::new(flac::FlacEncoder::new(codec_rate, mode)?)),
            Format::Mp3 => Inner::Mp3(Box::new(mp3::Mp3Encoder::new(codec_rate, opts, mode)?)),
            Format::Aac => {
                return Err(Error::unsupported(
                    Format::Aac,
                    "output: no well-kept AAC encoder is available to us; use opus, mp3 or flac",
                ));
            }
            other => return Err(Error::unsupported(other, "output format (decode only)")),
        };
        let resampler = if codec_rate == rate {
            None
        } else {
            Some(Resampler::new(rate, codec_rate)?)
        };
        Ok(StreamEncoder {
            format,
            inner,
            resampler,
            rate: codec_rate,
            last_end_ms: 0,
            scratch: Vec::new(),
        })
    }

    /// The format being written.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The rate the bytes are written at (see the table in [`crate::encode`]).
    pub fn output_rate(&self) -> u32 {
        self.rate
    }

    /// Encodes the next samples. Returns zero or one chunk: nothing while the
    /// codec is still filling a frame.
    pub fn push(&mut self, samples: &[f32]) -> Result<Vec<Chunk>> {
        let (bytes, end) = match self.resampler.as_mut() {
            Some(r) => {
                self.scratch.clear();
                r.push_into(samples, &mut self.scratch)?;
                self.inner.backend().push(&self.scratch)?
            }
            None => self.inner.backend().push(samples)?,
        };
        Ok(self.chunk(bytes, end))
    }

    /// Flushes the codec and ends the stream (Ogg end-of-stream page, MP3
    /// padding frame, ...). Returns zero or one chunk.
    pub fn finish(mut self) -> Result<Vec<Chunk>> {
        let mut bytes = Vec::new();
        if let Some(r) = self.resampler.as_mut() {
            self.scratch.clear();
            r.finish_into(&mut self.scratch)?;
            let (b, _) = self.inner.backend().push(&self.scratch)?;
            bytes = b;
        }
        let (tail, end) = self.inner.backend().finish()?;
        bytes.extend_from_slice(&tail);
        Ok(self.chunk(bytes, end))
    }

    fn chunk(&mut self, bytes: Vec<u8>, end: u64) -> Vec<Chunk> {
        if bytes.is_empty() {
            return Vec::new();
        }
        let end_ms = (end * 1000 + u64::from(self.rate) / 2) / u64::from(self.rate);
        let end_ms = end_ms.max(self.last_end_ms);
        let chunk = Chunk {
            bytes,
            start_ms: self.last_end_ms,
            duration_ms: end_ms - self.last_end_ms,
        };
        self.last_end_ms = end_ms;
        vec![chunk]
    }
}

/// Whole-file or streamed output: a whole file carries exact sizes, the MP3
/// LAME tag (gapless playback) and the FLAC MD5, which a stream cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Whole,
    Stream,
}

/// Encodes a whole mono clip at `rate` Hz as `format`.
pub fn encode(samples: &[f32], rate: u32, format: Format, opts: &EncodeOptions) -> Result<Vec<u8>> {
    let mut enc = StreamEncoder::with_mode(format, rate, opts, Mode::Whole)?;
    let mut out = Vec::new();
    for c in enc.push(samples)? {
        out.extend_from_slice(&c.bytes);
    }
    for c in enc.finish()? {
        out.extend_from_slice(&c.bytes);
    }
    Ok(out)
}

/// The rate a format writes for input at `rate`.
fn codec_rate(format: Format, rate: u32) -> Result<u32> {
    Ok(match format {
        Format::Pcm16 | Format::Mulaw | Format::Alaw => format.implied_rate().unwrap_or(rate),
        Format::Opus => [8_000, 12_000, 16_000, 24_000, 48_000]
            .into_iter()
            .find(|&r| r == rate)
            .unwrap_or(48_000),
        Format::Mp3 => mp3::RATES
            .into_iter()
            .find(|&r| r >= rate)
            .unwrap_or(48_000),
        Format::Flac if rate > 655_350 => {
            return Err(Error::InvalidSampleRate {
                rate,
                min: crate::MIN_SAMPLE_RATE,
                max: 655_350,
            });
        }
        _ => rate,
    })
}

/// Replaces NaN/inf with silence and clamps to [-1, 1].
pub(crate) fn sanitize(x: f32) -> f32 {
    if x.is_finite() {
        x.clamp(-1.0, 1.0)
    } else {
        0.0
    }
}
