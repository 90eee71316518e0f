//! Ids and timestamps of replies.

use std::time::{SystemTime, UNIX_EPOCH};

/// A fresh id: `prefix` + 24 random hex digits (96 bits from a v4 UUID).
pub fn new_id(prefix: &str) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}", &hex[..24])
}

/// Unix seconds now.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The ids one chat reply carries.
#[derive(Debug, Clone)]
pub struct ReplyIds {
    /// `chatcmpl-…`, on the reply and every chunk.
    pub completion: String,
    /// Unix seconds, on the reply and every chunk.
    pub created: u64,
    /// Used only if an engine breaks its contract and names no audio id.
    pub audio_fallback: String,
}

impl ReplyIds {
    pub fn new() -> Self {
        Self {
            completion: new_id("chatcmpl-"),
            created: now_secs(),
            audio_fallback: new_id("audio_"),
        }
    }
}

impl Default for ReplyIds {
    fn default() -> Self {
        Self::new()
    }
}
