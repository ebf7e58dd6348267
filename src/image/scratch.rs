//! The store's `tmp/`: each process that opens the store works in an area of its own,
//! `tmp/own-<pid>-<nanos>/`, next to a lock file `tmp/own-<pid>-<nanos>.lock` that it
//! holds (`flock`, exclusive) for as long as it runs. Whatever a process writes before
//! renaming it into place (blobs being downloaded or compressed, layers being extracted,
//! a build's upper and work dirs, snapshots being deleted) lives in its area.
//!
//! When a process dies, even by `kill -9`, the kernel drops its lock; the next store
//! opener that can take the lock knows the area is orphaned and removes it, however
//! young it is, while areas whose owner still runs are never touched. Unlike pid files
//! this cannot be fooled by a reused pid or by another pid namespace sharing the store.
//!
//! A new area's lock file is made under another name, locked, and only then renamed to
//! `.lock`, so a reclaimer never sees a lock file that is not yet held.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The prefix of an owned area's name.
const OWNED: &str = "own-";
/// The suffix of an owned area's lock file.
const LOCK: &str = ".lock";

/// This process's area of `tmp/`, removed when the last clone of its store goes.
#[derive(Debug)]
pub(super) struct Scratch {
    dir: PathBuf,
    lock: PathBuf,
    /// Holds the `flock` for the life of the process (or of this store value).
    _held: File,
}

impl Scratch {
    /// Claims a fresh area in `tmp`.
    pub(super) fn claim(tmp: &Path) -> io::Result<Scratch> {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let name = format!("{OWNED}{}-{nanos}", std::process::id());
        let locking = tmp.join(format!("{name}.locking"));
        let held = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&locking)?;
        rustix::fs::flock(&held, rustix::fs::FlockOperation::NonBlockingLockExclusive)?;
        let lock = tmp.join(format!("{name}{LOCK}"));
        fs::rename(&locking, &lock)?;
        let dir = tmp.join(&name);
        fs::create_dir(&dir)?;
        Ok(Scratch {
            dir,
            lock,
            _held: held,
        })
    }

    /// The area's directory.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Best effort: whatever stays is reclaimed by the next opener, as after a kill.
        if remove_tree(&self.dir).is_ok() || !self.dir.exists() {
            let _ = fs::remove_file(&self.lock);
        }
    }
}

/// Removes every area of `tmp` whose owner is gone (its lock can be taken), except those
/// holding one of `mounts`; returns the bytes freed.
pub(super) fn reclaim(tmp: &Path, mounts: &[PathBuf]) -> u64 {
    let Ok(entries) = fs::read_dir(tmp) else {
        return 0;
    };
    let mut freed = 0;
    for entry in entries.filter_map(Result::ok) {
        let lock = entry.path();
        let Some(name) = lock
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(LOCK))
            .filter(|n| n.starts_with(OWNED))
        else {
            continue;
        };
        let Ok(file) = File::open(&lock) else {
            continue;
        };
        if rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
            continue; // Its owner runs.
        }
        let dir = tmp.join(name);
        if mounts.iter().any(|m| m.starts_with(&dir)) {
            continue;
        }
        let size = disk_usage(&dir);
        if remove_tree(&dir).is_ok() || !dir.exists() {
            freed += size;
            let _ = fs::remove_file(&lock);
        }
    }
    freed
}

/// The entries of `tmp` nobody will come back for: areas (and lock files) of owners that
/// are gone, and entries outside any area. For `strata fsck`, which reports them.
pub(super) fn orphans(tmp: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(tmp) else {
        return Vec::new();
    };
    let mut orphans = Vec::new();
    for path in entries.filter_map(Result::ok).map(|e| e.path()) {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let lock = match name.strip_suffix(LOCK) {
            Some(_) => path.clone(),
            None => tmp.join(format!("{name}{LOCK}")),
        };
        let owned_and_alive = is_owned(&path)
            && File::open(&lock).is_ok_and(|file| {
                rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive)
                    .is_err()
            });
        if !owned_and_alive {
            orphans.push(path);
        }
    }
    orphans.sort();
    orphans
}

/// Whether `path` (an entry of `tmp/`) belongs to an owned area or its lock, which only
/// [`reclaim`] may remove.
pub(super) fn is_owned(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(OWNED) && !n.ends_with(".locking"))
}

/// Bytes of the regular files at or below `path` (what removing it frees).
pub fn disk_usage(path: &Path) -> u64 {
    walkdir::WalkDir::new(path)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// Removes a file or a whole directory tree (snapshots hold read-only dirs and devices).
pub(super) fn remove_tree(path: &Path) -> io::Result<()> {
    let parent = path.parent().unwrap_or(Path::new("/"));
    let name = path.file_name().unwrap_or_default();
    let dir = rustix::fs::open(
        parent,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY,
        rustix::fs::Mode::empty(),
    )?;
    crate::fsroot::remove_at(&dir, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_owners_area_goes_and_a_live_ones_stays() {
        let tmp = tempfile::tempdir().unwrap();
        let live = Scratch::claim(tmp.path()).unwrap();
        fs::write(live.dir().join("f"), b"live").unwrap();
        // What a killed process leaves: its area and a lock file nobody holds.
        let dead = tmp.path().join("own-1-1");
        fs::create_dir_all(dead.join("snapshot/d")).unwrap();
        fs::write(dead.join("snapshot/d/f"), b"half-deleted").unwrap();
        fs::write(tmp.path().join("own-1-1.lock"), b"").unwrap();

        assert_eq!(reclaim(tmp.path(), &[]), 12);
        assert!(!dead.exists() && !tmp.path().join("own-1-1.lock").exists());
        assert!(live.dir().join("f").exists());

        let (dir, lock) = (live.dir().to_owned(), live.lock.clone());
        drop(live);
        assert!(!dir.exists() && !lock.exists());
    }
}
