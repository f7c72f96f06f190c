//! The routing table of the in-memory broker: the subscription trie plus a
//! per-subject match cache, under one `parking_lot` read-write lock.
//!
//! A lookup on a cached subject takes the read lock for one hash lookup and
//! an `Arc` clone, then releases it: delivery happens outside the lock. A
//! miss validates the subject, walks the trie under the write lock and caches
//! the result. Subscribing or unsubscribing a literal pattern (`a.b`) evicts
//! that one subject from the cache; a wildcard pattern clears it, since it
//! may change the routing of any subject.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use parking_lot::RwLock;
use tokio::sync::mpsc;

use super::error::SubjectError;
use super::subject::{is_literal, validate_subject};
use super::sublist::Sublist;
use super::BrokerMessage;

/// One subscription as the router sees it: its queue and what is needed to
/// report on it.
pub(crate) struct Route<M> {
    pub(crate) pattern: Arc<str>,
    pub(crate) sender: mpsc::Sender<BrokerMessage<M>>,
    pub(crate) capacity: usize,
    pub(crate) dropped: Arc<AtomicU64>,
}

impl<M> Clone for Route<M> {
    fn clone(&self) -> Self {
        Self {
            pattern: Arc::clone(&self.pattern),
            sender: self.sender.clone(),
            capacity: self.capacity,
            dropped: Arc::clone(&self.dropped),
        }
    }
}

/// The routing result for one subject, as cached.
pub(crate) struct Matched<M> {
    /// The subject, shared by every message published on it.
    pub(crate) subject: Arc<str>,
    /// The matching subscriptions, each once.
    pub(crate) routes: Box<[Route<M>]>,
}

/// The match cache's hasher: Fx (rustc's), ~3x cheaper than SipHash on short
/// subjects. Not collision-resistant; the cache is bounded (see
/// [`DEFAULT_MATCH_CACHE_CAPACITY`](super::DEFAULT_MATCH_CACHE_CAPACITY)),
/// which bounds the cost of collisions.
#[derive(Default, Clone, Copy)]
struct FxHasher {
    hash: u64,
}

impl FxHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

type Cache<M> = HashMap<Arc<str>, Arc<Matched<M>>, BuildHasherDefault<FxHasher>>;

/// Trie and cache, under one lock so that a cache entry can never outlive a
/// trie change it does not reflect.
struct Table<M> {
    trie: Sublist<Route<M>>,
    cache: Cache<M>,
}

impl<M> Table<M> {
    /// Drops the cached routing results that a (un)subscribe to `pattern`
    /// may have changed.
    fn invalidate(&mut self, pattern: &str) {
        if is_literal(pattern) {
            self.cache.remove(pattern);
        } else {
            self.cache.clear();
        }
    }
}

/// Routes subjects to subscriptions. Patterns given to it must be valid.
pub(crate) struct Router<M> {
    table: RwLock<Table<M>>,
    cache_capacity: usize,
}

impl<M> Router<M> {
    /// An empty router caching up to `cache_capacity` subjects (0: no cache).
    pub(crate) fn new(cache_capacity: usize) -> Self {
        Self {
            table: RwLock::new(Table {
                trie: Sublist::default(),
                cache: Cache::default(),
            }),
            cache_capacity,
        }
    }

    /// Number of subscriptions.
    pub(crate) fn len(&self) -> usize {
        self.table.read().trie.len()
    }

    /// Adds subscription `id` on the valid `pattern`. Write lock, O(tokens).
    pub(crate) fn insert(&self, pattern: &str, id: u64, route: Route<M>) {
        let mut table = self.table.write();
        table.trie.insert(pattern, id, route);
        table.invalidate(pattern);
    }

    /// Removes subscription `id` on `pattern`. Write lock, O(tokens).
    pub(crate) fn remove(&self, pattern: &str, id: u64) {
        let mut table = self.table.write();
        table.trie.remove(pattern, id);
        table.invalidate(pattern);
    }

    /// The subscriptions matching `subject`, from the cache or the trie.
    ///
    /// # Errors
    ///
    /// Why `subject` is not a valid literal subject; checked on a cache miss
    /// only (a cached subject was valid).
    pub(crate) fn lookup(&self, subject: &str) -> Result<Arc<Matched<M>>, SubjectError> {
        if let Some(found) = self.table.read().cache.get(subject) {
            return Ok(Arc::clone(found));
        }
        validate_subject(subject)?;
        let mut table = self.table.write();
        if let Some(found) = table.cache.get(subject) {
            return Ok(Arc::clone(found));
        }
        let mut out = Vec::new();
        table.trie.matches(subject, &mut out);
        let matched = Arc::new(Matched {
            subject: Arc::from(subject),
            routes: out.into_boxed_slice(),
        });
        if self.cache_capacity > 0 {
            if table.cache.len() >= self.cache_capacity {
                table.cache.clear();
            }
            table
                .cache
                .insert(Arc::clone(&matched.subject), Arc::clone(&matched));
        }
        Ok(matched)
    }
}
