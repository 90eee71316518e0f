//! `…ForCausalLM`: the decoder plus its LM head, and the single-sequence
//! API built on the batched forward pass.

use super::{DecoderInput, DecoderOutput, QwenModel};
use crate::batch::BatchSeq;
use crate::config::DecoderConfig;
use crate::error::{Error, Result};
use crate::kv_cache::{ContiguousKvCache, KvCache};
use crate::loader::{Checkpoint, VarBuilder};
use crate::nn::Linear;
use burn::module::Module;
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};
use std::path::Path;

/// A Qwen causal language model (`Qwen2ForCausalLM`, `Qwen3ForCausalLM`,
/// `Qwen3MoeForCausalLM`, `Qwen2MoeForCausalLM`).
#[derive(Module, Debug)]
pub struct QwenForCausalLM<B: Backend> {
    /// `model`.
    pub model: QwenModel<B>,
    /// `lm_head`; `None` when tied to `model.embed_tokens`.
    pub lm_head: Option<Linear<B>>,
    /// The configuration it was built from.
    #[module(skip)]
    pub config: DecoderConfig,
}

impl<B: Backend> QwenForCausalLM<B> {
    /// Builds the model from `vb` (the checkpoint root: `model.*`,
    /// `lm_head.weight`). With tied embeddings a stored `lm_head.weight` is
    /// ignored, as transformers ties it.
    pub fn load(vb: &VarBuilder<'_, B>, cfg: &DecoderConfig) -> Self {
        let model = QwenModel::load(&vb.pp("model"), cfg);
        let lm_head = if cfg.tie_word_embeddings {
            vb.ignore("lm_head.weight");
            None
        } else {
            Some(Linear::load(
                &vb.pp("lm_head"),
                cfg.hidden_size,
                cfg.vocab_size,
                false,
            ))
        };
        Self {
            model,
            lm_head,
            config: cfg.clone(),
        }
    }

    /// Opens the checkpoint in `dir` (`config.json` and safetensors) and
    /// loads it, failing with every missing, wrong-shaped or unexpected
    /// tensor listed.
    pub fn from_pretrained(dir: impl AsRef<Path>, device: &B::Device) -> Result<Self> {
        let dir = dir.as_ref();
        let cfg = DecoderConfig::from_file(dir.join("config.json"))?;
        let ckpt = Checkpoint::open(dir)?;
        let vb = VarBuilder::new(&ckpt, device);
        let model = Self::load(&vb, &cfg);
        vb.finish()?;
        Ok(model)
    }

    /// An empty cache shaped for this model.
    pub fn new_cache(&self) -> ContiguousKvCache<B> {
        let windows = (0..self.config.num_hidden_layers)
            .map(|i| self.config.window(i))
            .collect();
        ContiguousKvCache::new(windows)
    }

    /// Logits for hidden states.
    ///
    /// # Shapes
    /// - `hidden`: `[tokens, hidden]` (final-normed)
    /// - output: `[tokens, vocab]`
    pub fn logits(&self, hidden: Tensor<B, 2>) -> Tensor<B, 2> {
        match &self.lm_head {
            Some(head) => head.forward(hidden),
            None => self.model.embed_tokens.attend(hidden),
        }
    }

    /// The batched forward pass of [`QwenModel::forward`].
    pub fn forward_batch(
        &self,
        input: DecoderInput<B>,
        seqs: &mut [BatchSeq<'_, B>],
        capture: &[usize],
    ) -> Result<DecoderOutput<B>> {
        self.model.forward(input, seqs, capture)
    }

    /// Runs `input_ids` as the continuation of one sequence held in `cache`
    /// and returns the logits of every new token.
    ///
    /// # Shapes
    /// - output: `[input_ids.len(), vocab]`
    pub fn forward(&self, input_ids: &[u32], cache: &mut dyn KvCache<B>) -> Result<Tensor<B, 2>> {
        let hidden = self.run(input_ids, cache)?;
        Ok(self.logits(hidden))
    }

    /// Logits of the last token only (what generation needs).
    ///
    /// # Shapes
    /// - output: `[1, vocab]`
    pub fn forward_last(
        &self,
        input_ids: &[u32],
        cache: &mut dyn KvCache<B>,
    ) -> Result<Tensor<B, 2>> {
        let hidden = self.run(input_ids, cache)?;
        let n = hidden.dims()[0];
        Ok(self.logits(hidden.narrow(0, n - 1, 1)))
    }

    fn run(&self, input_ids: &[u32], cache: &mut dyn KvCache<B>) -> Result<Tensor<B, 2>> {
        if input_ids.is_empty() {
            return Err(Error::InvalidInput("no input tokens".into()));
        }
        let mut seqs = [BatchSeq::text(cache, input_ids.len())];
        let out = self
            .model
            .forward(DecoderInput::Ids(input_ids.to_vec()), &mut seqs, &[])?;
        Ok(out.hidden)
    }

    /// Greedy decoding: up to `max_new_tokens` argmax tokens after `prompt`,
    /// stopping after a token in `stop`. Returns the new tokens only.
    pub fn generate_greedy(
        &self,
        prompt: &[u32],
        max_new_tokens: usize,
        stop: &[u32],
    ) -> Result<Vec<u32>> {
        let mut cache = self.new_cache();
        let mut out = Vec::with_capacity(max_new_tokens);
        let mut next_input = prompt.to_vec();
        while out.len() < max_new_tokens {
            let logits = self.forward_last(&next_input, &mut cache)?;
            let token = argmax_row(logits)?;
            out.push(token);
            if stop.contains(&token) {
                break;
            }
            next_input = vec![token];
        }
        Ok(out)
    }
}

/// The argmax of a `[1, vocab]` logits row, read back to the host.
pub(crate) fn argmax_row<B: Backend>(logits: Tensor<B, 2>) -> Result<u32> {
    let idx: Tensor<B, 2, Int> = logits.argmax(1);
    let data: TensorData = idx.into_data().convert::<i64>();
    let v = data
        .as_slice::<i64>()
        .map_err(|e| Error::InvalidInput(format!("argmax: {e:?}")))?;
    v.first()
        .map(|&t| t as u32)
        .ok_or_else(|| Error::InvalidInput("argmax of an empty row".into()))
}
