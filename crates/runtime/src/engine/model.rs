//! What the step loop runs: one forward pass over a flattened batch, and the
//! audio encoder, behind one small trait so the scheduler does not care
//! which model family it drives.

use crate::kv::KvSpec;
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};
use omnivox_model::qwen3_omni::{AudioSpan, MelFeatures, Qwen3OmniThinker, ThinkerInput};
use omnivox_model::{BatchSeq, DecoderConfig, Result};

/// A model the engine can step.
pub(crate) trait StepModel<B: Backend> {
    /// Runs every sequence's new tokens (`ids`, back to back in `seqs`
    /// order, with `audio` spans placed at flattened indices) and returns
    /// the logits of the flattened rows `rows`, and the hidden states of
    /// the layers in `capture` (0: the input embeddings).
    ///
    /// # Shapes
    /// - output: `[rows.len(), vocab]`, and per captured layer
    ///   `[ids.len(), hidden]`
    fn forward(
        &self,
        ids: Vec<u32>,
        audio: Vec<AudioSpan<B>>,
        seqs: &mut [BatchSeq<'_, B>],
        rows: &[usize],
        capture: &[usize],
    ) -> Result<(Tensor<B, 2>, Vec<Tensor<B, 2>>)>;

    /// Encodes a prompt's audio clips and places the embeddings on its
    /// audio placeholders (spans relative to the prompt's first token).
    fn encode_audio(&self, prompt: &[u32], clips: &[MelFeatures<'_>]) -> Result<Vec<AudioSpan<B>>>;
}

impl<B: Backend> StepModel<B> for Qwen3OmniThinker<B> {
    fn forward(
        &self,
        ids: Vec<u32>,
        audio: Vec<AudioSpan<B>>,
        seqs: &mut [BatchSeq<'_, B>],
        rows: &[usize],
        capture: &[usize],
    ) -> Result<(Tensor<B, 2>, Vec<Tensor<B, 2>>)> {
        let out = Qwen3OmniThinker::forward(self, ThinkerInput { ids, audio }, seqs, capture)?;
        let hidden = out.hidden;
        let device = hidden.device();
        let idx: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
        let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [rows.len()]), &device);
        Ok((self.logits(hidden.select(0, idx)), out.captured))
    }

    fn encode_audio(&self, prompt: &[u32], clips: &[MelFeatures<'_>]) -> Result<Vec<AudioSpan<B>>> {
        if clips.is_empty() {
            return Ok(Vec::new());
        }
        let out = Qwen3OmniThinker::encode_audio(self, clips)?;
        self.audio_spans(prompt, 0, &out)
    }
}

/// The KV shape of a decoder.
pub(crate) fn kv_spec(cfg: &DecoderConfig, block_size: usize) -> KvSpec {
    KvSpec {
        windows: (0..cfg.num_hidden_layers).map(|i| cfg.window(i)).collect(),
        kv_heads: cfg.num_key_value_heads,
        head_dim: cfg.head_dim,
        block_size,
    }
}
