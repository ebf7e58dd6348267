//! Overlay mounts and the private mount namespace they live in.

use std::path::{Path, PathBuf};

use super::SandboxError;

/// Moves this process into a private mount namespace (with private propagation), so that
/// every mount strata makes disappears with the process, even on SIGKILL. Call first thing
/// in `main`, before any thread exists.
pub fn enter_private_mount_namespace() -> Result<(), SandboxError> {
    todo!("sandbox helper")
}

/// A mounted overlay; unmounted on drop.
pub struct Overlay {
    target: PathBuf,
}

impl Overlay {
    /// Mounts `lower` (top-most first; may be empty or hold more dirs than fit in one page
    /// of mount options) with `upper` and `work` at `target`, with
    /// `redirect_dir=off,metacopy=off,index=off` so the upper dir is self-contained.
    pub fn mount(
        lower: &[PathBuf],
        upper: &Path,
        work: &Path,
        target: &Path,
    ) -> Result<Overlay, SandboxError> {
        let _ = (lower, upper, work, target);
        todo!("sandbox helper")
    }

    /// Where it is mounted.
    pub fn target(&self) -> &Path {
        &self.target
    }
}
