//! `sanitize_control_tokens`: control tokens written by users are encoded
//! as plain text, so that only the chat template writes control tokens.
//!
//! Reference: transformers 5 `mark_control_tokens`, `encode_marked_chat`,
//! `_get_control_tokens` (`utils/chat_template_utils.py`,
//! `tokenization_utils_base.py`): every string in the messages, tools,
//! documents and extra variables has its control tokens wrapped in the
//! private-use markers U+F0000 … U+F0001 before rendering; the rendered text
//! is split at the markers, marked tokens are encoded without added tokens,
//! lone markers are dropped (but still split the text).

use super::Tokenizer;
use crate::error::{Error, Result};
use crate::template::ChatInput;
use serde_json::Value;
use tokenizers::{
    Model, Normalizer, OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer,
};

/// Opens a marked control token.
pub(crate) const START: char = '\u{F0000}';
/// Closes a marked control token.
pub(crate) const END: char = '\u{F0001}';

/// Control tokens sorted longest first, as transformers' alternation
/// tries them.
#[derive(Debug, Clone)]
pub(crate) struct ControlTokens(Vec<String>);

impl ControlTokens {
    pub(crate) fn new(mut tokens: Vec<String>) -> Self {
        tokens.retain(|t| !t.is_empty());
        tokens.sort_by_key(|t| std::cmp::Reverse(t.len()));
        tokens.dedup();
        Self(tokens)
    }

    /// The longest token starting `s`.
    fn prefix_of<'s>(&'s self, s: &'s str) -> Option<&'s str> {
        self.prefixes_of(s).next()
    }

    /// The tokens starting `s`, longest first.
    fn prefixes_of<'s>(&'s self, s: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.0
            .iter()
            .filter(move |t| s.starts_with(t.as_str()))
            .map(String::as_str)
    }

    /// `mark_control_tokens`: strings are marked, containers walked,
    /// dict keys left alone.
    pub(crate) fn mark(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.mark_str(s)),
            Value::Array(items) => Value::Array(items.iter().map(|x| self.mark(x)).collect()),
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, x)| (k.clone(), self.mark(x))).collect())
            }
            other => other.clone(),
        }
    }

    fn mark_str(&self, s: &str) -> String {
        let s: String = s.chars().filter(|&c| c != START && c != END).collect();
        let mut out = String::with_capacity(s.len());
        let mut rest = s.as_str();
        while let Some(c) = rest.chars().next() {
            if let Some(tok) = self.prefix_of(rest) {
                out.push(START);
                out.push_str(tok);
                out.push(END);
                rest = &rest[tok.len()..];
            } else {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        out
    }
}

/// Marked copies of a chat's inputs (messages, tools, documents, extra
/// variables; not the special tokens).
#[derive(Debug)]
pub(crate) struct Marked {
    messages: Vec<Value>,
    tools: Option<Vec<Value>>,
    documents: Option<Vec<Value>>,
    kwargs: Option<serde_json::Map<String, Value>>,
}

impl Marked {
    pub(crate) fn new(input: &ChatInput<'_>, ctrl: &ControlTokens) -> Self {
        let list = |v: Option<&[Value]>| v.map(|v| v.iter().map(|x| ctrl.mark(x)).collect());
        Self {
            messages: input.messages.iter().map(|m| ctrl.mark(m)).collect(),
            tools: list(input.tools),
            documents: list(input.documents),
            kwargs: input.kwargs.map(|k| {
                k.iter()
                    .map(|(key, v)| (key.clone(), ctrl.mark(v)))
                    .collect()
            }),
        }
    }

    /// The marked input, with the flags of `base`.
    pub(crate) fn input<'a>(&'a self, base: &ChatInput<'_>) -> ChatInput<'a> {
        ChatInput {
            messages: &self.messages,
            tools: self.tools.as_deref(),
            documents: self.documents.as_deref(),
            add_generation_prompt: base.add_generation_prompt,
            kwargs: self.kwargs.as_ref(),
            sanitize_control_tokens: false,
        }
    }
}

/// The text without markers (for display; ids come from the marked text).
pub(crate) fn strip_markers(s: &str) -> String {
    s.chars().filter(|&c| c != START && c != END).collect()
}

/// A piece of a marked chat: text encoded normally, or a marked token
/// encoded as plain text.
#[derive(Debug, PartialEq)]
enum Piece<'a> {
    Text(&'a str),
    Marked(&'a str),
}

/// Splits at `START token END` (any added token) and at lone markers.
fn split_marked<'a>(text: &'a str, added: &ControlTokens) -> Vec<Piece<'a>> {
    let mut pieces = Vec::new();
    let mut text_start = 0;
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let Some(c) = rest.chars().next() else { break };
        if c != START && c != END {
            i += c.len_utf8();
            continue;
        }
        pieces.push(Piece::Text(&text[text_start..i]));
        let after = &rest[c.len_utf8()..];
        // The token is a slice of `text`, so the piece borrows `text` only.
        let token_len = if c == START {
            added
                .prefixes_of(after)
                .find(|t| after[t.len()..].starts_with(END))
                .map(str::len)
        } else {
            None
        };
        let token = token_len.map(|n| &after[..n]);
        match token {
            Some(t) => {
                pieces.push(Piece::Marked(t));
                i += c.len_utf8() + t.len() + END.len_utf8();
            }
            None => i += c.len_utf8(), // a lone marker: dropped, still a split
        }
        text_start = i;
    }
    pieces.push(Piece::Text(&text[text_start..]));
    pieces
}

impl Tokenizer {
    /// The tokens `sanitize_control_tokens` treats as control tokens for a
    /// template: special added tokens, plus the added tokens listed in
    /// `chat_control_tokens` if the config has it, else the non-whitespace
    /// added tokens the template text contains. (transformers searches the
    /// template's string literals; we search its source, which differs only
    /// for a token that appears outside literals, e.g. in a comment.)
    pub fn control_tokens(&self, template_source: &str) -> Vec<String> {
        let listed = self.config.chat_control_tokens.as_deref();
        let mut out: Vec<(u32, String)> = self
            .inner
            .get_added_tokens_decoder()
            .into_iter()
            .filter(|(_, t)| {
                t.special
                    || match listed {
                        Some(list) => list.contains(&t.content),
                        None => {
                            !is_space(&t.content) && template_source.contains(t.content.as_str())
                        }
                    }
            })
            .map(|(id, t)| (id, t.content))
            .collect();
        out.sort();
        out.into_iter().map(|(_, t)| t).collect()
    }

    pub(crate) fn control_token_set(&self, template_source: &str) -> ControlTokens {
        ControlTokens::new(self.control_tokens(template_source))
    }

    /// `encode_marked_chat`: encodes a chat rendered from marked inputs.
    pub(crate) fn encode_marked(&self, text: &str) -> Result<Vec<u32>> {
        let added = ControlTokens::new(
            self.inner
                .get_added_tokens_decoder()
                .into_values()
                .map(|t| t.content)
                .collect(),
        );
        let newline = self.encode("\n", false)?;
        let pieces = split_marked(text, &added);
        let mut ids = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            match *piece {
                Piece::Text(t) if i == 0 => ids.extend(self.encode(t, false)?),
                Piece::Text("") => {}
                Piece::Text(t) => ids.extend(self.encode_piece(t, false, &newline)?),
                Piece::Marked(t) => {
                    let piece_ids = self.encode_piece(t, true, &newline)?;
                    if self
                        .token_to_id(t)
                        .is_some_and(|id| piece_ids.contains(&id))
                    {
                        return Err(Error::InvalidChatInput(format!(
                            "can't sanitize {t:?}: the tokenizer produces it from plain text"
                        )));
                    }
                    ids.extend(piece_ids);
                }
            }
        }
        Ok(ids)
    }

    /// `_encode_chat_piece`: encode after a newline (so SentencePiece adds
    /// no prefix space), then drop the newline's ids.
    fn encode_piece(&self, piece: &str, as_text: bool, newline: &[u32]) -> Result<Vec<u32>> {
        let encode = |s: &str| {
            if as_text {
                self.encode_without_added_tokens(s)
            } else {
                self.encode(s, false)
            }
        };
        let with_newline = encode(&format!("\n{piece}"))?;
        match with_newline.strip_prefix(newline) {
            Some(rest) => Ok(rest.to_vec()),
            None => encode(piece),
        }
    }

    /// The pipeline without the added vocabulary: normaliser, pre-tokeniser,
    /// model (`TokenizersBackend._encode_without_added_tokens`).
    pub(crate) fn encode_without_added_tokens(&self, text: &str) -> Result<Vec<u32>> {
        let mut normalized = tokenizers::NormalizedString::from(text);
        if let Some(n) = self.inner.get_normalizer() {
            n.normalize(&mut normalized).map_err(Error::tokenizer)?;
        }
        let mut pre = PreTokenizedString::from(normalized.get());
        if let Some(p) = self.inner.get_pre_tokenizer() {
            p.pre_tokenize(&mut pre).map_err(Error::tokenizer)?;
        }
        let model = self.inner.get_model();
        let mut ids = Vec::new();
        for (split, _, _) in pre.get_splits(OffsetReferential::Original, OffsetType::None) {
            for t in model.tokenize(split).map_err(Error::tokenizer)? {
                ids.push(t.id);
            }
        }
        Ok(ids)
    }
}

/// Python's `str.isspace()`: non-empty and all whitespace.
fn is_space(s: &str) -> bool {
    !s.is_empty() && s.chars().all(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_longest_first_and_drops_forged_markers() {
        let c = ControlTokens::new(vec!["<a>".into(), "<a><b>".into()]);
        assert_eq!(
            c.mark_str("x<a><b>y\u{F0000}<a>"),
            "x\u{F0000}<a><b>\u{F0001}y\u{F0000}<a>\u{F0001}"
        );
    }

    #[test]
    fn splits_at_marked_tokens_and_lone_markers() {
        let added = ControlTokens::new(vec!["<a>".into()]);
        let text = "p\u{F0000}<a>\u{F0001}q\u{F0001}r";
        assert_eq!(
            split_marked(text, &added),
            [
                Piece::Text("p"),
                Piece::Marked("<a>"),
                Piece::Text("q"),
                Piece::Text("r")
            ]
        );
    }
}
