//! Chat templates render byte for byte what transformers' `apply_chat_template`
//! renders (fixtures/chat_templates, made by tools/reference/chat_templates.py):
//! Qwen2.5, Qwen3 and Qwen3-Omni templates on conversations with tools, tool
//! calls (arguments as objects and as JSON strings), tool results, reasoning,
//! add_generation_prompt and enable_thinking; small templates exercising the
//! environment; errors where transformers errors; and the template files
//! transformers picks from a checkpoint directory.

mod common;

use anyhow::{Result, bail};
use omnivox_tokenizer::{
    ChatInput, ChatTemplate, ChatTemplates, Error, TemplateOwner, Tokenizer, TokenizerConfig,
};
use serde_json::Value;
use std::collections::BTreeMap;

const FIXTURE: &str = "chat_templates";

fn template(name: &str) -> Result<ChatTemplate> {
    let path = common::fixture(FIXTURE).join("templates").join(name);
    let text = std::fs::read_to_string(&path)?;
    let source = if name.ends_with(".json") {
        let json: Value = serde_json::from_str(&text)?;
        json["chat_template"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    } else {
        text
    };
    Ok(ChatTemplate::new(source)?)
}

/// Checks a rendering (or its failure) against the reference case.
fn check(case: &Value, got: Result<String, Error>) -> Result<()> {
    match (&case["expected"], &case["error"], got) {
        (Value::String(want), _, Ok(got)) if *want == got => Ok(()),
        (Value::String(want), _, Ok(got)) => bail!("rendered\n{got:?}\nwant\n{want:?}"),
        (Value::String(_), _, Err(e)) => bail!("error {e}, want a rendering"),
        (_, err, Ok(got)) => bail!("rendered {got:?}, want error {err}"),
        (_, err, Err(e)) => {
            let (ty, msg) = (err["type"].as_str().unwrap_or(""), err["message"].as_str());
            let ok = match (ty, &e) {
                ("TemplateError", Error::TemplateRaised(m)) => Some(m.as_str()) == msg,
                ("ValueError" | "TypeError", Error::InvalidChatInput(_)) => true,
                ("UndefinedError" | "TypeError", Error::TemplateRender(_)) => true,
                _ => false,
            };
            if ok {
                Ok(())
            } else {
                bail!("error {e:?}, want {ty}: {msg:?}")
            }
        }
    }
}

#[test]
fn templates_render_as_transformers_renders_them() -> Result<()> {
    let cases = common::json(FIXTURE, "cases.json")?;
    let config = TokenizerConfig::from_dir(&common::fixture(FIXTURE))?;
    let want_map: BTreeMap<String, String> =
        serde_json::from_value(cases["special_tokens_map"].clone())?;
    assert_eq!(config.special_tokens, want_map);

    let tokenizer = Tokenizer::from_dir(&common::fixture(FIXTURE))?;
    let tools = cases["tools"].as_array().unwrap().clone();
    let mut compiled = BTreeMap::new();
    let mut failures = Vec::new();
    let all = cases["cases"].as_array().unwrap();
    for case in all {
        let name = case["template"].as_str().unwrap();
        if !compiled.contains_key(name) {
            compiled.insert(name.to_owned(), template(name)?);
        }
        let messages = cases["conversations"][case["conversation"].as_str().unwrap()]
            .as_array()
            .unwrap()
            .clone();
        let input = ChatInput {
            messages: &messages,
            tools: case["tools"].as_bool().unwrap().then_some(tools.as_slice()),
            documents: None,
            add_generation_prompt: case["add_generation_prompt"].as_bool().unwrap(),
            kwargs: case["kwargs"].as_object(),
            sanitize_control_tokens: false,
        };
        let got = compiled[name].render(&input, &config.special_tokens);
        if let Err(e) = check(case, got) {
            failures.push(format!("{}: {e}", case["name"].as_str().unwrap()));
        }
        if let Some(want) = case.get("ids") {
            let want: Vec<u32> = serde_json::from_value(want.clone())?;
            let (_, ids) = tokenizer.apply_chat_template(&compiled[name], &input)?;
            if ids != want {
                failures.push(format!("{}: token ids differ", case["name"]));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n\n")
    );
    Ok(())
}

#[test]
fn template_files_are_found_in_transformers_order() -> Result<()> {
    let expected = common::json(FIXTURE, "precedence.json")?;
    let root = common::fixture(FIXTURE).join("precedence");
    let source = |r: Result<&ChatTemplate, Error>| r.map(|t| t.source().to_owned()).ok();
    for (dir, want) in expected.as_object().unwrap() {
        let tok = ChatTemplates::from_dir(&root.join(dir), TemplateOwner::Tokenizer)?;
        let proc = ChatTemplates::from_dir(&root.join(dir), TemplateOwner::Processor)?;
        let got_tok = tok.as_ref().and_then(|t| source(t.for_tokenizer(false)));
        let got_tools = tok.as_ref().and_then(|t| source(t.for_tokenizer(true)));
        let got_proc = proc.as_ref().and_then(|t| source(t.for_processor()));
        assert_eq!(
            got_tok.as_deref(),
            want["tokenizer"].as_str(),
            "{dir}: tokenizer"
        );
        assert_eq!(
            got_tools.as_deref(),
            want["tokenizer_with_tools"].as_str(),
            "{dir}: tools"
        );
        assert_eq!(
            got_proc.as_deref(),
            want["processor"].as_str(),
            "{dir}: processor"
        );
    }
    Ok(())
}

#[test]
fn syntax_errors_and_reserved_variables_are_typed_errors() -> Result<()> {
    assert!(matches!(
        ChatTemplate::new("{% if %}"),
        Err(Error::TemplateSyntax(_))
    ));
    let t = ChatTemplate::new("{{ messages|length }}")?;
    let messages = vec![serde_json::json!({"role": "user", "content": "x"})];
    let kwargs = serde_json::json!({"messages": 1});
    let input = ChatInput {
        kwargs: kwargs.as_object(),
        ..ChatInput::new(&messages)
    };
    assert!(matches!(
        t.render(&input, &BTreeMap::new()),
        Err(Error::InvalidChatInput(_))
    ));
    // Runaway recursion is an error, not a stack overflow.
    let r = ChatTemplate::new("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")?;
    assert!(
        r.render(&ChatInput::new(&messages), &BTreeMap::new())
            .is_err()
    );
    // strftime_now renders a date (its value is the clock's, not checked).
    let d = ChatTemplate::new("{{ strftime_now('%Y-%m-%d') }}")?;
    assert_eq!(
        d.render(&ChatInput::new(&messages), &BTreeMap::new())?
            .len(),
        10
    );
    Ok(())
}

#[test]
fn sanitized_chats_encode_user_control_tokens_as_text() -> Result<()> {
    let cases = common::json(FIXTURE, "cases.json")?;
    let sanitize = common::json(FIXTURE, "sanitize.json")?;
    let tokenizer = Tokenizer::from_dir(&common::fixture(FIXTURE))?;
    let tools = sanitize["tools"].as_array().unwrap().clone();
    for (name, want) in sanitize["control_tokens"].as_object().unwrap() {
        let mut want: Vec<String> = serde_json::from_value(want.clone())?;
        let mut got = tokenizer.control_tokens(template(name)?.source());
        want.sort();
        got.sort();
        assert_eq!(got, want, "control tokens of {name}");
    }
    for case in sanitize["cases"].as_array().unwrap() {
        let t = template(case["template"].as_str().unwrap())?;
        let messages = cases["conversations"][case["conversation"].as_str().unwrap()]
            .as_array()
            .unwrap()
            .clone();
        let input = ChatInput {
            messages: &messages,
            tools: Some(&tools),
            documents: None,
            add_generation_prompt: true,
            kwargs: case["kwargs"].as_object(),
            sanitize_control_tokens: true,
        };
        let (text, ids) = tokenizer.apply_chat_template(&t, &input)?;
        let want: Vec<u32> = serde_json::from_value(case["ids"].clone())?;
        assert_eq!(ids, want, "{}", case["name"]);
        let plain: String = case["unsanitized_text"]
            .as_str()
            .unwrap()
            .chars()
            .filter(|c| !matches!(c, '\u{F0000}' | '\u{F0001}'))
            .collect();
        assert_eq!(text, plain, "{}", case["name"]);
        // Plain rendering refuses the flag: it cannot be honoured without tokenizing.
        assert!(matches!(
            t.render(&input, &tokenizer.config().special_tokens),
            Err(Error::InvalidChatInput(_))
        ));
    }
    Ok(())
}
