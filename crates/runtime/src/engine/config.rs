//! The engine's knobs: plain data with explicit defaults.

use std::time::Duration;

/// How an engine schedules and what it allows.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// Most sequences in the running batch at once.
    pub max_running: usize,
    /// Most requests waiting for admission; more wait for a queue slot.
    pub max_waiting: usize,
    /// How long a request may wait for a queue slot, KV blocks and a batch
    /// slot together before it fails with `Overloaded`.
    pub admission_timeout: Duration,
    /// Tokens one forward pass takes at most: every decode (one token per
    /// running sequence) plus prefill chunks up to this budget.
    pub step_tokens: usize,
    /// Tokens per KV block.
    pub kv_block_size: usize,
    /// Memory for the KV cache, in bytes (keys and values, `f32`). The pool
    /// is allocated once, at this size or at what `max_running` sequences of
    /// the full context need, whichever is smaller.
    pub kv_cache_bytes: u64,
    /// The context window offered, capped at the checkpoint's
    /// `max_position_embeddings` and the KV pool's capacity.
    pub max_context: u32,
    /// Most text tokens per reply.
    pub max_output_text_tokens: u32,
    /// Most audio tokens (codec frames) per reply.
    pub max_output_audio_tokens: u32,
    /// How long a spoken reply stays referable by id.
    pub audio_ttl: Duration,
    /// A sequence whose consumer has this many events unread is not
    /// stepped until it catches up (backpressure; bounds memory per stream).
    pub max_event_backlog: usize,
    /// The name the model is served under; `None`: from the checkpoint
    /// directory's name.
    pub served_name: Option<String>,
    /// When the checkpoint was made (Unix seconds); `None`: the
    /// modification time of its `config.json`.
    pub created: Option<u64>,
    /// Who published the weights, for `/v1/models`.
    pub owned_by: String,
    /// The tiny random demo model (its replies are noise).
    pub is_demo: bool,
    /// Extra chat-template variables (`{"enable_thinking": false}`, …).
    pub template_kwargs: serde_json::Map<String, serde_json::Value>,
    /// OpenAI voice names → speakers, and the default speaker.
    pub voices: crate::speech::VoiceConfig,
    /// transformers' `sanitize_control_tokens`: control tokens written in
    /// messages are encoded as plain text, so that only the template writes
    /// them (on by default; a client cannot forge a turn).
    pub sanitize_control_tokens: bool,
    /// The thinker's linear weights: dense (the default), int8 per channel
    /// or NF4, quantized at load time.
    pub quantization: omnivox_model::Quantization,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_running: 64,
            max_waiting: 256,
            admission_timeout: Duration::from_secs(30),
            step_tokens: 512,
            kv_block_size: 16,
            kv_cache_bytes: 1 << 30,
            max_context: 131_072,
            max_output_text_tokens: 8_192,
            max_output_audio_tokens: 4_096,
            audio_ttl: Duration::from_secs(3600),
            max_event_backlog: 1024,
            served_name: None,
            created: None,
            owned_by: "qwen".into(),
            is_demo: false,
            template_kwargs: serde_json::Map::new(),
            voices: crate::speech::VoiceConfig::default(),
            sanitize_control_tokens: true,
            quantization: omnivox_model::Quantization::None,
        }
    }
}
