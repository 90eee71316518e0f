//! The vocabulary as bytes, in a trie, and the token mask a grammar state
//! allows.
//!
//! Qwen's tokenizer is byte-level BPE: every token is a byte string (written
//! in the GPT-2 byte-to-unicode alphabet in `tokenizer.json`), and every
//! single byte is a token of its own — so a grammar over bytes always has a
//! token for its next byte. Special tokens (`<|im_end|>`, …) are left out of
//! the trie: the engine allows them only where generation may end.

use super::grammar::Grammar;
use super::matcher::Matcher;
use omnivox_tokenizer::Tokenizer;

/// The tool-call opening tag.
pub(crate) const CALL_OPEN: &str = "<tool_call>";

/// A node of the byte trie: children are contiguous in [`Trie::nodes`],
/// tokens ending here contiguous in [`Trie::tokens`].
#[derive(Debug, Clone, Copy)]
struct TrieNode {
    byte: u8,
    child_start: u32,
    child_len: u32,
    tok_start: u32,
    tok_len: u32,
}

#[derive(Debug, Default)]
struct Trie {
    nodes: Vec<TrieNode>,
    tokens: Vec<u32>,
}

/// The vocabulary as the constraint sees it: built once per engine.
#[derive(Debug, Default)]
pub struct ToolVocab {
    trie: Trie,
    /// Token count (mask length).
    size: usize,
    /// The id of `<tool_call>` when it is a single token.
    call_token: Option<u32>,
    /// The bytes of every non-special token.
    bytes: Vec<Option<Box<[u8]>>>,
}

/// GPT-2's byte-to-unicode table, inverted: the byte a vocabulary character
/// stands for.
fn byte_of(c: char) -> Option<u8> {
    let u = c as u32;
    let direct =
        |u: u32| (33..=126).contains(&u) || (161..=172).contains(&u) || (174..=255).contains(&u);
    if u < 256 {
        return direct(u).then_some(u as u8);
    }
    // Bytes outside `direct` are numbered 256, 257, … in byte order.
    let k = u - 256;
    (0u32..256)
        .filter(|&b| !direct(b))
        .nth(k as usize)
        .map(|b| b as u8)
}

impl ToolVocab {
    /// Reads every token of `tokenizer`.
    pub fn new(tokenizer: &Tokenizer) -> Self {
        let size = tokenizer.vocab_size();
        let bytes: Vec<Option<Box<[u8]>>> = (0..size as u32)
            .map(|id| {
                if tokenizer.is_special_id(id) {
                    return None;
                }
                let s = tokenizer.id_to_token(id)?;
                let mapped: Option<Vec<u8>> = s.chars().map(byte_of).collect();
                Some(mapped.unwrap_or_else(|| s.into_bytes()).into_boxed_slice())
                    .filter(|b| !b.is_empty())
            })
            .collect();
        let call_token = tokenizer
            .token_to_id(CALL_OPEN)
            .filter(|&id| bytes.get(id as usize).is_some_and(Option::is_some));
        Self {
            trie: Trie::build(&bytes),
            size,
            call_token,
            bytes,
        }
    }

    /// Vocabulary size.
    pub fn len(&self) -> usize {
        self.size
    }

    /// Whether the vocabulary is empty.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// The id of `<tool_call>` when it is one token.
    pub fn call_token(&self) -> Option<u32> {
        self.call_token
    }

    /// The bytes of token `id` (`None` for special tokens).
    pub fn bytes(&self, id: u32) -> Option<&[u8]> {
        self.bytes.get(id as usize).and_then(|b| b.as_deref())
    }

    /// Marks in `allowed` (one entry per token, all `false` on entry) every
    /// token whose bytes the grammar accepts from `state` and after which
    /// the document can still be finished in `budget` more bytes. Returns
    /// how many were marked.
    pub(crate) fn allowed(
        &self,
        g: &Grammar,
        state: &Matcher,
        budget: usize,
        allowed: &mut [bool],
    ) -> usize {
        let mut count = 0;
        if self.trie.nodes.is_empty() {
            return 0;
        }
        let mut stack: Vec<(u32, Matcher)> = Vec::with_capacity(64);
        stack.push((0, state.clone()));
        while let Some((idx, m)) = stack.pop() {
            let node = self.trie.nodes[idx as usize];
            for c in node.child_start..node.child_start + node.child_len {
                let child = self.trie.nodes[c as usize];
                let next = m.feed(g, child.byte);
                if next.is_dead() {
                    continue;
                }
                if child.tok_len > 0 && next.min_remaining(g) <= budget {
                    for &t in &self.trie.tokens
                        [child.tok_start as usize..(child.tok_start + child.tok_len) as usize]
                    {
                        if let Some(a) = allowed.get_mut(t as usize) {
                            *a = true;
                            count += 1;
                        }
                    }
                }
                if child.child_len > 0 {
                    stack.push((c, next));
                }
            }
        }
        count
    }
}

impl Trie {
    fn build(bytes: &[Option<Box<[u8]>>]) -> Self {
        let mut order: Vec<u32> = (0..bytes.len() as u32)
            .filter(|&i| bytes[i as usize].is_some())
            .collect();
        let key = |i: u32| bytes[i as usize].as_deref().unwrap_or(&[]);
        order.sort_by(|&a, &b| key(a).cmp(key(b)));
        let mut trie = Trie {
            nodes: vec![TrieNode {
                byte: 0,
                child_start: 0,
                child_len: 0,
                tok_start: 0,
                tok_len: 0,
            }],
            tokens: Vec::with_capacity(order.len()),
        };
        let mut queue = std::collections::VecDeque::new();
        queue.push_back((0usize, 0usize, order.len(), 0usize));
        while let Some((idx, start, end, depth)) = queue.pop_front() {
            let mut i = start;
            let tok_start = trie.tokens.len() as u32;
            while i < end && key(order[i]).len() == depth {
                trie.tokens.push(order[i]);
                i += 1;
            }
            let child_start = trie.nodes.len() as u32;
            while i < end {
                let b = key(order[i])[depth];
                let mut j = i;
                while j < end && key(order[j])[depth] == b {
                    j += 1;
                }
                trie.nodes.push(TrieNode {
                    byte: b,
                    child_start: 0,
                    child_len: 0,
                    tok_start: 0,
                    tok_len: 0,
                });
                queue.push_back((trie.nodes.len() - 1, i, j, depth + 1));
                i = j;
            }
            let (tok_len, child_len) = (
                trie.tokens.len() as u32 - tok_start,
                trie.nodes.len() as u32 - child_start,
            );
            let n = &mut trie.nodes[idx];
            n.tok_start = tok_start;
            n.tok_len = tok_len;
            n.child_start = child_start;
            n.child_len = child_len;
        }
        trie
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_byte_level_alphabet_inverts() {
        assert_eq!(byte_of('a'), Some(b'a'));
        assert_eq!(byte_of('Ġ'), Some(b' ')); // U+0120
        assert_eq!(byte_of('Ċ'), Some(b'\n')); // U+010A
        assert_eq!(byte_of('\u{100}'), Some(0));
        assert_eq!(byte_of('\u{143}'), Some(0xAD)); // the last one
        assert_eq!(byte_of('€'), None);
        let all: std::collections::BTreeSet<u8> = (0u32..0x200)
            .filter_map(char::from_u32)
            .filter_map(byte_of)
            .collect();
        assert_eq!(all.len(), 256);
    }

    #[test]
    fn the_trie_holds_every_token_once() {
        let bytes: Vec<Option<Box<[u8]>>> = ["ab", "a", "b", "abc", "", "ba"]
            .iter()
            .map(|s| (!s.is_empty()).then(|| s.as_bytes().to_vec().into_boxed_slice()))
            .collect();
        let trie = Trie::build(&bytes);
        let mut toks = trie.tokens.clone();
        toks.sort();
        assert_eq!(toks, vec![0, 1, 2, 3, 5]);
        // root → 'a' → 'b' holds token 0 and has child 'c'.
        let root = trie.nodes[0];
        let a = (root.child_start..root.child_start + root.child_len)
            .map(|i| trie.nodes[i as usize])
            .find(|n| n.byte == b'a')
            .unwrap();
        assert_eq!(trie.tokens[a.tok_start as usize], 1);
        assert_eq!(a.child_len, 1);
    }
}
