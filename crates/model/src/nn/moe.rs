//! The sparse mixture-of-experts block: softmax router, top-k, optional
//! renormalisation, optional shared expert behind a sigmoid gate.
//!
//! Reference: `Qwen3MoeTopKRouter`, `Qwen3MoeExperts` and
//! `Qwen3MoeSparseMoeBlock` in
//! `transformers/models/qwen3_moe/modeling_qwen3_moe.py`; the shared expert
//! as `Qwen2MoeSparseMoeBlock` in
//! `transformers/models/qwen2_moe/modeling_qwen2_moe.py` (and the Qwen3-Omni
//! talker's identical block).
//!
//! Computed grouped by expert: the router runs on all tokens at once, the
//! top-k choice is made on the host, then each expert that received tokens
//! gathers them, runs one SwiGLU over the group, scales by the routing
//! weights and scatter-adds back — one set of matmuls per active expert, not
//! per token.

use super::linear::Linear;
use super::mlp::Mlp;
use crate::config::{DecoderConfig, MoeConfig};
use crate::error::{Error, Result};
use crate::loader::VarBuilder;
use burn::module::Module;
use burn::tensor::activation::sigmoid;
use burn::tensor::{IndexingUpdateOp, Int, Tensor, TensorData, backend::Backend};

/// A sparse MoE feed-forward block.
#[derive(Module, Debug)]
pub struct SparseMoe<B: Backend> {
    /// `gate`: the router, hidden → experts, no bias.
    pub gate: Linear<B>,
    /// `experts.{e}`.
    pub experts: Vec<Mlp<B>>,
    /// `shared_expert` (Qwen2-MoE, Qwen3-Omni talker).
    pub shared_expert: Option<Mlp<B>>,
    /// `shared_expert_gate`: hidden → 1, no bias.
    pub shared_expert_gate: Option<Linear<B>>,
    /// Experts per token.
    pub top_k: usize,
    /// Renormalise the top-k probabilities.
    pub norm_topk_prob: bool,
}

/// Which experts each token goes to, grouped by expert.
#[derive(Debug, Clone, PartialEq)]
pub struct Routing {
    /// For each expert, the tokens routed to it (ascending) and their weights.
    pub groups: Vec<(Vec<i64>, Vec<f32>)>,
}

impl Routing {
    /// Top-k routing from router logits `[tokens, experts]` (row-major),
    /// as transformers: softmax in f32, top-k, optional renormalisation.
    pub fn from_logits(logits: &[f32], experts: usize, top_k: usize, norm_topk_prob: bool) -> Self {
        let mut groups = vec![(Vec::new(), Vec::new()); experts];
        let mut probs = vec![0f32; experts];
        let mut order: Vec<usize> = Vec::with_capacity(experts);
        for (t, row) in logits.chunks_exact(experts).enumerate() {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0f32;
            for (p, &l) in probs.iter_mut().zip(row) {
                *p = (l - max).exp();
                sum += *p;
            }
            probs.iter_mut().for_each(|p| *p /= sum);
            order.clear();
            order.extend(0..experts);
            // Stable: on equal probabilities the lower expert index wins.
            order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
            let chosen = &order[..top_k];
            let denom: f32 = if norm_topk_prob {
                chosen.iter().map(|&e| probs[e]).sum()
            } else {
                1.0
            };
            for &e in chosen {
                groups[e].0.push(t as i64);
                groups[e].1.push(probs[e] / denom);
            }
        }
        Self { groups }
    }
}

impl<B: Backend> SparseMoe<B> {
    /// Loads `gate`, `experts.{0..E}` and, when configured,
    /// `shared_expert` and `shared_expert_gate` from `vb` (an `…mlp` view).
    pub fn load(vb: &VarBuilder<'_, B>, cfg: &DecoderConfig, moe: &MoeConfig) -> Self {
        let hidden = cfg.hidden_size;
        let experts = (0..moe.num_experts)
            .map(|e| Mlp::load(&vb.pp("experts").pp(e), hidden, moe.moe_intermediate_size))
            .collect();
        let shared = moe.shared_expert_intermediate_size;
        Self {
            gate: Linear::load(&vb.pp("gate"), hidden, moe.num_experts, false),
            experts,
            shared_expert: shared.map(|w| Mlp::load(&vb.pp("shared_expert"), hidden, w)),
            shared_expert_gate: shared
                .map(|_| Linear::load(&vb.pp("shared_expert_gate"), hidden, 1, false)),
            top_k: moe.num_experts_per_tok,
            norm_topk_prob: moe.norm_topk_prob,
        }
    }

    /// Routes every token (reads the router logits back to the host).
    ///
    /// # Shapes
    /// - `x`: `[tokens, hidden]`
    pub fn route(&self, x: Tensor<B, 2>) -> Result<Routing> {
        let logits = self.gate.forward(x);
        let experts = logits.dims()[1];
        let data = logits.into_data().convert::<f32>();
        let values = data
            .as_slice::<f32>()
            .map_err(|e| Error::InvalidInput(format!("router logits: {e:?}")))?;
        Ok(Routing::from_logits(
            values,
            experts,
            self.top_k,
            self.norm_topk_prob,
        ))
    }

    /// # Shapes
    /// - `x`: `[tokens, hidden]`
    /// - output: `[tokens, hidden]`
    pub fn forward(&self, x: Tensor<B, 2>) -> Result<Tensor<B, 2>> {
        let routing = self.route(x.clone())?;
        let device = x.device();
        let mut out = x.zeros_like();
        for (expert, (tokens, weights)) in self.experts.iter().zip(routing.groups) {
            if tokens.is_empty() {
                continue;
            }
            let n = tokens.len();
            let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(tokens, [n]), &device);
            let w = Tensor::<B, 2>::from_data(TensorData::new(weights, [n, 1]), &device);
            let y = expert.forward(x.clone().select(0, idx.clone())) * w; // [n, hidden]
            out = out.select_assign(0, idx, y, IndexingUpdateOp::Add);
        }
        if let (Some(shared), Some(gate)) = (&self.shared_expert, &self.shared_expert_gate) {
            let g = sigmoid(gate.forward(x.clone())); // [tokens, 1]
            out = out + shared.forward(x) * g;
        }
        Ok(out)
    }
}
