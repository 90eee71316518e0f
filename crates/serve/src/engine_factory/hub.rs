//! Hugging Face Hub downloads into the standard cache, resumable.
//!
//! The layout is `huggingface_hub`'s, so a checkpoint fetched by either
//! tool is found by the other:
//!
//! ```text
//! $HF_HUB_CACHE (default $HF_HOME/hub, default ~/.cache/huggingface/hub)
//!   models--{org}--{name}/
//!     blobs/{etag}                       file contents (LFS files: their sha256)
//!     blobs/{etag}.incomplete            a download in progress
//!     refs/{revision}                    the commit the revision pointed to
//!     snapshots/{commit}/{file} -> ../../blobs/{etag}
//! ```
//!
//! Protocol (as `huggingface_hub` speaks it): the file list and commit from
//! `GET {endpoint}/api/models/{repo}/revision/{rev}`; per file a `HEAD` of
//! `{endpoint}/{repo}/resolve/{commit}/{file}` without following redirects
//! (`X-Linked-Etag` / `X-Linked-Size` for LFS files, else `ETag` /
//! `Content-Length`), then a `GET` that follows the redirect to the CDN,
//! with `Range: bytes={have}-` when part of the file is already on disk. A
//! connection that drops mid-file is retried from where it stopped, and a
//! later run resumes an `.incomplete` blob left by an interrupted one.
//! With `HF_HUB_OFFLINE=1`, or when the Hub cannot be reached, a complete
//! snapshot in the cache is used as it is.

use super::progress::Progress;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Attempts per file before giving up.
const ATTEMPTS: u32 = 5;
/// Files of a checkpoint worth fetching (weights, configs, tokenizer,
/// templates); everything else (READMEs, images, other weight formats) is
/// left on the Hub.
const SUFFIXES: &[&str] = &[".json", ".safetensors", ".jinja", ".txt"];
const INDEX: &str = "model.safetensors.index.json";

/// Where and how to reach the Hub.
#[derive(Debug, Clone)]
pub struct Hub {
    /// `https://huggingface.co` (`HF_ENDPOINT`).
    pub endpoint: String,
    /// The hub cache directory (`HF_HUB_CACHE`, `HF_HOME/hub`).
    pub cache: PathBuf,
    /// `HF_TOKEN`, for gated and private repos.
    pub token: Option<String>,
    /// `HF_HUB_OFFLINE`: never touch the network.
    pub offline: bool,
}

impl Hub {
    /// Settings from the environment, with `huggingface_hub`'s defaults.
    pub fn from_env() -> Self {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let home = env("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let hf_home = env("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
            env("XDG_CACHE_HOME")
                .map_or_else(|| home.join(".cache"), PathBuf::from)
                .join("huggingface")
        });
        Self {
            endpoint: env("HF_ENDPOINT").unwrap_or_else(|| "https://huggingface.co".into()),
            cache: env("HF_HUB_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| hf_home.join("hub")),
            token: env("HF_TOKEN").or_else(|| env("HUGGING_FACE_HUB_TOKEN")),
            offline: env("HF_HUB_OFFLINE")
                .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "TRUE" | "yes")),
        }
    }
}

/// A repo and a revision: `org/name` or `org/name@revision`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoRef {
    pub repo: String,
    pub revision: String,
}

impl RepoRef {
    /// Parses `org/name[@revision]`; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        let (repo, revision) = match s.split_once('@') {
            Some((r, rev)) if !rev.is_empty() => (r, rev),
            Some(_) => return None,
            None => (s, "main"),
        };
        let (org, name) = repo.split_once('/')?;
        let ok = |p: &str| {
            !p.is_empty()
                && !p.starts_with(['.', '-'])
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        let rev_ok = revision
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
        (ok(org) && ok(name) && rev_ok && !revision.contains("..")).then(|| Self {
            repo: repo.to_owned(),
            revision: revision.to_owned(),
        })
    }

    /// `models--org--name`.
    fn folder(&self) -> String {
        format!("models--{}", self.repo.replace('/', "--"))
    }
}

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("`{0}` is not in the Hugging Face cache and HF_HUB_OFFLINE is set")]
    Offline(String),
    #[error("the Hub has no repo `{0}` (or it is private: set HF_TOKEN)")]
    NotFound(String),
    #[error(
        "access to `{0}` was refused: it is gated or private; set HF_TOKEN to a token that may read it"
    )]
    Unauthorized(String),
    #[error("{url}: {reason}")]
    Http { url: String, reason: String },
    #[error("the Hub sent something unexpected for {url}: {reason}")]
    Protocol { url: String, reason: String },
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HubError + '_ {
    move |source| HubError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One file to fetch.
#[derive(Debug, Clone)]
struct Remote {
    name: String,
    etag: String,
    size: Option<u64>,
}

/// Downloads (or finds) `repo` and returns its snapshot directory.
pub fn download(
    hub: &Hub,
    repo: &RepoRef,
    progress: &mut dyn Progress,
) -> Result<PathBuf, HubError> {
    let root = hub.cache.join(repo.folder());
    if hub.offline {
        return cached(&root, repo).ok_or_else(|| HubError::Offline(repo.repo.clone()));
    }
    let client = Client::new(hub);
    let (sha, files) = match client.listing(repo) {
        Ok(l) => l,
        Err(e @ (HubError::Http { .. } | HubError::Protocol { .. })) => {
            // Unreachable Hub: a complete snapshot in the cache will do.
            return match cached(&root, repo) {
                Some(dir) => {
                    tracing::warn!(error = %e, dir = %dir.display(), "the Hub is unreachable; using the cached snapshot");
                    Ok(dir)
                }
                None => Err(e),
            };
        }
        Err(e) => return Err(e),
    };
    let snapshot = root.join("snapshots").join(&sha);
    let mut remotes = Vec::new();
    let mut wanted = files;
    if wanted.iter().any(|f| f == INDEX) {
        // Only the shards the index names (repos may carry other weights).
        let index = client.head(repo, &sha, INDEX)?;
        fetch(&client, repo, &sha, &root, &index, progress)?;
        let shards = index_shards(&snapshot.join(INDEX))?;
        wanted.retain(|f| !f.ends_with(".safetensors") || shards.contains(f));
    }
    for name in &wanted {
        if snapshot.join(name).is_file() {
            continue;
        }
        remotes.push(client.head(repo, &sha, name)?);
    }
    let total = remotes.iter().map(|r| r.size.unwrap_or(0)).sum();
    let already = remotes
        .iter()
        .map(|r| {
            std::fs::metadata(root.join("blobs").join(format!("{}.incomplete", r.etag)))
                .map_or(0, |m| m.len())
        })
        .sum();
    progress.start(&repo.repo, total, already);
    for r in &remotes {
        fetch(&client, repo, &sha, &root, r, progress)?;
    }
    progress.finish();
    let refs = root.join("refs");
    std::fs::create_dir_all(&refs).map_err(io(&refs))?;
    let rev_path = refs.join(&repo.revision);
    if let Some(parent) = rev_path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::write(&rev_path, &sha).map_err(io(&rev_path))?;
    Ok(snapshot)
}

/// A complete cached snapshot of the revision (one with a `config.json`).
fn cached(root: &Path, repo: &RepoRef) -> Option<PathBuf> {
    let sha = std::fs::read_to_string(root.join("refs").join(&repo.revision))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| repo.revision.clone());
    let dir = root.join("snapshots").join(sha);
    dir.join("config.json").is_file().then_some(dir)
}

fn index_shards(path: &Path) -> Result<Vec<String>, HubError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| HubError::Protocol {
        url: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut shards: Vec<String> = v["weight_map"]
        .as_object()
        .map(|m| {
            m.values()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    shards.sort();
    shards.dedup();
    Ok(shards)
}

/// Brings one file into the cache (resuming a partial blob) and links it
/// into the snapshot.
fn fetch(
    client: &Client,
    repo: &RepoRef,
    sha: &str,
    root: &Path,
    r: &Remote,
    progress: &mut dyn Progress,
) -> Result<(), HubError> {
    let blobs = root.join("blobs");
    std::fs::create_dir_all(&blobs).map_err(io(&blobs))?;
    let blob = blobs.join(&r.etag);
    let complete = std::fs::metadata(&blob).is_ok_and(|m| r.size.is_none_or(|s| m.len() == s));
    if !complete {
        let partial = blobs.join(format!("{}.incomplete", r.etag));
        let mut last = None;
        for attempt in 0..ATTEMPTS {
            match client.get_into(repo, sha, r, &partial, progress) {
                Ok(()) => {
                    last = None;
                    break;
                }
                Err(e @ (HubError::Http { .. } | HubError::Io { .. })) => {
                    tracing::warn!(file = %r.name, attempt = attempt + 1, error = %e, "download interrupted; resuming");
                    last = Some(e);
                    if attempt + 1 < ATTEMPTS {
                        std::thread::sleep(Duration::from_millis(200 * u64::from(attempt + 1)));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(e) = last {
            return Err(e);
        }
        std::fs::rename(&partial, &blob).map_err(io(&blob))?;
    }
    link(root, sha, &r.name, &r.etag)
}

/// `snapshots/{sha}/{name}` → `../../blobs/{etag}` (one more `..` per
/// directory level of `name`).
fn link(root: &Path, sha: &str, name: &str, etag: &str) -> Result<(), HubError> {
    let path = root.join("snapshots").join(sha).join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let _ = std::fs::remove_file(&path);
    #[cfg(unix)]
    {
        let depth = name.matches('/').count();
        let target = PathBuf::from("../".repeat(2 + depth))
            .join("blobs")
            .join(etag);
        std::os::unix::fs::symlink(&target, &path).map_err(io(&path))
    }
    #[cfg(not(unix))]
    {
        std::fs::copy(root.join("blobs").join(etag), &path)
            .map(|_| ())
            .map_err(io(&path))
    }
}

/// The Hub's HTTP API.
struct Client {
    endpoint: String,
    token: Option<String>,
    /// Follows redirects (downloads, listings).
    agent: ureq::Agent,
    /// Does not (metadata of the resolve URL).
    head_agent: ureq::Agent,
}

fn agent(redirects: u32) -> ureq::Agent {
    ureq::Agent::config_builder()
        .max_redirects(redirects)
        .max_redirects_will_error(redirects > 0)
        // A token goes with a redirect on the Hub's own host (gated repos
        // redirect there), never to another host (the CDN's URLs are signed).
        .redirect_auth_headers(ureq::config::RedirectAuthHeaders::SameHost)
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .user_agent(concat!("omnivox/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// Percent-encodes what may not appear raw in a URL path segment.
fn encode(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl Client {
    fn new(hub: &Hub) -> Self {
        Self {
            endpoint: hub.endpoint.trim_end_matches('/').to_owned(),
            token: hub.token.clone(),
            agent: agent(10),
            head_agent: agent(0),
        }
    }

    fn auth<T>(&self, req: ureq::RequestBuilder<T>) -> ureq::RequestBuilder<T> {
        match &self.token {
            Some(t) => req.header("Authorization", format!("Bearer {t}")),
            None => req,
        }
    }

    fn check(&self, repo: &RepoRef, url: &str, status: u16) -> Result<(), HubError> {
        match status {
            200..=399 => Ok(()),
            401 | 403 => Err(HubError::Unauthorized(repo.repo.clone())),
            404 => Err(HubError::NotFound(repo.repo.clone())),
            s => Err(HubError::Http {
                url: url.to_owned(),
                reason: format!("HTTP {s}"),
            }),
        }
    }

    /// The commit and file names of a revision.
    fn listing(&self, repo: &RepoRef) -> Result<(String, Vec<String>), HubError> {
        let url = format!(
            "{}/api/models/{}/revision/{}",
            self.endpoint,
            repo.repo,
            encode(&repo.revision)
        );
        let http = |e: ureq::Error| HubError::Http {
            url: url.clone(),
            reason: e.to_string(),
        };
        let mut resp = self.auth(self.agent.get(&url)).call().map_err(http)?;
        self.check(repo, &url, resp.status().as_u16())?;
        let text = resp.body_mut().read_to_string().map_err(http)?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| HubError::Protocol {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let protocol = |reason: &str| HubError::Protocol {
            url: url.clone(),
            reason: reason.to_owned(),
        };
        let sha = v["sha"]
            .as_str()
            .ok_or_else(|| protocol("no `sha`"))?
            .to_owned();
        if sha.is_empty() || !sha.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(protocol("a malformed `sha`"));
        }
        let files = v["siblings"]
            .as_array()
            .ok_or_else(|| protocol("no `siblings`"))?
            .iter()
            .filter_map(|s| s["rfilename"].as_str())
            .filter(|f| SUFFIXES.iter().any(|x| f.ends_with(x)))
            .filter(|f| !f.split('/').any(|p| p.is_empty() || p == ".." || p == "."))
            .map(str::to_owned)
            .collect();
        Ok((sha, files))
    }

    fn resolve(&self, repo: &RepoRef, sha: &str, name: &str) -> String {
        format!(
            "{}/{}/resolve/{sha}/{}",
            self.endpoint,
            repo.repo,
            encode(name)
        )
    }

    /// A file's etag and size, without following the CDN redirect.
    fn head(&self, repo: &RepoRef, sha: &str, name: &str) -> Result<Remote, HubError> {
        let url = self.resolve(repo, sha, name);
        let resp = self
            .auth(self.head_agent.head(&url))
            .call()
            .map_err(|e| HubError::Http {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        self.check(repo, &url, resp.status().as_u16())?;
        let etag = header(&resp, "x-linked-etag")
            .or_else(|| header(&resp, "etag"))
            .map(|e| e.trim_start_matches("W/").trim_matches('"').to_owned())
            .filter(|e| !e.is_empty() && e.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
            .ok_or_else(|| HubError::Protocol {
                url: url.clone(),
                reason: "no usable ETag".into(),
            })?;
        let size = header(&resp, "x-linked-size")
            .or_else(|| header(&resp, "content-length"))
            .and_then(|s| s.parse().ok());
        Ok(Remote {
            name: name.to_owned(),
            etag,
            size,
        })
    }

    /// Appends the rest of `r` to `partial` (from its current length).
    fn get_into(
        &self,
        repo: &RepoRef,
        sha: &str,
        r: &Remote,
        partial: &Path,
        progress: &mut dyn Progress,
    ) -> Result<(), HubError> {
        let url = self.resolve(repo, sha, &r.name);
        let have = std::fs::metadata(partial).map_or(0, |m| m.len());
        if r.size.is_some_and(|s| have == s) {
            return Ok(());
        }
        let http = |e: &dyn std::fmt::Display| HubError::Http {
            url: url.clone(),
            reason: e.to_string(),
        };
        let mut req = self.auth(self.agent.get(&url));
        if have > 0 {
            req = req.header("Range", format!("bytes={have}-"));
        }
        let resp = req.call().map_err(|e| http(&e))?;
        let status = resp.status().as_u16();
        let resume = status == 206;
        if status == 416 {
            // Nothing left past `have` (or a stale partial): start over.
            std::fs::remove_file(partial).map_err(io(partial))?;
            return Err(http(
                &"the saved part does not match the file; starting over",
            ));
        }
        self.check(repo, &url, status)?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(resume)
            .write(true)
            .truncate(!resume)
            .open(partial)
            .map_err(io(partial))?;
        let limit = r.size.map_or(u64::MAX, |s| {
            s.saturating_sub(if resume { have } else { 0 })
        });
        let mut body = resp.into_body().into_reader().take(limit);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = body.read(&mut buf).map_err(|e| http(&e))?;
            if n == 0 {
                break;
            }
            file.write_all(&buf[..n]).map_err(io(partial))?;
            progress.advance(n as u64);
        }
        file.flush().map_err(io(partial))?;
        let got = std::fs::metadata(partial).map_or(0, |m| m.len());
        match r.size {
            Some(s) if got != s => Err(http(&format!(
                "the connection closed after {got} of {s} bytes"
            ))),
            _ => Ok(()),
        }
    }
}
