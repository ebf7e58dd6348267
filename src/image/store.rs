//! The local store: an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/`) plus
//! strata's own dirs beside it (`snapshots/`, `tmp/`, `locks/`) that OCI readers ignore.
//!
//! Every write goes to `tmp/` first and is renamed into place; blobs are verified against
//! their digest before the rename; `index.json` is rewritten under a lock. A build killed at
//! any point leaves a readable layout.

use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::layer::Layer;

use super::{Descriptor, Image};

/// Errors of the store, each naming the path or reference involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// I/O on a path.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A tag that is not in the store.
    #[error("image {0:?} is not in the store")]
    UnknownImage(String),
    /// Malformed JSON in the layout.
    #[error("{path}: {source}")]
    Json {
        /// Path.
        path: String,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
    /// A blob whose content does not match its digest.
    #[error("blob {expected}: content hashes to {actual}")]
    DigestMismatch {
        /// What it should be.
        expected: Digest,
        /// What it is.
        actual: Digest,
    },
    /// A layer failed to extract.
    #[error(transparent)]
    Layer(#[from] crate::layer::LayerError),
}

/// One tag of `strata images`.
#[derive(Clone, Debug)]
pub struct TagEntry {
    /// `NAME:TAG`.
    pub name: String,
    /// Manifest descriptor.
    pub descriptor: Descriptor,
    /// When it was tagged (RFC 3339), from the index annotation.
    pub created: Option<String>,
}

/// The store. Cheap to clone; safe to use from several threads and processes.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens the store at `root`, creating an empty layout if there is none.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let _ = root;
        todo!("image helper")
    }

    /// The default location: `$STRATA_STORE`, else `$XDG_DATA_HOME/strata/store`, else
    /// `~/.local/share/strata/store`.
    pub fn default_root() -> PathBuf {
        todo!("image helper")
    }

    /// TEMP
    pub fn check_name(&self, name: &str) -> Result<(), String> {
        let _ = name;
        todo!()
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of a blob (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        let _ = digest;
        todo!("image helper")
    }

    /// A fresh temp path inside the store (same file system as the blobs), for a writer
    /// that will hand it to [`Store::commit_blob`].
    pub fn temp_path(&self) -> PathBuf {
        todo!("image helper")
    }

    /// A fresh empty temp directory inside the store (for upper dirs, work dirs, mounts).
    pub fn temp_dir(&self) -> Result<tempfile::TempDir, StoreError> {
        todo!("image helper")
    }

    /// Moves the finished file `tmp` into `blobs/sha256/` under `digest`. The digest was
    /// computed while writing, so it is trusted here.
    pub fn commit_blob(&self, tmp: &Path, digest: &Digest) -> Result<(), StoreError> {
        let _ = (tmp, digest);
        todo!("image helper")
    }

    /// Writes `bytes` as a blob and returns its descriptor with `media_type`.
    pub fn put_blob(&self, media_type: &str, bytes: &[u8]) -> Result<Descriptor, StoreError> {
        let _ = (media_type, bytes);
        todo!("image helper")
    }

    /// Reads a whole (small) blob: manifests, configs, indexes.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let _ = digest;
        todo!("image helper")
    }

    /// Points `name` (`NAME:TAG`) at the manifest `manifest`, replacing an older tag.
    pub fn tag(&self, name: &str, manifest: &Descriptor) -> Result<(), StoreError> {
        let _ = (name, manifest);
        todo!("image helper")
    }

    /// Looks up `name` (`NAME:TAG`; `NAME` means `NAME:latest`) and loads the image.
    pub fn image(&self, name: &str) -> Result<Image, StoreError> {
        let _ = name;
        todo!("image helper")
    }

    /// Loads an image by manifest digest.
    pub fn image_by_digest(&self, digest: &Digest) -> Result<Image, StoreError> {
        let _ = digest;
        todo!("image helper")
    }

    /// All tags, sorted by name.
    pub fn tags(&self) -> Result<Vec<TagEntry>, StoreError> {
        todo!("image helper")
    }

    /// The snapshot dir of a layer: its extracted tree, usable as an overlay lower dir.
    /// Extracts the blob on first use (into a temp dir, renamed into `snapshots/<diff_id>`),
    /// so concurrent builds extract each layer once and never see a half-made snapshot.
    pub fn snapshot(&self, layer: &Descriptor, diff_id: &Digest) -> Result<PathBuf, StoreError> {
        let _ = (layer, diff_id);
        todo!("image helper")
    }

    /// Adopts an overlay upper dir that was just written as `layer` as that layer's
    /// snapshot, so the next step uses it directly instead of extracting the blob again.
    /// If the snapshot already exists, `upper` is removed instead.
    pub fn adopt_snapshot(&self, upper: &Path, layer: &Layer) -> Result<PathBuf, StoreError> {
        let _ = (upper, layer);
        todo!("image helper")
    }

    /// Writes config and manifest for `config` over `layers`, returning the manifest's
    /// descriptor (not yet tagged). `annotations` go on the manifest.
    pub fn put_image(
        &self,
        config: &super::ImageConfig,
        layers: &[Descriptor],
        annotations: std::collections::BTreeMap<String, String>,
    ) -> Result<Descriptor, StoreError> {
        let _ = (config, layers, annotations);
        todo!("image helper")
    }
}
