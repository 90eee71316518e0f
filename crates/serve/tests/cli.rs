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
        quantization: Default::default(),
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

/// A plain HTTP/1.1 GET on a fresh connection: `(status, body)`.
fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|b| b.1)
        .unwrap_or("")
        .to_owned();
    (status, body)
}

#[test]
fn the_binary_serves_the_demo_model_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let bin = env!("CARGO_BIN_EXE_omnivox");
    let help = Command::new(bin).arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("serve") && text.contains("run"), "{text}");
    let bad = Command::new(bin)
        .args(["serve", "--device", "gpu"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("gpu"));

    let cache = temp_dir("binary-cache");
    let mut child = Command::new(bin)
        .args(["serve", "--port", "0"])
        .current_dir(&cache)
        .env("OMNIVOX_CACHE", &cache)
        .env("RUST_LOG", "info")
        .env_remove("OMNIVOX_API_KEY")
        .env_remove("OMNIVOX_API_KEYS")
        .env_remove("OMNIVOX_REDIS_URL")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let mut log = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let addr = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .unwrap_or_else(|_| panic!("no `listening on` line in time:\n{log}"));
        log.push_str(&line);
        log.push('\n');
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    assert!(log.contains("DEMO model"), "{log}");
    assert!(log.contains("NO API KEYS"), "{log}");
    // The weights load behind /ready.
    let ready = loop {
        let (status, _) = http_get(&addr, "/ready");
        if status == 200 || std::time::Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(ready, 200);
    let (status, models) = http_get(&addr, "/v1/models");
    assert_eq!(status, 200, "{models}");
    assert!(models.contains("demo"), "{models}");
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let exited = child.wait().unwrap();
    assert!(
        exited.success(),
        "SIGTERM must end in a clean exit: {exited}"
    );
}
