//! `RUN --mount`: the extra mounts of a sandbox ([`Mount`]), made in the order given once
//! the root and its special file systems are in place.
//!
//! # Where a target lands
//!
//! A target is an absolute path in the image. Like docker (runc's `MkdirAllInRoot`), every
//! symlink on the way is followed, dangling ones included, but inside the image: `..` and
//! absolute links restart at the image's root, never the host's. [`resolve`] does this
//! walk itself, one component at a time through [`Root`] (`openat2(RESOLVE_IN_ROOT)`), and
//! yields a path free of symlinks that the mount calls then use as is (`move_mount`
//! follows no final symlink, and after `pivot_root` nothing can lead to the host anyway).
//!
//! # Mountpoints never reach the upper dir
//!
//! The mountpoint of a target missing from the image is provided by the skeleton lower
//! dir (see `rootfs`), as `/proc` is: before the overlay exists, [`plan`] mounts the
//! image's lower dirs alone, read-only, resolves every target there, and [`Planned::stub`]
//! adds the missing path (its parent dirs `0755 root`, as docker creates them, and an
//! empty dir or file) to the skeleton. Mounting over the stub writes nothing.
//!
//! The mountpoint is still made at mount time, through [`make_mountpoint`], when the
//! skeleton cannot provide it: a target inside an earlier mount (the mountpoint is then
//! made in that tmpfs or host dir, as runc does), or a path that a lower layer hides from
//! the skeleton (an opaque dir or a whiteout on the way). In the last case the entries
//! land in the upper dir; they are recorded and `rootfs::Cleanup` takes them out again.
//!
//! A target that the image holds as a non-empty dir is simply covered during the step;
//! nothing is copied up, so the image's files are unchanged afterwards (BuildKit's
//! behaviour).

use std::ffi::CString;
use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, StatVfsMountFlags, StatxFlags, CWD};
use rustix::mount::{self as rmount, MountFlags, MoveMountFlags, OpenTreeFlags, UnmountFlags};

use super::Mount;
use crate::fsroot::Root;
use crate::path::clean_abs;
use crate::snapshot::mount_lower_only;

/// Whether a mountpoint is a directory or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// For a directory source or a tmpfs.
    Dir,
    /// For a file, socket or device source.
    File,
}

/// What gets mounted.
enum Source {
    /// A detached clone of the host path (`open_tree`), taken before `pivot_root`.
    Tree(OwnedFd),
    /// A fresh tmpfs of at most this many bytes.
    Tmpfs(Option<u64>),
}

/// One [`Mount`], ready to be made in the new root.
pub(super) struct Planned {
    /// The target as the builder gave it, for messages.
    target: String,
    /// The target resolved in the image (no symlinks), and whether it exists there.
    in_image: PathBuf,
    exists: bool,
    kind: Kind,
    source: Source,
    readonly: bool,
}

/// Clones the bind sources and resolves every target in the image made of `lower`
/// (through a read-only overlay mounted for the purpose under `scratch`, a private
/// tmpfs). Must run before `pivot_root`, while host paths are reachable.
pub(super) fn plan(
    mounts: &[Mount],
    lower: &[PathBuf],
    scratch: &Path,
) -> Result<Vec<Planned>, String> {
    if mounts.is_empty() {
        return Ok(Vec::new());
    }
    let mut planned = Vec::new();
    for mount in mounts {
        let (target, kind, source, readonly) = match mount {
            Mount::Bind {
                source,
                target,
                readonly,
            } => {
                let tree = rmount::open_tree(
                    CWD,
                    source,
                    OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
                )
                .map_err(|e| format!("mount target {target}: source {}: {e}", source.display()))?;
                let st = rustix::fs::fstat(&tree).map_err(|e| {
                    format!("mount target {target}: source {}: {e}", source.display())
                })?;
                let kind = if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                    Kind::Dir
                } else {
                    Kind::File
                };
                (target, kind, Source::Tree(tree), *readonly)
            }
            Mount::Tmpfs { target, size } => (target, Kind::Dir, Source::Tmpfs(*size), false),
        };
        if !target.starts_with('/') || clean_abs(target) == "/" {
            return Err(format!(
                "mount target {target:?}: must be an absolute path below /"
            ));
        }
        planned.push(Planned {
            target: target.clone(),
            in_image: PathBuf::new(),
            exists: false,
            kind,
            source,
            readonly,
        });
    }

    // The image without the skeleton, as the command would see it.
    let probe = scratch.join("probe");
    let empty = scratch.join("empty");
    for dir in [&probe, &empty] {
        fs::create_dir(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    }
    if !lower.is_empty() {
        let mut layers = lower.to_vec();
        // A read-only overlay needs two lower dirs on some kernels.
        layers.push(empty);
        mount_lower_only(&layers, &probe)?;
    }
    let root = Root::open(&probe).map_err(|e| format!("opening {}: {e}", probe.display()))?;
    for entry in &mut planned {
        let (path, kind) = resolve(&root, Path::new(&entry.target))
            .map_err(|e| format!("mount target {}: {e}", entry.target))?;
        entry.in_image = path;
        entry.exists = kind.is_some();
    }
    drop(root);
    if !lower.is_empty() {
        rmount::unmount(&probe, UnmountFlags::DETACH)
            .map_err(|e| format!("unmounting {}: {e}", probe.display()))?;
    }
    Ok(planned)
}

impl Planned {
    /// Adds this mount's mountpoint to the skeleton dir if the image lacks it. An entry
    /// already there is kept as it is; a clash of types (a dir wanted below a file) is
    /// left for [`attach`] to report.
    pub(super) fn stub(&self, skeleton: &Path) -> Result<(), String> {
        if self.exists {
            return Ok(());
        }
        let rel = self.in_image.strip_prefix("/").unwrap_or(&self.in_image);
        let mut path = skeleton.to_owned();
        let mut names = rel.iter().peekable();
        while let Some(name) = names.next() {
            path.push(name);
            let last = names.peek().is_none();
            let made = if last && self.kind == Kind::File {
                fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o644)
                    .open(&path)
                    .map(drop)
            } else {
                fs::DirBuilder::new().mode(0o755).create(&path)
            };
            match made {
                Ok(()) => rustix::fs::chmod(
                    &path,
                    Mode::from_raw_mode(if last && self.kind == Kind::File {
                        0o644
                    } else {
                        0o755
                    }),
                )
                .map_err(|e| format!("chmod {}: {e}", path.display()))?,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => return Ok(()),
                Err(e) => return Err(format!("creating {}: {e}", path.display())),
            }
        }
        Ok(())
    }
}

/// Makes every planned mount, in order, in the current root (the image, after
/// `pivot_root`). Mountpoints that had to be created in the overlay itself are appended
/// to `created`, parents first, for `rootfs::Cleanup`.
pub(super) fn attach(planned: Vec<Planned>, created: &mut Vec<PathBuf>) -> Result<(), String> {
    if planned.is_empty() {
        return Ok(());
    }
    let root = Root::open(Path::new("/")).map_err(|e| format!("opening /: {e}"))?;
    let overlay = mount_id(&root.open_dir(Path::new("/")).map_err(|e| e.to_string())?)?;
    for entry in planned {
        let fail = |e: &dyn std::fmt::Display| format!("mount target {}: {e}", entry.target);
        // Earlier mounts may have changed what the path leads to: resolve it again.
        let (path, _) = resolve(&root, Path::new(&entry.target)).map_err(|e| fail(&e))?;
        make_mountpoint(&root, &path, entry.kind, overlay, created).map_err(|e| fail(&e))?;
        match entry.source {
            Source::Tree(tree) => {
                rmount::move_mount(
                    &tree,
                    "",
                    CWD,
                    &path,
                    MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
                )
                .map_err(|e| fail(&format!("bind-mounting on {}: {e}", path.display())))?;
                if entry.readonly {
                    remount_readonly(&path).map_err(|e| fail(&e))?;
                }
            }
            Source::Tmpfs(size) => {
                let mut data = "mode=1777".to_owned();
                if let Some(size) = size {
                    data.push_str(&format!(",size={size}"));
                }
                let options = CString::new(data.as_str()).map_err(|e| fail(&e))?;
                rmount::mount(
                    "tmpfs",
                    &path,
                    "tmpfs",
                    MountFlags::NOSUID | MountFlags::NODEV,
                    options.as_c_str(),
                )
                .map_err(|e| {
                    fail(&format!(
                        "mounting tmpfs ({data}) on {}: {e}",
                        path.display()
                    ))
                })?;
            }
        }
    }
    Ok(())
}

/// Makes the bind mount at `path` read-only, keeping the flags it already has (dropping
/// `nosuid` and the like would need privileges a user namespace does not give).
pub(super) fn remount_readonly(path: &Path) -> Result<(), String> {
    let have = rustix::fs::statvfs(path)
        .map_err(|e| format!("statvfs {}: {e}", path.display()))?
        .f_flag;
    let mut flags = MountFlags::BIND | MountFlags::RDONLY;
    for (st, ms) in [
        (StatVfsMountFlags::NOSUID, MountFlags::NOSUID),
        (StatVfsMountFlags::NODEV, MountFlags::NODEV),
        (StatVfsMountFlags::NOEXEC, MountFlags::NOEXEC),
        (StatVfsMountFlags::NOATIME, MountFlags::NOATIME),
        (StatVfsMountFlags::NODIRATIME, MountFlags::NODIRATIME),
        (StatVfsMountFlags::RELATIME, MountFlags::RELATIME),
    ] {
        if have.contains(st) {
            flags |= ms;
        }
    }
    rmount::mount_remount(path, flags, "")
        .map_err(|e| format!("making {} read-only: {e}", path.display()))
}

/// Makes sure `path` (absolute, free of symlinks) exists as a mountpoint of `kind`,
/// creating what is missing: dirs `0755`, and an empty `0644` file for a [`Kind::File`].
/// Entries created on the overlay (mount id `overlay`) are pushed to `created`.
fn make_mountpoint(
    root: &Root,
    path: &Path,
    kind: Kind,
    overlay: u64,
    created: &mut Vec<PathBuf>,
) -> Result<(), String> {
    let mut prefix = PathBuf::from("/");
    let mut names = path.iter().skip(1).peekable();
    while let Some(name) = names.next() {
        let parent = root
            .open_dir(&prefix)
            .map_err(|e| format!("opening {}: {e}", prefix.display()))?;
        prefix.push(name);
        let last = names.peek().is_none();
        let want_dir = !last || kind == Kind::Dir;
        match root
            .lstat(&prefix)
            .map_err(|e| format!("{}: {e}", prefix.display()))?
        {
            Some(st) => {
                let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
                if want_dir && !is_dir {
                    return Err(format!("{} is not a directory", prefix.display()));
                }
                if !want_dir && is_dir {
                    return Err(format!(
                        "{} is a directory, the source is not",
                        prefix.display()
                    ));
                }
            }
            None => {
                let mode = Mode::from_raw_mode(if want_dir { 0o755 } else { 0o644 });
                if want_dir {
                    rustix::fs::mkdirat(&parent, name, mode)
                } else {
                    rustix::fs::openat(
                        &parent,
                        name,
                        OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC,
                        mode,
                    )
                    .map(drop)
                }
                .and_then(|()| rustix::fs::chmodat(&parent, name, mode, AtFlags::empty()))
                .map_err(|e| format!("creating {}: {e}", prefix.display()))?;
                if mount_id(&parent)? == overlay {
                    created.push(prefix.clone());
                }
            }
        }
    }
    Ok(())
}

/// The id of the mount that `fd` is on.
fn mount_id(fd: &OwnedFd) -> Result<u64, String> {
    rustix::fs::statx(fd.as_fd(), "", AtFlags::EMPTY_PATH, StatxFlags::MNT_ID)
        .map(|st| st.stx_mnt_id)
        .map_err(|e| format!("statx: {e}"))
}

/// Resolves the absolute `target` inside `root` as runc does for a mount target
/// ([`Root::resolve_links`]: cleaned, every symlink followed inside the root, a dangling
/// one too). Returns the resulting absolute path, which holds no symlink, and the type
/// of what is there (`None`: missing).
fn resolve(root: &Root, target: &Path) -> Result<(PathBuf, Option<FileType>), String> {
    let rel = root
        .resolve_links(target)
        .map_err(|e| format!("{}: {e}", target.display()))?;
    let kind = root
        .lstat(&rel)
        .map_err(|e| format!("{}: {e}", target.display()))?
        .map(|st| FileType::from_raw_mode(st.st_mode));
    Ok((Path::new("/").join(rel), kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn resolve_follows_links_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        fs::create_dir_all(r.join("var/cache")).unwrap();
        fs::write(r.join("file"), "").unwrap();
        symlink("/var/cache", r.join("cache")).unwrap();
        symlink("../../../../..", r.join("up")).unwrap();
        symlink("/nowhere/deeper", r.join("dangling")).unwrap();
        symlink("loop", r.join("loop")).unwrap();
        let root = Root::open(r).unwrap();
        let resolve = |t: &str| resolve(&root, Path::new(t));
        assert_eq!(
            resolve("/cache/apt").unwrap(),
            (PathBuf::from("/var/cache/apt"), None)
        );
        assert_eq!(
            resolve("/cache").unwrap(),
            (PathBuf::from("/var/cache"), Some(FileType::Directory))
        );
        assert_eq!(
            resolve("/up/up/var/../file").unwrap(),
            (PathBuf::from("/file"), Some(FileType::RegularFile))
        );
        assert_eq!(
            resolve("/dangling/x").unwrap(),
            (PathBuf::from("/nowhere/deeper/x"), None)
        );
        assert_eq!(
            resolve("/../../a/./b/../c").unwrap(),
            (PathBuf::from("/a/c"), None)
        );
        assert!(resolve("/file/x").unwrap_err().contains("not a directory"));
        assert!(resolve("/loop/x").unwrap_err().contains("symbolic links"));
    }
}
