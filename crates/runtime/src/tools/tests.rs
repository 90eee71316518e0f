//! Constrained decoding on a real byte-level vocabulary (the tiny
//! Qwen3-Omni fixture's tokenizer) with random logits: every call parses,
//! names the right tool and satisfies its schema according to an
//! independent validator (the `jsonschema` crate), for many seeds and
//! tight token budgets.

#![allow(clippy::unwrap_used)]

use super::parser::{CallParser, Piece};
use super::*;
use crate::sampling::{Sampler, SamplingConfig};
use omnivox_model::testing::fixture_dir;
use omnivox_tokenizer::Tokenizer;
use serde_json::{Value, json};

fn tokenizer() -> Tokenizer {
    Tokenizer::from_dir(&fixture_dir("qwen3_omni_thinker")).unwrap()
}

fn tool(name: &str, parameters: Value) -> ToolSpec {
    ToolSpec {
        name: name.into(),
        description: None,
        parameters,
        strict: false,
    }
}

fn weather() -> ToolSpec {
    tool(
        "get_weather",
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    )
}

fn booking() -> ToolSpec {
    tool(
        "book",
        json!({
            "type": "object",
            "properties": {
                "guests": {"type": "integer", "minimum": 1, "maximum": 12},
                "nights": {"type": "integer", "exclusiveMinimum": -3, "maximum": 400},
                "room": {"enum": ["single", "double", "suite", 7, null]},
                "name": {"type": "string", "minLength": 2, "maxLength": 5},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
                "price": {"type": ["number", "null"]},
                "extras": {
                    "type": "object",
                    "properties": {"breakfast": {"type": "boolean"}, "note": {"$ref": "#/$defs/note"}},
                    "required": ["breakfast"],
                },
                "when": {"anyOf": [{"type": "string", "format": "date"}, {"type": "integer", "minimum": 2000}]},
                "meta": {"type": "object"},
            },
            "required": ["guests", "room", "tags", "extras"],
            "$defs": {"note": {"type": "string", "maxLength": 8}},
        }),
    )
}

/// Deterministic pseudo-random logits.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Generates under the constraint with random logits until the call
/// closes; returns the generated ids.
fn generate(
    vocab: &ToolVocab,
    setup: &ToolSetup,
    seed: u64,
    budget: usize,
    vocab_size: usize,
) -> Vec<u32> {
    let mut c = Constraint::new(setup.clone());
    let mut sampler = Sampler::new(
        SamplingConfig {
            seed,
            ..Default::default()
        },
        &[],
    );
    let mut noise = Noise(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut out = Vec::new();
    while out.len() < budget {
        let mut logits: Vec<f32> = (0..vocab_size).map(|_| noise.next() * 8.0).collect();
        c.mask(vocab, &mut logits, budget - out.len()).unwrap();
        let t = sampler.sample(&mut logits).unwrap();
        out.push(t);
        if c.accept(vocab, t, budget - out.len()) == Accepted::CallClosed {
            return out;
        }
    }
    panic!("seed {seed}: the call did not close within {budget} tokens");
}

/// Decodes, checks the envelope, and returns (name, arguments).
fn parse_call(tok: &Tokenizer, ids: &[u32]) -> (String, Value, String) {
    let text = tok.decode(ids, false).unwrap();
    let body = text
        .strip_prefix("<tool_call>\n")
        .and_then(|t| t.strip_suffix("\n</tool_call>"))
        .unwrap_or_else(|| panic!("not a call: {text:?}"));
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let name = v["name"].as_str().unwrap().to_owned();
    (name, v["arguments"].clone(), text)
}

fn check_many(tools: &[ToolSpec], choice: ToolChoice, seeds: u64, extra_budget: usize) {
    let tok = tokenizer();
    let vocab = ToolVocab::new(&tok);
    let setup = ToolSetup::new(tools, choice.clone(), false, &vocab).unwrap();
    let budget = setup.min_tokens() + extra_budget;
    for seed in 0..seeds {
        let ids = generate(&vocab, &setup, seed, budget, tok.vocab_size());
        let (name, args, text) = parse_call(&tok, &ids);
        let spec = tools
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("unknown tool {name}"));
        if let ToolChoice::Function(f) = &choice {
            assert_eq!(&name, f);
        }
        let validator = jsonschema::validator_for(&spec.parameters).unwrap();
        if let Err(e) = validator.validate(&args) {
            panic!("seed {seed}: {args} breaks the schema of {name}: {e}");
        }
        // The streaming parser reads the same call back.
        let mut p = CallParser::new();
        p.expect_call(true);
        let mut pieces = Vec::new();
        let chars: Vec<char> = text.chars().collect();
        for chunk in chars.chunks(5) {
            pieces.extend(p.push(&chunk.iter().collect::<String>()));
        }
        pieces.extend(p.finish());
        let streamed: String = pieces
            .iter()
            .filter_map(|p| {
                if let Piece::CallArgs { text, .. } = p {
                    Some(text.as_str())
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(
            serde_json::from_str::<Value>(&streamed).unwrap(),
            args,
            "seed {seed}"
        );
        assert!(pieces.contains(&Piece::CallStart {
            index: 0,
            name: name.clone()
        }));
    }
}

#[test]
fn forced_calls_always_parse_and_satisfy_the_schema() {
    check_many(&[weather(), booking()], ToolChoice::Required, 40, 400);
}

#[test]
fn a_named_function_is_the_one_called() {
    check_many(
        &[weather(), booking()],
        ToolChoice::Function("book".into()),
        30,
        200,
    );
}

#[test]
fn tight_budgets_still_close_the_call() {
    // No slack at all: the mask must steer straight to the shortest call.
    check_many(&[booking()], ToolChoice::Required, 20, 0);
    check_many(&[weather()], ToolChoice::Required, 20, 2);
}

#[test]
fn schemas_that_cannot_be_guaranteed_are_refused_by_name() {
    let vocab = ToolVocab::new(&tokenizer());
    let bad = tool(
        "f",
        json!({"type": "object", "properties": {"s": {"type": "string", "pattern": "^a$"}}}),
    );
    let err = ToolSetup::new(
        &[weather(), bad.clone()],
        ToolChoice::Required,
        false,
        &vocab,
    )
    .unwrap_err();
    assert!(
        matches!(&err, EngineError::InvalidRequest { param, message } if param == "tools[1].function.parameters" && message.contains("pattern")),
        "{err}"
    );
    // With `auto` the same tool is accepted (its arguments are only kept an object).
    assert!(ToolSetup::new(&[weather(), bad], ToolChoice::Auto, false, &vocab).is_ok());
    let err = ToolSetup::new(
        &[weather()],
        ToolChoice::Function("nope".into()),
        false,
        &vocab,
    )
    .unwrap_err();
    assert!(matches!(&err, EngineError::InvalidRequest { param, .. } if param == "tool_choice"));
}

#[test]
fn auto_holds_a_call_once_the_model_opens_it() {
    let tok = tokenizer();
    let vocab = ToolVocab::new(&tok);
    let call = vocab
        .call_token()
        .expect("the fixture has <tool_call> as one token");
    let setup = ToolSetup::new(&[weather()], ToolChoice::Auto, true, &vocab).unwrap();
    let mut c = Constraint::new(setup);
    assert!(!c.is_active());
    let hello = tok.encode("Hello ", false).unwrap();
    for &t in &hello {
        assert_eq!(c.accept(&vocab, t, 100), Accepted::Token);
    }
    assert_eq!(
        c.accept(&vocab, call, 100),
        Accepted::CallOpened { constrained: true }
    );
    assert!(c.is_active());
    let mut sampler = Sampler::new(
        SamplingConfig {
            seed: 5,
            ..Default::default()
        },
        &[],
    );
    let mut noise = Noise(77);
    let mut ids = vec![call];
    loop {
        let mut logits: Vec<f32> = (0..tok.vocab_size()).map(|_| noise.next()).collect();
        c.mask(&vocab, &mut logits, 100 - ids.len()).unwrap();
        let t = sampler.sample(&mut logits).unwrap();
        ids.push(t);
        if c.accept(&vocab, t, 100 - ids.len()) == Accepted::CallClosed {
            break;
        }
        assert!(ids.len() < 100);
    }
    let (name, args, _) = parse_call(&tok, &ids);
    assert_eq!(name, "get_weather");
    assert!(args["city"].is_string());
    assert!(!c.is_active(), "free text again after the call");
    // Too little room left: the call is not held (and the parser checks it).
    assert_eq!(
        c.accept(&vocab, call, 3),
        Accepted::CallOpened { constrained: false }
    );
}
