//! File operations confined to an image's root directory.
//!
//! An image may hold symlinks such as `/usr -> /` or `lib -> ../../..`. When strata writes
//! into an image's root (COPY, ADD, layer extraction), every path is resolved with
//! `openat2(RESOLVE_IN_ROOT)`, so the kernel treats the root as `/` for `..` and absolute
//! symlinks alike and nothing is ever written outside it. The last component of a path
//! is handled with `*at` calls on its parent and is never followed.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, ResolveFlags};

use crate::path::rooted_parts_bytes;

/// How many symlinks [`Root::resolve_links`] follows before it gives up (continuity's
/// `RootPath` limit; a loop fails either way).
const MAX_LINKS: usize = 255;

/// An open directory that paths are resolved inside of.
pub struct Root {
    dir: OwnedFd,
    path: PathBuf,
}

/// Owner and mode for directories that a write has to create on its way.
#[derive(Clone, Copy, Debug)]
pub struct DirSpec {
    /// Permission bits of created directories.
    pub mode: u32,
    /// Owner of created directories.
    pub uid: u32,
    /// Group of created directories.
    pub gid: u32,
}

impl Default for DirSpec {
    /// Docker's choice for implied parent directories: `0755 root:root`.
    fn default() -> Self {
        DirSpec {
            mode: 0o755,
            uid: 0,
            gid: 0,
        }
    }
}

impl Root {
    /// Opens `path` (a directory on the host) as a root.
    pub fn open(path: &Path) -> io::Result<Root> {
        let dir = rfs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root {
            dir,
            path: path.to_owned(),
        })
    }

    /// The host path of the root, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the directory at `rel` (symlinks followed, confined to the root).
    pub fn open_dir(&self, rel: &Path) -> io::Result<OwnedFd> {
        self.resolve(rel, OFlags::PATH | OFlags::DIRECTORY)
    }

    /// An `O_PATH` handle of `rel`, whatever its type (symlinks followed, confined to the
    /// root): `/proc/self/fd/N` of it names the resolved host path.
    pub fn open_path(&self, rel: &Path) -> io::Result<OwnedFd> {
        self.resolve(rel, OFlags::PATH)
    }

    /// Opens the file at `rel` for reading (symlinks followed, confined to the root).
    pub fn open_file(&self, rel: &Path) -> io::Result<File> {
        Ok(File::from(self.resolve(rel, OFlags::RDONLY)?))
    }

    /// The metadata of `rel` without following a final symlink; `None` if it does not exist.
    pub fn lstat(&self, rel: &Path) -> io::Result<Option<rfs::Stat>> {
        let Some(name) = file_name(rel) else {
            return rfs::fstat(&self.dir).map(Some).map_err(Into::into);
        };
        let parent = match self.open_dir(parent_of(rel)) {
            Ok(fd) => fd,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        match rfs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(st)),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The target of the symlink at `rel` (its parents resolved inside the root).
    pub fn read_link(&self, rel: &Path) -> io::Result<PathBuf> {
        let name = file_name(rel).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        let parent = self.open_dir(parent_of(rel))?;
        let target = rfs::readlinkat(&parent, name, Vec::new())?;
        Ok(PathBuf::from(std::ffi::OsString::from_vec(
            target.into_bytes(),
        )))
    }

    /// The metadata of `rel` with symlinks followed inside the root; `None` if it does not
    /// exist (or is a dangling link).
    pub fn stat(&self, rel: &Path) -> io::Result<Option<rfs::Stat>> {
        match self.resolve(rel, OFlags::PATH) {
            Ok(fd) => Ok(Some(rfs::fstat(&fd)?)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `rel` with every symlink on it resolved inside the root, the last component
    /// included: the path is first cleaned lexically (as BuildKit cleans a COPY
    /// destination and docker a mount target), then each link followed as BuildKit's
    /// `fs.RootPath` and runc's mount-target resolution do: an absolute target starts
    /// again at the root, `..` stops at the root, and a link whose target does not exist
    /// leads to that target (so a write there creates it). The result is root-relative,
    /// holds no symlink, and keeps what does not exist as named. A non-directory before
    /// the last component is an error naming it.
    pub fn resolve_links(&self, rel: &Path) -> io::Result<PathBuf> {
        let mut todo: VecDeque<OsString> = rooted_parts_bytes(rel.as_os_str().as_bytes())
            .into_iter()
            .map(|part| OsStr::from_bytes(part).to_owned())
            .collect();
        let mut done = PathBuf::new();
        let mut links = 0;
        while let Some(component) = todo.pop_front() {
            if component == ".." {
                // Only from a link target: `done` exists and holds no link.
                done.pop();
                continue;
            }
            let candidate = done.join(&component);
            let st = match self.lstat(&candidate) {
                Ok(st) => st,
                Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                    return Err(io::Error::new(
                        io::ErrorKind::NotADirectory,
                        format!("/{} is not a directory", done.display()),
                    ))
                }
                Err(e) => return Err(e),
            };
            match st {
                Some(st) if rfs::FileType::from_raw_mode(st.st_mode) == rfs::FileType::Symlink => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(io::Error::from_raw_os_error(libc::ELOOP));
                    }
                    let target = self.read_link(&candidate)?;
                    if target.is_absolute() {
                        done = PathBuf::new();
                    }
                    for part in normal_components(&target).rev() {
                        todo.push_front(part.to_owned());
                    }
                }
                _ => done = candidate,
            }
        }
        Ok(done)
    }

    /// Makes sure `rel` is a directory, creating it and any missing parents with `spec`.
    /// Returns the directory, opened.
    pub fn mkdir_all(&self, rel: &Path, spec: DirSpec) -> io::Result<OwnedFd> {
        let mut prefix = PathBuf::new();
        let mut current = rfs::openat(
            &self.dir,
            ".",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        for component in normal_components(rel) {
            prefix.push(component);
            current = match self.open_dir(&prefix) {
                Ok(fd) => fd,
                Err(e) if is_missing(&e) => {
                    // `current` is the resolved parent: create the child there, never following.
                    let parent = reopen_dir(&current)?;
                    match rfs::mkdirat(&parent, component, Mode::from_raw_mode(spec.mode)) {
                        Ok(()) => {
                            rfs::chownat(
                                &parent,
                                component,
                                Some(rfs::Uid::from_raw(spec.uid)),
                                Some(rfs::Gid::from_raw(spec.gid)),
                                AtFlags::SYMLINK_NOFOLLOW,
                            )?;
                            // mkdir honours the umask; the spec does not.
                            rfs::chmodat(
                                &parent,
                                component,
                                Mode::from_raw_mode(spec.mode),
                                AtFlags::empty(),
                            )?;
                        }
                        Err(rustix::io::Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                    self.open_dir(&prefix)?
                }
                Err(e) => return Err(e),
            };
        }
        Ok(current)
    }

    /// Opens the parent directory of `rel` (creating missing parents with `spec`) and
    /// returns it with the final name. Use the pair with `*at` calls, which never follow
    /// the final component.
    pub fn parent(&self, rel: &Path, spec: DirSpec) -> io::Result<(OwnedFd, OsString)> {
        let name = file_name(rel).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} names the root itself", rel.display()),
            )
        })?;
        let parent = reopen_dir(&self.mkdir_all(parent_of(rel), spec)?)?;
        Ok((parent, name.to_owned()))
    }

    /// Removes `rel` and, if it is a directory, everything below it. Missing is not an error.
    pub fn remove_all(&self, rel: &Path) -> io::Result<()> {
        let Some(name) = file_name(rel) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "refusing to remove the root",
            ));
        };
        let parent = match self.open_dir(parent_of(rel)) {
            Ok(fd) => reopen_dir(&fd)?,
            Err(e) if is_missing(&e) => return Ok(()),
            Err(e) => return Err(e),
        };
        remove_at(&parent, name)
    }

    /// Opens `rel` inside the root with `flags` (`O_PATH` for a handle that is only
    /// resolved, `O_RDONLY` — which is 0 — to read).
    fn resolve(&self, rel: &Path, flags: OFlags) -> io::Result<OwnedFd> {
        let rel = relative(rel);
        let how = flags;
        Ok(rfs::openat2(
            &self.dir,
            if rel.as_os_str().is_empty() {
                Path::new(".")
            } else {
                &rel
            },
            how | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )?)
    }
}

/// Removes the entry `name` of the directory `parent`, recursively, never following links.
pub fn remove_at(parent: &OwnedFd, name: &OsStr) -> io::Result<()> {
    match rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
        Ok(st) if rfs::FileType::from_raw_mode(st.st_mode) == rfs::FileType::Directory => {
            let dir = rfs::openat(
                parent,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let names: Vec<OsString> = rfs::Dir::read_from(&dir)?
                .filter_map(|e| e.ok())
                .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_owned())
                .filter(|n| n != "." && n != "..")
                .collect();
            for child in names {
                remove_at(&dir, &child)?;
            }
            rfs::unlinkat(parent, name, AtFlags::REMOVEDIR)?;
        }
        Ok(_) => rfs::unlinkat(parent, name, AtFlags::empty())?,
    }
    Ok(())
}

/// An `O_PATH` fd cannot be used for `mkdirat` and friends on all kernels' checks of
/// permissions we need; reopen it as a real directory fd.
fn reopen_dir(fd: &OwnedFd) -> io::Result<OwnedFd> {
    Ok(rfs::openat(
        fd.as_fd(),
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// `rel` with root, `.` and prefix components dropped, so it can be joined under a root.
pub fn relative(rel: &Path) -> PathBuf {
    normal_components(rel).collect()
}

fn normal_components(rel: &Path) -> impl DoubleEndedIterator<Item = &OsStr> {
    rel.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n),
        // `..` is kept for the kernel to clamp at the root.
        Component::ParentDir => Some(OsStr::new("..")),
        _ => None,
    })
}

fn file_name(rel: &Path) -> Option<&OsStr> {
    match normal_components(rel).last() {
        Some(n) if n != ".." => Some(n),
        _ => None,
    }
}

fn parent_of(rel: &Path) -> &Path {
    rel.parent().unwrap_or(Path::new(""))
}

fn is_missing(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    #[ignore = "needs root: make test"]
    fn symlink_to_slash_stays_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root_dir = tmp.path().join("root");
        std::fs::create_dir(&root_dir).unwrap();
        symlink("/", root_dir.join("escape")).unwrap();
        symlink("../../../..", root_dir.join("up")).unwrap();
        let root = Root::open(&root_dir).unwrap();
        root.mkdir_all(Path::new("/escape/created"), DirSpec::default())
            .unwrap();
        root.mkdir_all(Path::new("up/also"), DirSpec::default())
            .unwrap();
        assert!(root_dir.join("created").is_dir());
        assert!(root_dir.join("also").is_dir());
        assert!(!tmp.path().join("also").exists());
    }

    #[test]
    fn parent_never_follows_the_final_component() {
        let tmp = tempfile::tempdir().unwrap();
        symlink("/etc/passwd", tmp.path().join("link")).unwrap();
        let root = Root::open(tmp.path()).unwrap();
        let (parent, name) = root.parent(Path::new("/link"), DirSpec::default()).unwrap();
        let st = rfs::statat(&parent, &name, AtFlags::SYMLINK_NOFOLLOW).unwrap();
        assert_eq!(
            rfs::FileType::from_raw_mode(st.st_mode),
            rfs::FileType::Symlink
        );
        root.remove_all(Path::new("/link")).unwrap();
        assert!(std::fs::symlink_metadata(tmp.path().join("link")).is_err());
        assert!(Path::new("/etc/passwd").exists());
    }

    #[test]
    fn links_resolve_inside_the_root_even_when_dangling() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("etc")).unwrap();
        symlink("/../../etc/missing", tmp.path().join("abs")).unwrap();
        symlink("etc/../../rel-target", tmp.path().join("rel")).unwrap();
        symlink("abs", tmp.path().join("chain")).unwrap();
        symlink("loop", tmp.path().join("loop")).unwrap();
        let root = Root::open(tmp.path()).unwrap();
        let resolve = |p: &str| root.resolve_links(Path::new(p)).unwrap();
        assert_eq!(resolve("/abs"), Path::new("etc/missing"));
        assert_eq!(resolve("/chain/x"), Path::new("etc/missing/x"));
        assert_eq!(
            resolve("/chain/../x"),
            Path::new("x"),
            "cleaned before resolving"
        );
        assert_eq!(resolve("rel"), Path::new("rel-target"));
        assert_eq!(resolve("/etc/new/file"), Path::new("etc/new/file"));
        assert_eq!(resolve("/"), Path::new(""));
        let err = root.resolve_links(Path::new("/loop")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
        std::fs::write(tmp.path().join("etc/file"), "").unwrap();
        let err = root.resolve_links(Path::new("/etc/file/x")).unwrap_err();
        assert_eq!(err.to_string(), "/etc/file is not a directory");
    }

    #[test]
    fn open_file_reads_through_links_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("data"), b"inside").unwrap();
        symlink("/data", tmp.path().join("link")).unwrap();
        let root = Root::open(tmp.path()).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut root.open_file(Path::new("link")).unwrap(), &mut text)
            .unwrap();
        assert_eq!(text, "inside");
    }

    #[test]
    #[ignore = "needs root: make test"]
    fn created_parents_get_the_requested_owner_and_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::open(tmp.path()).unwrap();
        root.mkdir_all(
            Path::new("a/b"),
            DirSpec {
                mode: 0o700,
                uid: 1234,
                gid: 99,
            },
        )
        .unwrap();
        let st = root.lstat(Path::new("a/b")).unwrap().unwrap();
        assert_eq!(st.st_mode & 0o7777, 0o700);
        assert_eq!((st.st_uid, st.st_gid), (1234, 99));
    }
}
