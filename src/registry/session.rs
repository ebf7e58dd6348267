//! The [`Session`] shared by every push of one client: which registry repositories hold
//! each blob pushed so far, and which blobs a thread is uploading right now. A blob being
//! uploaded by one thread is waited for by the others, which then mount it (or skip it,
//! same repository), so a family's shared base layers cross the network once.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, PoisonError};

use crate::digest::Digest;

/// Blobs pushed by one client, by registry host and digest.
#[derive(Default)]
pub(super) struct Session {
    blobs: Mutex<HashMap<(String, Digest), BlobState>>,
    changed: Condvar,
}

#[derive(Default)]
struct BlobState {
    /// A thread is pushing it now.
    in_flight: bool,
    /// Repositories known to have it.
    repos: Vec<String>,
}

/// A thread's claim on pushing one blob: clears `in_flight` and wakes the waiters when
/// dropped, whether the push worked or not.
pub(super) struct Claim<'a> {
    session: &'a Session,
    key: (String, Digest),
    owner: bool,
}

impl Claim<'_> {
    /// Records that `repo` has the blob.
    pub(super) fn done(&self, repo: &str) {
        let mut blobs = self.session.lock();
        let state = blobs.entry(self.key.clone()).or_default();
        if !state.repos.iter().any(|r| r == repo) {
            state.repos.push(repo.to_owned());
        }
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if self.owner {
            self.session
                .lock()
                .entry(self.key.clone())
                .or_default()
                .in_flight = false;
            self.session.changed.notify_all();
        }
    }
}

impl Session {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, Digest), BlobState>> {
        self.blobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits while another thread pushes the blob; then returns the claim and the
    /// repositories that have it (empty: this thread pushes it).
    pub(super) fn claim(&self, host: &str, digest: &Digest) -> (Claim<'_>, Vec<String>) {
        let key = (host.to_owned(), digest.clone());
        let mut blobs = self.lock();
        loop {
            let state = blobs.entry(key.clone()).or_default();
            if !state.repos.is_empty() {
                let repos = state.repos.clone();
                let claim = Claim {
                    session: self,
                    key,
                    owner: false,
                };
                return (claim, repos);
            }
            if !state.in_flight {
                state.in_flight = true;
                let claim = Claim {
                    session: self,
                    key,
                    owner: true,
                };
                return (claim, Vec::new());
            }
            blobs = self
                .changed
                .wait(blobs)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}
