//! The storage trait behind the state bridge, and its in-memory backend.
//!
//! A store maps `(namespace, key)` to bytes. The bridge decides which
//! namespaces a spell may touch; a store only stores. Implementations must
//! make `compare_and_swap` atomic against every other writer of the same
//! store — including other processes, for persistent stores.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// A storage failure (I/O, corruption, lock timeouts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// Key-value storage with namespaces.
#[async_trait::async_trait]
pub trait StateStore: Send + Sync + 'static {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    async fn set(&self, namespace: &str, key: &str, value: Vec<u8>) -> Result<(), StoreError>;
    async fn delete(&self, namespace: &str, key: &str) -> Result<(), StoreError>;
    /// Keys in `namespace` starting with `prefix`, sorted.
    async fn list_keys(&self, namespace: &str, prefix: &str) -> Result<Vec<String>, StoreError>;
    /// Sets `key` to `new` iff its value equals `expected` (`None` = absent).
    async fn compare_and_swap(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> Result<bool, StoreError>;
}

/// A store in memory: the per-run scope, and tests.
#[derive(Default)]
pub struct MemoryStore {
    namespaces: Mutex<HashMap<String, BTreeMap<String, Vec<u8>>>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, namespace: &str, f: impl FnOnce(&mut BTreeMap<String, Vec<u8>>) -> R) -> R {
        let mut namespaces = self.namespaces.lock().unwrap_or_else(|e| e.into_inner());
        f(namespaces.entry(namespace.to_owned()).or_default())
    }
}

#[async_trait::async_trait]
impl StateStore for MemoryStore {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.with(namespace, |ns| ns.get(key).cloned()))
    }

    async fn set(&self, namespace: &str, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        self.with(namespace, |ns| ns.insert(key.to_owned(), value));
        Ok(())
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<(), StoreError> {
        self.with(namespace, |ns| ns.remove(key));
        Ok(())
    }

    async fn list_keys(&self, namespace: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(self.with(namespace, |ns| {
            ns.range(prefix.to_owned()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, _)| k.clone())
                .collect()
        }))
    }

    async fn compare_and_swap(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> Result<bool, StoreError> {
        Ok(self.with(namespace, |ns| {
            if ns.get(key) != expected.as_ref() {
                return false;
            }
            ns.insert(key.to_owned(), new);
            true
        }))
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
