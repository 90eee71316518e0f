//! What the template sees, prepared as transformers prepares it
//! (`_normalize_chat_messages`, `_alias_reasoning_fields` and
//! `render_jinja_template` in `utils/chat_template_utils.py`, and
//! `apply_chat_template` in `tokenization_utils_base.py`).

use crate::error::{Error, Result};
use minijinja::Value as J;
use minijinja::value::Serde;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The names a reasoning trace may come under; the first is the one chat
/// templates read (`_REASONING_FIELDS`).
const REASONING_FIELDS: [&str; 3] = ["reasoning_content", "thinking", "reasoning"];

/// Variables the renderer sets itself; extra variables may not use them
/// (Python raises "got multiple values for keyword argument").
pub(crate) const RESERVED: [&str; 4] = ["messages", "tools", "documents", "add_generation_prompt"];

/// The inputs of one rendering: transformers'
/// `apply_chat_template(conversation, tools=…, documents=…,
/// add_generation_prompt=…, **kwargs)`.
///
/// Messages, tools and documents are JSON-shaped data, as clients send
/// them: assistant `tool_calls` may carry `arguments` as an object or as a
/// JSON string; both reach the template unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChatInput<'a> {
    /// The conversation: objects with `role`, `content` and friends.
    pub messages: &'a [Value],
    /// Tool schemas (`{"type": "function", "function": {…}}`), or none.
    pub tools: Option<&'a [Value]>,
    /// RAG documents, or none.
    pub documents: Option<&'a [Value]>,
    /// Append the header that starts an assistant turn.
    pub add_generation_prompt: bool,
    /// Extra template variables (`enable_thinking`, …). They override the
    /// special tokens of the same name.
    pub kwargs: Option<&'a Map<String, Value>>,
    /// transformers' `sanitize_control_tokens`: control tokens inside the
    /// messages, tools, documents and extra variables are encoded as plain
    /// text, so only the template writes control tokens (and user text
    /// cannot forge an audio placeholder). Needs tokenization:
    /// `Tokenizer::apply_chat_template` or `Qwen3OmniProcessor::process`;
    /// `ChatTemplate::render` refuses it.
    pub sanitize_control_tokens: bool,
}

impl<'a> ChatInput<'a> {
    /// Input with just messages.
    pub fn new(messages: &'a [Value]) -> Self {
        Self {
            messages,
            ..Self::default()
        }
    }
}

/// Builds the template context: `{**special_tokens, **kwargs, messages,
/// tools, documents, add_generation_prompt}`.
pub(crate) fn context(
    input: &ChatInput<'_>,
    special_tokens: &BTreeMap<String, String>,
) -> Result<J> {
    if input.messages.is_empty() {
        return Err(Error::InvalidChatInput(
            "cannot apply a chat template to an empty conversation".into(),
        ));
    }
    let mut messages = Vec::with_capacity(input.messages.len());
    for (i, m) in input.messages.iter().enumerate() {
        let Value::Object(obj) = m else {
            return Err(Error::InvalidChatInput(format!(
                "message {i} is not an object"
            )));
        };
        messages.push(Value::Object(alias_reasoning(drop_nulls(obj))));
    }
    let tools = objects("tool", input.tools)?;
    let documents = objects("document", input.documents)?;

    let mut ctx: BTreeMap<String, J> = special_tokens
        .iter()
        .map(|(k, v)| (k.clone(), J::from(v.as_str())))
        .collect();
    if let Some(kwargs) = input.kwargs {
        for (k, v) in kwargs {
            if RESERVED.contains(&k.as_str()) {
                return Err(Error::InvalidChatInput(format!(
                    "template variable {k:?} is set by the renderer itself"
                )));
            }
            ctx.insert(k.clone(), J::from(Serde(v)));
        }
    }
    ctx.insert("messages".into(), J::from(Serde(&messages)));
    ctx.insert("tools".into(), tools);
    ctx.insert("documents".into(), documents);
    ctx.insert(
        "add_generation_prompt".into(),
        J::from(input.add_generation_prompt),
    );
    Ok(J::from(ctx))
}

/// `None`, or a list whose items must all be objects.
fn objects(what: &str, items: Option<&[Value]>) -> Result<J> {
    let Some(items) = items else {
        return Ok(J::from(()));
    };
    if let Some(i) = items.iter().position(|t| !t.is_object()) {
        return Err(Error::InvalidChatInput(format!(
            "{what} {i} is not an object"
        )));
    }
    Ok(J::from(Serde(items)))
}

/// Keys whose value is `null` are dropped: many templates handle a missing
/// key but print `None` for a null one.
fn drop_nulls(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A reasoning trace under any of its names is copied to `thinking` (first
/// key) and `reasoning_content` (last key), as transformers does.
fn alias_reasoning(m: Map<String, Value>) -> Map<String, Value> {
    let Some(reasoning) = REASONING_FIELDS
        .iter()
        .find_map(|k| m.get(*k).filter(|v| !v.is_null()).cloned())
    else {
        return m;
    };
    let mut out = Map::with_capacity(m.len() + 2);
    out.insert("thinking".into(), reasoning.clone());
    for (k, v) in m {
        out.insert(k, v);
    }
    out.insert("reasoning_content".into(), reasoning);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reasoning_is_aliased_in_python_key_order() {
        let m = json!({"role": "assistant", "content": "x", "reasoning": "r", "tool_calls": null});
        let out = alias_reasoning(drop_nulls(m.as_object().unwrap()));
        let keys: Vec<&str> = out.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "thinking",
                "role",
                "content",
                "reasoning",
                "reasoning_content"
            ]
        );
    }
}
