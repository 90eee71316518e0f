//! The crate's one error type. Every variant names the problem in words a
//! client can act on; none carries a panic or an internal backtrace.

use crate::Format;

/// What went wrong while decoding, encoding, resampling or stretching audio.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input holds no bytes at all.
    #[error("the audio input is empty")]
    Empty,
    /// The input is larger than [`crate::Limits::max_bytes`].
    #[error("the audio input is {len} bytes, more than the limit of {limit} bytes")]
    TooLarge { len: usize, limit: usize },
    /// The decoded audio is longer than [`crate::Limits::max_duration_secs`].
    #[error("the audio is longer than the limit of {limit_secs} seconds")]
    TooLong { limit_secs: f64 },
    /// Neither the bytes nor the caller's label identify a format we read.
    #[error("the audio format could not be recognised from its bytes{}", hint_note(.hint))]
    UnknownFormat { hint: Option<Format> },
    /// A label that names no format we know (`"wma"`, `"xyz"`).
    #[error("unknown audio format label `{0}`")]
    UnknownLabel(String),
    /// The container is fine but holds a codec or feature we do not read or write.
    #[error("{format}: unsupported {what}")]
    Unsupported { format: Format, what: String },
    /// The data ends before the header, a frame or a chunk says it should.
    #[error("{format}: the data is truncated ({what})")]
    Truncated { format: Format, what: String },
    /// The data contradicts itself or the format's rules.
    #[error("{format}: corrupt data ({what})")]
    Corrupt { format: Format, what: String },
    /// A header field holds an impossible value (0 Hz, 0 channels, a block
    /// size that does not match the channel count, ...).
    #[error("{format}: invalid header ({what})")]
    InvalidHeader { format: Format, what: String },
    /// A sample rate outside what the operation accepts (`min ..= max` Hz).
    #[error("sample rate {rate} Hz is not supported (accepted: {min} to {max} Hz)")]
    InvalidSampleRate { rate: u32, min: u32, max: u32 },
    /// More channels than [`crate::Limits::max_channels`].
    #[error("{channels} channels is more than the limit of {limit}")]
    TooManyChannels { channels: u32, limit: u16 },
    /// A time-stretch speed outside 0.25 ..= 4.0 (or not a finite number).
    #[error("speed {0} is outside the supported range 0.25 to 4.0")]
    InvalidSpeed(f32),
    /// An encoder option outside what the codec accepts.
    #[error("invalid {what}: {detail}")]
    InvalidOption { what: &'static str, detail: String },
    /// The codec library refused to encode.
    #[error("{format} encoder failed: {detail}")]
    Encode { format: Format, detail: String },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

fn hint_note(hint: &Option<Format>) -> String {
    match hint {
        Some(f) => format!(" (the caller said {f}, but the bytes do not match)"),
        None => String::new(),
    }
}

impl Error {
    /// `InvalidSampleRate` unless `min <= rate <= max`.
    pub(crate) fn check_rate(rate: u32, min: u32, max: u32) -> Result<()> {
        if (min..=max).contains(&rate) {
            Ok(())
        } else {
            Err(Error::InvalidSampleRate { rate, min, max })
        }
    }

    pub(crate) fn corrupt(format: Format, what: impl Into<String>) -> Self {
        Error::Corrupt {
            format,
            what: what.into(),
        }
    }
    pub(crate) fn truncated(format: Format, what: impl Into<String>) -> Self {
        Error::Truncated {
            format,
            what: what.into(),
        }
    }
    pub(crate) fn header(format: Format, what: impl Into<String>) -> Self {
        Error::InvalidHeader {
            format,
            what: what.into(),
        }
    }
    pub(crate) fn unsupported(format: Format, what: impl Into<String>) -> Self {
        Error::Unsupported {
            format,
            what: what.into(),
        }
    }
    pub(crate) fn encode(format: Format, detail: impl std::fmt::Display) -> Self {
        Error::Encode {
            format,
            detail: detail.to_string(),
        }
    }
}
