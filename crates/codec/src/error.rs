//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while loading Code2Wav or decoding codes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Loading the checkpoint failed (missing, wrong-shaped or unexpected
    /// tensors are all listed), or a model-core operation failed.
    #[error(transparent)]
    Model(#[from] omnivox_model::Error),
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// `config.json` could not be parsed (a missing or mistyped field is
    /// named).
    #[error("{path}: {reason}")]
    Config {
        /// The file (or `<json>` when parsed from a value).
        path: PathBuf,
        /// The parse error.
        reason: String,
    },
    /// A configuration value is outside what Code2Wav supports.
    #[error("code2wav_config field `{field}`: {reason}")]
    InvalidConfig {
        /// The `code2wav_config` field name.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The codes handed in are not a whole number of frames.
    #[error("{len} codes are not a whole number of frames of {num_quantizers} codes")]
    RaggedFrames {
        /// How many codes were given.
        len: usize,
        /// Codes per frame (`num_quantizers`).
        num_quantizers: usize,
    },
    /// A code tensor has the wrong number of quantizer rows.
    #[error("expected {expected} quantizer rows of codes, got {got}")]
    QuantizerCount {
        /// `num_quantizers`.
        expected: usize,
        /// Rows given.
        got: usize,
    },
    /// A code is outside its codebook.
    #[error(
        "code {code} of quantizer {quantizer} in frame {frame} is outside the codebook of {codebook_size}"
    )]
    CodeOutOfRange {
        /// The offending value.
        code: i64,
        /// Its quantizer (row).
        quantizer: usize,
        /// Its frame, counted from the start of the call.
        frame: usize,
        /// `codebook_size`.
        codebook_size: usize,
    },
    /// Streaming parameters that cannot work (zero chunk size).
    #[error("invalid streaming parameters: {0}")]
    InvalidStream(String),
    /// A stream was used after [`finish`](crate::StreamingDecoder::finish).
    #[error("the stream is already finished")]
    StreamFinished,
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
