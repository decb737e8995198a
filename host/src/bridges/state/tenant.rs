//! A tenant's view of a shared store: every namespace is prefixed with
//! `tenant/<name>/`, so one tenant's `spell/notes` and `shared/team` are
//! not another's. A server wraps its store once per tenant.

use std::sync::Arc;

use super::store::{Condition, StateStore, StoreError, Usage, WriteError};
use crate::limits::StateQuota;

/// `inner`, with namespaces under `tenant/<name>/`.
pub struct TenantStore {
    inner: Arc<dyn StateStore>,
    prefix: String,
}

impl TenantStore {
    pub fn new(inner: Arc<dyn StateStore>, tenant: &str) -> Self {
        Self {
            inner,
            prefix: format!("tenant/{tenant}/"),
        }
    }

    fn ns(&self, namespace: &str) -> String {
        format!("{}{namespace}", self.prefix)
    }
}

#[async_trait::async_trait]
impl StateStore for TenantStore {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(&self.ns(namespace), key).await
    }

    async fn write(
        &self,
        namespace: &str,
        key: &str,
        value: Vec<u8>,
        condition: Condition,
        quota: StateQuota,
    ) -> Result<bool, WriteError> {
        self.inner
            .write(&self.ns(namespace), key, value, condition, quota)
            .await
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<(), StoreError> {
        self.inner.delete(&self.ns(namespace), key).await
    }

    async fn list_keys(&self, namespace: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.list_keys(&self.ns(namespace), prefix).await
    }

    async fn usage(&self, prefix: &str) -> Result<Vec<(String, Usage)>, StoreError> {
        let all = self.inner.usage(&self.ns(prefix)).await?;
        Ok(all
            .into_iter()
            .filter_map(|(name, usage)| Some((name.strip_prefix(&self.prefix)?.to_owned(), usage)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridges::state::MemoryStore;

    #[tokio::test]
    async fn tenants_do_not_see_each_others_keys() {
        let shared: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
        let acme = TenantStore::new(shared.clone(), "acme");
        let globex = TenantStore::new(shared.clone(), "globex");
        acme.set("spell/notes", "k", b"acme".to_vec())
            .await
            .unwrap();
        assert_eq!(globex.get("spell/notes", "k").await.unwrap(), None);
        assert!(
            globex
                .list_keys("spell/notes", "")
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            !globex
                .compare_and_swap("spell/notes", "k", Some(b"acme".to_vec()), b"x".to_vec())
                .await
                .unwrap()
        );
        assert_eq!(
            acme.get("spell/notes", "k").await.unwrap().as_deref(),
            Some(&b"acme"[..])
        );
        assert_eq!(
            shared
                .get("tenant/acme/spell/notes", "k")
                .await
                .unwrap()
                .as_deref(),
            Some(&b"acme"[..])
        );
    }
}
