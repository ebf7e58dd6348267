//! The proof a rebase needs: a layer made over one parent is exactly the layer the same
//! step would make over another.
//!
//! A COPY (or WORKDIR) writes the same files whatever the parent holds, with one
//! exception: overlayfs copies an existing directory up into the upper dir with the
//! parent's mode, owner and xattrs, and a path that is a directory in the parent is
//! written into rather than replaced. So the layer depends on the parent only through the
//! paths it contains, and [`differences`] checks exactly those: for every directory,
//! whiteout or opaque directory of the layer, the path must read the same in both parents
//! (absent in both, or the same type, mode, owner, link target and xattrs); for every
//! other entry, whether the path is a directory must agree (a file is unlinked and
//! created anew, so what it replaces does not matter otherwise). Every directory on the
//! way to a written path is itself in the layer, so a `/usr` that became a symlink in the
//! new parent (a merged /usr) is caught. Layer timestamps are the build's epoch, not the
//! parent's, so mtimes are not compared.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use rustix::fs::FileType;

use crate::fsroot::Root;

/// The overlay xattr that marks an opaque directory in an upper dir.
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// A path of the layer that does not read the same in the two parents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The path in the image (`/usr`).
    pub path: String,
    /// What it is in the old parent.
    pub old: String,
    /// What it is in the new parent.
    pub new: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is {} in the old parent but {} in the new one",
            self.path, self.old, self.new
        )
    }
}

/// What a path is in a parent, as far as a layer over it can tell.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Absent,
    /// Not a directory; kind only (`file`, `symlink`, ...).
    Other(&'static str),
    /// A directory or anything a whiteout or opaque marker stands for, in full.
    Full {
        kind: &'static str,
        mode: u32,
        uid: u32,
        gid: u32,
        target: Option<String>,
        xattrs: Vec<(String, Vec<u8>)>,
    },
}

impl Seen {
    fn describe(&self) -> String {
        match self {
            Seen::Absent => "absent".into(),
            Seen::Other(kind) => format!("a {kind}"),
            Seen::Full {
                kind,
                mode,
                uid,
                gid,
                target,
                xattrs,
            } => {
                let mut text = format!("a {kind} {mode:04o} {uid}:{gid}");
                if let Some(target) = target {
                    text.push_str(&format!(" -> {target}"));
                }
                if !xattrs.is_empty() {
                    let names: Vec<&str> = xattrs.iter().map(|(n, _)| n.as_str()).collect();
                    text.push_str(&format!(" with xattrs {}", names.join(", ")));
                }
                text
            }
        }
    }
}

fn kind_name(kind: FileType) -> &'static str {
    match kind {
        FileType::Directory => "directory",
        FileType::Symlink => "symlink",
        FileType::RegularFile => "file",
        FileType::Fifo => "fifo",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Unknown => "special file",
    }
}

/// How `rel` reads in `root`: in full when `full`, else only whether it is a directory.
fn seen(root: &Root, rel: &Path, full: bool) -> io::Result<Seen> {
    let Some(st) = root.lstat(rel)? else {
        return Ok(Seen::Absent);
    };
    let kind = FileType::from_raw_mode(st.st_mode);
    if !full && kind != FileType::Directory {
        return Ok(Seen::Other(kind_name(kind)));
    }
    let target = if kind == FileType::Symlink {
        Some(root.read_link(rel)?.to_string_lossy().into_owned())
    } else {
        None
    };
    let mut xattrs = Vec::new();
    if kind == FileType::Directory {
        let handle = root.open_dir(rel)?;
        let proc = format!("/proc/self/fd/{}", handle.as_raw_fd());
        for name in xattr::list(&proc)? {
            let name = name.to_string_lossy().into_owned();
            if name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.") {
                continue;
            }
            let value = xattr::get(&proc, &name)?.unwrap_or_default();
            xattrs.push((name, value));
        }
        xattrs.sort();
    }
    Ok(Seen::Full {
        kind: kind_name(kind),
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        target,
        xattrs,
    })
}

/// The paths of the snapshot dir `layer` (an overlay upper dir, as the store keeps
/// layers) that read differently under the root filesystems `old` and `new` (mounted
/// views of the two parents). Empty: the layer is what its step would write over `new`.
pub fn differences(layer: &Path, old: &Root, new: &Root) -> io::Result<Vec<Difference>> {
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(layer)
        .min_depth(1)
        .sort_by_file_name()
    {
        let entry = entry.map_err(io::Error::from)?;
        let rel = entry
            .path()
            .strip_prefix(layer)
            .map_err(|e| io::Error::other(e.to_string()))?;
        let meta = entry.metadata().map_err(io::Error::from)?;
        let whiteout = meta.file_type().is_char_device() && meta.rdev() == 0;
        let opaque =
            meta.is_dir() && xattr::get(entry.path(), OPAQUE_XATTR)?.is_some_and(|v| v == b"y");
        let full = meta.is_dir() || whiteout || opaque;
        found.extend(difference(old, new, rel, full)?);
    }
    Ok(found)
}

/// The directories and symlinks on the way to `path` (absolute, the path a step writes
/// to) that read differently in `old` and `new`. A layer holds where its files landed,
/// not the way there: `COPY x /var/run/` lands in `/run` through a symlink, and only the
/// way tells that a new parent whose `/var/run` is a directory would put it elsewhere.
/// The first difference is enough, as what lies beyond it is reached differently anyway.
/// The path itself may be a file in both (with any mode: it is replaced).
pub fn path_differences(path: &Path, old: &Root, new: &Root) -> io::Result<Vec<Difference>> {
    let parts: Vec<_> = path
        .components()
        .filter_map(|part| match part {
            std::path::Component::Normal(name) => Some(name),
            _ => None,
        })
        .collect();
    let mut way = std::path::PathBuf::new();
    for (n, name) in parts.iter().enumerate() {
        way.push(name);
        let last = n + 1 == parts.len();
        let full = !(last && is_file(old, &way)? && is_file(new, &way)?);
        if let Some(found) = difference(old, new, &way, full)? {
            return Ok(vec![found]);
        }
    }
    Ok(Vec::new())
}

fn is_file(root: &Root, rel: &Path) -> io::Result<bool> {
    Ok(root
        .lstat(rel)?
        .is_some_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::RegularFile))
}

/// How `rel` differs between `old` and `new`, if it does.
fn difference(old: &Root, new: &Root, rel: &Path, full: bool) -> io::Result<Option<Difference>> {
    let (was, is) = (seen(old, rel, full)?, seen(new, rel, full)?);
    Ok((was != is).then(|| Difference {
        path: format!("/{}", rel.display()),
        old: was.describe(),
        new: is.describe(),
    }))
}
