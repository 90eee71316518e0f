//! The Qwen3-Omni thinker: audio tower + MoE text decoder + LM head.
//!
//! Reference: `Qwen3OmniMoeThinkerForConditionalGeneration` and
//! `Qwen3OmniMoeThinkerModel` in
//! `transformers/models/qwen3_omni_moe/modeling_qwen3_omni_moe.py`
//! (transformers 5.24): token embeddings with the audio tower's output put
//! in place of the `<|audio_pad|>` tokens (`masked_scatter`, in order), the
//! text decoder (`Qwen3OmniMoeThinkerTextModel`: QK-norm, sparse MoE with
//! renormalised top-k, interleaved MRoPE — the core's
//! [`QwenModel`]), then `lm_head`. The vision tower is not built.
//!
//! The forward pass runs over a flattened batch of sequences
//! ([`BatchSeq`]), like the core decoder; audio embeddings come in as
//! [`AudioSpan`]s placed at indices of that flattened batch.

use super::audio_encoder::{AudioEncoderOutput, MelFeatures, Qwen3OmniAudioEncoder};
use super::config::ThinkerConfig;
use super::rope_index::{MediaLayout, RopeIndex, RopeIndexConfig, rope_index};
use crate::batch::BatchSeq;
use crate::decoder::{DecoderInput, DecoderOutput, QwenModel};
use crate::error::{Error, Result};
use crate::kv_cache::ContiguousKvCache;
use crate::loader::VarBuilder;
use crate::nn::Linear;
use burn::module::Module;
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

/// Audio embeddings that replace a run of `<|audio_pad|>` tokens.
#[derive(Debug, Clone)]
pub struct AudioSpan<B: Backend> {
    /// Index, in the step's flattened ids, of the first token replaced.
    pub start: usize,
    /// `[len, hidden]`: the embeddings of tokens `start..start + len`.
    pub embeds: Tensor<B, 2>,
}

/// The tokens of one forward step: every sequence's new ids back to back (in
/// the order of the step's [`BatchSeq`]s), and the audio embeddings that
/// replace some of them.
#[derive(Debug, Clone)]
pub struct ThinkerInput<B: Backend> {
    /// Token ids.
    pub ids: Vec<u32>,
    /// Audio embeddings, each over a run of audio placeholder ids.
    pub audio: Vec<AudioSpan<B>>,
}

impl<B: Backend> ThinkerInput<B> {
    /// Text tokens only.
    pub fn text(ids: Vec<u32>) -> Self {
        Self {
            ids,
            audio: Vec::new(),
        }
    }
}

/// `thinker.*` of a Qwen3-Omni checkpoint.
#[derive(Module, Debug)]
pub struct Qwen3OmniThinker<B: Backend> {
    /// `audio_tower`.
    pub audio_tower: Qwen3OmniAudioEncoder<B>,
    /// `model`: the text decoder.
    pub model: QwenModel<B>,
    /// `lm_head`; `None` when tied to `model.embed_tokens`.
    pub lm_head: Option<Linear<B>>,
    /// The configuration it was built from.
    #[module(skip)]
    pub config: ThinkerConfig,
}

impl<B: Backend> Qwen3OmniThinker<B> {
    /// Builds the thinker from `vb` (a `thinker` view). The vision tower
    /// (`visual.*`) is declared ignored and never read.
    pub fn load(vb: &VarBuilder<'_, B>, cfg: &ThinkerConfig) -> Result<Self> {
        let text = &cfg.text_config;
        vb.ignore("visual");
        let audio_tower = Qwen3OmniAudioEncoder::load(&vb.pp("audio_tower"), &cfg.audio_config)?;
        let model = QwenModel::load(&vb.pp("model"), text);
        let lm_head = if cfg.tie_word_embeddings || text.tie_word_embeddings {
            vb.ignore("lm_head.weight");
            None
        } else {
            Some(Linear::load(
                &vb.pp("lm_head"),
                text.hidden_size,
                text.vocab_size,
                false,
            ))
        };
        Ok(Self {
            audio_tower,
            model,
            lm_head,
            config: cfg.clone(),
        })
    }

    /// Number of decoder layers.
    pub fn num_layers(&self) -> usize {
        self.model.num_layers()
    }

    /// An empty KV cache for one sequence.
    pub fn new_cache(&self) -> ContiguousKvCache<B> {
        let cfg = &self.config.text_config;
        ContiguousKvCache::new((0..cfg.num_hidden_layers).map(|i| cfg.window(i)).collect())
    }

    /// Runs the audio tower over the clips of one prompt (all of them in one
    /// call, as the reference does).
    ///
    /// # Shapes
    /// - output: `embeds` `[audio tokens, hidden]`
    pub fn encode_audio(&self, clips: &[MelFeatures<'_>]) -> Result<AudioEncoderOutput<B>> {
        self.audio_tower.forward(clips)
    }

    /// The rotary positions of a prompt of text and audio (`audio_frames`:
    /// mel frames of each clip, in order).
    pub fn rope_index(&self, ids: &[u32], audio_frames: &[usize]) -> Result<RopeIndex> {
        let media = MediaLayout {
            audio_frames,
            ..MediaLayout::default()
        };
        rope_index(ids, &media, &RopeIndexConfig::from(&self.config))
    }

    /// Places the audio tower's output on the audio placeholders of `ids`
    /// (relative to `offset`, the index of `ids[0]` in the step's flattened
    /// ids): one span per run of placeholders, filled in order, as
    /// `masked_scatter` fills them. The placeholder count must equal the
    /// number of audio tokens.
    pub fn audio_spans(
        &self,
        ids: &[u32],
        offset: usize,
        audio: &AudioEncoderOutput<B>,
    ) -> Result<Vec<AudioSpan<B>>> {
        let audio_id = self.config.audio_token_id;
        let total = audio.embeds.dims()[0];
        let mut spans = Vec::new();
        let (mut used, mut i) = (0, 0);
        while i < ids.len() {
            if ids[i] != audio_id {
                i += 1;
                continue;
            }
            let run = ids[i..].iter().take_while(|&&t| t == audio_id).count();
            if used + run > total {
                break;
            }
            spans.push(AudioSpan {
                start: offset + i,
                embeds: audio.embeds.clone().narrow(0, used, run),
            });
            used += run;
            i += run;
        }
        let placeholders = ids.iter().filter(|&&t| t == audio_id).count();
        if placeholders != total {
            return Err(Error::InvalidInput(format!(
                "audio features and audio tokens do not match: {placeholders} placeholders, {total} audio tokens"
            )));
        }
        Ok(spans)
    }

    /// Token embeddings with the audio spans put in place.
    ///
    /// # Shapes
    /// - output: `[input.ids.len(), hidden]`
    pub fn embed(&self, input: ThinkerInput<B>) -> Result<Tensor<B, 2>> {
        let device = self.model.norm.weight.device();
        let mut x = self.model.embed(&input.ids, &device)?;
        let [n, hidden] = x.dims();
        let audio_id = self.config.audio_token_id;
        for span in input.audio {
            let [len, width] = span.embeds.dims();
            let end = span.start + len;
            if width != hidden || end > n {
                return Err(Error::InvalidInput(format!(
                    "audio span [{}, {end}) of width {width} does not fit {n} tokens of width {hidden}",
                    span.start
                )));
            }
            if let Some(k) = (span.start..end).find(|&k| input.ids[k] != audio_id) {
                return Err(Error::InvalidInput(format!(
                    "audio span covers token {k} (id {}), not an audio placeholder",
                    input.ids[k]
                )));
            }
            x = x.slice_assign([span.start..end, 0..hidden], span.embeds);
        }
        Ok(x)
    }

    /// One forward step over a batch of sequences.
    ///
    /// `capture` lists hidden states to return, indexed as transformers'
    /// `output_hidden_states`: `0` is the input embeddings (audio merged
    /// in), `i` the output of layer `i - 1`, `num_layers` the final-normed
    /// output. The talker reads `0` and `accept_hidden_layer`.
    ///
    /// # Shapes
    /// - `input.ids`: `tokens` ids, sequences back to back as in `seqs`
    /// - output: `hidden` `[tokens, hidden]` (final-normed); each capture
    ///   `[tokens, hidden]`
    pub fn forward(
        &self,
        input: ThinkerInput<B>,
        seqs: &mut [BatchSeq<'_, B>],
        capture: &[usize],
    ) -> Result<DecoderOutput<B>> {
        let x = self.embed(input)?;
        self.model.forward(DecoderInput::Embeds(x), seqs, capture)
    }

    /// Logits of hidden states.
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

    /// Logits of the last token of each sequence (`lens`: tokens each
    /// sequence contributed to the step, in order).
    ///
    /// # Shapes
    /// - `hidden`: `[Σ lens, hidden]`
    /// - output: `[lens.len(), vocab]`
    pub fn last_logits(&self, hidden: Tensor<B, 2>, lens: &[usize]) -> Result<Tensor<B, 2>> {
        let total: usize = lens.iter().sum();
        if total != hidden.dims()[0] || lens.contains(&0) {
            return Err(Error::InvalidInput(format!(
                "sequence lengths {lens:?} do not cover {} tokens",
                hidden.dims()[0]
            )));
        }
        let mut end = 0i64;
        let rows: Vec<i64> = lens
            .iter()
            .map(|&n| {
                end += n as i64;
                end - 1
            })
            .collect();
        let device = hidden.device();
        let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(rows, [lens.len()]), &device);
        Ok(self.logits(hidden.select(0, idx)))
    }
}
