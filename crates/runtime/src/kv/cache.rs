//! [`PagedKv`]: one sequence's view of the pool during one forward pass.

use super::pool::{BlockTable, KvPool};
use burn::tensor::{Int, Tensor, backend::Backend};
use omnivox_model::{KvCache, KvView, Result};
use std::cell::RefCell;

/// A sequence's KV cache for one step: reads and writes its blocks in the
/// shared pool. The pool is behind a `RefCell` because every sequence of a
/// step holds a handle at once while attention visits them one by one.
pub struct PagedKv<'a, B: Backend> {
    pool: &'a RefCell<KvPool<B>>,
    table: &'a mut BlockTable,
    /// Per group, the gather index of this step (the same for every layer
    /// of the group), built by the group's first layer.
    index: Vec<Option<(Tensor<B, 1, Int>, usize)>>,
    /// Tokens of this step, known from the first `append`.
    step_tokens: usize,
}

impl<B: Backend> std::fmt::Debug for PagedKv<'_, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagedKv")
            .field("table", &self.table)
            .finish()
    }
}

impl<'a, B: Backend> PagedKv<'a, B> {
    /// A handle on `table`'s blocks in `pool`. The table must already hold
    /// blocks for the tokens the step will write ([`KvPool::grow`]).
    pub fn new(pool: &'a RefCell<KvPool<B>>, table: &'a mut BlockTable) -> Self {
        let groups = pool.borrow().num_groups();
        Self {
            pool,
            table,
            index: vec![None; groups],
            step_tokens: 0,
        }
    }
}

impl<B: Backend> KvCache<B> for PagedKv<'_, B> {
    fn seq_len(&self) -> usize {
        self.table.len()
    }

    fn append(&mut self, layer: usize, k: Tensor<B, 3>, v: Tensor<B, 3>) -> Result<KvView<B>> {
        let n = k.dims()[1];
        if n == 0 {
            return Err(omnivox_model::Error::InvalidInput(
                "an empty KV append".into(),
            ));
        }
        if self.step_tokens != 0 && self.step_tokens != n {
            return Err(omnivox_model::Error::InvalidInput(format!(
                "layer {layer} appends {n} tokens, an earlier layer of this step {}",
                self.step_tokens
            )));
        }
        self.step_tokens = n;
        let mut pool = self.pool.borrow_mut();
        let g = pool.group_of(layer).ok_or_else(|| {
            omnivox_model::Error::InvalidInput(format!("layer {layer} is not in the KV pool"))
        })?;
        if self.index[g].is_none() {
            self.index[g] = Some(pool.gather_index(g, self.table, n));
        }
        let index = self.index[g].as_ref().expect("set just above");
        pool.append(layer, self.table, k, v, index)
    }

    fn advance(&mut self, n: usize) {
        self.pool.borrow_mut().advance(self.table, n);
        self.index.iter_mut().for_each(|i| *i = None);
        self.step_tokens = 0;
    }
}
