//! omnivox-audio: bytes on the wire ↔ mono `f32` samples.
//!
//! - [`decode`] / [`decode_as`]: WAV, MP3, FLAC, Ogg Opus, Ogg Vorbis,
//!   WebM/Matroska (Opus), AAC (ADTS), MP4/M4A, headerless pcm16, µ-law and
//!   A-law → mono `f32` at the rate you ask for; the format is sniffed from
//!   the bytes ([`sniff`]) and bounded by [`Limits`].
//! - [`encode`] and [`StreamEncoder`]: mono `f32` → WAV, pcm16, µ-law, A-law,
//!   Ogg Opus, FLAC, MP3, whole or as playable [`Chunk`]s with timestamps.
//! - [`Resampler`] / [`resample`] and [`pcm::mixdown`]: rate and channel conversion.
//! - [`TimeStretch`] / [`time_stretch`]: pitch-preserving speed change (WSOLA).
//!
//! Never panics on input bytes and never allocates by a header's claim.
//! docs/audio.md lists every format with its limits.

mod decode;
mod encode;
mod error;
mod format;
mod frames;
pub mod pcm;
mod resample;
mod stretch;

pub use decode::{DecodeOptions, Decoded, Limits, decode, decode_as};
pub use encode::{Chunk, EncodeOptions, StreamEncoder, encode};
pub use error::{Error, Result};
pub use format::{Format, sniff};
pub use resample::{Resampler, resample};
pub use stretch::{MAX_SPEED, MIN_SPEED, TimeStretch, time_stretch};

/// The lowest sample rate decoded, encoded or stretched (anything lower is an
/// absurd header, not audio).
pub const MIN_SAMPLE_RATE: u32 = 1_000;
/// The highest rate the encoders and stretcher take, and the default
/// [`Limits::max_sample_rate`].
pub const MAX_SAMPLE_RATE: u32 = 384_000;

/// The rate the speech model consumes (Whisper-style features): 16 kHz.
pub const MODEL_INPUT_RATE: u32 = 16_000;
/// The rate the speech codec produces (Qwen3-Omni's Code2Wav): 24 kHz.
pub const SPEECH_OUTPUT_RATE: u32 = 24_000;

#[cfg(test)]
mod tests {
    use super::*;

    /// The runtime moves these between threads and wraps `Error` in anyhow.
    #[test]
    fn public_types_are_send_and_errors_sync() {
        fn send<T: Send + 'static>() {}
        fn sync<T: Send + Sync + std::error::Error + 'static>() {}
        send::<StreamEncoder>();
        send::<TimeStretch>();
        send::<Resampler>();
        send::<Decoded>();
        send::<Chunk>();
        sync::<Error>();
    }
}
