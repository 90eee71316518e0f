//! The key/value cache of one sequence, behind a trait.
//!
//! Attention asks the cache of each sequence, layer by layer, to store the
//! new tokens' keys and values and to hand back everything those tokens may
//! attend to. [`ContiguousKvCache`] keeps one growing tensor per layer; the
//! runtime adds a paged block-pool implementation of the same trait.
//!
//! Cache indices count the sequence's tokens from 0 in the order they were
//! fed; masks are defined on them, exactly as transformers' `cache_position`
//! (rotary positions are separate, see [`Positions`](crate::nn::Positions)).

use crate::error::{Error, Result};
use burn::tensor::{Tensor, backend::Backend};

/// What attention over one sequence needs from its cache, for one layer.
#[derive(Debug, Clone)]
pub struct KvView<B: Backend> {
    /// Keys, `[kv_heads, len, head_dim]`, rotary already applied.
    pub k: Tensor<B, 3>,
    /// Values, `[kv_heads, len, head_dim]`.
    pub v: Tensor<B, 3>,
    /// Cache index of the first key in `k` (non-zero once a sliding window
    /// has dropped older keys).
    pub start: usize,
}

/// A sequence's key/value cache.
///
/// A forward pass over `n` new tokens of the sequence calls
/// [`append`](KvCache::append) once per layer, then
/// [`advance`](KvCache::advance)`(n)` once.
pub trait KvCache<B: Backend> {
    /// Tokens cached so far: the cache index of the next token.
    fn seq_len(&self) -> usize;

    /// Stores layer `layer`'s keys and values for the tokens at cache indices
    /// `seq_len()..seq_len() + n` and returns every key and value those
    /// tokens may attend to (older retained ones followed by the new ones).
    ///
    /// # Shapes
    /// - `k`, `v`: `[kv_heads, n, head_dim]`
    fn append(&mut self, layer: usize, k: Tensor<B, 3>, v: Tensor<B, 3>) -> Result<KvView<B>>;

    /// Marks the `n` tokens of this forward pass as cached.
    fn advance(&mut self, n: usize);
}

/// One layer's keys and values: slots `off..off + len` of buffers with room
/// for `cap` tokens.
#[derive(Debug, Clone)]
struct LayerKv<B: Backend> {
    k: Tensor<B, 3>,
    v: Tensor<B, 3>,
    off: usize,
    len: usize,
}

impl<B: Backend> LayerKv<B> {
    fn cap(&self) -> usize {
        self.k.dims()[1]
    }
}

/// Keys and values in preallocated buffers per layer, written in place
/// (`slice_assign` on a uniquely held buffer is an in-place copy of the new
/// tokens on flex), grown by doubling.
///
/// A sliding-window layer keeps only the last `window - 1` tokens between
/// forward passes — all that the next token can see — and compacts its
/// buffer when it runs out of room, so its memory is O(window + tokens per
/// step), not O(context).
#[derive(Debug, Clone)]
pub struct ContiguousKvCache<B: Backend> {
    windows: Vec<Option<usize>>,
    layers: Vec<Option<LayerKv<B>>>,
    seq_len: usize,
}

/// Smallest buffer allocated for a layer, in tokens.
const MIN_CAPACITY: usize = 64;

impl<B: Backend> ContiguousKvCache<B> {
    /// An empty cache for layers whose attention windows are `windows`
    /// (`None`: full attention). See
    /// [`DecoderConfig::window`](crate::config::DecoderConfig::window).
    pub fn new(windows: Vec<Option<usize>>) -> Self {
        Self {
            layers: vec![None; windows.len()],
            windows,
            seq_len: 0,
        }
    }

    /// Tokens layer `layer` currently keeps.
    pub fn stored_tokens(&self, layer: usize) -> usize {
        match self.layers.get(layer) {
            Some(Some(l)) => l.len,
            _ => 0,
        }
    }

    /// Tokens layer `layer` has room for (its buffers' size).
    pub fn capacity(&self, layer: usize) -> usize {
        match self.layers.get(layer) {
            Some(Some(l)) => l.cap(),
            _ => 0,
        }
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.layers.iter_mut().for_each(|l| *l = None);
        self.seq_len = 0;
    }
}

/// Copies slots `off..off + len` of `buf` into the front of a buffer of
/// `cap` slots (a fresh one when `cap` differs).
fn compact<B: Backend>(buf: Tensor<B, 3>, off: usize, len: usize, cap: usize) -> Tensor<B, 3> {
    let [h, old_cap, d] = buf.dims();
    if off == 0 && cap == old_cap {
        return buf;
    }
    let live = buf.clone().narrow(1, off, len);
    let target = if cap == old_cap {
        buf
    } else {
        Tensor::zeros([h, cap, d], &buf.device())
    };
    if len == 0 {
        return target;
    }
    target.slice_assign([0..h, 0..len, 0..d], live)
}

impl<B: Backend> KvCache<B> for ContiguousKvCache<B> {
    fn seq_len(&self) -> usize {
        self.seq_len
    }

    fn append(&mut self, layer: usize, k: Tensor<B, 3>, v: Tensor<B, 3>) -> Result<KvView<B>> {
        let nlayers = self.layers.len();
        let window = *self.windows.get(layer).ok_or_else(|| {
            Error::InvalidInput(format!(
                "layer {layer} out of range for a {nlayers}-layer cache"
            ))
        })?;
        let [h, n, d] = k.dims();
        let keep = window.map(|w| w.saturating_sub(1));
        let slot = &mut self.layers[layer];
        let mut l = slot.take().unwrap_or_else(|| {
            let cap = n.max(MIN_CAPACITY);
            LayerKv {
                k: Tensor::zeros([h, cap, d], &k.device()),
                v: Tensor::zeros([h, cap, d], &k.device()),
                off: 0,
                len: 0,
            }
        });
        if l.off + l.len + n > l.cap() {
            // Out of room: compact to the front, growing when the live
            // tokens plus the new ones do not fit in half the buffer.
            let need = l.len + n;
            let cap = if need * 2 <= l.cap() {
                l.cap()
            } else {
                (need * 2).max(MIN_CAPACITY)
            };
            l.k = compact(l.k, l.off, l.len, cap);
            l.v = compact(l.v, l.off, l.len, cap);
            l.off = 0;
        }
        let (at, end) = (l.off + l.len, l.off + l.len + n);
        l.k = l.k.slice_assign([0..h, at..end, 0..d], k);
        l.v = l.v.slice_assign([0..h, at..end, 0..d], v);
        let total = l.len + n;
        let view = KvView {
            k: l.k.clone().narrow(1, l.off, total),
            v: l.v.clone().narrow(1, l.off, total),
            start: self.seq_len - l.len,
        };
        // Keep only what later tokens can still see.
        let kept = keep.map_or(total, |w| total.min(w));
        l.off += total - kept;
        l.len = kept;
        *slot = Some(l);
        Ok(view)
    }

    fn advance(&mut self, n: usize) {
        self.seq_len += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::to_vec;
    use burn::tensor::TensorData;

    /// Keys whose every element is its token's cache index.
    fn keys<B: Backend>(from: usize, n: usize, device: &B::Device) -> Tensor<B, 3> {
        let data: Vec<f32> = (0..2 * n * 3)
            .map(|i| (from + (i / 3) % n) as f32)
            .collect();
        Tensor::from_data(TensorData::new(data, [2, n, 3]), device)
    }

    /// Feeds 1000 tokens in uneven chunks: every view holds exactly the
    /// tokens the window allows, in order, and the buffers stay O(window).
    fn sliding_layer_keeps_the_window<B: Backend>(device: &B::Device) {
        let w = 16;
        let mut cache = ContiguousKvCache::<B>::new(vec![Some(w), None]);
        let mut pos = 0;
        for (step, n) in [5usize, 1, 1, 40, 1, 3].iter().cycle().take(60).enumerate() {
            let n = (*n).min(1000 - pos);
            if n == 0 {
                break;
            }
            for layer in 0..2 {
                let view = cache
                    .append(layer, keys(pos, n, device), keys(pos, n, device))
                    .unwrap();
                let first = if layer == 0 {
                    pos.saturating_sub(w - 1)
                } else {
                    0
                };
                assert_eq!(view.start, first, "step {step} layer {layer}");
                let got = to_vec(view.k.narrow(0, 0, 1));
                let want: Vec<f32> = (first..pos + n).flat_map(|t| [t as f32; 3]).collect();
                assert_eq!(got, want, "step {step} layer {layer}");
            }
            cache.advance(n);
            pos += n;
            assert!(cache.stored_tokens(0) < w);
            assert!(
                cache.capacity(0) <= 2 * (w - 1 + 40),
                "capacity {}",
                cache.capacity(0)
            );
        }
        assert_eq!(cache.stored_tokens(1), pos);
    }

    crate::backend_tests!(sliding_layer_keeps_the_window);
}
