//! State on Redis (`[state] url = "redis://…"`), shared by every process
//! that names the same server.
//!
//! Each namespace is one hash, `spellhost:state:<namespace>`, its keys the
//! hash's fields: a namespace lives in one slot (so a Redis Cluster works),
//! and listing is `HSCAN` with a `MATCH` prefix, never `KEYS`.
//! Writes and deletes are Lua scripts the server runs atomically — not
//! `WATCH`/`MULTI` on a shared connection, where another caller's
//! commands interleave and an aborted `EXEC` is easy to miss. What a
//! namespace holds is kept in two fields of its own hash whose names start
//! with a NUL byte, which no key may (see `bridges::state`): the counters
//! live in the namespace's slot, and each write checks its quota against
//! them in the same script. A hash written before quotas is counted once,
//! by the first script that finds no counters.
//!
//! The connection is made on first use and remade after a failure; an
//! operation waits at most [`TIMEOUT`] for the server, then fails with the
//! setting to check (the URL with its password hidden).

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::store::{Condition, StateStore, StoreError, Usage, WriteError, check_quota};
use crate::limits::StateQuota;

/// How long one operation waits for the server (connecting included).
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Hash keys start with this.
const PREFIX: &str = "spellhost:state:";

/// Reads (or, the first time, counts) the usage of `KEYS[1]`: sets the
/// locals `bytes` and `keys`. Shared by the scripts below.
const USAGE: &str = r"
local h = KEYS[1]
local bytes = redis.call('HGET', h, '\0bytes')
local keys
if bytes then
  bytes = tonumber(bytes)
  keys = tonumber(redis.call('HGET', h, '\0keys'))
else
  bytes, keys = 0, 0
  local all = redis.call('HGETALL', h)
  for i = 1, #all, 2 do
    if string.byte(all[i], 1) ~= 0 then
      bytes = bytes + #all[i] + #all[i + 1]
      keys = keys + 1
    end
  end
end
";

/// Sets field `ARGV[1]` of `KEYS[1]` to `ARGV[3]` if the condition holds
/// (`ARGV[2]`: `any`, `absent`, or `value` = equal to `ARGV[4]`) and the
/// namespace stays within `ARGV[5]` bytes and `ARGV[6]` keys. Returns
/// `{status, bytes, keys}` — 1 written, 0 condition failed, -1 over quota
/// — with the usage before the write.
const WRITE: &str = r"
local current = redis.call('HGET', h, ARGV[1])
if ARGV[2] == 'absent' then
  if current then return {0, bytes, keys} end
elseif ARGV[2] == 'value' then
  if current ~= ARGV[4] then return {0, bytes, keys} end
end
local after_bytes = bytes + #ARGV[1] + #ARGV[3]
local after_keys = keys + 1
if current then
  after_bytes = after_bytes - #ARGV[1] - #current
  after_keys = keys
end
if (after_bytes > bytes and after_bytes > tonumber(ARGV[5]))
  or (after_keys > keys and after_keys > tonumber(ARGV[6])) then
  return {-1, bytes, keys}
end
redis.call('HSET', h, ARGV[1], ARGV[3], '\0bytes', after_bytes, '\0keys', after_keys)
return {1, bytes, keys}
";

/// Removes field `ARGV[1]` of `KEYS[1]`, counting it out; the hash goes
/// when only its counters are left.
const DELETE: &str = r"
local current = redis.call('HGET', h, ARGV[1])
if not current then return 0 end
redis.call('HDEL', h, ARGV[1])
keys = keys - 1
if redis.call('HLEN', h) <= 2 then
  redis.call('DEL', h)
else
  redis.call('HSET', h, '\0bytes', bytes - #ARGV[1] - #current, '\0keys', keys)
end
return 1
";

/// Answers `{bytes, keys}` of `KEYS[1]`.
const READ_USAGE: &str = "return {bytes, keys}";

/// A state store on a Redis server.
pub struct RedisStore {
    connection: ConnectionManager,
    /// The URL without its password, for errors.
    shown: String,
    write: redis::Script,
    delete: redis::Script,
    usage: redis::Script,
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
            write: redis::Script::new(&format!("{USAGE}{WRITE}")),
            delete: redis::Script::new(&format!("{USAGE}{DELETE}")),
            usage: redis::Script::new(&format!("{USAGE}{READ_USAGE}")),
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

    async fn write(
        &self,
        namespace: &str,
        key: &str,
        value: Vec<u8>,
        condition: Condition,
        quota: StateQuota,
    ) -> Result<bool, WriteError> {
        let mut invocation = self.write.key(Self::hash(namespace));
        invocation.arg(key);
        match &condition {
            Condition::Any => invocation.arg("any").arg(value.as_slice()).arg(""),
            Condition::Absent => invocation.arg("absent").arg(value.as_slice()).arg(""),
            Condition::Equals(expected) => invocation
                .arg("value")
                .arg(value.as_slice())
                .arg(expected.as_slice()),
        };
        invocation.arg(quota.bytes).arg(quota.keys);
        let (status, bytes, keys): (i64, i64, i64) = invocation
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(|e| self.failed("writing", e))?;
        match status {
            1 => Ok(true),
            0 => Ok(false),
            _ => {
                let before = Usage::from_counts(bytes, keys);
                // The script refused for the same reason this finds.
                let current = self.get(namespace, key).await?;
                let after = before.after(
                    key,
                    current.map(|v| v.len() as u64),
                    Some(value.len() as u64),
                );
                check_quota(namespace, before, after, quota)?;
                Err(WriteError::Store(StoreError(format!(
                    "state on Redis, [state] url {}: the write to `{namespace}` was refused for its quota",
                    self.shown
                ))))
            }
        }
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<(), StoreError> {
        let mut invocation = self.delete.key(Self::hash(namespace));
        invocation.arg(key);
        invocation
            .invoke_async::<i64>(&mut self.connection.clone())
            .await
            .map(drop)
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
                    .filter(|field| field.first() != Some(&0))
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

    async fn usage(&self, prefix: &str) -> Result<Vec<(String, Usage)>, StoreError> {
        let pattern = format!("{PREFIX}{}", match_prefix(prefix));
        let mut connection = self.connection.clone();
        let mut hashes = Vec::new();
        let mut cursor = "0".to_owned();
        loop {
            let (next, page): (String, Vec<String>) = redis::cmd("SCAN")
                .arg(&cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut connection)
                .await
                .map_err(|e| self.failed("listing namespaces", e))?;
            hashes.extend(page);
            if next == "0" {
                break;
            }
            cursor = next;
        }
        hashes.sort();
        hashes.dedup();
        let mut all = Vec::new();
        for hash in hashes {
            let (bytes, keys): (i64, i64) = self
                .usage
                .key(&hash)
                .invoke_async(&mut connection)
                .await
                .map_err(|e| self.failed("reading usage", e))?;
            if keys > 0 {
                let name = hash[PREFIX.len()..].to_owned();
                all.push((name, Usage::from_counts(bytes, keys)));
            }
        }
        Ok(all)
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
