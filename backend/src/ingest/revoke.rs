//! The revoke coordinator: the work of a partition revocation, off the
//! consumer's poll loop.
//!
//! librdkafka calls the rebalance callback on the thread that polls the
//! consumer, and the partitions are released when the callback returns. Our
//! rule is "committed before the partitions are released": the revoked
//! partitions' open windows are cut, the sketch log acknowledges the cuts,
//! and their offsets are committed — all before the callback returns. That
//! work can take seconds (a slow broker), so it runs on the coordinator's
//! own thread, and the callback waits for it at most `--revoke-timeout`,
//! which is below `max.poll.interval.ms`, so a slow release never costs the
//! member its place in the group.
//!
//! A release that does not finish in time is abandoned: nothing is committed
//! for it after the callback returned (the next owner starts at the last
//! commit and may count again what the late cuts hold). The caller counts
//! it, and the process then claims at-least-once, not exactly-once. So does
//! a release whose cuts the sketch log did not acknowledge; one whose cuts
//! are acknowledged but whose commit the broker refused (mid-rebalance)
//! loses nothing: the next owner reads the cuts back and skips their records.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::SourcePartition;

/// Default of `--revoke-timeout`.
pub const DEFAULT_REVOKE_TIMEOUT: Duration = Duration::from_secs(10);

/// librdkafka's default `max.poll.interval.ms`.
pub const DEFAULT_MAX_POLL_INTERVAL_MS: u64 = 300_000;

/// The three steps of a release, done by the coordinator's thread.
pub trait Release: Send + Sync + 'static {
    /// Cuts the partitions' open windows and marks them revoked; returns the
    /// offsets to commit.
    fn close(&self, partitions: &[SourcePartition]) -> Vec<(SourcePartition, i64)>;
    /// Waits at most `timeout` until the sketch log acknowledged every cut.
    fn flush(&self, timeout: Duration) -> anyhow::Result<()>;
    /// Commits `commits` synchronously.
    fn commit(&self, commits: &[(SourcePartition, i64)]) -> anyhow::Result<()>;
}

/// Why a release did not commit.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// The sketch log did not acknowledge the cuts: the next owner may not
    /// see them when it reads the log back (it may count them again).
    #[error("the cuts were not acknowledged: {0:#}")]
    Unpublished(anyhow::Error),
    /// The cuts are acknowledged but the commit failed (e.g. the broker
    /// refused it mid-rebalance): the next owner reads the cuts back and
    /// skips their records, so nothing is counted twice.
    #[error("the cuts are published, the commit failed: {0:#}")]
    Uncommitted(anyhow::Error),
    /// The callback stopped waiting before the commit.
    #[error("abandoned: the revoke callback stopped waiting")]
    Abandoned,
    /// The coordinator's thread is gone.
    #[error("the revoke coordinator has stopped")]
    Stopped,
}

/// How a release ended, as the revoke callback sees it.
#[derive(Debug)]
pub enum RevokeOutcome {
    /// Cut, acknowledged and committed in time (`n` offsets).
    Committed(usize),
    /// A step failed in time; nothing more is committed for it.
    Failed(ReleaseError),
    /// Not done within the timeout; abandoned (never committed after).
    TimedOut(Duration),
}

/// One release handed to the coordinator.
struct Job {
    partitions: Vec<SourcePartition>,
    deadline: Instant,
    abandoned: Arc<AtomicBool>,
    reply: mpsc::SyncSender<Result<usize, ReleaseError>>,
}

/// Runs releases on a thread of its own; the revoke callback waits for each
/// at most the timeout.
///
/// Dropping it ends the thread and waits for it (at most one release in
/// flight, bounded by its deadline), so nothing the thread holds — the
/// pipeline, its sketch-log producer — outlives the member.
#[derive(Debug)]
pub struct RevokeCoordinator {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
    timeout: Duration,
}

impl Drop for RevokeCoordinator {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the revoke coordinator's thread panicked");
            }
        }
    }
}

impl RevokeCoordinator {
    /// Starts the coordinator's thread; it ends when the coordinator is
    /// dropped.
    pub fn start<R: Release>(release: Arc<R>, timeout: Duration) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("mss-revoke".into())
            .spawn(move || {
                for job in queue {
                    let result = run_job(release.as_ref(), &job);
                    // The callback may have stopped waiting: nobody to tell.
                    let _ = job.reply.send(result);
                }
            })?;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
            timeout,
        })
    }

    /// The longest a revoke callback waits.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Releases `partitions` and waits at most the timeout for it.
    pub fn release(&self, partitions: Vec<SourcePartition>) -> RevokeOutcome {
        let (reply, done) = mpsc::sync_channel(1);
        let abandoned = Arc::new(AtomicBool::new(false));
        let job = Job {
            partitions,
            deadline: Instant::now() + self.timeout,
            abandoned: abandoned.clone(),
            reply,
        };
        let sent = self.jobs.as_ref().is_some_and(|jobs| jobs.send(job).is_ok());
        if !sent {
            return RevokeOutcome::Failed(ReleaseError::Stopped);
        }
        match done.recv_timeout(self.timeout) {
            Ok(Ok(n)) => RevokeOutcome::Committed(n),
            Ok(Err(e)) => RevokeOutcome::Failed(e),
            Err(RecvTimeoutError::Timeout) => {
                abandoned.store(true, Ordering::SeqCst);
                RevokeOutcome::TimedOut(self.timeout)
            }
            Err(RecvTimeoutError::Disconnected) => RevokeOutcome::Failed(ReleaseError::Stopped),
        }
    }
}

/// Close, flush until the deadline, then commit unless the callback gave up.
fn run_job<R: Release + ?Sized>(release: &R, job: &Job) -> Result<usize, ReleaseError> {
    let commits = release.close(&job.partitions);
    let left = job.deadline.saturating_duration_since(Instant::now());
    release.flush(left).map_err(ReleaseError::Unpublished)?;
    if job.abandoned.load(Ordering::SeqCst) || Instant::now() >= job.deadline {
        return Err(ReleaseError::Abandoned);
    }
    release.commit(&commits).map_err(ReleaseError::Uncommitted)?;
    Ok(commits.len())
}

/// Checks `--revoke-timeout` against the consumer's `max.poll.interval.ms`
/// (librdkafka's default unless `--librdkafka` sets it).
pub fn check_timeout(timeout: Duration, librdkafka: &[(String, String)]) -> anyhow::Result<()> {
    let max_poll = librdkafka
        .iter()
        .rev()
        .find(|(k, _)| k == "max.poll.interval.ms")
        .map(|(_, v)| v.parse::<u64>())
        .transpose()
        .map_err(|e| anyhow::anyhow!("--librdkafka max.poll.interval.ms: {e}"))?
        .unwrap_or(DEFAULT_MAX_POLL_INTERVAL_MS);
    if timeout.is_zero() || timeout.as_millis() >= u128::from(max_poll) {
        anyhow::bail!(
            "--revoke-timeout {} must be above 0 and below max.poll.interval.ms ({max_poll} ms)",
            humantime::format_duration(timeout)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use super::*;

    /// A release whose flushes take the given times, one per release (a
    /// flush that overshoots its timeout, as a stuck broker call can);
    /// records what it cut and committed.
    #[derive(Default)]
    struct Fake {
        flushes: Mutex<VecDeque<anyhow::Result<Duration>>>,
        committed: Mutex<Vec<(SourcePartition, i64)>>,
        closed: Mutex<Vec<SourcePartition>>,
        flushed: std::sync::atomic::AtomicUsize,
    }

    impl Fake {
        fn with(flushes: Vec<anyhow::Result<Duration>>) -> Arc<Self> {
            Arc::new(Self {
                flushes: Mutex::new(flushes.into()),
                ..Self::default()
            })
        }
        fn committed(&self) -> Vec<(SourcePartition, i64)> {
            self.committed.lock().expect("test lock").clone()
        }
    }

    impl Release for Fake {
        fn close(&self, partitions: &[SourcePartition]) -> Vec<(SourcePartition, i64)> {
            self.closed
                .lock()
                .expect("test lock")
                .extend_from_slice(partitions);
            partitions
                .iter()
                .map(|&p| (p, 100 + i64::from(p.partition)))
                .collect()
        }
        fn flush(&self, _timeout: Duration) -> anyhow::Result<()> {
            let next = self
                .flushes
                .lock()
                .expect("test lock")
                .pop_front()
                .unwrap_or(Ok(Duration::ZERO));
            std::thread::sleep(next?);
            self.flushed.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        fn commit(&self, commits: &[(SourcePartition, i64)]) -> anyhow::Result<()> {
            self.committed
                .lock()
                .expect("test lock")
                .extend_from_slice(commits);
            Ok(())
        }
    }

    fn parts(numbers: &[i32]) -> Vec<SourcePartition> {
        numbers.iter().map(|&n| SourcePartition::main(n)).collect()
    }

    #[test]
    fn a_quick_release_is_cut_flushed_and_committed_before_the_callback_returns() {
        let fake = Fake::with(vec![Ok(Duration::from_millis(5))]);
        let coordinator =
            RevokeCoordinator::start(fake.clone(), Duration::from_secs(60)).expect("coordinator thread");
        let outcome = coordinator.release(parts(&[0, 3]));
        assert!(matches!(outcome, RevokeOutcome::Committed(2)), "{outcome:?}");
        assert_eq!(*fake.closed.lock().expect("test lock"), parts(&[0, 3]));
        assert_eq!(
            fake.committed(),
            vec![(SourcePartition::main(0), 100), (SourcePartition::main(3), 103)]
        );
    }

    #[test]
    fn a_slow_release_returns_at_the_timeout_and_is_never_committed_after() {
        let timeout = Duration::from_millis(200);
        // The first flush outlasts the callback's wait, then succeeds.
        let fake = Fake::with(vec![Ok(Duration::from_millis(700)), Ok(Duration::ZERO)]);
        let coordinator = RevokeCoordinator::start(fake.clone(), timeout).expect("coordinator thread");
        let started = Instant::now();
        let outcome = coordinator.release(parts(&[0, 1]));
        let waited = started.elapsed();
        assert!(
            matches!(outcome, RevokeOutcome::TimedOut(t) if t == timeout),
            "{outcome:?}"
        );
        assert!(
            waited >= timeout && waited < Duration::from_millis(700),
            "{waited:?}"
        );
        // Releases run one at a time: once the next one has flushed, the
        // first has made its commit decision — and must not have committed.
        let _ = coordinator.release(parts(&[2]));
        let deadline = Instant::now() + Duration::from_secs(60);
        while fake.flushed.load(Ordering::SeqCst) < 2 {
            assert!(
                Instant::now() < deadline,
                "the coordinator never ran the second release"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let committed = fake.committed();
        assert!(committed.iter().all(|(p, _)| p.partition == 2), "{committed:?}");
        // The revoked windows were cut all the same (published, not committed).
        assert_eq!(*fake.closed.lock().expect("test lock"), parts(&[0, 1, 2]));
    }

    #[test]
    fn a_failed_flush_is_reported_and_nothing_is_committed() {
        let fake = Fake::with(vec![Err(anyhow::anyhow!("a cut was not delivered"))]);
        let coordinator =
            RevokeCoordinator::start(fake.clone(), Duration::from_secs(60)).expect("coordinator thread");
        let outcome = coordinator.release(parts(&[0]));
        assert!(
            matches!(&outcome, RevokeOutcome::Failed(ReleaseError::Unpublished(e)) if e.to_string().contains("not delivered")),
            "{outcome:?}"
        );
        assert!(fake.committed().is_empty());
    }

    /// A release whose commit the broker refuses.
    struct RefusedCommit;

    impl Release for RefusedCommit {
        fn close(&self, partitions: &[SourcePartition]) -> Vec<(SourcePartition, i64)> {
            partitions.iter().map(|&p| (p, 7)).collect()
        }
        fn flush(&self, _timeout: Duration) -> anyhow::Result<()> {
            Ok(())
        }
        fn commit(&self, _commits: &[(SourcePartition, i64)]) -> anyhow::Result<()> {
            anyhow::bail!("Broker: Group rebalance in progress")
        }
    }

    #[test]
    fn a_refused_commit_after_the_cuts_are_published_is_told_apart() {
        let coordinator = RevokeCoordinator::start(Arc::new(RefusedCommit), Duration::from_secs(60))
            .expect("coordinator thread");
        let outcome = coordinator.release(parts(&[1]));
        assert!(
            matches!(&outcome, RevokeOutcome::Failed(ReleaseError::Uncommitted(e)) if e.to_string().contains("rebalance")),
            "{outcome:?}"
        );
    }

    #[test]
    fn the_timeout_must_stay_below_max_poll_interval() {
        assert!(check_timeout(DEFAULT_REVOKE_TIMEOUT, &[]).is_ok());
        assert!(check_timeout(Duration::from_secs(300), &[]).is_err());
        assert!(check_timeout(Duration::ZERO, &[]).is_err());
        let lowered = [("max.poll.interval.ms".to_owned(), "5000".to_owned())];
        let err = check_timeout(Duration::from_secs(10), &lowered).expect_err("refused");
        assert!(err.to_string().contains("5000 ms"), "{err}");
        let bad = [("max.poll.interval.ms".to_owned(), "soon".to_owned())];
        assert!(check_timeout(Duration::from_secs(1), &bad).is_err());
    }
}
