//! The Qwen decoder-only language models: `Qwen2ForCausalLM` (qkv bias),
//! `Qwen3ForCausalLM` (QK-norm), `Qwen3MoeForCausalLM` and
//! `Qwen2MoeForCausalLM` (sparse MoE, with a shared expert in Qwen2-MoE).
//!
//! Reference: `Qwen3Model` / `Qwen3ForCausalLM` in
//! `transformers/models/qwen3/modeling_qwen3.py` and their Qwen2, Qwen3-MoE
//! and Qwen2-MoE counterparts (transformers 5.24).
//!
//! - [`layer`]: one decoder layer and its feed-forward block.
//! - [`QwenModel`]: embeddings → layers → final norm, over a flattened
//!   batch of sequences ([`BatchSeq`]); optional input embeddings and
//!   captured hidden states.
//! - [`QwenForCausalLM`]: the model plus its LM head, with a single-sequence
//!   API ([`QwenForCausalLM::forward`], [`QwenForCausalLM::generate_greedy`]).

mod causal_lm;
pub mod layer;

pub use causal_lm::QwenForCausalLM;
pub use layer::{DecoderLayer, FeedForward};

use crate::batch::BatchSeq;
use crate::config::DecoderConfig;
use crate::error::{Error, Result};
use crate::loader::VarBuilder;
use crate::nn::{Embedding, Positions, RmsNorm, Rotary};
use burn::module::Module;
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

/// What a forward pass starts from.
#[derive(Debug, Clone)]
pub enum DecoderInput<B: Backend> {
    /// Token ids, looked up in `embed_tokens`.
    Ids(Vec<u32>),
    /// Ready input embeddings `[tokens, hidden]` (e.g. text embeddings with
    /// audio features merged in).
    Embeds(Tensor<B, 2>),
}

/// What a forward pass returns.
#[derive(Debug, Clone)]
pub struct DecoderOutput<B: Backend> {
    /// Final-normed hidden states, `[tokens, hidden]`.
    pub hidden: Tensor<B, 2>,
    /// The hidden states asked for in `capture`, in that order, each
    /// `[tokens, hidden]`.
    pub captured: Vec<Tensor<B, 2>>,
}

/// `model.*`: token embeddings, decoder layers, final norm.
#[derive(Module, Debug)]
pub struct QwenModel<B: Backend> {
    /// `embed_tokens`.
    pub embed_tokens: Embedding<B>,
    /// `layers.{i}`.
    pub layers: Vec<DecoderLayer<B>>,
    /// `norm`.
    pub norm: RmsNorm<B>,
    /// Rotary frequencies (not a checkpoint tensor).
    #[module(skip)]
    pub rotary: Rotary,
}

impl<B: Backend> QwenModel<B> {
    /// Loads from `vb` (the `model` view of a `…ForCausalLM` checkpoint).
    pub fn load(vb: &VarBuilder<'_, B>, cfg: &DecoderConfig) -> Self {
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| DecoderLayer::load(&vb.pp("layers").pp(i), cfg, i))
            .collect();
        Self {
            embed_tokens: Embedding::load(&vb.pp("embed_tokens"), cfg.vocab_size, cfg.hidden_size),
            layers,
            norm: RmsNorm::load(&vb.pp("norm"), cfg.hidden_size, cfg.rms_norm_eps),
            rotary: Rotary::new(&cfg.rope, cfg.head_dim),
        }
    }

    /// Number of decoder layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Looks token ids up, rejecting ids outside the vocabulary.
    ///
    /// # Shapes
    /// - output: `[ids.len(), hidden]`
    pub fn embed(&self, ids: &[u32], device: &B::Device) -> Result<Tensor<B, 2>> {
        let vocab = self.embed_tokens.vocab_size();
        if let Some(bad) = ids.iter().find(|&&t| t as usize >= vocab) {
            return Err(Error::InvalidInput(format!(
                "token id {bad} is outside the vocabulary of {vocab}"
            )));
        }
        let data: Vec<i64> = ids.iter().map(|&t| i64::from(t)).collect();
        let ids = Tensor::<B, 1, Int>::from_data(TensorData::new(data, [ids.len()]), device);
        Ok(self.embed_tokens.forward(ids))
    }

    /// Runs the decoder over a batch of sequences whose new tokens are laid
    /// out back to back in `input`.
    ///
    /// `capture` lists hidden states to return, indexed as transformers'
    /// `output_hidden_states`: `0` is the input embeddings, `i` in
    /// `1..num_layers` the output of layer `i - 1`, and `num_layers` the
    /// final-normed output. Each sequence's cache grows by its token count.
    ///
    /// # Shapes
    /// - `input`: `Ids` of `tokens` ids, or `Embeds` `[tokens, hidden]`
    /// - output: `hidden` `[tokens, hidden]`; each capture `[tokens, hidden]`
    pub fn forward(
        &self,
        input: DecoderInput<B>,
        seqs: &mut [BatchSeq<'_, B>],
        capture: &[usize],
    ) -> Result<DecoderOutput<B>> {
        let device = self.norm.weight.device();
        let x = match input {
            DecoderInput::Ids(ids) => self.embed(&ids, &device)?,
            DecoderInput::Embeds(e) => e,
        };
        self.check_batch(&x, seqs, capture)?;
        let positions: Vec<&Positions> = seqs.iter().map(|s| &s.positions).collect();
        let (heads, kv_heads) = self.layers.first().map_or((1, 1), |l| {
            (l.self_attn.num_heads, l.self_attn.num_kv_heads)
        });
        let rope = self
            .rotary
            .tables::<B>(&positions, heads, kv_heads, &device);
        let mut captured: Vec<Option<Tensor<B, 2>>> = vec![None; capture.len()];
        let mut x = x;
        for (i, layer) in self.layers.iter().enumerate() {
            store(&mut captured, capture, i, &x);
            x = layer.forward(x, &rope, seqs)?;
        }
        let hidden = self.norm.forward(x);
        store(&mut captured, capture, self.layers.len(), &hidden);
        for seq in seqs.iter_mut() {
            let n = seq.len();
            seq.cache.advance(n);
        }
        Ok(DecoderOutput {
            hidden,
            captured: captured.into_iter().flatten().collect(),
        })
    }

    fn check_batch(
        &self,
        x: &Tensor<B, 2>,
        seqs: &[BatchSeq<'_, B>],
        capture: &[usize],
    ) -> Result<()> {
        let [tokens, hidden] = x.dims();
        let want = self.norm.weight.dims()[0];
        if hidden != want {
            return Err(Error::InvalidInput(format!(
                "input embeddings have width {hidden}, the model {want}"
            )));
        }
        let total: usize = seqs.iter().map(BatchSeq::len).sum();
        if total != tokens || seqs.is_empty() {
            return Err(Error::InvalidInput(format!(
                "{tokens} input tokens for {} sequences covering {total}",
                seqs.len()
            )));
        }
        if let Some(s) = seqs
            .iter()
            .find(|s| s.is_empty() || !s.positions.is_consistent())
        {
            return Err(Error::InvalidInput(format!(
                "a sequence with {} tokens has empty or ragged positions",
                s.len()
            )));
        }
        if let Some(bad) = capture.iter().find(|&&c| c > self.layers.len()) {
            return Err(Error::InvalidInput(format!(
                "hidden state {bad} asked for; the model has {} layers",
                self.layers.len()
            )));
        }
        Ok(())
    }
}

fn store<B: Backend>(
    out: &mut [Option<Tensor<B, 2>>],
    capture: &[usize],
    index: usize,
    x: &Tensor<B, 2>,
) {
    for (slot, _) in out.iter_mut().zip(capture).filter(|(_, c)| **c == index) {
        *slot = Some(x.clone());
    }
}
