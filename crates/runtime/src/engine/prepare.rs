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
use crate::speech::{SpeechSampling, Voice, VoiceTable};
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
    /// Speech out, when asked for.
    pub speech: Option<SpeechPlan>,
    /// The reply's tokens when they are given (read-aloud requests): the
    /// text's tokens then the end of the turn.
    pub forced: Vec<u32>,
}

/// How a reply is spoken.
#[derive(Debug, Clone)]
pub(crate) struct SpeechPlan {
    pub voice: Voice,
    pub speed: f32,
    pub sampling: SpeechSampling,
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
    /// The checkpoint's voices; `None` when it cannot speak.
    pub voices: Option<VoiceTable>,
    pub tool_vocab: Arc<ToolVocab>,
    pub template_kwargs: serde_json::Map<String, serde_json::Value>,
    pub sanitize_control_tokens: bool,
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
        let speech_out = self.speech_output(&req)?;
        let speech = speech_out.is_some();
        let (conv, tool_choice, parallel) = match &req.task {
            Task::Chat(c) => (
                messages::chat(c, self.store.as_ref())?,
                c.tool_choice.clone(),
                c.parallel_tool_calls,
            ),
            Task::Transcribe(t) => (messages::transcription(t), ToolChoice::None, false),
            Task::Speak(t) => (messages::speak(t), ToolChoice::None, false),
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
        let forced = match &req.task {
            Task::Speak(t) => self.read_aloud(&t.text, prompt.len())?,
            _ => Vec::new(),
        };
        let max_tokens = if forced.is_empty() {
            self.output_budget(prompt.len(), &req.sampling, speech, tools.as_ref())?
        } else {
            forced.len()
        };
        let sampling = SamplingConfig::resolve(&overrides(&req.sampling), &self.generation)
            .map_err(sampling_error)?;
        let speech = speech_out.map(|(voice, speed)| SpeechPlan {
            voice,
            speed,
            sampling: SpeechSampling {
                max_new_tokens: self.limits.audio as usize,
                ..if sampling.is_greedy() {
                    SpeechSampling::greedy()
                } else {
                    SpeechSampling::sampled(sampling.seed)
                }
            },
        });
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
            speech,
            forced,
        })
    }

    /// The voice and speed of a speech request, checked; `None` for text.
    fn speech_output(&self, req: &GenerateRequest) -> Result<Option<(Voice, f32)>, EngineError> {
        let param = |p: &str| match req.task {
            Task::Speak(_) => p.to_owned(),
            _ => format!("audio.{p}"),
        };
        let out = match &req.output {
            OutputMode::Text => {
                if let Task::Speak(_) = req.task {
                    return Err(EngineError::invalid(
                        "modalities",
                        "reading aloud makes audio",
                    ));
                }
                return Ok(None);
            }
            OutputMode::Speech(out) => out,
        };
        let Some(voices) = self.voices.as_ref() else {
            return Err(EngineError::Unsupported {
                param: "modalities".into(),
                message: "this model has no talker: it cannot produce audio".into(),
            });
        };
        let voice = voices
            .resolve(&out.voice)
            .map_err(|e| EngineError::invalid(param("voice"), e.to_string()))?;
        if !(0.25..=4.0).contains(&out.speed) {
            return Err(EngineError::invalid(
                param("speed"),
                format!("{} is not between 0.25 and 4.0", out.speed),
            ));
        }
        Ok(Some((voice, out.speed)))
    }

    /// The reply of a read-aloud request: the text's tokens, then the end of
    /// the turn; checked against the limits.
    fn read_aloud(&self, text: &str, prompt: usize) -> Result<Vec<u32>, EngineError> {
        if text.trim().is_empty() {
            return Err(EngineError::invalid("input", "there is no text to read"));
        }
        let mut ids = self
            .processor
            .tokenizer()
            .encode(text, false)
            .map_err(|e| EngineError::invalid("input", e.to_string()))?;
        ids.extend(self.stop_ids.first());
        let l = self.limits;
        if ids.len() > l.text as usize {
            return Err(EngineError::invalid(
                "input",
                format!(
                    "the text is {} tokens; at most {} can be read",
                    ids.len(),
                    l.text
                ),
            ));
        }
        if prompt + ids.len() > l.context as usize {
            return Err(EngineError::ContextLengthExceeded {
                requested: (prompt + ids.len()).min(u32::MAX as usize) as u32,
                limit: l.context,
            });
        }
        Ok(ids)
    }

    /// Template, placeholder expansion, tokens and features.
    fn tokenize(&self, conv: &Conversation) -> Result<(Vec<u32>, Vec<LogMel>), EngineError> {
        let input = ChatInput {
            messages: &conv.messages,
            tools: conv.tools.as_deref(),
            documents: None,
            add_generation_prompt: true,
            kwargs: Some(&self.template_kwargs),
            sanitize_control_tokens: self.sanitize_control_tokens,
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
        if let Some(m) = sampling.max_completion_tokens
            && (m == 0 || m > cap)
        {
            return Err(EngineError::invalid(
                "max_completion_tokens",
                format!("{m} is not between 1 and {cap}, this model's output limit"),
            ));
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
