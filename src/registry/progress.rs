//! Transfer progress: the [`Progress`] trait the CLI renders, and the values it is told
//! ([`Direction`], [`BlobOutcome`]).

use std::sync::Arc;
use std::time::Duration;

use crate::digest::Digest;

/// Which way a blob moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Registry to store.
    Download,
    /// Store to registry.
    Upload,
}

/// How a blob transfer ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobOutcome {
    /// The bytes were sent or received.
    Transferred,
    /// The destination had it already (HEAD on push, the store on pull).
    Skipped,
    /// Cross-repository mounted from another repository of the registry.
    Mounted,
}

/// Receives transfer progress. Called from several threads; all methods default to
/// nothing, so an implementation picks what it shows.
pub trait Progress: Send + Sync {
    /// A blob of `size` bytes starts to move to or from `repository`.
    fn blob_started(&self, repository: &str, digest: &Digest, size: u64, direction: Direction) {
        let _ = (repository, digest, size, direction);
    }
    /// `done` bytes of the blob have moved so far (it may go back after a restart).
    fn blob_progress(&self, digest: &Digest, done: u64) {
        let _ = (digest, done);
    }
    /// The blob is done.
    fn blob_finished(&self, digest: &Digest, outcome: BlobOutcome) {
        let _ = (digest, outcome);
    }
    /// A request failed and is retried after `delay` (for a "retrying" line).
    fn retrying(&self, what: &str, attempt: u32, delay: Duration) {
        let _ = (what, attempt, delay);
    }
}

/// A [`Progress`] that shows nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// The progress sink a new client starts with.
pub(super) fn no_progress() -> Arc<dyn Progress> {
    Arc::new(NoProgress)
}
