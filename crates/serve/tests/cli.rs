//! `omnivox serve` / `omnivox run`: configuration precedence, start-up
//! warnings, one terminal turn (its audio decoded by ffmpeg), and the binary
//! itself.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::net::SocketAddr;
use std::process::Command;

use common::*;
use omnivox_runtime::testing::ScriptedEngine;
use omnivox_serve::cli::run::{RunArgs, run_turn};
use omnivox_serve::cli::{ServeArgs, resolve_config, startup_notes};

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("omnivox-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn flags_beat_environment_beat_file() {
    let dir = temp_dir("config");
    let file = dir.join("omnivox.toml");
    std::fs::write(
        &file,
        "[server]\nport = 9001\nhost = \"0.0.0.0\"\napi_keys = [\"from-file\"]\n[model]\nmodel = \"some/repo\"\n",
    )
    .unwrap();
    let args = ServeArgs {
        config: Some(file.clone()),
        port: Some(9002),
        api_keys: vec!["from-flag".into()],
        ..ServeArgs::default()
    };
    let cfg = resolve_config(&args, |k| {
        (k == "OMNIVOX_API_KEY").then(|| "from-env".into())
    })
    .unwrap();
    assert_eq!(cfg.server.port, 9002);
    assert_eq!(cfg.server.host, "0.0.0.0");
    assert_eq!(cfg.model.model, "some/repo");
    assert_eq!(cfg.server.api_keys, ["from-file", "from-env", "from-flag"]);
    // Defaults: localhost, the demo model.
    let cfg = resolve_config(&ServeArgs::default(), |_| None).unwrap();
    assert_eq!(
        (cfg.server.host.as_str(), cfg.model.model.as_str()),
        ("127.0.0.1", "demo")
    );
    let bad = ServeArgs {
        device: Some("tpu".into()),
        ..ServeArgs::default()
    };
    assert!(
        resolve_config(&bad, |_| None)
            .unwrap_err()
            .to_string()
            .contains("tpu")
    );
}

#[test]
fn startup_warns_when_open_public_or_demo() {
    let mut info = ScriptedEngine::default_info();
    info.is_demo = true;
    let engine = ScriptedEngine::new().with_info(info);
    let open = state_with(&engine, |_| {});
    let public: SocketAddr = "0.0.0.0:8000".parse().unwrap();
    let notes = startup_notes(&open, public).join("\n");
    assert!(notes.contains("NO API KEYS CONFIGURED"), "{notes}");
    assert!(notes.contains("OPEN"), "{notes}");
    assert!(notes.contains("reachable from other machines"), "{notes}");
    assert!(notes.contains("DEMO"), "{notes}");
    let closed = state_with(&ScriptedEngine::new(), |c| {
        c.server.api_keys = vec!["k".into()]
    });
    let local: SocketAddr = "127.0.0.1:8000".parse().unwrap();
    assert!(startup_notes(&closed, local).is_empty());
}

#[tokio::test]
async fn run_prints_the_transcript_and_writes_the_answer() {
    let dir = temp_dir("run");
    let input = dir.join("question.wav");
    std::fs::write(&input, wav_tone(2.0, 48_000)).unwrap();
    let out = dir.join("answer.wav");
    let args = RunArgs {
        model: "demo".into(),
        input,
        text: None,
        voice: "alloy".into(),
        speed: 1.0,
        out: out.clone(),
        device: "cpu".into(),
    };
    let engine = ScriptedEngine::new();
    let mut printed = Vec::new();
    let summary = run_turn(&engine, &args, &mut printed).await.unwrap();
    assert_eq!(
        String::from_utf8(printed).unwrap(),
        "I heard 2.00 seconds of audio."
    );
    let samples = ffmpeg_decode(&std::fs::read(&out).unwrap(), &[]);
    let expected = summary.transcript.len() as f64 * 0.060;
    assert!(
        (secs(&samples) - expected).abs() < 0.002,
        "{} vs {expected}",
        secs(&samples)
    );
    let mut bad = args.clone();
    bad.out = dir.join("answer.aac");
    assert!(run_turn(&engine, &bad, &mut Vec::new()).await.is_err());
}

#[test]
fn the_binary_says_the_engine_is_not_built_yet() {
    let bin = env!("CARGO_BIN_EXE_omnivox");
    let help = Command::new(bin).arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("serve") && text.contains("run"), "{text}");
    let serve = Command::new(bin)
        .args(["serve", "--port", "0"])
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert!(
        !serve.status.success(),
        "no engine yet: must fail, not pretend"
    );
    let err = String::from_utf8_lossy(&serve.stderr);
    assert!(err.contains("not part of this build yet"), "{err}");
    let bad = Command::new(bin)
        .args(["serve", "--device", "gpu"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("gpu"));
}
