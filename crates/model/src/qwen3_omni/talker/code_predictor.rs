//! `talker.code_predictor.*`: the residual code groups of each frame.
//!
//! Reference: `Qwen3OmniMoeTalkerCodePredictorModelForConditionalGeneration`
//! and `Qwen3OmniMoeTalkerCodePredictorModel` in
//! `transformers/models/qwen3_omni_moe/modeling_qwen3_omni_moe.py`, as the
//! talker's `prepare_inputs_for_generation` drives them: a fresh `generate`
//! per frame, prefilled with two rows — the talker's final-normed hidden
//! state of the step that produced code 0, and code 0's talker embedding —
//! at positions 0 and 1, then `num_code_groups - 2` single-token steps. Step
//! `g` (`g = 1..num_code_groups`) reads `lm_head[g - 1]`; the code it chooses
//! is embedded with `codec_embedding[g - 1]` as the next step's input.
//!
//! The decoder is dense (Qwen3-style: QK-norm, SwiGLU, plain RoPE). Frames
//! of many sequences are predicted together: every frame takes the same
//! number of steps, each with its own (tiny, short-lived) KV cache.

use crate::batch::BatchSeq;
use crate::decoder::DecoderLayer;
use crate::error::{Error, Result};
use crate::kv_cache::ContiguousKvCache;
use crate::loader::VarBuilder;
use crate::nn::{Embedding, Linear, Positions, RmsNorm, Rotary};
use crate::qwen3_omni::config::CodePredictorConfig;
use burn::module::Module;
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

/// `talker.code_predictor` of a Qwen3-Omni checkpoint.
#[derive(Module, Debug)]
pub struct CodePredictor<B: Backend> {
    /// `model.layers.{i}`.
    pub layers: Vec<DecoderLayer<B>>,
    /// `model.norm`.
    pub norm: RmsNorm<B>,
    /// `model.codec_embedding.{g}`: embeddings of residual group `g + 1`.
    pub codec_embedding: Vec<Embedding<B>>,
    /// `lm_head.{g}`: logits of residual group `g + 1`.
    pub lm_head: Vec<Linear<B>>,
    /// Rotary frequencies (not a checkpoint tensor).
    #[module(skip)]
    pub rotary: Rotary,
    /// The configuration it was built from.
    #[module(skip)]
    pub config: CodePredictorConfig,
}

impl<B: Backend> CodePredictor<B> {
    /// Loads from `vb` (a `talker.code_predictor` view). Its width must equal
    /// the talker's (`talker_hidden`): the talker's hidden state is its first
    /// input row.
    pub fn load(
        vb: &VarBuilder<'_, B>,
        cfg: &CodePredictorConfig,
        talker_hidden: usize,
    ) -> Result<Self> {
        let d = &cfg.decoder;
        if d.hidden_size != talker_hidden {
            return Err(Error::InvalidConfig {
                field: "hidden_size",
                reason: format!(
                    "the code predictor is {} wide and the talker {talker_hidden}; they must be equal",
                    d.hidden_size
                ),
            });
        }
        if d.moe.is_some() {
            return Err(Error::InvalidConfig {
                field: "num_experts",
                reason: "the code predictor is a dense decoder".into(),
            });
        }
        let m = vb.pp("model");
        let residual = cfg.num_code_groups.saturating_sub(1);
        Ok(Self {
            layers: (0..d.num_hidden_layers)
                .map(|i| DecoderLayer::load(&m.pp("layers").pp(i), d, i))
                .collect(),
            norm: RmsNorm::load(&m.pp("norm"), d.hidden_size, d.rms_norm_eps),
            codec_embedding: (0..residual)
                .map(|g| {
                    Embedding::load(&m.pp("codec_embedding").pp(g), d.vocab_size, d.hidden_size)
                })
                .collect(),
            lm_head: (0..residual)
                .map(|g| Linear::load(&vb.pp("lm_head").pp(g), d.hidden_size, d.vocab_size, false))
                .collect(),
            rotary: Rotary::new(&d.rope, d.head_dim),
            config: cfg.clone(),
        })
    }

    /// Codes per residual group (`vocab_size`).
    pub fn vocab_size(&self) -> usize {
        self.config.decoder.vocab_size
    }

    /// An empty KV cache for one frame.
    pub fn new_cache(&self) -> ContiguousKvCache<B> {
        let d = &self.config.decoder;
        ContiguousKvCache::new((0..d.num_hidden_layers).map(|i| d.window(i)).collect())
    }

    /// `codec_embedding[table]` of `codes` (residual group `table + 1`),
    /// rejecting codes outside the codebook.
    ///
    /// # Shapes
    /// - output: `[codes.len(), hidden]`
    pub fn embed(&self, table: usize, codes: &[u32]) -> Result<Tensor<B, 2>> {
        let emb = self.codec_embedding.get(table).ok_or_else(|| {
            Error::InvalidInput(format!(
                "no residual code group {} (the model has {})",
                table + 1,
                self.codec_embedding.len()
            ))
        })?;
        let vocab = emb.vocab_size();
        if let Some(bad) = codes.iter().find(|&&c| c as usize >= vocab) {
            return Err(Error::InvalidInput(format!(
                "code {bad} is outside the codebook of {vocab}"
            )));
        }
        let data: Vec<i64> = codes.iter().map(|&c| i64::from(c)).collect();
        let device = self.norm.weight.device();
        Ok(emb.forward(Tensor::<B, 1, Int>::from_data(
            TensorData::new(data, [codes.len()]),
            &device,
        )))
    }

    /// The decoder over a batch of sequences laid out back to back.
    ///
    /// # Shapes
    /// - `x`: `[tokens, hidden]`
    /// - output: final-normed hidden states `[tokens, hidden]`
    pub fn forward(&self, x: Tensor<B, 2>, seqs: &mut [BatchSeq<'_, B>]) -> Result<Tensor<B, 2>> {
        let device = x.device();
        let total: usize = seqs.iter().map(BatchSeq::len).sum();
        if total != x.dims()[0] || seqs.iter().any(BatchSeq::is_empty) {
            return Err(Error::InvalidInput(format!(
                "{} input rows for {} sequences covering {total}",
                x.dims()[0],
                seqs.len()
            )));
        }
        let positions: Vec<&Positions> = seqs.iter().map(|s| &s.positions).collect();
        let (heads, kv_heads) = (self.layers.first()).map_or((1, 1), |l| {
            (l.self_attn.num_heads, l.self_attn.num_kv_heads)
        });
        let rope = self
            .rotary
            .tables::<B>(&positions, heads, kv_heads, &device);
        let mut x = x;
        for layer in &self.layers {
            x = layer.forward(x, &rope, seqs)?;
        }
        for seq in seqs.iter_mut() {
            let n = seq.len();
            seq.cache.advance(n);
        }
        Ok(self.norm.forward(x))
    }

    /// The residual codes of a batch of frames, in `num_code_groups - 1`
    /// steps. `choose(frame, logits)` picks frame `frame`'s code from its
    /// logits row of the current group (argmax when greedy; a sampler
    /// otherwise).
    ///
    /// # Shapes
    /// - `talker_hidden`: `[frames, hidden]`, the talker's final-normed
    ///   hidden state of the step that produced each frame's code 0
    /// - `code0_embeds`: `[frames, hidden]`, code 0's talker embedding
    /// - output: per frame, the codes of groups `1..num_code_groups`
    pub fn predict<E: From<Error>>(
        &self,
        talker_hidden: Tensor<B, 2>,
        code0_embeds: Tensor<B, 2>,
        mut choose: impl FnMut(usize, &mut [f32]) -> std::result::Result<u32, E>,
    ) -> std::result::Result<Vec<Vec<u32>>, E> {
        let [n, hidden] = talker_hidden.dims();
        if code0_embeds.dims() != [n, hidden] {
            let d = code0_embeds.dims();
            return Err(Error::InvalidInput(format!(
                "code 0 embeddings {d:?} do not match the hidden states [{n}, {hidden}]"
            ))
            .into());
        }
        let mut codes: Vec<Vec<u32>> = vec![Vec::with_capacity(self.lm_head.len()); n];
        if n == 0 {
            return Ok(codes);
        }
        let mut caches: Vec<ContiguousKvCache<B>> = (0..n).map(|_| self.new_cache()).collect();
        // Prefill rows per frame: [hidden, code 0] at positions 0 and 1.
        let mut x =
            Tensor::stack::<3>(vec![talker_hidden, code0_embeds], 1).reshape([2 * n, hidden]);
        let mut rows = 2;
        for (g, head) in self.lm_head.iter().enumerate() {
            let mut seqs: Vec<BatchSeq<'_, B>> =
                caches.iter_mut().map(|c| BatchSeq::text(c, rows)).collect();
            let h = self.forward(x.clone(), &mut seqs)?;
            let last = if rows == 1 {
                h
            } else {
                select_every(h, rows, rows - 1)
            };
            let logits = head.forward(last); // [n, vocab]
            let vocab = logits.dims()[1];
            let mut host = logits
                .into_data()
                .convert::<f32>()
                .into_vec::<f32>()
                .map_err(|e| Error::InvalidInput(format!("code predictor logits: {e:?}")))?;
            let mut chosen = Vec::with_capacity(n);
            for (i, row) in host.chunks_exact_mut(vocab).enumerate() {
                let code = choose(i, row)?;
                codes[i].push(code);
                chosen.push(code);
            }
            if g + 1 < self.lm_head.len() {
                x = self.embed(g, &chosen)?;
                rows = 1;
            }
        }
        Ok(codes)
    }
}

/// Rows `offset, offset + stride, …` of `x`.
fn select_every<B: Backend>(x: Tensor<B, 2>, stride: usize, offset: usize) -> Tensor<B, 2> {
    let n = x.dims()[0] / stride;
    let idx: Vec<i64> = (0..n).map(|i| (i * stride + offset) as i64).collect();
    let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [n]), &x.device());
    x.select(0, idx)
}
