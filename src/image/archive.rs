//! Archives: the same image values written as a `docker load` tarball or an OCI archive.
//!
//! docker-archive follows `docker save`: one `<diff_id hex>/layer.tar` per layer,
//! uncompressed (what `docker load` has always accepted; its digest is the diff_id), the
//! config as `<config hex>.json`, then `manifest.json` and `repositories`. The layer tars
//! are decompressed twice, once to learn their size (a tar header comes before its data)
//! and to check their diff_id, once to write them: gunzip runs at ~400 MB/s, so this
//! costs less than spooling the tar to disk, and nothing is held in memory.
//!
//! oci-archive is an OCI layout in a tar holding the one image, its index entry annotated
//! with the tag alone as `org.opencontainers.image.ref.name` (what
//! `skopeo ... oci-archive:FILE:TAG` looks up, as BuildKit writes it) and the full name as
//! `io.containerd.image.name` (what `docker load` of an OCI archive reads).
//!
//! An oci-archive of a multi-platform image ([`export_index`]) holds the index and every
//! platform's image, blobs they share once.
//!
//! All entries are owned by root with mtime 0, so equal images give equal archives.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::digest::{Digest, HashingWriter};
use crate::layer::Compression;

use super::reference::ImageName;
use super::store::{compression_of, io_error};
use super::{Descriptor, Image, Index, Store, StoreError, CONTAINERD_IMAGE_NAME, REF_NAME};

/// The archive formats of `strata export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// docker-archive: `manifest.json`, config and layer tars, read by `docker load`.
    Docker,
    /// oci-archive: an OCI layout in a tar.
    Oci,
}

/// Writes `image`, tagged `name` (or untagged, as `docker save IMAGE_ID` writes one), from
/// `store` to the file `out` (atomically: a temp file renamed into place), streaming the
/// blobs.
pub fn export(
    store: &Store,
    image: &Image,
    name: Option<&str>,
    format: ArchiveFormat,
    out: &Path,
) -> Result<(), StoreError> {
    let top = store.manifest_descriptor(image)?;
    write_archive(
        store,
        (&top, std::slice::from_ref(image)),
        name,
        format,
        out,
    )
}

/// Writes the multi-platform image whose index is `index` as an oci-archive: the index
/// (tagged `name`), each of its images, blobs they share once.
pub fn export_index(
    store: &Store,
    index: &Descriptor,
    name: Option<&str>,
    out: &Path,
) -> Result<(), StoreError> {
    let images = store.images_of(&index.digest)?;
    let top = Descriptor {
        annotations: BTreeMap::new(),
        platform: None,
        ..index.clone()
    };
    write_archive(store, (&top, &images), name, ArchiveFormat::Oci, out)
}

/// Writes the archive of `top` (a manifest, or an index) and `images` (its image, or
/// the index's images) to `out`, atomically.
fn write_archive(
    store: &Store,
    (top, images): (&Descriptor, &[Image]),
    name: Option<&str>,
    format: ArchiveFormat,
    out: &Path,
) -> Result<(), StoreError> {
    let name = name.map(ImageName::parse).transpose()?;
    let name = name.as_ref();
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".strata-export-")
        .tempfile_in(dir)
        .map_err(io_error(dir))?;
    let mut tar = Tar {
        builder: tar::Builder::new(BufWriter::with_capacity(1 << 20, temp)),
        out,
    };
    match (format, images) {
        (ArchiveFormat::Docker, [image]) => write_docker(&mut tar, store, image, name)?,
        (ArchiveFormat::Docker, _) => {
            return Err(StoreError::Invalid {
                path: out.display().to_string(),
                reason: "a docker-archive holds one platform's image".into(),
            })
        }
        (ArchiveFormat::Oci, images) => write_oci(&mut tar, store, (top, images), name)?,
    }
    let temp = tar
        .builder
        .into_inner()
        .and_then(|w| w.into_inner().map_err(io::IntoInnerError::into_error))
        .map_err(io_error(out))?;
    // A temp file is private (0600); an archive is meant to be shared.
    let file = temp.as_file();
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
        .and_then(|()| file.sync_all())
        .map_err(io_error(out))?;
    temp.persist(out).map_err(|e| io_error(out)(e.error))?;
    Ok(())
}

/// The tar being written, and the file it will become (for messages).
struct Tar<'a> {
    builder: tar::Builder<BufWriter<tempfile::NamedTempFile>>,
    out: &'a Path,
}

impl Tar<'_> {
    fn dir(&mut self, path: &str) -> Result<(), StoreError> {
        let mut header = header(tar::EntryType::Directory, 0o755, 0);
        self.builder
            .append_data(&mut header, path, io::empty())
            .map_err(io_error(self.out))
    }

    fn bytes(&mut self, path: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let mut header = header(tar::EntryType::Regular, 0o644, bytes.len() as u64);
        self.builder
            .append_data(&mut header, path, bytes)
            .map_err(io_error(self.out))
    }

    /// Appends `size` bytes from `data`; `source` names where they come from.
    fn stream(
        &mut self,
        path: &str,
        size: u64,
        data: impl Read,
        source: &Path,
    ) -> Result<(), StoreError> {
        let mut header = header(tar::EntryType::Regular, 0o644, size);
        let exact = Exact {
            inner: data,
            remaining: size,
        };
        self.builder
            .append_data(&mut header, path, exact)
            .map_err(|e| StoreError::Io {
                path: format!("{} (copying {})", self.out.display(), source.display()),
                source: e,
            })
    }

    /// Appends a store blob as is, checking its size against the descriptor.
    fn blob(&mut self, store: &Store, desc: &Descriptor, path: &str) -> Result<(), StoreError> {
        let blob = store.blob_path(&desc.digest);
        let file = File::open(&blob).map_err(io_error(&blob))?;
        let len = file.metadata().map_err(io_error(&blob))?.len();
        if len != desc.size {
            return Err(StoreError::Invalid {
                path: blob.display().to_string(),
                reason: format!("{len} bytes, but the manifest says {}", desc.size),
            });
        }
        self.stream(path, len, BufReader::with_capacity(1 << 20, file), &blob)
    }
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header
}

fn write_docker(
    tar: &mut Tar,
    store: &Store,
    image: &Image,
    name: Option<&ImageName>,
) -> Result<(), StoreError> {
    let diff_ids = &image.config.rootfs.diff_ids;
    let manifest_path = store.blob_path(&image.digest);
    if diff_ids.len() != image.manifest.layers.len() {
        return Err(StoreError::Invalid {
            path: manifest_path.display().to_string(),
            reason: format!(
                "{} layers but {} diff_ids in the config",
                image.manifest.layers.len(),
                diff_ids.len()
            ),
        });
    }
    let mut layer_paths = Vec::new();
    let mut written = BTreeSet::new();
    for (layer, diff_id) in image.manifest.layers.iter().zip(diff_ids) {
        let dir = diff_id.hex();
        let path = format!("{dir}/layer.tar");
        // Two equal layers (an empty RUN twice, say) share one entry, as in `docker save`.
        if written.insert(dir) {
            tar.dir(&format!("{dir}/"))?;
            layer_tar(tar, store, layer, diff_id, &path)?;
        }
        layer_paths.push(path);
    }
    let config_path = format!("{}.json", image.manifest.config.digest.hex());
    tar.blob(store, &image.manifest.config, &config_path)?;

    let manifest = serde_json::json!([{
        "Config": config_path,
        "RepoTags": name.map(ImageName::to_string).into_iter().collect::<Vec<_>>(),
        "Layers": layer_paths,
    }]);
    tar.bytes("manifest.json", manifest.to_string().as_bytes())?;
    // The legacy v1 map of repository -> tag -> top layer id, still read by old clients.
    if let (Some(top), Some(name)) = (diff_ids.last(), name) {
        let repositories = serde_json::json!({ &name.repository: { &name.tag: top.hex() } });
        tar.bytes("repositories", repositories.to_string().as_bytes())?;
    }
    Ok(())
}

/// Appends the uncompressed tar of `layer` at `path`, after checking it hashes to `diff_id`.
fn layer_tar(
    tar: &mut Tar,
    store: &Store,
    layer: &Descriptor,
    diff_id: &Digest,
    path: &str,
) -> Result<(), StoreError> {
    let compression = compression_of(layer)?;
    let blob = store.blob_path(&layer.digest);
    let mut counter = HashingWriter::new(io::sink());
    io::copy(&mut decompressed(&blob, compression)?, &mut counter).map_err(io_error(&blob))?;
    let (_, actual, size) = counter.finish();
    if actual != *diff_id {
        return Err(StoreError::DigestMismatch {
            expected: diff_id.clone(),
            actual,
        });
    }
    tar.stream(path, size, decompressed(&blob, compression)?, &blob)
}

/// The layer tar inside the blob at `blob`.
pub(super) fn decompressed(
    blob: &Path,
    compression: Compression,
) -> Result<Box<dyn Read>, StoreError> {
    let file = BufReader::with_capacity(1 << 20, File::open(blob).map_err(io_error(blob))?);
    crate::layer::decoder(compression, file).map_err(io_error(blob))
}

fn write_oci(
    tar: &mut Tar,
    store: &Store,
    (top, images): (&Descriptor, &[Image]),
    name: Option<&ImageName>,
) -> Result<(), StoreError> {
    tar.bytes("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    tar.dir("blobs/")?;
    tar.dir("blobs/sha256/")?;
    let mut written = BTreeSet::new();
    for image in images {
        let manifest = store.manifest_descriptor(image)?;
        let blobs = image
            .manifest
            .layers
            .iter()
            .chain([&image.manifest.config, &manifest]);
        for desc in blobs {
            if written.insert(desc.digest.clone()) {
                tar.blob(store, desc, &format!("blobs/sha256/{}", desc.digest.hex()))?;
            }
        }
    }
    if written.insert(top.digest.clone()) {
        tar.blob(store, top, &format!("blobs/sha256/{}", top.digest.hex()))?;
    }
    let mut entry = top.clone();
    entry.annotations = name
        .map(|name| {
            BTreeMap::from([
                (REF_NAME.to_owned(), name.tag.clone()),
                (CONTAINERD_IMAGE_NAME.to_owned(), name.to_string()),
            ])
        })
        .unwrap_or_default();
    let index = Index {
        manifests: vec![entry],
        ..Index::default()
    };
    let index_json = serde_json::to_vec(&index).map_err(|source| StoreError::Json {
        path: tar.out.display().to_string(),
        source,
    })?;
    tar.bytes("index.json", &index_json)
}

/// A reader that yields exactly `remaining` bytes of `inner` and fails if `inner` has
/// fewer or more, so a tar entry can never disagree with its header's size.
struct Exact<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return match self.inner.read(&mut [0])? {
                0 => Ok(0),
                _ => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "content grew while being archived",
                )),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "content shrank while being archived",
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_reader_refuses_short_and_long_content() {
        let mut out = Vec::new();
        assert!(io::copy(
            &mut Exact {
                inner: &b"abc"[..],
                remaining: 3
            },
            &mut out
        )
        .is_ok());
        assert_eq!(out, b"abc");
        assert!(io::copy(
            &mut Exact {
                inner: &b"ab"[..],
                remaining: 3
            },
            &mut io::sink()
        )
        .is_err());
        assert!(io::copy(
            &mut Exact {
                inner: &b"abcd"[..],
                remaining: 3
            },
            &mut io::sink()
        )
        .is_err());
    }
}
