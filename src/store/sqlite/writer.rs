//! `AuditWriter`: the audit trail's writes of a SQLite file store, made by one thread that owns
//! its own connection (rusqlite, the same SQLite library as sqlx's).
//!
//! Every write queued while the previous transaction ran goes into the next one (group
//! commit), each request's rows under their own savepoint, so one request's failure never
//! undoes another's. The statements are prepared once. A request's write is one hand-off to
//! this thread and one wake-up back, where sqlx's driver hands every statement (`BEGIN`, each
//! `INSERT` or `UPDATE`, `COMMIT`) to its worker thread and back.
//!
//! The store's sqlx connection shares the file: in WAL mode readers never wait for this
//! thread, and whichever of the two writes second waits in SQLite's busy handler.
//!
//! The writer does not let SQLite checkpoint the WAL after its commits (`wal_autocheckpoint =
//! 0`): that checkpoint copies about 1,000 pages back into the database file in the committing
//! thread, while every request queued behind it waits. A third thread, `sqlite-checkpoint`,
//! on its own connection, copies them instead (`PASSIVE`: it never holds the write lock), after
//! every `CHECKPOINT_EVERY` transactions of the writer. The writer commits meanwhile, so that
//! checkpoint never ends with the whole WAL copied, and SQLite starts the WAL file over only
//! when it is: after each of them the writer checkpoints once itself, copying only what it
//! wrote in the meantime, and its next transaction starts the WAL over (the file stays a few
//! MB instead of growing for as long as writes keep coming). It asks for the next checkpoint
//! only after that: one running beside the writer's own would make it fail (`SQLITE_BUSY`).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, LazyLock};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::types::ToSqlOutput;
use rusqlite::{params_from_iter, Connection, OpenFlags, ToSql, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::{BUSY_TIMEOUT, CACHE_KIB};
use crate::store::sql::{self, Value};
use crate::store::{AuditRow, StoreError};

/// Writes waiting for the thread; a full queue makes callers wait (back-pressure, bounded memory).
const QUEUE: usize = 1024;
/// Most rows written in one transaction.
const MAX_ROWS: usize = 2000;
/// The writer's transactions between two checkpoints: a few pages each, so the WAL stays near
/// SQLite's own default of 1,000 pages (4 MB).
const CHECKPOINT_EVERY: u32 = 200;

/// One audit row's `INSERT`, with numbered parameters (`?N`) in `audit_columns!` order.
static INSERT: LazyLock<String> = LazyLock::new(|| {
    let parameters: Vec<String> = (1..=sql::AUDIT_VALUES).map(|n| format!("?{n}")).collect();
    format!(
        "INSERT INTO audit_events ({}) VALUES ({})",
        sql::AUDIT_COLUMNS,
        parameters.join(", ")
    )
});

/// `FINISH_AUDIT` with SQLite's numbered parameters: `$N` would be a named one, numbered in
/// order of appearance.
static FINISH: LazyLock<String> = LazyLock::new(|| sql::FINISH_AUDIT.replace('$', "?"));

/// How long the writer sleeps before it tries again for the write lock that the store's
/// sqlx connection holds (for at most `BUSY_TIMEOUT` in all). SQLite's own busy handler
/// sleeps 1, 2, 5, 10 ms and longer, which every request queued behind the writer would wait
/// for, where the lock is held for a statement's time: tens of microseconds.
const LOCK_RETRY: Duration = Duration::from_micros(50);

/// SQLite's busy handler for the writer's connection: `true` to try again after `LOCK_RETRY`.
fn wait_for_lock(attempts: i32) -> bool {
    let waited = LOCK_RETRY * u32::try_from(attempts).unwrap_or(u32::MAX);
    if waited >= BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(LOCK_RETRY);
    true
}

/// The writer of a SQLite file store's audit rows; its thread ends when this is closed or
/// dropped.
#[derive(Debug)]
pub struct AuditWriter {
    queue: mpsc::Sender<Message>,
}

enum Message {
    Write(Write),
    /// Write what came before, then stop and answer.
    Close(oneshot::Sender<()>),
}

struct Write {
    kind: Kind,
    rows: Vec<AuditRow>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Pending,
    Finish,
}

impl Kind {
    fn operation(self) -> &'static str {
        match self {
            Self::Pending => "record pending audit rows",
            Self::Finish => "record audit outcomes",
        }
    }
}

/// The answer to a write sent after `close`.
#[derive(Debug, thiserror::Error)]
#[error("the SQLite audit writer is closed")]
struct Closed;

impl AuditWriter {
    /// Opens `path` (an existing database, already migrated) and starts the thread.
    pub(super) fn open(path: &Path, read_only: bool) -> Result<Self, StoreError> {
        const OPERATION: &str = "open the SQLite audit writer";
        let access = if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE
        };
        let connection = connect(path, access).map_err(StoreError::database(OPERATION))?;
        let checkpointer = match read_only {
            true => None,
            false => Some(Checkpointer::start(path)?),
        };
        let (queue, receiver) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("sqlite-audit".into())
            .spawn(move || run(connection, receiver, checkpointer))
            .map_err(StoreError::database(OPERATION))?;
        Ok(Self { queue })
    }

    /// `Store::insert_pending`.
    pub async fn insert_pending(&self, rows: &[AuditRow]) -> Result<(), StoreError> {
        self.submit(Kind::Pending, rows).await
    }

    /// `Store::finish`.
    pub async fn finish(&self, rows: &[AuditRow]) -> Result<(), StoreError> {
        self.submit(Kind::Finish, rows).await
    }

    /// Waits for the writes already queued, then stops the thread; later writes fail.
    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.queue.send(Message::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
    }

    async fn submit(&self, kind: Kind, rows: &[AuditRow]) -> Result<(), StoreError> {
        let closed = || StoreError::database(kind.operation())(Closed);
        let (done, answer) = oneshot::channel();
        let write = Write {
            kind,
            rows: rows.to_vec(),
            done,
        };
        self.queue
            .send(Message::Write(write))
            .await
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

/// A connection to `path` for the writer or the checkpointer.
fn connect(path: &Path, access: OpenFlags) -> rusqlite::Result<Connection> {
    let mut connection =
        Connection::open_with_flags(path, access | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    connection.busy_handler(Some(wait_for_lock))?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.pragma_update(None, "wal_autocheckpoint", 0)?;
    connection.pragma_update(None, "foreign_keys", true)?;
    connection.pragma_update(None, "cache_size", -CACHE_KIB)?;
    Ok(connection)
}

/// `PRAGMA wal_checkpoint(PASSIVE)`: copies what it can of the WAL into the database file.
fn checkpoint(connection: &Connection) {
    if let Err(e) = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::warn!(error = %e, "The SQLite WAL was not checkpointed.");
    }
}

/// The thread that checkpoints the WAL when the writer asks it to, off the write path.
struct Checkpointer {
    /// Holds at most one request: one asked while a checkpoint runs is the next one.
    asks: std_mpsc::SyncSender<()>,
    /// Set when a checkpoint ended, for the writer to finish (`committed`).
    ended: Arc<AtomicBool>,
    thread: JoinHandle<()>,
    /// The writer's transactions since it last asked.
    commits: u32,
    /// A checkpoint was asked for and the writer has not finished it yet: no other is asked
    /// meanwhile, or the next would run while the writer finishes this one, its checkpoint
    /// would find the WAL busy, and the WAL would never start over.
    asked: bool,
}

impl Checkpointer {
    fn start(path: &Path) -> Result<Self, StoreError> {
        const OPERATION: &str = "open the SQLite checkpointer";
        let connection = connect(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
            .map_err(StoreError::database(OPERATION))?;
        let (asks, asked) = std_mpsc::sync_channel(1);
        let ended = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn({
                let ended = Arc::clone(&ended);
                move || {
                    while asked.recv().is_ok() {
                        checkpoint(&connection);
                        ended.store(true, Ordering::Release);
                    }
                }
            })
            .map_err(StoreError::database(OPERATION))?;
        Ok(Self {
            asks,
            ended,
            thread,
            commits: 0,
            asked: false,
        })
    }

    /// After each transaction of the writer (on `connection`): finishes a checkpoint that
    /// ended since, and every `CHECKPOINT_EVERY`th, once that one is finished, asks for the
    /// next one.
    fn committed(&mut self, connection: &Connection) {
        if self.ended.swap(false, Ordering::Acquire) {
            checkpoint(connection);
            self.asked = false;
        }
        self.commits = self.commits.saturating_add(1);
        if self.commits >= CHECKPOINT_EVERY && !self.asked {
            self.commits = 0;
            // Nothing is queued when none is asked for: this fails only if the thread ended.
            self.asked = self.asks.try_send(()).is_ok();
        }
    }

    /// Lets a running checkpoint finish, then ends the thread.
    fn stop(self) {
        drop(self.asks);
        let _ = self.thread.join();
    }
}

/// The thread: takes every write already queued (up to `MAX_ROWS` rows), commits them in one
/// transaction, answers each, and starts again.
fn run(
    mut connection: Connection,
    mut queue: mpsc::Receiver<Message>,
    mut checkpointer: Option<Checkpointer>,
) {
    while let Some(first) = queue.blocking_recv() {
        let mut writes = Vec::new();
        let mut rows = 0;
        let mut close = None;
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Write(write) => {
                    rows += write.rows.len();
                    writes.push(write);
                }
                Message::Close(done) => {
                    close = Some(done);
                    break;
                }
            }
            if rows < MAX_ROWS {
                next = queue.try_recv().ok();
            }
        }
        if commit(&mut connection, writes) {
            if let Some(checkpointer) = &mut checkpointer {
                checkpointer.committed(&connection);
            }
        }
        if let Some(done) = close {
            drop(connection);
            if let Some(checkpointer) = checkpointer.take() {
                checkpointer.stop();
            }
            let _ = done.send(());
            return;
        }
    }
    if let Some(checkpointer) = checkpointer {
        checkpointer.stop();
    }
}

/// Writes `writes` in one transaction and answers each: its own outcome, or, when the
/// transaction itself failed, that failure (then none of them was written). `true` when a
/// transaction was committed.
fn commit(connection: &mut Connection, writes: Vec<Write>) -> bool {
    if writes.is_empty() {
        return false;
    }
    match write_all(connection, &writes) {
        Ok(outcomes) => {
            for (write, outcome) in writes.into_iter().zip(outcomes) {
                let _ = write.done.send(outcome);
            }
            true
        }
        Err(error) => {
            let error = Arc::new(error);
            for write in writes {
                let failure = StoreError::database(write.kind.operation())(Arc::clone(&error));
                let _ = write.done.send(Err(failure));
            }
            false
        }
    }
}

/// One transaction; with several writes, each under a savepoint that is rolled back when the
/// write fails.
fn write_all(
    connection: &mut Connection,
    writes: &[Write],
) -> rusqlite::Result<Vec<Result<(), StoreError>>> {
    let mut transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let outcomes = if let [only] = writes {
        let outcome = apply(&transaction, only);
        if outcome.is_err() {
            // Dropping the transaction rolls it back.
            return Ok(vec![outcome]);
        }
        vec![outcome]
    } else {
        let mut outcomes = Vec::with_capacity(writes.len());
        for write in writes {
            let savepoint = transaction.savepoint()?;
            let outcome = apply(&savepoint, write);
            if outcome.is_ok() {
                savepoint.commit()?;
            }
            // A failed write's savepoint is rolled back when dropped.
            outcomes.push(outcome);
        }
        outcomes
    };
    transaction.commit()?;
    Ok(outcomes)
}

/// One request's write, all rows or (with the caller's rollback) none.
fn apply(connection: &Connection, write: &Write) -> Result<(), StoreError> {
    let statement = |sql: &str| connection.prepare_cached(sql);
    let written = match write.kind {
        Kind::Pending => statement(&INSERT).and_then(|mut insert| {
            for row in &write.rows {
                insert.execute(params_from_iter(sql::audit_values(row)))?;
            }
            Ok(None)
        }),
        Kind::Finish => statement(&FINISH).and_then(|mut update| {
            for row in &write.rows {
                if update.execute(params_from_iter(sql::outcome_values(row)))? == 0 {
                    return Ok(Some(row));
                }
            }
            Ok(None)
        }),
    };
    match written.map_err(StoreError::database(write.kind.operation()))? {
        None => Ok(()),
        Some(missing) => Err(StoreError::UnknownAuditRow {
            attempt_id: missing.attempt_id.clone(),
            position: missing.position,
        }),
    }
}

impl ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Value::Text(text) => text.to_sql(),
            Value::Int(int) => int.to_sql(),
            Value::Bool(flag) => flag.to_sql(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{pending_row, SqliteStore, Store};

    /// A store on a new file, and a second connection to it for `write_all`.
    async fn open() -> (SqliteStore, Connection, std::path::PathBuf) {
        let path =
            std::env::temp_dir().join(format!("signgate-writer-{}.db", uuid::Uuid::new_v4()));
        let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
            .await
            .expect("a store on a temp file");
        let connection = Connection::open(&path).expect("a second connection");
        (store, connection, path)
    }

    fn write(kind: Kind, codes: &[&str]) -> Write {
        Write {
            kind,
            rows: codes.iter().map(|code| pending_row(code)).collect(),
            done: oneshot::channel().0,
        }
    }

    async fn stored(store: &SqliteStore, code: &str) -> usize {
        store.history(code, 10).await.expect("history").len()
    }

    #[tokio::test]
    async fn each_write_of_a_batch_succeeds_or_fails_alone() {
        let (store, mut connection, path) = open().await;
        let writes = [
            write(Kind::Pending, &["A"]),
            // Its second row is A's again: the whole write fails, its first row included.
            write(Kind::Pending, &["B", "A"]),
            write(Kind::Finish, &["NEVER-INSERTED"]),
            write(Kind::Pending, &["D"]),
        ];

        let outcomes = write_all(&mut connection, &writes).expect("the transaction commits");

        assert!(outcomes[0].is_ok(), "{outcomes:?}");
        assert!(
            matches!(outcomes[1], Err(StoreError::Database { .. })),
            "{outcomes:?}"
        );
        assert!(
            matches!(&outcomes[2], Err(StoreError::UnknownAuditRow { attempt_id, position: 0 }) if attempt_id == "NEVER-INSERTED"),
            "{outcomes:?}"
        );
        assert!(outcomes[3].is_ok(), "{outcomes:?}");
        assert_eq!(stored(&store, "A").await, 1);
        assert_eq!(stored(&store, "B").await, 0);
        assert_eq!(stored(&store, "D").await, 1);
        store.close().await;
        let _ = std::fs::remove_file(path);
    }

    #[tokio::test]
    async fn a_lone_write_that_fails_leaves_nothing() {
        let (store, mut connection, path) = open().await;

        let outcomes = write_all(&mut connection, &[write(Kind::Pending, &["B", "C", "B"])])
            .expect("the transaction is rolled back, not failed");

        assert!(
            matches!(outcomes[..], [Err(StoreError::Database { .. })]),
            "{outcomes:?}"
        );
        assert_eq!(stored(&store, "B").await, 0);
        assert_eq!(stored(&store, "C").await, 0);
        store.close().await;
        let _ = std::fs::remove_file(path);
    }

    /// The audit rows in the database file itself, WAL ignored: those a checkpoint copied.
    /// `None` while a checkpoint is writing the file: read as immutable, it may look torn.
    fn try_checkpointed_rows(path: &Path) -> Option<i64> {
        let uri = format!("file:{}?immutable=1", path.display());
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI;
        let file = Connection::open_with_flags(uri, flags).expect("the file, read as it is");
        file.query_row("SELECT count(*) FROM audit_events", [], |row| row.get(0))
            .ok()
    }

    /// As `try_checkpointed_rows`, where no checkpoint can be running.
    fn checkpointed_rows(path: &Path) -> i64 {
        try_checkpointed_rows(path).expect("a count")
    }

    #[tokio::test]
    async fn the_checkpointer_copies_the_wal_into_the_file_after_every_checkpoint_every_commits() {
        let (store, connection, path) = open().await;
        // The schema, which the migrations left in the WAL, into the file.
        checkpoint(&connection);
        let writer = store.audit_writer().expect("a file store has a writer");
        let write = |i: u32| async move {
            let row = pending_row(&format!("K{i}"));
            writer.insert_pending(std::slice::from_ref(&row)).await
        };
        for i in 1..CHECKPOINT_EVERY {
            write(i).await.expect("a write");
        }
        // Nobody checkpoints before the writer asks: the rows are in the WAL only.
        assert_eq!(checkpointed_rows(&path), 0);

        write(CHECKPOINT_EVERY)
            .await
            .expect("the write that asks for a checkpoint");

        let mut copied = 0;
        for _ in 0..500 {
            copied = try_checkpointed_rows(&path).unwrap_or(copied);
            if copied == i64::from(CHECKPOINT_EVERY) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(copied, i64::from(CHECKPOINT_EVERY));
        store.close().await;
        let _ = std::fs::remove_file(path);
    }

    #[tokio::test]
    async fn the_wal_starts_over_while_writes_keep_coming() {
        let (store, _, path) = open().await;
        let writer = store.audit_writer().expect("a file store has a writer");
        let wal = std::path::PathBuf::from(format!("{}-wal", path.display()));
        let wal_bytes = || std::fs::metadata(&wal).map_or(0, |m| m.len());
        let rounds = 20 * CHECKPOINT_EVERY;

        let mut largest = 0;
        for i in 0..rounds {
            let row = pending_row(&format!("W{i}"));
            writer
                .insert_pending(std::slice::from_ref(&row))
                .await
                .expect("a write");
            largest = largest.max(wal_bytes());
            if i % CHECKPOINT_EVERY == 0 {
                // The checkpointer is a thread of its own: on a machine busy with other work it
                // may get no time while this loop commits as fast as it can.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }

        // Each transaction adds four or five pages (4 KiB each) to the WAL: a WAL that never
        // started over would hold at least four pages per transaction; half of that is the
        // bound, whatever the machine's load.
        assert!(
            largest < u64::from(rounds) * 2 * 4096,
            "the WAL grew to {largest} bytes in {rounds} transactions"
        );
        store.close().await;
        let _ = std::fs::remove_file(path);
    }

    #[tokio::test]
    async fn close_waits_for_queued_writes_and_refuses_later_ones() {
        let (store, _, path) = open().await;
        let writer = store.audit_writer().expect("a file store has a writer");
        let rows: Vec<AuditRow> = (0..50).map(|i| pending_row(&format!("C{i}"))).collect();

        let writes = rows
            .iter()
            .map(|row| writer.insert_pending(std::slice::from_ref(row)));
        let (outcomes, ()) = tokio::join!(futures::future::join_all(writes), writer.close());
        let late = writer.insert_pending(&[pending_row("LATE")]).await;

        assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
        assert!(
            matches!(&late, Err(error @ StoreError::Database { .. }) if error.to_string().ends_with("the SQLite audit writer is closed")),
            "{late:?}"
        );
        assert_eq!(stored(&store, "C49").await, 1);
        store.close().await;
        let _ = std::fs::remove_file(path);
    }
}
