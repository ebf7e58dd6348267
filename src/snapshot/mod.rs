//! Snapshots: the extracted layers of an image, stacked as overlay lower dirs, and the
//! scratch dirs of one step whose upper dir becomes the next snapshot.
//!
//! Everything that needs an image's file system goes through here: RUN (the sandbox
//! mounts the stack itself, in its own namespace), COPY and WORKDIR (an [`Overlay`] the
//! builder writes into), `COPY --from` and `RUN --mount=from=` (a stage's stack read
//! through an overlay), `strata run` and `build --output`. The snapshot dirs themselves are
//! made by the store ([`crate::image::Store::snapshot`]).
//!
//! - [`lower_stack`]: layers bottom first -> overlay lower dirs top first.
//! - [`StepDirs`]: upper, work and mount dirs of one step, in the store's tmp dir.
//! - [`Overlay`]: a mounted overlay with any number of lower dirs, unmounted on drop.
//! - [`differences`]: whether a layer made over one parent is what its step would make
//!   over another (the proof of a rebase).

mod compare;
mod overlay;

use std::path::PathBuf;

use crate::image::{Store, StoreError};

pub use compare::{differences, path_differences, Difference};
pub use overlay::{mount_lower_only, mount_overlay, Overlay};

/// Why a snapshot stack could not be mounted or a step's dirs made.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// An overlay mount failed (the message names lower dirs, upper and target).
    #[error("{0}")]
    Mount(String),
    /// The store's tmp dir could not hold the step's dirs.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Creating one of the step's dirs failed.
    #[error("{}", path.display())]
    Io {
        /// The dir.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The overlay lower dirs (top-most first) of layers given bottom first. A layer that
/// appears twice keeps only its upper place: overlayfs refuses a dir twice, and the upper
/// copy already covers everything the lower one holds.
pub fn lower_stack(bottom_first: impl DoubleEndedIterator<Item = PathBuf>) -> Vec<PathBuf> {
    let mut seen = std::collections::HashSet::new();
    bottom_first
        .rev()
        .filter(|dir| seen.insert(dir.clone()))
        .collect()
}

/// The scratch dirs of one step, in the store's tmp dir (same file system as the
/// snapshots, so an upper dir can be renamed into place): removed on drop.
pub struct StepDirs {
    /// Holds the three dirs; removed on drop.
    _tmp: tempfile::TempDir,
    /// The overlay upper dir.
    pub upper: PathBuf,
    /// The overlay work dir.
    pub work: PathBuf,
    /// A mount point.
    pub mnt: PathBuf,
}

impl StepDirs {
    /// Creates the three dirs under a fresh temp dir of `store`.
    pub fn new(store: &Store) -> Result<StepDirs, SnapshotError> {
        let dirs = StepDirs::upper_only(store)?;
        for dir in [&dirs.work, &dirs.mnt] {
            std::fs::create_dir(dir).map_err(|source| SnapshotError::Io {
                path: dir.clone(),
                source,
            })?;
        }
        Ok(dirs)
    }

    /// An upper dir alone under a fresh temp dir of `store` (`work` and `mnt` are named
    /// but not made): for a step over no layers at all, which writes its layer straight
    /// into the upper dir, as an overlay with nothing below would show it. Two dirs fewer
    /// to make and remove, and no mount.
    pub fn upper_only(store: &Store) -> Result<StepDirs, SnapshotError> {
        let tmp = store.temp_dir()?;
        let dirs = StepDirs {
            upper: tmp.path().join("upper"),
            work: tmp.path().join("work"),
            mnt: tmp.path().join("mnt"),
            _tmp: tmp,
        };
        std::fs::create_dir(&dirs.upper).map_err(|source| SnapshotError::Io {
            path: dirs.upper.clone(),
            source,
        })?;
        Ok(dirs)
    }

    /// Mounts `lower` (top-most first) with these dirs' upper and work dirs at `mnt`.
    pub fn mount(&self, lower: &[PathBuf]) -> Result<Overlay, SnapshotError> {
        Overlay::mount(lower, &self.upper, &self.work, &self.mnt)
    }
}
