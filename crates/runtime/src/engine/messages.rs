//! The engine's request vocabulary → the JSON conversation a chat template
//! renders (shaped as transformers expects it), with the audio clips in
//! template order.

use crate::api::{
    ChatTask, ContentPart, EngineError, Message, Role, SpeakTask, ToolChoice, ToolSpec,
    TranscribeTask,
};
use crate::audio_store::AudioStore;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// A conversation ready for the template.
#[derive(Debug, Clone, Default)]
pub(crate) struct Conversation {
    /// `{"role", "content", …}` objects.
    pub messages: Vec<Value>,
    /// Tool schemas, `{"type": "function", "function": {…}}`.
    pub tools: Option<Vec<Value>>,
    /// One clip per audio content block, in order.
    pub clips: Vec<Arc<[f32]>>,
    /// Earlier spoken replies resolved through the store (ids in order).
    pub spoken: Vec<String>,
}

fn role(r: Role) -> &'static str {
    match r {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

/// Converts a chat task. Earlier spoken replies become their transcripts;
/// an id the store does not know is [`EngineError::UnknownAudioId`].
pub(crate) fn chat(task: &ChatTask, store: &dyn AudioStore) -> Result<Conversation, EngineError> {
    if task.messages.is_empty() {
        return Err(EngineError::invalid(
            "messages",
            "the conversation is empty",
        ));
    }
    let mut conv = Conversation::default();
    for (i, m) in task.messages.iter().enumerate() {
        let value = message(m, i, store, &mut conv)?;
        conv.messages.push(value);
    }
    if !task.tools.is_empty() && task.tool_choice != ToolChoice::None {
        conv.tools = Some(task.tools.iter().map(tool).collect());
    }
    Ok(conv)
}

fn message(
    m: &Message,
    index: usize,
    store: &dyn AudioStore,
    conv: &mut Conversation,
) -> Result<Value, EngineError> {
    let has_audio = m.content.iter().any(|p| matches!(p, ContentPart::Audio(_)));
    let mut parts = Vec::with_capacity(m.content.len());
    let mut text = String::new();
    for part in &m.content {
        match part {
            ContentPart::Text(t) => {
                text.push_str(t);
                parts.push(json!({"type": "text", "text": t}));
            }
            ContentPart::Audio(a) => {
                if a.samples.is_empty() {
                    return Err(EngineError::invalid(
                        format!("messages[{index}].content"),
                        "an audio input is empty",
                    ));
                }
                conv.clips.push(Arc::clone(&a.samples));
                parts.push(
                    json!({"type": "audio", "audio": format!("clip:{}", conv.clips.len() - 1)}),
                );
            }
            ContentPart::SpokenReply { audio_id } => {
                let stored = store
                    .get(audio_id)
                    .map_err(|e| EngineError::Internal(format!("audio store: {e}")))?
                    .ok_or_else(|| EngineError::UnknownAudioId {
                        id: audio_id.clone(),
                    })?;
                conv.spoken.push(audio_id.clone());
                text.push_str(&stored.transcript);
                parts.push(json!({"type": "text", "text": stored.transcript}));
            }
        }
    }
    let mut out = Map::new();
    out.insert("role".into(), Value::from(role(m.role)));
    let content = if has_audio {
        Value::Array(parts)
    } else {
        Value::String(text)
    };
    out.insert("content".into(), content);
    if !m.tool_calls.is_empty() {
        let calls: Vec<Value> = m
            .tool_calls
            .iter()
            .map(|c| {
                json!({
                    "type": "function",
                    "id": c.id,
                    "function": {"name": c.name, "arguments": c.arguments},
                })
            })
            .collect();
        out.insert("tool_calls".into(), Value::Array(calls));
    }
    if let Some(id) = &m.tool_call_id {
        out.insert("tool_call_id".into(), Value::from(id.as_str()));
    }
    if let (Role::Tool, Some(name)) = (m.role, &m.name) {
        out.insert("name".into(), Value::from(name.as_str()));
    }
    Ok(Value::Object(out))
}

fn tool(t: &ToolSpec) -> Value {
    let mut f = Map::new();
    f.insert("name".into(), Value::from(t.name.as_str()));
    if let Some(d) = &t.description {
        f.insert("description".into(), Value::from(d.as_str()));
    }
    f.insert("parameters".into(), t.parameters.clone());
    json!({"type": "function", "function": Value::Object(f)})
}

/// A read-aloud request: the text as the user's message (the reply itself
/// is the text, given token by token), instructions as the system prompt.
pub(crate) fn speak(task: &SpeakTask) -> Conversation {
    let mut system =
        String::from("Read the user's text aloud, word for word, without adding anything.");
    if let Some(i) = task
        .instructions
        .as_deref()
        .filter(|i| !i.trim().is_empty())
    {
        system.push_str(&format!(" Style: {i}"));
    }
    Conversation {
        messages: vec![
            json!({"role": "system", "content": system}),
            json!({"role": "user", "content": task.text}),
        ],
        tools: None,
        clips: Vec::new(),
        spoken: Vec::new(),
    }
}

/// The instruction a transcription runs under.
pub(crate) fn transcription(task: &TranscribeTask) -> Conversation {
    let mut instruction = String::from("Transcribe the audio into text, exactly as spoken.");
    if let Some(lang) = &task.language {
        instruction.push_str(&format!(" The language is `{lang}`."));
    }
    instruction.push_str(" Reply with the transcript only.");
    let mut messages = Vec::new();
    if let Some(p) = task.prompt.as_deref().filter(|p| !p.is_empty()) {
        messages.push(json!({"role": "system", "content": format!("Context: {p}")}));
    }
    messages.push(json!({
        "role": "user",
        "content": [
            {"type": "audio", "audio": "clip:0"},
            {"type": "text", "text": instruction},
        ],
    }));
    Conversation {
        messages,
        tools: None,
        clips: vec![Arc::clone(&task.audio.samples)],
        spoken: Vec::new(),
    }
}
