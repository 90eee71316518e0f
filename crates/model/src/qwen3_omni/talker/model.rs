//! `talker.*`: the talker decoder, its head, the resize MLPs and the code
//! predictor.
//!
//! Reference: `Qwen3OmniMoeTalkerForConditionalGeneration`,
//! `Qwen3OmniMoeTalkerModel`, `Qwen3OmniMoeTalkerDecoderLayer`,
//! `Qwen3OmniMoeTalkerTextSparseMoeBlock` and `Qwen3OmniMoeTalkerResizeMLP`
//! in `transformers/models/qwen3_omni_moe/modeling_qwen3_omni_moe.py`.
//!
//! The decoder is the core's [`QwenModel`] (QK-norm attention, interleaved
//! MRoPE, final RMSNorm) whose embedding table is `model.codec_embedding`
//! (the talker has no `embed_tokens`), with every layer's feed-forward block
//! a sparse MoE with a shared expert behind a sigmoid gate: the reference's
//! decoder layer replaces whatever `mlp_only_layers` / `decoder_sparse_step`
//! chose with that block.

use super::code_predictor::CodePredictor;
use crate::batch::BatchSeq;
use crate::config::DecoderConfig;
use crate::decoder::{DecoderInput, DecoderLayer, FeedForward, QwenModel};
use crate::error::{Error, Result};
use crate::kv_cache::ContiguousKvCache;
use crate::loader::VarBuilder;
use crate::nn::{Attention, Embedding, Linear, RmsNorm, Rotary, SparseMoe, silu};
use crate::qwen3_omni::checkpoint::{Qwen3OmniCheckpoint, TALKER_PREFIX};
use crate::qwen3_omni::config::TalkerConfig;
use burn::module::Module;
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

/// `Qwen3OmniMoeTalkerResizeMLP`: `fc2(silu(fc1(x)))`, both with bias;
/// thinker width → talker width.
#[derive(Module, Debug)]
pub struct ResizeMlp<B: Backend> {
    /// `linear_fc1`: thinker hidden → talker `intermediate_size`.
    pub linear_fc1: Linear<B>,
    /// `linear_fc2`: talker `intermediate_size` → talker hidden.
    pub linear_fc2: Linear<B>,
}

impl<B: Backend> ResizeMlp<B> {
    /// Loads `linear_fc1` and `linear_fc2` from `vb`.
    pub fn load(vb: &VarBuilder<'_, B>, input: usize, intermediate: usize, output: usize) -> Self {
        Self {
            linear_fc1: Linear::load(&vb.pp("linear_fc1"), input, intermediate, true),
            linear_fc2: Linear::load(&vb.pp("linear_fc2"), intermediate, output, true),
        }
    }

    /// # Shapes
    /// - `x`: `[tokens, thinker hidden]`
    /// - output: `[tokens, talker hidden]`
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.linear_fc2.forward(silu(self.linear_fc1.forward(x)))
    }
}

/// `talker.*` of a Qwen3-Omni checkpoint.
#[derive(Module, Debug)]
pub struct Qwen3OmniTalker<B: Backend> {
    /// `model`; its `embed_tokens` is the checkpoint's `model.codec_embedding`.
    pub model: QwenModel<B>,
    /// `codec_head`: talker hidden → codec vocabulary (code group 0 and the
    /// control codes).
    pub codec_head: Linear<B>,
    /// `text_projection`: thinker token embeddings → talker width.
    pub text_projection: ResizeMlp<B>,
    /// `hidden_projection`: thinker hidden states (multimodal positions) →
    /// talker width.
    pub hidden_projection: ResizeMlp<B>,
    /// `code_predictor`.
    pub code_predictor: CodePredictor<B>,
    /// The configuration it was built from.
    #[module(skip)]
    pub config: TalkerConfig,
}

impl<B: Backend> Qwen3OmniTalker<B> {
    /// Builds the talker from `vb` (a `talker` view), after checking that the
    /// configuration is one the reference can run. Tensor problems are
    /// recorded in `vb`; call `finish` on it afterwards.
    pub fn load(vb: &VarBuilder<'_, B>, cfg: &TalkerConfig) -> Result<Self> {
        validate(cfg)?;
        let text = &cfg.text_config;
        let m = vb.pp("model");
        let layers = (0..text.num_hidden_layers)
            .map(|i| talker_layer(&m.pp("layers").pp(i), text, i))
            .collect::<Result<Vec<_>>>()?;
        let model = QwenModel {
            embed_tokens: Embedding::load(
                &m.pp("codec_embedding"),
                text.vocab_size,
                text.hidden_size,
            ),
            layers,
            norm: RmsNorm::load(&m.pp("norm"), text.hidden_size, text.rms_norm_eps),
            rotary: Rotary::new(&text.rope, text.head_dim),
        };
        let resize = |name: &str| {
            ResizeMlp::load(
                &vb.pp(name),
                cfg.thinker_hidden_size,
                text.intermediate_size,
                text.hidden_size,
            )
        };
        Ok(Self {
            model,
            codec_head: Linear::load(
                &vb.pp("codec_head"),
                text.hidden_size,
                text.vocab_size,
                false,
            ),
            text_projection: resize("text_projection"),
            hidden_projection: resize("hidden_projection"),
            code_predictor: CodePredictor::load(
                &vb.pp("code_predictor"),
                &cfg.code_predictor_config,
                text.hidden_size,
            )?,
            config: cfg.clone(),
        })
    }

    /// Talker width.
    pub fn hidden_size(&self) -> usize {
        self.config.text_config.hidden_size
    }

    /// Codec vocabulary size (`text_config.vocab_size`).
    pub fn vocab_size(&self) -> usize {
        self.config.text_config.vocab_size
    }

    /// Code groups per frame (group 0 from the talker, the rest from the
    /// code predictor).
    pub fn num_code_groups(&self) -> usize {
        self.config.num_code_groups
    }

    /// An empty KV cache for one sequence.
    pub fn new_cache(&self) -> ContiguousKvCache<B> {
        let cfg = &self.config.text_config;
        ContiguousKvCache::new((0..cfg.num_hidden_layers).map(|i| cfg.window(i)).collect())
    }

    /// Codec embeddings (`model.codec_embedding`) of `ids`, rejecting ids
    /// outside the vocabulary.
    ///
    /// # Shapes
    /// - output: `[ids.len(), hidden]`
    pub fn codec_embed(&self, ids: &[u32]) -> Result<Tensor<B, 2>> {
        self.model.embed(ids, &self.device())
    }

    /// One forward step over a batch of sequences whose input rows are laid
    /// out back to back in `embeds`. With text and audio only, the talker's
    /// rotary positions are plain `0, 1, 2, …` on all three MRoPE axes
    /// (`get_rope_index` only leaves that path with image or video grids).
    ///
    /// # Shapes
    /// - `embeds`: `[tokens, hidden]`
    /// - output: final-normed hidden states `[tokens, hidden]`
    pub fn forward(
        &self,
        embeds: Tensor<B, 2>,
        seqs: &mut [BatchSeq<'_, B>],
    ) -> Result<Tensor<B, 2>> {
        Ok(self
            .model
            .forward(DecoderInput::Embeds(embeds), seqs, &[])?
            .hidden)
    }

    /// `codec_head` over final-normed hidden states.
    ///
    /// # Shapes
    /// - `hidden`: `[rows, hidden]`
    /// - output: `[rows, vocab]`
    pub fn codec_logits(&self, hidden: Tensor<B, 2>) -> Tensor<B, 2> {
        self.codec_head.forward(hidden)
    }

    /// The input row the next step adds its text row to, for each frame:
    /// `codec_embedding(code 0) + Σ_g code_predictor.codec_embedding[g-1](code g)`
    /// (the reference sums the talker's embedding of code 0 and the code
    /// predictor's input embeddings of the residual codes).
    ///
    /// # Shapes
    /// - `frames`: each `num_code_groups` codes
    /// - output: `[frames.len(), hidden]`
    pub fn frame_embeds(&self, frames: &[Vec<u32>]) -> Result<Tensor<B, 2>> {
        let groups = self.num_code_groups();
        if let Some(bad) = frames.iter().find(|f| f.len() != groups) {
            return Err(Error::InvalidInput(format!(
                "a frame has {} codes; the talker has {groups} code groups",
                bad.len()
            )));
        }
        let first: Vec<u32> = frames.iter().map(|f| f[0]).collect();
        let mut sum = self.codec_embed(&first)?;
        for g in 1..groups {
            let codes: Vec<u32> = frames.iter().map(|f| f[g]).collect();
            sum = sum + self.code_predictor.embed(g - 1, &codes)?;
        }
        Ok(sum)
    }

    /// Rows `rows` of `x` (one per sequence: e.g. each sequence's last token).
    ///
    /// # Shapes
    /// - `x`: `[tokens, hidden]`
    /// - output: `[rows.len(), hidden]`
    pub fn select_rows(&self, x: Tensor<B, 2>, rows: &[usize]) -> Tensor<B, 2> {
        let idx: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
        let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [rows.len()]), &x.device());
        x.select(0, idx)
    }

    /// The device the weights live on.
    pub fn device(&self) -> B::Device {
        self.model.norm.weight.device()
    }
}

/// One talker decoder layer: QK-norm attention and, always, the sparse MoE
/// with its shared expert.
fn talker_layer<B: Backend>(
    vb: &VarBuilder<'_, B>,
    cfg: &DecoderConfig,
    layer: usize,
) -> Result<DecoderLayer<B>> {
    let moe = cfg.moe.as_ref().ok_or_else(|| {
        invalid(
            "num_experts",
            "the talker's text_config has no mixture of experts",
        )
    })?;
    let (hidden, eps) = (cfg.hidden_size, cfg.rms_norm_eps);
    Ok(DecoderLayer {
        input_layernorm: RmsNorm::load(&vb.pp("input_layernorm"), hidden, eps),
        self_attn: Attention::load(&vb.pp("self_attn"), cfg, layer),
        post_attention_layernorm: RmsNorm::load(&vb.pp("post_attention_layernorm"), hidden, eps),
        mlp: FeedForward::Sparse(SparseMoe::load(&vb.pp("mlp"), cfg, moe)),
    })
}

/// What the reference needs of a talker configuration; names the first
/// field that breaks it.
fn validate(cfg: &TalkerConfig) -> Result<()> {
    let text = &cfg.text_config;
    let moe = text.moe.as_ref().ok_or_else(|| {
        invalid(
            "num_experts",
            "the talker's text_config has no mixture of experts",
        )
    })?;
    if moe.num_experts == 0 {
        return Err(invalid(
            "num_experts",
            "the talker needs at least one expert",
        ));
    }
    if moe.shared_expert_intermediate_size.is_none() {
        return Err(invalid(
            "shared_expert_intermediate_size",
            "the talker's MoE block has a shared expert; its width is missing from text_config",
        ));
    }
    let groups = cfg.code_predictor_config.num_code_groups;
    if cfg.num_code_groups < 2 || cfg.num_code_groups != groups {
        return Err(invalid(
            "num_code_groups",
            format!(
                "talker_config says {} and code_predictor_config {groups}; they must agree and be at least 2",
                cfg.num_code_groups
            ),
        ));
    }
    let vocab = text.vocab_size as u64;
    let mut ids = vec![
        ("codec_eos_token_id", cfg.codec_eos_token_id),
        ("codec_nothink_id", cfg.codec_nothink_id),
        ("codec_think_bos_id", cfg.codec_think_bos_id),
        ("codec_think_eos_id", cfg.codec_think_eos_id),
        ("codec_pad_id", cfg.codec_pad_id),
        ("codec_bos_id", cfg.codec_bos_id),
    ];
    ids.extend(cfg.speaker_id.values().map(|&id| ("speaker_id", id)));
    if let Some((field, id)) = ids.into_iter().find(|&(_, id)| u64::from(id) >= vocab) {
        return Err(invalid(
            field,
            format!("id {id} is outside the talker vocabulary of {vocab}"),
        ));
    }
    Ok(())
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidConfig {
        field,
        reason: reason.into(),
    }
}

impl<B: Backend> Qwen3OmniTalker<B> {
    /// Loads `talker.*` of an opened checkpoint, failing with every missing,
    /// wrong-shaped or unexpected tensor under `talker.` (nothing else is
    /// read).
    pub fn from_checkpoint(ckpt: &Qwen3OmniCheckpoint, device: &B::Device) -> Result<Self> {
        let vb = ckpt.var_builder::<B>(device).pp(TALKER_PREFIX);
        let talker = Self::load(&vb, ckpt.config().talker()?)?;
        vb.finish()?;
        Ok(talker)
    }
}
