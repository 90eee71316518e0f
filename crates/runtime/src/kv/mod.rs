//! The paged KV cache: fixed-size blocks from one pool per model, a block
//! table per sequence.
//!
//! The design is vLLM's PagedAttention block manager, on burn tensors:
//!
//! - [`KvPool`] owns, for every decoder layer, one key and one value tensor
//!   of `[num_blocks, block_size, kv_heads * head_dim]` allocated once, at a
//!   size chosen from a memory budget, plus the free lists. Layers that share
//!   an attention window form a *group* with its own blocks: full-attention
//!   layers keep every token, a sliding-window group keeps only the blocks a
//!   later query can still see, so its blocks per sequence are
//!   O(window + tokens per step), not O(context).
//! - [`BlockTable`] is one sequence's list of blocks per group.
//! - [`PagedKv`] is the per-step handle through which a forward pass reads
//!   and writes a sequence's cache: it implements the model crate's
//!   [`KvCache`](omnivox_model::KvCache) trait, writing new keys and values
//!   into the sequence's blocks and gathering its blocks into the view
//!   attention runs over.
//!
//! Blocks are allocated by the scheduler before a step ([`KvPool::grow`]),
//! so a forward pass never runs out of room, and freed when a sequence ends
//! or is cancelled ([`KvPool::release`]).

mod cache;
mod pool;
#[cfg(test)]
mod tests;
mod write;

pub use cache::PagedKv;
pub use pool::{BlockTable, KvPool, KvSpec, PoolError};
