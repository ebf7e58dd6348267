//! The sandbox's root file system: the overlay, the switch into it, and the special file
//! systems mounted in it.
//!
//! # Mountpoints never reach the upper dir
//!
//! `/proc`, `/dev`, `/sys`, `/run`, `/etc/resolv.conf`, `/etc/hosts` and the targets of
//! `RUN --mount` (see `mounts`) need something to mount on, and an image (FROM scratch, busybox) may lack them. Creating them in the merged
//! dir would write them to the upper dir and so into the layer, which docker never does.
//! Instead, a *skeleton* holding exactly these entries (empty dirs and files, on a tmpfs
//! private to the sandbox) is added as the bottom-most lower dir: the image's own entries
//! win wherever they exist, the mountpoints exist everywhere else, and mounting over them
//! writes nothing. If the command creates `/etc/foo` in an image without `/etc`, overlay
//! copies up the skeleton's `/etc` (a plain `0755 root` dir) and the layer holds `etc/` and
//! `etc/foo`, but never the mountpoints. Nothing has to be cleaned up afterwards.
//!
//! Host files and device nodes are cloned as detached mounts (`open_tree`) before
//! `pivot_root` and attached (`move_mount`) after it, so every target path, symlinks
//! included, is resolved inside the new root and never on the host. A target that the
//! image holds as something other than the expected type (say, `/etc/resolv.conf` as a
//! symlink) is left alone rather than created or replaced.
//!
//! One case escapes the skeleton: a lower layer whose `/etc` is opaque hides the
//! skeleton's files (and likewise an opaque dir or a whiteout on the way to a mount
//! target). Then `/etc/resolv.conf` and `/etc/hosts`, if missing, are created in the merged
//! dir, and so are the missing parts of a mount target; [`Cleanup`] removes exactly those
//! entries from the upper dir once the command has exited, if they are still empty, and
//! then the dirs above them that this leaves empty (the upper dir was empty before the
//! command, so these were copied up only for the entries; the command cannot have emptied
//! them, as they held a mountpoint throughout, though a mere `chmod` of such a dir by the
//! command would be lost with it).
//!
//! # Kernel files
//!
//! Under [`Security::Sandbox`], `/sys` is read-only and, once every mount is made, the
//! paths of runc's default spec are protected as runc does it: [`READONLY_PATHS`] (such as
//! `/proc/sys`) become read-only binds of themselves, [`MASKED_PATHS`] (such as
//! `/proc/kcore`, `/sys/firmware`) get `/dev/null` or an empty read-only tmpfs over them.

use std::ffi::CString;
use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{symlink, DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags, CWD};
use rustix::mount::{self as rmount, MountFlags, MoveMountFlags, OpenTreeFlags, UnmountFlags};

use super::mounts;
use super::namespace::make_private;
use super::{RunSpec, Security};
use crate::path::clean_abs;
use crate::snapshot::mount_overlay;

/// Directories of the skeleton lower dir (mountpoints, and `/etc` for the files).
const SKELETON_DIRS: [&str; 5] = ["etc", "proc", "dev", "sys", "run"];
/// Host files bind-mounted read-only at the same path in the sandbox.
const HOST_FILES: [&str; 2] = ["/etc/resolv.conf", "/etc/hosts"];
/// Host device nodes bind-mounted into the sandbox's `/dev`.
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];
/// Links in `/dev`, as docker makes them.
const DEV_LINKS: [(&str, &str); 5] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

/// Builds the sandbox's root under `scratch` (an empty host dir, hidden under a tmpfs of
/// this mount namespace), switches into it and mounts the special file systems. On
/// return `/` is the image and the cwd is `/`; run the returned [`Cleanup`] once the
/// command has exited.
pub(super) fn enter(spec: &RunSpec, scratch: &Path) -> Result<Cleanup, String> {
    make_private("/").map_err(|e| e.to_string())?;
    mount(
        "tmpfs",
        scratch,
        MountFlags::NOSUID | MountFlags::NODEV,
        "mode=0755",
    )?;
    let skeleton = scratch.join("skeleton");
    let root = scratch.join("root");
    for dir in [&skeleton, &root] {
        mkdir(dir, 0o755)?;
    }
    for dir in SKELETON_DIRS {
        mkdir(&skeleton.join(dir), 0o755)?;
    }
    for file in HOST_FILES {
        create_file(&skeleton.join(file.trim_start_matches('/')), 0o644)?;
    }
    let planned = mounts::plan(&spec.mounts, &spec.lower, scratch)?;
    for mount in &planned {
        mount.stub(&skeleton)?;
    }
    let mut lower = spec.lower.clone();
    lower.push(skeleton);
    mount_overlay(&lower, &spec.upper, &spec.work, &root).map_err(|e| e.to_string())?;

    let upper = rustix::fs::open(
        &spec.upper,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("opening the upper dir {}: {e}", spec.upper.display()))?;
    let mut cleanup = Cleanup {
        upper,
        created: Vec::new(),
    };
    let hosts = hosts_file(spec, scratch)?;
    let host_files = clone_host_mounts(HOST_FILES.iter().map(|file| {
        let source = match &hosts {
            Some(hosts) if *file == "/etc/hosts" => hosts.clone(),
            _ => PathBuf::from(file),
        };
        (source, PathBuf::from(file))
    }))?;
    let devices = clone_host_mounts(DEVICES.iter().map(|d| {
        let path = Path::new("/dev").join(d);
        (path.clone(), path)
    }))?;
    pivot_into(&root)?;

    // Files first: until /proc is mounted, no symlink can lead out of the image.
    for (path, tree) in host_files {
        let missing = fs::symlink_metadata(&path).is_err() && path.parent().is_some_and(is_dir);
        if missing {
            // Only when a lower layer made /etc opaque: the file lands in the upper dir
            // and `Cleanup` takes it out again.
            create_file(&path, 0o644)?;
            cleanup.created.push(path.clone());
        }
        if is_file(&path) {
            attach(tree, &path)?;
            let ro = MountFlags::BIND
                | MountFlags::RDONLY
                | MountFlags::NOSUID
                | MountFlags::NODEV
                | MountFlags::NOEXEC;
            rmount::mount_remount(&path, ro, "")
                .map_err(|e| format!("making {} read-only: {e}", path.display()))?;
        }
    }
    if is_dir("/dev") {
        // A `RUN --mount` at /dev/shm takes the place of the sandbox's own, as BuildKit
        // drops a default mount whose destination a later one has (`dedupMounts`): one
        // tmpfs there, with the size the step asked for.
        let own_shm = !spec
            .mounts
            .iter()
            .any(|m| clean_abs(m.target()) == "/dev/shm");
        mount_dev(
            devices,
            own_shm.then(|| spec.options.shm_size.unwrap_or(SHM_SIZE)),
        )?;
    }
    if is_dir("/sys") {
        let mut flags = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
        // Writable only for a privileged step, as docker's `--privileged`.
        if spec.security == Security::Sandbox {
            flags |= MountFlags::RDONLY;
        }
        mount("sysfs", Path::new("/sys"), flags, "")?;
    }
    if is_dir("/run") {
        mount(
            "tmpfs",
            Path::new("/run"),
            MountFlags::NOSUID | MountFlags::NODEV,
            "mode=0755",
        )?;
    }
    if is_dir("/proc") {
        let flags = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
        mount("proc", Path::new("/proc"), flags, "")?;
    }
    mounts::attach(planned, &mut cleanup.created)?;
    if spec.security == Security::Sandbox {
        protect_kernel_files()?;
    }
    Ok(cleanup)
}

/// What runc's default spec (`runc spec`) hides: files get `/dev/null` bound over them,
/// dirs an empty read-only tmpfs.
const MASKED_PATHS: [&str; 10] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
];

/// What runc's default spec makes read-only (a read-only bind of the path onto itself).
const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Applies [`READONLY_PATHS`], then [`MASKED_PATHS`], as runc does; paths this kernel
/// lacks are skipped. Without them a RUN could change host-wide sysctls that are not
/// namespaced (`kernel.printk_ratelimit`), trigger SysRq, or read kernel memory.
fn protect_kernel_files() -> Result<(), String> {
    for path in READONLY_PATHS.map(Path::new) {
        match rmount::mount_bind_recursive(path, path) {
            Ok(()) => mounts::remount_readonly(path)?,
            Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(format!("binding {} onto itself: {e}", path.display())),
        }
    }
    for path in MASKED_PATHS.map(Path::new) {
        match rmount::mount_bind("/dev/null", path) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => {}
            // A directory: a file cannot be bound over it.
            Err(rustix::io::Errno::NOTDIR) => mount("tmpfs", path, MountFlags::RDONLY, "")?,
            Err(e) => return Err(format!("masking {}: {e}", path.display())),
        }
    }
    Ok(())
}

/// Mountpoints the sandbox had to create in the upper dir, to remove again.
pub(super) struct Cleanup {
    upper: OwnedFd,
    /// Absolute paths in the image, parents before children.
    created: Vec<PathBuf>,
}

impl Cleanup {
    /// Removes the created entries from the upper dir if they are still empty (dirs) or
    /// empty regular files, children first, then every dir above them that this leaves
    /// empty (see the module doc).
    pub(super) fn run(self) -> Result<(), String> {
        for path in self.created.iter().rev() {
            let rel = path.strip_prefix("/").unwrap_or(path);
            self.remove(rel, true)?;
        }
        for path in self.created.iter().rev() {
            let rel = path.strip_prefix("/").unwrap_or(path);
            for parent in rel.ancestors().skip(1) {
                if parent.as_os_str().is_empty() || !self.remove(parent, false)? {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Removes `rel` from the upper dir if it is an empty dir or (with `files`) an empty
    /// regular file; returns whether it is gone. Symlinks are never followed.
    fn remove(&self, rel: &Path, files: bool) -> Result<bool, String> {
        let fail = |e: rustix::io::Errno| {
            format!(
                "removing {} from the upper dir: {e}",
                Path::new("/").join(rel).display()
            )
        };
        let (Some(name), Some(parent)) = (rel.file_name(), rel.parent()) else {
            return Ok(false);
        };
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        let dir = match rustix::fs::openat2(
            &self.upper,
            parent,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_XDEV,
        ) {
            Ok(dir) => dir,
            Err(rustix::io::Errno::NOENT) => return Ok(true),
            Err(e) => return Err(fail(e)),
        };
        let st = match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(rustix::io::Errno::NOENT) => return Ok(true),
            Err(e) => return Err(fail(e)),
        };
        let removed = match rustix::fs::FileType::from_raw_mode(st.st_mode) {
            rustix::fs::FileType::Directory => rustix::fs::unlinkat(&dir, name, AtFlags::REMOVEDIR),
            rustix::fs::FileType::RegularFile if files && st.st_size == 0 => {
                rustix::fs::unlinkat(&dir, name, AtFlags::empty())
            }
            _ => return Ok(false),
        };
        match removed {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(true),
            Err(rustix::io::Errno::NOTEMPTY | rustix::io::Errno::EXIST) => Ok(false),
            Err(e) => Err(fail(e)),
        }
    }
}

/// Makes `root` the root of this mount namespace and drops the host's tree.
fn pivot_into(root: &Path) -> Result<(), String> {
    std::env::set_current_dir(root).map_err(|e| format!("chdir {}: {e}", root.display()))?;
    // pivot_root(".", ".") stacks the old root on top of the new one; detaching it leaves
    // the new root alone (runc does the same).
    if rustix::process::pivot_root(".", ".").is_ok() {
        rmount::unmount(".", UnmountFlags::DETACH)
            .map_err(|e| format!("detaching the host root: {e}"))?;
    } else {
        // pivot_root fails when the host root is the initramfs; moving the new root over
        // it and chrooting is the classic fallback.
        rmount::mount_move(".", "/").map_err(|e| format!("moving {} to /: {e}", root.display()))?;
        rustix::process::chroot(".").map_err(|e| format!("chroot {}: {e}", root.display()))?;
    }
    std::env::set_current_dir("/").map_err(|e| format!("chdir /: {e}"))
}

/// The `/etc/hosts` of a sandbox with `--add-host` entries: the host's lines, then one
/// line per entry, written to the sandbox's scratch tmpfs; `None` without entries (the
/// host's file is mounted as it is).
fn hosts_file(spec: &RunSpec, scratch: &Path) -> Result<Option<PathBuf>, String> {
    if spec.options.extra_hosts.is_empty() {
        return Ok(None);
    }
    let mut text = fs::read_to_string("/etc/hosts").unwrap_or_default();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    for entry in &spec.options.extra_hosts {
        text.push_str(&format!("{}\t{}\n", entry.ip, entry.name));
    }
    let path = scratch.join("etc-hosts");
    fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(Some(path))
}

/// Default size of `/dev/shm`, as docker's.
const SHM_SIZE: u64 = 64 << 20;

/// A tmpfs `/dev` with the host's harmless device nodes, a private devpts and (with
/// `shm`) a `/dev/shm` of that many bytes.
fn mount_dev(devices: Vec<(PathBuf, OwnedFd)>, shm: Option<u64>) -> Result<(), String> {
    let dev = Path::new("/dev");
    mount(
        "tmpfs",
        dev,
        MountFlags::NOSUID | MountFlags::STRICTATIME,
        "mode=0755,size=65536k",
    )?;
    for (path, tree) in devices {
        create_file(&path, 0o666)?;
        attach(tree, &path)?;
    }
    let pts = dev.join("pts");
    mkdir(&pts, 0o755)?;
    let flags = MountFlags::NOSUID | MountFlags::NOEXEC;
    mount(
        "devpts",
        &pts,
        flags,
        "newinstance,ptmxmode=0666,mode=0620,gid=5",
    )?;
    if let Some(size) = shm {
        let shm = dev.join("shm");
        mkdir(&shm, 0o1777)?;
        let flags = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
        mount("tmpfs", &shm, flags, &format!("mode=1777,size={size}"))?;
    }
    for (name, target) in DEV_LINKS {
        symlink(target, dev.join(name)).map_err(|e| format!("symlink /dev/{name}: {e}"))?;
    }
    Ok(())
}

/// Detached copies of the host mounts at each source path (missing ones skipped), with
/// the target path to attach them at in the new root.
fn clone_host_mounts(
    paths: impl Iterator<Item = (PathBuf, PathBuf)>,
) -> Result<Vec<(PathBuf, OwnedFd)>, String> {
    let mut trees = Vec::new();
    for (source, target) in paths {
        match rmount::open_tree(
            CWD,
            &source,
            OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
        ) {
            Ok(tree) => trees.push((target, tree)),
            Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(format!("cloning host {}: {e}", source.display())),
        }
    }
    Ok(trees)
}

fn attach(tree: OwnedFd, target: &Path) -> Result<(), String> {
    rmount::move_mount(
        &tree,
        "",
        CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| format!("mounting over {}: {e}", target.display()))
}

/// Mounts a fresh file system of type `fstype` (also its source name) on `target`.
fn mount(fstype: &str, target: &Path, flags: MountFlags, data: &str) -> Result<(), String> {
    let data = CString::new(data).map_err(|e| format!("mount options {data:?}: {e}"))?;
    rmount::mount(fstype, target, fstype, flags, data.as_c_str())
        .map_err(|e| format!("mounting {fstype} on {}: {e}", target.display()))
}

fn mkdir(path: &Path, mode: u32) -> Result<(), String> {
    fs::DirBuilder::new()
        .mode(mode)
        .create(path)
        .map_err(|e| format!("mkdir {}: {e}", path.display()))?;
    // mkdir honours the umask.
    rustix::fs::chmod(path, rustix::fs::Mode::from_raw_mode(mode))
        .map_err(|e| format!("chmod {}: {e}", path.display()))
}

fn create_file(path: &Path, mode: u32) -> Result<(), String> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map(drop)
        .map_err(|e| format!("creating {}: {e}", path.display()))
}

/// Whether `path` is a directory (symlinks followed: the root is the image by now).
fn is_dir(path: impl AsRef<Path>) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_dir())
}

/// Whether `path` is a regular file itself (not a symlink to one).
fn is_file(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_file())
}
