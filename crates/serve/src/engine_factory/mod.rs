//! Building the engine for `--model demo|DIR|HF_REPO_ID` on `--device`.
//!
//! - `demo` (the default): the tiny random Qwen3-Omni-shaped checkpoint,
//!   created on first use in the omnivox cache
//!   (`omnivox_runtime::demo::ensure`); its replies are noise and the
//!   engine says so.
//! - a directory: a checkpoint in Hugging Face layout.
//! - `org/name[@revision]`: downloaded from the Hugging Face Hub into the
//!   standard Hugging Face cache, with a progress bar, resuming an
//!   interrupted download ([`hub`]).
//!
//! `--device cpu` runs on burn's flex backend, `cuda:N` on CUDA device N
//! (a build with the `cuda` feature). The engine is returned while its
//! weights load on the engine thread (`/ready` answers 503 meanwhile); its
//! `info()` is final at once. Spoken replies are kept in memory, or in Redis
//! when `OMNIVOX_REDIS_URL` is set (several replicas behind one balancer).

pub mod hub;
pub mod progress;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use omnivox_runtime::api::Engine;
use omnivox_runtime::audio_store::{AudioStore, MemoryAudioStore};
use omnivox_runtime::engine::{self, Device, EngineConfig};

/// What to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSpec {
    /// `demo`, a checkpoint directory, or a Hugging Face repo id.
    pub model: String,
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// The thinker's weights: `none` (dense), `int8` or `nf4`.
    pub quantization: engine::Quantization,
}

/// Why no engine could be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("invalid --device `{0}`: use `cpu` or `cuda:N`")]
    InvalidDevice(String),
    #[error(
        "--model `{0}` is neither `demo`, a checkpoint directory, nor a Hugging Face repo id (`org/name`)"
    )]
    UnknownModel(String),
    #[error("{0} has no config.json: not a checkpoint directory")]
    NotACheckpoint(PathBuf),
    #[error(transparent)]
    Demo(#[from] omnivox_runtime::demo::DemoError),
    #[error(transparent)]
    Hub(#[from] hub::HubError),
    #[error(transparent)]
    Start(Box<engine::StartError>),
    #[error("the audio store: {0}")]
    Store(String),
    #[error("a background task failed: {0}")]
    Task(String),
}

impl From<engine::StartError> for BuildError {
    fn from(e: engine::StartError) -> Self {
        Self::Start(Box::new(e))
    }
}

/// Checks a `--device` value.
pub fn check_device(device: &str) -> Result<(), BuildError> {
    parse_device(device).map(|_| ())
}

/// `cpu` or `cuda:N`.
pub fn parse_device(device: &str) -> Result<Device, BuildError> {
    if device == "cpu" {
        return Ok(Device::Cpu);
    }
    device
        .strip_prefix("cuda:")
        .filter(|n| !n.is_empty())
        .and_then(|n| n.parse::<usize>().ok())
        .map(Device::Cuda)
        .ok_or_else(|| BuildError::InvalidDevice(device.to_owned()))
}

/// Where the checkpoint comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    Demo,
    Dir(PathBuf),
    Hub(hub::RepoRef),
}

/// Reads `--model`: `demo`, an existing directory, else a repo id.
pub fn model_source(model: &str) -> Result<ModelSource, BuildError> {
    if model == "demo" {
        return Ok(ModelSource::Demo);
    }
    let path = Path::new(model);
    if path.is_dir() {
        return Ok(ModelSource::Dir(path.to_path_buf()));
    }
    hub::RepoRef::parse(model)
        .map(ModelSource::Hub)
        .ok_or_else(|| BuildError::UnknownModel(model.to_owned()))
}

/// A served name from a directory or repo name: lowercase, no spaces.
fn served_name(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The checkpoint directory and engine settings for a source (downloads
/// and creates on the calling thread: run it off the async executor).
fn prepare(source: &ModelSource) -> Result<(PathBuf, EngineConfig), BuildError> {
    match source {
        ModelSource::Demo => {
            let dir = omnivox_runtime::demo::ensure(&omnivox_runtime::demo::default_cache_root())?;
            Ok((dir, omnivox_runtime::demo::engine_config()))
        }
        ModelSource::Dir(dir) => {
            if !dir.join("config.json").is_file() {
                return Err(BuildError::NotACheckpoint(dir.clone()));
            }
            let name = dir
                .canonicalize()
                .ok()
                .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "omnivox-model".into());
            let config = EngineConfig {
                served_name: Some(served_name(&name)),
                owned_by: "local".into(),
                ..EngineConfig::default()
            };
            Ok((dir.clone(), config))
        }
        ModelSource::Hub(repo) => {
            let dir = hub::download(
                &hub::Hub::from_env(),
                repo,
                &mut progress::TerminalProgress::default(),
            )?;
            let (org, name) = repo.repo.split_once('/').unwrap_or(("", &repo.repo));
            let config = EngineConfig {
                served_name: Some(served_name(name)),
                owned_by: org.to_lowercase(),
                ..EngineConfig::default()
            };
            Ok((dir, config))
        }
    }
}

/// The audio store: Redis at `OMNIVOX_REDIS_URL`, else in memory.
fn audio_store() -> Result<Arc<dyn AudioStore>, BuildError> {
    let url = std::env::var("OMNIVOX_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty());
    match url {
        None => Ok(Arc::new(MemoryAudioStore::default())),
        #[cfg(feature = "redis")]
        Some(url) => {
            let store = omnivox_runtime::audio_store::RedisAudioStore::new(&url, "omnivox:audio:")
                .map_err(|e| BuildError::Store(e.to_string()))?;
            tracing::info!("spoken replies are kept in Redis");
            Ok(Arc::new(store))
        }
        #[cfg(not(feature = "redis"))]
        Some(_) => Err(BuildError::Store(
            "OMNIVOX_REDIS_URL is set but this build has no Redis support (feature `redis`)".into(),
        )),
    }
}

/// Builds the engine (see the module documentation).
pub async fn build_engine(spec: &EngineSpec) -> Result<Arc<dyn Engine>, BuildError> {
    let device = parse_device(&spec.device)?;
    let source = model_source(&spec.model)?;
    let quantization = spec.quantization;
    tokio::task::spawn_blocking(move || {
        let (dir, mut config) = prepare(&source)?;
        config.quantization = quantization;
        let store = audio_store()?;
        tracing::info!(dir = %dir.display(), ?device, "starting the engine");
        Ok(engine::start(&dir, device, config, store)?)
    })
    .await
    .map_err(|e| BuildError::Task(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices() {
        assert_eq!(parse_device("cpu").unwrap(), Device::Cpu);
        assert_eq!(parse_device("cuda:1").unwrap(), Device::Cuda(1));
        assert!(check_device("cuda:").is_err());
        assert!(check_device("gpu").is_err());
    }

    #[test]
    fn model_sources() {
        assert_eq!(model_source("demo").unwrap(), ModelSource::Demo);
        let tmp = std::env::temp_dir();
        assert_eq!(
            model_source(tmp.to_str().unwrap()).unwrap(),
            ModelSource::Dir(tmp.clone())
        );
        assert_eq!(
            model_source("Qwen/Qwen3-Omni-30B-A3B-Instruct").unwrap(),
            ModelSource::Hub(hub::RepoRef {
                repo: "Qwen/Qwen3-Omni-30B-A3B-Instruct".into(),
                revision: "main".into()
            })
        );
        assert!(
            matches!(model_source("org/name@v1.0").unwrap(), ModelSource::Hub(r) if r.revision == "v1.0")
        );
        for bad in [
            "nope",
            "a/b/c/../x",
            "../etc/passwd-ish/x",
            "org/",
            "/name",
            "org/na me",
        ] {
            assert!(model_source(bad).is_err(), "{bad}");
        }
        assert_eq!(
            served_name("Qwen3-Omni-30B-A3B_Instruct"),
            "qwen3-omni-30b-a3b-instruct"
        );
    }
}
