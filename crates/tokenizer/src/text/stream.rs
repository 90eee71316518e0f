//! Incremental detokenization for streaming output.
//!
//! The window technique of text-generation-inference and vLLM: decode the
//! ids since the last emitted point twice — with and without the newest
//! ids — and emit the difference once it no longer ends in an incomplete
//! UTF-8 sequence (`U+FFFD`). On top of that, the last grapheme cluster is
//! held back until a later character starts a new one, so that a delta
//! never splits an emoji ZWJ sequence, a flag or a base character from its
//! combining marks. Grapheme boundaries (UAX #29) depend only on the
//! characters on their left and the one right after them, so a boundary
//! that has a character after it is final.
//!
//! Invariant: the concatenation of every delta and [`DecodeStream::finish`]
//! equals `Tokenizer::decode` of all ids.

use super::Tokenizer;
use crate::error::Result;
use unicode_segmentation::UnicodeSegmentation;

/// A streaming detokenizer; see the module docs. Made by
/// [`Tokenizer::decode_stream`].
#[derive(Debug)]
pub struct DecodeStream {
    tokenizer: Tokenizer,
    skip_special_tokens: bool,
    /// Ids from the start of the current window: `ids[..read]` is context
    /// that has been emitted already, `ids[read..]` is not yet emitted.
    ids: Vec<u32>,
    read: usize,
    /// Decoded text not yet handed out (at most the last grapheme cluster).
    held: String,
    /// While the unread ids end in an incomplete UTF-8 sequence: the bytes
    /// their text will have at least (see [`DecodeStream::pending_len`]).
    incomplete: usize,
}

impl DecodeStream {
    pub(super) fn new(tokenizer: Tokenizer, skip_special_tokens: bool) -> Self {
        Self {
            tokenizer,
            skip_special_tokens,
            ids: Vec::new(),
            read: 0,
            held: String::new(),
            incomplete: 0,
        }
    }

    /// Feeds one id; returns the text that became final, if any.
    pub fn step(&mut self, id: u32) -> Result<Option<String>> {
        self.ids.push(id);
        let Some(delta) = self.new_text()? else {
            return Ok(None);
        };
        self.held.push_str(&delta);
        // The not-yet-emitted ids become the context of the next window.
        self.ids.drain(..self.read);
        self.read = self.ids.len();
        let cut = last_grapheme_start(&self.held);
        if cut == 0 {
            return Ok(None);
        }
        let out: String = self.held.drain(..cut).collect();
        Ok(Some(out))
    }

    /// Bytes of text fed but not yet emitted, as far as they are known: the
    /// held grapheme cluster, and the text of the unread ids with their
    /// incomplete last character counted as 2 bytes (the least a
    /// multi-byte character has). So a position in the text at or past the
    /// count is at or past the end of that character.
    pub fn pending_len(&self) -> usize {
        self.held.len() + self.incomplete
    }

    /// Ends the stream: returns everything not yet emitted, including an
    /// incomplete trailing UTF-8 sequence as `U+FFFD`, exactly as a whole
    /// decode renders it.
    pub fn finish(mut self) -> Result<String> {
        let prefix = self.decode(&self.ids[..self.read])?;
        let full = self.decode(&self.ids)?;
        if let Some(rest) = full.strip_prefix(prefix.as_str()) {
            self.held.push_str(rest);
        }
        Ok(self.held)
    }

    /// The text the unread ids add to the window, once it is complete.
    fn new_text(&mut self) -> Result<Option<String>> {
        let prefix = self.decode(&self.ids[..self.read])?;
        let full = self.decode(&self.ids)?;
        if full.ends_with('\u{FFFD}') {
            // An incomplete UTF-8 sequence, or wait and see. U+FFFD is 3
            // bytes; the character it stands for has at least 2.
            self.incomplete = full.len().saturating_sub(prefix.len() + 1);
            return Ok(None);
        }
        self.incomplete = 0;
        Ok(full.strip_prefix(prefix.as_str()).map(str::to_owned))
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer.decode(ids, self.skip_special_tokens)
    }
}

/// Byte index where the last extended grapheme cluster of `s` starts.
fn last_grapheme_start(s: &str) -> usize {
    s.grapheme_indices(true).next_back().map_or(0, |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::last_grapheme_start;

    #[test]
    fn holds_back_the_last_cluster() {
        assert_eq!(last_grapheme_start(""), 0);
        assert_eq!(last_grapheme_start("ab"), 1);
        // e + combining acute is one cluster.
        assert_eq!(last_grapheme_start("ae\u{301}"), 1);
        // A ZWJ family is one cluster.
        let fam = "x\u{1F469}\u{200D}\u{1F469}\u{200D}\u{1F467}";
        assert_eq!(last_grapheme_start(fam), 1);
    }
}
