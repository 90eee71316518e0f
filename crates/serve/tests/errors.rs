//! Every way a request can be wrong gets OpenAI's error shape, the right
//! status and the parameter at fault — never a 500, never a panic.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use axum::body::Body;
use axum::http::{Request, header};
use common::*;
use omnivox_runtime::testing::ScriptedEngine;
use serde_json::{Value, json};

const MODEL: &str = "gpt-4o-audio-preview";

fn base() -> Value {
    json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
}

fn with(changes: Value) -> Value {
    let mut b = base();
    for (k, v) in changes.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

/// (body, status, param, code-or-null)
fn cases() -> Vec<(Value, u16, Option<&'static str>)> {
    let audio = json!({"voice": "alloy", "format": "wav"});
    vec![
        (with(json!({"n": 2})), 400, Some("n")),
        (with(json!({"n": 0})), 400, Some("n")),
        (with(json!({"model": "gpt-5"})), 404, Some("model")),
        (json!({"messages": []}), 400, Some("model")),
        (json!({"model": MODEL}), 400, Some("messages")),
        (with(json!({"messages": []})), 400, Some("messages")),
        (with(json!({"bogus": true})), 400, Some("bogus")),
        (with(json!({"temperature": 2.5})), 400, Some("temperature")),
        (
            with(json!({"temperature": "hot"})),
            400,
            Some("temperature"),
        ),
        (with(json!({"top_p": 1.5})), 400, Some("top_p")),
        (
            with(json!({"presence_penalty": -3})),
            400,
            Some("presence_penalty"),
        ),
        (
            with(json!({"frequency_penalty": 9})),
            400,
            Some("frequency_penalty"),
        ),
        (with(json!({"top_k": -5})), 400, Some("top_k")),
        (with(json!({"max_tokens": 0})), 400, Some("max_tokens")),
        (
            with(json!({"max_completion_tokens": 10_000_000})),
            400,
            Some("max_completion_tokens"),
        ),
        (
            with(json!({"stop": ["a", "b", "c", "d", "e"]})),
            400,
            Some("stop"),
        ),
        (with(json!({"stop": 5})), 400, Some("stop")),
        (with(json!({"logprobs": true})), 400, Some("logprobs")),
        (with(json!({"top_logprobs": 3})), 400, Some("top_logprobs")),
        (
            with(json!({"logit_bias": {"50256": -100}})),
            400,
            Some("logit_bias"),
        ),
        (
            with(json!({"response_format": {"type": "json_object"}})),
            400,
            Some("response_format.type"),
        ),
        (
            with(json!({"stream_options": {"include_usage": true}})),
            400,
            Some("stream_options"),
        ),
        (
            with(json!({"modalities": ["video"]})),
            400,
            Some("modalities[0]"),
        ),
        (
            with(json!({"modalities": ["text", "audio"]})),
            400,
            Some("audio"),
        ),
        (
            with(json!({"modalities": ["text", "audio"], "audio": {"format": "wav"}})),
            400,
            Some("audio.voice"),
        ),
        (
            with(json!({"modalities": ["text", "audio"], "audio": {"voice": "alloy"}})),
            400,
            Some("audio.format"),
        ),
        (
            with(
                json!({"modalities": ["text", "audio"], "audio": {"voice": "nobody", "format": "wav"}}),
            ),
            400,
            Some("audio.voice"),
        ),
        (
            with(
                json!({"modalities": ["text", "audio"], "audio": {"voice": {"id": "voice_123"}, "format": "wav"}}),
            ),
            400,
            Some("audio.voice"),
        ),
        (
            with(
                json!({"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "ogg_vorbis"}}),
            ),
            400,
            Some("audio.format"),
        ),
        (
            with(
                json!({"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav", "speed": 5}}),
            ),
            400,
            Some("audio.speed"),
        ),
        (
            with(json!({"speed": 0.1, "audio": audio})),
            400,
            Some("speed"),
        ),
        (
            with(json!({"messages": [{"role": "robot", "content": "x"}]})),
            400,
            Some("messages[0].role"),
        ),
        (
            with(json!({"messages": [{"role": "user"}]})),
            400,
            Some("messages[0].content"),
        ),
        (
            with(json!({"messages": [{"role": "user", "content": 7}]})),
            400,
            Some("messages[0].content"),
        ),
        (
            with(json!({"messages": [{"content": "x"}]})),
            400,
            Some("messages[0].role"),
        ),
        (
            with(json!({"messages": ["hello"]})),
            400,
            Some("messages[0]"),
        ),
        (
            with(json!({"messages": [{"role": "user", "content": [{"type": "video"}]}]})),
            400,
            Some("messages[0].content[0].type"),
        ),
        (
            with(json!({"messages": [{"role": "user", "content": [{"type": "text"}]}]})),
            400,
            Some("messages[0].content[0].text"),
        ),
        (
            with(
                json!({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"format": "wav"}}]}]}),
            ),
            400,
            Some("messages[0].content[0].input_audio.data"),
        ),
        (
            with(json!({"messages": [{"role": "tool", "content": "x"}]})),
            400,
            Some("messages[0].tool_call_id"),
        ),
        (
            with(
                json!({"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {"arguments": "{}"}}]}]}),
            ),
            400,
            Some("messages[0].tool_calls[0].function.name"),
        ),
        (
            with(
                json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x"}}]}]}),
            ),
            400,
            Some("messages[0].content[0].type"),
        ),
        (
            with(
                json!({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "!!!", "format": "wav"}}]}]}),
            ),
            400,
            Some("messages[0].content[0].input_audio.data"),
        ),
        (
            with(
                json!({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "xyz"}}]}]}),
            ),
            400,
            Some("messages[0].content[0].input_audio.format"),
        ),
        (
            with(
                json!({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": b64(b"not audio at all, just text"), "format": "wav"}}]}]}),
            ),
            400,
            Some("messages[0].content[0].input_audio.data"),
        ),
        (
            with(
                json!({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}]}]}),
            ),
            400,
            Some("messages[0].content[0].input_audio.data"),
        ),
        (
            with(
                json!({"messages": [{"role": "user", "content": [{"type": "audio_url", "audio_url": {"url": "https://example.com/a.wav"}}]}]}),
            ),
            400,
            Some("messages[0].content[0].audio_url.url"),
        ),
        (
            with(
                json!({"messages": [{"role": "user", "content": [{"type": "audio_url", "audio_url": {"url": "data:audio/wav,abc"}}]}]}),
            ),
            400,
            Some("messages[0].content[0].audio_url.url"),
        ),
        (
            with(
                json!({"messages": [{"role": "system", "content": [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]}),
            ),
            400,
            Some("messages[0].content[0].type"),
        ),
        (
            with(json!({"messages": [{"role": "assistant"}]})),
            400,
            Some("messages[0].content"),
        ),
        (
            with(json!({"messages": [{"role": "assistant", "audio": {"id": ""}}]})),
            400,
            Some("messages[0].audio.id"),
        ),
        (
            with(json!({"tools": [{"type": "retrieval", "function": {"name": "f"}}]})),
            400,
            Some("tools[0].type"),
        ),
        (
            with(json!({"tools": [{"type": "function", "function": {"name": "bad name"}}]})),
            400,
            Some("tools[0].function.name"),
        ),
        (
            with(
                json!({"tools": [{"type": "function", "function": {"name": "f", "parameters": 3}}]}),
            ),
            400,
            Some("tools[0].function.parameters"),
        ),
        (
            with(
                json!({"tools": [{"type": "function", "function": {"name": "f"}}, {"type": "function", "function": {"name": "f"}}]}),
            ),
            400,
            Some("tools[1].function.name"),
        ),
        (
            with(json!({"tool_choice": "required"})),
            400,
            Some("tool_choice"),
        ),
        (
            with(
                json!({"tool_choice": "sometimes", "tools": [{"type": "function", "function": {"name": "f"}}]}),
            ),
            400,
            Some("tool_choice"),
        ),
        (
            with(
                json!({"tool_choice": {"type": "function", "function": {"name": "g"}}, "tools": [{"type": "function", "function": {"name": "f"}}]}),
            ),
            400,
            Some("tool_choice.function.name"),
        ),
        (with(json!({"tool_choice": 5})), 400, Some("tool_choice")),
        (
            with(
                json!({"functions": [{"name": "f"}], "tools": [{"type": "function", "function": {"name": "f"}}]}),
            ),
            400,
            Some("functions"),
        ),
        (
            with(json!({"functions": [{"name": "f"}], "function_call": "required"})),
            400,
            Some("function_call"),
        ),
        (
            with(json!({"messages": [{"role": "user", "content": "[[omnivox-test:context]]"}]})),
            400,
            Some("messages"),
        ),
        (
            with(json!({"messages": [{"role": "user", "content": "[[omnivox-test:invalid]]"}]})),
            400,
            Some("messages"),
        ),
    ]
}

#[tokio::test]
async fn invalid_values_name_the_parameter() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    let mut wrong = Vec::new();
    for (body, status, param) in cases() {
        let r = chat(&app, body.clone()).await;
        if r.status.as_u16() != status {
            wrong.push(format!("{body}: status {} ({})", r.status, r.text()));
            continue;
        }
        let e = r.error(status);
        if e["param"].as_str() != param || e["type"] != "invalid_request_error" {
            wrong.push(format!("{body}: expected param {param:?}, got {e}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn n_other_than_one_is_a_400_naming_n() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    let e = chat(&app, with(json!({"n": 3}))).await.error(400);
    assert_eq!(e["param"], "n");
    assert!(e["message"].as_str().unwrap().contains("'n'"));
    assert_eq!(chat(&app, with(json!({"n": 1}))).await.status, 200);
}

#[tokio::test]
async fn unknown_model_is_404_model_not_found() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    let e = chat(&app, with(json!({"model": "nope"}))).await.error(404);
    assert_eq!(e["code"], "model_not_found");
    assert_eq!(e["type"], "invalid_request_error");
}

#[tokio::test]
async fn unparsable_bodies_keep_the_shape() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    for (body, ct) in [
        ("{", "application/json"),
        ("", "application/json"),
        ("not json", "application/json"),
        ("[1, 2]", "application/json"),
        ("{\"model\": \"x\"} extra", "application/json"),
        ("model=x&messages=y", "application/x-www-form-urlencoded"),
        ("\u{0}\u{1}\u{2}", "application/octet-stream"),
    ] {
        let req = Request::post("/v1/chat/completions")
            .header(header::CONTENT_TYPE, ct)
            .body(Body::from(body))
            .unwrap();
        let r = send(&app, req).await;
        r.error(400);
    }
    let req = Request::post("/v1/chat/completions")
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=x")
        .body(Body::from("--x--"))
        .unwrap();
    send(&app, req).await.error(415);
}

#[tokio::test]
async fn bodies_and_audio_over_the_limits_are_413() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |c| {
        c.limits.max_body_bytes = 64 * 1024;
        c.limits.max_audio_bytes = 16 * 1024;
        c.limits.max_audio_seconds = 2.0;
    });
    let big = "x".repeat(100 * 1024);
    let e = chat(
        &app,
        with(json!({"messages": [{"role": "user", "content": big}]})),
    )
    .await
    .error(413);
    assert!(e["param"].is_null());
    // 0.75 s at 16 kHz = 24 kB of WAV: over the audio byte limit.
    let wav = wav_tone(0.75, 16_000);
    let e = chat(
        &app,
        with(json!({"messages": [audio_message(&wav, "wav")]})),
    )
    .await
    .error(413);
    assert_eq!(e["param"], "messages[0].content[0].input_audio.data");
    // 3 s at 2 kHz is small but over the duration limit.
    let wav = wav_tone(3.0, 2_000);
    let e = chat(
        &app,
        with(json!({"messages": [audio_message(&wav, "wav")]})),
    )
    .await
    .error(413);
    assert_eq!(e["param"], "messages[0].content[0].input_audio.data");
    // Two 1.5 s inputs: each fits, together they exceed the request's budget.
    let wav = wav_tone(1.5, 2_000);
    let e = chat(
        &app,
        with(json!({"messages": [audio_message(&wav, "wav"), audio_message(&wav, "wav")]})),
    )
    .await
    .error(413);
    assert_eq!(e["param"], "messages[1].content[0].input_audio.data");
}

#[tokio::test]
async fn overload_is_503_with_retry_after() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    let r = chat(
        &app,
        with(json!({"messages": [{"role": "user", "content": "[[omnivox-test:overload]]"}]})),
    )
    .await;
    let e = r.error(503);
    assert_eq!(e["code"], "overloaded");
    assert_eq!(r.headers["retry-after"], "2");
    let r = chat(
        &app,
        with(json!({"messages": [{"role": "user", "content": "[[omnivox-test:unavailable]]"}]})),
    )
    .await;
    r.error(503);
    assert!(r.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn concurrency_limit_is_429_with_retry_after() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |c| c.limits.max_concurrent_requests = 1);
    use tower::ServiceExt;
    let slow = post_json(
        "/v1/chat/completions",
        &json!({"model": MODEL, "stream": true, "messages": [{"role": "user", "content": "[[omnivox-test:slow]]"}]}),
    );
    let held = app.clone().oneshot(slow).await.unwrap();
    let r = chat(&app, base()).await;
    let e = r.error(429);
    assert_eq!(e["code"], "rate_limit_exceeded");
    assert!(r.headers.contains_key("retry-after"));
    drop(held);
    assert_eq!(
        chat(&app, base()).await.status,
        200,
        "the slot is free again"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    let e = send(&app, get("/v1/nothing")).await.error(404);
    assert_eq!(e["code"], "unknown_url");
    send(&app, get("/v1/chat/completions")).await.error(405);
    send(
        &app,
        Request::delete("/health").body(Body::empty()).unwrap(),
    )
    .await
    .error(405);
}

#[tokio::test]
async fn speech_and_transcription_errors() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |c| c.limits.max_speech_input_chars = 10);
    let speech = |body: Value| post_json("/v1/audio/speech", &body);
    for (body, status, param) in [
        (json!({"model": "tts-1", "voice": "alloy"}), 400, "input"),
        (json!({"model": "tts-1", "input": "hi"}), 400, "voice"),
        (
            json!({"model": "nope", "input": "hi", "voice": "alloy"}),
            404,
            "model",
        ),
        (
            json!({"model": "tts-1", "input": "far too long here", "voice": "alloy"}),
            400,
            "input",
        ),
        (
            json!({"model": "tts-1", "input": "  ", "voice": "alloy"}),
            400,
            "input",
        ),
        (
            json!({"model": "tts-1", "input": "hi", "voice": "alloy", "response_format": "aac"}),
            400,
            "response_format",
        ),
        (
            json!({"model": "tts-1", "input": "hi", "voice": "alloy", "speed": 9}),
            400,
            "speed",
        ),
        (
            json!({"model": "tts-1", "input": "hi", "voice": "alloy", "stream_format": "ws"}),
            400,
            "stream_format",
        ),
        (
            json!({"model": "tts-1", "input": "hi", "voice": "zed"}),
            400,
            "voice",
        ),
    ] {
        let e = send(&app, speech(body.clone())).await.error(status);
        assert_eq!(e["param"], param, "{body}: {e}");
    }
}

/// Every leaf and container of a rich valid request, replaced in turn by
/// values of every JSON type: the answer is a 2xx or a 4xx in the error
/// shape — never a 500, never a panic.
#[tokio::test]
async fn no_mutation_of_a_valid_request_is_a_500() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    let wav = wav_tone(0.2, 16_000);
    let valid = json!({
        "model": MODEL, "modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav", "speed": 1.0},
        "temperature": 0.7, "top_p": 0.9, "seed": 1, "stop": ["x"], "max_tokens": 50, "n": 1,
        "stream": false, "parallel_tool_calls": true,
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "messages": [
            {"role": "system", "content": "be nice"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "input_audio", "input_audio": {"data": b64(&wav), "format": "wav"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        ],
    });
    let mut streamed = valid.clone();
    streamed["stream"] = json!(true);
    streamed["audio"]["format"] = json!("pcm16");
    let speech = json!({"model": "tts-1", "input": "hello", "voice": "alloy", "response_format": "wav",
                        "speed": 1.5, "stream_format": "sse", "instructions": "calm"});
    let mut tried = 0;
    for (path, body) in [
        ("/v1/chat/completions", valid),
        ("/v1/chat/completions", streamed),
        ("/v1/audio/speech", speech),
    ] {
        tried += mutate_all(&app, path, body).await;
    }
    assert!(tried > 700, "{tried}");
}

async fn mutate_all(app: &axum::Router, endpoint: &str, valid: Value) -> usize {
    let ok = send(app, post_json(endpoint, &valid)).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let mut paths = Vec::new();
    collect_paths(&valid, &mut Vec::new(), &mut paths);
    let replacements = [
        json!(null),
        json!(0),
        json!(-1),
        json!(1e308),
        json!(""),
        json!("x"),
        json!([]),
        json!({}),
        json!(true),
        json!([null]),
        json!({"type": "zzz"}),
        json!("\u{0}\u{feff}\u{10ffff}"),
    ];
    let mut tried = 0;
    for path in &paths {
        for r in &replacements {
            let mut body = valid.clone();
            *pointer_mut(&mut body, path) = r.clone();
            let reply = send(app, post_json(endpoint, &body)).await;
            tried += 1;
            let status = reply.status.as_u16();
            assert!(
                status < 500,
                "{status} for {endpoint} {path:?} = {r}: {}",
                reply.text()
            );
            if status >= 400 {
                reply.error(status);
            } else if reply.headers["content-type"] == "text/event-stream" {
                assert!(
                    !reply.text().contains("server_error"),
                    "{path:?} = {r}: {}",
                    reply.text()
                );
            }
        }
    }
    tried
}

fn collect_paths(v: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if !at.is_empty() {
        out.push(at.clone());
    }
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                at.push(k.clone());
                collect_paths(child, at, out);
                at.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                at.push(i.to_string());
                collect_paths(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn pointer_mut<'a>(v: &'a mut Value, path: &[String]) -> &'a mut Value {
    path.iter().fold(v, |v, k| match v {
        Value::Array(a) => &mut a[k.parse::<usize>().unwrap()],
        other => &mut other[k.as_str()],
    })
}
