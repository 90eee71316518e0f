//! The scripted engine's replies: [`Script`] and the default behaviour
//! [`respond`]. Everything here is deterministic except the ids of spoken
//! replies (which must be unique) and their expiry (which follows the clock).

use std::time::Duration;

use super::ScriptContext;
use crate::api::{
    AudioChunk, AudioDone, ChatTask, ContentPart, EngineError, Event, FinishReason,
    GenerateRequest, Message, OUTPUT_SAMPLE_RATE, OutputMode, Role, SamplingParams, SpeechOutput,
    Task, TokenCounts, ToolCallDelta, ToolChoice, ToolSpec, TranscriptSegment, Usage,
};

/// One scripted reply.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Script {
    /// The events the stream yields, in order.
    pub events: Vec<Event>,
    /// When set, `submit` fails with this instead of returning a stream.
    pub submit_error: Option<EngineError>,
    /// Overrides the engine's pacing for this reply.
    pub pacing: Option<Duration>,
}

impl Script {
    /// A stream of `events`.
    pub fn events(events: Vec<Event>) -> Self {
        Self {
            events,
            ..Self::default()
        }
    }

    /// `submit` fails with `error`.
    pub fn refuse(error: EngineError) -> Self {
        Self {
            submit_error: Some(error),
            ..Self::default()
        }
    }
}

/// Milliseconds of tone per character of reply text.
const MS_PER_CHAR: u64 = 60;
/// Shortest spoken reply.
const MIN_SPEECH_MS: u64 = 500;
/// Samples per audio chunk: 80 ms at 24 kHz, one Qwen3-Omni codec frame.
const CHUNK_SAMPLES: usize = 1920;
/// Audio tokens per second of input (the encoder's output rate).
const INPUT_AUDIO_TOKENS_PER_SEC: f64 = 25.0;

/// The default behaviour (documented on [`super`]).
pub fn respond(request: &GenerateRequest, ctx: &ScriptContext<'_>) -> Script {
    let mut script = respond_inner(request, ctx);
    if matches!(request.output, OutputMode::Speech(_)) && script.submit_error.is_none() {
        let id = script
            .events
            .iter()
            .find_map(|e| match e {
                Event::AudioDone(done) => Some(done.id.clone()),
                _ => None,
            })
            .unwrap_or_else(|| format!("audio_{}", unique_hex()));
        script.events.insert(0, Event::AudioStarted { id });
    }
    script
}

fn respond_inner(request: &GenerateRequest, ctx: &ScriptContext<'_>) -> Script {
    match &request.task {
        Task::Chat(chat) => respond_chat(request, chat, ctx),
        Task::Speak(speak) => {
            let prompt = TokenCounts {
                text: word_count(&speak.text),
                audio: 0,
            };
            finish_reply(
                request,
                ctx,
                speak.text.clone(),
                prompt,
                &SamplingParams::default(),
            )
        }
        Task::Transcribe(task) => {
            let secs = task.audio.duration_secs();
            let text = format!("Transcript of {secs:.2} seconds of audio.");
            let mut events: Vec<Event> = words(&text).into_iter().map(Event::TextDelta).collect();
            let total_ms = (secs * 1000.0) as u64;
            for (i, start) in (0..total_ms.max(1)).step_by(1000).enumerate() {
                events.push(Event::TranscriptSegment(TranscriptSegment {
                    start_ms: start,
                    end_ms: (start + 1000).min(total_ms),
                    text: format!("segment {i}"),
                }));
            }
            let usage = Usage {
                prompt: TokenCounts {
                    text: 0,
                    audio: audio_tokens(secs),
                },
                cached_prompt_tokens: 0,
                completion: TokenCounts {
                    text: word_count(&text),
                    audio: 0,
                },
            };
            events.push(Event::Usage(usage));
            events.push(Event::Finished(FinishReason::Stop));
            Script::events(events)
        }
    }
}

fn respond_chat(request: &GenerateRequest, chat: &ChatTask, ctx: &ScriptContext<'_>) -> Script {
    let last_user = chat
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(message_text)
        .unwrap_or_default();
    if let Some(script) = directive(&last_user, request, ctx) {
        return script;
    }
    let mut prompt = TokenCounts::default();
    for message in &chat.messages {
        prompt.text += 4 + word_count(&message_text(message));
        for part in &message.content {
            match part {
                ContentPart::Audio(audio) => prompt.audio += audio_tokens(audio.duration_secs()),
                ContentPart::SpokenReply { audio_id } => match ctx.transcript(audio_id) {
                    Some(t) => prompt.audio += 10 * word_count(t),
                    None => {
                        return Script::refuse(EngineError::UnknownAudioId {
                            id: audio_id.clone(),
                        });
                    }
                },
                ContentPart::Text(_) => {}
            }
        }
    }
    if let Some(script) = tool_turn(chat, prompt) {
        return script;
    }
    let Some(last) = chat.messages.last() else {
        return Script::refuse(EngineError::invalid("messages", "no messages"));
    };
    let text = describe(last, ctx);
    finish_reply(request, ctx, text, prompt, &request.sampling)
}

/// Failure paths chosen by a directive in the last user text.
fn directive(text: &str, request: &GenerateRequest, ctx: &ScriptContext<'_>) -> Option<Script> {
    let has = |name: &str| text.contains(&format!("[[omnivox-test:{name}]]"));
    if has("overload") {
        return Some(Script::refuse(EngineError::Overloaded {
            retry_after: Duration::from_secs(2),
            reason: "scripted overload".into(),
        }));
    }
    if has("unavailable") {
        return Some(Script::refuse(EngineError::Unavailable {
            reason: "scripted unavailability".into(),
        }));
    }
    if has("invalid") {
        return Some(Script::refuse(EngineError::invalid(
            "messages",
            "scripted invalid request",
        )));
    }
    if has("context") {
        return Some(Script::refuse(EngineError::ContextLengthExceeded {
            requested: 40_000,
            limit: 32_768,
        }));
    }
    if has("error-mid-stream") {
        let mut events: Vec<Event> = words("This reply will fail")
            .into_iter()
            .map(Event::TextDelta)
            .collect();
        if let OutputMode::Speech(speech) = &request.output {
            events.push(Event::AudioChunk(tone(0, CHUNK_SAMPLES, speech)));
        }
        events.push(Event::Error(EngineError::Internal(
            "scripted failure in the middle of a stream".into(),
        )));
        return Some(Script::events(events));
    }
    if has("slow") {
        let text = "slow ".repeat(38).trim_end().to_string();
        let mut script = finish_reply(
            request,
            ctx,
            text,
            TokenCounts::default(),
            &SamplingParams::default(),
        );
        // Text only, so the event count (and so the duration) is fixed.
        script
            .events
            .retain(|e| !matches!(e, Event::AudioChunk(_) | Event::AudioDone(_)));
        script.pacing = Some(Duration::from_millis(100));
        return Some(script);
    }
    None
}

/// A turn that calls tools, when the request allows and asks for one.
fn tool_turn(chat: &ChatTask, prompt: TokenCounts) -> Option<Script> {
    let answered_tool = chat.messages.last().is_some_and(|m| m.role == Role::Tool);
    let chosen: Vec<&ToolSpec> = match &chat.tool_choice {
        ToolChoice::None => return None,
        _ if chat.tools.is_empty() => return None,
        ToolChoice::Auto if answered_tool => return None,
        ToolChoice::Function(name) => chat.tools.iter().filter(|t| &t.name == name).collect(),
        ToolChoice::Required if chat.parallel_tool_calls => chat.tools.iter().take(2).collect(),
        ToolChoice::Required | ToolChoice::Auto => chat.tools.iter().take(1).collect(),
    };
    let mut events = Vec::new();
    let mut completion = 0;
    for (index, tool) in chosen.iter().enumerate() {
        let arguments = placeholder_arguments(&tool.parameters).to_string();
        completion += 5 + arguments.len() as u32 / 4;
        let mut mid = arguments.len() / 2;
        while !arguments.is_char_boundary(mid) {
            mid -= 1;
        }
        let (head, tail) = arguments.split_at(mid);
        let index = index as u32;
        events.push(Event::ToolCallDelta(ToolCallDelta {
            index,
            id: Some(format!("call_scripted_{index}")),
            name: Some(tool.name.clone()),
            arguments: String::new(),
        }));
        for piece in [head, tail] {
            events.push(Event::ToolCallDelta(ToolCallDelta {
                index,
                id: None,
                name: None,
                arguments: piece.to_string(),
            }));
        }
    }
    events.push(Event::Usage(Usage {
        prompt,
        cached_prompt_tokens: 0,
        completion: TokenCounts {
            text: completion,
            audio: 0,
        },
    }));
    events.push(Event::Finished(FinishReason::ToolCalls));
    Some(Script::events(events))
}

/// An object with each required property set to a placeholder of its type.
fn placeholder_arguments(schema: &serde_json::Value) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    let props = schema.get("properties").and_then(|p| p.as_object());
    let required = schema.get("required").and_then(|r| r.as_array());
    for name in required.into_iter().flatten().filter_map(|n| n.as_str()) {
        let ty = props
            .and_then(|p| p.get(name))
            .and_then(|p| p.get("type"))
            .and_then(|t| t.as_str())
            .unwrap_or("string");
        let value = match ty {
            "integer" | "number" => serde_json::json!(1),
            "boolean" => serde_json::json!(true),
            "array" => serde_json::json!([]),
            "object" => serde_json::json!({}),
            "null" => serde_json::Value::Null,
            _ => serde_json::json!("test"),
        };
        out.insert(name.to_string(), value);
    }
    serde_json::Value::Object(out)
}

/// The reply text for the conversation's last message.
fn describe(last: &Message, ctx: &ScriptContext<'_>) -> String {
    if last.role == Role::Tool {
        return format!("The tool returned: {}.", message_text(last));
    }
    let mut parts = Vec::new();
    for part in &last.content {
        match part {
            ContentPart::Text(t) => parts.push(format!("You said: {t}.")),
            ContentPart::Audio(a) => parts.push(format!(
                "I heard {:.2} seconds of audio.",
                a.duration_secs()
            )),
            ContentPart::SpokenReply { audio_id } => {
                let t = ctx.transcript(audio_id).unwrap_or_default();
                parts.push(format!("Earlier I said: {t}"));
            }
        }
    }
    if parts.is_empty() {
        "Hello.".into()
    } else {
        parts.join(" ")
    }
}

/// Text (cut by `stop` and the token budget), speech when asked, usage and
/// finish.
fn finish_reply(
    request: &GenerateRequest,
    ctx: &ScriptContext<'_>,
    text: String,
    prompt: TokenCounts,
    sampling: &SamplingParams,
) -> Script {
    let (text, mut finish) = apply_stop(text, &sampling.stop);
    let mut deltas = words(&text);
    if let Some(max) = sampling.max_completion_tokens
        && deltas.len() > max as usize
    {
        deltas.truncate(max as usize);
        finish = FinishReason::Length;
    }
    let text: String = deltas.concat();
    let mut events = Vec::new();
    let mut audio_tokens = 0;
    match &request.output {
        OutputMode::Text => events.extend(deltas.into_iter().map(Event::TextDelta)),
        OutputMode::Speech(speech) => {
            let chunks = speech_chunks(&text, speech);
            audio_tokens = chunks.len() as u32;
            // Transcript leads the audio: two words, then alternate.
            let mut deltas = deltas.into_iter();
            events.extend(deltas.by_ref().take(2).map(Event::TextDelta));
            let mut chunks = chunks.into_iter();
            loop {
                let (d, c) = (deltas.next(), chunks.next());
                if d.is_none() && c.is_none() {
                    break;
                }
                events.extend(d.map(Event::TextDelta));
                events.extend(c.map(Event::AudioChunk));
            }
            events.push(Event::AudioDone(AudioDone {
                id: format!("audio_{}", unique_hex()),
                expires_at: ctx.expires_at(),
                transcript: text.clone(),
            }));
        }
    }
    events.push(Event::Usage(Usage {
        prompt,
        cached_prompt_tokens: 0,
        completion: TokenCounts {
            text: word_count(&text),
            audio: audio_tokens,
        },
    }));
    events.push(Event::Finished(finish));
    Script::events(events)
}

/// Cuts `text` before the first stop sequence.
fn apply_stop(text: String, stop: &[String]) -> (String, FinishReason) {
    let cut = stop
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()))
        .min();
    match cut {
        Some(at) => (text[..at].to_string(), FinishReason::Stop),
        None => (text, FinishReason::Stop),
    }
}

/// A 440 Hz tone as long as `text` deserves at `speed`, in 80 ms chunks.
fn speech_chunks(text: &str, speech: &SpeechOutput) -> Vec<AudioChunk> {
    let natural_ms = (text.chars().count() as u64 * MS_PER_CHAR).max(MIN_SPEECH_MS);
    let speed = if speech.speed > 0.0 {
        speech.speed
    } else {
        1.0
    };
    let total = (natural_ms as f64 / f64::from(speed) * f64::from(OUTPUT_SAMPLE_RATE) / 1000.0)
        .round() as usize;
    let mut chunks = Vec::new();
    let mut offset = 0;
    while offset < total {
        let len = CHUNK_SAMPLES.min(total - offset);
        chunks.push(tone(offset, len, speech));
        offset += len;
    }
    chunks
}

/// `len` samples of the tone starting at sample `offset`.
fn tone(offset: usize, len: usize, _speech: &SpeechOutput) -> AudioChunk {
    let rate = f64::from(OUTPUT_SAMPLE_RATE);
    let samples = (offset..offset + len)
        .map(|n| (0.3 * (2.0 * std::f64::consts::PI * 440.0 * n as f64 / rate).sin()) as f32)
        .collect();
    let start_ms = offset as u64 * 1000 / u64::from(OUTPUT_SAMPLE_RATE);
    AudioChunk::new(samples, start_ms)
}

/// All text parts of a message, joined by spaces.
fn message_text(message: &Message) -> String {
    message
        .content
        .iter()
        .filter_map(|p| match p {
            ContentPart::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `text` split into word deltas that concatenate back to it.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if c == ' ' && !current.is_empty() && !current.ends_with(' ') {
            out.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn word_count(text: &str) -> u32 {
    text.split_whitespace().count() as u32
}

fn audio_tokens(secs: f64) -> u32 {
    (secs * INPUT_AUDIO_TOKENS_PER_SEC).ceil() as u32
}

/// 24 hex digits, unique within the process.
fn unique_hex() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!("{t:016x}{n:08x}")
}
