//! API keys, `/v1/models`, `/health`, `/ready`, `/metrics` and `/openapi.json`.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use axum::body::Body;
use axum::http::{Request, header};
use common::*;
use omnivox_runtime::api::{EngineMetrics, Readiness};
use omnivox_runtime::testing::ScriptedEngine;
use serde_json::json;

fn with_auth(req: Request<Body>, value: &str) -> Request<Body> {
    let (mut parts, body) = req.into_parts();
    parts
        .headers
        .insert(header::AUTHORIZATION, value.parse().unwrap());
    Request::from_parts(parts, body)
}

#[tokio::test]
async fn keys_are_required_when_configured() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |c| {
        c.server.api_keys = vec!["sk-a".into(), "sk-b".into()]
    });
    let body =
        json!({"model": "gpt-4o-audio-preview", "messages": [{"role": "user", "content": "hi"}]});
    let e = send(&app, post_json("/v1/chat/completions", &body))
        .await
        .error(401);
    assert_eq!(e["code"], "missing_api_key");
    let e = send(
        &app,
        with_auth(post_json("/v1/chat/completions", &body), "Bearer sk-c"),
    )
    .await
    .error(401);
    assert_eq!(e["code"], "invalid_api_key");
    send(
        &app,
        with_auth(post_json("/v1/chat/completions", &body), "Basic sk-a"),
    )
    .await
    .error(401);
    send(
        &app,
        with_auth(post_json("/v1/chat/completions", &body), "Bearer "),
    )
    .await
    .error(401);
    for key in ["Bearer sk-a", "bearer sk-b"] {
        let r = send(
            &app,
            with_auth(post_json("/v1/chat/completions", &body), key),
        )
        .await;
        assert_eq!(r.status, 200, "{key}: {}", r.text());
    }
    send(&app, get("/v1/models")).await.error(401);
    assert_eq!(
        send(&app, with_auth(get("/v1/models"), "Bearer sk-a"))
            .await
            .status,
        200
    );
    // Probes and scrapes need no key.
    for path in ["/health", "/ready", "/metrics", "/openapi.json"] {
        assert_eq!(send(&app, get(path)).await.status, 200, "{path}");
    }
    // No engine work was done for refused requests.
    assert_eq!(engine.requests().len(), 2);
}

#[tokio::test]
async fn open_server_needs_no_key() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    assert_eq!(send(&app, get("/v1/models")).await.status, 200);
    let r = send(&app, with_auth(get("/v1/models"), "Bearer anything")).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn models_lists_snapshot_and_aliases() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |c| c.model.aliases = vec!["my-alias".into()]);
    let v = send(&app, get("/v1/models")).await.json();
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "omnivox-scripted",
            "omnivox-scripted-2026-01-01",
            "my-alias"
        ]
    );
    for m in v["data"].as_array().unwrap() {
        assert_eq!(m["object"], "model");
        assert_eq!(m["created"], 1_767_225_600);
        assert_eq!(m["owned_by"], "omnivox-tests");
        assert_eq!(m["demo"], false);
    }
    let one = send(&app, get("/v1/models/my-alias")).await.json();
    assert_eq!(one["root"], "omnivox-scripted-2026-01-01");
    let e = send(&app, get("/v1/models/gpt-4o-audio-preview"))
        .await
        .error(404);
    assert_eq!(e["code"], "model_not_found");
    // The alias is accepted by the endpoints, and replies name the snapshot.
    let r = chat(
        &app,
        json!({"model": "my-alias", "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(r.json()["model"], "omnivox-scripted-2026-01-01");
}

#[tokio::test]
async fn models_says_when_it_is_the_demo() {
    let mut info = ScriptedEngine::default_info();
    info.is_demo = true;
    let engine = ScriptedEngine::new().with_info(info);
    let app = app_with(&engine, |_| {});
    let v = send(&app, get("/v1/models")).await.json();
    for m in v["data"].as_array().unwrap() {
        assert_eq!(m["demo"], true);
        assert!(m["description"].as_str().unwrap().contains("noise"));
    }
}

#[tokio::test]
async fn ready_follows_the_engine() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    assert_eq!(
        send(&app, get("/ready")).await.json(),
        json!({"status": "ready"})
    );
    engine.set_readiness(Readiness::Loading {
        stage: "weights".into(),
        progress: Some(0.5),
    });
    let r = send(&app, get("/ready")).await;
    let e = r.error(503);
    assert_eq!(e["code"], "model_loading");
    assert!(e["message"].as_str().unwrap().contains("50%"));
    assert!(r.headers.contains_key("retry-after"));
    assert_eq!(
        send(&app, get("/health")).await.status,
        200,
        "alive while loading"
    );
    // Requests while loading are a 503, not a 500.
    let r = chat(
        &app,
        json!({"model": "omnivox-scripted", "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    r.error(503);
    engine.set_readiness(Readiness::Failed {
        reason: "disk on fire".into(),
    });
    let e = send(&app, get("/ready")).await.error(503);
    assert!(
        !e["message"].as_str().unwrap().contains("fire"),
        "internals stay in the log"
    );
}

#[tokio::test]
async fn metrics_have_vllm_names_and_count_tokens() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    engine.set_metrics(EngineMetrics {
        waiting: 3,
        running: 5,
        kv_blocks_used: 25,
        kv_blocks_total: 100,
    });
    let wav = wav_tone(1.0, 16_000);
    let r = chat(
        &app,
        json!({"model": "omnivox-scripted", "modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "pcm16"},
               "messages": [audio_message(&wav, "wav")]}),
    )
    .await;
    assert_eq!(r.status, 200);
    let usage = r.json()["usage"].clone();
    let r = send(&app, get("/metrics")).await;
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(series)
                    .and_then(|rest| rest.trim().parse().ok())
            })
            .unwrap_or_else(|| panic!("no series {series} in\n{text}"))
    };
    let m = "{model_name=\"omnivox-scripted\"}";
    assert_eq!(value(&format!("vllm:num_requests_waiting{m}")), 3.0);
    assert_eq!(value(&format!("vllm:num_requests_running{m}")), 5.0);
    assert_eq!(value(&format!("vllm:kv_cache_usage_perc{m}")), 0.25);
    assert_eq!(
        value(&format!("vllm:time_to_first_token_seconds_count{m}")),
        1.0
    );
    assert_eq!(
        value(&format!("omnivox_time_to_first_audio_seconds_count{m}")),
        1.0
    );
    assert!(value(&format!("vllm:inter_token_latency_seconds_count{m}")) >= 1.0);
    let p = &usage["prompt_tokens_details"];
    let c = &usage["completion_tokens_details"];
    let label =
        |modality: &str| format!("{{model_name=\"omnivox-scripted\",modality=\"{modality}\"}}");
    assert_eq!(
        value(&format!("omnivox_prompt_tokens_total{}", label("audio"))),
        p["audio_tokens"].as_f64().unwrap()
    );
    assert_eq!(
        value(&format!("omnivox_prompt_tokens_total{}", label("text"))),
        p["text_tokens"].as_f64().unwrap()
    );
    assert_eq!(
        value(&format!(
            "omnivox_generation_tokens_total{}",
            label("audio")
        )),
        c["audio_tokens"].as_f64().unwrap()
    );
    assert_eq!(
        value(&format!("vllm:generation_tokens_total{m}")),
        usage["completion_tokens"].as_f64().unwrap()
    );
    assert!(text.contains("# TYPE vllm:num_requests_waiting gauge"));
    assert!(text.contains("# TYPE vllm:time_to_first_token_seconds histogram"));
}

#[tokio::test]
async fn openapi_document_is_served() {
    let engine = ScriptedEngine::new();
    let app = app_with(&engine, |_| {});
    let v = send(&app, get("/openapi.json")).await.json();
    assert!(v["paths"]["/v1/chat/completions"]["post"].is_object());
}
