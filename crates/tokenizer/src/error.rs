//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in `omnivox-tokenizer`.
///
/// Bad input (a message that is not an object, audio too short for the
/// feature extractor, a template that raises) is an error value naming the
/// problem, never a panic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file is not valid JSON or not the expected shape.
    #[error("parsing {path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The `tokenizers` library refused a file or an input.
    #[error("tokenizer: {0}")]
    Tokenizer(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A token the configuration names is not in the vocabulary.
    #[error("token {token:?} ({role}) is not in the vocabulary")]
    MissingToken {
        /// The token text.
        token: String,
        /// What the configuration uses it for, e.g. `audio_token`.
        role: String,
    },
    /// The checkpoint has no chat template where transformers would look.
    #[error("no chat template found in {0}")]
    NoChatTemplate(PathBuf),
    /// A named chat template was asked for but does not exist, or several
    /// exist and none is named `default`.
    #[error("no chat template named {wanted:?}; available: {available:?}")]
    TemplateNotFound {
        /// The name asked for (`default` when none was given).
        wanted: String,
        /// The names that exist.
        available: Vec<String>,
    },
    /// The template text does not compile.
    #[error("chat template syntax error: {0}")]
    TemplateSyntax(String),
    /// The template called `raise_exception(message)`.
    #[error("chat template raised: {0}")]
    TemplateRaised(String),
    /// Rendering failed (undefined attribute, wrong types, …).
    #[error("chat template render error: {0}")]
    TemplateRender(String),
    /// The messages, tools or flags handed to the template are malformed.
    #[error("invalid chat input: {0}")]
    InvalidChatInput(String),
    /// A feature extractor or processor configuration is unusable.
    #[error("invalid config {field}: {reason}")]
    Config {
        /// The offending field.
        field: &'static str,
        /// Why it is unusable.
        reason: String,
    },
    /// The (padded) audio batch is shorter than the STFT's reflect padding
    /// allows; the reference fails the same way.
    #[error("audio of {samples} samples is too short: the feature extractor needs at least {min}")]
    AudioTooShort {
        /// The longest clip's length in samples.
        samples: usize,
        /// The minimum (`n_fft / 2 + 1`).
        min: usize,
    },
    /// A sample is NaN or infinite.
    #[error("audio clip {clip} has a non-finite sample at index {index}")]
    NonFiniteSample {
        /// Which clip in the batch.
        clip: usize,
        /// Sample index.
        index: usize,
    },
    /// The rendered prompt has a different number of audio placeholders than
    /// audio clips were given.
    #[error(
        "the prompt has {placeholders} audio placeholder(s) but {clips} audio clip(s) were given"
    )]
    AudioCountMismatch {
        /// Placeholders found in the rendered prompt.
        placeholders: usize,
        /// Clips given.
        clips: usize,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn tokenizer(e: Box<dyn std::error::Error + Send + Sync>) -> Self {
        Error::Tokenizer(e)
    }
}

/// Reads a whole file, naming it in the error.
pub(crate) fn read_to_string(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads and parses a JSON file, naming it in the error.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T> {
    let text = read_to_string(path)?;
    serde_json::from_str(&text).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })
}
