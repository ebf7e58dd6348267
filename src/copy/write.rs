//! COPY and ADD: write a [`SourceSet`] into an image root with BuildKit's semantics.
//!
//! The rules, each checked against BuildKit's `fsutil/copy` and buildah 1.28:
//!
//! - The destination is a directory when it ends in `/` (or `/.`, or is `.`), or when the
//!   sources matched more than one thing in all; a file source whose destination is an
//!   existing directory goes inside it. (BuildKit refuses several patterns with a
//!   non-slash destination; we take it as a directory, as buildah does.)
//! - A source directory copies its contents, not itself, merging into an existing
//!   destination directory whose own metadata is kept. Directories below it take the
//!   source's metadata even when they existed.
//! - Missing destination directories are created `0755` (with an octal `--chmod`, its
//!   permission bits: BuildKit's copier hands that mode to `MkdirAll`), owned by the
//!   `--chown` ids if given (every directory the COPY creates, as BuildKit's `MkdirAll`
//!   does) or root.
//! - Owners: context and here-document files become `0:0`, `--from` files keep theirs;
//!   `--chown` overrides both. Permission bits (setuid, setgid, sticky included) are kept
//!   unless `--chmod` changes them, for files and directories below the destination
//!   alike (a symbolic mode applies to each entry's own bits; see [`Chmod`]). (buildah
//!   strips setuid and setgid from copied files; BuildKit keeps them, and so do we.)
//! - Modification times and extended attributes (`security.capability` included) are
//!   kept; overlayfs's `trusted.overlay.*` attributes are not.
//! - A top-level symlink source is followed; symlinks below a copied directory are copied
//!   as symlinks. Regular files hard-linked to each other within one source pattern stay
//!   hard-linked (BuildKit tracks inodes per pattern, so separate patterns get copies).
//!   Fifos and device nodes are recreated; a socket becomes an empty regular file with
//!   its permission bits (BuildKit's context transfer and copier both make that stub).
//! - An existing non-directory at a file's destination is replaced; an existing directory
//!   there is an error, as is a non-directory where a directory must go (BuildKit's
//!   "cannot copy to non-directory", also for a symlink to a directory below the
//!   destination).
//! - The destination path itself is resolved inside the root, symlinks followed to the
//!   end as BuildKit's `fs.RootPath` does: `usr -> /` or `lib -> ../../..` in the image
//!   cannot lead a write outside it, and a destination that is a dangling symlink (to
//!   `/../../etc/x`, say) is written at its target inside the root ([`Root`]).
//! - `COPY --parents` sources are directories whose selected contents keep their paths
//!   below the destination, which is a directory (see [`super::context`]).
//!
//! ADD's local archives are handed to [`crate::layer::extract_archive`]; remote sources
//! are refused by [`super::Context::select`].

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{
    self as rfs, AtFlags, FileType, Gid, Mode, OFlags, Stat, Timespec, Timestamps, Uid,
};

use super::chmod::Chmod;
use super::context::{file_type, read_xattrs, reopen, Item, Node, SourceSet, Visitor};
use super::error::CopyError;
use crate::fsroot::{DirSpec, Root};

/// What a COPY/ADD changes about the copied files, already resolved by the builder.
#[derive(Clone, Debug, Default)]
pub struct CopyOptions {
    /// `--chown`, as numeric ids (the builder resolves names through the destination
    /// image's `/etc/passwd` and `/etc/group`).
    pub chown: Option<(u32, u32)>,
    /// `--chmod`.
    pub chmod: Option<Chmod>,
    /// ADD: extract tar archives instead of copying them (local ones by default, and
    /// downloads with `--unpack=true`).
    pub unpack_archives: bool,
}

/// What a copy wrote, for progress output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopyStats {
    /// Regular files written.
    pub files: u64,
    /// Directories created or updated below a destination.
    pub dirs: u64,
    /// Symlinks created.
    pub symlinks: u64,
    /// Hard links made to files copied earlier in the same pattern.
    pub hardlinks: u64,
    /// Fifos and device nodes created.
    pub specials: u64,
    /// Archives extracted (ADD).
    pub archives: u64,
    /// Bytes of file content written.
    pub bytes: u64,
}

/// Copies `sources` to `dest` (absolute in the image, WORKDIR already applied, a trailing
/// `/` kept: it makes `dest` a directory) inside `dest_root`, following the rules in the
/// module docs.
pub fn copy(
    sources: &SourceSet,
    dest_root: &Root,
    dest: &Path,
    opts: &CopyOptions,
) -> Result<CopyStats, CopyError> {
    let dest_is_dir = names_dir(dest) || sources.len() > 1 || sources.parents;
    let resolved = dest_root
        .resolve_links(dest)
        .map_err(|e| dest_io(dest, e))?;
    let dest = &Path::new("/").join(resolved);
    let (uid, gid) = opts.chown.unwrap_or((0, 0));
    let spec = DirSpec {
        mode: opts.chmod.as_ref().map_or(0o755, Chmod::created_dir_mode),
        uid,
        gid,
    };
    let mut stats = CopyStats::default();
    for source in &sources.sources {
        // Hard links are kept among the files of one pattern, as BuildKit's copier does.
        let mut links = HashMap::new();
        for item in &source.items {
            match item {
                Item::Inline { name, data } => {
                    let (parent, fname, rel) =
                        file_target(dest_root, dest, dest_is_dir, OsStr::new(name), spec)?;
                    write_inline(&parent, &fname, &rel, data, opts)?;
                    stats.files += 1;
                    stats.bytes += data.len() as u64;
                }
                Item::Path { name, rel } => {
                    let origin = sources
                        .origin
                        .as_ref()
                        .expect("path items come with an origin");
                    let src_io = |e: io::Error| CopyError::Io {
                        path: origin.root.path().join(rel).display().to_string(),
                        source: e,
                    };
                    let st = origin
                        .root
                        .stat(rel)
                        .map_err(src_io)?
                        .ok_or_else(|| src_io(io::ErrorKind::NotFound.into()))?;
                    let owner = if origin.keep_owner {
                        opts.chown
                    } else {
                        Some((uid, gid))
                    };
                    let top = if file_type(&st) == FileType::Directory {
                        if dest_root
                            .stat(dest)
                            .map_err(|e| dest_io(dest, e))?
                            .is_some_and(|d| file_type(&d) != FileType::Directory)
                        {
                            return Err(CopyError::NotADirectory {
                                dest: dest.display().to_string(),
                            });
                        }
                        let dir = dest_root
                            .mkdir_all(dest, spec)
                            .and_then(|fd| reopen(&fd))
                            .map_err(|e| dest_io(dest, e))?;
                        (Top::Dir(dir), dest.to_owned())
                    } else {
                        if opts.unpack_archives && file_type(&st) == FileType::RegularFile {
                            let archive = origin.root.open_file(rel).map_err(src_io)?;
                            let fd_path =
                                PathBuf::from(format!("/proc/self/fd/{}", archive.as_raw_fd()));
                            let extracted = crate::layer::extract_archive(
                                &fd_path, dest_root, dest, opts.chown,
                            )
                            .map_err(|e| CopyError::Extract {
                                archive: source.pattern.clone(),
                                source: e,
                            })?;
                            if extracted {
                                stats.archives += 1;
                                continue;
                            }
                        }
                        let (parent, fname, rel) =
                            file_target(dest_root, dest, dest_is_dir, name, spec)?;
                        (Top::Entry(parent, fname), rel)
                    };
                    let mut copier = Copier {
                        root: dest_root,
                        top: Some(top.0),
                        dest: top.1,
                        stack: Vec::new(),
                        owner,
                        chmod: opts.chmod.as_ref(),
                        links: &mut links,
                        stats: &mut stats,
                    };
                    origin.walk(rel, source.include.as_ref(), &mut copier)?;
                }
            }
        }
    }
    Ok(stats)
}

/// Whether a destination names a directory by its spelling: `/` at the end, `/.`, `.`.
fn names_dir(dest: &Path) -> bool {
    let bytes = dest.as_os_str().as_bytes();
    bytes.is_empty() || bytes.ends_with(b"/") || bytes.ends_with(b"/.") || bytes == b"."
}

fn dest_io(path: &Path, source: io::Error) -> CopyError {
    CopyError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The parent directory (opened) and name a non-directory named `name` is written to,
/// and its path in the image.
fn file_target(
    root: &Root,
    dest: &Path,
    dest_is_dir: bool,
    name: &OsStr,
    spec: DirSpec,
) -> Result<(OwnedFd, OsString, PathBuf), CopyError> {
    let into_dir = dest_is_dir
        || root
            .stat(dest)
            .map_err(|e| dest_io(dest, e))?
            .is_some_and(|st| file_type(&st) == FileType::Directory);
    if into_dir {
        let dir = root
            .mkdir_all(dest, spec)
            .and_then(|fd| reopen(&fd))
            .map_err(|e| dest_io(dest, e))?;
        Ok((dir, name.to_owned(), dest.join(name)))
    } else {
        let (parent, fname) = root.parent(dest, spec).map_err(|e| dest_io(dest, e))?;
        Ok((parent, fname, dest.to_owned()))
    }
}

/// Writes a here-document: mode 0644 unless `--chmod`, owner 0:0 unless `--chown`.
fn write_inline(
    parent: &OwnedFd,
    name: &OsStr,
    dest: &Path,
    data: &[u8],
    opts: &CopyOptions,
) -> Result<(), CopyError> {
    let io = |e: io::Error| dest_io(dest, e);
    clear_for_file(parent, name, dest)?;
    let mut file = create_file(parent, name).map_err(io)?;
    file.write_all(data).map_err(io)?;
    let (uid, gid) = opts.chown.unwrap_or((0, 0));
    rfs::fchown(&file, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
        .map_err(|e| io(e.into()))?;
    let mode = opts.chmod.as_ref().map_or(0o644, |c| c.apply(0o644, false));
    rfs::fchmod(&file, Mode::from_raw_mode(mode)).map_err(|e| io(e.into()))?;
    Ok(())
}

/// Makes room for a non-directory at `name`: an existing non-directory is removed, an
/// existing directory is an error.
fn clear_for_file(parent: &OwnedFd, name: &OsStr, dest: &Path) -> Result<(), CopyError> {
    match rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if file_type(&st) == FileType::Directory => Err(CopyError::IsADirectory {
            dest: dest.display().to_string(),
        }),
        Ok(_) => rfs::unlinkat(parent, name, AtFlags::empty()).map_err(|e| dest_io(dest, e.into())),
        Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(dest_io(dest, e.into())),
    }
}

fn create_file(parent: &OwnedFd, name: &OsStr) -> io::Result<File> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(File::from(rfs::openat(
        parent,
        name,
        flags,
        Mode::from_raw_mode(0o600),
    )?))
}

/// Where the walked item goes: a directory whose contents it fills, or a name in a parent.
enum Top {
    Dir(OwnedFd),
    Entry(OwnedFd, OsString),
}

/// The visitor that writes what the walker reads.
struct Copier<'a> {
    root: &'a Root,
    top: Option<Top>,
    /// The image path of the item's destination, for messages and hard links.
    dest: PathBuf,
    /// Open destination directories, innermost last.
    stack: Vec<OwnedFd>,
    /// The owner every entry gets, or `None` to keep the source's.
    owner: Option<(u32, u32)>,
    chmod: Option<&'a Chmod>,
    /// First destination of each hard-linked source inode, by (dev, ino).
    links: &'a mut HashMap<(u64, u64), PathBuf>,
    stats: &'a mut CopyStats,
}

impl Visitor for Copier<'_> {
    fn visit(&mut self, rel: &Path, st: &Stat, node: Node<'_>) -> Result<(), CopyError> {
        let dest = if rel.as_os_str().is_empty() {
            self.dest.clone()
        } else {
            self.dest.join(rel)
        };
        if rel.as_os_str().is_empty() {
            return match (self.top.take(), node) {
                (Some(Top::Dir(dir)), Node::Dir(_)) => {
                    self.stack.push(dir);
                    Ok(())
                }
                (Some(Top::Entry(parent, name)), node) => {
                    self.place(&parent, &name, &dest, st, node)
                }
                _ => unreachable!("the top of a walk matches the stat it was prepared from"),
            };
        }
        let parent = self.stack.last().expect("children come inside a directory");
        let name = rel.file_name().expect("a child has a name").to_owned();
        let Node::Dir(_) = node else {
            let parent = parent.try_clone().map_err(|e| dest_io(&dest, e))?;
            return self.place(&parent, &name, &dest, st, node);
        };
        match rfs::statat(parent, &name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(existing) if file_type(&existing) == FileType::Directory => {}
            Ok(_) => {
                return Err(CopyError::NotADirectory {
                    dest: dest.display().to_string(),
                })
            }
            Err(rustix::io::Errno::NOENT) => {
                rfs::mkdirat(parent, &name, Mode::from_raw_mode(0o700))
                    .map_err(|e| dest_io(&dest, e.into()))?;
            }
            Err(e) => return Err(dest_io(&dest, e.into())),
        }
        let dir = rfs::openat(
            parent,
            &name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| dest_io(&dest, e.into()))?;
        self.stack.push(dir);
        self.stats.dirs += 1;
        Ok(())
    }

    fn leave_dir(&mut self, rel: &Path, st: &Stat, src: &OwnedFd) -> Result<(), CopyError> {
        let dir = self.stack.pop().expect("every directory entered is left");
        if rel.as_os_str().is_empty() {
            // The destination directory itself keeps its metadata (created 0755 or existing).
            return Ok(());
        }
        let dest = self.dest.join(rel);
        self.finish(&dir, st, Some(src), &dest)
    }
}

impl Copier<'_> {
    /// Writes a non-directory entry as `name` in `parent`.
    fn place(
        &mut self,
        parent: &OwnedFd,
        name: &OsStr,
        dest: &Path,
        st: &Stat,
        node: Node<'_>,
    ) -> Result<(), CopyError> {
        let io = |e: io::Error| dest_io(dest, e);
        clear_for_file(parent, name, dest)?;
        match node {
            Node::File(mut src) => {
                if st.st_nlink > 1 {
                    if let Some(first) = self.links.get(&(st.st_dev, st.st_ino)) {
                        let (first_parent, first_name) =
                            self.root.parent(first, DirSpec::default()).map_err(io)?;
                        rfs::linkat(&first_parent, &first_name, parent, name, AtFlags::empty())
                            .map_err(|e| io(e.into()))?;
                        self.stats.hardlinks += 1;
                        return Ok(());
                    }
                    self.links.insert((st.st_dev, st.st_ino), dest.to_owned());
                }
                let mut out = create_file(parent, name).map_err(io)?;
                self.stats.bytes += io::copy(&mut src, &mut out).map_err(io)?;
                self.stats.files += 1;
                self.finish(&out, st, Some(&src), dest)
            }
            Node::Symlink(target) => {
                rfs::symlinkat(&target, parent, name).map_err(|e| io(e.into()))?;
                self.stats.symlinks += 1;
                self.finish_at(parent, name, st, false, dest)
            }
            Node::Special => {
                let kind = file_type(st);
                rfs::mknodat(parent, name, kind, Mode::from_raw_mode(0o600), st.st_rdev)
                    .map_err(|e| io(e.into()))?;
                self.stats.specials += 1;
                self.finish_at(parent, name, st, true, dest)
            }
            Node::Socket => {
                let out = create_file(parent, name).map_err(io)?;
                self.stats.files += 1;
                self.finish(&out, st, None, dest)
            }
            Node::Dir(_) => unreachable!("directories are handled by visit"),
        }
    }

    fn owner_of(&self, st: &Stat) -> (Option<Uid>, Option<Gid>) {
        let (uid, gid) = self.owner.unwrap_or((st.st_uid, st.st_gid));
        (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
    }

    fn mode_of(&self, st: &Stat) -> Mode {
        let bits = match self.chmod {
            Some(chmod) => chmod.apply(st.st_mode, file_type(st) == FileType::Directory),
            None => st.st_mode & 0o7777,
        };
        Mode::from_raw_mode(bits)
    }

    /// Owner, mode, xattrs, then times (chown clears setuid bits and capabilities, and
    /// every write moves mtime, so that order matters) on an open file or directory.
    fn finish(
        &self,
        fd: &impl AsFd,
        st: &Stat,
        src: Option<&dyn AsFd>,
        dest: &Path,
    ) -> Result<(), CopyError> {
        let io = |e: io::Error| dest_io(dest, e);
        let (uid, gid) = self.owner_of(st);
        rfs::fchown(fd, uid, gid).map_err(|e| io(e.into()))?;
        rfs::fchmod(fd, self.mode_of(st)).map_err(|e| io(e.into()))?;
        if let Some(src) = src {
            let attrs = read_xattrs(&src.as_fd()).map_err(io)?;
            if !attrs.is_empty() {
                use xattr::FileExt;
                let file = File::from(fd.as_fd().try_clone_to_owned().map_err(io)?);
                for (name, value) in attrs {
                    match file.set_xattr(&name, &value) {
                        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {}
                        other => other.map_err(io)?,
                    }
                }
            }
        }
        rfs::futimens(fd, &times(st)).map_err(|e| io(e.into()))
    }

    /// Owner, mode (not for symlinks) and times of an entry that cannot be opened.
    fn finish_at(
        &self,
        parent: &OwnedFd,
        name: &OsStr,
        st: &Stat,
        chmod: bool,
        dest: &Path,
    ) -> Result<(), CopyError> {
        let io = |e: rustix::io::Errno| dest_io(dest, e.into());
        let (uid, gid) = self.owner_of(st);
        rfs::chownat(parent, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW).map_err(io)?;
        if chmod {
            rfs::chmodat(parent, name, self.mode_of(st), AtFlags::empty()).map_err(io)?;
        }
        rfs::utimensat(parent, name, &times(st), AtFlags::SYMLINK_NOFOLLOW).map_err(io)
    }
}

fn times(st: &Stat) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: st.st_atime,
            tv_nsec: st.st_atime_nsec as _,
        },
        last_modification: Timespec {
            tv_sec: st.st_mtime,
            tv_nsec: st.st_mtime_nsec as _,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_spelling_names_a_directory() {
        assert!(names_dir(Path::new("/app/")));
        assert!(names_dir(Path::new("/app/.")));
        assert!(!names_dir(Path::new("/app")));
    }
}
