//! The private mount namespace strata's mounts live in.

use rustix::mount::{self as rmount, MountPropagationFlags};
use rustix::thread::{unshare_unsafe, UnshareFlags};

use super::SandboxError;

/// Moves this process into a private mount namespace (with private propagation), so that
/// every mount strata makes disappears with the process, even on SIGKILL. Call first thing
/// in `main`, before any thread exists.
pub fn enter_private_mount_namespace() -> Result<(), SandboxError> {
    // SAFETY: unsharing the mount namespace (and with it the cwd/root, CLONE_FS) changes no
    // memory or fd state. It applies to the calling thread only, hence "before threads".
    unsafe { unshare_unsafe(UnshareFlags::NEWNS) }
        .map_err(|e| SandboxError::Setup(format!("unshare(CLONE_NEWNS): {e}")))?;
    make_private("/")
}

/// Makes every mount at and below `path` private, so nothing propagates to or from the
/// host's mount namespace.
pub(super) fn make_private(path: &str) -> Result<(), SandboxError> {
    rmount::mount_change(
        path,
        MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
    )
    .map_err(|e| SandboxError::Setup(format!("making {path} rprivate: {e}")))
}
