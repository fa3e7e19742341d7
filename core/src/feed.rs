//! One change feed per process: writers publish "this record changed" after they commit, and
//! every GraphQL subscription of the process listens to the same feed instead of polling the
//! database. Idle subscribers cost nothing; a change costs one read per subscriber of it.
//!
//! Within a process the feed is a broadcast channel. On PostgreSQL it also goes through
//! `NOTIFY wharf_changes`, and each process LISTENs on one connection, so a change made by a
//! `wharf worker` reaches the subscribers of every `wharf serve`. On SQLite (the embedded
//! default, workers in-process) the broadcast alone carries it.
use std::sync::Arc;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use tokio::sync::broadcast;

/// What kind of record changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// A quote's status; the key is the quote id.
    Quote,
    /// A web-core balance; the key is the access token.
    Balance,
    /// Replications; the key is the dataset id, or empty for "any".
    Replication,
    /// A compute job; the key is the job id.
    ComputeJob,
}

impl Topic {
    fn as_str(self) -> &'static str {
        match self {
            Topic::Quote => "quote",
            Topic::Balance => "balance",
            Topic::Replication => "replication",
            Topic::ComputeJob => "compute",
        }
    }

    fn parse(text: &str) -> Option<Topic> {
        [
            Topic::Quote,
            Topic::Balance,
            Topic::Replication,
            Topic::ComputeJob,
        ]
        .into_iter()
        .find(|t| t.as_str() == text)
    }
}

/// One change: a record of `topic` named by `key`. An empty key means "anything of this
/// topic may have changed" (also sent after the feed itself lost messages). `value` carries
/// the record's new value when the writer knows it (a balance), so subscribers need not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub topic: Topic,
    pub key: String,
    pub value: Option<i64>,
}

impl Change {
    /// Whether a subscriber of (`topic`, `key`) should look again.
    pub fn concerns(&self, topic: Topic, key: &str) -> bool {
        self.topic == topic && (self.key.is_empty() || self.key == key)
    }
}

const CHANNEL: &str = "wharf_changes";

#[derive(Clone)]
pub struct ChangeFeed {
    inner: Arc<Inner>,
}

struct Inner {
    local: broadcast::Sender<Change>,
    /// Set on PostgreSQL: where changes are NOTIFYed.
    postgres: Option<DatabaseConnection>,
    /// Distinguishes this process's own notifications when they come back.
    origin: String,
    listener: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.listener.take() {
            task.abort();
        }
    }
}

impl ChangeFeed {
    /// The feed of a process over `db`; on PostgreSQL it starts listening.
    pub fn start(db: &DatabaseConnection) -> ChangeFeed {
        let (local, _) = broadcast::channel(4096);
        let origin = ulid::Ulid::generate().to_string();
        let (postgres, listener) = match db.get_database_backend() {
            DbBackend::Postgres => {
                let pool = db.get_postgres_connection_pool().clone();
                let task = tokio::spawn(listen(pool, local.clone(), origin.clone()));
                (Some(db.clone()), Some(task))
            }
            _ => (None, None),
        };
        ChangeFeed {
            inner: Arc::new(Inner {
                local,
                postgres,
                origin,
                listener,
            }),
        }
    }

    /// Announces a committed change. Never fails the caller: a change that cannot be
    /// announced is logged, and subscribers still see it on their next change or resync.
    pub async fn publish(&self, topic: Topic, key: &str) {
        self.publish_value(topic, key, None).await
    }

    /// Announces a committed change and the record's new value.
    pub async fn publish_value(&self, topic: Topic, key: &str, value: Option<i64>) {
        let change = Change {
            topic,
            key: key.to_string(),
            value,
        };
        // No receivers is not an error: nobody is subscribed.
        let _ = self.inner.local.send(change);
        if let Some(db) = &self.inner.postgres {
            let value = value.map(|v| v.to_string()).unwrap_or_default();
            let payload = format!("{}|{}|{value}|{key}", self.inner.origin, topic.as_str());
            let sent = db
                .execute_raw(sea_orm::Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_notify($1, $2)",
                    [CHANNEL.into(), payload.into()],
                ))
                .await;
            if let Err(e) = sent {
                tracing::warn!(error = %e, topic = topic.as_str(), "could not announce a change");
            }
        }
    }

    /// Every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.inner.local.subscribe()
    }
}

/// Waits for the next change of (`topic`, `key`) on `changes`, with the new value when the
/// writer gave it. A receiver that fell behind takes that as a change of unknown value (it
/// cannot know what it missed). `None` when the feed is gone.
pub async fn next_change(
    changes: &mut broadcast::Receiver<Change>,
    topic: Topic,
    key: &str,
) -> Option<Option<i64>> {
    loop {
        match changes.recv().await {
            Ok(change) if change.concerns(topic, key) => {
                return Some(change.value.filter(|_| !change.key.is_empty()));
            }
            Ok(_) => continue,
            Err(broadcast::error::RecvError::Lagged(_)) => return Some(None),
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

/// Forwards other processes' notifications into the local feed, reconnecting as needed.
async fn listen(pool: sea_orm::sqlx::PgPool, local: broadcast::Sender<Change>, origin: String) {
    use sea_orm::sqlx::postgres::PgListener;
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "change feed: cannot listen; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "change feed: LISTEN failed; retrying");
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            continue;
        }
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    let mut parts = notification.payload().splitn(4, '|');
                    let (Some(from), Some(topic), Some(value), Some(key)) =
                        (parts.next(), parts.next(), parts.next(), parts.next())
                    else {
                        continue;
                    };
                    if from == origin {
                        continue;
                    }
                    if let Some(topic) = Topic::parse(topic) {
                        let _ = local.send(Change {
                            topic,
                            key: key.to_string(),
                            value: value.parse().ok(),
                        });
                    }
                }
                // The connection dropped and was re-established: what was sent meanwhile is
                // lost, so every subscriber looks again.
                Ok(None) => resync(&local),
                Err(e) => {
                    tracing::warn!(error = %e, "change feed: listening failed; reconnecting");
                    resync(&local);
                    break;
                }
            }
        }
    }
}

fn resync(local: &broadcast::Sender<Change>) {
    for topic in [
        Topic::Quote,
        Topic::Balance,
        Topic::Replication,
        Topic::ComputeJob,
    ] {
        let _ = local.send(Change {
            topic,
            key: String::new(),
            value: None,
        });
    }
}
