//! Pull: manifest (and index, resolved to one platform), then config and layers streamed
//! into the store's temp files while hashed, verified, and committed.
//!
//! The store is an OCI image layout that skopeo and umoci read, and they read only OCI
//! manifests. So a Docker schema-2 manifest is rewritten with the OCI media types for the
//! same blobs, as `skopeo copy docker://… oci:…` does: the blobs keep their digests, the
//! manifest gets a new one. The image is filed under the logical name it was pulled by
//! ([`Reference::store_name`]: `docker.io/library/debian:bookworm` for `debian:bookworm`),
//! whichever mirror or location served it; a digest reference is filed under that
//! digest, so a `FROM host/repo@sha256:…` finds it again without asking the registry.
//!
//! The endpoints are tried in registries.conf's order ([`RegistriesConf::pull_sources`],
//! each unqualified-search registry in turn for a short name) until one serves the
//! manifest; the blobs then come from that one. [`stored`] looks a name up in the store
//! in the order a build uses.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use crate::digest::{Digest, HashingWriter};
use crate::image::{
    Descriptor, Image, Manifest, Store, StoreError, CONFIG_MEDIA_TYPE, INDEX_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
};

use crate::platform::Platform;

use super::client::Client;
use super::conf::{PullSource, RegistriesConf};
use super::error::{Failure, RegistryError};
use super::options::RegistryOptions;
use super::progress::{BlobOutcome, Direction};
use super::reference::{Reference, DOCKER_HUB};
use super::transport::{is_body_timeout, Auth, Request};

/// Docker schema-2 image manifest.
pub const DOCKER_MANIFEST_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker schema-2 manifest list (the multi-platform index).
pub const DOCKER_LIST_MEDIA_TYPE: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema-2 blob media types and their OCI equivalents.
const DOCKER_TO_OCI: [(&str, &str); 4] = [
    (
        "application/vnd.docker.container.image.v1+json",
        CONFIG_MEDIA_TYPE,
    ),
    (
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.oci.image.layer.v1.tar+gzip",
    ),
    (
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    ),
    (
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.oci.image.layer.v1.tar",
    ),
];

/// A Docker schema-2 manifest as an OCI manifest of the same blobs: only media types
/// change (the Docker image config is a valid OCI image config).
fn to_oci(mut manifest: Manifest) -> Manifest {
    manifest.media_type = Some(MANIFEST_MEDIA_TYPE.into());
    for blob in std::iter::once(&mut manifest.config).chain(&mut manifest.layers) {
        if let Some((_, oci)) = DOCKER_TO_OCI.iter().find(|(d, _)| *d == blob.media_type) {
            blob.media_type = (*oci).into();
        }
    }
    manifest
}

/// The largest manifest or index accepted (the distribution spec's recommended limit).
const MAX_MANIFEST: u64 = 4 << 20;

/// What a pull did.
#[derive(Clone, Debug)]
pub struct Pulled {
    /// Digest of the image manifest in the store (an OCI manifest).
    pub digest: Digest,
    /// Digest of the manifest the registry served (for an index: of the chosen
    /// platform's manifest); differs from `digest` when a Docker manifest was converted.
    pub registry_digest: Digest,
    /// Its descriptor in the store.
    pub descriptor: Descriptor,
    /// The name it is filed under in the store ([`Reference::store_name`] of the logical
    /// name: for a short name, of the search registry that had it).
    pub name: String,
    /// The endpoint that served it (a mirror, a rewritten location, or the name itself).
    pub source: PullSource,
    /// Blobs downloaded.
    pub downloaded: usize,
    /// Blobs the store already had.
    pub skipped: usize,
}

impl Client {
    /// Pulls `reference` into `store` and tags it there under
    /// [`Reference::store_name`]. From an index, takes the manifest for `platform`
    /// (default: this host's). Blobs already in the store are not downloaded. Every blob
    /// is verified (digest and size) before any enters the store: on error the store is
    /// left as it was.
    pub fn pull(
        &self,
        store: &Store,
        reference: &Reference,
        platform: Option<&Platform>,
    ) -> Result<Pulled, RegistryError> {
        let (logical, source, (bytes, media_type)) = self.first_source(reference, |physical| {
            self.platform_manifest(physical, platform)
        })?;
        let physical = &source.reference;
        let manifest = parse_manifest(physical, &physical.manifest_ref(), &bytes)?;
        // Every blob is staged in the store's temp area and verified; only when all are
        // does any enter the store, so a failed pull leaves the store as it was.
        let mut staged = Staged::default();
        self.stage_blobs(store, physical, &manifest, &mut staged)?;
        staged.commit(store)?;
        let registry_digest = Digest::of(&bytes);
        let descriptor = put_manifest(store, manifest, &bytes, &media_type)?;
        let name = logical.store_name();
        store.tag(&name, &descriptor)?;
        Ok(Pulled {
            digest: descriptor.digest.clone(),
            registry_digest,
            descriptor,
            name,
            source,
            downloaded: staged.downloaded,
            skipped: staged.skipped,
        })
    }

    /// Pulls several platforms of the multi-platform image `reference` (each of
    /// `platforms`, or with `None` every platform its index lists) and tags an index of
    /// them under [`Reference::store_name`]: the registry's own index, byte for byte, when
    /// every platform of it came and none needed converting, else one of the images
    /// pulled. A single-platform image is pulled as [`Client::pull`] does.
    pub fn pull_platforms(
        &self,
        store: &Store,
        reference: &Reference,
        platforms: Option<&[Platform]>,
    ) -> Result<Pulled, RegistryError> {
        let (logical, source, (bytes, media_type)) = self.first_source(reference, |physical| {
            self.get_manifest(physical, &physical.manifest_ref(), physical.digest.as_ref())
        })?;
        if media_type != INDEX_MEDIA_TYPE && media_type != DOCKER_LIST_MEDIA_TYPE {
            return self.pull(store, reference, platforms.and_then(<[Platform]>::first));
        }
        let physical = &source.reference;
        let index: crate::image::Index =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::Protocol {
                url: physical.to_string(),
                reason: format!("bad index: {e}"),
            })?;
        // The images of the index (not attestations, whose platform is unknown/unknown).
        let images: Vec<(&Descriptor, Platform)> = index
            .manifests
            .iter()
            .filter_map(|d| Some((d, Platform::of_index_entry(d.platform.as_ref()?)?)))
            .collect();
        let chosen: Vec<(&Descriptor, Platform)> = match platforms {
            None => images.clone(),
            Some(wanted) => wanted
                .iter()
                .map(|p| {
                    let digest = choose_platform(physical, &bytes, p)?;
                    Ok((
                        index
                            .manifests
                            .iter()
                            .find(|d| d.digest == digest)
                            .expect("chosen from the index"),
                        p.clone(),
                    ))
                })
                .collect::<Result<_, RegistryError>>()?,
        };
        let mut staged = Staged::default();
        let mut fetched = Vec::new();
        for (entry, platform) in &chosen {
            let (bytes, media_type) =
                self.get_manifest(physical, entry.digest.as_str(), Some(&entry.digest))?;
            if media_type != MANIFEST_MEDIA_TYPE && media_type != DOCKER_MANIFEST_MEDIA_TYPE {
                return Err(RegistryError::UnsupportedManifest {
                    reference: format!("{physical}@{}", entry.digest),
                    media_type,
                });
            }
            let manifest = parse_manifest(physical, entry.digest.as_str(), &bytes)?;
            self.stage_blobs(store, physical, &manifest, &mut staged)?;
            fetched.push((manifest, bytes, media_type, platform.clone()));
        }
        staged.commit(store)?;
        let mut entries = Vec::new();
        let mut converted = false;
        for (manifest, bytes, media_type, platform) in fetched {
            let descriptor = put_manifest(store, manifest, &bytes, &media_type)?;
            converted |= descriptor.digest != Digest::of(&bytes);
            entries.push((descriptor, platform));
        }
        let whole = chosen.len() == index.manifests.len() && !converted;
        let descriptor = if whole && media_type == INDEX_MEDIA_TYPE {
            store.put_blob(INDEX_MEDIA_TYPE, &bytes)?
        } else {
            store.put_index(&entries)?
        };
        let name = logical.store_name();
        store.tag(&name, &descriptor)?;
        Ok(Pulled {
            digest: descriptor.digest.clone(),
            registry_digest: Digest::of(&bytes),
            descriptor,
            name,
            source,
            downloaded: staged.downloaded,
            skipped: staged.skipped,
        })
    }

    /// Downloads the config and layers of `manifest` that the store lacks into
    /// `staged`, each verified; nothing enters the store yet.
    fn stage_blobs(
        &self,
        store: &Store,
        physical: &Reference,
        manifest: &Manifest,
        staged: &mut Staged,
    ) -> Result<(), RegistryError> {
        let blobs: Vec<_> = std::iter::once(&manifest.config)
            .chain(&manifest.layers)
            .collect();
        for (i, blob) in blobs.iter().enumerate() {
            let have = store.blob_path(&blob.digest).is_file()
                || staged.files.iter().any(|(_, d)| *d == blob.digest);
            if have {
                staged.skipped += 1;
                self.transport
                    .progress
                    .blob_finished(&blob.digest, BlobOutcome::Skipped);
                continue;
            }
            let tmp =
                self.download_blob(store, physical, blob)
                    .map_err(|e| RegistryError::Fetch {
                        what: if i == 0 {
                            format!("config {}", blob.digest)
                        } else {
                            format!("layer {i} of {} ({})", blobs.len() - 1, blob.digest)
                        },
                        reference: physical.to_string(),
                        source: Box::new(e),
                    })?;
            staged.files.push((tmp, blob.digest.clone()));
            staged.downloaded += 1;
        }
        Ok(())
    }

    /// The digest of the image manifest `reference` names for `platform` (default: this
    /// host's) as the registry (or its first mirror that has it) serves it, without
    /// downloading the image: what a pull would get now, for comparing with a pin
    /// (`strata outdated`).
    pub fn resolve(
        &self,
        reference: &Reference,
        platform: Option<&Platform>,
    ) -> Result<Digest, RegistryError> {
        let (_, _, (bytes, _)) = self.first_source(reference, |physical| {
            self.platform_manifest(physical, platform)
        })?;
        Ok(Digest::of(&bytes))
    }

    /// Runs `attempt` on each source of each candidate name of `reference`, in order,
    /// until one works: then the candidate (the logical name), the source and the value.
    /// A 404 or an unreachable mirror is only a reason to try the next. When all fail:
    /// a single attempt's own error (a qualified name outside docker.io, no mirrors), else
    /// [`RegistryError::NotPulled`] naming each attempt, with a hint on mirrors.
    fn first_source<T>(
        &self,
        reference: &Reference,
        mut attempt: impl FnMut(&Reference) -> Result<T, RegistryError>,
    ) -> Result<(Reference, PullSource, T), RegistryError> {
        let candidates = self.conf.candidates(reference);
        if candidates.is_empty() {
            return Err(RegistryError::NoSearchRegistries {
                reference: reference.written(),
                files: files_list(&self.conf),
            });
        }
        let mut failures = Vec::new();
        for candidate in candidates {
            let sources = match self.conf.pull_sources(&candidate) {
                Ok(sources) => sources,
                Err(error) => {
                    failures.push(Failure {
                        tried: candidate.to_string(),
                        role: String::new(),
                        error,
                    });
                    continue;
                }
            };
            for source in sources {
                match attempt(&source.reference) {
                    Ok(value) => return Ok((candidate, source, value)),
                    Err(error) => failures.push(Failure {
                        tried: source.reference.to_string(),
                        role: role(&candidate, &source),
                        error,
                    }),
                }
            }
        }
        if failures.len() == 1 && reference.registry != DOCKER_HUB {
            return Err(failures.remove(0).error);
        }
        Err(RegistryError::NotPulled {
            reference: reference.written(),
            failures,
            hint: self.conf.mirror_hint(&reference.registry),
        })
    }

    /// The image manifest `reference` names (from an index: the one for `platform`,
    /// default this host's), and its media type, an OCI or Docker schema-2 manifest.
    fn platform_manifest(
        &self,
        reference: &Reference,
        platform: Option<&Platform>,
    ) -> Result<(Vec<u8>, String), RegistryError> {
        let (mut bytes, mut media_type) = self.get_manifest(
            reference,
            &reference.manifest_ref(),
            reference.digest.as_ref(),
        )?;
        if media_type == INDEX_MEDIA_TYPE || media_type == DOCKER_LIST_MEDIA_TYPE {
            let wanted = platform.cloned().unwrap_or_else(Platform::host);
            let chosen = choose_platform(reference, &bytes, &wanted)?;
            (bytes, media_type) = self.get_manifest(reference, chosen.as_str(), Some(&chosen))?;
        }
        if media_type != MANIFEST_MEDIA_TYPE && media_type != DOCKER_MANIFEST_MEDIA_TYPE {
            return Err(RegistryError::UnsupportedManifest {
                reference: reference.to_string(),
                media_type,
            });
        }
        Ok((bytes, media_type))
    }

    /// `GET /v2/<repo>/manifests/<reference>`: the bytes and their media type, checked
    /// against `expected` when given.
    fn get_manifest(
        &self,
        reference: &Reference,
        manifest_ref: &str,
        expected: Option<&Digest>,
    ) -> Result<(Vec<u8>, String), RegistryError> {
        let host = reference.api_host();
        let target = format!("/v2/{}/manifests/{manifest_ref}", reference.repository);
        let accept = [
            MANIFEST_MEDIA_TYPE,
            INDEX_MEDIA_TYPE,
            DOCKER_MANIFEST_MEDIA_TYPE,
            DOCKER_LIST_MEDIA_TYPE,
        ]
        .join(", ");
        let mut response = self.transport.send(
            Request::new("GET", host, target.clone(), pull_auth(reference))
                .header("accept", accept),
        )?;
        if !response.status().is_success() {
            return Err(self.transport.status_error("GET", host, &target, response));
        }
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_owned());
        let url = self
            .transport
            .base(host)
            .map_or_else(|_| target.clone(), |base| format!("{base}{target}"));
        let protocol = |reason: String| RegistryError::Protocol {
            url: url.clone(),
            reason,
        };
        // A giant manifest is refused unread (containerd's limit), whatever it claims.
        let length = content_length(&response);
        if let Some(length) = length.filter(|&l| l > MAX_MANIFEST) {
            return Err(protocol(format!(
                "the manifest has {length} bytes, over the {} MiB limit",
                MAX_MANIFEST >> 20
            )));
        }
        let sent_digest = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut self.transport.body(&mut response, MAX_MANIFEST + 1),
            &mut bytes,
        )
        .map_err(|e| protocol(format!("reading the manifest: {e}")))?;
        if bytes.len() as u64 > MAX_MANIFEST {
            return Err(protocol(format!(
                "the manifest is over the {} MiB limit",
                MAX_MANIFEST >> 20
            )));
        }
        if let Some(length) = length.filter(|&l| l != bytes.len() as u64) {
            return Err(protocol(format!(
                "Content-Length is {length} bytes, but {} came",
                bytes.len()
            )));
        }
        let actual = Digest::of(&bytes);
        if let Some(expected) = expected {
            if actual != *expected {
                return Err(RegistryError::DigestMismatch {
                    url,
                    expected: expected.clone(),
                    actual,
                    size: bytes.len() as u64,
                });
            }
        }
        // By tag, the registry's own digest is the only check there is (a digest of
        // another algorithm than sha256 cannot be checked, and is not).
        if let Some(sent) = sent_digest {
            if let Ok(sent) = sent.trim().parse::<Digest>() {
                if sent != actual {
                    return Err(protocol(format!(
                        "Docker-Content-Digest says {sent}, but the {} bytes received hash to {actual}",
                        bytes.len()
                    )));
                }
            } else if sent.trim().starts_with("sha256:") {
                return Err(protocol(format!(
                    "Docker-Content-Digest {:?} is not a digest",
                    crate::layer::shown(&sent)
                )));
            }
        }
        let json: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::Protocol {
                url: target.clone(),
                reason: format!("manifest is not JSON: {e}"),
            })?;
        let media_type = json
            .get("mediaType")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .or(content_type.filter(|t| t != "application/json"))
            .unwrap_or_else(|| {
                if json.get("manifests").is_some() {
                    INDEX_MEDIA_TYPE.into()
                } else {
                    MANIFEST_MEDIA_TYPE.into()
                }
            });
        Ok((bytes, media_type))
    }

    /// Streams one blob into a store temp file while hashing it and checks digest and
    /// size; returns the temp file, for the caller to commit. A download broken in the
    /// middle starts again, up to the retry count; one that timed out, once.
    fn download_blob(
        &self,
        store: &Store,
        reference: &Reference,
        blob: &Descriptor,
    ) -> Result<PathBuf, RegistryError> {
        let host = reference.api_host();
        let target = format!("/v2/{}/blobs/{}", reference.repository, blob.digest);
        self.transport.progress.blob_started(
            &reference.repository,
            &blob.digest,
            blob.size,
            Direction::Download,
        );
        let (mut attempt, mut timeouts) = (0, 0);
        loop {
            let tmp = store.temp_path();
            match self.download_to(host, reference, &target, blob, &tmp) {
                Ok(()) => {
                    self.transport
                        .progress
                        .blob_finished(&blob.digest, BlobOutcome::Transferred);
                    return Ok(tmp);
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    let retry = match &e {
                        DownloadError::Broken(e) if is_body_timeout(e) => {
                            timeouts += 1;
                            timeouts <= 1
                        }
                        DownloadError::Broken(_) => true,
                        DownloadError::Registry(_) => false,
                    };
                    if !retry || attempt >= self.transport.options().retries {
                        let url = format!("{}{target}", self.transport.base(host)?);
                        return Err(e.into_registry_error(url, attempt + 1));
                    }
                    attempt += 1;
                    let delay = self.transport.backoff(attempt, None);
                    self.transport
                        .progress
                        .retrying(&format!("GET {target}"), attempt, delay);
                    std::thread::sleep(delay);
                }
            }
        }
    }

    fn download_to(
        &self,
        host: &str,
        reference: &Reference,
        target: &str,
        blob: &Descriptor,
        tmp: &std::path::Path,
    ) -> Result<(), DownloadError> {
        let mut response = self
            .transport
            .send(Request::new(
                "GET",
                host,
                target.to_owned(),
                pull_auth(reference),
            ))
            .map_err(DownloadError::Registry)?;
        if !response.status().is_success() {
            return Err(DownloadError::Registry(
                self.transport.status_error("GET", host, target, response),
            ));
        }
        let url = || {
            self.transport
                .base(host)
                .map_or_else(|_| target.to_owned(), |base| format!("{base}{target}"))
        };
        if let Some(length) = content_length(&response) {
            if length != blob.size {
                return Err(DownloadError::Registry(RegistryError::Protocol {
                    url: url(),
                    reason: format!(
                        "Content-Length is {length} bytes, the manifest says the blob has {}",
                        blob.size
                    ),
                }));
            }
        }
        let io = |source| {
            DownloadError::Registry(RegistryError::Io {
                path: tmp.to_owned(),
                source,
            })
        };
        let file = File::create_new(tmp).map_err(io)?;
        let mut writer = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
        let mut body = self
            .transport
            .body(&mut response, blob.size.saturating_add(1));
        let mut buf = vec![0; 1 << 16];
        let mut done = 0u64;
        loop {
            let n = match std::io::Read::read(&mut body, &mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(DownloadError::Broken(e)),
            };
            writer.write_all(&buf[..n]).map_err(io)?;
            done += n as u64;
            self.transport.progress.blob_progress(&blob.digest, done);
        }
        let (buffered, actual, size) = writer.finish();
        buffered
            .into_inner()
            .map_err(|e| io(e.into_error()))?
            .sync_all()
            .map_err(io)?;
        if actual != blob.digest || size != blob.size {
            return Err(DownloadError::Registry(RegistryError::DigestMismatch {
                url: url(),
                expected: blob.digest.clone(),
                actual,
                size,
            }));
        }
        Ok(())
    }
}

/// Temp files of a pull not yet committed, removed if the pull fails (the store's
/// temp area would reclaim them anyway, at the latest when the process ends).
#[derive(Default)]
struct Staged {
    /// The temp files and the digests they were verified to have.
    files: Vec<(PathBuf, Digest)>,
    /// Blobs downloaded.
    downloaded: usize,
    /// Blobs the store (or the stage) already had.
    skipped: usize,
}

impl Staged {
    /// Moves every staged blob into the store.
    fn commit(&mut self, store: &Store) -> Result<(), RegistryError> {
        for (tmp, digest) in std::mem::take(&mut self.files) {
            store.commit_blob(&tmp, &digest)?;
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        for (tmp, _) in &self.files {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// The image manifest `bytes` that `physical` served for `manifest_ref`.
fn parse_manifest(
    physical: &Reference,
    manifest_ref: &str,
    bytes: &[u8],
) -> Result<Manifest, RegistryError> {
    serde_json::from_slice(bytes).map_err(|e| RegistryError::Protocol {
        url: format!(
            "{}/v2/{}/manifests/{manifest_ref}",
            physical.api_host(),
            physical.repository
        ),
        reason: format!("bad manifest: {e}"),
    })
}

/// Stores a fetched image manifest (its blobs in the store already): as served, or a
/// Docker schema-2 one as the OCI manifest of the same blobs.
fn put_manifest(
    store: &Store,
    manifest: Manifest,
    bytes: &[u8],
    media_type: &str,
) -> Result<Descriptor, RegistryError> {
    Ok(if media_type == DOCKER_MANIFEST_MEDIA_TYPE {
        let converted = serde_json::to_vec(&to_oci(manifest)).expect("manifest serialises");
        store.put_blob(MANIFEST_MEDIA_TYPE, &converted)?
    } else {
        store.put_blob(media_type, bytes)?
    })
}

/// The `Content-Length` of `response`, if it has one.
fn content_length(response: &ureq::http::Response<ureq::Body>) -> Option<u64> {
    response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// A download failure: `Broken` ones (the connection died or stalled in the body) are
/// retried.
enum DownloadError {
    Broken(std::io::Error),
    Registry(RegistryError),
}

impl DownloadError {
    fn into_registry_error(self, url: String, attempts: u32) -> RegistryError {
        match self {
            DownloadError::Broken(e) => RegistryError::Transport {
                method: "GET".into(),
                url,
                message: match (is_body_timeout(&e), attempts) {
                    (true, 1) => format!("download stalled: {e}"),
                    (true, n) => format!("download stalled: {e} (after {n} attempts)"),
                    (false, 1) => format!("download broken: {e}"),
                    (false, n) => format!("download broken: {e} (after {n} attempts)"),
                },
            },
            DownloadError::Registry(e) => e,
        }
    }
}

/// What `source` is to the name `logical`, for the list of failed attempts.
fn role(logical: &Reference, source: &PullSource) -> String {
    if source.mirror {
        format!("mirror of {}", logical.registry)
    } else if source.reference.registry != logical.registry {
        format!("location of {}", logical.registry)
    } else {
        String::new()
    }
}

/// The registries.conf files of `conf`, for messages.
fn files_list(conf: &RegistriesConf) -> String {
    conf.files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The image for `platform` that `name` (as a Dockerfile or a command line writes it) means in `store`, in
/// the order a build looks: the tag as written (a locally built `base:1` wins), then the
/// names a pull files it under (`docker.io/library/base:1`; for a short name, each
/// unqualified-search registry's, so registries.conf is read only then). `None`: not in
/// the store (or not a name at all).
pub fn stored(
    store: &Store,
    name: &str,
    platform: &Platform,
    options: &RegistryOptions,
) -> Result<Option<Image>, RegistryError> {
    let found = |name: &str| match store.image_for(name, Some(platform)) {
        Ok(image) => Ok(Some(image)),
        Err(StoreError::UnknownImage(_)) => Ok(None),
        Err(e) => Err(e),
    };
    let reference = Reference::parse(name).ok();
    match found(name) {
        Ok(Some(image)) => return Ok(Some(image)),
        Ok(None) => {}
        // A name that says which registry holds it is pulled for the platform; a local
        // tag for another platform is what the build gets, which it must refuse.
        Err(StoreError::WrongPlatform { .. })
            if reference.as_ref().is_some_and(|r| r.short.is_none()) => {}
        Err(e) => return Err(RegistryError::Store(e)),
    }
    let Some(reference) = reference else {
        return Ok(None);
    };
    let candidates = if reference.short.is_some() {
        RegistriesConf::load(&options.registries_conf, &options.docker_mirrors)?
            .candidates(&reference)
    } else {
        vec![reference]
    };
    for candidate in candidates {
        // A pulled image of another platform: the pull for this one replaces it.
        match found(&candidate.store_name()) {
            Ok(Some(image)) => return Ok(Some(image)),
            Ok(None) | Err(StoreError::WrongPlatform { .. }) => {}
            Err(e) => return Err(RegistryError::Store(e)),
        }
    }
    Ok(None)
}

/// The pull scope of `reference`'s repository.
fn pull_auth(reference: &Reference) -> Auth {
    Auth::Registry(format!("repository:{}:pull", reference.repository))
}

/// The digest of the manifest for `wanted` in the index `bytes`.
fn choose_platform(
    reference: &Reference,
    bytes: &[u8],
    wanted: &Platform,
) -> Result<Digest, RegistryError> {
    let index: crate::image::Index =
        serde_json::from_slice(bytes).map_err(|e| RegistryError::Protocol {
            url: reference.to_string(),
            reason: format!("bad index: {e}"),
        })?;
    let found = index
        .manifests
        .iter()
        .find(|m| m.platform.as_ref().is_some_and(|p| wanted.matches(p)));
    match found {
        Some(descriptor) => Ok(descriptor.digest.clone()),
        None => Err(RegistryError::NoPlatform {
            reference: reference.to_string(),
            platform: wanted.to_string(),
            available: index
                .manifests
                .iter()
                .filter_map(|m| m.platform.as_ref())
                .map(|p| {
                    let field = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or("?");
                    match p.get("variant").and_then(|v| v.as_str()) {
                        Some(v) => format!("{}/{}/{v}", field("os"), field("architecture")),
                        None => format!("{}/{}", field("os"), field("architecture")),
                    }
                })
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}
