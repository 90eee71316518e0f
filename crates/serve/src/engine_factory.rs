//! Building the engine for `--model demo|DIR|HF_REPO_ID` on `--device`.
//!
//! **Not available yet.** The real engine is omnivox-runtime's (issue 6:
//! scheduling, KV pool, the Qwen3-Omni pipeline), and so are the demo
//! checkpoint's creation and Hugging Face downloads. Until it lands,
//! [`build_engine`] answers [`BuildError::EngineUnavailable`] and the binary
//! exits with that message; nothing pretends to be a model. This function is
//! the one place the runtime fills in.
//!
//! Contract for the implementation: return promptly with an engine whose
//! [`Engine::readiness`] is `Loading` while weights load in the background
//! (so `/ready` answers 503 meanwhile), and whose [`Engine::info`] is
//! already final.

use std::sync::Arc;

use omnivox_runtime::api::Engine;

/// What to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSpec {
    /// `demo`, a checkpoint directory, or a Hugging Face repo id.
    pub model: String,
    /// `cpu` or `cuda:N`.
    pub device: String,
}

/// Why no engine could be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "cannot serve `{model}`: the model engine (omnivox-runtime, issue 6) is not part of this build yet"
    )]
    EngineUnavailable { model: String },
    #[error("invalid --device `{0}`: use `cpu` or `cuda:N`")]
    InvalidDevice(String),
}

/// Checks a `--device` value.
pub fn check_device(device: &str) -> Result<(), BuildError> {
    let ok = device == "cpu"
        || device
            .strip_prefix("cuda:")
            .is_some_and(|n| !n.is_empty() && n.parse::<u32>().is_ok());
    if ok {
        Ok(())
    } else {
        Err(BuildError::InvalidDevice(device.to_owned()))
    }
}

/// Builds the engine (see the module documentation).
pub async fn build_engine(spec: &EngineSpec) -> Result<Arc<dyn Engine>, BuildError> {
    check_device(&spec.device)?;
    Err(BuildError::EngineUnavailable {
        model: spec.model.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices() {
        assert!(check_device("cpu").is_ok());
        assert!(check_device("cuda:0").is_ok());
        assert!(check_device("cuda:").is_err());
        assert!(check_device("gpu").is_err());
    }
}
