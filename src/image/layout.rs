//! Plain OCI image layout directories outside the store: the same image values in the
//! directory form other tools read and write (`buildx --build-context NAME=oci-layout://DIR`,
//! `skopeo copy oci:DIR`, BuildKit's `--cache-to type=local`).
//!
//! [`export`] copies one image of the store into a layout (created if missing) and names
//! it in the layout's `index.json` with a tag, replacing what that tag named;
//! [`import`] copies the image a [`Selector`] picks out of a layout into the store, every
//! blob checked against its digest on the way. Every file is written to a temp file and
//! renamed into place, so a reader never sees half a blob or half an index.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, HashingWriter};
use crate::platform::Platform;

use super::store::{io_error, read_verified};
use super::{Descriptor, Image, Index, Manifest, Store, StoreError, INDEX_MEDIA_TYPE, REF_NAME};

/// The `oci-layout` file of a layout.
const LAYOUT_VERSION: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Which image of a layout's `index.json` to take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// The entry annotated with this tag (`org.opencontainers.image.ref.name`).
    Tag(String),
    /// The entry with this digest.
    Digest(Digest),
    /// The only entry (an error when there are several).
    Only,
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Selector::Tag(tag) => write!(f, "tag {tag:?}"),
            Selector::Digest(digest) => write!(f, "{digest}"),
            Selector::Only => f.write_str("its only image"),
        }
    }
}

/// Copies `image` of `store` into the layout `dir` under `tag` and returns the manifest
/// descriptor written into the layout's index.
pub fn export(
    store: &Store,
    image: &Image,
    dir: &Path,
    tag: &str,
) -> Result<Descriptor, StoreError> {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).map_err(io_error(&blobs))?;
    let layout = dir.join("oci-layout");
    if !layout.exists() {
        write_atomic(&layout, LAYOUT_VERSION)?;
    }
    let manifest_bytes = store.read_blob(&image.digest)?;
    for desc in image.manifest.layers.iter().chain([&image.manifest.config]) {
        let target = blobs.join(desc.digest.hex());
        if !target.is_file() {
            let temp = temp_beside(&target);
            let copied = fs::copy(store.blob_path(&desc.digest), &temp)
                .and_then(|_| fs::rename(&temp, &target));
            if let Err(e) = copied {
                let _ = fs::remove_file(&temp);
                return Err(io_error(&target)(e));
            }
        }
    }
    write_atomic(&blobs.join(image.digest.hex()), &manifest_bytes)?;
    let mut descriptor = Descriptor {
        media_type: image
            .manifest
            .media_type
            .clone()
            .unwrap_or_else(|| super::MANIFEST_MEDIA_TYPE.into()),
        digest: image.digest.clone(),
        size: manifest_bytes.len() as u64,
        annotations: Default::default(),
        platform: None,
    };
    descriptor
        .annotations
        .insert(REF_NAME.to_owned(), tag.to_owned());
    let mut index = read_index(dir).or_else(|e| match e {
        StoreError::Io { ref source, .. } if source.kind() == io::ErrorKind::NotFound => {
            Ok(Index::default())
        }
        e => Err(e),
    })?;
    index
        .manifests
        .retain(|d| d.annotations.get(REF_NAME).map(String::as_str) != Some(tag));
    index.manifests.push(descriptor.clone());
    let path = dir.join("index.json");
    let bytes = serde_json::to_vec(&index).map_err(|source| StoreError::Json {
        path: path.display().to_string(),
        source,
    })?;
    write_atomic(&path, &bytes)?;
    Ok(descriptor)
}

/// Copies the image `selector` picks in the layout `dir` into `store` and returns it. An
/// entry that is an image index (a multi-platform image) gives its manifest for
/// `platform`.
pub fn import(
    store: &Store,
    dir: &Path,
    selector: &Selector,
    platform: &Platform,
) -> Result<Image, StoreError> {
    let index = read_index(dir)?;
    let invalid = |reason: String| StoreError::Invalid {
        path: dir.display().to_string(),
        reason,
    };
    let mut chosen: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| match selector {
            Selector::Tag(tag) => d.annotations.get(REF_NAME) == Some(tag),
            Selector::Digest(digest) => d.digest == *digest,
            Selector::Only => true,
        })
        .collect();
    let descriptor = match chosen.len() {
        1 => chosen.remove(0).clone(),
        0 => {
            return Err(invalid(format!(
                "the OCI layout has no image with {selector}"
            )))
        }
        n => {
            return Err(invalid(format!(
                "the OCI layout holds {n} images: name one with :TAG or @sha256:DIGEST"
            )))
        }
    };
    let descriptor = if descriptor.media_type == INDEX_MEDIA_TYPE {
        let bytes = read_blob(dir, &descriptor.digest)?;
        let nested: Index = serde_json::from_slice(&bytes).map_err(|source| StoreError::Json {
            path: blob_path(dir, &descriptor.digest).display().to_string(),
            source,
        })?;
        nested
            .manifests
            .into_iter()
            .find(|d| d.platform.as_ref().is_some_and(|p| platform.matches(p)))
            .ok_or_else(|| {
                invalid(format!(
                    "the image index {} has no manifest for {platform}",
                    descriptor.digest
                ))
            })?
    } else {
        descriptor
    };
    let manifest_bytes = read_blob(dir, &descriptor.digest)?;
    let manifest: Manifest =
        serde_json::from_slice(&manifest_bytes).map_err(|source| StoreError::Json {
            path: blob_path(dir, &descriptor.digest).display().to_string(),
            source,
        })?;
    for blob in manifest.layers.iter().chain([&manifest.config]) {
        copy_in(store, dir, &blob.digest)?;
    }
    store.put_blob(&descriptor.media_type, &manifest_bytes)?;
    store.image_by_digest(&descriptor.digest)
}

/// Streams the blob `digest` of the layout into the store, checking its digest.
fn copy_in(store: &Store, dir: &Path, digest: &Digest) -> Result<(), StoreError> {
    if store.blob_path(digest).is_file() {
        return Ok(());
    }
    let source = blob_path(dir, digest);
    let temp = store.temp_path();
    let copied = (|| {
        let mut from = File::open(&source)?;
        let mut to = HashingWriter::new(File::create_new(&temp)?);
        io::copy(&mut from, &mut to)?;
        let (file, actual, _) = to.finish();
        file.sync_all()?;
        Ok::<_, io::Error>(actual)
    })();
    let actual = match copied {
        Ok(actual) => actual,
        Err(e) => {
            let _ = fs::remove_file(&temp);
            return Err(io_error(&source)(e));
        }
    };
    if actual != *digest {
        let _ = fs::remove_file(&temp);
        return Err(StoreError::DigestMismatch {
            expected: digest.clone(),
            actual,
        });
    }
    store.commit_blob(&temp, digest)
}

fn read_index(dir: &Path) -> Result<Index, StoreError> {
    let path = dir.join("index.json");
    let bytes = fs::read(&path).map_err(io_error(&path))?;
    serde_json::from_slice(&bytes).map_err(|source| StoreError::Json {
        path: path.display().to_string(),
        source,
    })
}

fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join("blobs/sha256").join(digest.hex())
}

/// A whole small blob of the layout, checked against its digest.
fn read_blob(dir: &Path, digest: &Digest) -> Result<Vec<u8>, StoreError> {
    read_verified(&blob_path(dir, digest), digest)
}

fn temp_beside(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(
        ".{}.tmp-{}",
        name.unwrap_or_default(),
        std::process::id()
    ))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let temp = temp_beside(path);
    let written = File::create(&temp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| fs::rename(&temp, path)) {
        let _ = fs::remove_file(&temp);
        return Err(io_error(path)(e));
    }
    Ok(())
}
