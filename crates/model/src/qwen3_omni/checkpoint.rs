//! A Qwen3-Omni checkpoint directory in Hugging Face layout.
//!
//! `config.json` (a [`Qwen3OmniMoeConfig`]; anything else is refused with an
//! error naming its `model_type` and `architectures`), `generation_config.json`
//! (optional), and `model.safetensors` or the shards of
//! `model.safetensors.index.json`, with tensors under `thinker.`, `talker.`
//! and `code2wav.`. MoE experts are stored one tensor per expert
//! (`…mlp.experts.{e}.{gate,up,down}_proj.weight`), which is what the Hub
//! checkpoints hold and what transformers 5.24's `save_pretrained` writes.
//!
//! Opening reads the configs and the safetensors headers only. Each
//! sub-model is then loaded from its own prefix, reading nothing else: the
//! thinker's vision tower (`thinker.visual.*`) is never read
//! ([`Checkpoint::bytes_read`] proves it).

use super::config::Qwen3OmniMoeConfig;
use super::generation_config::GenerationConfig;
use super::thinker::Qwen3OmniThinker;
use crate::error::Result;
use crate::loader::{Checkpoint, VarBuilder};
use burn::tensor::backend::Backend;
use std::path::{Path, PathBuf};

/// Tensor prefix of the thinker.
pub const THINKER_PREFIX: &str = "thinker";
/// Tensor prefix of the talker (and its code predictor).
pub const TALKER_PREFIX: &str = "talker";
/// Tensor prefix of Code2Wav.
pub const CODE2WAV_PREFIX: &str = "code2wav";

/// An opened Qwen3-Omni checkpoint.
#[derive(Debug)]
pub struct Qwen3OmniCheckpoint {
    dir: PathBuf,
    config: Qwen3OmniMoeConfig,
    generation: GenerationConfig,
    weights: Checkpoint,
}

impl Qwen3OmniCheckpoint {
    /// Opens `dir`: parses `config.json` (refusing other model types before
    /// anything else is read) and `generation_config.json`, then the
    /// safetensors headers.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let config = Qwen3OmniMoeConfig::from_file(dir.join("config.json"))?;
        let generation = GenerationConfig::from_dir(&dir)?;
        let weights = Checkpoint::open(&dir)?;
        Ok(Self {
            dir,
            config,
            generation,
            weights,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `config.json`.
    pub fn config(&self) -> &Qwen3OmniMoeConfig {
        &self.config
    }

    /// `generation_config.json` (all `None` when the file is absent).
    pub fn generation_config(&self) -> &GenerationConfig {
        &self.generation
    }

    /// The tensor index (names, shapes, bytes read so far).
    pub fn weights(&self) -> &Checkpoint {
        &self.weights
    }

    /// Whether any tensor lives under `prefix` (`"talker"`, …).
    pub fn has_prefix(&self, prefix: &str) -> bool {
        let dotted = format!("{prefix}.");
        self.weights
            .tensors()
            .range(dotted.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&dotted))
    }

    /// A root [`VarBuilder`] on `device`. Load a sub-model from its prefix
    /// view (`vb.pp(TALKER_PREFIX)`), then call `finish` on that view: it
    /// reports only problems under that prefix.
    pub fn var_builder<B: Backend>(&self, device: &B::Device) -> VarBuilder<'_, B> {
        VarBuilder::new(&self.weights, device)
    }

    /// Loads the thinker (`thinker.*` but `thinker.visual.*`), failing with
    /// every missing, wrong-shaped or unexpected tensor under `thinker.`.
    pub fn load_thinker<B: Backend>(&self, device: &B::Device) -> Result<Qwen3OmniThinker<B>> {
        self.load_thinker_with(device, &crate::QuantConfig::default())
    }

    /// [`Self::load_thinker`] with its linear weights quantized as `quant`
    /// says (a checkpoint already quantized by bitsandbytes loads as stored).
    pub fn load_thinker_with<B: Backend>(
        &self,
        device: &B::Device,
        quant: &crate::QuantConfig,
    ) -> Result<Qwen3OmniThinker<B>> {
        let vb = self
            .var_builder::<B>(device)
            .with_quantization(quant.clone())?
            .pp(THINKER_PREFIX);
        let thinker = Qwen3OmniThinker::load(&vb, &self.config.thinker_config)?;
        vb.finish()?;
        Ok(thinker)
    }
}
