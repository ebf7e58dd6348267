//! Layers: an overlay upper dir becomes an OCI layer blob, and a layer blob becomes a
//! snapshot dir that overlayfs can use as a lower dir.
//!
//! [`write`] walks the upper dir in sorted order, turns overlay whiteouts into OCI ones
//! (`.wh.NAME`, `.wh..wh..opq`), normalises headers (every mtime set to the build's epoch, no atime/ctime,
//! no user/group names) so equal content gives an equal digest, and streams tar -> compressor
//! -> file while hashing both the tar (diff_id) and the compressed bytes (digest).
//! [`extract`] does the reverse into a fresh directory, confined to it by [`crate::fsroot`].
//! Every tar strata did not write is read through [`archive`], which
//! refuses extended headers over 1 MiB before they are buffered (see `bounded.rs`).

mod bounded;
mod extract;
mod write;

pub use bounded::{archive, shown, Bounded, TooLarge, MAX_EXTENDED_HEADER};
pub use extract::{decoder, extract, extract_archive, missing_from_snapshot};
pub use write::write;

use crate::digest::Digest;

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Compression {
    /// gzip (the default, read by every client).
    #[default]
    Gzip,
    /// zstd (smaller and faster; needs a recent client).
    Zstd,
    /// No compression.
    None,
}

impl Compression {
    /// The OCI media type of a layer with this compression.
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
        }
    }

    /// The compression a layer media type implies (docker's media types included).
    pub fn from_media_type(media_type: &str) -> Option<Compression> {
        match media_type {
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
                Some(Compression::Gzip)
            }
            "application/vnd.oci.image.layer.v1.tar+zstd" => Some(Compression::Zstd),
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar" => Some(Compression::None),
            _ => None,
        }
    }

    /// The compression a stream's first bytes show: gzip's and zstd's magic numbers,
    /// anything else read as uncompressed (a tar has no magic at its start).
    pub fn sniff(magic: &[u8]) -> Compression {
        match magic {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            _ => Compression::None,
        }
    }
}

/// A finished layer blob: what a manifest and a config need to know about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    /// Digest of the compressed blob (the manifest's descriptor digest).
    pub digest: Digest,
    /// Digest of the uncompressed tar (the config's `rootfs.diff_ids` entry).
    pub diff_id: Digest,
    /// Size of the compressed blob in bytes.
    pub size: u64,
    /// Size of the uncompressed tar in bytes.
    pub tar_size: u64,
    /// Its compression.
    pub compression: Compression,
}

/// Errors of layer writing and extraction, each naming the path involved.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// An I/O error on a path.
    #[error("{path}")]
    Io {
        /// The path being read or written.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing one member of an archive that ADD extracts failed; named by
    /// the member and where it goes in the image, not by the host path of the temp root.
    #[error("archive member {member} (to {dest} in the image)")]
    Member {
        /// The member's path as in the archive, quoted (or which member it follows).
        member: String,
        /// The path it is extracted to, in the image.
        dest: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A tar entry that strata refuses (absolute escape, bad type, malformed header).
    #[error("layer entry {:?}: {reason}", shown(entry))]
    BadEntry {
        /// The entry's path as in the tar.
        entry: String,
        /// Why it is refused.
        reason: String,
    },
    /// An extended header over [`MAX_EXTENDED_HEADER`], refused unread.
    #[error(transparent)]
    TooLarge(#[from] TooLarge),
}

/// An I/O error on `path`, as a [`LayerError`] (the path shortened: it may end in a
/// long name from an archive); a refused extended header as itself.
fn io_error(path: &std::path::Path, source: std::io::Error) -> LayerError {
    if let Some(refusal) = TooLarge::of(&source) {
        return LayerError::TooLarge(refusal.clone());
    }
    LayerError::Io {
        path: shown(&path.display().to_string()),
        source,
    }
}
