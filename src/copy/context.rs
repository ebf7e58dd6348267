//! The sources of COPY and ADD: the build context, another stage's root, or inline bytes.
//!
//! A [`Context`] is a directory plus an [`Exclusion`] (the `.dockerignore`). Its
//! [`Context::select`] resolves the source patterns of one COPY the way BuildKit does:
//! each pattern is cleaned as `filepath.Join("/", p)` (so `../x` is clamped to the context
//! root), components with `*`, `?` or `[...]` are matched with Go's `filepath.Match`
//! rules one path component at a time, and an excluded path is as if absent. A plain
//! path that does not exist is an error naming it; a wildcard that matches nothing is
//! no source at all (BuildKit's `AllowEmptyWildcard`). [`SourceSet::from_root`] does the
//! same for `COPY --from`, inside another stage's root directory.
//!
//! `COPY --parents` selects differently, as BuildKit's frontend lowers it: a source
//! `base/./rest` (or `rest` alone, with the root as base) selects the directories
//! matching `base` and, below each, what the `.dockerignore`-style pattern `rest`
//! matches (`**` included), with the directories on the way kept. When neither part has
//! a wildcard, `base/rest` must exist. Every read goes through
//! [`crate::fsroot::Root`], so neither `..` nor a symlink in the sources can reach files
//! outside their root.
//!
//! The selected [`SourceSet`] is what [`super::copy`] writes into an image, and what
//! [`digest_sources`] hashes for the builder's step cache key. Both walk the sources with
//! the same private walker, so they agree on what a COPY reads.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Stat};
use sha2::{Digest as _, Sha256};

use super::error::CopyError;
use crate::cache::FileDigests;
use crate::digest::Digest;
use crate::dockerfile::ignore::Ignore;
use crate::fsroot::Root;
use crate::glob::Pattern;
use crate::path::rooted_parts;

/// Decides which context paths a build may see. Paths are relative to the context root,
/// `/`-separated, without a leading `/`.
pub trait Exclusion: Send + Sync {
    /// Whether `rel` is excluded (as if it were not in the context).
    fn is_excluded(&self, rel: &Path) -> bool;
    /// Whether something below the excluded directory `rel` may be re-included, so it
    /// must still be walked.
    fn may_reinclude_below(&self, rel: &Path) -> bool;
}

/// `.dockerignore` rules are the exclusion of a real build.
impl Exclusion for Ignore {
    fn is_excluded(&self, rel: &Path) -> bool {
        Ignore::is_excluded(self, rel)
    }
    fn may_reinclude_below(&self, rel: &Path) -> bool {
        Ignore::may_reinclude_below(self, rel)
    }
}

/// A plain predicate excludes what it returns true for and never re-includes below.
impl<F: Fn(&Path) -> bool + Send + Sync> Exclusion for F {
    fn is_excluded(&self, rel: &Path) -> bool {
        self(rel)
    }
    fn may_reinclude_below(&self, _rel: &Path) -> bool {
        false
    }
}

/// The build context: a directory and what of it is excluded.
pub struct Context {
    dir: PathBuf,
    root: Root,
    exclude: Box<dyn Exclusion>,
}

impl Context {
    /// The context at `dir` filtered by its `.dockerignore` rules.
    pub fn new(dir: &Path, ignore: Ignore) -> io::Result<Context> {
        Context::with_exclusion(dir, Box::new(ignore))
    }

    /// The context at `dir` filtered by any [`Exclusion`] (tests use closures).
    pub fn with_exclusion(dir: &Path, exclude: Box<dyn Exclusion>) -> io::Result<Context> {
        let dir = fs_err::canonicalize(dir)?;
        let root = Root::open(&dir)?;
        Ok(Context { dir, root, exclude })
    }

    /// The context directory (canonical), for messages.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The top-most paths (relative to the context root) that the exclusion hides, so
    /// that a bind mount of the context can hide them as BuildKit's transferred context
    /// does. Excluded directories are not entered unless a `!` pattern may re-include
    /// something below them; symlinks are not followed.
    pub fn excluded(&self) -> io::Result<Vec<PathBuf>> {
        let mut hidden = Vec::new();
        let mut pending = vec![PathBuf::new()];
        while let Some(rel) = pending.pop() {
            for entry in fs_err::read_dir(self.dir.join(&rel))? {
                let entry = entry?;
                let path = rel.join(entry.file_name());
                let is_dir = entry.file_type()?.is_dir();
                if self.exclude.is_excluded(&path) {
                    if is_dir && self.exclude.may_reinclude_below(&path) {
                        pending.push(path);
                    } else {
                        hidden.push(path);
                    }
                } else if is_dir {
                    pending.push(path);
                }
            }
        }
        hidden.sort();
        Ok(hidden)
    }

    /// Resolves the source patterns of one COPY/ADD (raw strings after variable expansion).
    /// Remote sources are refused with [`CopyError::Unsupported`]: COPY takes no URLs,
    /// ADD downloads http(s) URLs before it gets here ([`super::fetch`]), and git
    /// repositories are not fetched.
    /// `skip` holds the instruction's `--exclude` patterns (see [`Origin::skip`]);
    /// `parents` selects as `COPY --parents` does (see the module docs).
    pub fn select<'s>(
        &'s self,
        patterns: &[String],
        skip: &'s Ignore,
        parents: bool,
    ) -> Result<SourceSet<'s>, CopyError> {
        if let Some(remote) = patterns.iter().find(|p| is_remote(p)) {
            return Err(CopyError::Unsupported(format!(
                "remote source {remote:?} (only ADD takes URLs, and not git repositories)"
            )));
        }
        let origin = Origin {
            root: &self.root,
            real: &self.dir,
            exclude: Some(self.exclude.as_ref()),
            skip,
            keep_owner: false,
        };
        SourceSet::resolve(origin, patterns, parents, "the build context")
    }
}

/// Whether a source names a remote resource (ADD's URL and git sources).
pub fn is_remote(source: &str) -> bool {
    ["http://", "https://", "git@", "git://"]
        .iter()
        .any(|p| source.starts_with(p))
}

/// Where the paths of a [`SourceSet`] are read from, and the policy for their owners.
#[derive(Clone, Copy)]
pub(crate) struct Origin<'a> {
    pub(crate) root: &'a Root,
    /// The canonical host path of `root`, to turn an opened fd back into a root-relative path.
    real: &'a Path,
    exclude: Option<&'a dyn Exclusion>,
    /// `COPY --exclude` patterns, matched as BuildKit does: against paths relative to
    /// each copied directory, and for wildcard matches, to the source pattern's directory.
    skip: &'a Ignore,
    /// `COPY --from` keeps the owners of the source files; the context's become 0:0.
    pub(crate) keep_owner: bool,
}

/// The sources of one COPY/ADD, resolved: one [`Source`] per pattern as written.
pub struct SourceSet<'a> {
    pub(crate) origin: Option<Origin<'a>>,
    pub(crate) sources: Vec<Source>,
    /// Selected as `COPY --parents`: every item is a directory whose included contents
    /// go into the destination, which is therefore a directory.
    pub(crate) parents: bool,
}

/// One source pattern and what it matched.
pub struct Source {
    /// The pattern as written, for messages.
    pub pattern: String,
    pub(crate) items: Vec<Item>,
    /// `COPY --parents`: the pattern below the pivot that selects what of each item
    /// (a directory) is copied, with the directories leading to it.
    pub(crate) include: Option<Ignore>,
}

/// One matched thing to copy.
pub(crate) enum Item {
    /// A path in the origin's root. `name` is the last component of the path as matched
    /// (before following a symlink), which names the copy in a destination directory;
    /// `rel` is where it really is, symlinks followed.
    Path { name: OsString, rel: PathBuf },
    /// Bytes written as a file named `name` (a here-document).
    Inline { name: String, data: Vec<u8> },
}

impl<'a> SourceSet<'a> {
    /// Resolves `patterns` inside the root directory of another stage or image
    /// (`COPY --from`); owners of the files are kept. `place` names the root in messages.
    /// `skip` holds the instruction's `--exclude` patterns; `parents` selects as
    /// `COPY --parents` does.
    pub fn from_root(
        root: &'a Root,
        real: &'a Path,
        patterns: &[String],
        skip: &'a Ignore,
        parents: bool,
        place: &str,
    ) -> Result<SourceSet<'a>, CopyError> {
        let origin = Origin {
            root,
            real,
            exclude: None,
            skip,
            keep_owner: true,
        };
        SourceSet::resolve(origin, patterns, parents, place)
    }

    /// Sources that are only here-documents: `(name, bytes)` pairs.
    pub fn inline(docs: Vec<(String, Vec<u8>)>) -> SourceSet<'static> {
        let mut set = SourceSet {
            origin: None,
            sources: Vec::new(),
            parents: false,
        };
        for (name, data) in docs {
            set.push_inline(name, data);
        }
        set
    }

    /// Adds a here-document source (for `COPY <<EOF file /dest/` mixing both kinds).
    pub fn push_inline(&mut self, name: String, data: Vec<u8>) {
        self.sources.push(Source {
            pattern: format!("<<{name}"),
            items: vec![Item::Inline { name, data }],
            include: None,
        });
    }

    /// How many things were matched in all; more than one makes the destination a directory.
    pub fn len(&self) -> usize {
        self.sources.iter().map(|s| s.items.len()).sum()
    }

    /// Whether nothing was selected (an empty pattern list, or wildcards that matched
    /// nothing).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn resolve(
        origin: Origin<'a>,
        patterns: &[String],
        parents: bool,
        place: &str,
    ) -> Result<SourceSet<'a>, CopyError> {
        let not_found = |pattern: &String| CopyError::NotFound {
            pattern: pattern.clone(),
            place: place.to_owned(),
        };
        let mut sources = Vec::new();
        for pattern in patterns {
            let (base, include) = if parents {
                let (base, rest) = pattern.split_once("/./").unwrap_or(("/", pattern));
                (base, Some(rooted_parts(rest).join("/")))
            } else {
                (pattern.as_str(), None)
            };
            let items = origin.expand(base)?;
            if items.is_empty() && !has_wildcard(base) {
                return Err(not_found(pattern));
            }
            let include = match include {
                Some(rest) => {
                    // Without wildcards the path named must be there (BuildKit's
                    // `RequiredPaths`); with them, matching nothing copies nothing.
                    if !has_wildcard(base)
                        && !has_wildcard(&rest)
                        && origin.expand(&format!("{base}/{rest}"))?.is_empty()
                    {
                        return Err(not_found(pattern));
                    }
                    Some(Ignore::parse(&rest).map_err(|e| CopyError::BadPattern {
                        pattern: pattern.clone(),
                        reason: e.message,
                    })?)
                }
                None => None,
            };
            sources.push(Source {
                pattern: pattern.clone(),
                items,
                include,
            });
        }
        Ok(SourceSet {
            origin: Some(origin),
            sources,
            parents,
        })
    }
}

impl Origin<'_> {
    fn io(&self, rel: &Path, source: io::Error) -> CopyError {
        CopyError::Io {
            path: self.root.path().join(rel).display().to_string(),
            source,
        }
    }

    /// The matches of one pattern, sorted by path, symlinks of the matched paths followed.
    fn expand(&self, pattern: &str) -> Result<Vec<Item>, CopyError> {
        let comps = rooted_parts(pattern);
        let split = comps
            .iter()
            .position(|c| has_wildcard(c))
            .unwrap_or(comps.len());
        let mut found: Vec<PathBuf> = vec![comps[..split].iter().collect()];
        for (i, comp) in comps[split..].iter().enumerate() {
            let last = split + i + 1 == comps.len();
            let mut next = Vec::new();
            // A malformed component matches nothing (BuildKit ignores Go's error the same way).
            let Some(glob) = Pattern::go(comp) else {
                found.clear();
                break;
            };
            let glob_name =
                |name: &OsStr| glob.matches(&name.to_string_lossy().chars().collect::<Vec<_>>());
            for base in &found {
                // The literal prefix is resolved with symlinks followed; below a wildcard, only
                // real directories are descended (as `filepath.Walk` does).
                if i > 0
                    && !self
                        .lstat(base)?
                        .is_some_and(|st| file_type(&st) == FileType::Directory)
                {
                    continue;
                }
                let dir = match self.root.open_dir(base) {
                    Ok(fd) => reopen(&fd).map_err(|e| self.io(base, e))?,
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                        continue
                    }
                    Err(e) => return Err(self.io(base, e)),
                };
                for name in read_dir(&dir).map_err(|e| self.io(base, e))? {
                    if glob_name(&name) {
                        let path = base.join(&name);
                        if last || !self.is_excluded(&path) || self.may_reinclude(&path) {
                            next.push(path);
                        }
                    }
                }
            }
            found = next;
        }
        if split < comps.len() {
            let prefix: PathBuf = comps[..split].iter().collect();
            found.retain(|path| {
                !path
                    .strip_prefix(&prefix)
                    .is_ok_and(|below| self.skip.is_excluded(below))
            });
        }
        found.sort();
        let mut items = Vec::new();
        for path in found {
            // The matched path itself, then its target, must both be visible.
            if self.lstat(&path)?.is_none() || self.is_excluded(&path) && !self.may_reinclude(&path)
            {
                continue;
            }
            let Some(rel) = self.real_path(&path)? else {
                continue;
            };
            if !self.visible(&rel)? {
                continue;
            }
            let name = path.file_name().map(OsStr::to_owned).unwrap_or_default();
            items.push(Item::Path { name, rel });
        }
        Ok(items)
    }

    fn lstat(&self, rel: &Path) -> Result<Option<Stat>, CopyError> {
        self.root.lstat(rel).map_err(|e| self.io(rel, e))
    }

    /// Where `rel` really is in the root, symlinks followed; `None` if it does not exist.
    fn real_path(&self, rel: &Path) -> Result<Option<PathBuf>, CopyError> {
        let fd = match self.root.open_path(rel) {
            Ok(fd) => fd,
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(self.io(rel, e)),
        };
        let host = fs_err::read_link(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&fd)
        ))
        .map_err(|e| self.io(rel, e))?;
        Ok(Some(
            host.strip_prefix(self.real)
                .map(Path::to_owned)
                .unwrap_or_default(),
        ))
    }

    fn is_excluded(&self, rel: &Path) -> bool {
        self.exclude
            .is_some_and(|x| !rel.as_os_str().is_empty() && x.is_excluded(rel))
    }

    fn may_reinclude(&self, rel: &Path) -> bool {
        self.exclude.is_some_and(|x| x.may_reinclude_below(rel))
    }

    /// Whether the real path `rel` is in the (filtered) context: not excluded, or an
    /// excluded directory that still holds something re-included.
    fn visible(&self, rel: &Path) -> Result<bool, CopyError> {
        if !self.is_excluded(rel) {
            return Ok(true);
        }
        if !self.may_reinclude(rel) {
            return Ok(false);
        }
        match self.root.open_dir(rel) {
            Ok(fd) => {
                let dir = reopen(&fd).map_err(|e| self.io(rel, e))?;
                self.holds_included(&dir, rel)
            }
            Err(_) => Ok(false),
        }
    }

    /// Whether anything below the directory `dir` (at `rel`) is visible.
    fn holds_included(&self, dir: &OwnedFd, rel: &Path) -> Result<bool, CopyError> {
        for name in read_dir(dir).map_err(|e| self.io(rel, e))? {
            let child = rel.join(&name);
            if !self.is_excluded(&child) {
                return Ok(true);
            }
            if self.may_reinclude(&child) {
                if let Ok(sub) = rfs::openat(
                    dir,
                    &name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                ) {
                    if self.holds_included(&sub, &child)? {
                        return Ok(true);
                    }
                }
            }
        }
        Ok(false)
    }

    /// Walks the item at the real path `rel`: the top is followed if it is a symlink (it
    /// was resolved already), everything below is visited without following links, in
    /// name order, excluded entries skipped. With `include` (`COPY --parents`), only what
    /// it matches below the top is visited, and the directories leading there.
    pub(crate) fn walk(
        &self,
        rel: &Path,
        include: Option<&Ignore>,
        visitor: &mut dyn Visitor,
    ) -> Result<(), CopyError> {
        let st = match self.root.stat(rel) {
            Ok(Some(st)) => st,
            Ok(None) => return Err(self.io(rel, io::ErrorKind::NotFound.into())),
            Err(e) => return Err(self.io(rel, e)),
        };
        let node = match file_type(&st) {
            FileType::Directory => {
                let fd = self
                    .root
                    .open_dir(rel)
                    .and_then(|fd| reopen(&fd))
                    .map_err(|e| self.io(rel, e))?;
                let mut walk = Walk {
                    visitor,
                    include,
                    pending: Vec::new(),
                };
                return self.walk_dir(rel, Path::new(""), &st, &fd, &mut walk);
            }
            FileType::RegularFile => {
                Node::File(self.root.open_file(rel).map_err(|e| self.io(rel, e))?)
            }
            FileType::Socket => Node::Socket,
            _ => Node::Special,
        };
        visitor.visit(Path::new(""), &st, node)
    }

    fn walk_dir(
        &self,
        real: &Path,
        rel: &Path,
        st: &Stat,
        dir: &OwnedFd,
        walk: &mut Walk<'_>,
    ) -> Result<(), CopyError> {
        // The top is always visited; below it, a directory the include pattern does not
        // match waits until something under it is visited.
        let deferred = !rel.as_os_str().is_empty()
            && walk.include.is_some_and(|include| !include.matches(rel));
        if deferred {
            let fd = dir.try_clone().map_err(|e| self.io(real, e))?;
            walk.pending.push((rel.to_owned(), *st, fd));
        } else {
            walk.visit(rel, st, Node::Dir(dir))?;
        }
        for name in read_dir(dir).map_err(|e| self.io(real, e))? {
            let (child_real, child_rel) = (real.join(&name), rel.join(&name));
            let io = |e: rustix::io::Errno| self.io(&child_real, e.into());
            let cst = rfs::statat(dir, &name, AtFlags::SYMLINK_NOFOLLOW).map_err(io)?;
            let is_dir = file_type(&cst) == FileType::Directory;
            if self.skip.is_excluded(&child_rel)
                && !(is_dir && self.skip.may_reinclude_below(&child_rel))
            {
                continue;
            }
            if let Some(include) = walk.include {
                let wanted =
                    include.matches(&child_rel) || is_dir && include.may_match_below(&child_rel);
                if !wanted {
                    continue;
                }
            }
            if self.is_excluded(&child_real) {
                if !is_dir || !self.may_reinclude(&child_real) {
                    continue;
                }
                let sub = open_subdir(dir, &name).map_err(io)?;
                if self.holds_included(&sub, &child_real)? {
                    self.walk_dir(&child_real, &child_rel, &cst, &sub, walk)?;
                }
                continue;
            }
            let node = match file_type(&cst) {
                FileType::Directory => {
                    let sub = open_subdir(dir, &name).map_err(io)?;
                    self.walk_dir(&child_real, &child_rel, &cst, &sub, walk)?;
                    continue;
                }
                FileType::RegularFile => Node::File(File::from(
                    rfs::openat(
                        dir,
                        &name,
                        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(io)?,
                )),
                FileType::Symlink => Node::Symlink(
                    OsStr::from_bytes(
                        rfs::readlinkat(dir, &name, Vec::new())
                            .map_err(io)?
                            .as_bytes(),
                    )
                    .to_owned(),
                ),
                FileType::Socket => Node::Socket,
                _ => Node::Special,
            };
            walk.visit(&child_rel, &cst, node)?;
        }
        if deferred && walk.pending.last().is_some_and(|(p, _, _)| p == rel) {
            // Nothing below was visited: the directory is not written either.
            walk.pending.pop();
            return Ok(());
        }
        walk.visitor.leave_dir(rel, st, dir)
    }
}

/// One walk's visitor and filter.
struct Walk<'w> {
    visitor: &'w mut dyn Visitor,
    /// `COPY --parents`: what below the top is visited.
    include: Option<&'w Ignore>,
    /// Directories entered but not visited yet, outermost first: each is visited just
    /// before the first entry below it, as BuildKit's copier creates the parents of an
    /// included path only once it meets one.
    pending: Vec<(PathBuf, Stat, OwnedFd)>,
}

impl Walk<'_> {
    /// Visits `node` at `rel`, after the directories waiting above it.
    fn visit(&mut self, rel: &Path, st: &Stat, node: Node<'_>) -> Result<(), CopyError> {
        for (dir_rel, dir_st, fd) in std::mem::take(&mut self.pending) {
            self.visitor.visit(&dir_rel, &dir_st, Node::Dir(&fd))?;
        }
        self.visitor.visit(rel, st, node)
    }
}

/// One entry met by the walker.
pub(crate) enum Node<'a> {
    /// A directory, opened for reading; its children follow, then `leave_dir`.
    Dir(&'a OwnedFd),
    /// A regular file, opened for reading.
    File(File),
    /// A symlink and its target.
    Symlink(OsString),
    /// A fifo or a device node (the stat says which).
    Special,
    /// A unix socket: written as an empty regular file with the socket's permission
    /// bits, as BuildKit's context transfer (fsutil clears the socket type bit) and its
    /// copier (`mknod` without a type) both do.
    Socket,
}

/// What consumes a walk: the copier and the hasher.
pub(crate) trait Visitor {
    /// An entry at `rel` (relative to the walked item; empty for the item itself).
    fn visit(&mut self, rel: &Path, st: &Stat, node: Node<'_>) -> Result<(), CopyError>;
    /// The end of the directory at `rel`, after all its children.
    fn leave_dir(&mut self, rel: &Path, st: &Stat, dir: &OwnedFd) -> Result<(), CopyError>;
}

/// The extended attributes of an open file or directory, sorted by name; overlayfs's own
/// `trusted.overlay.*` attributes are left out (they describe a layer, not a file).
pub(crate) fn read_xattrs(fd: &impl AsFd) -> io::Result<Vec<(OsString, Vec<u8>)>> {
    use xattr::FileExt;
    let file = File::from(fd.as_fd().try_clone_to_owned()?);
    let mut out = Vec::new();
    for name in file.list_xattr()? {
        if name.as_bytes().starts_with(b"trusted.overlay.") {
            continue;
        }
        if let Some(value) = file.get_xattr(&name)? {
            out.push((name, value));
        }
    }
    out.sort();
    Ok(out)
}

/// A content digest of everything `set` would copy, for the builder's step cache key:
/// sha256 over each pattern, and for each matched entry (sorted) its relative path, type,
/// permission bits, link target, device number, xattrs and file contents, plus its owner
/// when owners are kept (`--from`). Modification times are left out, as in BuildKit, so
/// touching a file does not invalidate the cache.
pub fn digest_sources(
    set: &SourceSet,
    memo: &mut FileDigests,
) -> Result<(Digest, BTreeMap<String, String>), CopyError> {
    let mut hasher = Hasher {
        sha: Sha256::new(),
        keep_owner: set.origin.as_ref().is_some_and(|o| o.keep_owner),
        path: PathBuf::new(),
        item: String::new(),
        memo,
        files: BTreeMap::new(),
    };
    for source in &set.sources {
        hasher.field(b"pattern", source.pattern.as_bytes());
        for item in &source.items {
            match item {
                Item::Inline { name, data } => {
                    hasher.field(b"inline", name.as_bytes());
                    hasher.field(b"data", data);
                }
                Item::Path { name, rel } => {
                    let origin = set.origin.as_ref().expect("path items come with an origin");
                    hasher.field(b"item", name.as_bytes());
                    hasher.path = origin.root.path().join(rel);
                    hasher.item = rel.display().to_string();
                    origin.walk(rel, source.include.as_ref(), &mut hasher)?;
                }
            }
        }
    }
    let files = std::mem::take(&mut hasher.files);
    Ok((Digest::from_hasher(hasher.sha), files))
}

struct Hasher<'m> {
    sha: Sha256,
    keep_owner: bool,
    /// The item being hashed (host path), for messages and the memo.
    path: PathBuf,
    /// The item's path relative to its origin, naming files in `files`.
    item: String,
    /// Known content digests of unchanged files.
    memo: &'m mut FileDigests,
    /// Content digest of every file seen, by origin-relative path (for `--explain`).
    files: BTreeMap<String, String>,
}

impl Hasher<'_> {
    fn field(&mut self, tag: &[u8], value: &[u8]) {
        self.sha.update(tag);
        self.sha.update((value.len() as u64).to_le_bytes());
        self.sha.update(value);
    }

    fn io(&self, rel: &Path, source: io::Error) -> CopyError {
        CopyError::Io {
            path: self.path.join(rel).display().to_string(),
            source,
        }
    }

    fn meta(&mut self, rel: &Path, st: &Stat, fd: Option<&dyn AsFd>) -> Result<(), CopyError> {
        self.field(b"path", rel.as_os_str().as_bytes());
        self.field(b"mode", &st.st_mode.to_le_bytes());
        if self.keep_owner {
            self.field(
                b"owner",
                &[st.st_uid.to_le_bytes(), st.st_gid.to_le_bytes()].concat(),
            );
        }
        if let Some(fd) = fd {
            for (name, value) in read_xattrs(&fd.as_fd()).map_err(|e| self.io(rel, e))? {
                self.field(b"xattr", name.as_bytes());
                self.field(b"value", &value);
            }
        }
        Ok(())
    }
}

impl Visitor for Hasher<'_> {
    fn visit(&mut self, rel: &Path, st: &Stat, node: Node<'_>) -> Result<(), CopyError> {
        match node {
            Node::Dir(fd) => self.meta(rel, st, Some(fd)),
            Node::File(mut file) => {
                self.meta(rel, st, Some(&file))?;
                let host = self.path.join(rel);
                let digest = self
                    .memo
                    .digest(&host, st, || {
                        let mut content = Sha256::new();
                        std::io::copy(&mut file, &mut content)?;
                        Ok(hex::encode(content.finalize()))
                    })
                    .map_err(|e| self.io(rel, e))?;
                self.field(b"content", digest.as_bytes());
                let name = if rel.as_os_str().is_empty() {
                    self.item.clone()
                } else {
                    Path::new(&self.item).join(rel).display().to_string()
                };
                self.files.insert(name, digest);
                Ok(())
            }
            Node::Symlink(target) => {
                self.meta(rel, st, None)?;
                self.field(b"link", target.as_bytes());
                Ok(())
            }
            Node::Special => {
                self.meta(rel, st, None)?;
                self.field(b"rdev", &st.st_rdev.to_le_bytes());
                Ok(())
            }
            Node::Socket => {
                self.meta(rel, st, None)?;
                self.field(b"socket", b"");
                Ok(())
            }
        }
    }

    fn leave_dir(&mut self, rel: &Path, _st: &Stat, _dir: &OwnedFd) -> Result<(), CopyError> {
        self.field(b"end", rel.as_os_str().as_bytes());
        Ok(())
    }
}

pub(crate) fn file_type(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

/// An `O_PATH` directory fd reopened for reading.
pub(crate) fn reopen(fd: &OwnedFd) -> io::Result<OwnedFd> {
    Ok(rfs::openat(
        fd,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

fn open_subdir(dir: &OwnedFd, name: &OsStr) -> rustix::io::Result<OwnedFd> {
    rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// The entry names of a directory, `.` and `..` left out, sorted.
pub(crate) fn read_dir(dir: &OwnedFd) -> io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in rfs::Dir::read_from(dir)? {
        let name = entry?.file_name().to_bytes().to_owned();
        if name != b"." && name != b".." {
            names.push(OsString::from(OsStr::from_bytes(&name)));
        }
    }
    names.sort();
    Ok(names)
}

/// Whether a path component holds an unescaped `*`, `?` or `[`.
fn has_wildcard(comp: &str) -> bool {
    let mut chars = comp.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_are_unescaped_metacharacters() {
        assert!(has_wildcard("a*") && !has_wildcard("a\\*"));
    }
}
