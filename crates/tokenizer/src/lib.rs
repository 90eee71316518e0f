//! omnivox-tokenizer: text ↔ token ids, chat templates, and the audio
//! front end.
//!
//! - [`text`]: the `tokenizers` crate on `tokenizer.json`; special tokens;
//!   streaming detokenization ([`DecodeStream`]).
//! - [`template`]: chat templates rendered as transformers'
//!   `apply_chat_template` renders them.
//! - [`audio`]: Whisper-style log-mel features, as transformers'
//!   `WhisperFeatureExtractor` computes them for Qwen3-Omni.
//! - [`processor`]: the Qwen3-Omni prompt path: template, audio placeholder
//!   expansion, token ids and per-clip features.

pub mod audio;
mod error;
pub mod processor;
pub mod template;
pub mod text;

pub use audio::{LogMel, LogMelExtractor, WhisperConfig};
pub use error::{Error, Result};
pub use processor::{Prompt, PromptAudio, Qwen3OmniProcessor, num_audio_tokens};
pub use template::{ChatInput, ChatTemplate, ChatTemplates, TemplateOwner};
pub use text::{DecodeStream, Tokenizer, TokenizerConfig};

#[cfg(test)]
mod thread_safety {
    fn shared<T: Send + Sync>() {}

    /// Everything a server shares between requests can be shared.
    #[test]
    fn shared_state_is_send_and_sync() {
        shared::<crate::Tokenizer>();
        shared::<crate::ChatTemplates>();
        shared::<crate::LogMelExtractor>();
        shared::<crate::Qwen3OmniProcessor>();
        shared::<crate::DecodeStream>();
    }
}
