//! The in-process audio store.

use super::{AudioStore, StoreError, StoredAudio};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

/// In-process [`AudioStore`]: entries expire at their `expires_at`; when a
/// new entry would push the total over `max_bytes`, expired entries and then
/// those closest to expiry are dropped first.
#[derive(Debug)]
pub struct MemoryAudioStore {
    max_bytes: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, StoredAudio>,
    /// `(expires_at, id)`, soonest first.
    by_expiry: BTreeSet<(SystemTime, String)>,
    bytes: usize,
}

impl Inner {
    fn remove(&mut self, id: &str) {
        if let Some(old) = self.entries.remove(id) {
            self.by_expiry.remove(&(old.expires_at, id.to_owned()));
            self.bytes -= old.size_bytes();
        }
    }

    fn pop_soonest(&mut self) -> bool {
        match self.by_expiry.pop_first() {
            Some((_, id)) => {
                if let Some(old) = self.entries.remove(&id) {
                    self.bytes -= old.size_bytes();
                }
                true
            }
            None => false,
        }
    }

    fn purge_expired(&mut self, now: SystemTime) {
        while self.by_expiry.first().is_some_and(|(t, _)| *t <= now) {
            self.pop_soonest();
        }
    }
}

impl MemoryAudioStore {
    /// A store holding at most `max_bytes` (see [`StoredAudio::size_bytes`]).
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Entries held (expired ones included until they are purged).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

impl Default for MemoryAudioStore {
    /// 256 MiB.
    fn default() -> Self {
        Self::new(256 << 20)
    }
}

impl AudioStore for MemoryAudioStore {
    fn put(&self, id: &str, audio: StoredAudio) -> Result<(), StoreError> {
        let size = audio.size_bytes();
        if size > self.max_bytes {
            return Err(StoreError::TooLarge {
                size,
                limit: self.max_bytes,
            });
        }
        let mut inner = self.lock();
        inner.remove(id);
        inner.purge_expired(SystemTime::now());
        while inner.bytes + size > self.max_bytes && inner.pop_soonest() {}
        inner.by_expiry.insert((audio.expires_at, id.to_owned()));
        inner.bytes += size;
        inner.entries.insert(id.to_owned(), audio);
        Ok(())
    }

    fn get(&self, id: &str) -> Result<Option<StoredAudio>, StoreError> {
        let now = SystemTime::now();
        let mut inner = self.lock();
        match inner.entries.get(id) {
            Some(a) if !a.is_expired(now) => Ok(Some(a.clone())),
            Some(_) => {
                inner.remove(id);
                Ok(None)
            }
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn entry(text: &str, ttl_secs: i64) -> StoredAudio {
        let now = SystemTime::now();
        let expires_at = if ttl_secs >= 0 {
            now + Duration::from_secs(ttl_secs as u64)
        } else {
            now - Duration::from_secs((-ttl_secs) as u64)
        };
        StoredAudio {
            transcript: text.into(),
            codes: vec![1, 2, 3, 4],
            groups: 2,
            expires_at,
        }
    }

    #[test]
    fn entries_resolve_until_they_expire() {
        let store = MemoryAudioStore::default();
        store.put("a", entry("hello", 60)).unwrap();
        store.put("old", entry("gone", -1)).unwrap();
        assert_eq!(store.get("a").unwrap().unwrap().transcript, "hello");
        assert_eq!(store.get("a").unwrap().unwrap().codes, vec![1, 2, 3, 4]);
        assert!(store.get("old").unwrap().is_none());
        assert!(store.get("never").unwrap().is_none());
        assert_eq!(store.len(), 1, "reading an expired entry drops it");
    }

    #[test]
    fn the_size_bound_drops_the_entries_closest_to_expiry() {
        let one = entry("x", 10).size_bytes();
        let store = MemoryAudioStore::new(3 * one);
        store.put("soon", entry("x", 10)).unwrap();
        store.put("later", entry("x", 1000)).unwrap();
        store.put("mid", entry("x", 100)).unwrap();
        assert_eq!(store.bytes(), 3 * one);
        store.put("new", entry("x", 500)).unwrap();
        assert!(store.get("soon").unwrap().is_none());
        for id in ["later", "mid", "new"] {
            assert!(store.get(id).unwrap().is_some(), "{id}");
        }
        assert!(store.bytes() <= 3 * one);
        // Replacing an id does not count it twice.
        store.put("new", entry("x", 500)).unwrap();
        assert_eq!(store.bytes(), 3 * one);
        let huge = StoredAudio {
            transcript: "y".repeat(4 * one),
            ..entry("", 10)
        };
        assert!(matches!(
            store.put("huge", huge),
            Err(StoreError::TooLarge { .. })
        ));
    }
}
