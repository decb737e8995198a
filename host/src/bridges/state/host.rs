//! `spellhost:spell/state` host functions. Grants are checked once, in
//! `open`; a bucket handle is the capability to its namespace.

use wasmtime::component::Resource;

use super::{Bucket, Condition, MAX_KEY_BYTES, MAX_VALUE_BYTES, StateView, StoreError, WriteError};
use crate::bindings::state::{self, Error, Scope};

type StateResult<T> = wasmtime::Result<Result<T, Error>>;

fn check_key(key: &str) -> Result<(), Error> {
    if key.is_empty() {
        return Err(Error::Invalid("keys must not be empty".into()));
    }
    if key.contains('\0') {
        return Err(Error::Invalid("keys must not contain NUL bytes".into()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(Error::Invalid(format!(
            "key is {} bytes; the limit is {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    Ok(())
}

fn check_value(value: &[u8]) -> Result<(), Error> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(Error::Invalid(format!(
            "value is {} bytes; the limit is {MAX_VALUE_BYTES}",
            value.len()
        )));
    }
    Ok(())
}

fn storage(err: StoreError) -> Error {
    Error::Storage(err.0)
}

fn refused(err: WriteError) -> Error {
    match err {
        WriteError::Store(err) => storage(err),
        WriteError::Quota(exceeded) => Error::QuotaExceeded(exceeded.to_string()),
    }
}

impl state::Host for StateView<'_> {
    async fn open(&mut self, scope: Scope) -> StateResult<Resource<Bucket>> {
        let bucket = match scope {
            Scope::Spell => Bucket {
                store: self.ctx.persistent.clone(),
                namespace: format!("spell/{}", self.ctx.spell_name),
                quota: self.ctx.quota,
            },
            Scope::Run => Bucket {
                store: self.ctx.run.clone(),
                namespace: "run".into(),
                quota: self.ctx.quota,
            },
            Scope::Shared(name) => {
                if name.is_empty() {
                    return Ok(Err(Error::Invalid(
                        "a shared namespace needs a name".into(),
                    )));
                }
                if !self.ctx.allows_shared(&name) {
                    let message = self.ctx.recorder.denied(
                        "state",
                        "open",
                        &format!("shared/{name}"),
                        &format!("shared state namespace `{name}` is not granted to this spell"),
                        Some(crate::policy::Grant::StateNamespace(name.clone())),
                    );
                    return Ok(Err(Error::Denied(message)));
                }
                self.ctx
                    .recorder
                    .allowed("state", "open", &format!("shared/{name}"), None);
                Bucket {
                    store: self.ctx.persistent.clone(),
                    namespace: format!("shared/{name}"),
                    quota: self.ctx.quota,
                }
            }
        };
        Ok(Ok(self.table.push(bucket)?))
    }
}

impl state::HostBucket for StateView<'_> {
    async fn get(&mut self, this: Resource<Bucket>, key: String) -> StateResult<Option<Vec<u8>>> {
        let bucket = self.table.get(&this)?;
        if let Err(e) = check_key(&key) {
            return Ok(Err(e));
        }
        Ok(bucket
            .store
            .get(&bucket.namespace, &key)
            .await
            .map_err(storage))
    }

    async fn set(
        &mut self,
        this: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> StateResult<()> {
        let bucket = self.table.get(&this)?;
        if let Err(e) = check_key(&key).and_then(|()| check_value(&value)) {
            return Ok(Err(e));
        }
        Ok(bucket
            .store
            .write(&bucket.namespace, &key, value, Condition::Any, bucket.quota)
            .await
            .map(drop)
            .map_err(refused))
    }

    async fn delete(&mut self, this: Resource<Bucket>, key: String) -> StateResult<()> {
        let bucket = self.table.get(&this)?;
        if let Err(e) = check_key(&key) {
            return Ok(Err(e));
        }
        Ok(bucket
            .store
            .delete(&bucket.namespace, &key)
            .await
            .map_err(storage))
    }

    async fn exists(&mut self, this: Resource<Bucket>, key: String) -> StateResult<bool> {
        let bucket = self.table.get(&this)?;
        if let Err(e) = check_key(&key) {
            return Ok(Err(e));
        }
        Ok(bucket
            .store
            .get(&bucket.namespace, &key)
            .await
            .map(|v| v.is_some())
            .map_err(storage))
    }

    async fn list_keys(
        &mut self,
        this: Resource<Bucket>,
        prefix: String,
    ) -> StateResult<Vec<String>> {
        let bucket = self.table.get(&this)?;
        Ok(bucket
            .store
            .list_keys(&bucket.namespace, &prefix)
            .await
            .map_err(storage))
    }

    async fn compare_and_swap(
        &mut self,
        this: Resource<Bucket>,
        key: String,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> StateResult<bool> {
        let bucket = self.table.get(&this)?;
        if let Err(e) = check_key(&key).and_then(|()| check_value(&new)) {
            return Ok(Err(e));
        }
        let condition = Condition::expecting(expected);
        Ok(bucket
            .store
            .write(&bucket.namespace, &key, new, condition, bucket.quota)
            .await
            .map_err(refused))
    }

    async fn drop(&mut self, this: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use wasmtime::component::ResourceTable;

    use super::super::{MemoryStore, StateCtx, StateView};
    use crate::bindings::state::{Error, Host as _, HostBucket as _, Scope};

    fn ctx(grants: &[&str]) -> StateCtx {
        StateCtx {
            persistent: Arc::new(MemoryStore::new()),
            run: Arc::new(MemoryStore::new()),
            spell_name: "alpha".into(),
            shared_grants: grants.iter().map(|g| g.to_string()).collect(),
            quota: crate::limits::StateQuota { bytes: 64, keys: 2 },
            recorder: Default::default(),
        }
    }

    #[tokio::test]
    async fn shared_namespace_needs_a_grant_and_says_how() {
        let mut ctx = ctx(&["team"]);
        let mut table = ResourceTable::new();
        let mut view = StateView {
            ctx: &mut ctx,
            table: &mut table,
        };
        let denied = view
            .open(Scope::Shared("other".into()))
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(&denied, Error::Denied(m) if m.contains("--allow-state-ns other")),
            "{denied:?}"
        );
        assert!(
            view.open(Scope::Shared("team".into()))
                .await
                .unwrap()
                .is_ok()
        );
    }

    #[tokio::test]
    async fn spells_have_separate_private_scopes() {
        let persistent: Arc<MemoryStore> = Arc::new(MemoryStore::new());
        let mut table = ResourceTable::new();
        let mut alpha = ctx(&[]);
        alpha.persistent = persistent.clone();
        let mut beta = ctx(&[]);
        beta.persistent = persistent.clone();
        beta.spell_name = "beta".into();

        let mut view = StateView {
            ctx: &mut alpha,
            table: &mut table,
        };
        let bucket = view.open(Scope::Spell).await.unwrap().unwrap();
        view.set(bucket, "secret".into(), b"a".to_vec())
            .await
            .unwrap()
            .unwrap();

        let mut view = StateView {
            ctx: &mut beta,
            table: &mut table,
        };
        let bucket = view.open(Scope::Spell).await.unwrap().unwrap();
        assert_eq!(
            view.get(bucket, "secret".into()).await.unwrap().unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn oversized_keys_and_values_are_invalid() {
        let mut ctx = ctx(&[]);
        let mut table = ResourceTable::new();
        let mut view = StateView {
            ctx: &mut ctx,
            table: &mut table,
        };
        let bucket = view.open(Scope::Run).await.unwrap().unwrap();
        let rep = bucket.rep();
        let err = view
            .set(bucket, "".into(), vec![])
            .await
            .unwrap()
            .unwrap_err();
        assert!(matches!(err, Error::Invalid(_)));
        let bucket = wasmtime::component::Resource::new_own(rep);
        let err = view
            .set(bucket, "k".into(), vec![0; super::MAX_VALUE_BYTES + 1])
            .await
            .unwrap()
            .unwrap_err();
        assert!(matches!(err, Error::Invalid(m) if m.contains("limit")));
    }

    #[tokio::test]
    async fn writes_past_the_quota_are_quota_exceeded() {
        let mut ctx = ctx(&[]);
        let mut table = ResourceTable::new();
        let mut view = StateView {
            ctx: &mut ctx,
            table: &mut table,
        };
        for scope in [Scope::Spell, Scope::Run] {
            let bucket = view.open(scope).await.unwrap().unwrap();
            let rep = bucket.rep();
            let again = || wasmtime::component::Resource::<super::super::Bucket>::new_own(rep);
            view.set(again(), "a".into(), vec![1; 10])
                .await
                .unwrap()
                .unwrap();
            let err = view
                .set(again(), "b".into(), vec![1; 60])
                .await
                .unwrap()
                .unwrap_err();
            assert!(
                matches!(&err, Error::QuotaExceeded(m) if m.contains("--state-quota")),
                "{err:?}"
            );
            view.set(again(), "b".into(), vec![1; 5])
                .await
                .unwrap()
                .unwrap();
            let err = view
                .compare_and_swap(again(), "c".into(), None, vec![])
                .await
                .unwrap()
                .unwrap_err();
            assert!(
                matches!(&err, Error::QuotaExceeded(m) if m.contains("3 keys")),
                "{err:?}"
            );
            let err = view
                .set(again(), "a\0b".into(), vec![])
                .await
                .unwrap()
                .unwrap_err();
            assert!(
                matches!(&err, Error::Invalid(m) if m.contains("NUL")),
                "{err:?}"
            );
        }
    }
}
