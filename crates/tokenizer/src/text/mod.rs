//! Text ↔ token ids: the `tokenizers` crate on a checkpoint's
//! `tokenizer.json`, plus the special tokens named in
//! `tokenizer_config.json`.
//!
//! Reference: transformers 5 `TokenizersBackend` (`tokenization_utils_tokenizers.py`).
//! transformers rebuilds a `Qwen2Tokenizer`'s normaliser, pre-tokeniser and
//! decoder in Python and keeps only the vocabulary, merges, added tokens and
//! post-processor of `tokenizer.json`; we use `tokenizer.json` as written.
//! The two agree for Qwen checkpoints, whose `tokenizer.json` carries exactly
//! that pipeline; `tests/tokenizer_parity.rs` holds us to it.

mod config;
mod sanitize;
mod stream;

pub(crate) use sanitize::{Marked, START as MARK_START, strip_markers};

pub use config::TokenizerConfig;
pub use stream::DecodeStream;

use crate::error::{Error, Result};
use crate::template::{ChatInput, ChatTemplate};
use std::path::Path;
use std::sync::Arc;

/// A loaded tokenizer: `tokenizer.json` and the special tokens of
/// `tokenizer_config.json`. Cloning is cheap (shared, immutable).
#[derive(Clone)]
pub struct Tokenizer {
    inner: Arc<tokenizers::Tokenizer>,
    config: Arc<TokenizerConfig>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab_size", &self.vocab_size())
            .field("special_tokens", &self.config.special_tokens)
            .finish()
    }
}

impl Tokenizer {
    /// Loads `tokenizer.json` and (if present) `tokenizer_config.json` from a
    /// checkpoint directory.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let inner = load_tokenizer_json(&dir.join("tokenizer.json"))?;
        let config = TokenizerConfig::from_dir(dir)?;
        Ok(Self {
            inner: Arc::new(inner),
            config: Arc::new(config),
        })
    }

    /// Builds a tokenizer from an in-memory `tokenizer.json` and config.
    pub fn from_json_str(tokenizer_json: &str, config: TokenizerConfig) -> Result<Self> {
        let inner = tokenizer_json
            .parse::<tokenizers::Tokenizer>()
            .map_err(Error::tokenizer)?;
        Ok(Self {
            inner: Arc::new(inner),
            config: Arc::new(config),
        })
    }

    /// The special tokens and chat template entry of `tokenizer_config.json`.
    pub fn config(&self) -> &TokenizerConfig {
        &self.config
    }

    /// Encodes text the way `tokenizer(text, add_special_tokens=…)` does:
    /// added tokens in the text (special or not) become their ids.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode_fast(text, add_special_tokens)
            .map_err(Error::tokenizer)?;
        Ok(enc.get_ids().to_vec())
    }

    /// Decodes ids the way `tokenizer.decode(ids, skip_special_tokens=…)`
    /// does for a BPE tokenizer (no clean-up of tokenisation spaces). Ids
    /// with no token (the padding rows of an embedding larger than the
    /// vocabulary) decode to nothing, as in transformers.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(Error::tokenizer)
    }

    /// A streaming detokenizer: feed ids one at a time, get text deltas.
    /// It holds a (cheap) clone of the tokenizer, so it can live in a
    /// request's state.
    pub fn decode_stream(&self, skip_special_tokens: bool) -> DecodeStream {
        DecodeStream::new(self.clone(), skip_special_tokens)
    }

    /// Renders a chat and encodes it: the tokenizer's
    /// `apply_chat_template(…, tokenize=True)`, which encodes the rendered
    /// text with `add_special_tokens=False` (honouring
    /// `input.sanitize_control_tokens`). Returns the text (without
    /// sanitizing markers) and its ids.
    pub fn apply_chat_template(
        &self,
        template: &ChatTemplate,
        input: &ChatInput<'_>,
    ) -> Result<(String, Vec<u32>)> {
        if !input.sanitize_control_tokens {
            let text = template.render(input, &self.config.special_tokens)?;
            let ids = self.encode(&text, false)?;
            return Ok((text, ids));
        }
        let text = self.render_marked(template, input)?;
        let ids = self.encode_marked(&text)?;
        Ok((strip_markers(&text), ids))
    }

    /// Renders `input` with its control tokens marked (sanitizing path).
    pub(crate) fn render_marked(
        &self,
        template: &ChatTemplate,
        input: &ChatInput<'_>,
    ) -> Result<String> {
        let ctrl = self.control_token_set(template.source());
        let marked = Marked::new(input, &ctrl);
        template.render_unchecked(&marked.input(input), &self.config.special_tokens)
    }

    /// The id of a token given by its text (vocabulary or added token).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The text of a token id.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The id of a named special token (`"eos_token"`, `"audio_token"`, …)
    /// from `tokenizer_config.json`.
    pub fn special_token_id(&self, name: &str) -> Option<u32> {
        self.config.token(name).and_then(|t| self.token_to_id(t))
    }

    /// Like [`Tokenizer::special_token_id`], but a missing token is an error
    /// naming it.
    pub fn require_special_token_id(&self, name: &str) -> Result<u32> {
        let text = self.config.token(name).ok_or_else(|| Error::MissingToken {
            token: String::new(),
            role: name.to_owned(),
        })?;
        self.token_to_id(text).ok_or_else(|| Error::MissingToken {
            token: text.to_owned(),
            role: name.to_owned(),
        })
    }

    /// Whether an id is an added token marked `special` (the ones
    /// `skip_special_tokens` drops).
    pub fn is_special_id(&self, id: u32) -> bool {
        self.inner
            .get_added_tokens_decoder()
            .get(&id)
            .is_some_and(|t| t.special)
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The underlying `tokenizers` tokenizer.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

fn load_tokenizer_json(path: &Path) -> Result<tokenizers::Tokenizer> {
    let text = crate::error::read_to_string(path)?;
    text.parse::<tokenizers::Tokenizer>()
        .map_err(Error::tokenizer)
}
