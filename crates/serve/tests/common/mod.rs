//! Shared helpers for the serve tests: an app around a `ScriptedEngine` (the
//! runtime's test double), requests, SSE parsing, and ffmpeg as the reference
//! decoder for the audio we send back. A test that needs ffmpeg fails (it
//! does not skip) when ffmpeg is missing: CI installs it.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use base64::Engine as _;
use http_body_util::BodyExt;
use omnivox_runtime::testing::ScriptedEngine;
use omnivox_serve::config::ServeConfig;
use omnivox_serve::{AppState, app};
use serde_json::Value;
use tower::ServiceExt;

/// An app serving `engine` under the default configuration changed by `f`.
pub fn app_with(engine: &ScriptedEngine, f: impl FnOnce(&mut ServeConfig)) -> Router {
    app(state_with(engine, f))
}

pub fn state_with(engine: &ScriptedEngine, f: impl FnOnce(&mut ServeConfig)) -> AppState {
    let mut config = ServeConfig::default();
    f(&mut config);
    config.validate().expect("test config is valid");
    AppState::new(Arc::new(engine.clone()), config)
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts the OpenAI error shape with `status`, returning `error`.
    pub fn error(&self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text());
        let v = self.json();
        let e = v
            .get("error")
            .unwrap_or_else(|| panic!("no `error`: {v}"))
            .clone();
        for key in ["message", "type", "param", "code"] {
            assert!(e.get(key).is_some(), "error lacks `{key}`: {e}");
        }
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
        assert!(e["type"].is_string(), "{e}");
        e
    }

    /// `data:` payloads of an SSE body, in order.
    pub fn sse(&self) -> Vec<String> {
        sse_data(&self.text())
    }
}

/// The `data:` payloads of SSE text.
pub fn sse_data(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            (!data.is_empty()).then(|| data.join("\n"))
        })
        .collect()
}

pub async fn send(app: &Router, req: Request<Body>) -> Reply {
    let response = app.clone().oneshot(req).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Reply {
        status,
        headers,
        body,
    }
}

pub fn post_json(path: &str, body: &Value) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

pub fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).expect("request")
}

pub async fn chat(app: &Router, body: Value) -> Reply {
    send(app, post_json("/v1/chat/completions", &body)).await
}

/// A sine tone as WAV bytes (mono 16-bit at `rate`).
pub fn wav_tone(seconds: f64, rate: u32) -> Vec<u8> {
    let n = (seconds * f64::from(rate)).round() as usize;
    let samples: Vec<f32> = (0..n)
        .map(|i| {
            (0.3 * (2.0 * std::f64::consts::PI * 220.0 * i as f64 / f64::from(rate)).sin()) as f32
        })
        .collect();
    omnivox_audio::encode(
        &samples,
        rate,
        omnivox_audio::Format::Wav,
        &Default::default(),
    )
    .expect("encode wav")
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap_or_else(|e| panic!("bad base64 ({e})"))
}

/// A user message holding one `input_audio` part.
pub fn audio_message(bytes: &[u8], format: &str) -> Value {
    serde_json::json!({
        "role": "user",
        "content": [{"type": "input_audio", "input_audio": {"data": b64(bytes), "format": format}}]
    })
}

fn tool(name: &str) -> String {
    let ok = Command::new(name)
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "`{name}` is required by this test: install ffmpeg (apt-get install ffmpeg)"
    );
    name.to_owned()
}

/// Decodes `bytes` (of format `input_args`, e.g. `["-f","s16le","-ar","24000","-ac","1"]`
/// for headerless PCM; empty to let ffmpeg probe) with ffmpeg to mono f32 at
/// 24 kHz: the reference decoder.
pub fn ffmpeg_decode(bytes: &[u8], input_args: &[&str]) -> Vec<f32> {
    let mut child = Command::new(tool("ffmpeg"))
        .args(["-hide_banner", "-loglevel", "error"])
        .args(input_args)
        .args([
            "-i", "pipe:0", "-f", "f32le", "-ac", "1", "-ar", "24000", "pipe:1",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ffmpeg");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("ffmpeg output");
    let _ = writer.join();
    assert!(
        out.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Seconds of 24 kHz samples.
pub fn secs(samples: &[f32]) -> f64 {
    samples.len() as f64 / 24_000.0
}
