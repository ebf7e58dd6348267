//! The local store: an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/`) plus
//! strata's own dirs and files beside it (`snapshots/`, `tmp/`, `locks/`, hints files such
//! as `registry-blobs.json`) that OCI readers ignore.
//!
//! Every write goes to `tmp/` first and is renamed into place; blobs are named by the
//! digest computed while they were written, and small blobs are checked again on read;
//! `index.json` is rewritten whole under a lock (`locks/index.lock`). A build killed at
//! any point leaves a readable layout; what it left in `tmp/` (in the area it owned, see
//! [`super::scratch`]) is removed by the next process that opens the store. A snapshot is
//! complete or absent: it is extracted in `tmp/` and renamed into `snapshots/`, and
//! `prune` renames it back into `tmp/` before deleting it.
//!
//! Tags live in `index.json` as manifest descriptors annotated with
//! `org.opencontainers.image.ref.name` = `NAME:TAG`, which is what both
//! `skopeo ... oci:STORE:NAME:TAG` and `umoci ... --image STORE:NAME:TAG` look up, and
//! `org.opencontainers.image.created` = the time of tagging.
//!
//! Durability: file data is fsynced before every rename (about 0.4 ms per small file and
//! a third more than the write itself for a big layer, which compression dwarfs). Directory
//! entries are not fsynced: ext4 commits the renames in order, so an index that survived a
//! power cut never names a blob that did not.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::digest::Digest;
use crate::layer::{Compression, Layer};
use crate::platform::Platform;

use super::reference::{store_key, BadName};
pub use super::scratch::disk_usage;
use super::scratch::{self, remove_tree, Scratch};
use super::{
    Descriptor, Image, ImageConfig, Index, Manifest, CONFIG_MEDIA_TYPE, CREATED, INDEX_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE, REF_NAME,
};

/// Temp entries older than this are left over from a killed process and are removed at open.
const STALE_TEMP_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// Errors of the store, each naming the path or reference involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// I/O on a path.
    #[error("{path}")]
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
    /// A name that is not a valid `NAME[:TAG]`.
    #[error(transparent)]
    BadName(#[from] BadName),
    /// Malformed JSON in the layout.
    #[error("{path}")]
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
    /// A layer blob whose media type strata cannot decompress.
    #[error("layer {digest}: unsupported media type {media_type:?}")]
    UnsupportedMediaType {
        /// The layer's digest.
        digest: Digest,
        /// Its media type.
        media_type: String,
    },
    /// Layout content that contradicts itself (a size or a count that does not match).
    #[error("{path}: {reason}")]
    Invalid {
        /// The file or blob involved.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A layer failed to extract.
    #[error(transparent)]
    Layer(#[from] crate::layer::LayerError),
    /// An image (or image index) that has no image for the platform asked for.
    #[error("image {name} has no image for {wanted} (it has: {have})")]
    WrongPlatform {
        /// The name or digest asked for.
        name: String,
        /// The platform asked for.
        wanted: String,
        /// The platforms it has.
        have: String,
    },
    /// A layer blob could not be extracted into its snapshot.
    #[error("layer {layer}: cannot extract")]
    Extract {
        /// The layer's digest.
        layer: Digest,
        /// Why.
        #[source]
        source: crate::layer::LayerError,
    },
}

/// Wraps an I/O error with the path it happened on.
pub(crate) fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The whole (small) file at `path`, checked against `digest`: a blob of the store or
/// of another OCI layout.
pub(crate) fn read_verified(path: &Path, digest: &Digest) -> Result<Vec<u8>, StoreError> {
    let bytes = fs::read(path).map_err(io_error(path))?;
    let actual = Digest::of(&bytes);
    if actual != *digest {
        return Err(StoreError::DigestMismatch {
            expected: digest.clone(),
            actual,
        });
    }
    Ok(bytes)
}

/// What [`Store::prune`] removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Blobs removed.
    pub blobs: usize,
    /// Snapshot dirs removed.
    pub snapshots: usize,
    /// Bytes freed (file sizes), blobs, snapshots and temp files together.
    pub bytes: u64,
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
    /// This process's area of `tmp/`.
    scratch: Arc<Scratch>,
}

impl Store {
    /// Opens the store at `root`, creating an empty layout if there is none, and removes
    /// what processes that are gone left in `tmp/` (and other temp entries older than a
    /// day).
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        for dir in ["blobs/sha256", "tmp", "snapshots", "locks"] {
            let path = root.join(dir);
            fs::create_dir_all(&path).map_err(io_error(&path))?;
        }
        let tmp = root.join("tmp");
        let store = Store {
            root: root.to_owned(),
            scratch: Arc::new(Scratch::claim(&tmp).map_err(io_error(&tmp))?),
        };
        let layout = root.join("oci-layout");
        if !layout.exists() {
            store.write_atomic(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        if !store.index_path().exists() {
            let _lock = store.lock("index.lock")?;
            if !store.index_path().exists() {
                store.write_index(&Index::default())?;
            }
        }
        store.remove_stale_temps();
        Ok(store)
    }

    /// The default location: `$STRATA_STORE`, else `$XDG_DATA_HOME/strata/store`, else
    /// `~/.local/share/strata/store` (`/var/lib/strata/store` when `$HOME` is unset).
    /// Empty variables count as unset and a relative `$XDG_DATA_HOME` is ignored, as the
    /// XDG spec says.
    pub fn default_root() -> PathBuf {
        root_from_env(|name| std::env::var_os(name))
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of a blob (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// A fresh temp path inside the store (same file system as the blobs), for a writer
    /// that will hand it to [`Store::commit_blob`].
    pub fn temp_path(&self) -> PathBuf {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        self.scratch
            .dir()
            .join(format!("file-{}-{n}-{nanos:09}", std::process::id()))
    }

    /// A fresh empty temp directory inside the store (for upper dirs, work dirs, mounts).
    pub fn temp_dir(&self) -> Result<tempfile::TempDir, StoreError> {
        let tmp = self.scratch.dir();
        tempfile::Builder::new()
            .prefix("dir-")
            .tempdir_in(tmp)
            .map_err(io_error(tmp))
    }

    /// Moves the finished file `tmp` into `blobs/sha256/` under `digest`. The digest was
    /// computed while writing, so it is trusted here. If the blob is already there, `tmp`
    /// is removed instead.
    pub fn commit_blob(&self, tmp: &Path, digest: &Digest) -> Result<(), StoreError> {
        let path = self.blob_path(digest);
        if path.exists() {
            return fs::remove_file(tmp).map_err(io_error(tmp));
        }
        File::open(tmp)
            .and_then(|f| f.sync_all())
            .map_err(io_error(tmp))?;
        fs::rename(tmp, &path).map_err(io_error(&path))
    }

    /// Writes `bytes` as a blob and returns its descriptor with `media_type`.
    pub fn put_blob(&self, media_type: &str, bytes: &[u8]) -> Result<Descriptor, StoreError> {
        let digest = Digest::of(bytes);
        let path = self.blob_path(&digest);
        if !path.exists() {
            self.write_atomic(&path, bytes)?;
        }
        Ok(Descriptor {
            media_type: media_type.to_owned(),
            digest,
            size: bytes.len() as u64,
            annotations: BTreeMap::new(),
            platform: None,
        })
    }

    /// Reads a whole (small) blob: manifests, configs, indexes. The content is checked
    /// against the digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        read_verified(&self.blob_path(digest), digest)
    }

    /// Points `name` (`NAME:TAG`; `NAME` means `NAME:latest`) at the manifest `manifest`,
    /// replacing an older tag. The manifest blob must be in the store.
    pub fn tag(&self, name: &str, manifest: &Descriptor) -> Result<(), StoreError> {
        let name = store_key(name)?;
        let blob = self.blob_path(&manifest.digest);
        if !blob.is_file() {
            return Err(StoreError::Invalid {
                path: blob.display().to_string(),
                reason: format!("cannot tag {name}: the manifest blob is not in the store"),
            });
        }
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let mut entry = manifest.clone();
        entry.annotations.insert(REF_NAME.into(), name.clone());
        entry.annotations.insert(CREATED.into(), now);

        let _lock = self.lock("index.lock")?;
        let mut index = self.read_index()?;
        index
            .manifests
            .retain(|d| d.annotations.get(REF_NAME) != Some(&name));
        index.manifests.push(entry);
        self.write_index(&index)
    }

    /// Removes the tag `name` (`NAME:TAG`; `NAME` means `NAME:latest`) and returns the
    /// manifest it pointed to. The blobs stay until `prune` finds nothing needs them.
    pub fn untag(&self, name: &str) -> Result<Descriptor, StoreError> {
        let name = store_key(name)?;
        let _lock = self.lock("index.lock")?;
        let mut index = self.read_index()?;
        let found = index
            .manifests
            .iter()
            .rev()
            .find(|d| d.annotations.get(REF_NAME) == Some(&name))
            .cloned()
            .ok_or_else(|| StoreError::UnknownImage(name.clone()))?;
        index
            .manifests
            .retain(|d| d.annotations.get(REF_NAME) != Some(&name));
        self.write_index(&index)?;
        Ok(found)
    }

    /// Looks up `name` (`NAME:TAG`; `NAME` means `NAME:latest`) and loads the image; of
    /// a multi-platform image (an index), this host's. A manifest digest (`sha256:<hex>`)
    /// names an image whether or not it is tagged, as an image ID does for docker
    /// (`strata load` prints it for an image loaded without a tag).
    pub fn image(&self, name: &str) -> Result<Image, StoreError> {
        self.image_for(name, None)
    }

    /// [`Store::image`] for `platform`: from an index its manifest for that platform, and a
    /// single-platform image only if it is for that platform (`None`: this host's from
    /// an index, any single-platform image).
    pub fn image_for(&self, name: &str, platform: Option<&Platform>) -> Result<Image, StoreError> {
        let digest = self.named(name)?.digest;
        self.image_by_digest_for(&digest, platform)
            .map_err(|e| match e {
                StoreError::WrongPlatform { wanted, have, .. } => StoreError::WrongPlatform {
                    name: name.to_owned(),
                    wanted,
                    have,
                },
                e => e,
            })
    }

    /// The descriptor `name` (a tag, or a manifest or index digest) stands for: a single
    /// image's manifest, or a multi-platform image's index.
    pub fn named(&self, name: &str) -> Result<Descriptor, StoreError> {
        if let Ok(digest) = name.parse::<Digest>() {
            let path = self.blob_path(&digest);
            let Ok(meta) = fs::metadata(&path) else {
                return Err(StoreError::UnknownImage(name.to_owned()));
            };
            let media_type = match self.index_of(&digest)? {
                Some(_) => INDEX_MEDIA_TYPE,
                None => MANIFEST_MEDIA_TYPE,
            };
            return Ok(Descriptor {
                media_type: media_type.into(),
                digest,
                size: meta.len(),
                annotations: BTreeMap::new(),
                platform: None,
            });
        }
        let name = store_key(name)?;
        let index = self.read_index()?;
        index
            .manifests
            .iter()
            .rev()
            .find(|d| d.annotations.get(REF_NAME) == Some(&name))
            .cloned()
            .ok_or(StoreError::UnknownImage(name))
    }

    /// Loads an image by manifest digest; of an index digest, this host's image.
    pub fn image_by_digest(&self, digest: &Digest) -> Result<Image, StoreError> {
        self.image_by_digest_for(digest, None)
    }

    /// Loads the image `digest` names for `platform` (see [`Store::image_for`]).
    pub fn image_by_digest_for(
        &self,
        digest: &Digest,
        platform: Option<&Platform>,
    ) -> Result<Image, StoreError> {
        if let Some(index) = self.index_of(digest)? {
            let wanted = platform.cloned().unwrap_or_else(Platform::host);
            let chosen = index
                .manifests
                .iter()
                .find(|d| d.platform.as_ref().is_some_and(|p| wanted.matches(p)));
            return match chosen {
                Some(entry) => self.image_by_digest_for(&entry.digest, Some(&wanted)),
                None => Err(StoreError::WrongPlatform {
                    name: digest.to_string(),
                    wanted: wanted.to_string(),
                    have: index_platforms(&index),
                }),
            };
        }
        let manifest: Manifest = self.read_json(digest)?;
        let config: ImageConfig = self.read_json(&manifest.config.digest)?;
        let image = Image {
            digest: digest.clone(),
            manifest,
            config,
        };
        if let Some(wanted) = platform {
            let have = image.config.platform();
            if !wanted.matches(&have.index_entry()) {
                return Err(StoreError::WrongPlatform {
                    name: digest.to_string(),
                    wanted: wanted.to_string(),
                    have: have.to_string(),
                });
            }
        }
        Ok(image)
    }

    /// The index `digest` names, or `None` when it names an image manifest.
    pub fn index_of(&self, digest: &Digest) -> Result<Option<Index>, StoreError> {
        /// Just enough of a manifest or index to tell which it is.
        #[derive(serde::Deserialize)]
        struct Kind {
            #[serde(rename = "mediaType")]
            media_type: Option<String>,
            manifests: Option<serde::de::IgnoredAny>,
        }
        let bytes = self.read_blob(digest)?;
        let json_error = |source| StoreError::Json {
            path: self.blob_path(digest).display().to_string(),
            source,
        };
        let kind: Kind = serde_json::from_slice(&bytes).map_err(json_error)?;
        if !kind.media_type.as_deref().is_some_and(is_index_media_type) && kind.manifests.is_none()
        {
            return Ok(None);
        }
        serde_json::from_slice(&bytes).map(Some).map_err(json_error)
    }

    /// Every image `digest` stands for: the one image of a manifest, each image of an
    /// index.
    pub fn images_of(&self, digest: &Digest) -> Result<Vec<Image>, StoreError> {
        match self.index_of(digest)? {
            Some(index) => index
                .manifests
                .iter()
                .filter(|d| !is_index_media_type(&d.media_type))
                .map(|d| self.image_by_digest_for(&d.digest, None))
                .collect(),
            None => Ok(vec![self.image_by_digest(digest)?]),
        }
    }

    /// Writes an image index of `images` (manifest descriptors, each with its platform),
    /// in the order given, and returns its descriptor (not yet tagged).
    pub fn put_index(&self, images: &[(Descriptor, Platform)]) -> Result<Descriptor, StoreError> {
        let index = Index {
            manifests: images
                .iter()
                .map(|(d, platform)| Descriptor {
                    annotations: BTreeMap::new(),
                    platform: Some(platform.index_entry()),
                    ..d.clone()
                })
                .collect(),
            ..Index::default()
        };
        let json = serde_json::to_vec(&index).map_err(|source| StoreError::Json {
            path: "image index".into(),
            source,
        })?;
        self.put_blob(INDEX_MEDIA_TYPE, &json)
    }

    /// A descriptor of `image`'s manifest, to tag it with: its media type, digest and
    /// size, no annotations.
    pub fn manifest_descriptor(&self, image: &Image) -> Result<Descriptor, StoreError> {
        let blob = self.blob_path(&image.digest);
        let size = fs::metadata(&blob).map_err(io_error(&blob))?.len();
        Ok(Descriptor {
            media_type: image
                .manifest
                .media_type
                .clone()
                .unwrap_or_else(|| MANIFEST_MEDIA_TYPE.into()),
            digest: image.digest.clone(),
            size,
            annotations: BTreeMap::new(),
            platform: None,
        })
    }

    /// All tags, sorted by name.
    pub fn tags(&self) -> Result<Vec<TagEntry>, StoreError> {
        // A later entry wins, as in `image`, should another tool have left duplicates.
        let mut tags = BTreeMap::new();
        for descriptor in self.read_index()?.manifests {
            if let Some(name) = descriptor.annotations.get(REF_NAME).cloned() {
                let created = descriptor.annotations.get(CREATED).cloned();
                tags.insert(
                    name.clone(),
                    TagEntry {
                        name,
                        descriptor,
                        created,
                    },
                );
            }
        }
        Ok(tags.into_values().collect())
    }

    /// The snapshot dirs of every layer of `image`, bottom first (see [`Store::snapshot`]).
    pub fn snapshots(&self, image: &Image) -> Result<Vec<PathBuf>, StoreError> {
        image
            .manifest
            .layers
            .iter()
            .zip(&image.config.rootfs.diff_ids)
            .map(|(layer, diff_id)| self.snapshot(layer, diff_id))
            .collect()
    }

    /// The snapshot dir of a layer: its extracted tree, usable as an overlay lower dir.
    /// Extracts the blob on first use (into a temp dir, renamed into `snapshots/<diff_id>`),
    /// so concurrent builds extract each layer once and never see a half-made snapshot.
    pub fn snapshot(&self, layer: &Descriptor, diff_id: &Digest) -> Result<PathBuf, StoreError> {
        let dest = self.snapshot_path(diff_id);
        if dest.is_dir() {
            return Ok(dest);
        }
        let _lock = self.lock(&format!("snapshot-{}.lock", diff_id.hex()))?;
        if dest.is_dir() {
            return Ok(dest);
        }
        let compression = compression_of(layer)?;
        let tmp = self.temp_dir()?;
        // The snapshot's top dir is the image's `/`; a layer tar with a `./` entry overrides.
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755))
            .map_err(io_error(tmp.path()))?;
        let blob = self.blob_path(&layer.digest);
        let file = File::open(&blob).map_err(io_error(&blob))?;
        let actual = crate::layer::extract(
            BufReader::with_capacity(1 << 20, file),
            compression,
            tmp.path(),
        )
        .map_err(|source| StoreError::Extract {
            layer: layer.digest.clone(),
            source,
        })?;
        if actual != *diff_id {
            return Err(StoreError::DigestMismatch {
                expected: diff_id.clone(),
                actual,
            });
        }
        let extracted = tmp.keep();
        fs::rename(&extracted, &dest).map_err(|source| {
            // Best effort: what is left is a stale temp dir, removed at a later open.
            let _ = fs::remove_dir_all(&extracted);
            io_error(&dest)(source)
        })?;
        Ok(dest)
    }

    /// Adopts an overlay upper dir that was just written as `layer` as that layer's
    /// snapshot, so the next step uses it directly instead of extracting the blob again.
    /// If the snapshot already exists, `upper` is removed instead. `upper` must be on the
    /// store's file system (made by [`Store::temp_dir`]) and hold no mounts.
    pub fn adopt_snapshot(&self, upper: &Path, layer: &Layer) -> Result<PathBuf, StoreError> {
        let dest = self.snapshot_path(&layer.diff_id);
        let _lock = self.lock(&format!("snapshot-{}.lock", layer.diff_id.hex()))?;
        if dest.is_dir() {
            fs::remove_dir_all(upper).map_err(io_error(upper))?;
        } else {
            fs::rename(upper, &dest).map_err(io_error(&dest))?;
        }
        Ok(dest)
    }

    /// Writes config and manifest for `config` over `layers`, returning the manifest's
    /// descriptor (not yet tagged). `annotations` go on the manifest.
    pub fn put_image(
        &self,
        config: &super::ImageConfig,
        layers: &[Descriptor],
        annotations: std::collections::BTreeMap<String, String>,
    ) -> Result<Descriptor, StoreError> {
        let config_json = serde_json::to_vec(config).map_err(|source| StoreError::Json {
            path: "image config".into(),
            source,
        })?;
        let config = self.put_blob(CONFIG_MEDIA_TYPE, &config_json)?;
        self.put_manifest(config, layers, annotations)
    }

    /// Writes the manifest of the stored config `config` over `layers`, returning its
    /// descriptor (not yet tagged). `annotations` go on the manifest.
    pub fn put_manifest(
        &self,
        config: Descriptor,
        layers: &[Descriptor],
        annotations: std::collections::BTreeMap<String, String>,
    ) -> Result<Descriptor, StoreError> {
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MANIFEST_MEDIA_TYPE.into()),
            config,
            layers: layers.to_vec(),
            annotations,
        };
        let manifest_json = serde_json::to_vec(&manifest).map_err(|source| StoreError::Json {
            path: "image manifest".into(),
            source,
        })?;
        self.put_blob(MANIFEST_MEDIA_TYPE, &manifest_json)
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    fn snapshot_path(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("snapshots").join(diff_id.hex())
    }

    /// The index as on disk. Readers take no lock: the file is only ever replaced whole.
    fn read_index(&self) -> Result<Index, StoreError> {
        let path = self.index_path();
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| StoreError::Json {
                path: path.display().to_string(),
                source,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Index::default()),
            Err(e) => Err(io_error(&path)(e)),
        }
    }

    /// Replaces the index; the caller holds `index.lock`.
    fn write_index(&self, index: &Index) -> Result<(), StoreError> {
        let path = self.index_path();
        let bytes = serde_json::to_vec(index).map_err(|source| StoreError::Json {
            path: path.display().to_string(),
            source,
        })?;
        self.write_atomic(&path, &bytes)
    }

    fn read_json<T: serde::de::DeserializeOwned>(&self, digest: &Digest) -> Result<T, StoreError> {
        let bytes = self.read_blob(digest)?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::Json {
            path: self.blob_path(digest).display().to_string(),
            source,
        })
    }

    /// Writes `bytes` to a temp file, fsyncs it and renames it to `path`.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let tmp = self.temp_path();
        let written = File::create_new(&tmp).and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        });
        if let Err(e) = written.and_then(|()| fs::rename(&tmp, path)) {
            let _ = fs::remove_file(&tmp);
            return Err(io_error(path)(e));
        }
        Ok(())
    }

    /// Reads `name`, a JSON file of hints kept beside the layout (such as where pushed
    /// blobs already are). Hints may be lost without harm, so a missing or unreadable file
    /// is `T::default()`.
    pub fn read_hints<T: Default + serde::de::DeserializeOwned>(&self, name: &str) -> T {
        fs::read(self.root.join(name))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Changes the hints file `name` with `update` and writes it back atomically, under
    /// `locks/<name>` so that concurrent updates do not lose each other's changes.
    pub fn update_hints<T>(&self, name: &str, update: impl FnOnce(&mut T)) -> Result<(), StoreError>
    where
        T: Default + serde::Serialize + serde::de::DeserializeOwned,
    {
        let _lock = self.lock(name)?;
        let mut hints = self.read_hints(name);
        update(&mut hints);
        let path = self.root.join(name);
        let bytes = serde_json::to_vec(&hints).map_err(|source| StoreError::Json {
            path: path.display().to_string(),
            source,
        })?;
        self.write_atomic(&path, &bytes)
    }

    /// Marks the store as in use until the returned lock is dropped: builds and runs hold
    /// it (shared) so that [`Store::prune`], which takes it exclusively, never removes a
    /// blob or snapshot a running build is about to tag or has mounted.
    pub fn in_use(&self) -> Result<File, StoreError> {
        self.lock_as("gc.lock", rustix::fs::FlockOperation::LockShared)
    }

    /// Removes what no tag needs: unreferenced blobs, snapshots of layers no tagged
    /// image has, and leftovers in `tmp/`; `keep` names further layers (blob and diff_id)
    /// to keep, such as those of the step cache. Waits for running builds to finish first.
    pub fn prune(&self, keep: &[(Descriptor, Digest)]) -> Result<PruneReport, StoreError> {
        let _exclusive = self.exclusive()?;
        let mut keep_blobs = std::collections::HashSet::new();
        let mut keep_snapshots = std::collections::HashSet::new();
        let mut images = Vec::new();
        for tag in self.tags()? {
            keep_blobs.insert(tag.descriptor.digest.hex().to_owned());
            images.extend(self.images_of(&tag.descriptor.digest)?);
        }
        for image in images {
            keep_blobs.insert(image.digest.hex().to_owned());
            keep_blobs.insert(image.manifest.config.digest.hex().to_owned());
            keep_blobs.extend(
                image
                    .manifest
                    .layers
                    .iter()
                    .map(|l| l.digest.hex().to_owned()),
            );
            keep_snapshots.extend(
                image
                    .config
                    .rootfs
                    .diff_ids
                    .iter()
                    .map(|d| d.hex().to_owned()),
            );
        }
        for (layer, diff_id) in keep {
            keep_blobs.insert(layer.digest.hex().to_owned());
            keep_snapshots.insert(diff_id.hex().to_owned());
        }
        let mut report = PruneReport::default();
        let mounted = mount_points();
        for (dir, keep, count) in [
            ("blobs/sha256", &keep_blobs, &mut report.blobs),
            ("snapshots", &keep_snapshots, &mut report.snapshots),
        ] {
            let dir = self.root.join(dir);
            for entry in fs::read_dir(&dir).map_err(io_error(&dir))? {
                let path = entry.map_err(io_error(&dir))?.path();
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default();
                if keep.contains(name) || mounted.iter().any(|m| m.starts_with(&path)) {
                    continue;
                }
                *count += 1;
                // Out of sight first, in one rename: a kill in the middle of the delete
                // then leaves a partial tree in this process's area (reclaimed by the
                // next opener), never a partial snapshot that a build would trust.
                report.bytes += self.discard(&path)?;
            }
        }
        let tmp = self.root.join("tmp");
        report.bytes += scratch::reclaim(&tmp, &mounted);
        // Other entries (older strata versions, an interrupted claim): nobody owns them.
        for entry in fs::read_dir(&tmp).map_err(io_error(&tmp))? {
            let path = entry.map_err(io_error(&tmp))?.path();
            if !scratch::is_owned(&path) && !mounted.iter().any(|m| m.starts_with(&path)) {
                report.bytes += disk_usage(&path);
                remove_tree(&path).map_err(io_error(&path))?;
            }
        }
        Ok(report)
    }

    /// Removes `path`, an entry of the store (a snapshot, a blob), crash-safely: renamed
    /// into this process's temp area first, in one step, then deleted there. Returns the
    /// bytes freed.
    pub fn discard(&self, path: &Path) -> Result<u64, StoreError> {
        let bytes = disk_usage(path);
        let doomed = self.temp_path();
        fs::rename(path, &doomed).map_err(io_error(path))?;
        remove_tree(&doomed).map_err(io_error(&doomed))?;
        Ok(bytes)
    }

    /// What lies in `tmp/` that no running process will come back for (see
    /// [`super::scratch`]).
    pub fn temp_orphans(&self) -> Vec<PathBuf> {
        scratch::orphans(&self.root.join("tmp"))
    }

    /// Takes the exclusive `gc.lock`, which waits for running builds and keeps new ones
    /// out, as `prune` and `fsck --repair` need.
    pub fn exclusive(&self) -> Result<File, StoreError> {
        self.lock_as("gc.lock", rustix::fs::FlockOperation::LockExclusive)
    }

    /// Takes the exclusive lock `locks/<name>`, held until the returned file is dropped.
    /// `flock` locks belong to the open file, so threads of one process exclude each other
    /// too.
    fn lock(&self, name: &str) -> Result<File, StoreError> {
        self.lock_as(name, rustix::fs::FlockOperation::LockExclusive)
    }

    /// Takes `locks/<name>` with `op` (shared or exclusive), waiting for it.
    fn lock_as(&self, name: &str, op: rustix::fs::FlockOperation) -> Result<File, StoreError> {
        let path = self.root.join("locks").join(name);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_error(&path))?;
        loop {
            match rustix::fs::flock(&file, op) {
                Ok(()) => return Ok(file),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(io_error(&path)(e.into())),
            }
        }
    }

    /// Removes entries of `tmp/` older than a day. Entries holding a mount point (an
    /// overlay left by a killed build) are kept, since deleting through a mount would
    /// delete what it shows. Failures are ignored: this is housekeeping, and the next
    /// open tries again.
    fn remove_stale_temps(&self) {
        let tmp = self.root.join("tmp");
        scratch::reclaim(&tmp, &mount_points());
        let Ok(entries) = fs::read_dir(&tmp) else {
            return;
        };
        let now = SystemTime::now();
        let stale: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| !scratch::is_owned(&e.path()))
            .filter(|e| {
                e.metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age > STALE_TEMP_AGE))
            })
            .map(|e| e.path())
            .collect();
        if stale.is_empty() {
            return;
        }
        let mounts = mount_points();
        for path in stale {
            if mounts.iter().any(|m| m.starts_with(&path)) {
                continue;
            }
            let _ = if path.is_dir() && !path.is_symlink() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
        }
    }
}

/// Whether `media_type` is an image index's: OCI's, or Docker's manifest list.
pub fn is_index_media_type(media_type: &str) -> bool {
    media_type == INDEX_MEDIA_TYPE
        || media_type == "application/vnd.docker.distribution.manifest.list.v2+json"
}

/// The platforms of an index's entries, for errors: `linux/amd64, linux/arm64`.
fn index_platforms(index: &Index) -> String {
    let names: Vec<String> = index
        .manifests
        .iter()
        .filter_map(|d| d.platform.as_ref())
        .map(|p| Platform::of_index_entry(p).map_or_else(|| p.to_string(), |p| p.to_string()))
        .collect();
    if names.is_empty() {
        "no platforms".into()
    } else {
        names.join(", ")
    }
}

/// The compression of the layer `layer`, from its media type.
pub(crate) fn compression_of(layer: &Descriptor) -> Result<Compression, StoreError> {
    Compression::from_media_type(&layer.media_type).ok_or_else(|| {
        StoreError::UnsupportedMediaType {
            digest: layer.digest.clone(),
            media_type: layer.media_type.clone(),
        }
    })
}

/// [`Store::default_root`] over the variables `var` returns.
fn root_from_env(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
    let var = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(store) = var("STRATA_STORE") {
        return store;
    }
    if let Some(data) = var("XDG_DATA_HOME").filter(|p| p.is_absolute()) {
        return data.join("strata/store");
    }
    match var("HOME") {
        Some(home) => home.join(".local/share/strata/store"),
        None => PathBuf::from("/var/lib/strata/store"),
    }
}

/// The mount points of this process's namespace, from `/proc/self/mountinfo` (field 5,
/// with the kernel's octal escapes for space, tab, newline and backslash undone).
fn mount_points() -> Vec<PathBuf> {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    info.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape_octal(field)))
        .collect()
}

fn unescape_octal(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        match rest
            .get(i + 1..i + 4)
            .and_then(|oct| u8::from_str_radix(oct, 8).ok())
        {
            Some(byte) => {
                out.push(char::from(byte));
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape_octal(r"/a\040b\134c\011"), "/a b\\c\t");
        assert_eq!(unescape_octal(r"/plain\x"), r"/plain\x");
    }

    #[test]
    fn stale_temps_go_but_fresh_ones_and_live_areas_stay() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let tmp = dir.path().join("tmp");
        // Unowned entries (an older strata's): removed once a day old.
        let old = SystemTime::now() - STALE_TEMP_AGE - Duration::from_secs(60);
        let stale = tmp.join("file-1-0-000000000");
        fs::write(&stale, b"x").unwrap();
        File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let stale_dir = tmp.join("dir-old");
        fs::create_dir(&stale_dir).unwrap();
        fs::write(stale_dir.join("f"), b"x").unwrap();
        File::open(&stale_dir).unwrap().set_modified(old).unwrap();
        let fresh = tmp.join("file-1-1-000000000");
        fs::write(&fresh, b"x").unwrap();
        // A live store's area stays, however old.
        let live = store.temp_path();
        fs::write(&live, b"x").unwrap();
        File::options()
            .write(true)
            .open(&live)
            .unwrap()
            .set_modified(old)
            .unwrap();
        Store::open(dir.path()).unwrap();
        assert!(!stale.exists() && !stale_dir.exists());
        assert!(fresh.exists() && live.exists());
        // Once the store is dropped, its area goes with it.
        let area = live.parent().unwrap().to_owned();
        drop(store);
        assert!(!area.exists());
    }

    #[test]
    fn default_root_follows_the_environment() {
        let root = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect();
            root_from_env(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.into()))
        };
        assert_eq!(
            root(&[("STRATA_STORE", "/s"), ("XDG_DATA_HOME", "/x")]),
            Path::new("/s")
        );
        assert_eq!(
            root(&[("STRATA_STORE", ""), ("XDG_DATA_HOME", "/x")]),
            Path::new("/x/strata/store")
        );
        assert_eq!(
            root(&[("XDG_DATA_HOME", "rel"), ("HOME", "/h")]),
            Path::new("/h/.local/share/strata/store")
        );
        assert_eq!(root(&[]), Path::new("/var/lib/strata/store"));
    }

    #[test]
    fn bad_names_and_unknown_tags_are_named_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let err = store.image("Bad/Name").unwrap_err();
        assert!(err.to_string().contains("Bad/Name"), "{err}");
        let err = store.image("missing").unwrap_err();
        assert!(err.to_string().contains("missing:latest"), "{err}");
    }
}
