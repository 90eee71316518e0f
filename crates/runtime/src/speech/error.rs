//! The speech pipeline's error type.

use super::voices::VoiceError;
use crate::sampling::SamplingError;
use crate::thinker_session::SessionError;

/// What can go wrong while speaking.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpeechError {
    /// Loading or running the talker (or the thinker).
    #[error(transparent)]
    Model(#[from] omnivox_model::Error),
    /// Loading or running Code2Wav.
    #[error(transparent)]
    Codec(#[from] omnivox_codec::Error),
    /// Templates, tokenization, detokenization.
    #[error(transparent)]
    Tokenizer(#[from] omnivox_tokenizer::Error),
    /// Sampling parameters, or nothing left to sample.
    #[error(transparent)]
    Sampling(#[from] SamplingError),
    /// An unknown voice, or a voice configuration naming missing speakers.
    #[error(transparent)]
    Voice(#[from] VoiceError),
    /// The thinker session.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// A request that cannot be served.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The checkpoint's talker and Code2Wav do not fit together.
    #[error("the checkpoint cannot speak: {0}")]
    Incompatible(String),
    /// A broken invariant (a bug), never a client's mistake.
    #[error("internal error: {0}")]
    Internal(String),
}
