//! The block pool: storage tensors, free lists and block tables.

use super::write::{Run, write_runs};
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};
use omnivox_model::KvView;
use std::collections::VecDeque;

/// The shape of a model's KV cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvSpec {
    /// Attention window of each decoder layer (`None`: full attention).
    pub windows: Vec<Option<usize>>,
    /// Key/value heads per layer.
    pub kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Tokens per block.
    pub block_size: usize,
}

/// Why the pool cannot be built or cannot give blocks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// The memory budget does not hold the minimum the model needs.
    #[error("a KV budget of {budget} bytes is too small: {reason}")]
    BudgetTooSmall { budget: u64, reason: String },
    /// A shape that cannot be paged (zero block size, no layers, …).
    #[error("invalid KV cache shape: {0}")]
    InvalidSpec(String),
    /// Not enough free blocks for the request (the caller waits or preempts).
    #[error("out of KV blocks: {needed} needed, {free} free in group {group}")]
    OutOfBlocks {
        group: usize,
        needed: usize,
        free: usize,
    },
}

/// Bytes of one `f32`.
const ELEM_BYTES: u64 = 4;

impl KvSpec {
    /// Bytes one block takes in one layer (keys and values).
    pub fn block_bytes_per_layer(&self) -> u64 {
        2 * (self.block_size * self.kv_heads * self.head_dim) as u64 * ELEM_BYTES
    }

    /// The layer groups: each distinct window with its layers, full
    /// attention first.
    pub fn groups(&self) -> Vec<(Option<usize>, Vec<usize>)> {
        let mut groups: Vec<(Option<usize>, Vec<usize>)> = Vec::new();
        for (layer, w) in self.windows.iter().enumerate() {
            match groups.iter_mut().find(|(gw, _)| gw == w) {
                Some((_, layers)) => layers.push(layer),
                None => groups.push((*w, vec![layer])),
            }
        }
        groups.sort_by_key(|(w, _)| w.is_some());
        groups
    }

    /// Blocks a sliding group with window `w` needs per sequence, when a
    /// step adds at most `step_tokens` tokens: the `w - 1` kept tokens plus
    /// the step's, over at most one partial block at each end.
    pub fn sliding_blocks_per_seq(&self, w: usize, step_tokens: usize) -> usize {
        (w.saturating_sub(1) + step_tokens).div_ceil(self.block_size) + 1
    }

    /// Blocks per group for a memory budget: every sliding group gets what
    /// `max_seqs` sequences can hold at once, full attention the rest.
    pub fn plan(
        &self,
        budget: u64,
        max_seqs: usize,
        step_tokens: usize,
    ) -> Result<Vec<usize>, PoolError> {
        if self.block_size == 0
            || self.windows.is_empty()
            || self.kv_heads == 0
            || self.head_dim == 0
        {
            return Err(PoolError::InvalidSpec(format!("{self:?}")));
        }
        if self.windows.contains(&Some(0)) {
            return Err(PoolError::InvalidSpec(
                "a sliding window of 0 tokens".into(),
            ));
        }
        let per_layer = self.block_bytes_per_layer();
        let groups = self.groups();
        let mut left = budget;
        let mut plan = vec![0; groups.len()];
        for (g, (w, layers)) in groups.iter().enumerate() {
            if let Some(w) = w {
                let blocks = self.sliding_blocks_per_seq(*w, step_tokens) * max_seqs.max(1);
                let bytes = blocks as u64 * per_layer * layers.len() as u64;
                left = left.checked_sub(bytes).ok_or_else(|| PoolError::BudgetTooSmall {
                    budget,
                    reason: format!(
                        "{max_seqs} sequences need {bytes} bytes for the layers with a {w}-token window"
                    ),
                })?;
                plan[g] = blocks;
            }
        }
        if let Some(g) = groups.iter().position(|(w, _)| w.is_none()) {
            let bytes_per_block = per_layer * groups[g].1.len() as u64;
            let blocks = (left / bytes_per_block) as usize;
            if blocks == 0 {
                return Err(PoolError::BudgetTooSmall {
                    budget,
                    reason: "no room for a single block of the full-attention layers".into(),
                });
            }
            plan[g] = blocks;
        }
        Ok(plan)
    }

    /// Most tokens one sequence can hold with `plan` (the full-attention
    /// group's capacity; unbounded when every layer slides).
    pub fn token_capacity(&self, plan: &[usize]) -> usize {
        match self.groups().iter().position(|(w, _)| w.is_none()) {
            Some(g) => plan[g] * self.block_size,
            None => usize::MAX,
        }
    }
}

/// One window group's storage and free list.
struct Group<B: Backend> {
    window: Option<usize>,
    /// Per layer of the group: keys, values `[blocks, block_size, kv * d]`.
    /// `None` only while a write has taken the tensor out.
    storage: Vec<Option<(Tensor<B, 3>, Tensor<B, 3>)>>,
    free: Vec<u32>,
    total: usize,
}

/// A sequence's blocks in one group: `blocks[i]` holds logical block
/// `first + i` (tokens `(first + i) * block_size ..`).
#[derive(Debug, Clone, Default)]
struct GroupBlocks {
    first: usize,
    blocks: VecDeque<u32>,
}

/// One sequence's blocks. Created by [`KvPool::new_table`]; must be given
/// back with [`KvPool::release`].
#[derive(Debug, Clone, Default)]
pub struct BlockTable {
    groups: Vec<GroupBlocks>,
    len: usize,
}

impl BlockTable {
    /// Tokens cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Blocks held, over all groups.
    pub fn blocks(&self) -> usize {
        self.groups.iter().map(|g| g.blocks.len()).sum()
    }

    /// Blocks held in group `g`.
    pub fn blocks_in(&self, g: usize) -> usize {
        self.groups.get(g).map_or(0, |g| g.blocks.len())
    }
}

/// The block pool of one model (see the module documentation).
pub struct KvPool<B: Backend> {
    spec: KvSpec,
    groups: Vec<Group<B>>,
    /// Layer → (group, index of the layer in the group).
    layer_slot: Vec<(usize, usize)>,
    device: B::Device,
}

impl<B: Backend> std::fmt::Debug for KvPool<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvPool")
            .field("spec", &self.spec)
            .field("used", &self.used_blocks())
            .field("total", &self.total_blocks())
            .finish()
    }
}

impl<B: Backend> KvPool<B> {
    /// Allocates the pool: `plan[g]` blocks for group `g` of
    /// [`KvSpec::groups`] (see [`KvSpec::plan`]).
    pub fn new(spec: KvSpec, plan: &[usize], device: &B::Device) -> Result<Self, PoolError> {
        let groups_spec = spec.groups();
        if plan.len() != groups_spec.len() {
            return Err(PoolError::InvalidSpec(format!(
                "{} block counts for {} groups",
                plan.len(),
                groups_spec.len()
            )));
        }
        let width = spec.kv_heads * spec.head_dim;
        let mut layer_slot = vec![(0, 0); spec.windows.len()];
        let mut groups = Vec::with_capacity(groups_spec.len());
        for (g, ((window, layers), &blocks)) in groups_spec.iter().zip(plan).enumerate() {
            let storage = layers
                .iter()
                .enumerate()
                .map(|(i, &layer)| {
                    layer_slot[layer] = (g, i);
                    let shape = [blocks, spec.block_size, width];
                    Some((Tensor::zeros(shape, device), Tensor::zeros(shape, device)))
                })
                .collect();
            groups.push(Group {
                window: *window,
                storage,
                // Popped from the back: block 0 is handed out first.
                free: (0..blocks as u32).rev().collect(),
                total: blocks,
            });
        }
        Ok(Self {
            spec,
            groups,
            layer_slot,
            device: device.clone(),
        })
    }

    /// The device the storage lives on.
    pub fn device(&self) -> &B::Device {
        &self.device
    }

    /// The cache shape.
    pub fn spec(&self) -> &KvSpec {
        &self.spec
    }

    /// Blocks in the pool.
    pub fn total_blocks(&self) -> usize {
        self.groups.iter().map(|g| g.total).sum()
    }

    /// Blocks held by sequences.
    pub fn used_blocks(&self) -> usize {
        self.groups.iter().map(|g| g.total - g.free.len()).sum()
    }

    /// Free blocks of group `g`.
    pub fn free_blocks(&self, g: usize) -> usize {
        self.groups.get(g).map_or(0, |g| g.free.len())
    }

    /// Total blocks of group `g`.
    pub fn group_blocks(&self, g: usize) -> usize {
        self.groups.get(g).map_or(0, |g| g.total)
    }

    /// Index of the full-attention group, if the model has one.
    pub fn full_group(&self) -> Option<usize> {
        self.groups.iter().position(|g| g.window.is_none())
    }

    /// An empty table for a new sequence.
    pub fn new_table(&self) -> BlockTable {
        BlockTable {
            groups: vec![GroupBlocks::default(); self.groups.len()],
            len: 0,
        }
    }

    /// The logical blocks group `g` must hold for tokens `table.len..upto`
    /// to be written, as `(first, last)` logical block indices.
    fn needed_range(&self, g: usize, table: &BlockTable, upto: usize) -> Option<(usize, usize)> {
        if upto == 0 {
            return None;
        }
        let bs = self.spec.block_size;
        let keep_from = match self.groups[g].window {
            None => 0,
            Some(w) => table.len.saturating_sub(w - 1),
        };
        Some((keep_from / bs, (upto - 1) / bs))
    }

    /// New blocks each group needs so that `table` can hold `upto` tokens
    /// (only the full-attention group when `full_only`).
    pub fn blocks_to_grow(&self, table: &BlockTable, upto: usize, full_only: bool) -> Vec<usize> {
        (0..self.groups.len())
            .map(|g| {
                if full_only && self.groups[g].window.is_some() {
                    return 0;
                }
                let Some((_, last)) = self.needed_range(g, table, upto) else {
                    return 0;
                };
                let gb = &table.groups[g];
                let have_until = gb.first + gb.blocks.len(); // exclusive
                let start = have_until.max(self.needed_range(g, table, upto).map_or(0, |r| r.0));
                (last + 1).saturating_sub(start)
            })
            .collect()
    }

    /// Whether [`KvPool::grow`] would succeed.
    pub fn can_grow(&self, table: &BlockTable, upto: usize, full_only: bool) -> bool {
        self.blocks_to_grow(table, upto, full_only)
            .iter()
            .zip(&self.groups)
            .all(|(need, g)| *need <= g.free.len())
    }

    /// Allocates blocks so that `table` can hold `upto` tokens (every group,
    /// or only the full-attention one with `full_only`). All or nothing.
    pub fn grow(
        &mut self,
        table: &mut BlockTable,
        upto: usize,
        full_only: bool,
    ) -> Result<(), PoolError> {
        let needs = self.blocks_to_grow(table, upto, full_only);
        for (g, (&need, group)) in needs.iter().zip(&self.groups).enumerate() {
            if need > group.free.len() {
                return Err(PoolError::OutOfBlocks {
                    group: g,
                    needed: need,
                    free: group.free.len(),
                });
            }
        }
        for (g, need) in needs.into_iter().enumerate() {
            if need == 0 {
                continue;
            }
            let first_needed = self.needed_range(g, table, upto).map_or(0, |r| r.0);
            let gb = &mut table.groups[g];
            if gb.blocks.is_empty() {
                gb.first = first_needed;
            }
            for _ in 0..need {
                let id = self.groups[g].free.pop().expect("free count checked above");
                gb.blocks.push_back(id);
            }
        }
        Ok(())
    }

    /// Gives every block of `table` back and empties it.
    pub fn release(&mut self, table: &mut BlockTable) {
        for (g, gb) in table.groups.iter_mut().enumerate() {
            self.groups[g].free.extend(gb.blocks.drain(..));
            gb.first = 0;
        }
        table.len = 0;
    }

    /// Marks `n` more tokens as cached and gives back the blocks of sliding
    /// groups that no later query can see.
    pub(crate) fn advance(&mut self, table: &mut BlockTable, n: usize) {
        table.len += n;
        let bs = self.spec.block_size;
        for (g, group) in self.groups.iter_mut().enumerate() {
            let Some(w) = group.window else { continue };
            let keep_from = table.len.saturating_sub(w - 1) / bs;
            let gb = &mut table.groups[g];
            while gb.first < keep_from {
                match gb.blocks.pop_front() {
                    Some(id) => group.free.push(id),
                    None => {
                        gb.first = keep_from;
                        break;
                    }
                }
                gb.first += 1;
            }
        }
    }

    /// The gather index of `table`'s blocks that group `g` must read for a
    /// step writing tokens `table.len..table.len + n`, and the cache index
    /// of the first token of the first block.
    pub(crate) fn gather_index(
        &self,
        g: usize,
        table: &BlockTable,
        n: usize,
    ) -> (Tensor<B, 1, Int>, usize) {
        let bs = self.spec.block_size;
        let gb = &table.groups[g];
        let from = match self.groups[g].window {
            None => 0,
            Some(w) => (table.len + 1).saturating_sub(w),
        };
        let first = (from / bs).max(gb.first);
        let last = (table.len + n - 1) / bs;
        let ids: Vec<i64> = gb
            .blocks
            .iter()
            .skip(first - gb.first)
            .take(last + 1 - first)
            .map(|&b| i64::from(b))
            .collect();
        let len = ids.len();
        (
            Tensor::from_data(TensorData::new(ids, [len]), &self.device),
            first * bs,
        )
    }

    /// Writes layer `layer`'s keys and values of the tokens
    /// `table.len..table.len + n` into their blocks and returns every key and
    /// value they may attend to (see [`omnivox_model::KvCache::append`]).
    /// `index` is [`KvPool::gather_index`] for the layer's group.
    ///
    /// # Shapes
    /// - `k`, `v`: `[kv_heads, n, head_dim]`
    pub(crate) fn append(
        &mut self,
        layer: usize,
        table: &BlockTable,
        k: Tensor<B, 3>,
        v: Tensor<B, 3>,
        index: &(Tensor<B, 1, Int>, usize),
    ) -> omnivox_model::Result<KvView<B>> {
        let &(g, slot) = self.layer_slot.get(layer).ok_or_else(|| {
            omnivox_model::Error::InvalidInput(format!("layer {layer} is not in the KV pool"))
        })?;
        let [h, n, d] = k.dims();
        let width = h * d;
        let bs = self.spec.block_size;
        let rows = |t: Tensor<B, 3>| t.swap_dims(0, 1).reshape([n, width]); // [n, kv*d]
        let (k_rows, v_rows) = (rows(k), rows(v));
        let gb = &table.groups[g];
        let mut runs = Vec::with_capacity(n.div_ceil(bs) + 1);
        let mut done = 0;
        while done < n {
            let token = table.len + done;
            let (logical, offset) = (token / bs, token % bs);
            let run = (bs - offset).min(n - done);
            let Some(&id) = logical.checked_sub(gb.first).and_then(|i| gb.blocks.get(i)) else {
                return Err(omnivox_model::Error::InvalidInput(format!(
                    "token {token} has no KV block (the scheduler did not grow the table)"
                )));
            };
            runs.push(Run {
                dst: id as usize * bs + offset,
                src: done,
                len: run,
            });
            done += run;
        }
        let (ks, vs) = self.groups[g].storage[slot]
            .take()
            .expect("storage is only taken inside append");
        let ks = write_runs(ks, k_rows, &runs);
        let vs = write_runs(vs, v_rows, &runs);
        let (idx, base) = index;
        let nb = idx.dims()[0];
        let total = table.len + n - base;
        let gather = |s: &Tensor<B, 3>| {
            s.clone()
                .select(0, idx.clone())
                .reshape([nb * bs, width])
                .narrow(0, 0, total)
                .reshape([total, h, d])
                .swap_dims(0, 1)
        };
        let view = KvView {
            k: gather(&ks),
            v: gather(&vs),
            start: *base,
        };
        self.groups[g].storage[slot] = Some((ks, vs));
        Ok(view)
    }

    /// The group of `layer`.
    pub(crate) fn group_of(&self, layer: usize) -> Option<usize> {
        self.layer_slot.get(layer).map(|&(g, _)| g)
    }

    /// Number of groups.
    pub fn num_groups(&self) -> usize {
        self.groups.len()
    }
}
