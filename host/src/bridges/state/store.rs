//! The storage trait behind the state bridge, and its in-memory backend.
//!
//! A store maps `(namespace, key)` to bytes. The bridge decides which
//! namespaces a spell may touch; a store only stores. Implementations must
//! make `compare_and_swap` atomic against every other writer of the same
//! store — including other processes, for persistent stores.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::limits::{StateQuota, human_size};

/// A storage failure (I/O, corruption, lock timeouts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// How much a namespace holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    /// Bytes of keys and values together.
    pub bytes: u64,
    pub keys: u64,
}

impl Usage {
    /// From a database's signed counters (never below zero).
    pub fn from_counts(bytes: i64, keys: i64) -> Usage {
        Usage {
            bytes: bytes.max(0) as u64,
            keys: keys.max(0) as u64,
        }
    }

    /// The usage after `key` (which held a value of `old` bytes, if any)
    /// is set to a value of `new` bytes; `new = None` removes it.
    pub fn after(self, key: &str, old: Option<u64>, new: Option<u64>) -> Usage {
        let entry = |value: u64| key.len() as u64 + value;
        let bytes = self.bytes.saturating_sub(old.map_or(0, entry)) + new.map_or(0, entry);
        let keys = self.keys - u64::from(old.is_some() && self.keys > 0) + u64::from(new.is_some());
        Usage { bytes, keys }
    }
}

/// A write refused because it would take a namespace past its quota.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaExceeded {
    #[error(
        "state namespace `{namespace}` would hold {after} bytes of keys and values, over its quota of {} (it holds {before} now); \
         delete keys, or raise it with --state-quota {}",
        human_size(*quota), human_size(quota.saturating_mul(4).next_power_of_two())
    )]
    Bytes {
        namespace: String,
        before: u64,
        after: u64,
        quota: u64,
    },
    #[error(
        "state namespace `{namespace}` would hold {after} keys, over its quota of {quota} keys; \
         delete keys, or raise it with --state-keys {}",
        quota.saturating_mul(4)
    )]
    Keys {
        namespace: String,
        after: u64,
        quota: u64,
    },
}

/// Checks the write that takes `namespace` from `before` to `after`:
/// growth past either bound is refused; shrinking always passes (a quota
/// lowered below what a namespace holds still lets it be cleaned up).
pub fn check_quota(
    namespace: &str,
    before: Usage,
    after: Usage,
    quota: StateQuota,
) -> Result<(), QuotaExceeded> {
    if after.bytes > before.bytes && after.bytes > quota.bytes {
        return Err(QuotaExceeded::Bytes {
            namespace: namespace.to_owned(),
            before: before.bytes,
            after: after.bytes,
            quota: quota.bytes,
        });
    }
    if after.keys > before.keys && after.keys > quota.keys {
        return Err(QuotaExceeded::Keys {
            namespace: namespace.to_owned(),
            after: after.keys,
            quota: quota.keys,
        });
    }
    Ok(())
}

/// Why a write did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Quota(#[from] QuotaExceeded),
}

/// What a write requires of the key's current value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Nothing: a plain `set`.
    Any,
    /// The key is absent.
    Absent,
    /// The key holds exactly these bytes.
    Equals(Vec<u8>),
}

impl Condition {
    pub fn holds(&self, current: Option<&[u8]>) -> bool {
        match self {
            Condition::Any => true,
            Condition::Absent => current.is_none(),
            Condition::Equals(expected) => current == Some(expected.as_slice()),
        }
    }

    /// `compare-and-swap`'s `expected`.
    pub fn expecting(expected: Option<Vec<u8>>) -> Self {
        expected.map_or(Condition::Absent, Condition::Equals)
    }
}

/// Key-value storage with namespaces, and a quota on each namespace's
/// bytes and keys that every write checks atomically with itself.
#[async_trait::async_trait]
pub trait StateStore: Send + Sync + 'static {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets `key` to `value` if `condition` holds and the namespace stays
    /// within `quota`; `Ok(false)` when the condition did not hold.
    async fn write(
        &self,
        namespace: &str,
        key: &str,
        value: Vec<u8>,
        condition: Condition,
        quota: StateQuota,
    ) -> Result<bool, WriteError>;
    async fn delete(&self, namespace: &str, key: &str) -> Result<(), StoreError>;
    /// Keys in `namespace` starting with `prefix`, sorted.
    async fn list_keys(&self, namespace: &str, prefix: &str) -> Result<Vec<String>, StoreError>;
    /// What each namespace starting with `prefix` holds, sorted by name
    /// (namespaces that hold nothing may be left out).
    async fn usage(&self, prefix: &str) -> Result<Vec<(String, Usage)>, StoreError>;

    /// Sets `key` to `value`, with no quota.
    async fn set(&self, namespace: &str, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        self.write(namespace, key, value, Condition::Any, StateQuota::UNLIMITED)
            .await
            .map(drop)
            .map_err(unlimited)
    }

    /// Sets `key` to `new` iff its value equals `expected` (`None` =
    /// absent), with no quota.
    async fn compare_and_swap(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> Result<bool, StoreError> {
        self.write(
            namespace,
            key,
            new,
            Condition::expecting(expected),
            StateQuota::UNLIMITED,
        )
        .await
        .map_err(unlimited)
    }
}

fn unlimited(err: WriteError) -> StoreError {
    match err {
        WriteError::Store(err) => err,
        WriteError::Quota(quota) => StoreError(quota.to_string()),
    }
}

/// A store in memory: the per-run scope, and tests.
#[derive(Default)]
pub struct MemoryStore {
    namespaces: Mutex<HashMap<String, Namespace>>,
}

#[derive(Default)]
struct Namespace {
    entries: BTreeMap<String, Vec<u8>>,
    usage: Usage,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, namespace: &str, f: impl FnOnce(&mut Namespace) -> R) -> R {
        let mut namespaces = self.namespaces.lock().unwrap_or_else(|e| e.into_inner());
        f(namespaces.entry(namespace.to_owned()).or_default())
    }
}

#[async_trait::async_trait]
impl StateStore for MemoryStore {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.with(namespace, |ns| ns.entries.get(key).cloned()))
    }

    async fn write(
        &self,
        namespace: &str,
        key: &str,
        value: Vec<u8>,
        condition: Condition,
        quota: StateQuota,
    ) -> Result<bool, WriteError> {
        self.with(namespace, |ns| {
            let current = ns.entries.get(key);
            if !condition.holds(current.map(Vec::as_slice)) {
                return Ok(false);
            }
            let old = current.map(|v| v.len() as u64);
            let after = ns.usage.after(key, old, Some(value.len() as u64));
            check_quota(namespace, ns.usage, after, quota)?;
            ns.entries.insert(key.to_owned(), value);
            ns.usage = after;
            Ok(true)
        })
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<(), StoreError> {
        self.with(namespace, |ns| {
            if let Some(old) = ns.entries.remove(key) {
                ns.usage = ns.usage.after(key, Some(old.len() as u64), None);
            }
        });
        Ok(())
    }

    async fn list_keys(&self, namespace: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(self.with(namespace, |ns| {
            ns.entries
                .range(prefix.to_owned()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, _)| k.clone())
                .collect()
        }))
    }

    async fn usage(&self, prefix: &str) -> Result<Vec<(String, Usage)>, StoreError> {
        let namespaces = self.namespaces.lock().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<(String, Usage)> = namespaces
            .iter()
            .filter(|(name, ns)| name.starts_with(prefix) && ns.usage.keys > 0)
            .map(|(name, ns)| (name.clone(), ns.usage))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all)
    }
}

/// Behaviour every store must share; run against each backend.
#[cfg(test)]
pub(crate) async fn check_store_contract(store: &dyn StateStore) {
    assert_eq!(store.get("a", "k").await.unwrap(), None);
    store.set("a", "k", b"1".to_vec()).await.unwrap();
    store.set("b", "k", b"other".to_vec()).await.unwrap();
    assert_eq!(
        store.get("a", "k").await.unwrap(),
        Some(b"1".to_vec()),
        "namespaces are separate"
    );
    for key in ["p/2", "p/1", "q/1"] {
        store.set("a", key, vec![]).await.unwrap();
    }
    assert_eq!(store.list_keys("a", "p/").await.unwrap(), ["p/1", "p/2"]);
    assert_eq!(store.list_keys("a", "").await.unwrap().len(), 4);
    assert!(
        !store
            .compare_and_swap("a", "k", Some(b"0".to_vec()), b"2".to_vec())
            .await
            .unwrap()
    );
    assert!(
        store
            .compare_and_swap("a", "k", Some(b"1".to_vec()), b"2".to_vec())
            .await
            .unwrap()
    );
    assert!(
        !store
            .compare_and_swap("a", "new", Some(b"x".to_vec()), b"2".to_vec())
            .await
            .unwrap()
    );
    assert!(
        store
            .compare_and_swap("a", "new", None, b"fresh".to_vec())
            .await
            .unwrap()
    );
    assert!(
        !store
            .compare_and_swap("a", "new", None, b"again".to_vec())
            .await
            .unwrap()
    );
    store.delete("a", "k").await.unwrap();
    store.delete("a", "never-there").await.unwrap();
    assert_eq!(store.get("a", "k").await.unwrap(), None);
    assert_eq!(store.get("b", "k").await.unwrap(), Some(b"other".to_vec()));
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn memory_store_keeps_the_contract() {
        super::check_store_contract(&super::MemoryStore::new()).await;
    }
}
