//! The server on a real socket: HTTP/1.1 over TCP, a streamed reply read as
//! it arrives, and the shutdown sequence (`/ready` 503, new work refused,
//! in-flight streams finish within the grace period, then `serve` returns).

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use omnivox_runtime::testing::ScriptedEngine;
use omnivox_serve::lifecycle;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn start(grace_secs: u64) -> Server {
    let engine = ScriptedEngine::new();
    let state = state_with(&engine, |c| c.server.shutdown_grace_secs = grace_secs);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(lifecycle::serve(listener, state, async move {
        let _ = rx.await;
    }));
    Server {
        addr,
        stop: Some(tx),
        task,
    }
}

/// Sends one request (`Connection: close`) and returns the stream to read.
async fn open(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body.as_bytes()).await.unwrap();
    s
}

async fn read_all(mut s: TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out))
        .await
        .expect("response within 20 s")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> String {
    read_all(open(addr, method, path, body).await).await
}

fn status(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn serves_over_tcp() {
    let mut server = start(5).await;
    let r = request(server.addr, "GET", "/health", None).await;
    assert_eq!(status(&r), 200, "{r}");
    let body = json!({"model": "omnivox-scripted", "stream": true, "messages": [{"role": "user", "content": "over tcp"}]});
    let r = request(server.addr, "POST", "/v1/chat/completions", Some(&body)).await;
    assert_eq!(status(&r), 200, "{r}");
    assert!(
        r.to_ascii_lowercase()
            .contains("content-type: text/event-stream"),
        "{r}"
    );
    assert!(r.contains("\" over\"") && r.contains("\" tcp.\""), "{r}");
    assert!(r.contains("data: [DONE]"), "{r}");
    let r = request(server.addr, "POST", "/v1/chat/completions", None).await;
    assert_eq!(status(&r), 400, "{r}");
    assert!(r.contains("\"invalid_request_error\""), "{r}");
    // Whole responses keep their length (only streams are chunked).
    let r = request(server.addr, "GET", "/v1/models", None).await;
    assert!(r.to_ascii_lowercase().contains("content-length:"), "{r}");
    server.stop.take().unwrap().send(()).unwrap();
    server.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_drains_in_flight_streams() {
    let mut server = start(10).await;
    let slow = json!({"model": "omnivox-scripted", "stream": true,
                      "messages": [{"role": "user", "content": "[[omnivox-test:slow]]"}]});
    let mut in_flight = open(server.addr, "POST", "/v1/chat/completions", Some(&slow)).await;
    let mut first = vec![0u8; 256];
    let n = in_flight.read(&mut first).await.unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    let began = Instant::now();
    server.stop.take().unwrap().send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let r = request(server.addr, "GET", "/ready", None).await;
    assert_eq!(status(&r), 503, "{r}");
    assert!(r.contains("shutting_down"), "{r}");
    let body =
        json!({"model": "omnivox-scripted", "messages": [{"role": "user", "content": "late"}]});
    let r = request(server.addr, "POST", "/v1/chat/completions", Some(&body)).await;
    assert_eq!(status(&r), 503, "{r}");
    assert!(r.to_ascii_lowercase().contains("retry-after:"), "{r}");

    let rest = read_all(in_flight).await;
    assert!(
        rest.contains("data: [DONE]"),
        "the in-flight stream finished: {rest}"
    );
    assert!(!rest.contains("\"error\""), "{rest}");
    tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .expect("serve returns once drained")
        .unwrap()
        .unwrap();
    assert!(began.elapsed() < Duration::from_secs(9));
}

#[tokio::test]
async fn shutdown_gives_up_after_the_grace_period() {
    let mut server = start(1).await;
    let slow = json!({"model": "omnivox-scripted", "stream": true,
                      "messages": [{"role": "user", "content": "[[omnivox-test:slow]]"}]});
    let mut in_flight = open(server.addr, "POST", "/v1/chat/completions", Some(&slow)).await;
    let mut first = vec![0u8; 64];
    let _ = in_flight.read(&mut first).await.unwrap();
    let began = Instant::now();
    server.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .expect("serve returns after the grace period")
        .unwrap()
        .unwrap();
    let took = began.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
}
