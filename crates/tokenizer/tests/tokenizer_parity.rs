//! Token ids and decodes equal to transformers' (fixtures/tokenizer_bpe, made
//! by tools/reference/tokenizer_bpe.py), and streaming detokenization that
//! reassembles transformers' decode without splitting a character or a
//! grapheme cluster.

mod common;

use anyhow::Result;
use omnivox_tokenizer::Tokenizer;
use serde_json::Value;
use unicode_segmentation::UnicodeSegmentation;

const FIXTURE: &str = "tokenizer_bpe";

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("ids")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect()
}

fn load() -> Result<(Tokenizer, Value)> {
    let tok = Tokenizer::from_dir(&common::fixture(FIXTURE))?;
    let cases = common::json(FIXTURE, "cases.json")?;
    Ok((tok, cases))
}

#[test]
fn special_tokens_and_vocab_match_transformers() -> Result<()> {
    let (tok, cases) = load()?;
    let want: std::collections::BTreeMap<String, String> =
        serde_json::from_value(cases["special_tokens_map"].clone())?;
    assert_eq!(tok.config().special_tokens, want);
    assert_eq!(
        tok.vocab_size() as u64,
        cases["vocab_size"].as_u64().unwrap()
    );
    let eos = tok.require_special_token_id("eos_token")?;
    assert_eq!(tok.id_to_token(eos).as_deref(), Some("<|im_end|>"));
    assert!(tok.is_special_id(eos));
    assert!(!tok.is_special_id(tok.token_to_id("<tool_call>").unwrap()));
    // Ids past the vocabulary (an embedding's padding rows) decode to
    // nothing, as the same `tokenizers` decode does under transformers.
    assert_eq!(
        tok.decode(&[u32::MAX, eos, 5_000_000], false)?,
        "<|im_end|>"
    );
    Ok(())
}

#[test]
fn encode_and_decode_match_transformers() -> Result<()> {
    let (tok, cases) = load()?;
    for case in cases["cases"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let want = ids(&case["ids"]);
        assert_eq!(tok.encode(text, false)?, want, "ids of {text:?}");
        assert_eq!(
            tok.encode(text, true)?,
            ids(&case["ids_with_special"]),
            "ids with special tokens of {text:?}"
        );
        assert_eq!(tok.decode(&want, false)?, case["decoded"].as_str().unwrap());
        assert_eq!(
            tok.decode(&want, true)?,
            case["decoded_skip"].as_str().unwrap()
        );
    }
    Ok(())
}

/// Streams `ids` and checks the deltas against the reference decode `want`.
fn check_stream(tok: &Tokenizer, ids: &[u32], skip: bool, want: &str) -> Result<()> {
    let boundaries: Vec<usize> = want
        .grapheme_indices(true)
        .map(|(i, _)| i)
        .chain([want.len()])
        .collect();
    let mut stream = tok.decode_stream(skip);
    let mut got = String::new();
    for &id in ids {
        if let Some(delta) = stream.step(id)? {
            assert!(!delta.is_empty());
            assert!(!delta.contains('\u{FFFD}'), "split character in {want:?}");
            got.push_str(&delta);
            assert!(
                boundaries.contains(&got.len()),
                "delta ends inside a grapheme cluster: {got:?} of {want:?}"
            );
        }
    }
    got.push_str(&stream.finish()?);
    assert_eq!(got, want);
    Ok(())
}

#[test]
fn streaming_deltas_reassemble_the_reference_decode() -> Result<()> {
    let (tok, cases) = load()?;
    let mut multi_token_chars = 0;
    for case in cases["cases"].as_array().unwrap() {
        let ids = ids(&case["ids"]);
        // Count characters the tiny vocabulary splits over several tokens:
        // the test must exercise incomplete UTF-8 and multi-token graphemes.
        for &id in &ids {
            let piece = tok.decode(&[id], false)?;
            multi_token_chars += usize::from(piece.contains('\u{FFFD}'));
        }
        check_stream(&tok, &ids, false, case["decoded"].as_str().unwrap())?;
        check_stream(&tok, &ids, true, case["decoded_skip"].as_str().unwrap())?;
    }
    assert!(
        multi_token_chars > 20,
        "only {multi_token_chars} partial tokens"
    );
    Ok(())
}

#[test]
fn an_unfinished_character_is_flushed_as_the_whole_decode_renders_it() -> Result<()> {
    let (tok, _) = load()?;
    let ids = tok.encode("ok 😀", false)?;
    let cut = &ids[..ids.len() - 1]; // drop the emoji's last byte token
    let mut stream = tok.decode_stream(false);
    let mut got = String::new();
    for &id in cut {
        if let Some(d) = stream.step(id)? {
            got.push_str(&d);
        }
    }
    got.push_str(&stream.finish()?);
    assert_eq!(got, tok.decode(cut, false)?);
    assert!(got.ends_with('\u{FFFD}'));
    Ok(())
}
