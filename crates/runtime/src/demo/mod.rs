//! The `demo` model: a tiny, randomly initialised checkpoint with
//! Qwen3-Omni's exact layout (thinker with its audio encoder, talker with
//! its code predictor, Code2Wav; a byte-level BPE tokenizer with Qwen's
//! special tokens; the Qwen3-Omni chat template), so that anyone can try the
//! API on any machine without a download. Its replies are noise; the
//! engine built on it says so ([`ModelInfo::is_demo`](crate::api::ModelInfo::is_demo)).
//!
//! [`ensure`] creates it on first use, deterministically (the same bytes on
//! every machine), in a cache directory, atomically (built beside, then
//! renamed into place); later starts reuse it. Its Code2Wav has the released
//! model's frame rate (1920 samples per frame at 24 kHz), so durations are
//! realistic even though the sound is not.

mod config;
mod tokenizer;

use crate::engine::EngineConfig;
use burn::tensor::backend::Backend;
use omnivox_codec::Code2Wav;
use omnivox_model::loader::{RandomWeights, StoredDtype, VarBuilder};
use omnivox_model::qwen3_omni::{Qwen3OmniMoeConfig, Qwen3OmniTalker, Qwen3OmniThinker};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The name the demo is served under.
pub const SERVED_NAME: &str = "omnivox-demo";
/// Bumped whenever the demo's files change, so an old cache is not reused.
pub const VERSION: u32 = 1;
/// The seed of its weights.
const SEED: u64 = 0x0DE0_0DE0;
/// BPE merges of its tokenizer.
const MERGES: usize = 700;
/// 2026-01-01T00:00:00Z: its `created` date.
const CREATED: u64 = 1_767_225_600;

/// Why the demo could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    #[error("cannot write the demo model to {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build the demo model: {0}")]
    Build(String),
}

/// Where caches live: `$OMNIVOX_CACHE`, else `$XDG_CACHE_HOME/omnivox`,
/// else `$HOME/.cache/omnivox`, else a directory under the system temp dir.
pub fn default_cache_root() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("OMNIVOX_CACHE")
        .or_else(|| env("XDG_CACHE_HOME").map(|p| p.join("omnivox")))
        .or_else(|| env("HOME").map(|p| p.join(".cache").join("omnivox")))
        .unwrap_or_else(|| std::env::temp_dir().join("omnivox-cache"))
}

/// The demo checkpoint's directory under `cache_root`.
pub fn dir(cache_root: &Path) -> PathBuf {
    cache_root.join(format!("demo-v{VERSION}"))
}

/// The demo checkpoint under `cache_root`, created first if it is missing.
pub fn ensure(cache_root: &Path) -> Result<PathBuf, DemoError> {
    let target = dir(cache_root);
    if target.join("config.json").is_file() && target.join("model.safetensors").is_file() {
        return Ok(target);
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DemoError::Io { path, source }
    };
    std::fs::create_dir_all(cache_root).map_err(io(cache_root))?;
    let tmp = cache_root.join(format!("demo-v{VERSION}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    write(&tmp)?;
    match std::fs::rename(&tmp, &target) {
        Ok(()) => {}
        // Another process finished first: use its copy.
        Err(_) if target.join("model.safetensors").is_file() => {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        Err(e) => return Err(io(&target)(e)),
    }
    tracing::info!(dir = %target.display(), "created the demo model");
    Ok(target)
}

/// Writes every file of the demo checkpoint into `dir`.
pub fn write(dir: &Path) -> Result<(), DemoError> {
    let io = |path: PathBuf| move |source| DemoError::Io { path, source };
    std::fs::create_dir_all(dir).map_err(io(dir.to_path_buf()))?;
    let corpus = include_str!("corpus.txt");
    let (tok, ids) = tokenizer::tokenizer_json(corpus, MERGES);
    let json = |v: &serde_json::Value| {
        serde_json::to_string_pretty(v).map_err(|e| DemoError::Build(e.to_string()))
    };
    let put =
        |name: &str, text: String| std::fs::write(dir.join(name), text).map_err(io(dir.join(name)));
    put("tokenizer.json", json(&tok)?)?;
    put(
        "tokenizer_config.json",
        json(&tokenizer::tokenizer_config())?,
    )?;
    let template = include_str!(
        "../../../../tools/reference/data/chat_templates/qwen3-omni-30b-a3b-thinking.chat_template.json"
    );
    put("chat_template.json", template.to_owned())?;
    // The role words' first tokens, as the talker looks for them.
    let tk =
        omnivox_tokenizer::Tokenizer::from_dir(dir).map_err(|e| DemoError::Build(e.to_string()))?;
    let first = |w: &str| -> Result<u32, DemoError> {
        tk.encode(w, false)
            .map_err(|e| DemoError::Build(e.to_string()))?
            .first()
            .copied()
            .ok_or_else(|| DemoError::Build(format!("`{w}` encodes to nothing")))
    };
    let roles = config::Roles {
        system: first("system")?,
        user: first("user")?,
        assistant: first("assistant")?,
    };
    let vocab = tk.vocab_size();
    let cfg = config::config_json(&ids, &roles, vocab);
    put(
        "generation_config.json",
        json(&config::generation_config(&ids))?,
    )?;
    weights::<burn_flex::Flex>(dir, &cfg)
}

/// Random weights for every tensor the three models read, written with the
/// config as `model.safetensors` + `config.json`.
fn weights<B: Backend>(dir: &Path, cfg: &serde_json::Value) -> Result<(), DemoError> {
    let build = |e: omnivox_model::Error| DemoError::Build(e.to_string());
    let parsed: Qwen3OmniMoeConfig =
        serde_json::from_value(cfg.clone()).map_err(|e| DemoError::Build(e.to_string()))?;
    let source = RandomWeights::new(SEED, 0.02);
    let device = B::Device::default();
    let vb = VarBuilder::<B>::new(&source, &device);
    Qwen3OmniThinker::load(&vb.pp("thinker"), &parsed.thinker_config).map_err(build)?;
    let talker = parsed
        .talker_config
        .as_ref()
        .ok_or_else(|| DemoError::Build("the demo config has no talker".into()))?;
    Qwen3OmniTalker::load(&vb.pp("talker"), talker).map_err(build)?;
    let code2wav = parsed
        .code2wav_config
        .as_ref()
        .ok_or_else(|| DemoError::Build("the demo config has no code2wav".into()))?;
    Code2Wav::load(&vb.pp("code2wav"), code2wav).map_err(|e| DemoError::Build(e.to_string()))?;
    source
        .write_checkpoint(dir, StoredDtype::F32, cfg)
        .map_err(build)
}

/// The engine settings the demo runs with: marked as the demo, short
/// replies, a small KV pool.
pub fn engine_config() -> EngineConfig {
    EngineConfig {
        served_name: Some(SERVED_NAME.into()),
        owned_by: "omnivox".into(),
        is_demo: true,
        created: Some(CREATED),
        kv_cache_bytes: 64 << 20,
        max_output_audio_tokens: 4096,
        audio_ttl: Duration::from_secs(3600),
        ..EngineConfig::default()
    }
}

#[cfg(test)]
mod tests;
