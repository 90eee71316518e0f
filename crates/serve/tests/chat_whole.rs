//! `POST /v1/chat/completions` with `stream: false`, against the scripted
//! engine (the runtime's test double): response shape, audio out (decoded by
//! ffmpeg), tool calls, legacy functions, multi-turn audio ids, and that the
//! engine receives what the client asked for.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use common::*;
use omnivox_runtime::api::{ContentPart, OutputMode, Role, Task, ToolChoice};
use omnivox_runtime::testing::ScriptedEngine;
use serde_json::{Value, json};

const MODEL: &str = "gpt-4o-audio-preview";

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

#[tokio::test]
async fn text_reply_has_openai_shape() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    let r = chat(
        &app,
        json!({"model": MODEL, "messages": [user("hello there")]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert!(v["id"].as_str().is_some_and(|s| s.starts_with("chatcmpl-")));
    assert_eq!(v["model"], "omnivox-scripted-2026-01-01");
    let choice = &v["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "You said: hello there.");
    assert!(choice["message"].get("audio").is_none());
    let u = &v["usage"];
    let p = &u["prompt_tokens_details"];
    let c = &u["completion_tokens_details"];
    for key in ["audio_tokens", "text_tokens", "cached_tokens"] {
        assert!(p[key].is_u64(), "prompt_tokens_details.{key}: {u}");
    }
    for key in ["audio_tokens", "text_tokens", "reasoning_tokens"] {
        assert!(c[key].is_u64(), "completion_tokens_details.{key}: {u}");
    }
    assert_eq!(
        u["prompt_tokens"],
        p["audio_tokens"].as_u64().unwrap() + p["text_tokens"].as_u64().unwrap()
    );
    assert_eq!(
        u["total_tokens"],
        u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap()
    );
}

#[tokio::test]
async fn audio_in_is_decoded_and_audio_out_is_in_the_requested_format() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    // 1.5 s at 44.1 kHz: the server must resample to 16 kHz.
    let wav = wav_tone(1.5, 44_100);
    for format in ["wav", "mp3", "flac", "opus"] {
        let r = chat(
            &app,
            json!({
                "model": MODEL,
                "modalities": ["text", "audio"],
                "audio": {"voice": "alloy", "format": format},
                "messages": [audio_message(&wav, "wav")],
            }),
        )
        .await;
        assert_eq!(r.status, 200, "{format}: {}", r.text());
        let v = r.json();
        let msg = &v["choices"][0]["message"];
        assert!(
            msg["content"].is_null(),
            "{format}: content must be null with audio"
        );
        let audio = &msg["audio"];
        let transcript = audio["transcript"].as_str().expect("transcript");
        assert_eq!(transcript, "I heard 1.50 seconds of audio.");
        assert!(
            audio["id"]
                .as_str()
                .is_some_and(|s| s.starts_with("audio_"))
        );
        assert!(audio["expires_at"].as_u64().unwrap() > v["created"].as_u64().unwrap());
        // The scripted engine speaks 60 ms per character.
        let expected = transcript.chars().count() as f64 * 0.060;
        let samples = ffmpeg_decode(&unb64(audio["data"].as_str().unwrap()), &[]);
        let tolerance = if format == "mp3" || format == "opus" {
            0.08
        } else {
            0.002
        };
        assert!(
            (secs(&samples) - expected).abs() <= tolerance,
            "{format}: {} s of audio, expected {expected}",
            secs(&samples)
        );
        let u = &v["usage"];
        assert!(u["prompt_tokens_details"]["audio_tokens"].as_u64().unwrap() > 0);
        assert!(
            u["completion_tokens_details"]["audio_tokens"]
                .as_u64()
                .unwrap()
                > 0
        );
    }
}

#[tokio::test]
async fn pcm16_and_mulaw_whole_replies_are_headerless() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    for (format, args) in [
        ("pcm16", vec!["-f", "s16le", "-ar", "24000", "-ac", "1"]),
        ("mulaw", vec!["-f", "mulaw", "-ar", "8000", "-ac", "1"]),
    ] {
        let r = chat(
            &app,
            json!({"model": MODEL, "modalities": ["text", "audio"],
                   "audio": {"voice": "Ethan", "format": format}, "messages": [user("abcdefghij")]}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let audio = &r.json()["choices"][0]["message"]["audio"];
        let samples = ffmpeg_decode(&unb64(audio["data"].as_str().unwrap()), &args);
        let expected = "You said: abcdefghij.".len() as f64 * 0.060;
        assert!(
            (secs(&samples) - expected).abs() < 0.01,
            "{format}: {}",
            secs(&samples)
        );
    }
}

#[tokio::test]
async fn speed_voice_and_sampling_reach_the_engine() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |c| {
        c.voices.insert("alloy".into(), "Aiden".into());
    });
    let r = chat(
        &app,
        json!({
            "model": MODEL, "modalities": ["text", "audio"],
            "audio": {"voice": "alloy", "format": "wav", "speed": 2.0},
            "temperature": 0.5, "top_p": 0.9, "top_k": 20, "seed": 7, "stop": "zzz",
            "presence_penalty": 0.5, "frequency_penalty": -0.5, "repetition_penalty": 1.1,
            "max_tokens": 100, "messages": [{"role": "developer", "content": "be brief"}, user("hi")],
        }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let req = engine.last_request().expect("a request");
    let OutputMode::Speech(speech) = &req.output else {
        panic!("speech expected")
    };
    assert_eq!(speech.voice, "Aiden");
    assert_eq!(speech.speed, 2.0);
    let s = &req.sampling;
    assert_eq!(
        (s.temperature, s.top_p, s.top_k, s.seed),
        (0.5, 0.9, Some(20), Some(7))
    );
    assert_eq!(
        (
            s.presence_penalty,
            s.frequency_penalty,
            s.repetition_penalty
        ),
        (0.5, -0.5, 1.1)
    );
    assert_eq!(s.stop, vec!["zzz".to_owned()]);
    assert_eq!(s.max_completion_tokens, Some(100));
    let Task::Chat(chat) = &req.task else {
        panic!("chat expected")
    };
    assert_eq!(chat.messages[0].role, Role::System);
    // At speed 2 the audio is half as long.
    let audio = &r.json()["choices"][0]["message"]["audio"];
    let samples = ffmpeg_decode(&unb64(audio["data"].as_str().unwrap()), &[]);
    let expected = "You said: hi.".len() as f64 * 0.060 / 2.0;
    assert!(
        (secs(&samples) - expected).abs() < 0.01,
        "{}",
        secs(&samples)
    );
}

#[tokio::test]
async fn top_level_speed_and_audio_url_are_accepted() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    let wav = wav_tone(0.5, 16_000);
    let url = format!("data:audio/wav;base64,{}", b64(&wav));
    let r = chat(
        &app,
        json!({"model": MODEL, "speed": 0.5, "modalities": ["text", "audio"],
               "audio": {"voice": "alloy", "format": "wav"},
               "messages": [{"role": "user", "content": [
                   {"type": "audio_url", "audio_url": {"url": url}},
                   {"type": "text", "text": "what is this?"}]}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let req = engine.last_request().unwrap();
    let OutputMode::Speech(speech) = &req.output else {
        panic!()
    };
    assert_eq!(speech.speed, 0.5);
    let Task::Chat(chat) = &req.task else {
        panic!()
    };
    let ContentPart::Audio(a) = &chat.messages[0].content[0] else {
        panic!("audio part")
    };
    assert_eq!(a.samples.len(), 8000);
}

#[tokio::test]
async fn a_mislabelled_input_is_sniffed() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    let wav = wav_tone(1.0, 16_000);
    let r = chat(
        &app,
        json!({"model": MODEL, "messages": [audio_message(&wav, "mp3")]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["choices"][0]["message"]["content"],
        "I heard 1.00 seconds of audio."
    );
}

#[tokio::test]
async fn multi_turn_with_audio_id() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    let first = chat(
        &app,
        json!({"model": MODEL, "modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"},
               "messages": [user("remember me")]}),
    )
    .await;
    let audio_id = first.json()["choices"][0]["message"]["audio"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = chat(
        &app,
        json!({"model": MODEL, "messages": [
            user("remember me"),
            {"role": "assistant", "content": null, "audio": {"id": audio_id}},
            {"role": "user", "content": "what did you say?"},
            {"role": "assistant", "audio": {"id": audio_id}},
        ]}),
    )
    .await;
    assert_eq!(second.status, 200, "{}", second.text());
    assert_eq!(
        second.json()["choices"][0]["message"]["content"],
        "Earlier I said: You said: remember me."
    );
    let unknown = chat(
        &app,
        json!({"model": MODEL, "messages": [user("x"), {"role": "assistant", "audio": {"id": "audio_nope"}}, user("y")]}),
    )
    .await;
    let e = unknown.error(400);
    assert_eq!(e["param"], "messages[1].audio.id");
    assert_eq!(e["code"], "audio_not_found");
}

fn weather_tool() -> Value {
    json!({"type": "function", "function": {"name": "get_weather", "description": "Weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                       "required": ["city", "days"]}}})
}

#[tokio::test]
async fn tool_calls() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    let r = chat(
        &app,
        json!({"model": MODEL, "messages": [user("weather in Paris?")], "tools": [weather_tool()],
               "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let choice = &r.json()["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert!(choice["message"]["content"].is_null());
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["id"], "call_scripted_0");
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"city": "test", "days": 1}));
    let req = engine.last_request().unwrap();
    let Task::Chat(c) = &req.task else { panic!() };
    assert_eq!(c.tool_choice, ToolChoice::Function("get_weather".into()));
    assert_eq!(c.tools[0].parameters["required"], json!(["city", "days"]));

    // The tool's answer comes back as a `tool` message.
    let r = chat(
        &app,
        json!({"model": MODEL, "tools": [weather_tool()], "messages": [
            user("weather in Paris?"),
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_scripted_0", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"days\":1}"}}]},
            {"role": "tool", "tool_call_id": "call_scripted_0", "content": "sunny"},
        ]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["choices"][0]["message"]["content"],
        "The tool returned: sunny."
    );
    let Task::Chat(c) = &engine.last_request().unwrap().task else {
        panic!()
    };
    assert_eq!(c.messages[1].tool_calls[0].name, "get_weather");
    assert_eq!(
        c.messages[2].tool_call_id.as_deref(),
        Some("call_scripted_0")
    );
}

#[tokio::test]
async fn parallel_required_tool_calls() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    let second = json!({"type": "function", "function": {"name": "get_time"}});
    let r = chat(
        &app,
        json!({"model": MODEL, "messages": [user("both")], "tools": [weather_tool(), second], "tool_choice": "required"}),
    )
    .await;
    let calls = r.json()["choices"][0]["message"]["tool_calls"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1]["function"]["name"], "get_time");
    assert_eq!(calls[1]["function"]["arguments"], "{}");
}

#[tokio::test]
async fn legacy_functions() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    let r = chat(
        &app,
        json!({"model": MODEL, "messages": [user("weather?")],
               "functions": [weather_tool()["function"].clone()], "function_call": {"name": "get_weather"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let choice = &r.json()["choices"][0];
    assert_eq!(choice["finish_reason"], "function_call");
    assert_eq!(choice["message"]["function_call"]["name"], "get_weather");
    assert!(choice["message"].get("tool_calls").is_none());
    // A legacy function result.
    let r = chat(
        &app,
        json!({"model": MODEL, "functions": [weather_tool()["function"].clone()], "messages": [
            user("weather?"),
            {"role": "assistant", "content": null, "function_call": {"name": "get_weather", "arguments": "{}"}},
            {"role": "function", "name": "get_weather", "content": "rainy"}]}),
    )
    .await;
    assert_eq!(
        r.json()["choices"][0]["message"]["content"],
        "The tool returned: rainy."
    );
}

#[tokio::test]
async fn stop_and_length() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    let r = chat(
        &app,
        json!({"model": MODEL, "messages": [user("one two three")], "stop": ["two"]}),
    )
    .await;
    let choice = &r.json()["choices"][0];
    assert_eq!(choice["message"]["content"], "You said: one ");
    assert_eq!(choice["finish_reason"], "stop");
    let r = chat(
        &app,
        json!({"model": MODEL, "messages": [user("one two three")], "max_completion_tokens": 2}),
    )
    .await;
    let choice = &r.json()["choices"][0];
    assert_eq!(choice["message"]["content"], "You said:");
    assert_eq!(choice["finish_reason"], "length");
}
