//! `tokenizer_config.json`: the named special tokens transformers hands to the
//! chat template, read the way transformers 5 reads them
//! (`PreTrainedTokenizerBase.__init__` and `_from_pretrained` in
//! `tokenization_utils_base.py`).

use crate::error::{Result, read_json};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The special-token attributes every tokenizer has (`SPECIAL_TOKENS_ATTRIBUTES`).
const NAMED: [&str; 7] = [
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
];

/// What this crate reads from `tokenizer_config.json`.
#[derive(Debug, Clone, Default)]
pub struct TokenizerConfig {
    /// `special_tokens_map`: attribute name (`eos_token`, `audio_token`, …) →
    /// token text. Exactly the variables transformers passes to the chat
    /// template besides the messages.
    pub special_tokens: BTreeMap<String, String>,
    /// The raw `chat_template` entry, if any (a string or a list of
    /// `{"name", "template"}` objects).
    pub chat_template: Option<Value>,
    /// `chat_control_tokens`: added tokens that user input may not write,
    /// besides the special ones (see `Tokenizer::control_tokens`).
    pub chat_control_tokens: Option<Vec<String>>,
}

impl TokenizerConfig {
    /// Reads `tokenizer_config.json` from `dir` (and the legacy
    /// `special_tokens_map.json` when the config has no
    /// `added_tokens_decoder`). A missing config gives the empty default.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let path = dir.join("tokenizer_config.json");
        let mut raw: Map<String, Value> = if path.is_file() {
            read_json(&path)?
        } else {
            Map::new()
        };
        let legacy = dir.join("special_tokens_map.json");
        if !raw.contains_key("added_tokens_decoder") && legacy.is_file() {
            let extra: Map<String, Value> = read_json(&legacy)?;
            for (k, v) in extra {
                raw.insert(k, v);
            }
        }
        Ok(Self::from_json(&raw))
    }

    /// Interprets an already-parsed `tokenizer_config.json`.
    pub fn from_json(raw: &Map<String, Value>) -> Self {
        let mut special_tokens = BTreeMap::new();
        let mut model_specific = BTreeMap::new();
        for (key, value) in raw {
            let Some(text) = token_text(value) else {
                continue;
            };
            if NAMED.contains(&key.as_str()) {
                special_tokens.insert(key.clone(), text);
            } else if key.ends_with("_token") {
                model_specific.insert(key.clone(), text);
            }
        }
        // `extra_special_tokens` (or the v4 `additional_special_tokens`) as a
        // dict names model-specific tokens; as a list it names nothing.
        let extra = raw
            .get("extra_special_tokens")
            .or_else(|| raw.get("additional_special_tokens"));
        for dict in [extra, raw.get("model_specific_special_tokens")]
            .into_iter()
            .flatten()
        {
            if let Value::Object(map) = dict {
                for (k, v) in map {
                    if let Some(text) = token_text(v) {
                        model_specific.insert(k.clone(), text);
                    }
                }
            }
        }
        special_tokens.extend(model_specific);
        let chat_control_tokens = raw
            .get("chat_control_tokens")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            });
        Self {
            special_tokens,
            chat_template: raw.get("chat_template").cloned(),
            chat_control_tokens,
        }
    }

    /// The text of a named special token (`"eos_token"` → `"<|im_end|>"`).
    pub fn token(&self, name: &str) -> Option<&str> {
        self.special_tokens.get(name).map(String::as_str)
    }
}

/// A token given as a string or as a serialized `AddedToken` object.
fn token_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Object(map) => map.get("content")?.as_str().map(str::to_owned),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_model_specific_and_added_token_objects() {
        let raw: Map<String, Value> = serde_json::from_str(
            r#"{"bos_token": null, "eos_token": "<|im_end|>",
                "pad_token": {"__type": "AddedToken", "content": "<|endoftext|>"},
                "audio_token": "<|audio_pad|>", "errors": "replace",
                "split_special_tokens": false,
                "extra_special_tokens": {"tts_pad_token": "<tts_pad>"},
                "chat_template": "{{ messages }}"}"#,
        )
        .unwrap();
        let c = TokenizerConfig::from_json(&raw);
        assert_eq!(c.token("eos_token"), Some("<|im_end|>"));
        assert_eq!(c.token("pad_token"), Some("<|endoftext|>"));
        assert_eq!(c.token("audio_token"), Some("<|audio_pad|>"));
        assert_eq!(c.token("tts_pad_token"), Some("<tts_pad>"));
        assert_eq!(c.token("bos_token"), None);
        assert!(!c.special_tokens.contains_key("errors"));
        assert!(c.chat_template.is_some());
    }
}
