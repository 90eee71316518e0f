//! Server configuration: `omnivox.toml`, the environment, then flags, each
//! overriding the one before. Plain data with explicit defaults; validated in
//! one place ([`ServeConfig::validate`]) that names the bad field.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// Everything `omnivox serve` needs besides the engine.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// `[server]`.
    pub server: ServerSection,
    /// `[model]`.
    pub model: ModelSection,
    /// `[limits]`.
    pub limits: Limits,
    /// `[voices]`: API voice name → the model's voice name. Replaces the
    /// default mapping (see `docs/api.md`) for the names it lists.
    pub voices: BTreeMap<String, String>,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    /// Address to bind. Default `127.0.0.1`: reachable from this machine only.
    pub host: String,
    /// Default 8000.
    pub port: u16,
    /// Accepted Bearer tokens. Empty: the server is open (and says so).
    pub api_keys: Vec<String>,
    /// On SIGTERM, how long in-flight requests may take to finish.
    pub shutdown_grace_secs: u64,
}

/// `[model]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSection {
    /// `demo`, a local checkpoint directory, or a Hugging Face repo id.
    pub model: String,
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// Extra model ids that serve this model (e.g. `gpt-4o-audio-preview`).
    pub aliases: Vec<String>,
    /// `none`, `int8` or `nf4`: the thinker's weights, quantized at load.
    pub quantization: omnivox_runtime::engine::Quantization,
}

/// `[limits]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request body, in bytes (413 above).
    pub max_body_bytes: usize,
    /// Largest single audio input after base64 decoding, in bytes (413 above).
    pub max_audio_bytes: usize,
    /// Longest single audio input, in seconds (413 above).
    pub max_audio_seconds: f64,
    /// Most requests in flight at once; more get 429 with Retry-After.
    pub max_concurrent_requests: usize,
    /// Most characters of `input` for `/v1/audio/speech` (OpenAI: 4,096).
    pub max_speech_input_chars: usize,
    /// Most messages in one chat request.
    pub max_messages: usize,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8000,
            api_keys: Vec::new(),
            shutdown_grace_secs: 30,
        }
    }
}

impl Default for ModelSection {
    fn default() -> Self {
        Self {
            model: "demo".into(),
            device: "cpu".into(),
            quantization: omnivox_runtime::engine::Quantization::None,
            aliases: DEFAULT_ALIASES.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// The OpenAI model names that serve the loaded model by default, so that
/// code written for OpenAI runs unchanged.
pub const DEFAULT_ALIASES: &[&str] = &[
    "gpt-4o-audio-preview",
    "gpt-4o-mini-audio-preview",
    "gpt-audio",
    "gpt-audio-mini",
    "tts-1",
    "gpt-4o-mini-tts",
    "whisper-1",
    "gpt-4o-transcribe",
];

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 48 * 1024 * 1024,
            max_audio_bytes: 25 * 1024 * 1024,
            max_audio_seconds: 1200.0,
            max_concurrent_requests: 256,
            max_speech_input_chars: 4096,
            max_messages: 2048,
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("invalid configuration: `{field}` {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

impl ServeConfig {
    /// Reads `omnivox.toml`-style TOML.
    pub fn from_toml(text: &str, path: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// Reads a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::from_toml(&text, &shown)
    }

    /// Adds keys from `OMNIVOX_API_KEYS` (comma-separated) and
    /// `OMNIVOX_API_KEY`.
    pub fn add_env_keys(&mut self, get: impl Fn(&str) -> Option<String>) {
        for var in ["OMNIVOX_API_KEYS", "OMNIVOX_API_KEY"] {
            if let Some(v) = get(var) {
                let keys = v.split(',').map(str::trim).filter(|k| !k.is_empty());
                self.server.api_keys.extend(keys.map(str::to_owned));
            }
        }
    }

    /// The grace period on SIGTERM.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.server.shutdown_grace_secs)
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field, message: &str| {
            Err(ConfigError::Invalid {
                field,
                message: message.to_owned(),
            })
        };
        let l = &self.limits;
        if l.max_body_bytes < 1024 {
            return bad("limits.max_body_bytes", "must be at least 1024");
        }
        if l.max_audio_bytes == 0 {
            return bad("limits.max_audio_bytes", "must be positive");
        }
        if !(l.max_audio_seconds.is_finite() && l.max_audio_seconds > 0.0) {
            return bad("limits.max_audio_seconds", "must be a positive number");
        }
        if l.max_concurrent_requests == 0 {
            return bad("limits.max_concurrent_requests", "must be positive");
        }
        if l.max_messages == 0 {
            return bad("limits.max_messages", "must be positive");
        }
        if self.server.host.trim().is_empty() {
            return bad("server.host", "must not be empty");
        }
        if self.server.api_keys.iter().any(|k| k.trim().is_empty()) {
            return bad("server.api_keys", "must not contain empty keys");
        }
        for alias in &self.model.aliases {
            if alias.trim().is_empty() || alias.contains(char::is_whitespace) {
                return bad(
                    "model.aliases",
                    "entries must be non-empty and without spaces",
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_file() {
        let cfg = ServeConfig::from_toml(
            r#"
            [server]
            host = "0.0.0.0"
            port = 9000
            api_keys = ["k1"]
            [model]
            model = "Qwen/Qwen3-Omni-30B-A3B-Instruct"
            aliases = ["gpt-4o-audio-preview"]
            [limits]
            max_body_bytes = 2048
            [voices]
            alloy = "Ethan"
            "#,
            "t.toml",
        )
        .expect("parses");
        assert_eq!(cfg.server.port, 9000);
        assert_eq!(cfg.limits.max_body_bytes, 2048);
        assert_eq!(cfg.limits.max_messages, Limits::default().max_messages);
        assert_eq!(cfg.voices["alloy"], "Ethan");
        cfg.validate().expect("valid");
    }

    #[test]
    fn names_bad_fields() {
        let e = ServeConfig::from_toml("[server]\nprot = 1\n", "t.toml").expect_err("typo");
        assert!(e.to_string().contains("prot"), "{e}");
        let mut cfg = ServeConfig::default();
        cfg.limits.max_audio_seconds = f64::NAN;
        let e = cfg.validate().expect_err("nan");
        assert!(e.to_string().contains("limits.max_audio_seconds"), "{e}");
    }

    #[test]
    fn env_keys_are_split() {
        let mut cfg = ServeConfig::default();
        cfg.add_env_keys(|v| (v == "OMNIVOX_API_KEYS").then(|| "a, b,,c".to_owned()));
        assert_eq!(cfg.server.api_keys, ["a", "b", "c"]);
    }
}
