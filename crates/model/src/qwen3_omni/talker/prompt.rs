//! What the talker reads: its prompt, built from the thinker's prompt, and
//! the text rows it consumes one per step.
//!
//! Reference: `Qwen3OmniMoeForConditionalGeneration.generate`,
//! `_get_talker_user_parts` and `_get_talker_assistant_parts` in
//! `transformers/models/qwen3_omni_moe/modeling_qwen3_omni_moe.py`
//! (transformers 5.24):
//!
//! 1. **User turns.** Each prompt position belongs to the turn of the last
//!    `<|im_start|>` at or before it (positions before the first one take
//!    the role of position 1, as the reference's clamped `cummax` does); the
//!    turn is a user turn when the token after that `<|im_start|>` is
//!    `user_token_id`. Every user turn is kept, in order, from its
//!    `<|im_start|>` through its `<|im_end|>` and the `\n` after it; system
//!    and assistant turns (and tool results, which Qwen renders as user
//!    turns, are kept like any user turn) are left out. At audio, image and
//!    video placeholders the row is `hidden_projection(thinker hidden state
//!    accept_hidden_layer)`; elsewhere `text_projection(thinker input
//!    embedding)`.
//! 2. **Assistant block** (from the last `<|im_start|>` followed by
//!    `assistant_token_id`): `text_projection` of its first three tokens
//!    with no codec part; then four rows `tts_pad + codec(nothink,
//!    think_bos, think_eos, speaker)`; then `tts_bos + codec(pad)`; then the
//!    first text row `+ codec(bos)`.
//! 3. **Text, one row per step.** The assistant turn's tokens after its
//!    first three (the rest of the prompt's generation header, then the
//!    generated reply) are the text stream: the first is in the prompt
//!    (step 2), step `k ≥ 1` adds stream token `k`; the thinker's **last**
//!    generated token (its EOS, or the token that hit the length limit) is
//!    never added: `tts_eos` takes its place, and `tts_pad` every step after.
//!
//! With Qwen3-Omni's tokenizer the assistant header `<|im_start|>assistant\n`
//! is exactly three tokens, so the text stream is the reply itself.

use super::model::Qwen3OmniTalker;
use crate::error::{Error, Result};
use crate::qwen3_omni::config::Qwen3OmniMoeConfig;
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

/// Tokens of the assistant block that come from the prompt's header.
pub const ASSISTANT_HEAD: usize = 3;

/// The token ids the talker's prompt construction reads (top-level
/// `config.json` fields and the thinker's placeholder ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TtsSpecialIds {
    /// `im_start_token_id`.
    pub im_start: u32,
    /// `user_token_id`.
    pub user: u32,
    /// `assistant_token_id`.
    pub assistant: u32,
    /// `tts_bos_token_id`.
    pub tts_bos: u32,
    /// `tts_eos_token_id`.
    pub tts_eos: u32,
    /// `tts_pad_token_id`.
    pub tts_pad: u32,
    /// The thinker's audio, image and video placeholder ids.
    pub multimodal: [u32; 3],
}

impl From<&Qwen3OmniMoeConfig> for TtsSpecialIds {
    fn from(c: &Qwen3OmniMoeConfig) -> Self {
        let t = &c.thinker_config;
        Self {
            im_start: c.im_start_token_id,
            user: c.user_token_id,
            assistant: c.assistant_token_id,
            tts_bos: c.tts_bos_token_id,
            tts_eos: c.tts_eos_token_id,
            tts_pad: c.tts_pad_token_id,
            multimodal: [t.audio_token_id, t.image_token_id, t.video_token_id],
        }
    }
}

/// Where the talker's prompt comes from in the thinker's prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TalkerPromptLayout {
    /// Prompt indices of the user turns' tokens, in order.
    pub user_positions: Vec<usize>,
    /// For each of them, whether it is a multimodal placeholder.
    pub multimodal: Vec<bool>,
    /// Index of the `<|im_start|>` that opens the assistant turn.
    pub assistant_start: usize,
    /// Prompt length.
    pub prompt_len: usize,
}

impl TalkerPromptLayout {
    /// Reads the layout off the thinker's prompt ids. The prompt must end
    /// with an assistant header of at least three tokens
    /// (`<|im_start|>assistant\n`).
    pub fn new(prompt: &[u32], ids: &TtsSpecialIds) -> Result<Self> {
        let n = prompt.len();
        let assistant_start = (0..n.saturating_sub(1))
            .rev()
            .find(|&i| prompt[i] == ids.im_start && prompt[i + 1] == ids.assistant)
            .ok_or_else(|| {
                Error::InvalidInput(
                    "the prompt has no assistant turn (`<|im_start|>assistant`) for the talker"
                        .into(),
                )
            })?;
        if n - assistant_start < ASSISTANT_HEAD {
            return Err(Error::InvalidInput(format!(
                "the prompt's assistant header has {} tokens; the talker needs {ASSISTANT_HEAD}",
                n - assistant_start
            )));
        }
        let mut user_positions = Vec::new();
        let mut multimodal = Vec::new();
        let mut turn_start: Option<usize> = None;
        for (p, &id) in prompt.iter().enumerate() {
            if id == ids.im_start {
                turn_start = Some(p);
            }
            // The reference clamps "no `<|im_start|>` yet" to position 0.
            let role_at = (turn_start.unwrap_or(0) + 1).min(n - 1);
            if prompt[role_at] == ids.user {
                user_positions.push(p);
                multimodal.push(ids.multimodal.contains(&id));
            }
        }
        Ok(Self {
            user_positions,
            multimodal,
            assistant_start,
            prompt_len: n,
        })
    }

    /// The first three tokens of the assistant turn (rows 0–2 of the
    /// assistant block).
    pub fn assistant_head<'p>(&self, prompt: &'p [u32]) -> &'p [u32] {
        &prompt[self.assistant_start..self.assistant_start + ASSISTANT_HEAD]
    }

    /// The prompt's tokens after the assistant head: the start of the text
    /// stream (empty with Qwen3-Omni's tokenizer).
    pub fn assistant_tail<'p>(&self, prompt: &'p [u32]) -> &'p [u32] {
        &prompt[self.assistant_start + ASSISTANT_HEAD..]
    }

    /// Rows of the talker's prompt before the first text row: the user
    /// turns and the assistant block's first eight rows.
    pub fn prefix_len(&self) -> usize {
        self.user_positions.len() + ASSISTANT_HEAD + 5
    }
}

/// `text_projection` of the thinker's embeddings of `tts_bos`, `tts_eos` and
/// `tts_pad`: constant rows of the talker's input.
#[derive(Debug, Clone)]
pub struct TalkerTextEmbeds<B: Backend> {
    /// `[1, hidden]`: opens the text (assistant block row 7).
    pub bos: Tensor<B, 2>,
    /// `[1, hidden]`: the step after the last text token.
    pub eos: Tensor<B, 2>,
    /// `[1, hidden]`: every step after that (and rows 3–6 of the block).
    pub pad: Tensor<B, 2>,
}

impl<B: Backend> Qwen3OmniTalker<B> {
    /// `text_projection` of thinker input embeddings: the talker's text rows.
    ///
    /// # Shapes
    /// - `thinker_embeds`: `[tokens, thinker hidden]`
    /// - output: `[tokens, hidden]`
    pub fn project_text(&self, thinker_embeds: Tensor<B, 2>) -> Tensor<B, 2> {
        self.text_projection.forward(thinker_embeds)
    }

    /// The constant text rows, from the thinker's embeddings of
    /// `[tts_bos, tts_eos, tts_pad]` (in that order).
    ///
    /// # Shapes
    /// - `thinker_embeds`: `[3, thinker hidden]`
    pub fn text_embeds(&self, thinker_embeds: Tensor<B, 2>) -> Result<TalkerTextEmbeds<B>> {
        if thinker_embeds.dims()[0] != 3 {
            return Err(Error::InvalidInput(
                "the tts special embeddings must be 3 rows".into(),
            ));
        }
        let p = self.project_text(thinker_embeds);
        Ok(TalkerTextEmbeds {
            bos: p.clone().narrow(0, 0, 1),
            eos: p.clone().narrow(0, 1, 1),
            pad: p.narrow(0, 2, 1),
        })
    }

    /// The user turns' rows of the talker's prompt.
    ///
    /// # Shapes
    /// - `thinker_embeds`: `[prompt, thinker hidden]`, the thinker's input
    ///   embeddings (only text positions are read)
    /// - `thinker_hidden`: `[prompt, thinker hidden]`, thinker hidden state
    ///   `accept_hidden_layer` (only multimodal positions are read)
    /// - output: `[layout.user_positions.len(), hidden]`
    pub fn user_rows(
        &self,
        layout: &TalkerPromptLayout,
        thinker_embeds: Tensor<B, 2>,
        thinker_hidden: Tensor<B, 2>,
    ) -> Result<Tensor<B, 2>> {
        for (what, t) in [
            ("thinker embeddings", &thinker_embeds),
            ("thinker hidden states", &thinker_hidden),
        ] {
            if t.dims()[0] != layout.prompt_len {
                return Err(Error::InvalidInput(format!(
                    "{what} cover {} tokens; the prompt has {}",
                    t.dims()[0],
                    layout.prompt_len
                )));
            }
        }
        let device = thinker_embeds.device();
        let pick = |mm: bool| -> Vec<i64> {
            (layout.user_positions.iter().zip(&layout.multimodal))
                .filter(|&(_, &m)| m == mm)
                .map(|(&p, _)| p as i64)
                .collect()
        };
        let (text_pos, mm_pos) = (pick(false), pick(true));
        let mut parts = Vec::new();
        if !text_pos.is_empty() {
            parts.push(self.project_text(rows(thinker_embeds, text_pos.clone(), &device)));
        }
        if !mm_pos.is_empty() {
            parts.push(self.hidden_projection.forward(rows(
                thinker_hidden,
                mm_pos.clone(),
                &device,
            )));
        }
        if parts.is_empty() {
            return Ok(Tensor::zeros([0, self.hidden_size()], &device));
        }
        // Back to prompt order: text rows first, then multimodal rows.
        let (mut t, mut m) = (0i64, text_pos.len() as i64);
        let order: Vec<i64> = (layout.multimodal.iter())
            .map(|&mm| {
                let slot = if mm { &mut m } else { &mut t };
                *slot += 1;
                *slot - 1
            })
            .collect();
        Ok(rows(Tensor::cat(parts, 0), order, &device))
    }

    /// The assistant block's first eight rows (everything before the first
    /// text row), for speaker codec id `speaker`.
    ///
    /// # Shapes
    /// - `head_embeds`: `[3, thinker hidden]`, the thinker's embeddings of
    ///   [`TalkerPromptLayout::assistant_head`]
    /// - output: `[8, hidden]`
    pub fn assistant_rows(
        &self,
        head_embeds: Tensor<B, 2>,
        text: &TalkerTextEmbeds<B>,
        speaker: u32,
    ) -> Result<Tensor<B, 2>> {
        if head_embeds.dims()[0] != ASSISTANT_HEAD {
            return Err(Error::InvalidInput(format!(
                "the assistant head must be {ASSISTANT_HEAD} rows"
            )));
        }
        let c = &self.config;
        let codec = self.codec_embed(&[
            c.codec_nothink_id,
            c.codec_think_bos_id,
            c.codec_think_eos_id,
            speaker,
            c.codec_pad_id,
        ])?;
        let pads = text.pad.clone().repeat_dim(0, 4);
        let tts = Tensor::cat(vec![pads, text.bos.clone()], 0); // [5, hidden]
        Ok(Tensor::cat(
            vec![self.project_text(head_embeds), tts + codec],
            0,
        ))
    }

    /// The talker prompt's last row: the first text row plus `codec_bos`.
    ///
    /// # Shapes
    /// - `text_row`: `[1, hidden]` (already projected)
    /// - output: `[1, hidden]`
    pub fn first_text_row(&self, text_row: Tensor<B, 2>) -> Result<Tensor<B, 2>> {
        Ok(text_row + self.codec_embed(&[self.config.codec_bos_id])?)
    }
}

fn rows<B: Backend>(x: Tensor<B, 2>, idx: Vec<i64>, device: &B::Device) -> Tensor<B, 2> {
    let n = idx.len();
    x.select(
        0,
        Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [n]), device),
    )
}
