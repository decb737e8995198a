//! Scoped key-value state. The free functions use the spell's private scope,
//! which persists across runs; [`Bucket`] opens any scope.
//!
//! ```ignore
//! let count: u64 = state::get_json("count")?.unwrap_or(0);
//! state::set_json("count", &(count + 1))?;
//! let team = state::Bucket::shared("team")?; // needs --allow-state-ns team
//! ```

use serde::{Serialize, de::DeserializeOwned};

use crate::Result;
use crate::bindings::spellhost::spell::state as raw;

pub use raw::Scope;

/// An open scope.
pub struct Bucket(raw::Bucket);

impl Bucket {
    pub fn open(scope: Scope) -> Result<Self> {
        Ok(Self(raw::open(&scope)?))
    }

    /// The spell's private scope, kept across runs.
    pub fn spell() -> Result<Self> {
        Self::open(Scope::Spell)
    }

    /// Scratch space for this run only.
    pub fn run() -> Result<Self> {
        Self::open(Scope::Run)
    }

    /// A shared namespace (needs `--allow-state-ns NAME`).
    pub fn shared(name: &str) -> Result<Self> {
        Self::open(Scope::Shared(name.to_owned()))
    }

    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.0.get(key)?)
    }

    pub fn set(&self, key: &str, value: impl AsRef<[u8]>) -> Result<()> {
        Ok(self.0.set(key, value.as_ref())?)
    }

    pub fn delete(&self, key: &str) -> Result<()> {
        Ok(self.0.delete(key)?)
    }

    pub fn exists(&self, key: &str) -> Result<bool> {
        Ok(self.0.exists(key)?)
    }

    /// Keys starting with `prefix`, sorted.
    pub fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self.0.list_keys(prefix)?)
    }

    /// Sets `key` to `new` only if it still holds `expected` (`None` = absent).
    pub fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: impl AsRef<[u8]>,
    ) -> Result<bool> {
        Ok(self.0.compare_and_swap(key, expected, new.as_ref())?)
    }

    pub fn get_string(&self, key: &str) -> Result<Option<String>> {
        self.get(key)?
            .map(|bytes| {
                String::from_utf8(bytes)
                    .map_err(|e| crate::Error::msg(format!("state key `{key}` is not UTF-8: {e}")))
            })
            .transpose()
    }

    pub fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        Ok(self
            .get(key)?
            .map(|bytes| serde_json::from_slice(&bytes))
            .transpose()?)
    }

    pub fn set_json<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<()> {
        self.set(key, serde_json::to_vec(value)?)
    }

    /// Atomically updates a JSON value: reads it, applies `f`, and writes it
    /// back with compare-and-swap, retrying if another run wrote in between.
    pub fn update_json<T, F>(&self, key: &str, mut f: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(Option<T>) -> T,
    {
        loop {
            let current = self.get(key)?;
            let value = current.as_deref().map(serde_json::from_slice).transpose()?;
            let next = f(value);
            if self.compare_and_swap(key, current.as_deref(), serde_json::to_vec(&next)?)? {
                return Ok(next);
            }
        }
    }
}

/// The value of `key` in the spell's private scope.
pub fn get(key: &str) -> Result<Option<Vec<u8>>> {
    Bucket::spell()?.get(key)
}

/// Sets `key` in the spell's private scope.
pub fn set(key: &str, value: impl AsRef<[u8]>) -> Result<()> {
    Bucket::spell()?.set(key, value)
}

/// Removes `key` from the spell's private scope.
pub fn delete(key: &str) -> Result<()> {
    Bucket::spell()?.delete(key)
}

pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>> {
    Bucket::spell()?.get_json(key)
}

pub fn set_json<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<()> {
    Bucket::spell()?.set_json(key, value)
}
