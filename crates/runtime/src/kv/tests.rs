//! The paged cache against the model crate's contiguous one: same logits
//! for several sequences fed in uneven chunks in shared forward passes, and
//! the block accounting (windows, release, budgets).

#![allow(clippy::unwrap_used)]

use super::*;
use burn::tensor::backend::Backend;
use omnivox_model::testing::{check_close, fixture_dir, to_vec};
use omnivox_model::{BatchSeq, DecoderInput, KvCache, QwenForCausalLM};
use std::cell::RefCell;

fn spec_of<B: Backend>(model: &QwenForCausalLM<B>, block_size: usize) -> KvSpec {
    let c = &model.config;
    KvSpec {
        windows: (0..c.num_hidden_layers).map(|i| c.window(i)).collect(),
        kv_heads: c.num_key_value_heads,
        head_dim: c.head_dim,
        block_size,
    }
}

/// Token `i` of sequence `s`: deterministic ids inside a 256-token vocab.
fn token(s: usize, i: usize) -> u32 {
    ((s * 131 + i * 17 + i * i) % 250) as u32
}

/// Three sequences of different lengths, fed in uneven chunks, sharing each
/// forward pass: every step's logits equal a contiguous cache's for the
/// same sequence run alone, and sliding groups never hold more blocks than
/// their bound.
fn paged_equals_contiguous<B: Backend>(fixture: &str, device: &B::Device) {
    let model = QwenForCausalLM::<B>::from_pretrained(fixture_dir(fixture), device).unwrap();
    let spec = spec_of(&model, 4);
    let step_tokens = 9;
    let plan = spec.plan(1 << 20, 3, step_tokens).unwrap();
    let pool = RefCell::new(KvPool::<B>::new(spec.clone(), &plan, device).unwrap());
    let lens = [37usize, 23, 50];
    let chunks = [5usize, 1, 9, 1, 1, 3, 7, 1, 2];
    let mut tables: Vec<BlockTable> = lens.iter().map(|_| pool.borrow().new_table()).collect();
    let mut reference: Vec<_> = lens.iter().map(|_| model.new_cache()).collect();
    let mut fed = [0usize; 3];
    for step in 0.. {
        // Each unfinished sequence contributes its next chunk.
        let plan: Vec<(usize, usize)> = (0..3)
            .filter(|&s| fed[s] < lens[s])
            .map(|s| (s, chunks[(step + s) % chunks.len()].min(lens[s] - fed[s])))
            .collect();
        if plan.is_empty() {
            break;
        }
        let mut ids = Vec::new();
        for &(s, n) in &plan {
            let upto = tables[s].len() + n;
            pool.borrow_mut().grow(&mut tables[s], upto, false).unwrap();
            ids.extend((fed[s]..fed[s] + n).map(|i| token(s, i)));
        }
        let logits = {
            let mut handles: Vec<PagedKv<'_, B>> = Vec::new();
            let mut rest: &mut [BlockTable] = &mut tables;
            let mut base = 0;
            for &(s, _) in &plan {
                let (_, tail) = rest.split_at_mut(s - base);
                let (first, tail) = tail.split_first_mut().unwrap();
                handles.push(PagedKv::new(&pool, first));
                rest = tail;
                base = s + 1;
            }
            let mut seqs: Vec<BatchSeq<'_, B>> = handles
                .iter_mut()
                .zip(&plan)
                .map(|(h, &(_, n))| BatchSeq::text(h, n))
                .collect();
            let out = model
                .forward_batch(DecoderInput::Ids(ids), &mut seqs, &[])
                .unwrap();
            model.logits(out.hidden)
        };
        let mut offset = 0;
        for &(s, n) in &plan {
            let want = model
                .forward(
                    &(fed[s]..fed[s] + n)
                        .map(|i| token(s, i))
                        .collect::<Vec<_>>(),
                    &mut reference[s],
                )
                .unwrap();
            let got = logits.clone().narrow(0, offset, n);
            check_close(&to_vec(got), &to_vec(want), 1e-4, 1e-4)
                .unwrap_or_else(|e| panic!("{fixture} step {step} seq {s}: {e}"));
            offset += n;
            fed[s] += n;
            assert_eq!(tables[s].len(), fed[s]);
            for (g, (w, _)) in spec.groups().iter().enumerate() {
                if let Some(w) = w {
                    let bound = spec.sliding_blocks_per_seq(*w, step_tokens);
                    assert!(
                        tables[s].blocks_in(g) <= bound,
                        "{} blocks > {bound}",
                        tables[s].blocks_in(g)
                    );
                }
            }
        }
    }
    let used = pool.borrow().used_blocks();
    assert!(used > 0);
    for t in &mut tables {
        pool.borrow_mut().release(t);
    }
    assert_eq!(
        pool.borrow().used_blocks(),
        0,
        "every block returns to the pool"
    );
    assert_eq!(reference[0].seq_len(), lens[0]);
}

fn mixed_windows<B: Backend>(device: &B::Device) {
    paged_equals_contiguous::<B>("qwen3_sliding", device);
}

fn full_attention<B: Backend>(device: &B::Device) {
    paged_equals_contiguous::<B>("qwen3_tiny", device);
}

fn all_sliding<B: Backend>(device: &B::Device) {
    paged_equals_contiguous::<B>("qwen3_moe_sliding", device);
}

omnivox_model::backend_tests!(mixed_windows, full_attention, all_sliding);

fn spec(windows: Vec<Option<usize>>) -> KvSpec {
    KvSpec {
        windows,
        kv_heads: 2,
        head_dim: 8,
        block_size: 16,
    }
}

#[test]
fn budgets_are_split_between_window_groups() {
    let s = spec(vec![None, Some(64), None, Some(64)]);
    let per_layer = s.block_bytes_per_layer();
    assert_eq!(per_layer, 2 * 16 * 16 * 4);
    let groups = s.groups();
    assert_eq!(groups, vec![(None, vec![0, 2]), (Some(64), vec![1, 3])]);
    let sliding = s.sliding_blocks_per_seq(64, 32); // (63 + 32) / 16 rounded up, + 1
    assert_eq!(sliding, 7);
    let budget = 1_000_000;
    let plan = s.plan(budget, 4, 32).unwrap();
    assert_eq!(plan[1], 4 * sliding);
    let used = (plan[0] as u64 * 2 + plan[1] as u64 * 2) * per_layer;
    assert!(used <= budget && budget - used < 2 * per_layer, "{plan:?}");
    assert_eq!(s.token_capacity(&plan), plan[0] * 16);
    assert!(matches!(
        s.plan(10_000, 4, 32),
        Err(PoolError::BudgetTooSmall { .. })
    ));
    assert!(matches!(
        spec(vec![]).plan(budget, 1, 1),
        Err(PoolError::InvalidSpec(_))
    ));
    assert_eq!(spec(vec![Some(8)]).token_capacity(&[3]), usize::MAX);
}

#[test]
fn growing_is_all_or_nothing_and_release_frees_everything() {
    type B = omnivox_model::testing::NdArray;
    let s = spec(vec![None, Some(20)]);
    let pool_plan = [4, 6];
    let mut pool = KvPool::<B>::new(s, &pool_plan, &Default::default()).unwrap();
    assert_eq!(pool.total_blocks(), 10);
    let mut a = pool.new_table();
    // 40 tokens: 3 full blocks; the sliding group needs the same 3 now.
    pool.grow(&mut a, 40, false).unwrap();
    assert_eq!((a.blocks_in(0), a.blocks_in(1)), (3, 3));
    pool.advance(&mut a, 40);
    // Keeps tokens 21.. (window 20): blocks 1 and 2 of the sliding group.
    assert_eq!(a.blocks_in(1), 2);
    let mut b = pool.new_table();
    // 30 more full-attention tokens do not fit in the one free block.
    assert!(!pool.can_grow(&b, 30, true));
    let err = pool.grow(&mut b, 30, false).unwrap_err();
    assert!(
        matches!(
            err,
            PoolError::OutOfBlocks {
                group: 0,
                needed: 2,
                free: 1
            }
        ),
        "{err}"
    );
    assert_eq!(b.blocks(), 0, "nothing was taken");
    pool.grow(&mut b, 16, true).unwrap();
    assert_eq!((b.blocks_in(0), b.blocks_in(1)), (1, 0));
    assert_eq!(pool.used_blocks(), 3 + 2 + 1);
    pool.release(&mut a);
    pool.release(&mut b);
    assert_eq!(pool.used_blocks(), 0);
    assert!(a.is_empty() && a.blocks() == 0);
}
