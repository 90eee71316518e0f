//! The demo tokenizer: a byte-level BPE like Qwen's, trained here,
//! deterministically, on a small embedded text, with Qwen's special tokens
//! after it. Written as `tokenizer.json` (the format the `tokenizers` crate
//! and transformers read) and `tokenizer_config.json`.

use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Qwen's pre-tokenizer pattern (Qwen2 / Qwen3 `tokenizer.json`).
const SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The added tokens, in id order after the BPE vocabulary, with whether
/// each is special (skipped when decoding), as in Qwen's tokenizer.
pub(crate) const ADDED: &[(&str, bool)] = &[
    ("<|endoftext|>", true),
    ("<|im_start|>", true),
    ("<|im_end|>", true),
    ("<|audio_start|>", true),
    ("<|audio_end|>", true),
    ("<|audio_pad|>", true),
    ("<|image_pad|>", true),
    ("<|video_pad|>", true),
    ("<|vision_start|>", true),
    ("<|vision_end|>", true),
    ("<|vision_pad|>", true),
    ("<tool_call>", false),
    ("</tool_call>", false),
    ("<tool_response>", false),
    ("</tool_response>", false),
    ("<think>", false),
    ("</think>", false),
    ("<tts_pad>", true),
    ("<tts_text_bos>", true),
    ("<tts_text_eod>", true),
    ("<tts_text_bos_single>", true),
];

/// GPT-2's byte-to-unicode table: the character standing for byte `b`.
pub(crate) fn byte_char(b: u8) -> char {
    let direct =
        |u: u32| (33..=126).contains(&u) || (161..=172).contains(&u) || (174..=255).contains(&u);
    let u = u32::from(b);
    if direct(u) {
        return char::from_u32(u).unwrap_or('?');
    }
    let k = (0..u).filter(|&x| !direct(x)).count() as u32;
    char::from_u32(256 + k).unwrap_or('?')
}

/// Roughly Qwen's pre-tokenization: letters with one leading non-letter,
/// single digits, punctuation runs, whitespace.
fn words(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        let c = chars[i];
        if c.is_alphabetic()
            || (!c.is_alphanumeric()
                && c != '\n'
                && chars.get(i + 1).is_some_and(|n| n.is_alphabetic()))
        {
            i += 1;
            while i < chars.len() && chars[i].is_alphabetic() {
                i += 1;
            }
        } else if c.is_numeric() {
            i += 1;
        } else if c.is_whitespace() {
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
        } else {
            while i < chars.len() && !chars[i].is_alphanumeric() && !chars[i].is_whitespace() {
                i += 1;
            }
        }
        out.push(chars[start..i].iter().collect());
    }
    out
}

/// Trains `merges` BPE merges on `corpus`; ties go to the smallest pair, so
/// the result depends on nothing but the input.
fn train(corpus: &str, merges: usize) -> Vec<(String, String)> {
    let mut counts: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    for w in words(corpus) {
        let symbols: Vec<String> = w.bytes().map(|b| byte_char(b).to_string()).collect();
        *counts.entry(symbols).or_insert(0) += 1;
    }
    let mut words: Vec<(Vec<String>, usize)> = counts.into_iter().collect();
    let mut out = Vec::with_capacity(merges);
    while out.len() < merges {
        let mut pairs: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for (w, n) in &words {
            for p in w.windows(2) {
                *pairs.entry((p[0].as_str(), p[1].as_str())).or_insert(0) += n;
            }
        }
        let Some(((a, b), _)) = pairs
            .into_iter()
            .max_by(|x, y| x.1.cmp(&y.1).then(y.0.cmp(&x.0)))
        else {
            break;
        };
        let (a, b) = (a.to_owned(), b.to_owned());
        for (w, _) in &mut words {
            let mut j = 0;
            while j + 1 < w.len() {
                if w[j] == a && w[j + 1] == b {
                    let merged = format!("{a}{b}");
                    w.splice(j..j + 2, [merged]);
                }
                j += 1;
            }
        }
        out.push((a, b));
    }
    out
}

/// `tokenizer.json` and the id of every added token.
pub(crate) fn tokenizer_json(corpus: &str, merges: usize) -> (Value, BTreeMap<&'static str, u32>) {
    let merges = train(corpus, merges);
    let mut vocab: Vec<String> = (0u8..=255).map(|b| byte_char(b).to_string()).collect();
    vocab.sort();
    for (a, b) in &merges {
        let t = format!("{a}{b}");
        if !vocab.contains(&t) {
            vocab.push(t);
        }
    }
    let vocab_map: serde_json::Map<String, Value> = vocab
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), Value::from(i)))
        .collect();
    let mut ids = BTreeMap::new();
    let added: Vec<Value> = ADDED
        .iter()
        .enumerate()
        .map(|(k, &(content, special))| {
            let id = vocab.len() + k;
            ids.insert(content, id as u32);
            json!({
                "id": id, "content": content, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": special,
            })
        })
        .collect();
    let merges: Vec<Value> = merges.into_iter().map(|(a, b)| json!([a, b])).collect();
    let tok = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": SPLIT}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
        ]},
        "post_processor": {"type": "TemplateProcessing",
            "single": [{"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {}},
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "",
            "end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": vocab_map, "merges": merges,
        },
    });
    (tok, ids)
}

/// `tokenizer_config.json`, as Qwen's names its special tokens.
pub(crate) fn tokenizer_config() -> Value {
    json!({
        "add_prefix_space": null,
        "audio_bos_token": "<|audio_start|>",
        "audio_eos_token": "<|audio_end|>",
        "audio_token": "<|audio_pad|>",
        "backend": "tokenizers",
        "bos_token": null,
        "clean_up_tokenization_spaces": false,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "extra_special_tokens": [],
        "image_token": "<|image_pad|>",
        "model_max_length": 32768,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": false,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": null,
        "video_token": "<|video_pad|>",
        "vision_bos_token": "<|vision_start|>",
        "vision_eos_token": "<|vision_end|>",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_is_deterministic_and_merges_common_words() {
        let text = "the cat the hat the bat";
        assert_eq!(train(text, 10), train(text, 10));
        let (tok, ids) = tokenizer_json(text, 10);
        let vocab = tok["model"]["vocab"].as_object().unwrap();
        assert!(
            vocab.contains_key("the") || vocab.contains_key("Ġthe"),
            "{vocab:?}"
        );
        assert_eq!(ids["<|endoftext|>"] as usize, vocab.len());
        assert_eq!(byte_char(b' '), 'Ġ');
        assert_eq!(byte_char(b'a'), 'a');
        assert_eq!(
            words("Hi, you 12!\n"),
            vec!["Hi", ",", " you", " ", "1", "2", "!", "\n"]
        );
    }
}
