//! Load: the archives `docker save`, skopeo, BuildKit and `strata export` write, and OCI
//! layout directories, into the store (`strata load`).
//!
//! The data flows in three steps:
//! 1. [`Entries`]: every regular entry of the tar (plain, gzip or zstd, from a file or a
//!    pipe) is spooled into the store's `tmp/` while it is hashed. A tar on a pipe cannot
//!    be seeked and docker-archive's `manifest.json` comes after the layers, so nothing
//!    can be decided before the end; spooling to the store's own file system means a
//!    layer is later renamed into `blobs/`, never copied twice, and never held in memory.
//!    Entries named `blobs/sha256/<hex>` are checked against their names as they arrive.
//!    An OCI layout directory is read the same way, each file when it is first needed.
//! 2. The archive's own table of contents (`manifest.json` of a docker-archive, else
//!    `index.json` of an OCI layout) gives [`Checked`] images: every digest and size
//!    verified, every name parsed.
//! 3. Only then are the entries renamed into `blobs/` and the names tagged. An error in
//!    steps 1 or 2 leaves no tag and no blob, and the temp files go with [`Entries`].
//!
//! docker-archive layers are tars: `docker save` writes them uncompressed (docker 25+
//! may write the compressed blobs of its containerd store instead). They are stored as
//! they come, with the OCI layer media type of their compression
//! (`application/vnd.oci.image.layer.v1.tar` for a plain tar), rather than gzipped: a
//! load then costs one copy and one hash at disk speed where gzip runs at ~70 MB/s, and
//! a plain layer's blob digest stays the diff_id docker knows it by. Snapshots, export
//! and push read every layer media type; the price is that pushing such an image
//! uploads its tars uncompressed (docker compresses at push time instead).
//!
//! A docker config is stored byte for byte under the OCI config media type, as `strata
//! pull` stores a docker image's config: OCI's config is docker's with fewer fields
//! (readers ignore the others), and OCI's schema allows docker's `null` Entrypoint, Cmd,
//! Volumes and Labels. So the image keeps docker's image ID (its config's digest), and
//! `docker load` takes it back unchanged. Only a `null` where OCI's schema wants a value
//! (`"config": null`, `"Env": null`, ...) is dropped, which is what it means to docker.
//!
//! Names are stored as written (`busybox:latest`, not `docker.io/library/busybox:latest`),
//! as [`super::reference`] keeps every name.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::digest::{Digest, HashingWriter};
use crate::layer::Compression;
use crate::path::rooted_parts;
use crate::platform::Platform;

use super::archive::decompressed;
use super::reference::{store_key, BadName};
use super::store::{compression_of, io_error};
use super::{
    Descriptor, ImageConfig, Index, Manifest, Store, StoreError, CONFIG_MEDIA_TYPE,
    CONTAINERD_IMAGE_NAME, INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, REF_NAME,
};

/// The largest JSON entry read (`manifest.json`, `index.json`, configs, manifests): these
/// are read whole, so a bogus one must not fill the memory.
const MAX_JSON: u64 = 16 << 20;
/// How many links are followed from one entry (`docker save` writes a symlink for each
/// repeated layer).
const MAX_LINKS: usize = 16;
/// Docker's multi-platform manifest list, as an OCI layout's index may name it.
const DOCKER_LIST_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Top-level config fields that OCI's schema types without `null`.
const NOT_NULL: &[&str] = &[
    "created",
    "author",
    "variant",
    "os.version",
    "os.features",
    "config",
    "history",
];
/// Fields of the config's `config` object that OCI's schema types without `null`.
const NOT_NULL_IN_CONFIG: &[&str] = &[
    "User",
    "ExposedPorts",
    "Env",
    "WorkingDir",
    "StopSignal",
    "ArgsEscaped",
];

/// Where `strata load` reads from.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// An archive file (tar, optionally gzip or zstd compressed) or an OCI layout dir.
    Path(&'a Path),
    /// An archive on standard input.
    Stdin,
}

/// One image that was loaded.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The names it was tagged with (`NAME:TAG`), none for an untagged image.
    pub names: Vec<String>,
    /// Its manifest digest in the store (what names an untagged image).
    pub digest: Digest,
}

/// Why a load failed; each names the archive and, where there is one, the entry.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The archive could not be read (truncated, corrupt compression, not a tar).
    #[error("{archive}: cannot read {what}")]
    Read {
        /// The archive (a path, or standard input).
        archive: String,
        /// What was being read (an entry).
        what: String,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// An entry is missing or contradicts the rest of the archive.
    #[error("{archive}: {entry}: {reason}")]
    Invalid {
        /// The archive.
        archive: String,
        /// The entry.
        entry: String,
        /// What is wrong.
        reason: String,
    },
    /// A JSON entry does not parse as what it should be.
    #[error("{archive}: {entry}: not a valid {what}")]
    Json {
        /// The archive.
        archive: String,
        /// The entry.
        entry: String,
        /// What it should have been.
        what: &'static str,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
    /// An image name in the archive is not a valid `NAME[:TAG]`.
    #[error("{archive}: {entry}: cannot tag the image")]
    Name {
        /// The archive.
        archive: String,
        /// The entry naming the image.
        entry: String,
        /// Cause.
        #[source]
        source: BadName,
    },
    /// Neither table of contents is there.
    #[error(
        "{archive}: neither a docker-archive (no manifest.json) nor an OCI layout (no index.json)"
    )]
    UnknownFormat {
        /// The archive.
        archive: String,
    },
    /// Writing to the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Loads every image of `input` into `store` and tags it with the names the archive
/// gives. All images are checked before any is stored; on error nothing is tagged and
/// the store's `tmp/` is left as it was.
pub fn load(store: &Store, input: Input<'_>) -> Result<Vec<Loaded>, LoadError> {
    let mut entries = match input {
        Input::Path(path) if path.is_dir() => Entries::dir(store, path),
        Input::Path(path) => {
            let file = File::open(path).map_err(io_error(path))?;
            Entries::tar(store, path.display().to_string(), file)?
        }
        Input::Stdin => Entries::tar(store, "standard input".into(), io::stdin().lock())?,
    };
    let images = if entries.has("manifest.json")? {
        check_docker(&mut entries)?
    } else if entries.has("index.json")? {
        check_oci(&mut entries)?
    } else {
        return Err(LoadError::UnknownFormat {
            archive: entries.archive.clone(),
        });
    };
    let mut loaded = Vec::new();
    for image in images {
        for key in &image.blobs {
            entries.commit(key)?;
        }
        let manifest = match image.target {
            Target::Manifest(descriptor) => descriptor,
            Target::Docker { config, layers } => {
                let config = store.put_blob(CONFIG_MEDIA_TYPE, &config)?;
                store.put_manifest(config, &layers, BTreeMap::new())?
            }
        };
        for name in &image.names {
            store.tag(name, &manifest)?;
        }
        loaded.push(Loaded {
            names: image.names,
            digest: manifest.digest,
        });
    }
    Ok(loaded)
}

/// An image read from the archive and verified, not yet in the store.
struct Checked {
    /// The entries to move into `blobs/` (layers; for OCI, config and manifest too).
    blobs: Vec<String>,
    /// What the names point at.
    target: Target,
    /// Store keys (`NAME:TAG`) to tag.
    names: Vec<String>,
}

/// The manifest a [`Checked`] image gets.
enum Target {
    /// The archive's own manifest (OCI), kept as it is.
    Manifest(Descriptor),
    /// A manifest to write over this config (the bytes to store) and these layers.
    Docker {
        config: Vec<u8>,
        layers: Vec<Descriptor>,
    },
}

/// One image of a docker-archive's `manifest.json`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerImage {
    /// The config's entry.
    config: String,
    /// `NAME:TAG`s (`null` for an image saved by ID).
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    /// The layer tars' entries, bottom first.
    layers: Vec<String>,
}

fn check_docker(entries: &mut Entries) -> Result<Vec<Checked>, LoadError> {
    let (_, images): (_, Vec<DockerImage>) =
        entries.json("manifest.json", "docker-archive manifest.json")?;
    let mut checked = Vec::new();
    for image in images {
        let config_key = clean(&image.config);
        let (_, bytes) = entries.bytes(&config_key)?;
        let bytes = oci_config(bytes).map_err(|e| entries.json_error(&config_key, "config", e))?;
        let config: ImageConfig = serde_json::from_slice(&bytes)
            .map_err(|e| entries.json_error(&config_key, "image config", e))?;
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != image.layers.len() {
            return Err(entries.invalid(
                "manifest.json",
                format!(
                    "{} Layers for the config {config_key}, which lists {} diff_ids",
                    image.layers.len(),
                    diff_ids.len()
                ),
            ));
        }
        let mut blobs = Vec::new();
        let mut layers = Vec::new();
        for (n, (layer, diff_id)) in image.layers.iter().zip(diff_ids).enumerate() {
            let content = entries.content(&clean(layer))?;
            let compression = entries.layer_compression(&content, diff_id).and_then(|c| {
                c.ok_or_else(|| {
                    entries.invalid(
                        layer,
                        format!(
                            "the layer does not match its diff_id: layer {n} of {config_key} is {diff_id}, but this tar hashes to {}",
                            content.digest
                        ),
                    )
                })
            })?;
            layers.push(Descriptor {
                media_type: compression.media_type().into(),
                digest: content.digest.clone(),
                size: content.size,
                annotations: BTreeMap::new(),
                platform: None,
            });
            blobs.push(content.key);
        }
        let names = image
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|name| store_key(name).map_err(|e| entries.name_error("manifest.json", e)))
            .collect::<Result<_, _>>()?;
        checked.push(Checked {
            blobs,
            target: Target::Docker {
                config: bytes,
                layers,
            },
            names,
        });
    }
    Ok(checked)
}

fn check_oci(entries: &mut Entries) -> Result<Vec<Checked>, LoadError> {
    let (_, index): (_, Index) = entries.json("index.json", "OCI index.json")?;
    let mut checked = Vec::new();
    for entry in &index.manifests {
        let names = oci_name(entry)
            .map_err(|e| entries.name_error("index.json", e))?
            .into_iter()
            .collect();
        let descriptor = entries.platform_manifest(entry)?;
        let key = blob_key(&descriptor.digest);
        if descriptor.media_type != MANIFEST_MEDIA_TYPE {
            return Err(entries.invalid(
                &key,
                format!(
                    "unsupported manifest media type {:?} (expected {MANIFEST_MEDIA_TYPE})",
                    descriptor.media_type
                ),
            ));
        }
        let manifest: Manifest = entries.blob_json(&descriptor, "OCI image manifest")?;
        let config: ImageConfig = entries.blob_json(&manifest.config, "image config")?;
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(entries.invalid(
                &key,
                format!(
                    "{} layers, but its config lists {} diff_ids",
                    manifest.layers.len(),
                    config.rootfs.diff_ids.len()
                ),
            ));
        }
        let mut blobs = vec![entries.blob(&manifest.config)?.key];
        for layer in &manifest.layers {
            compression_of(layer)?;
            blobs.push(entries.blob(layer)?.key);
        }
        blobs.push(entries.blob(&descriptor)?.key);
        checked.push(Checked {
            blobs,
            target: Target::Manifest(Descriptor {
                annotations: BTreeMap::new(),
                platform: None,
                ..descriptor
            }),
            names,
        });
    }
    Ok(checked)
}

/// The name an OCI index entry gives its image: containerd's full name, else
/// `org.opencontainers.image.ref.name` when it is a full name too (holds a `:` or `/`;
/// a lone word such as `1.0` or `latest` is a tag without a repository).
fn oci_name(entry: &Descriptor) -> Result<Option<String>, BadName> {
    let name = entry.annotations.get(CONTAINERD_IMAGE_NAME).or_else(|| {
        entry
            .annotations
            .get(REF_NAME)
            .filter(|r| r.contains([':', '/']))
    });
    name.map(|n| store_key(n)).transpose()
}

/// An archive path as a key: cleaned, relative to the archive's root (`./a`, `/a` and
/// `x/../a` are all `a`), as docker resolves the names in `manifest.json`.
fn clean(path: &str) -> String {
    rooted_parts(path).join("/")
}

/// The entry of a blob in an OCI layout.
fn blob_key(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// The digest an entry's name claims for its content, for `blobs/sha256/<hex>`.
fn named_digest(key: &str) -> Option<Digest> {
    key.strip_prefix("blobs/sha256/")
        .and_then(|hex| format!("sha256:{hex}").parse().ok())
}

/// A docker config as an OCI config: the same bytes, unless a field OCI's schema types
/// without `null` is `null` (docker's Go encoder writes unset slices and pointers so);
/// those are dropped.
fn oci_config(bytes: Vec<u8>) -> Result<Vec<u8>, serde_json::Error> {
    fn drop_nulls(map: &mut serde_json::Map<String, serde_json::Value>, keys: &[&str]) -> bool {
        let before = map.len();
        map.retain(|k, v| !(v.is_null() && keys.contains(&k.as_str())));
        map.len() != before
    }
    let mut config: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes)?;
    let mut changed = drop_nulls(&mut config, NOT_NULL);
    if let Some(serde_json::Value::Object(inner)) = config.get_mut("config") {
        changed |= drop_nulls(inner, NOT_NULL_IN_CONFIG);
    }
    if changed {
        serde_json::to_vec(&config)
    } else {
        Ok(bytes)
    }
}

/// The entries of an archive: spooled tar entries, or the files of a layout directory.
/// Temp files not yet committed are removed when this is dropped.
struct Entries<'s> {
    store: &'s Store,
    /// The archive, for messages.
    archive: String,
    /// A layout directory whose files are read on first use.
    dir: Option<PathBuf>,
    /// Entries by key ([`clean`] path).
    files: BTreeMap<String, Entry>,
}

/// One entry.
enum Entry {
    /// Content spooled into a store temp file.
    Temp {
        path: PathBuf,
        digest: Digest,
        size: u64,
    },
    /// Content that is a blob of the store (committed, or there already).
    Stored { digest: Digest, size: u64 },
    /// A symlink or hard link: the key of its target.
    Link(String),
}

/// A regular entry's key (after links), digest and size.
struct Content {
    key: String,
    digest: Digest,
    size: u64,
}

impl<'s> Entries<'s> {
    /// Spools every entry of the tar `input` (gzip or zstd compressed, or not).
    fn tar(store: &'s Store, archive: String, mut input: impl Read) -> Result<Self, LoadError> {
        let mut entries = Entries {
            store,
            archive,
            dir: None,
            files: BTreeMap::new(),
        };
        let mut magic = Vec::new();
        (&mut input)
            .take(4)
            .read_to_end(&mut magic)
            .map_err(|e| entries.read_error("its first bytes".into(), e))?;
        let stream = crate::layer::decoder(
            Compression::sniff(&magic),
            io::Cursor::new(magic).chain(input),
        )
        .map_err(|e| entries.read_error("its compression header".into(), e))?;
        let mut tar = crate::layer::archive(stream);
        let mut last: Option<String> = None;
        let after = |last: &Option<String>| match last {
            Some(key) => format!("the entry after {key:?}"),
            None => "its first entry".into(),
        };
        let list = tar
            .entries()
            .map_err(|e| entries.read_error(after(&last), e))?;
        for entry in list {
            let mut entry = entry.map_err(|e| entries.read_error(after(&last), e))?;
            let key = clean(&String::from_utf8_lossy(&entry.path_bytes()));
            let link = || {
                entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default()
            };
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let size = entry.size();
                    entries.add(&key, &mut entry, Some(size))?;
                }
                // A symlink's target is relative to its own directory.
                tar::EntryType::Symlink => {
                    let dir = key.rsplit_once('/').map_or("", |(dir, _)| dir);
                    let target = clean(&format!("{dir}/{}", link()));
                    entries.insert(key.clone(), Entry::Link(target));
                }
                // A hard link's target is an archive path.
                tar::EntryType::Link => {
                    let target = clean(&link());
                    entries.insert(key.clone(), Entry::Link(target));
                }
                // Directories and the rest carry no content an image needs.
                _ => {}
            }
            last = Some(key);
        }
        Ok(entries)
    }

    /// The OCI layout (or extracted archive) directory `dir`.
    fn dir(store: &'s Store, dir: &Path) -> Self {
        Entries {
            store,
            archive: dir.display().to_string(),
            dir: Some(dir.to_owned()),
            files: BTreeMap::new(),
        }
    }

    /// Whether the entry `key` exists.
    fn has(&mut self, key: &str) -> Result<bool, LoadError> {
        self.fetch(key)?;
        Ok(self.files.contains_key(key))
    }

    /// Reads `key` from the layout directory into the spool if it is not there yet.
    fn fetch(&mut self, key: &str) -> Result<(), LoadError> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        if self.files.contains_key(key) {
            return Ok(());
        }
        let path = dir.join(key);
        match File::open(&path) {
            Ok(file) if path.is_file() => self.add(key, file, None),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(&path)(e).into()),
        }
    }

    /// Spools the content of entry `key` from `content`, hashing it; a blob the store
    /// has already is only hashed. `size` is what the tar header says it holds.
    fn add(
        &mut self,
        key: &str,
        mut content: impl Read,
        size: Option<u64>,
    ) -> Result<(), LoadError> {
        let named = named_digest(key);
        let entry = match &named {
            Some(digest) if self.store.blob_path(digest).is_file() => {
                let (_, digest, size) = self.copy(key, &mut content, size, io::sink())?;
                Entry::Stored { digest, size }
            }
            _ => {
                let path = self.store.temp_path();
                let spooled = File::create_new(&path)
                    .map_err(|e| LoadError::from(io_error(&path)(e)))
                    .and_then(|file| {
                        let out = BufWriter::with_capacity(1 << 20, file);
                        let (file, digest, size) = self.copy(key, &mut content, size, out)?;
                        file.into_inner()
                            .map_err(io::IntoInnerError::into_error)
                            .map_err(io_error(&path))?;
                        Ok((digest, size))
                    });
                match spooled {
                    Ok((digest, size)) => Entry::Temp { path, digest, size },
                    Err(e) => {
                        let _ = fs::remove_file(&path);
                        return Err(e);
                    }
                }
            }
        };
        let actual = match &entry {
            Entry::Temp { digest, .. } | Entry::Stored { digest, .. } => digest.clone(),
            Entry::Link(_) => unreachable!("content was just read"),
        };
        self.insert(key.to_owned(), entry);
        match named {
            Some(named) if named != actual => Err(self.invalid(
                key,
                format!("the content hashes to {actual}, not to the digest its name says"),
            )),
            _ => Ok(()),
        }
    }

    /// Copies `content` (of `expected` bytes, if known) into `out` while hashing,
    /// telling read errors (the archive's) from write errors (the store's).
    fn copy<W: Write>(
        &self,
        key: &str,
        content: &mut impl Read,
        expected: Option<u64>,
        out: W,
    ) -> Result<(W, Digest, u64), LoadError> {
        let mut out = HashingWriter::new(out);
        let mut buf = vec![0; 1 << 18];
        loop {
            let n = match content.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.read_error(format!("entry {key:?}"), e)),
            };
            out.write_all(&buf[..n]).map_err(|e| StoreError::Io {
                path: format!(
                    "{} (spooling {key})",
                    self.store.root().join("tmp").display()
                ),
                source: e,
            })?;
        }
        let (out, digest, size) = out.finish();
        match expected {
            // A tar entry cut short reads as a short entry, not as an error.
            Some(expected) if expected != size => Err(self.read_error(
                format!("entry {key:?}"),
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the archive ends after {size} of its {expected} bytes"),
                ),
            )),
            _ => Ok((out, digest, size)),
        }
    }

    /// Records `entry` under `key`; a tar may hold a name twice, and the last one wins.
    fn insert(&mut self, key: String, entry: Entry) {
        if let Some(Entry::Temp { path, .. }) = self.files.insert(key, entry) {
            let _ = fs::remove_file(path);
        }
    }

    /// The content of entry `key`, following links.
    fn content(&mut self, key: &str) -> Result<Content, LoadError> {
        let mut key = key.to_owned();
        for _ in 0..=MAX_LINKS {
            self.fetch(&key)?;
            match self.files.get(&key) {
                None => return Err(self.invalid(&key, "not in the archive".into())),
                Some(Entry::Link(target)) => key = target.clone(),
                Some(Entry::Temp { digest, size, .. } | Entry::Stored { digest, size }) => {
                    return Ok(Content {
                        digest: digest.clone(),
                        size: *size,
                        key,
                    })
                }
            }
        }
        Err(self.invalid(&key, format!("more than {MAX_LINKS} links in a row")))
    }

    /// The file holding a regular entry's content.
    fn path(&self, content: &Content) -> PathBuf {
        match self.files.get(&content.key) {
            Some(Entry::Temp { path, .. }) => path.clone(),
            _ => self.store.blob_path(&content.digest),
        }
    }

    /// The whole content of a small entry (JSON).
    fn bytes(&mut self, key: &str) -> Result<(Content, Vec<u8>), LoadError> {
        let content = self.content(key)?;
        if content.size > MAX_JSON {
            return Err(self.invalid(
                key,
                format!("{} bytes, too big for a JSON file", content.size),
            ));
        }
        let path = self.path(&content);
        let bytes = fs::read(&path).map_err(io_error(&path))?;
        Ok((content, bytes))
    }

    /// Entry `key` parsed as JSON; `what` names what it should be, for the error.
    fn json<T: DeserializeOwned>(
        &mut self,
        key: &str,
        what: &'static str,
    ) -> Result<(Content, T), LoadError> {
        let (content, bytes) = self.bytes(key)?;
        let value = serde_json::from_slice(&bytes).map_err(|e| self.json_error(key, what, e))?;
        Ok((content, value))
    }

    /// The blob `descriptor` names in an OCI layout, checked against it.
    fn blob(&mut self, descriptor: &Descriptor) -> Result<Content, LoadError> {
        let key = blob_key(&descriptor.digest);
        let content = self.content(&key)?;
        if content.digest != descriptor.digest || content.size != descriptor.size {
            return Err(self.invalid(
                &key,
                format!(
                    "{} bytes hashing to {}, but the descriptor says {} bytes of {}",
                    content.size, content.digest, descriptor.size, descriptor.digest
                ),
            ));
        }
        Ok(content)
    }

    /// The JSON blob `descriptor` names, checked against it and parsed.
    fn blob_json<T: DeserializeOwned>(
        &mut self,
        descriptor: &Descriptor,
        what: &'static str,
    ) -> Result<T, LoadError> {
        self.blob(descriptor)?;
        Ok(self.json(&blob_key(&descriptor.digest), what)?.1)
    }

    /// The image manifest an index entry stands for: itself, or from a multi-platform
    /// index the manifest for this host's platform (as `strata pull` picks).
    fn platform_manifest(&mut self, entry: &Descriptor) -> Result<Descriptor, LoadError> {
        if entry.media_type != INDEX_MEDIA_TYPE && entry.media_type != DOCKER_LIST_MEDIA_TYPE {
            return Ok(entry.clone());
        }
        let index: Index = self.blob_json(entry, "image index")?;
        let host = Platform::host();
        let found = index
            .manifests
            .into_iter()
            .find(|m| m.platform.as_ref().is_some_and(|p| host.matches(p)));
        found.ok_or_else(|| {
            self.invalid(
                &blob_key(&entry.digest),
                format!("the image index has no manifest for {host}"),
            )
        })
    }

    /// The compression of a docker-archive layer whose tar must hash to `diff_id`, or
    /// `None` if it does not: a plain tar's digest is its diff_id; a compressed one
    /// (docker 25+) is decompressed and hashed.
    fn layer_compression(
        &self,
        content: &Content,
        diff_id: &Digest,
    ) -> Result<Option<Compression>, LoadError> {
        if content.digest == *diff_id {
            return Ok(Some(Compression::None));
        }
        let path = self.path(content);
        let mut magic = Vec::new();
        File::open(&path)
            .and_then(|f| f.take(4).read_to_end(&mut magic))
            .map_err(io_error(&path))?;
        let compression = Compression::sniff(&magic);
        if compression == Compression::None {
            return Ok(None);
        }
        let mut tar = decompressed(&path, compression)?;
        let (_, actual, _) = self.copy(&content.key, &mut tar, None, io::sink())?;
        Ok((actual == *diff_id).then_some(compression))
    }

    /// Moves a regular entry (a [`Content`] key) into the store's blobs.
    fn commit(&mut self, key: &str) -> Result<(), StoreError> {
        if let Some(Entry::Temp { path, digest, size }) = self.files.get(key) {
            self.store.commit_blob(path, digest)?;
            let entry = Entry::Stored {
                digest: digest.clone(),
                size: *size,
            };
            self.files.insert(key.to_owned(), entry);
        }
        Ok(())
    }

    fn read_error(&self, what: String, source: io::Error) -> LoadError {
        LoadError::Read {
            archive: self.archive.clone(),
            what,
            source,
        }
    }

    fn invalid(&self, entry: &str, reason: String) -> LoadError {
        LoadError::Invalid {
            archive: self.archive.clone(),
            entry: entry.to_owned(),
            reason,
        }
    }

    fn json_error(&self, entry: &str, what: &'static str, source: serde_json::Error) -> LoadError {
        LoadError::Json {
            archive: self.archive.clone(),
            entry: entry.to_owned(),
            what,
            source,
        }
    }

    fn name_error(&self, entry: &str, source: BadName) -> LoadError {
        LoadError::Name {
            archive: self.archive.clone(),
            entry: entry.to_owned(),
            source,
        }
    }
}

impl Drop for Entries<'_> {
    fn drop(&mut self) {
        for entry in self.files.values() {
            if let Entry::Temp { path, .. } = entry {
                let _ = fs::remove_file(path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_docker_config_keeps_its_bytes_unless_oci_forbids_a_null() {
        let docker = br#"{"architecture":"amd64","config":{"Env":["A=1"],"Cmd":null,"Volumes":null,"Tty":false},"os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        assert_eq!(oci_config(docker.to_vec()).unwrap(), docker);
        let nulls = br#"{"architecture":"amd64","author":null,"config":{"Env":null,"Cmd":null},"os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        assert_eq!(
            String::from_utf8(oci_config(nulls.to_vec()).unwrap()).unwrap(),
            r#"{"architecture":"amd64","config":{"Cmd":null},"os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
        );
        let no_config = br#"{"architecture":"amd64","config":null,"os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        assert_eq!(
            String::from_utf8(oci_config(no_config.to_vec()).unwrap()).unwrap(),
            r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
        );
    }

    #[test]
    fn archive_paths_and_oci_names() {
        assert_eq!(clean("./manifest.json"), "manifest.json");
        assert_eq!(clean("a/../../b/layer.tar"), "b/layer.tar");
        assert_eq!(
            named_digest(&blob_key(&Digest::of(b""))),
            Some(Digest::of(b""))
        );
        assert_eq!(named_digest("blobs/sha256/xyz"), None);
        let entry = |pairs: &[(&str, &str)]| Descriptor {
            media_type: MANIFEST_MEDIA_TYPE.into(),
            digest: Digest::of(b""),
            size: 0,
            annotations: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            platform: None,
        };
        let name = |pairs: &[(&str, &str)]| oci_name(&entry(pairs)).unwrap();
        assert_eq!(
            name(&[(REF_NAME, "1.0")]),
            None,
            "a tag alone names nothing"
        );
        assert_eq!(name(&[(REF_NAME, "app:1.0")]), Some("app:1.0".into()));
        assert_eq!(
            name(&[
                (REF_NAME, "1.0"),
                (CONTAINERD_IMAGE_NAME, "docker.io/x/app:1.0")
            ]),
            Some("docker.io/x/app:1.0".into())
        );
        assert_eq!(
            name(&[(REF_NAME, "team/app")]),
            Some("team/app:latest".into())
        );
        assert!(oci_name(&entry(&[(REF_NAME, "Bad:Name")])).is_err());
    }
}
