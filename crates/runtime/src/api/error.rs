//! The engine's typed errors. The server maps each variant to one HTTP status
//! and error shape (see `docs/api.md`); nothing here knows HTTP.

use std::time::Duration;

/// Why the engine refused or abandoned a request.
///
/// Variants that blame the request name the field at fault in the request
/// vocabulary of [`crate::api`], spelled as in OpenAI's API, which these types
/// mirror: `"messages"`, `"max_completion_tokens"`, `"tools[0].parameters"`,
/// `"stop"`, `"seed"`, `"audio.voice"` (for [`crate::api::SpeechOutput::voice`]),
/// `"speed"`, `"input"` (for [`crate::api::SpeakTask::text`]), `"file"` (for
/// [`crate::api::TranscribeTask::audio`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A value the engine cannot accept (a limit, a range, a tool schema it
    /// cannot compile into a grammar, a voice it does not have).
    #[error("invalid value for `{param}`: {message}")]
    InvalidRequest { param: String, message: String },

    /// The prompt does not fit the context window with room for the reply.
    #[error(
        "this model's maximum context length is {limit} tokens, but the request needs {requested}"
    )]
    ContextLengthExceeded { requested: u32, limit: u32 },

    /// An earlier spoken reply referred to by id is unknown or has expired.
    #[error("audio `{id}` is unknown or has expired")]
    UnknownAudioId { id: String },

    /// The queue or the KV pool stayed full for the admission bound.
    /// `retry_after` is the engine's estimate of when to try again.
    #[error("the engine is overloaded ({reason}); retry after {retry_after:?}")]
    Overloaded {
        retry_after: Duration,
        reason: String,
    },

    /// The engine is loading its model, or shutting down, and takes no work.
    #[error("the engine is not accepting work: {reason}")]
    Unavailable { reason: String },

    /// The engine cannot do what was asked (e.g. speech output from a
    /// checkpoint without a talker). `param` names the field that asked.
    #[error("unsupported `{param}`: {message}")]
    Unsupported { param: String, message: String },

    /// A bug or a failed device: never the client's fault. The message is
    /// for logs; the server does not show it to clients.
    #[error("internal engine error: {0}")]
    Internal(String),
}

impl EngineError {
    /// [`EngineError::InvalidRequest`] from anything printable.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidRequest {
            param: param.into(),
            message: message.into(),
        }
    }
}
