//! [`AppState`]: what every handler shares — the engine, the configuration,
//! the model and voice catalogs, API keys, metrics and the lifecycle.

use std::sync::Arc;

use omnivox_runtime::api::{Engine, ModelInfo};

use crate::auth::ApiKeys;
use crate::catalog::{ModelCatalog, VoiceResolver};
use crate::config::ServeConfig;
use crate::lifecycle::Lifecycle;
use crate::metrics::ServerMetrics;

/// Cheap to clone; shared by all connections.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("model", &self.0.models.snapshot)
            .finish_non_exhaustive()
    }
}

struct Shared {
    engine: Arc<dyn Engine>,
    config: ServeConfig,
    models: ModelCatalog,
    voices: VoiceResolver,
    keys: ApiKeys,
    metrics: ServerMetrics,
    lifecycle: Arc<Lifecycle>,
    fingerprint: String,
}

impl AppState {
    /// State for `engine` under `config` (already validated).
    pub fn new(engine: Arc<dyn Engine>, config: ServeConfig) -> Self {
        let info = engine.info().clone();
        let models = ModelCatalog::new(&info, &config.model.aliases);
        let voices = VoiceResolver::new(&info, &config.voices);
        let keys = ApiKeys::new(&config.server.api_keys);
        let fingerprint = fingerprint(&info);
        Self(Arc::new(Shared {
            engine,
            config,
            models,
            voices,
            keys,
            metrics: ServerMetrics::default(),
            lifecycle: Arc::new(Lifecycle::default()),
            fingerprint,
        }))
    }

    pub fn engine(&self) -> &dyn Engine {
        self.0.engine.as_ref()
    }

    pub fn info(&self) -> &ModelInfo {
        self.0.engine.info()
    }

    pub fn config(&self) -> &ServeConfig {
        &self.0.config
    }

    pub fn models(&self) -> &ModelCatalog {
        &self.0.models
    }

    pub fn voices(&self) -> &VoiceResolver {
        &self.0.voices
    }

    pub fn keys(&self) -> &ApiKeys {
        &self.0.keys
    }

    pub fn metrics(&self) -> &ServerMetrics {
        &self.0.metrics
    }

    pub fn lifecycle(&self) -> &Arc<Lifecycle> {
        &self.0.lifecycle
    }

    /// `system_fingerprint`: stable for one model and server version.
    pub fn fingerprint(&self) -> &str {
        &self.0.fingerprint
    }
}

/// `fp_` + 10 hex digits of a hash of the server version and model facts.
fn fingerprint(info: &ModelInfo) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION"));
    h.update(&info.served_name);
    h.update(info.created.to_le_bytes());
    let digest = h.finalize();
    let hex: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
    format!("fp_{hex}")
}
