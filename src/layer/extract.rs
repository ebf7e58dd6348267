//! Layer blob -> snapshot dir, and ADD's extraction of local archives.

use std::io::Read;
use std::path::Path;

use super::{Compression, LayerError};

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
) -> Result<crate::digest::Digest, LayerError> {
    let _ = (blob, compression, dest);
    todo!("layer helper")
}

/// Extracts a local archive (tar, optionally gzip/bzip2/xz/zstd compressed, detected from
/// its first bytes) into the directory `dest` of the image root `root`, as docker's ADD
/// does: existing files are overwritten, ownership kept from the archive unless `chown`
/// is given, no whiteout handling. Returns `Ok(false)` if the file is not an archive, so
/// ADD copies it as a plain file instead.
pub fn extract_archive(
    archive: &Path,
    root: &crate::fsroot::Root,
    dest: &Path,
    chown: Option<(u32, u32)>,
) -> Result<bool, LayerError> {
    let _ = (archive, root, dest, chown);
    let _: Option<Compression> = None;
    todo!("layer helper")
}
