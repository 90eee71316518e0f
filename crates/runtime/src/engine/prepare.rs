//! Everything done to a request before it may run: validation, the prompt
//! (template, tokens, log-mel features, rotary positions), the limits and
//! the sampling parameters. Host work only; runs off the async executor.
//! Every error here comes back from `submit`, before any model compute.

use super::messages::{self, Conversation};
use crate::api::{
    EngineError, GenerateRequest, OutputMode, SamplingParams, Task, TokenCounts, ToolChoice,
};
use crate::audio_store::AudioStore;
use crate::sampling::{SamplingConfig, SamplingError, SamplingOverrides};
use crate::tools::{ToolSetup, ToolVocab};
use omnivox_model::qwen3_omni::{
    GenerationConfig, MediaLayout, RopeIndex, RopeIndexConfig, rope_index,
};
use omnivox_tokenizer::{ChatInput, LogMel, Qwen3OmniProcessor};
use std::sync::Arc;

/// Longest stop string accepted, in bytes.
const MAX_STOP_BYTES: usize = 256;
/// Most stop strings accepted (OpenAI's limit).
const MAX_STOPS: usize = 4;

/// A request ready for the scheduler.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub request_id: String,
    /// Prompt token ids, audio placeholders expanded.
    pub prompt: Vec<u32>,
    /// Log-mel features of each clip, in prompt order.
    pub audio: Vec<LogMel>,
    /// Rotary positions of the prompt (multimodal models).
    pub rope: Option<RopeIndex>,
    pub sampling: SamplingConfig,
    /// Stop strings (OpenAI `stop`).
    pub stop: Vec<String>,
    /// Ids that end the turn.
    pub stop_ids: Vec<u32>,
    /// Most text tokens this reply may have.
    pub max_tokens: usize,
    /// The prompt's tokens by modality.
    pub usage_prompt: TokenCounts,
    /// Tool calling, when tools are in play.
    pub tools: Option<ToolSetup>,
    /// Text, or text and speech.
    pub output: OutputMode,
}

/// The limits a request is checked against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub context: u32,
    pub text: u32,
    pub audio: u32,
}

/// What preparation needs from the checkpoint.
#[derive(Debug)]
pub(crate) struct Preparer {
    pub processor: Qwen3OmniProcessor,
    pub generation: GenerationConfig,
    pub rope: Option<RopeIndexConfig>,
    pub stop_ids: Vec<u32>,
    pub limits: Limits,
    pub store: Arc<dyn AudioStore>,
    pub speech: bool,
    pub tool_vocab: Arc<ToolVocab>,
    pub template_kwargs: serde_json::Map<String, serde_json::Value>,
}

fn sampling_error(e: SamplingError) -> EngineError {
    match e {
        SamplingError::Invalid { field, reason } => EngineError::invalid(field, reason),
        other => EngineError::Internal(other.to_string()),
    }
}

impl Preparer {
    /// Validates and prepares `req`.
    pub fn prepare(&self, req: GenerateRequest) -> Result<Prepared, EngineError> {
        if let OutputMode::Speech(_) = &req.output {
            // Speech output lands with the talker pipeline.
            return Err(EngineError::Unsupported {
                param: "modalities".into(),
                message: "this engine does not produce audio yet".into(),
            });
        }
        let speech = matches!(req.output, OutputMode::Speech(_));
        let (conv, tool_choice, parallel) = match &req.task {
            Task::Chat(c) => (
                messages::chat(c, self.store.as_ref())?,
                c.tool_choice.clone(),
                c.parallel_tool_calls,
            ),
            Task::Transcribe(t) => (messages::transcription(t), ToolChoice::None, false),
            Task::Speak(_) => {
                return Err(EngineError::Unsupported {
                    param: "input".into(),
                    message: "this engine does not produce audio yet".into(),
                });
            }
        };
        let tools = match &req.task {
            Task::Chat(c) if !c.tools.is_empty() && tool_choice != ToolChoice::None => Some(
                ToolSetup::new(&c.tools, tool_choice, parallel, &self.tool_vocab)?,
            ),
            Task::Chat(c)
                if c.tools.is_empty()
                    && matches!(tool_choice, ToolChoice::Required | ToolChoice::Function(_)) =>
            {
                return Err(EngineError::invalid(
                    "tool_choice",
                    "a tool call is required but no tools were given",
                ));
            }
            _ => None,
        };
        let stop = check_stop(&req.sampling.stop)?;
        let (prompt, audio) = self.tokenize(&conv)?;
        let audio_tokens: usize = prompt
            .iter()
            .filter(|&&t| t == self.processor.audio_token_id())
            .count();
        let rope = match &self.rope {
            Some(cfg) => {
                let frames: Vec<usize> = audio.iter().map(|a| a.n_frames).collect();
                let media = MediaLayout {
                    audio_frames: &frames,
                    ..MediaLayout::default()
                };
                Some(
                    rope_index(&prompt, &media, cfg)
                        .map_err(|e| EngineError::invalid("messages", e.to_string()))?,
                )
            }
            None => None,
        };
        let max_tokens = self.output_budget(prompt.len(), &req.sampling, speech, tools.as_ref())?;
        let sampling = SamplingConfig::resolve(&overrides(&req.sampling), &self.generation)
            .map_err(sampling_error)?;
        Ok(Prepared {
            request_id: req.request_id,
            usage_prompt: TokenCounts {
                text: (prompt.len() - audio_tokens) as u32,
                audio: audio_tokens as u32,
            },
            prompt,
            audio,
            rope,
            sampling,
            stop,
            stop_ids: self.stop_ids.clone(),
            max_tokens,
            tools,
            output: req.output,
        })
    }

    /// Template, placeholder expansion, tokens and features.
    fn tokenize(&self, conv: &Conversation) -> Result<(Vec<u32>, Vec<LogMel>), EngineError> {
        let input = ChatInput {
            messages: &conv.messages,
            tools: conv.tools.as_deref(),
            documents: None,
            add_generation_prompt: true,
            kwargs: Some(&self.template_kwargs),
            sanitize_control_tokens: true,
        };
        let clips: Vec<&[f32]> = conv.clips.iter().map(|c| &c[..]).collect();
        let prompt = self.processor.process(&input, &clips).map_err(|e| {
            use omnivox_tokenizer::Error as E;
            match e {
                // The request's fault: what the template or the audio refused.
                E::TemplateRaised(_)
                | E::InvalidChatInput(_)
                | E::AudioTooShort { .. }
                | E::NonFiniteSample { .. } => EngineError::invalid("messages", e.to_string()),
                other => EngineError::Internal(format!("prompt: {other}")),
            }
        })?;
        let audio = prompt.audio.into_iter().map(|a| a.features).collect();
        Ok((prompt.input_ids, audio))
    }

    /// How many text tokens the reply may have, after checking the limits.
    fn output_budget(
        &self,
        prompt: usize,
        sampling: &SamplingParams,
        speech: bool,
        tools: Option<&ToolSetup>,
    ) -> Result<usize, EngineError> {
        let l = self.limits;
        let context = l.context as usize;
        let cap = l.text + if speech { l.audio } else { 0 };
        if let Some(m) = sampling.max_completion_tokens {
            if m == 0 || m > cap {
                return Err(EngineError::invalid(
                    "max_completion_tokens",
                    format!("{m} is not between 1 and {cap}, this model's output limit"),
                ));
            }
        }
        let wanted = sampling.max_completion_tokens.map_or(1, |m| m as usize);
        if prompt + wanted > context {
            return Err(EngineError::ContextLengthExceeded {
                requested: (prompt + wanted).min(u32::MAX as usize) as u32,
                limit: l.context,
            });
        }
        let mut default = self.generation.max_new_tokens.unwrap_or(l.text as usize);
        if let Some(t) = tools.filter(|t| t.is_forced()) {
            // The checkpoint's default length is a preference; a required
            // call must fit (with room for its arguments to say something).
            default = default.max(2 * t.min_tokens() + 64);
        }
        let budget = sampling
            .max_completion_tokens
            .map_or(default, |m| m as usize)
            .min(l.text as usize)
            .min(context - prompt);
        if let Some(t) = tools {
            let need = t.min_tokens();
            if t.is_forced() && budget < need {
                return Err(EngineError::invalid(
                    "max_completion_tokens",
                    format!(
                        "a call of the required tool needs at least {need} tokens; {budget} are allowed"
                    ),
                ));
            }
        }
        Ok(budget)
    }
}

/// The request's sampling values over the checkpoint's defaults.
fn overrides(s: &SamplingParams) -> SamplingOverrides {
    SamplingOverrides {
        temperature: Some(s.temperature),
        top_p: Some(s.top_p),
        top_k: s.top_k.map(|k| k as usize),
        min_p: None,
        presence_penalty: Some(s.presence_penalty),
        frequency_penalty: Some(s.frequency_penalty),
        repetition_penalty: Some(s.repetition_penalty),
        suppress_tokens: None,
        seed: s.seed,
    }
}

fn check_stop(stop: &[String]) -> Result<Vec<String>, EngineError> {
    if stop.len() > MAX_STOPS {
        return Err(EngineError::invalid(
            "stop",
            format!("at most {MAX_STOPS} stop sequences"),
        ));
    }
    for s in stop {
        if s.is_empty() || s.len() > MAX_STOP_BYTES {
            return Err(EngineError::invalid(
                "stop",
                format!("each stop sequence must have 1 to {MAX_STOP_BYTES} bytes"),
            ));
        }
    }
    Ok(stop.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_sequences_are_bounded() {
        assert!(check_stop(&vec!["a".to_owned(); 4]).is_ok());
        assert!(check_stop(&vec!["a".to_owned(); 5]).is_err());
        assert!(check_stop(&[String::new()]).is_err());
        assert!(check_stop(&["x".repeat(300)]).is_err());
    }
}
