//! omnivox-codec: Qwen3-Omni's Code2Wav, codec codes → 24 kHz waveform,
//! whole and streamed.
//!
//! Reference: `Qwen3OmniMoeCode2Wav` in transformers 5.24
//! (`transformers/models/qwen3_omni_moe/modeling_qwen3_omni_moe.py`).
//!
//! - [`config`]: `code2wav_config` ([`Code2WavConfig`], omnivox-model's
//!   struct), its validation, samples per frame and output lengths;
//!   [`SAMPLE_RATE`].
//! - [`model`]: [`Code2Wav`] — loading (from a Qwen3-Omni checkpoint's
//!   `code2wav.` prefix or a standalone directory), `forward` /
//!   [`decode`](Code2Wav::decode) (whole utterance),
//!   [`chunked_decode`](Code2Wav::chunked_decode) (the reference's),
//!   [`step`](Code2Wav::step) (one stream step through a
//!   [`Code2WavState`]).
//! - [`stream`]: [`StreamingDecoder`] — push frames, get samples, in
//!   [`StreamMode::Exact`] (equals the whole decode) or
//!   [`StreamMode::Chunked`] (equals `chunked_decode`, i.e. `generate`).
//! - [`transformer`], [`blocks`], [`conv`]: the parts, each streaming
//!   through explicit state.

pub mod blocks;
pub mod config;
pub mod conv;
mod error;
pub mod model;
pub mod stream;
pub mod transformer;

pub use config::{Code2WavConfig, SAMPLE_RATE};
pub use error::{Error, Result};
pub use model::{Code2Wav, Code2WavState, DECODE_BLOCK_FRAMES};
pub use stream::{StreamMode, StreamingDecoder};
