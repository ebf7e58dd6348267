//! Overlay mounts of snapshot dirs.
//!
//! [`Overlay::mount`] uses the new mount API (`fsopen("overlay")` + one
//! `fsconfig("lowerdir+")` per layer, Linux >= 6.8), which has no limit on the number of
//! lower dirs or the length of their paths. On older kernels, which reject `lowerdir+`, it
//! falls back to `mount(2)` with the layers named `/proc/self/fd/N`: an image of a few
//! hundred layers still fits in the one page of options that `mount(2)` accepts.
//!
//! Every overlay is mounted with `redirect_dir=off,metacopy=off,index=off,xino=off`: the
//! upper dir then holds whole files and real directories (no redirect or metacopy xattrs
//! pointing into lower layers), which is what turning it into an OCI layer needs, and the
//! result does not depend on the kernel's build-time overlay defaults.

use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, Mode, OFlags, CWD};
use rustix::mount::{
    self as rmount, FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MoveMountFlags,
    UnmountFlags,
};

use super::SnapshotError;

/// The options that keep an upper dir self-contained (see the module doc).
const OPTIONS: [(&str, &str); 4] = [
    ("redirect_dir", "off"),
    ("metacopy", "off"),
    ("index", "off"),
    ("xino", "off"),
];

/// A mounted overlay; unmounted on drop.
pub struct Overlay {
    target: PathBuf,
    /// The empty lower dir made for an empty `lower` (FROM scratch); removed on drop.
    empty_lower: Option<tempfile::TempDir>,
}

impl Overlay {
    /// Mounts `lower` (top-most first; may be empty or hold more dirs than fit in one page
    /// of mount options) with `upper` and `work` at `target`, with
    /// `redirect_dir=off,metacopy=off,index=off,xino=off` so the upper dir is self-contained.
    ///
    /// Overlay needs at least one lower dir: for an empty `lower`, an empty directory is
    /// created next to `work` (in its parent, so on the same file system) and removed when
    /// the overlay is dropped.
    pub fn mount(
        lower: &[PathBuf],
        upper: &Path,
        work: &Path,
        target: &Path,
    ) -> Result<Overlay, SnapshotError> {
        let mut empty_lower = None;
        let mut lowers = lower.to_vec();
        if lowers.is_empty() {
            let parent = work.parent().unwrap_or(Path::new("/"));
            let dir = tempfile::Builder::new()
                .prefix(".strata-empty-")
                .tempdir_in(parent)
                .map_err(|e| {
                    SnapshotError::Mount(format!(
                        "creating an empty lower dir in {}: {e}",
                        parent.display()
                    ))
                })?;
            lowers.push(dir.path().to_owned());
            empty_lower = Some(dir);
        }
        mount_overlay(&lowers, upper, work, target)?;
        Ok(Overlay {
            target: target.to_owned(),
            empty_lower,
        })
    }

    /// Where it is mounted.
    pub fn target(&self) -> &Path {
        &self.target
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        // A lazy unmount cannot fail on a busy mount; an error here means it is already gone.
        let _ = rmount::unmount(&self.target, UnmountFlags::DETACH);
        drop(self.empty_lower.take());
    }
}

/// Mounts an overlay of `lower` (top-most first, at least one) with `upper` and `work` at
/// `target`, without unmounting it later (the sandbox child's mounts die with it).
pub fn mount_overlay(
    lower: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<(), SnapshotError> {
    mount_any(lower, Some((upper, work)), target).map_err(|e| {
        SnapshotError::Mount(format!(
            "mounting overlay at {} (upper {}, work {}, {} lower dirs): {e}",
            target.display(),
            upper.display(),
            work.display(),
            lower.len()
        ))
    })
}

/// Mounts a read-only overlay of `lower` alone (top-most first, at least two) at `target`:
/// the image as the command will see it, for looking paths up before the real root exists.
pub fn mount_lower_only(lower: &[PathBuf], target: &Path) -> Result<(), String> {
    mount_any(lower, None, target).map_err(|e| {
        format!(
            "mounting a read-only overlay of {} lower dirs at {}: {e}",
            lower.len(),
            target.display()
        )
    })
}

/// An upper dir and its work dir.
type Upper<'a> = Option<(&'a Path, &'a Path)>;

/// The new mount API if the kernel has `lowerdir+`, else `mount(2)`.
fn mount_any(lower: &[PathBuf], upper: Upper<'_>, target: &Path) -> Result<(), String> {
    match mount_with_fsconfig(lower, upper, target) {
        Ok(()) => Ok(()),
        Err(FsconfigError::LowerdirPlusUnsupported) => mount_legacy(lower, upper, target),
        Err(FsconfigError::Other(e)) => Err(e),
    }
}

enum FsconfigError {
    /// The kernel predates `lowerdir+` (Linux 6.8).
    LowerdirPlusUnsupported,
    Other(String),
}

fn mount_with_fsconfig(
    lower: &[PathBuf],
    upper: Upper<'_>,
    target: &Path,
) -> Result<(), FsconfigError> {
    let other = |what: &str, e: rustix::io::Errno| FsconfigError::Other(format!("{what}: {e}"));
    let fs = rmount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)
        .map_err(|e| other("fsopen(overlay)", e))?;
    for dir in lower {
        match rmount::fsconfig_set_string(&fs, "lowerdir+", dir) {
            Ok(()) => {}
            Err(rustix::io::Errno::INVAL) if dir == &lower[0] => {
                return Err(FsconfigError::LowerdirPlusUnsupported)
            }
            Err(e) => return Err(other(&format!("lower dir {}", dir.display()), e)),
        }
    }
    if let Some((upper, work)) = upper {
        rmount::fsconfig_set_string(&fs, "upperdir", upper).map_err(|e| other("upperdir", e))?;
        rmount::fsconfig_set_string(&fs, "workdir", work).map_err(|e| other("workdir", e))?;
    }
    for (key, value) in OPTIONS {
        rmount::fsconfig_set_string(&fs, key, value)
            .map_err(|e| other(&format!("{key}={value}"), e))?;
    }
    rmount::fsconfig_create(&fs).map_err(|e| other("creating the file system", e))?;
    let mnt = rmount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::empty())
        .map_err(|e| other("fsmount", e))?;
    rmount::move_mount(
        &mnt,
        "",
        CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| other("move_mount", e))
}

/// `mount(2)` with each lower dir named through an open fd, so long store paths do not
/// count against the one page of options.
fn mount_legacy(lower: &[PathBuf], upper: Upper<'_>, target: &Path) -> Result<(), String> {
    let fds = lower
        .iter()
        .map(|dir| {
            rfs::open(
                dir,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| format!("opening lower dir {}: {e}", dir.display()))
        })
        .collect::<Result<Vec<OwnedFd>, String>>()?;
    let lowerdir = fds
        .iter()
        .map(|fd| format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .collect::<Vec<_>>()
        .join(":");
    let mut data = OsString::from(format!("lowerdir={lowerdir}"));
    if let Some((upper, work)) = upper {
        data.push(",upperdir=");
        data.push(escape(upper));
        data.push(",workdir=");
        data.push(escape(work));
    }
    for (key, value) in OPTIONS {
        data.push(format!(",{key}={value}"));
    }
    let data = CString::new(data.into_vec()).map_err(|e| format!("mount options: {e}"))?;
    rmount::mount(
        "overlay",
        target,
        "overlay",
        MountFlags::empty(),
        data.as_c_str(),
    )
    .map_err(|e| format!("mount(2): {e}"))
}

/// Escapes the separators of overlay's legacy option string in a path.
fn escape(path: &Path) -> OsString {
    let mut out = Vec::new();
    for &b in path.as_os_str().as_bytes() {
        if matches!(b, b',' | b':' | b'\\') {
            out.push(b'\\');
        }
        out.push(b);
    }
    OsString::from_vec(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::thread::{unshare_unsafe, UnshareFlags};

    /// Many long lower paths (over one page in total) mount with both code paths.
    #[test]
    #[ignore = "needs root: make test"]
    fn many_long_lower_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let mut lowers = Vec::new();
        for i in 0..150 {
            let dir = tmp.path().join(format!("{i:03}-{}", "x".repeat(60)));
            fs_err::create_dir(&dir).unwrap();
            fs_err::write(dir.join(format!("f{i}")), format!("{i}")).unwrap();
            fs_err::write(dir.join("top"), format!("{i}")).unwrap();
            lowers.push(dir);
        }
        type MountFn = fn(&[PathBuf], &Path, &Path, &Path) -> Result<(), String>;
        let fsconfig: MountFn = |l, u, w, t| {
            mount_with_fsconfig(l, Some((u, w)), t).map_err(|e| match e {
                FsconfigError::LowerdirPlusUnsupported => "lowerdir+ unsupported".to_owned(),
                FsconfigError::Other(e) => e,
            })
        };
        let legacy: MountFn = |l, u, w, t| mount_legacy(l, Some((u, w)), t);
        for (name, mount) in [("fsconfig", fsconfig), ("legacy", legacy)] {
            let (upper, work, target) = (
                tmp.path().join(format!("{name}-u")),
                tmp.path().join(format!("{name}-w")),
                tmp.path().join(format!("{name}-t")),
            );
            for d in [&upper, &work, &target] {
                fs_err::create_dir(d).unwrap();
            }
            std::thread::scope(|s| {
                // A thread of its own so the private mount namespace does not leak into
                // the other tests of this process.
                s.spawn(|| {
                    unsafe { unshare_unsafe(UnshareFlags::NEWNS | UnshareFlags::FS) }.unwrap();
                    rmount::mount_change(
                        "/",
                        rmount::MountPropagationFlags::PRIVATE | rmount::MountPropagationFlags::REC,
                    )
                    .unwrap();
                    mount(&lowers, &upper, &work, &target).unwrap();
                    assert_eq!(
                        fs_err::read_to_string(target.join("top")).unwrap(),
                        "0",
                        "{name}"
                    );
                    assert_eq!(
                        fs_err::read_to_string(target.join("f149")).unwrap(),
                        "149",
                        "{name}"
                    );
                    fs_err::write(target.join("new"), "x").unwrap();
                    rmount::unmount(&target, UnmountFlags::DETACH).unwrap();
                })
                .join()
                .unwrap();
            });
            assert_eq!(fs_err::read_to_string(upper.join("new")).unwrap(), "x");
        }
    }

    #[test]
    fn escapes_separators() {
        assert_eq!(
            escape(Path::new("/a,b:c\\d")),
            OsString::from("/a\\,b\\:c\\\\d")
        );
    }
}
