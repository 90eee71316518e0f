//! The batch description a decoder forward pass runs over.
//!
//! The tokens of every sequence in a step are flattened along one axis
//! (`[num_tokens, hidden]`), sequences back to back in the order given.
//! Linear, MLP and MoE layers see all tokens at once; attention runs per
//! sequence against that sequence's cache. A sequence may contribute a whole
//! prompt (prefill), a chunk of one, or a single token (decode), all in the
//! same step.

use crate::kv_cache::KvCache;
use crate::nn::Positions;
use burn::tensor::backend::Backend;

/// One sequence's share of a forward pass.
pub struct BatchSeq<'a, B: Backend> {
    /// Rotary positions of its new tokens (1-D, or 3-D for MRoPE); their
    /// count is the number of tokens it contributes.
    pub positions: Positions,
    /// Its cache; the new tokens get cache indices `cache.seq_len()..`.
    pub cache: &'a mut dyn KvCache<B>,
}

impl<B: Backend> std::fmt::Debug for BatchSeq<'_, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchSeq")
            .field("tokens", &self.positions.len())
            .field("cached", &self.cache.seq_len())
            .finish()
    }
}

impl<'a, B: Backend> BatchSeq<'a, B> {
    /// A text sequence continuing its cache: positions
    /// `cache.seq_len()..cache.seq_len() + len`.
    pub fn text(cache: &'a mut dyn KvCache<B>, len: usize) -> Self {
        let start = cache.seq_len();
        Self {
            positions: Positions::range(start, len),
            cache,
        }
    }

    /// Number of new tokens.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// Whether it contributes no tokens.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }
}
