//! `POST /v1/chat/completions` with `stream: true`: chunk order as OpenAI's
//! servers send it, pcm16 exactly as OpenAI streams it, the extension formats
//! with `start_ms`/`duration_ms` (concatenated data decoded by ffmpeg must
//! last what the timestamps say), tool-call deltas, usage, mid-stream errors
//! and cancellation when the client goes away.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::time::Duration;

use common::*;
use http_body_util::BodyExt;
use omnivox_runtime::testing::ScriptedEngine;
use serde_json::{Value, json};

const MODEL: &str = "gpt-4o-audio-preview";

fn chunks(r: &Reply) -> (Vec<Value>, Vec<String>) {
    assert_eq!(r.status, 200, "{}", r.text());
    let ct = r.headers["content-type"].to_str().unwrap();
    assert!(ct.starts_with("text/event-stream"), "{ct}");
    let data = r.sse();
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{data:?}");
    let parsed = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}")))
        .collect();
    (parsed, data)
}

fn speech_request(format: &str, text: &str) -> Value {
    json!({"model": MODEL, "stream": true, "modalities": ["text", "audio"],
           "audio": {"voice": "alloy", "format": format},
           "messages": [{"role": "user", "content": text}]})
}

#[tokio::test]
async fn text_stream_order() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    let r = chat(
        &app,
        json!({"model": MODEL, "stream": true, "messages": [{"role": "user", "content": "a b"}]}),
    )
    .await;
    let (chunks, _) = chunks(&r);
    let first = &chunks[0];
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(
        first["choices"][0]["delta"],
        json!({"role": "assistant", "content": "", "refusal": null})
    );
    assert!(
        first.get("usage").is_none(),
        "no usage field without include_usage"
    );
    let ids: Vec<&Value> = chunks.iter().map(|c| &c["id"]).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one id for all chunks");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "You said: a b.");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["choices"][0]["delta"], json!({}));
    assert!(
        chunks[..chunks.len() - 1]
            .iter()
            .all(|c| c["choices"][0]["finish_reason"].is_null())
    );
}

#[tokio::test]
async fn include_usage_adds_a_last_chunk() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    let r = chat(
        &app,
        json!({"model": MODEL, "stream": true, "stream_options": {"include_usage": true},
               "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    let (chunks, _) = chunks(&r);
    let (last, rest) = chunks.split_last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert!(last["usage"]["total_tokens"].as_u64().unwrap() > 0);
    assert!(last["usage"]["completion_tokens_details"]["text_tokens"].is_u64());
    for c in rest {
        assert!(
            c["usage"].is_null() && c.get("usage").is_some(),
            "usage: null on {c}"
        );
    }
}

/// The audio-specific order of OpenAI's servers (docs/api.md, "Streaming").
fn check_audio_order(chunks: &[Value], timestamps: bool) -> (String, Vec<u8>, u64) {
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "refusal": null})
    );
    let deltas: Vec<&Value> = chunks.iter().map(|c| &c["choices"][0]["delta"]).collect();
    let first_audio = deltas
        .iter()
        .position(|d| d.get("audio").is_some())
        .expect("audio deltas");
    assert!(
        deltas[first_audio]["content"].is_null() && deltas[first_audio].get("content").is_some()
    );
    let first_transcript = deltas
        .iter()
        .position(|d| d["audio"].get("transcript").is_some())
        .unwrap();
    let first_data = deltas
        .iter()
        .position(|d| d["audio"].get("data").is_some())
        .unwrap();
    assert!(first_transcript < first_data, "transcript leads the audio");
    let id = deltas[first_transcript]["audio"]["id"]
        .as_str()
        .expect("id on the first transcript chunk");
    assert_eq!(
        deltas[first_data]["audio"]["id"], id,
        "id on the first data chunk"
    );
    let (mut transcript, mut data, mut covered) = (String::new(), Vec::new(), 0);
    let mut next_start = 0;
    for (i, d) in deltas.iter().enumerate() {
        if let Some(t) = d["audio"]["transcript"].as_str() {
            transcript.push_str(t);
        }
        if let Some(b) = d["audio"]["data"].as_str() {
            data.extend(unb64(b));
            if i != first_data {
                assert!(d["audio"].get("id").is_none());
            }
            if timestamps {
                let start = d["audio"]["start_ms"].as_u64().expect("start_ms");
                assert_eq!(start, next_start, "contiguous timestamps");
                let dur = d["audio"]["duration_ms"].as_u64().expect("duration_ms");
                next_start = start + dur;
                covered += dur;
            } else {
                assert!(
                    d["audio"].get("start_ms").is_none() && d["audio"].get("duration_ms").is_none()
                );
            }
        }
    }
    // Then the finish chunk, then `{audio: {expires_at}}`.
    let n = chunks.len();
    assert_eq!(chunks[n - 2]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[n - 2]["choices"][0]["delta"], json!({}));
    let expires = &chunks[n - 1]["choices"][0]["delta"]["audio"];
    assert!(expires["expires_at"].as_u64().unwrap() > chunks[0]["created"].as_u64().unwrap());
    assert_eq!(expires.as_object().unwrap().len(), 1);
    (transcript, data, covered)
}

#[tokio::test]
async fn pcm16_streams_as_openai_streams_it() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    let r = chat(&app, speech_request("pcm16", "hello world")).await;
    let (chunks, _) = chunks(&r);
    let (transcript, data, _) = check_audio_order(&chunks, false);
    assert_eq!(transcript, "You said: hello world.");
    // Raw 16-bit little-endian mono at 24 kHz, no header.
    assert_eq!(data.len() % 2, 0);
    let samples = ffmpeg_decode(&data, &["-f", "s16le", "-ar", "24000", "-ac", "1"]);
    assert!((secs(&samples) - transcript.len() as f64 * 0.060).abs() < 0.002);
}

#[tokio::test]
async fn extension_formats_carry_timestamps_that_ffmpeg_agrees_with() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    for (format, args, tolerance_ms) in [
        ("wav", vec![], 2.0),
        ("opus", vec![], 30.0),
        ("mulaw", vec!["-f", "mulaw", "-ar", "8000", "-ac", "1"], 2.0),
        ("mp3", vec![], 60.0),
        ("flac", vec![], 2.0),
    ] {
        let r = chat(&app, speech_request(format, "streaming in many formats")).await;
        let (chunks, _) = chunks(&r);
        let (transcript, data, covered_ms) = check_audio_order(&chunks, true);
        let samples = ffmpeg_decode(&data, &args);
        let decoded_ms = secs(&samples) * 1000.0;
        assert!(
            (decoded_ms - covered_ms as f64).abs() <= tolerance_ms,
            "{format}: ffmpeg decodes {decoded_ms} ms, the deltas say {covered_ms} ms"
        );
        let spoken_ms = transcript.len() as f64 * 60.0;
        assert!(
            (decoded_ms - spoken_ms).abs() <= tolerance_ms + 1.0,
            "{format}: {decoded_ms} vs {spoken_ms}"
        );
    }
}

#[tokio::test]
async fn aac_is_refused_with_the_param_named() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    for stream in [true, false] {
        let mut body = speech_request("aac", "x");
        body["stream"] = json!(stream);
        let e = chat(&app, body).await.error(400);
        assert_eq!(e["param"], "audio.format");
        assert!(e["message"].as_str().unwrap().contains("pcm16"), "{e}");
    }
}

#[tokio::test]
async fn tool_call_deltas() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    let r = chat(
        &app,
        json!({"model": MODEL, "stream": true, "messages": [{"role": "user", "content": "w"}],
               "tools": [{"type": "function", "function": {"name": "f",
                   "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}],
               "tool_choice": "required"}),
    )
    .await;
    let (chunks, _) = chunks(&r);
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    assert_eq!(calls[0]["index"], 0);
    assert_eq!(calls[0]["id"], "call_scripted_0");
    assert_eq!(calls[0]["type"], "function");
    assert_eq!(calls[0]["function"]["name"], "f");
    for later in &calls[1..] {
        assert!(later.get("id").is_none() && later["function"].get("name").is_none());
    }
    let args: String = calls
        .iter()
        .map(|c| c["function"]["arguments"].as_str().unwrap())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"q": "test"})
    );
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[tokio::test]
async fn a_mid_stream_error_is_an_error_event_then_done() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    let mut body = speech_request("pcm16", "[[omnivox-test:error-mid-stream]]");
    for include_usage in [false, true] {
        body["stream_options"] = json!({"include_usage": include_usage});
        let r = chat(&app, body.clone()).await;
        let (_, data) = chunks(&r);
        let n = data.len();
        let err: Value = serde_json::from_str(&data[n - 2]).unwrap();
        let e = &err["error"];
        assert_eq!(e["type"], "server_error");
        assert!(e.get("param").is_some() && e.get("code").is_some());
        assert!(
            !e["message"].as_str().unwrap().contains("scripted failure"),
            "internals stay in the log"
        );
        // Some text and audio came before the failure.
        assert!(data[..n - 2].iter().any(|d| d.contains("\"transcript\"")));
    }
}

#[tokio::test]
async fn dropping_the_response_cancels_generation() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    let req = post_json(
        "/v1/chat/completions",
        &json!({"model": MODEL, "stream": true, "messages": [{"role": "user", "content": "[[omnivox-test:slow]]"}]}),
    );
    use tower::ServiceExt;
    let response = app.clone().oneshot(req).await.unwrap();
    let mut body = response.into_body();
    // Read the first event, then hang up.
    let first = body.frame().await.expect("a frame").expect("ok");
    assert!(first.is_data());
    assert_eq!(engine.live_streams(), 1);
    drop(body);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        engine.live_streams(),
        0,
        "the engine's event stream was dropped"
    );
}
