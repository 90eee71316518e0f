//! What is never spoken: a streaming filter between the thinker's tokens
//! and the talker's input, and the transcript of exactly what passed it.
//!
//! Dropped, token by token, as they are generated:
//! - tool-call spans, `<tool_call>` through `</tool_call>` (the markers
//!   included): the call goes to the client as a tool call, not as speech;
//! - think blocks, `<think>` through `</think>`;
//! - special tokens (`<|im_end|>`, `<|endoftext|>`, `<|audio_pad|>`, …):
//!   every added token marked special, and every added token spelled
//!   `<|…|>`.
//!
//! In Qwen3-Omni's vocabulary each marker is one added token, so the filter
//! decides each token when it arrives and never holds one back: it adds no
//! latency. A span left open (the reply ends inside it) silences the rest.
//! Nested markers are not treated specially: the first closing marker of
//! the open kind ends the span; a closing marker outside a span is dropped.
//!
//! The reference (`generate`) has no such filter — it would speak a tool
//! call — so replies with tool calls or think blocks deliberately differ
//! from it; plain replies are unaffected (their only special token is the
//! final EOS, which never reaches the talker anyway).

use omnivox_tokenizer::{DecodeStream, Tokenizer};
use std::collections::HashSet;
use std::sync::Arc;

/// Markers that open and close a silent span, as `(open, close)` token text.
pub const SILENT_SPANS: &[(&str, &str)] =
    &[("<tool_call>", "</tool_call>"), ("<think>", "</think>")];

/// Which token ids are never spoken.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpokenFilterConfig {
    /// `(open, close)` ids of silent spans.
    pub spans: Vec<(u32, u32)>,
    /// Ids that are silent on their own.
    pub silent: HashSet<u32>,
}

impl SpokenFilterConfig {
    /// The filter for a tokenizer: the [`SILENT_SPANS`] markers it has, its
    /// special added tokens and its `<|…|>` added tokens.
    pub fn from_tokenizer(tok: &Tokenizer) -> Self {
        let spans = SILENT_SPANS
            .iter()
            .filter_map(|(o, c)| Some((tok.token_to_id(o)?, tok.token_to_id(c)?)))
            .collect();
        let silent = tok
            .inner()
            .get_added_tokens_decoder()
            .iter()
            .filter(|(_, t)| {
                t.special || (t.content.starts_with("<|") && t.content.ends_with("|>"))
            })
            .map(|(&id, _)| id)
            .collect();
        Self { spans, silent }
    }
}

/// The never-spoken filter of one reply.
#[derive(Debug, Clone)]
pub struct SpokenFilter {
    config: Arc<SpokenFilterConfig>,
    /// The closing id of the span we are in.
    open: Option<u32>,
}

impl SpokenFilter {
    /// A filter at the start of a reply.
    pub fn new(config: Arc<SpokenFilterConfig>) -> Self {
        Self { config, open: None }
    }

    /// Whether the filter is inside a silent span.
    pub fn in_span(&self) -> bool {
        self.open.is_some()
    }

    /// Passes one token: `Some(id)` when it is spoken.
    pub fn push(&mut self, id: u32) -> Option<u32> {
        if let Some(close) = self.open {
            if id == close {
                self.open = None;
            }
            return None;
        }
        if let Some(&(_, close)) = self.config.spans.iter().find(|(open, _)| *open == id) {
            self.open = Some(close);
            return None;
        }
        if self.config.spans.iter().any(|&(_, close)| close == id) {
            return None; // a stray closing marker
        }
        (!self.config.silent.contains(&id)).then_some(id)
    }
}

/// One token through the filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spoken {
    /// The token, when it is spoken (it goes to the talker).
    pub token: Option<u32>,
    /// Transcript text that became final (may lag a token behind, never
    /// splitting a character).
    pub delta: String,
}

/// The filter plus a streaming detokenizer of what passes it: the
/// transcript is exactly the spoken tokens, decoded.
#[derive(Debug)]
pub struct Transcript {
    filter: SpokenFilter,
    decode: DecodeStream,
    spoken: Vec<u32>,
}

impl Transcript {
    /// A transcript of a reply detokenized with `tok`.
    pub fn new(config: Arc<SpokenFilterConfig>, tok: &Tokenizer) -> Self {
        Self {
            filter: SpokenFilter::new(config),
            decode: tok.decode_stream(true),
            spoken: Vec::new(),
        }
    }

    /// Passes one generated token.
    pub fn push(&mut self, id: u32) -> Result<Spoken, omnivox_tokenizer::Error> {
        let Some(token) = self.filter.push(id) else {
            return Ok(Spoken::default());
        };
        self.spoken.push(token);
        let delta = self.decode.step(token)?.unwrap_or_default();
        Ok(Spoken {
            token: Some(token),
            delta,
        })
    }

    /// The filter, for tokens that are spoken but not part of the reply's
    /// transcript (the prompt's text after the assistant header).
    pub fn filter_mut(&mut self) -> &mut SpokenFilter {
        &mut self.filter
    }

    /// The spoken ids so far.
    pub fn spoken_ids(&self) -> &[u32] {
        &self.spoken
    }

    /// Ends the transcript: the text still held back.
    pub fn finish(self) -> Result<String, omnivox_tokenizer::Error> {
        self.decode.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Arc<SpokenFilterConfig> {
        Arc::new(SpokenFilterConfig {
            spans: vec![(10, 11), (20, 21)],
            silent: [99].into(),
        })
    }

    fn run(ids: &[u32]) -> Vec<u32> {
        let mut f = SpokenFilter::new(config());
        ids.iter().filter_map(|&i| f.push(i)).collect()
    }

    #[test]
    fn spans_and_special_tokens_are_dropped() {
        assert_eq!(run(&[1, 2, 10, 3, 4, 11, 5, 99]), vec![1, 2, 5]);
        assert_eq!(
            run(&[20, 1, 21, 2, 10, 3]),
            vec![2],
            "an open span silences the rest"
        );
        assert_eq!(
            run(&[10, 20, 1, 21, 2, 11, 3]),
            vec![3],
            "only the open kind's close ends a span"
        );
        assert_eq!(
            run(&[11, 4, 21]),
            vec![4],
            "a stray closing marker is dropped too"
        );
    }
}
