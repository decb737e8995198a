//! `LISTEN` on a connection of its own: the wake-up for the run queue and
//! the events outbox. A notification is only a hint — whoever waits on it
//! reads the tables again — so one lost while the connection was down
//! costs nothing: after reconnecting, the listener says so
//! ([`Notice::Reconnected`]) and waiters look again.

use std::time::Duration;

use futures::StreamExt as _;
use tokio::sync::broadcast;
use tokio_postgres::{AsyncMessage, NoTls};

/// What a listener hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A `NOTIFY channel, payload`.
    Notify { channel: String, payload: String },
    /// Listening again after the connection was lost: anything may have
    /// happened meanwhile.
    Reconnected,
}

/// Listens until dropped.
pub struct Listener {
    notices: broadcast::Sender<Notice>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Listener {
    pub(super) fn start(
        config: tokio_postgres::Config,
        channels: &[&str],
        setting: String,
    ) -> Self {
        let (notices, _) = broadcast::channel(256);
        let statement: String = channels
            .iter()
            .map(|channel| format!("LISTEN {channel};"))
            .collect();
        let task = tokio::spawn(listen(config, statement, notices.clone(), setting));
        Self { notices, task }
    }

    /// Notices from now on. Subscribe before reading the tables, so a
    /// notification in between is not missed.
    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.notices.subscribe()
    }
}

/// Connects, listens and forwards notifications; reconnects when the
/// connection is lost.
async fn listen(
    config: tokio_postgres::Config,
    statement: String,
    notices: broadcast::Sender<Notice>,
    setting: String,
) {
    let mut failing = false;
    let mut connected_before = false;
    loop {
        let listened = async {
            let (client, mut connection) = config.connect(NoTls).await?;
            // Drives the connection, forwarding notifications; ends with it.
            let forward = notices.clone();
            let mut driver = tokio::spawn(async move {
                let mut stream = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
                while let Some(Ok(message)) = stream.next().await {
                    if let AsyncMessage::Notification(n) = message {
                        let _ = forward.send(Notice::Notify {
                            channel: n.channel().to_owned(),
                            payload: n.payload().to_owned(),
                        });
                    }
                }
            });
            if let Err(err) = client.batch_execute(&statement).await {
                driver.abort();
                return Err(err);
            }
            if failing {
                tracing::info!("listening to {setting} again");
            }
            failing = false;
            if connected_before {
                let _ = notices.send(Notice::Reconnected);
            }
            connected_before = true;
            let _ = (&mut driver).await;
            drop(client);
            Ok(())
        };
        if let Err(err) = listened.await
            && !failing
        {
            tracing::warn!(
                "cannot listen to {setting}: {}; retrying",
                super::describe(&err)
            );
            failing = true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
