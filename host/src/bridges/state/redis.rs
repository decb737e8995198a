//! State on Redis (`[state] url = "redis://…"`), shared by every process
//! that names the same server.
//!
//! Each namespace is one hash, `spellhost:state:<namespace>`, its keys the
//! hash's fields: a namespace lives in one slot (so a Redis Cluster works),
//! and listing is `HSCAN` with a `MATCH` prefix, never `KEYS`.
//! Compare-and-swap is one Lua script the server runs atomically — not
//! `WATCH`/`MULTI` on a shared connection, where another caller's
//! commands interleave and an aborted `EXEC` is easy to miss.
//!
//! The connection is made on first use and remade after a failure; an
//! operation waits at most [`TIMEOUT`] for the server, then fails with the
//! setting to check (the URL with its password hidden).

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::store::{StateStore, StoreError};

/// How long one operation waits for the server (connecting included).
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Hash keys start with this.
const PREFIX: &str = "spellhost:state:";

/// Sets `KEYS[1]`'s field `ARGV[1]` to `ARGV[3]` iff it is absent
/// (`ARGV[2]` = "absent") or equals `ARGV[2]`'s bytes (`ARGV[2]` = "value",
/// compared with `ARGV[4]`). Returns 1 if it swapped.
const CAS: &str = r"
local current = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] == 'absent' then
  if current then return 0 end
elseif current ~= ARGV[4] then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
";

/// A state store on a Redis server.
pub struct RedisStore {
    connection: ConnectionManager,
    /// The URL without its password, for errors.
    shown: String,
    cas: redis::Script,
}

impl RedisStore {
    /// A store on the server `url` names (`redis://[user:password@]host[:port][/db]`,
    /// or `rediss://` for TLS). The URL is checked now; the server is
    /// reached on first use.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let shown = super::backend::redact(url);
        let client = redis::Client::open(url)
            .map_err(|e| StoreError(format!("[state] url {shown}: not a Redis URL: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1);
        let connection = client
            .get_connection_manager_lazy(config)
            .map_err(|e| StoreError(format!("[state] url {shown}: {e}")))?;
        Ok(Self {
            connection,
            shown,
            cas: redis::Script::new(CAS),
        })
    }

    fn hash(namespace: &str) -> String {
        format!("{PREFIX}{namespace}")
    }

    fn failed(&self, what: &str, err: redis::RedisError) -> StoreError {
        let why = if err.is_timeout() {
            format!("no answer within {}s", TIMEOUT.as_secs())
        } else if err.is_connection_refusal() || err.is_io_error() {
            format!("the server is unreachable ({err})")
        } else {
            err.to_string()
        };
        StoreError(format!(
            "state on Redis, [state] url {}: {what} failed: {why}; check the setting and that the server is up",
            self.shown
        ))
    }
}

/// `prefix` as a `MATCH` pattern: its glob characters escaped, then `*`.
fn match_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('*');
    pattern
}

#[async_trait::async_trait]
impl StateStore for RedisStore {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        redis::cmd("HGET")
            .arg(Self::hash(namespace))
            .arg(key)
            .query_async(&mut self.connection.clone())
            .await
            .map_err(|e| self.failed("reading", e))
    }

    async fn set(&self, namespace: &str, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        redis::cmd("HSET")
            .arg(Self::hash(namespace))
            .arg(key)
            .arg(value)
            .query_async::<()>(&mut self.connection.clone())
            .await
            .map_err(|e| self.failed("writing", e))
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<(), StoreError> {
        redis::cmd("HDEL")
            .arg(Self::hash(namespace))
            .arg(key)
            .query_async::<()>(&mut self.connection.clone())
            .await
            .map_err(|e| self.failed("deleting", e))
    }

    async fn list_keys(&self, namespace: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        let hash = Self::hash(namespace);
        let pattern = match_prefix(prefix);
        let mut connection = self.connection.clone();
        let mut keys = Vec::new();
        let mut cursor = "0".to_owned();
        loop {
            // HSCAN answers fields and values; NOVALUES (Redis 7.4) is not
            // on every server yet.
            let (next, page): (String, Vec<Vec<u8>>) = redis::cmd("HSCAN")
                .arg(&hash)
                .arg(&cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut connection)
                .await
                .map_err(|e| self.failed("listing", e))?;
            keys.extend(
                page.into_iter()
                    .step_by(2)
                    .map(|field| String::from_utf8_lossy(&field).into_owned()),
            );
            if next == "0" {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    async fn compare_and_swap(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> Result<bool, StoreError> {
        let mut invocation = self.cas.key(Self::hash(namespace));
        invocation.arg(key);
        match &expected {
            None => invocation.arg("absent").arg(new).arg(""),
            Some(expected) => invocation.arg("value").arg(new).arg(expected.as_slice()),
        };
        let swapped: i64 = invocation
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(|e| self.failed("compare-and-swap", e))?;
        Ok(swapped == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_matches_itself_only() {
        assert_eq!(match_prefix("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\*");
        assert_eq!(match_prefix(""), "*");
    }

    #[test]
    fn a_bad_url_names_the_setting_and_hides_the_password() {
        let Err(err) = RedisStore::open("redis://user:hunter2@[::1") else {
            panic!("a malformed URL was accepted");
        };
        assert!(err.0.contains("[state] url"), "{err}");
        assert!(!err.0.contains("hunter2"), "{err}");
    }
}
