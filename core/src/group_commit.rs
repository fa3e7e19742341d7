//! Group commit: concurrent writers of one kind of row hand their rows to a single task that
//! writes whatever has queued up as one transaction.
//!
//! A write transaction on SQLite is serial (one writer connection per process, see
//! `db::writer_for`), and each of its statements is a round trip to sqlx's connection thread.
//! Quotes took five (BEGIN, the quote, its files, COMMIT) and the profile of `POST /getQuote`
//! was thread wake-ups, not SQLite: about 2,000 quotes/s whatever the cores. Batched, the
//! same four statements store every quote that arrived meanwhile.
//!
//! Each caller still gets its own outcome: if a batch fails, its rows are written again one
//! by one, so one bad row fails only its own request. A caller that goes away does not undo
//! its row (as with a transaction that committed just before the client left).
use std::sync::Arc;

use futures::future::BoxFuture;
use sea_orm::DbErr;
use tokio::sync::{mpsc, oneshot};

/// Writes a batch of rows in one transaction.
pub type WriteBatch<T> = Arc<dyn Fn(Vec<T>) -> BoxFuture<'static, Result<(), DbErr>> + Send + Sync>;

struct Pending<T> {
    row: T,
    done: oneshot::Sender<Result<(), DbErr>>,
}

pub struct GroupCommit<T> {
    queue: mpsc::Sender<Pending<T>>,
}

impl<T> Clone for GroupCommit<T> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<T: Clone + Send + 'static> GroupCommit<T> {
    /// Starts the writing task (on the current Tokio runtime); batches hold at most
    /// `max_batch` rows. The task ends when every handle is dropped.
    pub fn start(max_batch: usize, write: WriteBatch<T>) -> Self {
        let max_batch = max_batch.max(1);
        let (queue, mut arrivals) = mpsc::channel::<Pending<T>>(max_batch * 4);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(max_batch);
            while arrivals.recv_many(&mut batch, max_batch).await > 0 {
                let rows: Vec<T> = batch.iter().map(|p| p.row.clone()).collect();
                let outcome = write(rows).await;
                match outcome {
                    Ok(()) => {
                        for pending in batch.drain(..) {
                            let _ = pending.done.send(Ok(()));
                        }
                    }
                    Err(e) if batch.len() == 1 => {
                        if let Some(pending) = batch.pop() {
                            let _ = pending.done.send(Err(e));
                        }
                    }
                    // Which row failed is not known: each is tried on its own.
                    Err(_) => {
                        for pending in batch.drain(..) {
                            let outcome = write(vec![pending.row]).await;
                            let _ = pending.done.send(outcome);
                        }
                    }
                }
            }
        });
        Self { queue }
    }

    /// Queues `row` and waits until the transaction holding it committed (or failed).
    pub async fn write(&self, row: T) -> Result<(), DbErr> {
        let (done, committed) = oneshot::channel();
        self.queue
            .send(Pending { row, done })
            .await
            .map_err(|_| DbErr::Custom("the group-commit task has stopped".into()))?;
        committed
            .await
            .map_err(|_| DbErr::Custom("the group-commit task dropped a write".into()))?
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// The batches a store received.
    type Batches = Arc<Mutex<Vec<Vec<i64>>>>;

    /// A store that records each batch and refuses any batch holding a negative row.
    fn recording() -> (Batches, WriteBatch<i64>) {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let seen = batches.clone();
        let write: WriteBatch<i64> = Arc::new(move |rows: Vec<i64>| {
            let seen = seen.clone();
            Box::pin(async move {
                tokio::task::yield_now().await;
                if rows.iter().any(|r| *r < 0) {
                    return Err(DbErr::Custom("negative".into()));
                }
                seen.lock().unwrap().push(rows);
                Ok(())
            })
        });
        (batches, write)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_rows_are_all_written_in_fewer_transactions_and_a_bad_row_fails_alone() {
        let (batches, write) = recording();
        let commit = GroupCommit::start(64, write);
        let writers: Vec<_> = (-3..500i64)
            .map(|row| {
                let commit = commit.clone();
                tokio::spawn(async move { (row, commit.write(row).await) })
            })
            .collect();
        for writer in writers {
            let (row, outcome) = writer.await.unwrap();
            assert_eq!(outcome.is_ok(), row >= 0, "row {row}: {outcome:?}");
        }
        let batches = batches.lock().unwrap();
        let mut written: Vec<i64> = batches.iter().flatten().copied().collect();
        written.sort();
        assert_eq!(
            written,
            (0..500).collect::<Vec<_>>(),
            "each good row exactly once"
        );
        assert!(
            batches.len() < 500,
            "rows were grouped: {} batches",
            batches.len()
        );
        assert!(batches.iter().all(|b| b.len() <= 64));
    }

    #[tokio::test]
    async fn a_row_whose_writer_went_away_is_still_written() {
        let (batches, write) = recording();
        let slow: WriteBatch<i64> = Arc::new(move |rows| {
            let write = write.clone();
            Box::pin(async move {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                write(rows).await
            })
        });
        let commit = GroupCommit::start(64, slow);
        // The caller gives up (a timeout, a client that left) once its row is queued.
        let gave_up =
            tokio::time::timeout(std::time::Duration::from_millis(5), commit.write(1)).await;
        assert!(gave_up.is_err());
        commit.write(2).await.unwrap();
        let written: Vec<i64> = batches.lock().unwrap().iter().flatten().copied().collect();
        assert_eq!(written, vec![1, 2], "the abandoned row committed, in order");
    }
}
