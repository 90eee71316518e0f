//! Hugging Face Hub downloads against a local stand-in for the Hub (the
//! API listing, `resolve` URLs with LFS-style redirects to a "CDN", ETags,
//! `Range` requests): the standard cache layout, resuming after the
//! connection drops mid-file and after a run is interrupted, offline use of
//! the cache, and typed errors.

#![allow(clippy::unwrap_used)]

use omnivox_serve::engine_factory::hub::{Hub, HubError, RepoRef, download};
use omnivox_serve::engine_factory::progress::{NoProgress, Progress};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// The files of the fake repo: name → (bytes, LFS?).
fn files() -> BTreeMap<String, (Vec<u8>, bool)> {
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let index =
        serde_json::json!({"weight_map": {"a": "model-00001-of-00001.safetensors"}}).to_string();
    BTreeMap::from([
        (
            "config.json".into(),
            (b"{\"model_type\": \"x\"}".to_vec(), false),
        ),
        (
            "model.safetensors.index.json".into(),
            (index.into_bytes(), false),
        ),
        ("model-00001-of-00001.safetensors".into(), (big, true)),
        ("consolidated.safetensors".into(), (vec![1; 10], true)),
        ("README.md".into(), (b"hello".to_vec(), false)),
    ])
}

/// The fake Hub's behaviour and what it saw.
#[derive(Default)]
struct State {
    /// Cut the connection after this many body bytes on the next N LFS GETs.
    cut_after: usize,
    cuts_left: usize,
    ranges: Vec<String>,
    gets: Vec<String>,
}

struct FakeHub {
    port: u16,
    state: Arc<Mutex<State>>,
    served: Arc<AtomicUsize>,
}

impl FakeHub {
    fn start() -> FakeHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let served = Arc::new(AtomicUsize::new(0));
        let (st, sv) = (state.clone(), served.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (st, sv) = (st.clone(), sv.clone());
                std::thread::spawn(move || serve(conn, &st, &sv));
            }
        });
        FakeHub {
            port,
            state,
            served,
        }
    }

    fn hub(&self, cache: &Path) -> Hub {
        Hub {
            endpoint: format!("http://127.0.0.1:{}", self.port),
            cache: cache.to_path_buf(),
            token: Some("hf_test".into()),
            offline: false,
        }
    }
}

fn respond(
    conn: &mut TcpStream,
    status: &str,
    headers: &[(String, String)],
    body: &[u8],
    cut: Option<usize>,
) {
    let mut head = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = conn.write_all(head.as_bytes());
    let body = match cut {
        Some(n) => &body[..n.min(body.len())],
        None => body,
    };
    let _ = conn.write_all(body);
    let _ = conn.flush();
}

fn serve(mut conn: TcpStream, state: &Mutex<State>, served: &AtomicUsize) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let parts: Vec<&str> = line.split_whitespace().collect();
    let (method, path) = (parts[0].to_owned(), parts[1].to_owned());
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        if h.trim().is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        headers.insert(k.trim().to_lowercase(), v.trim().to_owned());
    }
    assert_eq!(
        headers.get("authorization").map(String::as_str),
        Some("Bearer hf_test"),
        "{path}"
    );
    let files = files();
    let h = |k: &str, v: String| (k.to_owned(), v);
    if path == "/api/models/org/tiny/revision/main" {
        let siblings: Vec<_> = files
            .keys()
            .map(|f| serde_json::json!({"rfilename": f}))
            .collect();
        let body = serde_json::json!({"sha": SHA, "siblings": siblings}).to_string();
        return respond(
            &mut conn,
            "200 OK",
            &[h("Content-Length", body.len().to_string())],
            body.as_bytes(),
            None,
        );
    }
    if path.starts_with("/api/models/") {
        return respond(
            &mut conn,
            "404 Not Found",
            &[h("Content-Length", "0".into())],
            b"",
            None,
        );
    }
    let (prefix, name) = if let Some(n) = path.strip_prefix(&format!("/org/tiny/resolve/{SHA}/")) {
        ("resolve", n.to_owned())
    } else if let Some(n) = path.strip_prefix("/cdn/") {
        ("cdn", n.to_owned())
    } else {
        return respond(
            &mut conn,
            "404 Not Found",
            &[h("Content-Length", "0".into())],
            b"",
            None,
        );
    };
    let Some((bytes, lfs)) = files.get(&name).cloned() else {
        return respond(
            &mut conn,
            "404 Not Found",
            &[h("Content-Length", "0".into())],
            b"",
            None,
        );
    };
    let etag = format!(
        "{:016x}{}",
        bytes
            .iter()
            .fold(0u64, |a, &b| a.wrapping_mul(31).wrapping_add(u64::from(b))),
        bytes.len()
    );
    if prefix == "resolve" && lfs {
        // LFS: metadata on the redirect, contents at the CDN.
        let hdrs = [
            h("Location", format!("/cdn/{name}")),
            h("X-Linked-Etag", format!("\"{etag}\"")),
            h("X-Linked-Size", bytes.len().to_string()),
            h("X-Repo-Commit", SHA.into()),
            h("Content-Length", "0".into()),
        ];
        return respond(&mut conn, "302 Found", &hdrs, b"", None);
    }
    if method == "HEAD" {
        let hdrs = [
            h("ETag", format!("\"{etag}\"")),
            h("Content-Length", bytes.len().to_string()),
        ];
        return respond(&mut conn, "200 OK", &hdrs, b"", None);
    }
    served.fetch_add(1, Ordering::SeqCst);
    let mut st = state.lock().unwrap();
    st.gets.push(name.clone());
    let start = match headers.get("range") {
        Some(r) => {
            st.ranges.push(format!("{name} {r}"));
            r.trim_start_matches("bytes=")
                .trim_end_matches('-')
                .parse::<usize>()
                .unwrap()
        }
        None => 0,
    };
    let cut = if lfs && st.cuts_left > 0 {
        st.cuts_left -= 1;
        Some(st.cut_after)
    } else {
        None
    };
    drop(st);
    let rest = &bytes[start..];
    let status = if start > 0 {
        "206 Partial Content"
    } else {
        "200 OK"
    };
    let mut hdrs = vec![h("Content-Length", rest.len().to_string())];
    if start > 0 {
        hdrs.push(h(
            "Content-Range",
            format!("bytes {start}-{}/{}", bytes.len() - 1, bytes.len()),
        ));
    }
    respond(&mut conn, status, &hdrs, rest, cut);
    if cut.is_some() {
        // The connection drops: the client sees the stream end short of
        // `Content-Length` at once. (Leaving the socket open here would only
        // stall the client until its read timeout.)
        let _ = conn.shutdown(Shutdown::Both);
        return;
    }
    // A whole response: wait until the client closes its end.
    let _ = reader.read(&mut [0u8; 1]);
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("omnivox-hub-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn repo() -> RepoRef {
    RepoRef::parse("org/tiny").unwrap()
}

/// Counts what the progress bar was told.
#[derive(Default)]
struct Counted {
    total: u64,
    done: u64,
}

impl Progress for Counted {
    fn start(&mut self, _: &str, total: u64, done: u64) {
        self.total = total;
        self.done = done;
    }
    fn advance(&mut self, n: u64) {
        self.done += n;
    }
    fn finish(&mut self) {}
}

#[test]
fn downloads_into_the_standard_cache_resuming_a_dropped_connection() {
    let fake = FakeHub::start();
    {
        let mut st = fake.state.lock().unwrap();
        st.cut_after = 100_000;
        st.cuts_left = 2;
    }
    let cache = scratch("resume");
    let mut progress = Counted::default();
    let snap = download(&fake.hub(&cache), &repo(), &mut progress).unwrap();
    let root = cache.join("models--org--tiny");
    assert_eq!(snap, root.join("snapshots").join(SHA));
    for (name, (bytes, _)) in files() {
        let path = snap.join(&name);
        let wanted = name.ends_with(".json") || name == "model-00001-of-00001.safetensors";
        assert_eq!(path.exists(), wanted, "{name}");
        if wanted {
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name}");
            let target = std::fs::read_link(&path).unwrap();
            assert!(target.starts_with("../../blobs"), "{}", target.display());
        }
    }
    assert_eq!(
        std::fs::read_to_string(root.join("refs/main")).unwrap(),
        SHA
    );
    let st = fake.state.lock().unwrap();
    assert_eq!(
        st.ranges,
        vec![
            "model-00001-of-00001.safetensors bytes=100000-",
            "model-00001-of-00001.safetensors bytes=200000-"
        ],
        "each retry resumes where the connection dropped"
    );
    assert_eq!(progress.done, progress.total);
    assert!(progress.total >= 300_000);
    drop(st);
    // A second run downloads nothing.
    let before = fake.served.load(Ordering::SeqCst);
    download(&fake.hub(&cache), &repo(), &mut NoProgress).unwrap();
    assert_eq!(fake.served.load(Ordering::SeqCst), before);
    // Offline, the cache is enough.
    let mut offline = fake.hub(&cache);
    offline.offline = true;
    assert_eq!(download(&offline, &repo(), &mut NoProgress).unwrap(), snap);
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn an_interrupted_run_is_resumed_by_the_next() {
    let fake = FakeHub::start();
    {
        let mut st = fake.state.lock().unwrap();
        st.cut_after = 50_000;
        st.cuts_left = 5; // every attempt of this run drops
    }
    let cache = scratch("interrupted");
    let err = download(&fake.hub(&cache), &repo(), &mut NoProgress).unwrap_err();
    assert!(matches!(err, HubError::Http { .. }), "{err}");
    let blobs = cache.join("models--org--tiny/blobs");
    let partial: Vec<_> = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "incomplete"))
        .collect();
    assert_eq!(partial.len(), 1);
    assert_eq!(
        std::fs::metadata(&partial[0]).unwrap().len(),
        250_000,
        "five attempts of 50 000 bytes each"
    );
    // The next run (the Hub behaves now) picks up from there.
    fake.state.lock().unwrap().ranges.clear();
    let snap = download(&fake.hub(&cache), &repo(), &mut NoProgress).unwrap();
    let (bytes, _) = files().remove("model-00001-of-00001.safetensors").unwrap();
    assert_eq!(
        std::fs::read(snap.join("model-00001-of-00001.safetensors")).unwrap(),
        bytes
    );
    assert_eq!(
        fake.state.lock().unwrap().ranges,
        vec!["model-00001-of-00001.safetensors bytes=250000-"]
    );
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn failures_are_typed() {
    let fake = FakeHub::start();
    let cache = scratch("errors");
    let err = download(
        &fake.hub(&cache),
        &RepoRef::parse("org/missing").unwrap(),
        &mut NoProgress,
    )
    .unwrap_err();
    assert!(
        matches!(err, HubError::NotFound(ref r) if r == "org/missing"),
        "{err}"
    );
    let mut offline = fake.hub(&cache);
    offline.offline = true;
    assert!(matches!(
        download(&offline, &repo(), &mut NoProgress),
        Err(HubError::Offline(_))
    ));
    let mut unreachable = fake.hub(&cache);
    unreachable.endpoint = "http://127.0.0.1:1".into();
    assert!(matches!(
        download(&unreachable, &repo(), &mut NoProgress),
        Err(HubError::Http { .. })
    ));
}
