//! `POST /v1/audio/speech` (decoded by ffmpeg) and
//! `POST /v1/audio/transcriptions` (multipart, every response format).

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use axum::body::Body;
use axum::http::{Request, header};
use common::*;
use omnivox_runtime::api::{OutputMode, Task};
use omnivox_runtime::testing::ScriptedEngine;
use serde_json::{Value, json};

fn speech(body: Value) -> Request<Body> {
    post_json("/v1/audio/speech", &body)
}

#[tokio::test]
async fn speech_in_every_format() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    let input = "Hello from omnivox";
    let expected = input.len() as f64 * 0.060;
    for (format, mime, args, tol) in [
        (None, "audio/mpeg", vec![], 0.08),
        (Some("mp3"), "audio/mpeg", vec![], 0.08),
        (Some("wav"), "audio/wav", vec![], 0.002),
        (Some("flac"), "audio/flac", vec![], 0.002),
        (Some("opus"), "audio/ogg", vec![], 0.03),
        (
            Some("pcm"),
            "audio/pcm",
            vec!["-f", "s16le", "-ar", "24000", "-ac", "1"],
            0.002,
        ),
        (
            Some("mulaw"),
            "audio/basic",
            vec!["-f", "mulaw", "-ar", "8000", "-ac", "1"],
            0.002,
        ),
    ] {
        let mut body = json!({"model": "tts-1", "input": input, "voice": "alloy"});
        if let Some(f) = format {
            body["response_format"] = json!(f);
        }
        let r = send(&app, speech(body)).await;
        assert_eq!(r.status, 200, "{format:?}: {}", r.text());
        assert_eq!(r.headers[header::CONTENT_TYPE], mime, "{format:?}");
        let samples = ffmpeg_decode(&r.body, &args);
        assert!(
            (secs(&samples) - expected).abs() <= tol,
            "{format:?}: {} s, expected {expected}",
            secs(&samples)
        );
    }
    let req = engine.last_request().unwrap();
    let Task::Speak(speak) = &req.task else {
        panic!("speak task")
    };
    assert_eq!(speak.text, input);
}

#[tokio::test]
async fn speech_speed_and_voice() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    let r = send(
        &app,
        speech(
            json!({"model": "gpt-4o-mini-tts", "input": "abcdefghij", "voice": "Chelsie",
                      "response_format": "wav", "speed": 4.0, "instructions": "cheerful"}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let samples = ffmpeg_decode(&r.body, &[]);
    assert!(
        (secs(&samples) - 0.6 / 4.0).abs() < 0.002,
        "{}",
        secs(&samples)
    );
    let req = engine.last_request().unwrap();
    let OutputMode::Speech(s) = &req.output else {
        panic!()
    };
    assert_eq!((s.voice.as_str(), s.speed), ("Chelsie", 4.0));
    let Task::Speak(speak) = &req.task else {
        panic!()
    };
    assert_eq!(speak.instructions.as_deref(), Some("cheerful"));
}

#[tokio::test]
async fn speech_sse() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    let r = send(
        &app,
        speech(
            json!({"model": "tts-1", "input": "streamed speech", "voice": "alloy",
                      "response_format": "pcm", "stream_format": "sse"}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let events: Vec<Value> = r
        .sse()
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let (done, deltas) = events.split_last().unwrap();
    assert!(deltas.len() > 1);
    let mut pcm = Vec::new();
    for d in deltas {
        assert_eq!(d["type"], "speech.audio.delta");
        pcm.extend(unb64(d["audio"].as_str().unwrap()));
    }
    assert_eq!(done["type"], "speech.audio.done");
    let u = &done["usage"];
    assert_eq!(
        u["total_tokens"],
        u["input_tokens"].as_u64().unwrap() + u["output_tokens"].as_u64().unwrap()
    );
    let samples = ffmpeg_decode(&pcm, &["-f", "s16le", "-ar", "24000", "-ac", "1"]);
    assert!((secs(&samples) - "streamed speech".len() as f64 * 0.060).abs() < 0.002);
}

/// A multipart body with `fields` and a `file` part.
fn multipart(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> Request<Body> {
    let boundary = "omnivox-test-boundary";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .bytes(),
        );
    }
    if let Some((file_name, bytes)) = file {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                .bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").bytes());
    Request::post("/v1/audio/transcriptions")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn transcription_formats() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    let wav = wav_tone(2.5, 22_050);
    let r = send(
        &app,
        multipart(&[("model", "whisper-1")], Some(("q.wav", &wav))),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["text"], "Transcript of 2.50 seconds of audio.");
    assert_eq!(v["usage"]["type"], "tokens");
    assert!(
        v["usage"]["input_token_details"]["audio_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );

    let r = send(
        &app,
        multipart(
            &[("model", "whisper-1"), ("response_format", "text")],
            Some(("q.wav", &wav)),
        ),
    )
    .await;
    assert_eq!(r.text(), "Transcript of 2.50 seconds of audio.");

    let r = send(
        &app,
        multipart(
            &[
                ("model", "whisper-1"),
                ("response_format", "verbose_json"),
                ("timestamp_granularities[]", "segment"),
                ("language", "en"),
            ],
            Some(("q.wav", &wav)),
        ),
    )
    .await;
    let v = r.json();
    assert_eq!(v["task"], "transcribe");
    assert_eq!(v["language"], "en");
    assert!((v["duration"].as_f64().unwrap() - 2.5).abs() < 1e-3);
    let segs = v["segments"].as_array().unwrap();
    assert_eq!(segs.len(), 3);
    assert_eq!(
        (segs[2]["start"].as_f64(), segs[2]["end"].as_f64()),
        (Some(2.0), Some(2.5))
    );
    let Task::Transcribe(t) = &engine.last_request().unwrap().task else {
        panic!()
    };
    assert_eq!(t.language.as_deref(), Some("en"));

    let srt = send(
        &app,
        multipart(
            &[("model", "whisper-1"), ("response_format", "srt")],
            Some(("q.wav", &wav)),
        ),
    )
    .await
    .text();
    assert!(
        srt.starts_with("1\n00:00:00,000 --> 00:00:01,000\nsegment 0\n\n"),
        "{srt}"
    );
    assert!(
        srt.contains("3\n00:00:02,000 --> 00:00:02,500\nsegment 2\n"),
        "{srt}"
    );
    let vtt = send(
        &app,
        multipart(
            &[("model", "whisper-1"), ("response_format", "vtt")],
            Some(("q.wav", &wav)),
        ),
    )
    .await
    .text();
    assert!(
        vtt.starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nsegment 0\n"),
        "{vtt}"
    );
}

#[tokio::test]
async fn transcription_stream() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    let wav = wav_tone(1.0, 16_000);
    let r = send(
        &app,
        multipart(
            &[("model", "whisper-1"), ("stream", "true")],
            Some(("q.wav", &wav)),
        ),
    )
    .await;
    let events: Vec<Value> = r
        .sse()
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let (done, deltas) = events.split_last().unwrap();
    let text: String = deltas
        .iter()
        .map(|d| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(done["type"], "transcript.text.done");
    assert_eq!(done["text"], text);
    assert_eq!(text, "Transcript of 1.00 seconds of audio.");
}

#[tokio::test]
async fn transcription_errors() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |c| c.limits.max_body_bytes = 64 * 1024);
    let wav = wav_tone(0.5, 16_000);
    let cases: Vec<(Request<Body>, u16, Option<&str>)> = vec![
        (multipart(&[], Some(("q.wav", &wav))), 400, Some("model")),
        (
            multipart(&[("model", "whisper-1")], None),
            400,
            Some("file"),
        ),
        (
            multipart(&[("model", "nope")], Some(("q.wav", &wav))),
            404,
            Some("model"),
        ),
        (
            multipart(
                &[("model", "whisper-1"), ("response_format", "xml")],
                Some(("q.wav", &wav)),
            ),
            400,
            Some("response_format"),
        ),
        (
            multipart(
                &[
                    ("model", "whisper-1"),
                    ("timestamp_granularities[]", "word"),
                ],
                Some(("q.wav", &wav)),
            ),
            400,
            Some("timestamp_granularities[]"),
        ),
        (
            multipart(
                &[("model", "whisper-1"), ("temperature", "hot")],
                Some(("q.wav", &wav)),
            ),
            400,
            Some("temperature"),
        ),
        (
            multipart(
                &[("model", "whisper-1"), ("bogus", "1")],
                Some(("q.wav", &wav)),
            ),
            400,
            Some("bogus"),
        ),
        (
            multipart(
                &[("model", "whisper-1")],
                Some(("q.wav", b"definitely not audio")),
            ),
            400,
            Some("file"),
        ),
        (
            multipart(
                &[("model", "whisper-1")],
                Some(("q.wav", &wav_tone(5.0, 16_000))),
            ),
            413,
            Some("file"),
        ),
        (
            post_json("/v1/audio/transcriptions", &json!({"model": "whisper-1"})),
            415,
            None,
        ),
    ];
    for (req, status, param) in cases {
        let e = send(&app, req).await.error(status);
        assert_eq!(e["param"].as_str(), param, "{e}");
    }
}
