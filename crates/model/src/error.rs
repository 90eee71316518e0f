//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while loading or running a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A safetensors file or shard index is malformed.
    #[error("{path}: malformed checkpoint: {reason}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A tensor is stored with a dtype the loader cannot convert.
    #[error("tensor `{name}`: unsupported dtype {dtype} (expected {expected})")]
    Dtype {
        /// The tensor's checkpoint name.
        name: String,
        /// Its stored dtype, as safetensors spells it.
        dtype: String,
        /// What the caller can accept.
        expected: &'static str,
    },
    /// A tensor asked for by name is not in the checkpoint.
    #[error("tensor `{0}` is not in the checkpoint")]
    MissingTensor(String),
    /// Loading finished with missing, wrong-shaped or unexpected tensors; every
    /// problem is listed.
    #[error("{0}")]
    Load(crate::loader::LoadReport),
    /// `config.json` could not be parsed (a missing required field is named).
    #[error("{path}: {reason}")]
    Config {
        /// The file (or `<json>` when parsed from a string).
        path: PathBuf,
        /// The parse error, naming the field.
        reason: String,
    },
    /// A configuration value is outside what the model supports.
    #[error("config field `{field}`: {reason}")]
    InvalidConfig {
        /// The `config.json` field name.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A forward call was given inputs that do not fit the model.
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
