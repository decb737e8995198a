//! Which store holds the persistent scopes (`spell`, `shared`): chosen by
//! configuration, as Spin's runtime config picks a key-value backend —
//! `[state] url` in spellhost.toml, else `--state-db`, else the embedded
//! SQLite file:
//!
//! | setting | store |
//! |---|---|
//! | `redis://…`, `rediss://…` | [`RedisStore`](super::RedisStore) |
//! | `postgres://…`, `postgresql://…` | [`PostgresStore`](super::PostgresStore) |
//! | `sqlite://PATH` or a path | [`SqliteStore`](super::SqliteStore) |
//!
//! A setting is checked when it is read (scheme, URL syntax); a server is
//! reached when the first run touches state.

use std::path::PathBuf;
use std::sync::Arc;

use super::{PostgresStore, RedisStore, SqliteStore, StateStore, StoreError};

/// A persistent store, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateBackend {
    Sqlite(PathBuf),
    Redis(String),
    Postgres(String),
}

impl StateBackend {
    /// Reads a `[state] url` setting.
    pub fn parse(setting: &str) -> Result<Self, StoreError> {
        let setting = setting.trim();
        let scheme = setting.split_once("://").map(|(scheme, _)| scheme);
        match scheme {
            Some("redis" | "rediss") => Ok(Self::Redis(setting.to_owned())),
            Some("postgres" | "postgresql") => Ok(Self::Postgres(setting.to_owned())),
            Some("sqlite") => Ok(Self::Sqlite(PathBuf::from(&setting["sqlite://".len()..]))),
            Some(other) => Err(StoreError(format!(
                "[state] url {}: spellhost has no `{other}` store; use redis://, rediss://, \
                 postgres:// or a SQLite file path",
                redact(setting)
            ))),
            None if setting.is_empty() => Err(StoreError(
                "[state] url is empty: name a redis:// or postgres:// URL or a SQLite file path"
                    .into(),
            )),
            None => Ok(Self::Sqlite(PathBuf::from(setting))),
        }
    }

    /// Opens the store (checking the URL; servers are reached on first use).
    pub fn open(&self) -> Result<Arc<dyn StateStore>, StoreError> {
        Ok(match self {
            Self::Sqlite(path) => Arc::new(SqliteStore::new(path.clone())),
            Self::Redis(url) => Arc::new(RedisStore::open(url)?),
            Self::Postgres(url) => Arc::new(PostgresStore::open(url)?),
        })
    }
}

/// What a `[…] url` setting names, its syntax checked.
pub enum ServerUrl<'a> {
    Redis(&'a str),
    Postgres(&'a str),
    /// Something else: its scheme, if it has one.
    Other(Option<&'a str>),
}

/// Reads `setting` (trimmed), the value of `name` (`[events] url`): a
/// Redis or PostgreSQL URL must parse; anything else is the caller's.
pub fn server_url<'a>(name: &str, setting: &'a str) -> Result<ServerUrl<'a>, String> {
    let shown = redact(setting);
    match setting.split_once("://").map(|(scheme, _)| scheme) {
        Some("redis" | "rediss") => {
            redis::Client::open(setting)
                .map_err(|e| format!("{name} {shown}: not a Redis URL: {e}"))?;
            Ok(ServerUrl::Redis(setting))
        }
        Some("postgres" | "postgresql") => {
            setting
                .parse::<tokio_postgres::Config>()
                .map_err(|e| format!("{name} {shown}: not a PostgreSQL URL: {e}"))?;
            Ok(ServerUrl::Postgres(setting))
        }
        scheme => Ok(ServerUrl::Other(scheme)),
    }
}

/// `url` with its passwords replaced by `***`, for messages and logs: the
/// part of `user:password@` after the colon, and any `password=` setting
/// (a query parameter, or a PostgreSQL key=value connection string).
pub fn redact(url: &str) -> String {
    let url = hide_password_settings(url);
    let Some((scheme, rest)) = url.split_once("://") else {
        return url;
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.clone(),
        },
        None => url.clone(),
    }
}

/// Replaces the value of every `password=` setting with `***`.
fn hide_password_settings(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.to_ascii_lowercase().find("password=") {
        let value = at + "password=".len();
        out.push_str(&rest[..value]);
        out.push_str("***");
        let end = rest[value..]
            .find(['&', ' ', '#'])
            .map_or(rest.len(), |n| value + n);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_pick_a_store_and_bad_ones_say_what_works() {
        assert_eq!(
            StateBackend::parse("redis://127.0.0.1:6379/0").unwrap(),
            StateBackend::Redis("redis://127.0.0.1:6379/0".into())
        );
        assert_eq!(
            StateBackend::parse("postgresql://u@h/db").unwrap(),
            StateBackend::Postgres("postgresql://u@h/db".into())
        );
        assert_eq!(
            StateBackend::parse("sqlite:///var/lib/s.db").unwrap(),
            StateBackend::Sqlite("/var/lib/s.db".into())
        );
        assert_eq!(
            StateBackend::parse("state.sqlite3").unwrap(),
            StateBackend::Sqlite("state.sqlite3".into())
        );
        let err = StateBackend::parse("mysql://root:pw@db/x").unwrap_err();
        assert!(
            err.0.contains("no `mysql` store") && !err.0.contains("pw@"),
            "{err}"
        );
        assert!(StateBackend::parse(" ").is_err());
    }

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(redact("redis://:s3cret@h:6379/1"), "redis://:***@h:6379/1");
        assert_eq!(
            redact("postgres://me:s3cret@db.internal/app?sslmode=disable"),
            "postgres://me:***@db.internal/app?sslmode=disable"
        );
        assert_eq!(redact("postgres://me@db/app"), "postgres://me@db/app");
        assert_eq!(redact("state.sqlite3"), "state.sqlite3");
        assert_eq!(
            redact("postgres://me@db/app?password=s3cret&sslmode=disable"),
            "postgres://me@db/app?password=***&sslmode=disable"
        );
        assert_eq!(
            redact("host=db user=me password=s3cret dbname=app"),
            "host=db user=me password=*** dbname=app"
        );
    }
}
