//! The Redis audio store: entries shared by every replica that points at
//! the same server.
//!
//! One key per reply, `<prefix><id>`, holding a small JSON document
//! (`{"t": transcript, "g": groups, "c": codes}`), written with `SET … PXAT`
//! so that Redis itself forgets it at the reply's `expires_at` (Redis 6.2
//! or later). The size bound is Redis's own (`maxmemory` with a
//! `volatile-ttl` policy evicts the entries closest to expiry first, as the
//! in-process store does).

use super::{AudioStore, StoreError, StoredAudio};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Largest entry read back, in bytes (a guard against a foreign key).
const MAX_ENTRY_BYTES: usize = 64 << 20;
/// Connect, read and write timeouts.
const TIMEOUT: Duration = Duration::from_secs(5);

/// [`AudioStore`] on a Redis server (see the module docs).
pub struct RedisAudioStore {
    client: redis::Client,
    prefix: String,
    /// A reused connection, reopened after an error.
    conn: Mutex<Option<redis::Connection>>,
}

impl std::fmt::Debug for RedisAudioStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAudioStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Entry {
    t: String,
    g: u32,
    c: Vec<u32>,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl RedisAudioStore {
    /// A store on `url` (`redis://host:port/db`), keys under `prefix`
    /// (e.g. `omnivox:audio:`). Connects once to fail early.
    pub fn new(url: &str, prefix: impl Into<String>) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let store = Self {
            client,
            prefix: prefix.into(),
            conn: Mutex::new(None),
        };
        store.with_conn(|c| redis::cmd("PING").query::<String>(c))?;
        Ok(store)
    }

    /// Runs `f` on the shared connection, reconnecting once if it fails.
    fn with_conn<T>(
        &self,
        f: impl Fn(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        let mut guard = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for attempt in 0..2 {
            if guard.is_none() {
                let c = self
                    .client
                    .get_connection_with_timeout(TIMEOUT)
                    .map_err(unavailable)?;
                c.set_read_timeout(Some(TIMEOUT)).map_err(unavailable)?;
                c.set_write_timeout(Some(TIMEOUT)).map_err(unavailable)?;
                *guard = Some(c);
            }
            let conn = guard.as_mut().expect("connected just above");
            match f(conn) {
                Ok(v) => return Ok(v),
                Err(e) if attempt == 0 && (e.is_io_error() || e.is_connection_dropped()) => {
                    *guard = None
                }
                Err(e) => {
                    *guard = None;
                    return Err(unavailable(e));
                }
            }
        }
        Err(StoreError::Unavailable(
            "the connection failed twice".into(),
        ))
    }

    fn key(&self, id: &str) -> String {
        format!("{}{id}", self.prefix)
    }
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl AudioStore for RedisAudioStore {
    fn put(&self, id: &str, audio: StoredAudio) -> Result<(), StoreError> {
        let at = millis(audio.expires_at);
        if at <= millis(SystemTime::now()) {
            return Ok(()); // already expired: nothing to keep
        }
        let entry = Entry {
            t: audio.transcript,
            g: audio.groups,
            c: audio.codes,
        };
        let body = serde_json::to_vec(&entry).map_err(unavailable)?;
        if body.len() > MAX_ENTRY_BYTES {
            return Err(StoreError::TooLarge {
                size: body.len(),
                limit: MAX_ENTRY_BYTES,
            });
        }
        let key = self.key(id);
        self.with_conn(|c| {
            redis::cmd("SET")
                .arg(&key)
                .arg(&body)
                .arg("PXAT")
                .arg(at)
                .query::<()>(c)
        })
    }

    fn get(&self, id: &str) -> Result<Option<StoredAudio>, StoreError> {
        let key = self.key(id);
        let (body, ttl_ms): (Option<Vec<u8>>, i64) = self.with_conn(|c| {
            redis::pipe()
                .cmd("GET")
                .arg(&key)
                .cmd("PTTL")
                .arg(&key)
                .query(c)
        })?;
        let Some(body) = body else { return Ok(None) };
        if body.len() > MAX_ENTRY_BYTES || ttl_ms < 0 {
            return Ok(None);
        }
        let entry: Entry = serde_json::from_slice(&body).map_err(|e| StoreError::Corrupt {
            id: id.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Some(StoredAudio {
            transcript: entry.t,
            codes: entry.c,
            groups: entry.g,
            expires_at: SystemTime::now() + Duration::from_millis(ttl_ms as u64),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Child, Command, Stdio};

    /// A `redis-server` of its own on a free port, killed when dropped.
    struct Server {
        child: Child,
        port: u16,
    }

    impl Server {
        /// A private redis-server on a free port, answering PING (a port
        /// taken between our probe and its bind makes it exit: try again).
        fn start() -> Server {
            for _ in 0..5 {
                if let Some(server) = Self::try_start() {
                    return server;
                }
            }
            panic!("redis-server did not start");
        }

        fn try_start() -> Option<Server> {
            // Tests run in parallel: never hand out a port another server of
            // this process took (the kernel may offer it again once freed).
            static TAKEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
            let port = loop {
                let port = std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port();
                let mut taken = TAKEN.lock().unwrap();
                if !taken.contains(&port) {
                    taken.push(port);
                    break port;
                }
            };
            let child = Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .stdout(Stdio::null())
                .spawn()
                .expect("redis-server is installed (apt-get install redis-server)");
            let mut server = Server { child, port };
            for _ in 0..250 {
                if !matches!(server.child.try_wait(), Ok(None)) {
                    return None; // exited: the port was taken
                }
                if pong(port) {
                    return Some(server);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            None
        }

        fn url(&self) -> String {
            format!("redis://127.0.0.1:{}/", self.port)
        }
    }

    /// Whether a server on `port` answers PING with PONG.
    fn pong(port: u16) -> bool {
        use std::io::{Read, Write};
        let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let _ = c.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 7];
        c.write_all(b"PING\r\n").is_ok() && c.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn entry(text: &str, ttl: Duration) -> StoredAudio {
        StoredAudio {
            transcript: text.into(),
            codes: (0..32).collect(),
            groups: 16,
            expires_at: SystemTime::now() + ttl,
        }
    }

    #[test]
    fn replicas_share_entries_until_they_expire() {
        let server = Server::start();
        let a = RedisAudioStore::new(&server.url(), "omnivox:test:").unwrap();
        let b = RedisAudioStore::new(&server.url(), "omnivox:test:").unwrap();
        a.put("audio_1", entry("héllo", Duration::from_secs(60)))
            .unwrap();
        let got = b.get("audio_1").unwrap().unwrap();
        assert_eq!((got.transcript.as_str(), got.groups), ("héllo", 16));
        assert_eq!(got.codes, (0..32).collect::<Vec<u32>>());
        let left = got.expires_at.duration_since(SystemTime::now()).unwrap();
        assert!(
            left > Duration::from_secs(58) && left <= Duration::from_secs(60),
            "{left:?}"
        );
        assert!(b.get("audio_2").unwrap().is_none());
        // Another prefix is another namespace.
        let other = RedisAudioStore::new(&server.url(), "elsewhere:").unwrap();
        assert!(other.get("audio_1").unwrap().is_none());
        // Redis forgets an entry at its expiry.
        a.put("short", entry("soon gone", Duration::from_millis(300)))
            .unwrap();
        assert!(b.get("short").unwrap().is_some());
        std::thread::sleep(Duration::from_millis(400));
        assert!(b.get("short").unwrap().is_none());
        // A corrupt value is an error, not a panic.
        a.with_conn(|c| {
            redis::cmd("SET")
                .arg("omnivox:test:bad")
                .arg("{")
                .arg("PX")
                .arg(60_000)
                .query::<()>(c)
        })
        .unwrap();
        assert!(matches!(a.get("bad"), Err(StoreError::Corrupt { .. })));
    }

    #[test]
    fn a_lost_connection_is_reopened_and_a_dead_server_is_an_error() {
        let server = Server::start();
        let store = RedisAudioStore::new(&server.url(), "p:").unwrap();
        store
            .put("x", entry("one", Duration::from_secs(60)))
            .unwrap();
        // Kill every client connection: the next call reconnects.
        store
            .with_conn(|c| {
                redis::cmd("CLIENT")
                    .arg("KILL")
                    .arg("TYPE")
                    .arg("normal")
                    .query::<i64>(c)
            })
            .unwrap();
        assert_eq!(store.get("x").unwrap().unwrap().transcript, "one");
        let url = server.url();
        drop(server);
        assert!(matches!(store.get("x"), Err(StoreError::Unavailable(_))));
        assert!(RedisAudioStore::new(&url, "p:").is_err());
    }
}
