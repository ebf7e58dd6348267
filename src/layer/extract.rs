//! Layer blob -> snapshot dir, and ADD's extraction of local archives.
//!
//! Both read a tar stream entry by entry and hand every entry to one [`Unpacker`], whose
//! [`Target`] says what the tar is: a layer (OCI whiteouts become overlay ones) or an
//! archive that ADD unpacks into a live image root (optionally re-owned). The unpacker only
//! touches the file system through [`crate::fsroot::Root`]: parents are resolved inside
//! the root and the final component is written with `*at` calls that never follow it, so
//! `../` names, absolute names and symlinks planted by earlier entries cannot lead a write
//! outside the root. `tar`'s own `unpack` is never used: it trusts its input.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Timespec, Timestamps, XattrFlags};
use sha2::{Digest as _, Sha256};
use tar::EntryType;

use super::write::{OPAQUE_MARKER, WHITEOUT_PREFIX};
use super::{io_error, Compression, LayerError};
use crate::digest::Digest;
use crate::fsroot::{remove_at, DirSpec, Root};
use crate::path::rooted_parts_bytes;

/// Extracts the layer tar read from `blob` (compressed as `compression`) into the empty
/// directory `dest`, as an overlay lower dir: OCI whiteouts become overlay whiteouts
/// (char device 0:0) and opaque markers the `trusted.overlay.opaque` xattr. Owners, modes
/// (setuid/setgid/sticky), xattrs, hardlinks, symlinks, fifos and devices are kept.
/// Entries that would land outside `dest` (`..`, absolute links) are confined to it.
/// Returns the diff_id (digest of the uncompressed tar) so the caller can verify it.
pub fn extract(
    blob: impl Read,
    compression: Compression,
    dest: &Path,
) -> Result<Digest, LayerError> {
    let root = Root::open(dest).map_err(|e| io_error(dest, e))?;
    let stream = decoder(compression, blob).map_err(|e| io_error(dest, e))?;
    let mut archive = super::archive(HashingReader {
        inner: stream,
        hasher: Sha256::new(),
    });
    Unpacker::new(&root, Path::new(""), Target::Layer).unpack(&mut archive)?;
    // The tar reader stops at the end-of-archive blocks; the diff_id covers what follows too.
    let mut rest = archive.into_inner().into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| io_error(dest, e))?;
    Ok(Digest::from_hasher(rest.hasher))
}

/// Whether the snapshot dir `snapshot` holds every entry of the layer read from `blob`
/// (compressed as `compression`), as [`extract`] would have made it: the first entry it
/// lacks, or holds as another kind of file or (for a regular file) with another size, as
/// `Some(path)`; `None` when every entry is there. For `strata fsck`: snapshots are made
/// and removed by renames, so a partial one means the store was damaged from outside.
pub fn missing_from_snapshot(
    blob: impl Read,
    compression: Compression,
    snapshot: &Path,
) -> Result<Option<String>, LayerError> {
    let stream = decoder(compression, blob).map_err(|e| io_error(snapshot, e))?;
    let mut archive = super::archive(stream);
    let entries = archive.entries().map_err(|e| io_error(snapshot, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_error(snapshot, e))?;
        let name = entry.path_bytes().into_owned();
        let parts = rooted_parts_bytes(&name);
        let Some((last, parents)) = parts.split_last() else {
            continue; // `./`: the snapshot dir itself.
        };
        let mut path = snapshot.to_path_buf();
        path.extend(parents.iter().map(|p| OsStr::from_bytes(p)));
        let kind = entry.header().entry_type();
        let (file, expect_whiteout) = match last.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            _ if *last == OPAQUE_MARKER.as_bytes() => (path, false),
            Some(hidden) => (path.join(OsStr::from_bytes(hidden)), true),
            None => (path.join(OsStr::from_bytes(last)), false),
        };
        let shown = || String::from_utf8_lossy(&name).into_owned();
        let Ok(meta) = std::fs::symlink_metadata(&file) else {
            return Ok(Some(shown()));
        };
        use std::os::unix::fs::FileTypeExt;
        let ft = meta.file_type();
        let same = if expect_whiteout {
            ft.is_char_device()
        } else {
            match kind {
                EntryType::Regular | EntryType::Continuous => {
                    ft.is_file() && meta.len() == entry.size()
                }
                EntryType::Link => ft.is_file(),
                EntryType::Directory => ft.is_dir(),
                EntryType::Symlink => ft.is_symlink(),
                EntryType::Char => ft.is_char_device(),
                EntryType::Block => ft.is_block_device(),
                EntryType::Fifo => ft.is_fifo(),
                _ => true,
            }
        };
        if !same {
            return Ok(Some(shown()));
        }
    }
    Ok(None)
}

/// Extracts a local archive (tar, optionally gzip/bzip2/xz/zstd compressed, detected from
/// its first bytes) into the directory `dest` of the image root `root`, as docker's ADD
/// does: existing files are overwritten, ownership kept from the archive unless `chown`
/// is given, no whiteout handling. Entry names are confined to `dest` (`../x` is
/// `dest/x`); symlinks are followed inside `root`, never outside it. Returns `Ok(false)`
/// if the file is not an archive, so ADD copies it as a plain file instead. bzip2 and xz
/// are read through the host's `bzip2 -dc` and `xz -dc`.
pub fn extract_archive(
    archive: &Path,
    root: &crate::fsroot::Root,
    dest: &Path,
    chown: Option<(u32, u32)>,
) -> Result<bool, LayerError> {
    let mut file = File::open(archive).map_err(|e| io_error(archive, e))?;
    let mut magic = [0u8; 6];
    let n = read_full(&mut file, &mut magic).map_err(|e| io_error(archive, e))?;
    file.rewind().map_err(|e| io_error(archive, e))?;
    let mut stream: Box<dyn Read> = match (Compression::sniff(&magic[..n]), &magic[..n]) {
        (Compression::None, [b'B', b'Z', b'h', ..]) => {
            ToolReader::spawn("bzip2", file).map(|r| Box::new(r) as Box<dyn Read>)
        }
        (Compression::None, [0xfd, b'7', b'z', b'X', b'Z', 0]) => {
            ToolReader::spawn("xz", file).map(|r| Box::new(r) as Box<dyn Read>)
        }
        (compression, _) => decoder(compression, file),
    }
    .map_err(|e| io_error(archive, e))?;
    // Like docker, a file is an archive if its (decompressed) start reads as a tar header;
    // anything else, a corrupt compressed file included, is copied as it is.
    let mut first = [0u8; 512];
    match read_full(&mut stream, &mut first) {
        Ok(512) if is_tar_header(&first) => {}
        _ => return Ok(false),
    }
    let mut tar = super::archive(io::Cursor::new(first).chain(stream));
    Unpacker::new(root, dest, Target::Archive { chown }).unpack(&mut tar)?;
    Ok(true)
}

/// A decompressing reader for `compression`.
pub fn decoder<'a>(
    compression: Compression,
    blob: impl Read + 'a,
) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match compression {
        // Multi-member: parallel gzip writers emit several members in one blob.
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(blob))),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(blob)?),
        Compression::None => Box::new(blob),
    })
}

/// Whether `block` is a tar header: POSIX/GNU magic, or a V7 header with a valid checksum.
fn is_tar_header(block: &[u8; 512]) -> bool {
    if &block[257..262] == b"ustar" {
        return true;
    }
    let header = tar::Header::from_byte_slice(block);
    let sum: u32 = block[..148]
        .iter()
        .chain(&[b' '; 8])
        .chain(&block[156..])
        .map(|&b| u32::from(b))
        .sum();
    block[0] != 0 && header.cksum().is_ok_and(|c| c == sum)
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A reader that hashes what is read through it: the diff_id of a layer being extracted.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// The standard output of a decompressing tool (`xz -dc`) reading a file; an error at
/// the end if the tool failed. The tool is killed if the reader is dropped early.
struct ToolReader {
    tool: &'static str,
    child: Child,
    stdout: ChildStdout,
}

impl ToolReader {
    fn spawn(tool: &'static str, input: File) -> io::Result<ToolReader> {
        let mut child = Command::new(tool)
            .arg("-dc")
            .stdin(input)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                io::Error::new(e.kind(), format!("running `{tool} -dc` to decompress: {e}"))
            })?;
        let stdout = child.stdout.take().expect("stdout is piped");
        Ok(ToolReader {
            tool,
            child,
            stdout,
        })
    }
}

impl Read for ToolReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stdout.read(buf)?;
        if n == 0 && !buf.is_empty() {
            let status = self.child.wait()?;
            if !status.success() {
                return Err(io::Error::other(format!(
                    "`{} -dc` failed: {status}",
                    self.tool
                )));
            }
        }
        Ok(n)
    }
}

impl Drop for ToolReader {
    fn drop(&mut self) {
        // Harmless if it already exited; reaps it either way.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a tar being unpacked is, which decides how its entries are written.
#[derive(Clone, Copy)]
enum Target {
    /// A layer into an empty snapshot dir: OCI whiteouts become overlay ones.
    Layer,
    /// A local archive into an image root (ADD): names are plain, owners may be forced.
    Archive {
        /// uid:gid given to every entry, instead of the archive's.
        chown: Option<(u32, u32)>,
    },
}

/// The metadata of one entry, PAX records applied.
struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: Timespec,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

/// Writes tar entries under `base` in `root`, remembering directories whose mode and
/// mtime must wait until their children are written.
struct Unpacker<'a> {
    root: &'a Root,
    base: &'a Path,
    target: Target,
    /// Directory -> (mode, mtime); later entries for the same dir win.
    dirs: BTreeMap<PathBuf, (u32, Timespec)>,
}

impl<'a> Unpacker<'a> {
    fn new(root: &'a Root, base: &'a Path, target: Target) -> Self {
        Unpacker {
            root,
            base,
            target,
            dirs: BTreeMap::new(),
        }
    }

    /// Owner and mode of directories implied by entry names.
    fn implied_dirs(&self) -> DirSpec {
        match self.target {
            Target::Archive {
                chown: Some((uid, gid)),
            } => DirSpec {
                mode: 0o755,
                uid,
                gid,
            },
            _ => DirSpec::default(),
        }
    }

    /// Writes every entry of `archive`, then sets the deferred directory modes and mtimes.
    fn unpack<R: Read>(mut self, archive: &mut tar::Archive<R>) -> Result<(), LayerError> {
        let base_host = self.root.path().join(crate::fsroot::relative(self.base));
        self.root
            .mkdir_all(self.base, self.implied_dirs())
            .map_err(|e| io_error(&base_host, e))?;
        let archive_member = matches!(self.target, Target::Archive { .. });
        // The member read last, for a header that cannot be read after it.
        let mut last = String::new();
        for entry in archive.entries().map_err(|e| io_error(&base_host, e))? {
            let mut entry = entry.map_err(|e| {
                if archive_member {
                    LayerError::Member {
                        member: if last.is_empty() {
                            "at the start".to_owned()
                        } else {
                            format!("after {last:?}")
                        },
                        dest: self.base.display().to_string(),
                        source: e,
                    }
                } else {
                    io_error(&base_host, e)
                }
            })?;
            let raw = entry.path_bytes().into_owned();
            last = String::from_utf8_lossy(&raw).into_owned();
            let Some(rel) = clean(&raw) else { continue };
            let path = self.base.join(rel);
            self.entry(&mut entry, &path).map_err(|e| match e {
                EntryError::Io(source) if archive_member => LayerError::Member {
                    member: format!("{last:?}"),
                    dest: path.display().to_string(),
                    source,
                },
                EntryError::Io(source) => io_error(
                    &self.root.path().join(crate::fsroot::relative(&path)),
                    source,
                ),
                EntryError::Bad(reason) => LayerError::BadEntry {
                    entry: String::from_utf8_lossy(&raw).into_owned(),
                    reason,
                },
            })?;
        }
        // Descendants sort after their ancestors: walk backwards so a read-only dir is
        // closed only once everything below it is done.
        for (path, (mode, mtime)) in self.dirs.iter().rev() {
            self.finish_dir(path, *mode, *mtime)
                .map_err(|e| io_error(&self.root.path().join(path), e))?;
        }
        Ok(())
    }

    /// Writes one entry at `path` (relative to the root).
    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        path: &Path,
    ) -> Result<(), EntryError> {
        let kind = entry.header().entry_type();
        if kind == EntryType::XGlobalHeader {
            return Ok(());
        }
        let meta = read_meta(entry)?;
        let (parent, name) = self.root.parent(path, self.implied_dirs())?;
        if matches!(self.target, Target::Layer)
            && name.as_bytes().starts_with(WHITEOUT_PREFIX.as_bytes())
        {
            return whiteout(&parent, &name);
        }
        let existing = match rfs::statat(&parent, &name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Some(FileType::from_raw_mode(st.st_mode)),
            Err(rustix::io::Errno::NOENT) => None,
            Err(e) => return Err(EntryError::Io(e.into())),
        };
        // Replace whatever is there, except a directory by a directory (merged, as docker does).
        let keep_dir = existing == Some(FileType::Directory) && kind == EntryType::Directory;
        if existing.is_some() && !keep_dir {
            remove_at(&parent, &name)?;
        }
        match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let fd = rfs::openat(
                    &parent,
                    &name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )?;
                io::copy(entry, &mut File::from(fd))?;
            }
            EntryType::Directory if keep_dir => {}
            EntryType::Directory => rfs::mkdirat(&parent, &name, Mode::from_raw_mode(0o700))?,
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| EntryError::Bad("symlink without a target".into()))?;
                rfs::symlinkat(OsStr::from_bytes(&target), &parent, &name)?;
            }
            EntryType::Link => return self.hardlink(entry, &parent, &name),
            EntryType::Char => rfs::mknodat(
                &parent,
                &name,
                FileType::CharacterDevice,
                Mode::from_raw_mode(0o600),
                device(entry.header())?,
            )?,
            EntryType::Block => rfs::mknodat(
                &parent,
                &name,
                FileType::BlockDevice,
                Mode::from_raw_mode(0o600),
                device(entry.header())?,
            )?,
            EntryType::Fifo => rfs::mknodat(
                &parent,
                &name,
                FileType::Fifo,
                Mode::from_raw_mode(0o600),
                0,
            )?,
            other => return Err(EntryError::Bad(format!("unsupported entry type {other:?}"))),
        }
        self.set_meta(&parent, &name, path, kind, &meta)
    }

    /// A hard link to an earlier entry, whose name is resolved like any entry's: inside the
    /// root and under `base`.
    fn hardlink<R: Read>(
        &self,
        entry: &tar::Entry<'_, R>,
        parent: &OwnedFd,
        name: &OsStr,
    ) -> Result<(), EntryError> {
        let raw = entry
            .link_name_bytes()
            .ok_or_else(|| EntryError::Bad("hard link without a target".into()))?;
        let target = clean(&raw).ok_or_else(|| EntryError::Bad("hard link to the root".into()))?;
        let target = self.base.join(target);
        let target_parent = self
            .root
            .open_dir(target.parent().unwrap_or(Path::new("")))?;
        let target_name = target
            .file_name()
            .expect("a cleaned, non-empty path has a file name");
        // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink, never what it names.
        rfs::linkat(&target_parent, target_name, parent, name, AtFlags::empty())?;
        Ok(())
    }

    /// Owner, then mode (chown clears setuid), then xattrs (chown clears
    /// `security.capability`), then mtime; a directory's mode and mtime are deferred.
    fn set_meta(
        &mut self,
        parent: &OwnedFd,
        name: &OsStr,
        path: &Path,
        kind: EntryType,
        meta: &Meta,
    ) -> Result<(), EntryError> {
        let (uid, gid) = match self.target {
            Target::Archive { chown: Some(ids) } => ids,
            _ => (meta.uid, meta.gid),
        };
        rfs::chownat(
            parent,
            name,
            Some(rfs::Uid::from_raw(uid)),
            Some(rfs::Gid::from_raw(gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )?;
        if !matches!(kind, EntryType::Symlink | EntryType::Directory) {
            // Not a symlink (just created by us), so following is harmless.
            rfs::chmodat(
                parent,
                name,
                Mode::from_raw_mode(meta.mode),
                AtFlags::empty(),
            )?;
        }
        if !meta.xattrs.is_empty() {
            // The parent is already confined; `/proc/self/fd/N/name` with lsetxattr never
            // follows `name`.
            let mut at = PathBuf::from(format!("/proc/self/fd/{}", parent.as_raw_fd()));
            at.push(name);
            for (key, value) in &meta.xattrs {
                match rfs::lsetxattr(&at, key.as_os_str(), value, XattrFlags::empty()) {
                    // As docker: a file system (or user namespace) that refuses a kind of
                    // xattr does not fail the whole extraction.
                    Ok(()) | Err(rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::PERM) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if kind == EntryType::Directory {
            self.dirs.insert(path.to_owned(), (meta.mode, meta.mtime));
        } else {
            let times = Timestamps {
                last_access: meta.mtime,
                last_modification: meta.mtime,
            };
            rfs::utimensat(parent, name, &times, AtFlags::SYMLINK_NOFOLLOW)?;
        }
        Ok(())
    }

    /// Applies a directory's deferred mode and mtime, if it is still a directory.
    fn finish_dir(&self, path: &Path, mode: u32, mtime: Timespec) -> io::Result<()> {
        let Some(name) = path.file_name() else {
            return Ok(());
        };
        let parent = self.root.open_dir(path.parent().unwrap_or(Path::new("")))?;
        match rfs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                rfs::chmodat(&parent, name, Mode::from_raw_mode(mode), AtFlags::empty())?;
                let times = Timestamps {
                    last_access: mtime,
                    last_modification: mtime,
                };
                rfs::utimensat(&parent, name, &times, AtFlags::SYMLINK_NOFOLLOW)?;
                Ok(())
            }
            Ok(_) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The device number of a char or block device entry.
fn device(header: &tar::Header) -> io::Result<rfs::Dev> {
    Ok(rfs::makedev(
        header.device_major()?.unwrap_or(0),
        header.device_minor()?.unwrap_or(0),
    ))
}

/// An OCI whiteout `.wh.NAME` in `parent`: `.wh..wh..opq` marks `parent` opaque, any other
/// becomes the overlay whiteout `NAME` (a 0:0 char device).
fn whiteout(parent: &OwnedFd, name: &OsStr) -> Result<(), EntryError> {
    if name == OPAQUE_MARKER {
        rfs::fsetxattr(parent, "trusted.overlay.opaque", b"y", XattrFlags::empty())?;
        return Ok(());
    }
    let hidden = OsStr::from_bytes(&name.as_bytes()[WHITEOUT_PREFIX.len()..]);
    if hidden.is_empty() || hidden == "." || hidden == ".." {
        return Err(EntryError::Bad("whiteout of nothing".into()));
    }
    remove_at(parent, hidden)?;
    rfs::mknodat(
        parent,
        hidden,
        FileType::CharacterDevice,
        Mode::empty(),
        rfs::makedev(0, 0),
    )?;
    Ok(())
}

/// The metadata of `entry`: owner and mode from its header (which `tar` already updates
/// from PAX `uid`/`gid`), mtime with PAX precision, and PAX `SCHILY.xattr.*` records.
/// Overlay's own xattrs are dropped: a tar must not steer the overlay built on it.
fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Meta, EntryError> {
    let header = entry.header();
    let id = |v: u64| {
        u32::try_from(v).map_err(|_| EntryError::Bad(format!("owner id {v} is too large")))
    };
    let old = header.as_old();
    let mut meta = Meta {
        uid: id(lenient(header.uid(), &old.uid)?)?,
        gid: id(lenient(header.gid(), &old.gid)?)?,
        mode: lenient(header.mode().map(u64::from), &old.mode)? as u32 & 0o7777,
        mtime: Timespec {
            tv_sec: i64::try_from(lenient(header.mtime(), &old.mtime)?).unwrap_or(i64::MAX),
            tv_nsec: 0,
        },
        xattrs: Vec::new(),
    };
    if let Some(records) = entry.pax_extensions()? {
        for record in records {
            let record = record?;
            let key = record.key_bytes();
            if key == b"mtime" {
                if let Some(mtime) = record.value().ok().and_then(parse_pax_time) {
                    meta.mtime = mtime;
                }
            } else if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                if !name.starts_with(b"trusted.overlay.") && !name.starts_with(b"user.overlay.") {
                    meta.xattrs.push((
                        OsStr::from_bytes(name).to_owned(),
                        record.value_bytes().to_vec(),
                    ));
                }
            }
        }
    }
    Ok(meta)
}

/// A numeric header field, read as 0 when it is blank as Go's `archive/tar` does (some
/// hand-made archives leave owner and time fields empty).
fn lenient(parsed: io::Result<u64>, raw: &[u8]) -> io::Result<u64> {
    match parsed {
        Err(_) if raw.iter().all(|&b| b == 0 || b == b' ') => Ok(0),
        other => other,
    }
}

/// A PAX time, `SECONDS[.FRACTION]`.
fn parse_pax_time(value: &str) -> Option<Timespec> {
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    let tv_sec = secs.parse().ok()?;
    let digits: String = frac.chars().take(9).collect();
    let tv_nsec = if digits.is_empty() {
        0
    } else {
        format!("{digits:0<9}").parse().ok()?
    };
    Some(Timespec { tv_sec, tv_nsec })
}

/// An entry name made relative and free of `.` and `..` (clamped at the top, as
/// containerd does), or `None` for the top itself (`./`, `/`). The cleaning is
/// [`rooted_parts_bytes`]; what is particular to tar names is the rest: they need not be
/// UTF-8, the result is relative to the extraction root, and the root itself is no entry.
fn clean(raw: &[u8]) -> Option<PathBuf> {
    let parts = rooted_parts_bytes(raw);
    if parts.is_empty() {
        return None;
    }
    Some(OsStr::from_bytes(&parts.join(&b'/')).into())
}

/// Why one entry could not be written: an I/O error (reported with the host path) or an
/// entry strata refuses.
enum EntryError {
    Io(io::Error),
    Bad(String),
}

impl From<io::Error> for EntryError {
    fn from(e: io::Error) -> Self {
        EntryError::Io(e)
    }
}

impl From<rustix::io::Errno> for EntryError {
    fn from(e: rustix::io::Errno) -> Self {
        EntryError::Io(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_and_clamped() {
        assert_eq!(
            clean(b"../../etc/passwd"),
            Some(PathBuf::from("etc/passwd"))
        );
        assert_eq!(clean(b"/abs/./x/../y/"), Some(PathBuf::from("abs/y")));
        assert_eq!(clean(b"./"), None);
        assert_eq!(clean(b".."), None);
    }

    #[test]
    fn pax_times_keep_their_fraction() {
        assert_eq!(
            parse_pax_time("12.5").map(|t| (t.tv_sec, t.tv_nsec)),
            Some((12, 500_000_000))
        );
        assert_eq!(
            parse_pax_time("7").map(|t| (t.tv_sec, t.tv_nsec)),
            Some((7, 0))
        );
        assert!(parse_pax_time("x").is_none());
    }
}
