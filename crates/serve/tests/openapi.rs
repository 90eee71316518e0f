//! The committed OpenAPI document (`crates/serve/openapi.json`) must equal
//! the one generated from the request and response types. When the types
//! change, regenerate it with
//! `OMNIVOX_BLESS=1 cargo test -p omnivox-serve --test openapi` and commit it.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use std::path::PathBuf;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("openapi.json")
}

#[test]
fn committed_openapi_document_is_current() {
    let generated = omnivox_serve::openapi::document();
    let path = committed_path();
    if std::env::var_os("OMNIVOX_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale or missing: regenerate it with `OMNIVOX_BLESS=1 cargo test -p omnivox-serve --test openapi` and commit it",
        path.display()
    );
}

#[test]
fn document_covers_every_endpoint_and_wire_type() {
    let doc: serde_json::Value =
        serde_json::from_str(&omnivox_serve::openapi::document()).expect("valid JSON");
    for path in [
        "/v1/chat/completions",
        "/v1/audio/speech",
        "/v1/audio/transcriptions",
        "/v1/models",
        "/v1/models/{model}",
        "/health",
        "/ready",
        "/metrics",
    ] {
        assert!(doc["paths"][path].is_object(), "missing path {path}");
    }
    let schemas = &doc["components"]["schemas"];
    for name in [
        "ChatCompletionRequest",
        "ChatCompletion",
        "ChatCompletionChunk",
        "DeltaAudio",
        "MessageAudio",
        "CompletionUsage",
        "ErrorResponse",
        "SpeechRequest",
        "TranscriptionVerbose",
        "ModelList",
    ] {
        assert!(schemas[name].is_object(), "missing schema {name}");
    }
    let usage = &schemas["CompletionUsage"]["properties"];
    assert!(usage["prompt_tokens_details"].is_object());
    let error = &schemas["ErrorObject"]["required"];
    for field in ["message", "type", "param", "code"] {
        assert!(
            error.as_array().unwrap().iter().any(|f| f == field),
            "ErrorObject requires {field}"
        );
    }
}
