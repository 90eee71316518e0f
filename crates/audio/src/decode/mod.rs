//! Decoding: bytes in any supported format → mono `f32` at the caller's rate.
//!
//! [`decode`] sniffs the format from the bytes ([`crate::sniff`]); the caller's
//! hint only matters when the bytes carry no magic (headerless `pcm16` and
//! G.711) or are not recognised. Each reader feeds a [`Sink`] that mixes the
//! channels down, enforces the duration limit and resamples as it goes, so
//! memory is bounded by the *output* and nothing is sized from a header.
//!
//! | module       | formats                                         | library        |
//! |--------------|-------------------------------------------------|----------------|
//! | [`wav`]      | RIFF/WAVE (PCM, float, G.711, extensible)       | our own parser |
//! | [`raw`]      | headerless pcm16, µ-law, A-law                  | —              |
//! | [`ogg_opus`] | Ogg Opus                                        | ogg + libopus  |
//! | [`symph`]    | MP3, FLAC, Ogg Vorbis/FLAC, WebM/Matroska, AAC, MP4 | symphonia (+ libopus for Opus in WebM) |

mod ogg_opus;
mod opus_head;
mod raw;
mod sink;
mod symph;
mod wav;

use sink::Sink;

use crate::{Error, Format, Result, sniff};

/// Bounds on what a decode may consume and produce. Every check happens
/// before the memory it protects is touched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Largest input accepted, in bytes. Default 64 MiB.
    pub max_bytes: usize,
    /// Longest decoded audio accepted, in seconds. Default 600 (10 minutes).
    pub max_duration_secs: f64,
    /// Most channels accepted in a stream. Default 64.
    pub max_channels: u16,
    /// Highest source sample rate accepted, in Hz. Default 384,000. (The
    /// lowest is always [`crate::MIN_SAMPLE_RATE`], 1000 Hz.)
    pub max_sample_rate: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 64 << 20,
            max_duration_secs: 600.0,
            max_channels: 64,
            max_sample_rate: crate::MAX_SAMPLE_RATE,
        }
    }
}

/// How to decode: the output rate, an optional format hint, and limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeOptions {
    /// Rate of [`Decoded::samples`], in Hz. Default 16,000 (the model's input).
    pub target_rate: u32,
    /// The caller's label (e.g. OpenAI's `input_audio.format`). Used only for
    /// headerless formats or bytes that sniff as nothing; never against them.
    pub hint: Option<Format>,
    /// Rate of headerless input. `None`: 24 kHz for pcm16, 8 kHz for G.711.
    pub raw_rate: Option<u32>,
    pub limits: Limits,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            target_rate: 16_000,
            hint: None,
            raw_rate: None,
            limits: Limits::default(),
        }
    }
}

impl DecodeOptions {
    /// Default options with the given output rate.
    pub fn with_rate(target_rate: u32) -> Self {
        DecodeOptions {
            target_rate,
            ..Self::default()
        }
    }
}

/// Decoded audio: mono `f32` in [-1, 1] at [`DecodeOptions::target_rate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    /// The format the bytes turned out to be.
    pub source_format: Format,
    /// The stream's own rate and channel count, before mixdown and resampling.
    pub source_rate: u32,
    pub source_channels: u16,
    /// Duration of the decoded audio in milliseconds (rounded).
    pub duration_ms: u64,
}

/// Decodes `bytes`, recognising the format from the bytes themselves.
///
/// The hint decides only when the bytes have no recognisable header: it must
/// then be a headerless format (`pcm16`, `mulaw`, `alaw`), or a container
/// whose reader is tried as a last resort. A hint that contradicts
/// recognisable bytes is ignored (the result's `source_format` says what the
/// bytes were).
pub fn decode(bytes: &[u8], opts: &DecodeOptions) -> Result<Decoded> {
    check_input(bytes, opts)?;
    let format = match (sniff(bytes), opts.hint) {
        (Some(f), _) => f,
        (None, Some(h)) => h,
        (None, None) => return Err(Error::UnknownFormat { hint: None }),
    };
    match decode_as(bytes, format, opts) {
        // A container hint the bytes do not support is reported as such.
        Err(
            Error::Corrupt { .. }
            | Error::Truncated { .. }
            | Error::InvalidHeader { .. }
            | Error::Unsupported { .. },
        ) if sniff(bytes).is_none() && !format.is_headerless() => {
            Err(Error::UnknownFormat { hint: Some(format) })
        }
        other => other,
    }
}

/// Decodes `bytes` as `format` without sniffing (for callers that already
/// know, and for fuzzing one reader at a time).
pub fn decode_as(bytes: &[u8], format: Format, opts: &DecodeOptions) -> Result<Decoded> {
    check_input(bytes, opts)?;
    Error::check_rate(
        opts.target_rate,
        crate::MIN_SAMPLE_RATE,
        crate::MAX_SAMPLE_RATE,
    )?;
    let mut sink = Sink::new(format, opts);
    match format {
        Format::Wav => wav::decode(bytes, &mut sink)?,
        Format::Pcm16 | Format::Mulaw | Format::Alaw => {
            raw::decode(bytes, format, opts, &mut sink)?
        }
        Format::Opus => ogg_opus::decode(bytes, &mut sink)?,
        Format::Mp3 | Format::Flac | Format::Vorbis | Format::WebM | Format::Aac | Format::Mp4 => {
            symph::decode(bytes, format, &mut sink)?
        }
    }
    sink.finish()
}

fn check_input(bytes: &[u8], opts: &DecodeOptions) -> Result<()> {
    if bytes.is_empty() {
        return Err(Error::Empty);
    }
    if bytes.len() > opts.limits.max_bytes {
        return Err(Error::TooLarge {
            len: bytes.len(),
            limit: opts.limits.max_bytes,
        });
    }
    Ok(())
}
