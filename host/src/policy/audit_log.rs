//! The audit trail shared by every process of a deployment (`[audit] url`
//! in spellhost.toml): capability uses and denials of every run, wherever
//! it ran, in one place.
//!
//! | setting | where records go |
//! |---|---|
//! | `redis://…` | the stream `spellhost:audit` (`XADD … MAXLEN ~ 1000000`), field `record` |
//! | `postgres://…` | the table `spellhost_audit (id, at, record jsonb)`, queryable with SQL |
//! | a path | a JSON-lines file, appended (as `spellhost run --audit FILE`) |
//!
//! A remote sink never holds up a run: records are queued and written in
//! order by one task. While the server is away they are kept in memory (up
//! to [`BACKLOG`]; past that the oldest are dropped and counted) and the
//! first failure is logged naming the setting; they are written when it
//! is back. `spellhost run` waits for its records before it exits.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::audit::{Audit, AuditSink};
use crate::bridges::state::backend::{ServerUrl, server_url};

/// Records a remote sink keeps while its server is away.
pub const BACKLOG: usize = 100_000;

/// Entries the Redis stream keeps (approximately).
const STREAM_LENGTH: usize = 1_000_000;

/// Where the audit trail is kept (`[audit] url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditBackend {
    File(PathBuf),
    Redis(String),
    Postgres(String),
}

impl AuditBackend {
    /// Reads an `[audit] url` setting.
    pub fn parse(setting: &str) -> Result<Self, String> {
        let setting = setting.trim();
        let shown = crate::bridges::state::backend::redact(setting);
        match server_url("[audit] url", setting)? {
            ServerUrl::Redis(url) => Ok(Self::Redis(url.to_owned())),
            ServerUrl::Postgres(url) => Ok(Self::Postgres(url.to_owned())),
            ServerUrl::Other(Some("file")) => {
                Ok(Self::File(PathBuf::from(&setting["file://".len()..])))
            }
            ServerUrl::Other(Some(other)) => Err(format!(
                "[audit] url {shown}: spellhost has no `{other}` audit sink; use redis://, \
                 postgres:// or a file path"
            )),
            ServerUrl::Other(None) if setting.is_empty() => Err("[audit] url is empty".to_owned()),
            ServerUrl::Other(None) => Ok(Self::File(PathBuf::from(setting))),
        }
    }

    /// Opens the trail (within a tokio runtime for a server's).
    pub fn open(&self) -> anyhow::Result<Audit> {
        Ok(match self {
            Self::File(path) => Audit::open(path)?,
            Self::Redis(url) => Audit::to(Arc::new(RemoteSink::start(Arc::new(
                RedisAppender::open(url).map_err(anyhow::Error::msg)?,
            )))),
            Self::Postgres(url) => {
                Audit::to(Arc::new(RemoteSink::start(Arc::new(PostgresAppender {
                    db: crate::pg::Database::open(url, "[audit] url", "audit trail")
                        .map_err(anyhow::Error::msg)?,
                }))))
            }
        })
    }
}

/// Writes records to a server, in order.
#[async_trait::async_trait]
trait Appender: Send + Sync + 'static {
    /// The setting, password hidden, for messages.
    fn shown(&self) -> &str;
    async fn append(&self, records: &[String]) -> Result<(), String>;
}

enum Queued {
    Record(String),
    Flush(oneshot::Sender<()>),
}

/// A sink that queues records for a task writing them to a server.
struct RemoteSink {
    queue: mpsc::UnboundedSender<Queued>,
}

impl RemoteSink {
    fn start(appender: Arc<dyn Appender>) -> Self {
        let (queue, queued) = mpsc::unbounded_channel();
        tokio::spawn(write(appender, queued));
        Self { queue }
    }
}

impl AuditSink for RemoteSink {
    fn append(&self, record: serde_json::Value) {
        let _ = self.queue.send(Queued::Record(record.to_string()));
    }

    fn flush(&self, within: Duration) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(async move {
            let (done, written) = oneshot::channel();
            if self.queue.send(Queued::Flush(done)).is_ok() {
                let _ = tokio::time::timeout(within, written).await;
            }
        })
    }
}

/// Writes what is queued, in batches, keeping what the server did not take.
async fn write(appender: Arc<dyn Appender>, mut queued: mpsc::UnboundedReceiver<Queued>) {
    let mut backlog: VecDeque<String> = VecDeque::new();
    let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
    let mut dropped = 0u64;
    let mut failing = false;
    loop {
        // Wait for something while nothing is pending; otherwise take what
        // is there and try again.
        if backlog.is_empty() && flushes.is_empty() {
            match queued.recv().await {
                Some(Queued::Record(record)) => backlog.push_back(record),
                Some(Queued::Flush(done)) => flushes.push(done),
                None => return,
            }
        }
        while let Ok(next) = queued.try_recv() {
            match next {
                Queued::Record(record) => backlog.push_back(record),
                Queued::Flush(done) => flushes.push(done),
            }
        }
        while backlog.len() > BACKLOG {
            backlog.pop_front();
            dropped += 1;
        }
        if backlog.is_empty() {
            for done in flushes.drain(..) {
                let _ = done.send(());
            }
            continue;
        }
        let batch: Vec<String> = backlog.iter().take(500).cloned().collect();
        match appender.append(&batch).await {
            Ok(()) => {
                backlog.drain(..batch.len());
                if failing {
                    tracing::info!("audit records are written to {} again", appender.shown());
                    failing = false;
                }
                if dropped > 0 {
                    tracing::warn!(
                        "{dropped} audit records were dropped while {} was away",
                        appender.shown()
                    );
                    dropped = 0;
                }
            }
            Err(err) => {
                if !failing {
                    tracing::warn!(
                        "audit records cannot be written ({err}); keeping them (up to {BACKLOG}) \
                         and retrying"
                    );
                    failing = true;
                }
                // A flush waits no longer for a server that is away.
                for done in flushes.drain(..) {
                    let _ = done.send(());
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

struct RedisAppender {
    connection: redis::aio::ConnectionManager,
    shown: String,
}

impl RedisAppender {
    fn open(url: &str) -> Result<Self, String> {
        let shown = format!(
            "[audit] url {}",
            crate::bridges::state::backend::redact(url)
        );
        let client =
            redis::Client::open(url).map_err(|e| format!("{shown}: not a Redis URL: {e}"))?;
        let connection = client
            .get_connection_manager_lazy(
                redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(5)))
                    .set_response_timeout(Some(Duration::from_secs(5)))
                    .set_number_of_retries(1),
            )
            .map_err(|e| format!("{shown}: {e}"))?;
        Ok(Self { connection, shown })
    }
}

#[async_trait::async_trait]
impl Appender for RedisAppender {
    fn shown(&self) -> &str {
        &self.shown
    }

    async fn append(&self, records: &[String]) -> Result<(), String> {
        let mut pipe = redis::pipe();
        for record in records {
            pipe.cmd("XADD")
                .arg("spellhost:audit")
                .arg("MAXLEN")
                .arg("~")
                .arg(STREAM_LENGTH)
                .arg("*")
                .arg("record")
                .arg(record)
                .ignore();
        }
        pipe.query_async::<()>(&mut self.connection.clone())
            .await
            .map_err(|e| format!("{}: {e}", self.shown))
    }
}

struct PostgresAppender {
    db: crate::pg::Database,
}

#[async_trait::async_trait]
impl Appender for PostgresAppender {
    fn shown(&self) -> &str {
        "[audit] url"
    }

    async fn append(&self, records: &[String]) -> Result<(), String> {
        const INSERT: &str = "INSERT INTO spellhost_audit (record)
                              SELECT r::jsonb FROM unnest($1::text[]) AS r";
        let client = self.db.client().await?;
        let Err(err) = client.execute(INSERT, &[&records]).await else {
            return Ok(());
        };
        // A record the database refuses (a data error, class 22) must not
        // hold up the others: they go one by one, and it is dropped.
        let refused = err.code().is_some_and(|code| code.code().starts_with("22"));
        if !refused {
            return Err(self.db.failed_db("writing audit records", &err));
        }
        for record in records {
            if let Err(err) = client.execute(INSERT, &[&vec![record.clone()]]).await {
                tracing::warn!(
                    "an audit record was refused and dropped: {}",
                    crate::pg::describe(&err)
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_pick_a_sink_and_bad_ones_say_what_works() {
        assert_eq!(
            AuditBackend::parse("audit.jsonl").unwrap(),
            AuditBackend::File("audit.jsonl".into())
        );
        assert_eq!(
            AuditBackend::parse("redis://h/0").unwrap(),
            AuditBackend::Redis("redis://h/0".into())
        );
        let err = AuditBackend::parse("kafka://u:pw@h").unwrap_err();
        assert!(err.contains("[audit] url") && !err.contains("pw@"), "{err}");
        let err = AuditBackend::parse("postgres://u:pw@h:port/db").unwrap_err();
        assert!(
            err.contains("not a PostgreSQL URL") && !err.contains("pw@"),
            "{err}"
        );
    }
}
