//! Spoken replies kept for later turns: an audio id resolves to what was
//! said (the transcript) and how (the codec tokens).
//!
//! - [`AudioStore`]: the trait the engine stores and resolves through.
//! - [`MemoryAudioStore`]: the embedded default — in-process, each entry
//!   expiring at its `expires_at` (the API's), the whole store bounded in
//!   bytes (the entries closest to expiry go first).
//! - `RedisAudioStore` (feature `redis`): for deployments with several
//!   replicas behind one load balancer, so that a reply produced by one
//!   replica resolves on another.

mod memory;
#[cfg(feature = "redis")]
mod redis;

pub use memory::MemoryAudioStore;
#[cfg(feature = "redis")]
pub use redis::RedisAudioStore;

use std::time::SystemTime;

/// One stored spoken reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAudio {
    /// Everything that was spoken, as text.
    pub transcript: String,
    /// Codec tokens, frame after frame, `groups` per frame.
    pub codes: Vec<u32>,
    /// Code groups per frame (Qwen3-Omni: 16); 0 when no codes are kept.
    pub groups: u32,
    /// When the entry is forgotten.
    pub expires_at: SystemTime,
}

impl StoredAudio {
    /// Bytes the entry takes, for size bounds.
    pub fn size_bytes(&self) -> usize {
        self.transcript.len() + self.codes.len() * 4 + 64
    }

    /// Whether it has expired at `now`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.expires_at <= now
    }
}

/// Why the store failed (not "unknown id": that is `Ok(None)`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backing service could not be reached or answered an error.
    #[error("audio store unavailable: {0}")]
    Unavailable(String),
    /// A stored entry could not be read back.
    #[error("audio store entry `{id}` is corrupt: {reason}")]
    Corrupt { id: String, reason: String },
    /// The entry alone is larger than the store may hold.
    #[error("a {size}-byte entry does not fit an audio store of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
}

/// Where spoken replies are kept (see the module docs). Calls block; the
/// engine makes them off the async executor.
pub trait AudioStore: Send + Sync + std::fmt::Debug {
    /// Stores `audio` under `id` until its `expires_at`.
    fn put(&self, id: &str, audio: StoredAudio) -> Result<(), StoreError>;

    /// The entry under `id`, or `None` when it is unknown or has expired.
    fn get(&self, id: &str) -> Result<Option<StoredAudio>, StoreError>;
}
