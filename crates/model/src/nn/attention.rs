//! Grouped-query self-attention with optional QK-norm, qkv bias, and causal
//! or sliding-window masking, run per sequence against its KV cache.
//!
//! Reference: `Qwen3Attention` / `Qwen2Attention` and `eager_attention_forward`
//! in `transformers/models/qwen3/modeling_qwen3.py`; masks as
//! `causal_mask_function` and `sliding_window_overlay` in
//! `transformers/masking_utils.py`: query at cache index `q` sees key `k` iff
//! `k <= q` and, with a window `w`, `k > q - w`.
//!
//! GQA without repeating K/V: the query heads that share a KV head are
//! stacked along the row axis (`[kv_heads, group * tokens, head_dim]`), so
//! each matmul has equal batch sizes on both sides. (transformers'
//! `repeat_kv` maps query head `h` to KV head `h / group`, which is exactly
//! this grouping.) Equal batch sizes also avoid flex's unchecked matmul
//! broadcast.

use super::linear::{Linear, RmsNorm};
use super::rope::{RopeTables, apply_rotary};
use crate::batch::BatchSeq;
use crate::config::DecoderConfig;
use crate::error::Result;
use crate::loader::VarBuilder;
use burn::module::Module;
use burn::tensor::activation::softmax;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Tensor, TensorData, backend::Backend};

/// Self-attention of one decoder layer.
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    /// `q_proj`.
    pub q_proj: Linear<B>,
    /// `k_proj`.
    pub k_proj: Linear<B>,
    /// `v_proj`.
    pub v_proj: Linear<B>,
    /// `o_proj`.
    pub o_proj: Linear<B>,
    /// `q_norm` (Qwen3): RMSNorm over each query head.
    pub q_norm: Option<RmsNorm<B>>,
    /// `k_norm` (Qwen3): RMSNorm over each key head.
    pub k_norm: Option<RmsNorm<B>>,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads.
    pub num_kv_heads: usize,
    /// Per-head width.
    pub head_dim: usize,
    /// Sliding window, `None` for full causal attention.
    pub window: Option<usize>,
    /// This layer's index (its slot in each KV cache).
    pub layer: usize,
}

impl<B: Backend> Attention<B> {
    /// Loads `q_proj`, `k_proj`, `v_proj`, `o_proj` and, with QK-norm,
    /// `q_norm`, `k_norm` from `vb` (a `…self_attn` view).
    pub fn load(vb: &VarBuilder<'_, B>, cfg: &DecoderConfig, layer: usize) -> Self {
        let (h, kv, d) = (
            cfg.num_attention_heads,
            cfg.num_key_value_heads,
            cfg.head_dim,
        );
        let hidden = cfg.hidden_size;
        let norm = |name: &str| {
            cfg.qk_norm
                .then(|| RmsNorm::load(&vb.pp(name), d, cfg.rms_norm_eps))
        };
        Self {
            q_proj: Linear::load(&vb.pp("q_proj"), hidden, h * d, cfg.qkv_bias),
            k_proj: Linear::load(&vb.pp("k_proj"), hidden, kv * d, cfg.qkv_bias),
            v_proj: Linear::load(&vb.pp("v_proj"), hidden, kv * d, cfg.qkv_bias),
            o_proj: Linear::load(&vb.pp("o_proj"), h * d, hidden, cfg.o_bias),
            q_norm: norm("q_norm"),
            k_norm: norm("k_norm"),
            num_heads: h,
            num_kv_heads: kv,
            head_dim: d,
            window: cfg.window(layer),
            layer,
        }
    }

    /// Attention over a batch of sequences.
    ///
    /// Projects all tokens at once, applies QK-norm and rotary embeddings,
    /// then for each sequence appends its keys and values to its cache and
    /// attends over what the cache returns.
    ///
    /// # Shapes
    /// - `x`: `[tokens, hidden]`, sequences back to back as in `seqs`
    /// - `rope`: tables of `[tokens, heads * head_dim]`
    /// - output: `[tokens, hidden]`
    pub fn forward(
        &self,
        x: Tensor<B, 2>,
        rope: &RopeTables<B>,
        seqs: &mut [BatchSeq<'_, B>],
    ) -> Result<Tensor<B, 2>> {
        let n = x.dims()[0];
        let (h, kv, d) = (self.num_heads, self.num_kv_heads, self.head_dim);
        let mut q = self.q_proj.forward(x.clone()); // [n, h*d]
        let mut k = self.k_proj.forward(x.clone()); // [n, kv*d]
        let v = self.v_proj.forward(x); // [n, kv*d]
        if let (Some(qn), Some(kn)) = (&self.q_norm, &self.k_norm) {
            // Per head, on 2-D views (rows = token × head).
            q = qn.forward(q.reshape([n * h, d])).reshape([n, h * d]);
            k = kn.forward(k.reshape([n * kv, d])).reshape([n, kv * d]);
        }
        let q = apply_rotary(q, &rope.q);
        let k = apply_rotary(k, &rope.k);
        let mut outs = Vec::with_capacity(seqs.len());
        let mut offset = 0;
        for seq in seqs.iter_mut() {
            let len = seq.len();
            let q = q.clone().narrow(0, offset, len).reshape([len, h, d]);
            let k = k.clone().narrow(0, offset, len).reshape([len, kv, d]);
            let v = v.clone().narrow(0, offset, len).reshape([len, kv, d]);
            outs.push(self.attend_one(q, k, v, seq)?);
            offset += len;
        }
        let out = if outs.len() == 1 {
            outs.pop().expect("one output")
        } else {
            Tensor::cat(outs, 0)
        };
        Ok(self.o_proj.forward(out))
    }

    /// One sequence: `q` `[len, heads, d]`, `k`/`v` `[len, kv_heads, d]` →
    /// `[len, heads * d]`.
    fn attend_one(
        &self,
        q: Tensor<B, 3>,
        k: Tensor<B, 3>,
        v: Tensor<B, 3>,
        seq: &mut BatchSeq<'_, B>,
    ) -> Result<Tensor<B, 2>> {
        let (h, d) = (self.num_heads, self.head_dim);
        let len = q.dims()[0];
        let past = seq.cache.seq_len();
        let view = seq
            .cache
            .append(self.layer, k.swap_dims(0, 1), v.swap_dims(0, 1))?;
        let device = view.k.device();
        let vis = self.mask(past, len, view.start, view.k.dims()[1], &device);
        let out = match vis {
            // Decode, or a chunk that sees all it is given: no mask at all.
            Visibility::All if len == 1 => self.attend_grouped(q, view.k, view.v),
            vis => self.attend_fused(q, view.k, view.v, vis),
        };
        Ok(out.reshape([len, h * d]))
    }

    /// The query heads that share a KV head stacked as rows, no mask
    /// (decode): `[len, heads, d]` → `[len, heads, d]`.
    fn attend_grouped(&self, q: Tensor<B, 3>, k: Tensor<B, 3>, v: Tensor<B, 3>) -> Tensor<B, 3> {
        let (h, kv, d) = (self.num_heads, self.num_kv_heads, self.head_dim);
        let len = q.dims()[0];
        let group = h / kv;
        let q = q.swap_dims(0, 1).reshape([kv, group * len, d]);
        let scale = (d as f64).powf(-0.5);
        let scores = q.matmul(k.swap_dims(1, 2)).mul_scalar(scale); // [kv, group*len, total]
        let out = softmax(scores, 2).matmul(v); // [kv, group*len, d]
        out.reshape([h, len, d]).swap_dims(0, 1)
    }

    /// burn's fused attention (flash-style on flex), KV heads repeated to
    /// the query heads (it has no GQA), causal via `is_causal` only when
    /// queries and keys coincide (CUDA's kernels align the causal diagonal
    /// top-left), an explicit mask otherwise.
    fn attend_fused(
        &self,
        q: Tensor<B, 3>,
        k: Tensor<B, 3>,
        v: Tensor<B, 3>,
        vis: Visibility<B>,
    ) -> Tensor<B, 3> {
        let (h, kv, d) = (self.num_heads, self.num_kv_heads, self.head_dim);
        let [kv_, total, _] = k.dims();
        debug_assert_eq!(kv_, kv);
        let repeat = |t: Tensor<B, 3>| -> Tensor<B, 4> {
            t.unsqueeze_dim::<4>(1)
                .expand([kv, h / kv, total, d])
                .reshape([1, h, total, d])
        };
        let q4: Tensor<B, 4> = q.swap_dims(0, 1).unsqueeze_dim(0); // [1, h, len, d]
        let (mask, is_causal) = match vis {
            Visibility::All => (None, false),
            Visibility::Causal => (None, true),
            Visibility::Mask(m) => (Some(m.unsqueeze::<4>()), false),
        };
        let options = AttentionModuleOptions {
            scale: None,
            softcap: None,
            is_causal,
        };
        let out = attention(q4, repeat(k), repeat(v), mask, None, options); // [1, h, len, d]
        out.squeeze_dim::<3>(0).swap_dims(0, 1)
    }

    /// Which of `total` keys from cache index `start` each of `len` queries
    /// at cache indices `past..past + len` may see. Row `i` sees the
    /// contiguous key range `lo(i)..=hi(i)`; both ends grow with `i`.
    fn mask(
        &self,
        past: usize,
        len: usize,
        start: usize,
        total: usize,
        device: &B::Device,
    ) -> Visibility<B> {
        // In key-slot coordinates (cache index − start).
        let hi = |i: usize| (past + i - start).min(total - 1);
        let lo = |i: usize| {
            self.window.map_or(0, |w| {
                (past + i + 1).saturating_sub(w).saturating_sub(start)
            })
        };
        if hi(0) == total - 1 && lo(len - 1) == 0 {
            return Visibility::All;
        }
        if start == past && total == len && lo(len - 1) == 0 {
            return Visibility::Causal;
        }
        let data: Vec<bool> = (0..len)
            .flat_map(|i| (0..total).map(move |j| j < lo(i) || j > hi(i)))
            .collect();
        Visibility::Mask(Tensor::from_data(
            TensorData::new(data, [len, total]),
            device,
        ))
    }
}

/// What the queries of one attention call may see.
enum Visibility<B: Backend> {
    /// Every key.
    All,
    /// Plain causal: queries and keys are the same tokens.
    Causal,
    /// `[len, total]`, `true` where masked out.
    Mask(Tensor<B, 2, Bool>),
}
