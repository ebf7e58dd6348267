//! Push: for each blob of an image (layers, then config), `HEAD` to skip what the
//! registry has; a cross-repository mount when this session, an earlier push (see
//! [`super::locations`]) or a hint put the blob in another repository of the same
//! registry; else a chunked upload (`POST`, `PATCH`es of
//! [`RegistryOptions::chunk_size`](super::RegistryOptions::chunk_size) streamed from the
//! blob file, `PUT ?digest=`). A broken `PATCH` asks the upload for its `Range` and goes
//! on from there; when the registry dropped the session, the upload starts again. The
//! manifest goes last, with its own media type, byte for byte as in the store. Of a
//! multi-platform image, the blobs of every platform go first (each once), then each
//! platform's manifest by digest, then the index under the tag.
//!
//! The client's [`Session`](super::session::Session) is shared by every push of one
//! [`Client`]: a blob common to several images is uploaded once and mounted elsewhere.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::digest::Digest;
use crate::image::{Descriptor, Store, INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE};

use super::client::Client;
use super::error::RegistryError;
use super::locations::{self, Locations};
use super::progress::{BlobOutcome, Direction};
use super::reference::Reference;
use super::transport::{percent_encode, Auth, ReqBody, Request};

/// Options of one push.
#[derive(Clone, Debug, Default)]
pub struct PushOptions {
    /// Repositories of the destination registry that may hold the blobs already
    /// (a family's other images, a base image): tried as mount sources.
    pub mount_from: Vec<String>,
}

/// What a push did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// The manifest digest (the same as in the store).
    pub digest: Digest,
    /// Blobs uploaded.
    pub uploaded: usize,
    /// Blobs cross-repository mounted.
    pub mounted: usize,
    /// Blobs the repository already had.
    pub skipped: usize,
    /// Bytes uploaded (counting restarted uploads once).
    pub bytes_uploaded: u64,
}

impl Client {
    /// Pushes the store's image `image` (`NAME[:TAG]`) to `dest`: blobs first, then the
    /// manifest under `dest`'s tag (or digest, which must be the image's). The push goes
    /// to `dest` as written (a short name to docker.io, as docker pushes it): mirrors and
    /// registries.conf's `location` serve pulls only, but a `blocked` name is refused.
    pub fn push(
        &self,
        store: &Store,
        image: &str,
        dest: &Reference,
        options: &PushOptions,
    ) -> Result<Pushed, RegistryError> {
        self.conf.check_push(dest)?;
        let top = store.named(image)?;
        let index = store.index_of(&top.digest)?;
        let images = store.images_of(&top.digest)?;
        let host = dest.api_host();
        let repo = &dest.repository;
        let known = Locations::load(store);
        let mut pushed = Pushed {
            digest: top.digest.clone(),
            uploaded: 0,
            mounted: 0,
            skipped: 0,
            bytes_uploaded: 0,
        };
        let mut seen = std::collections::HashSet::new();
        let blobs: Vec<&Descriptor> = images
            .iter()
            .flat_map(|i| i.manifest.layers.iter().chain([&i.manifest.config]))
            .filter(|d| seen.insert(d.digest.clone()))
            .collect();
        for blob in &blobs {
            let hints = known.repos(host, &blob.digest);
            let (outcome, bytes) = self.push_blob(store, dest, blob, hints, options)?;
            match outcome {
                BlobOutcome::Transferred => pushed.uploaded += 1,
                BlobOutcome::Mounted => pushed.mounted += 1,
                BlobOutcome::Skipped => pushed.skipped += 1,
            }
            pushed.bytes_uploaded += bytes;
            self.transport.progress.blob_finished(&blob.digest, outcome);
        }
        let reference = match (&dest.tag, &dest.digest) {
            (Some(tag), _) => tag.clone(),
            (None, Some(digest)) if *digest == top.digest => digest.to_string(),
            (None, Some(digest)) => {
                return Err(RegistryError::BadReference {
                    reference: dest.to_string(),
                    reason: format!("{image} has digest {}, not {digest}", top.digest),
                })
            }
            (None, None) => "latest".into(),
        };
        let manifest_type = |image: &crate::image::Image| {
            image
                .manifest
                .media_type
                .clone()
                .unwrap_or_else(|| MANIFEST_MEDIA_TYPE.into())
        };
        let mut manifests: Vec<(String, String, &Digest)> = Vec::new();
        match &index {
            // Each platform's manifest by digest, the index last under the tag: the tag
            // never names an index whose manifests the registry lacks.
            Some(index) => {
                for image in &images {
                    manifests.push((
                        image.digest.to_string(),
                        manifest_type(image),
                        &image.digest,
                    ));
                }
                let media_type = index
                    .media_type
                    .clone()
                    .unwrap_or_else(|| INDEX_MEDIA_TYPE.into());
                manifests.push((reference, media_type, &top.digest));
            }
            None => manifests.push((reference, manifest_type(&images[0]), &top.digest)),
        }
        for (reference, media_type, digest) in manifests {
            let bytes = store.read_blob(digest)?;
            let target = format!("/v2/{repo}/manifests/{reference}");
            let response = self.transport.send(
                Request::new("PUT", host, target.clone(), push_auth(repo))
                    .header("content-type", media_type)
                    .body(ReqBody::Bytes(&bytes)),
            )?;
            if !response.status().is_success() {
                return Err(self.transport.status_error("PUT", host, &target, response));
            }
        }
        locations::remember(store, host, repo, &blobs)?;
        Ok(pushed)
    }

    /// Pushes several images (`(NAME:TAG, destination)`), at most `parallel` at a time,
    /// sharing this client's session: a blob common to several images is uploaded once
    /// and mounted into the other repositories. Results come in the order of `jobs`;
    /// errors are [`RegistryError::Image`] naming their image.
    pub fn push_many(
        &self,
        store: &Store,
        jobs: &[(String, Reference)],
        options: &PushOptions,
        parallel: usize,
    ) -> Vec<Result<Pushed, RegistryError>> {
        let next = AtomicUsize::new(0);
        let results: Vec<Mutex<Option<Result<Pushed, RegistryError>>>> =
            jobs.iter().map(|_| Mutex::new(None)).collect();
        std::thread::scope(|scope| {
            for _ in 0..parallel.clamp(1, jobs.len().max(1)) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((image, dest)) = jobs.get(i) else {
                        return;
                    };
                    let result =
                        self.push(store, image, dest, options)
                            .map_err(|e| RegistryError::Image {
                                image: image.clone(),
                                source: Box::new(e),
                            });
                    *results[i].lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
                });
            }
        });
        results
            .into_iter()
            .map(|slot| {
                slot.into_inner()
                    .unwrap_or_else(PoisonError::into_inner)
                    .expect("every job ran")
            })
            .collect()
    }

    /// Makes `blob` present in `dest`'s repository; returns how, and the bytes uploaded.
    /// Mount sources, in order: repositories this session put it in, `hints` (where
    /// earlier pushes put it), then `options.mount_from`.
    fn push_blob(
        &self,
        store: &Store,
        dest: &Reference,
        blob: &Descriptor,
        hints: &[String],
        options: &PushOptions,
    ) -> Result<(BlobOutcome, u64), RegistryError> {
        let host = dest.api_host();
        let repo = &dest.repository;
        let (claim, mut sources) = self.session.claim(host, &blob.digest);
        if sources.iter().any(|r| r == repo) {
            return Ok((BlobOutcome::Skipped, 0));
        }
        if self.blob_exists(host, repo, &blob.digest)? {
            claim.done(repo);
            return Ok((BlobOutcome::Skipped, 0));
        }
        for from in hints.iter().chain(&options.mount_from) {
            if !sources.contains(from) {
                sources.push(from.clone());
            }
        }
        let mut upload_location = None;
        for from in sources.iter().filter(|r| *r != repo) {
            match self.mount(host, repo, from, &blob.digest)? {
                Mount::Mounted => {
                    claim.done(repo);
                    return Ok((BlobOutcome::Mounted, 0));
                }
                Mount::Upload(location) => upload_location = Some(location),
            }
        }
        let path = store.blob_path(&blob.digest);
        self.transport
            .progress
            .blob_started(repo, &blob.digest, blob.size, Direction::Upload);
        self.upload(host, repo, blob, &path, upload_location)?;
        claim.done(repo);
        Ok((BlobOutcome::Transferred, blob.size))
    }

    fn blob_exists(&self, host: &str, repo: &str, digest: &Digest) -> Result<bool, RegistryError> {
        let target = format!("/v2/{repo}/blobs/{digest}");
        let response =
            self.transport
                .send(Request::new("HEAD", host, target.clone(), push_auth(repo)))?;
        match response.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(self.transport.status_error("HEAD", host, &target, response)),
        }
    }

    /// `POST ?mount=&from=`: mounted (201), or an upload session to use instead (202).
    fn mount(
        &self,
        host: &str,
        repo: &str,
        from: &str,
        digest: &Digest,
    ) -> Result<Mount, RegistryError> {
        let target = format!(
            "/v2/{repo}/blobs/uploads/?mount={}&from={}",
            percent_encode(digest.as_str()),
            percent_encode(from)
        );
        let scope = format!("repository:{repo}:pull,push repository:{from}:pull");
        let response = self.transport.send(
            Request::new("POST", host, target.clone(), Auth::Registry(scope))
                .body(ReqBody::Bytes(&[])),
        )?;
        match response.status().as_u16() {
            201 => Ok(Mount::Mounted),
            202 => Ok(Mount::Upload(self.location(host, &target, &response)?)),
            _ => Err(self.transport.status_error("POST", host, &target, response)),
        }
    }

    /// `POST /v2/<repo>/blobs/uploads/`: a new upload session's location.
    fn start_upload(&self, host: &str, repo: &str) -> Result<String, RegistryError> {
        let target = format!("/v2/{repo}/blobs/uploads/");
        let response = self.transport.send(
            Request::new("POST", host, target.clone(), push_auth(repo)).body(ReqBody::Bytes(&[])),
        )?;
        if response.status().as_u16() != 202 {
            return Err(self.transport.status_error("POST", host, &target, response));
        }
        self.location(host, &target, &response)
    }

    /// Uploads the file `path` as `blob` in chunks, resuming or restarting after
    /// failures, until the registry has it or the retries are spent.
    fn upload(
        &self,
        host: &str,
        repo: &str,
        blob: &Descriptor,
        path: &std::path::Path,
        session: Option<String>,
    ) -> Result<(), RegistryError> {
        let chunk = self.transport.options().chunk_size.max(1);
        let mut location = match session {
            Some(location) => location,
            None => self.start_upload(host, repo)?,
        };
        let mut offset = 0u64;
        let mut failures = 0u32;
        loop {
            let failure = if offset >= blob.size {
                let separator = if location.contains('?') { '&' } else { '?' };
                let target = format!(
                    "{location}{separator}digest={}",
                    percent_encode(blob.digest.as_str())
                );
                let response = self.transport.send(
                    Request::new("PUT", host, target.clone(), push_auth(repo))
                        .body(ReqBody::Bytes(&[])),
                )?;
                if response.status().as_u16() == 201 {
                    return Ok(());
                }
                self.transport.status_error("PUT", host, &target, response)
            } else {
                let len = chunk.min(blob.size - offset);
                let mut request = Request::new("PATCH", host, location.clone(), push_auth(repo))
                    .header("content-range", format!("{offset}-{}", offset + len - 1))
                    .body(ReqBody::File {
                        path,
                        offset,
                        len,
                        digest: &blob.digest,
                    });
                request.retry = false;
                match self.transport.send(request) {
                    Ok(response) if response.status().as_u16() == 202 => {
                        location = self.location(host, &location, &response)?;
                        offset = range_end(&response).unwrap_or(offset + len);
                        failures = 0;
                        continue;
                    }
                    Ok(response) => self
                        .transport
                        .status_error("PATCH", host, &location, response),
                    Err(e) => e,
                }
            };
            failures += 1;
            if failures > self.transport.options().retries {
                return Err(failure);
            }
            let delay = self.transport.backoff(failures, None);
            self.transport.progress.retrying(
                &format!("upload of {} to {repo}", blob.digest),
                failures,
                delay,
            );
            std::thread::sleep(delay);
            match self.upload_status(host, repo, &location) {
                Some((resumed_location, resumed_offset)) => {
                    location = resumed_location;
                    offset = resumed_offset;
                }
                None => {
                    location = self.start_upload(host, repo)?;
                    offset = 0;
                }
            }
        }
    }

    /// `GET` of an upload session: its location and how many bytes it holds, or `None`
    /// when the registry no longer has it (or will not say).
    fn upload_status(&self, host: &str, repo: &str, location: &str) -> Option<(String, u64)> {
        let response = self
            .transport
            .send(Request::new(
                "GET",
                host,
                location.to_owned(),
                push_auth(repo),
            ))
            .ok()?;
        if response.status().as_u16() != 204 {
            return None;
        }
        let location = self.location(host, location, &response).ok()?;
        Some((location, range_end(&response).unwrap_or(0)))
    }

    /// The `Location` of an upload answer (relative ones stay relative: they resolve
    /// against the registry's base URL).
    fn location(
        &self,
        host: &str,
        target: &str,
        response: &ureq::http::Response<ureq::Body>,
    ) -> Result<String, RegistryError> {
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .filter(|l| !l.is_empty());
        match location {
            Some(l)
                if l.starts_with('/') || l.starts_with("http://") || l.starts_with("https://") =>
            {
                Ok(l.to_owned())
            }
            Some(l) => Err(RegistryError::Protocol {
                url: format!("{}{target}", self.transport.base(host)?),
                reason: format!("unsupported upload Location {l:?}"),
            }),
            None => Err(RegistryError::Protocol {
                url: format!("{}{target}", self.transport.base(host)?),
                reason: "upload answer without Location".into(),
            }),
        }
    }
}

/// What a mount request gave.
enum Mount {
    Mounted,
    Upload(String),
}

/// The push scope of `repo`.
fn push_auth(repo: &str) -> Auth {
    Auth::Registry(format!("repository:{repo}:pull,push"))
}

/// The byte count an upload holds, from its `Range: 0-<last>` header. The registry sends
/// `0-0` for an empty upload as well as for one byte, and `0--1` in some versions; both
/// read as "nothing yet" except a real `0-N` with N >= 1.
fn range_end(response: &ureq::http::Response<ureq::Body>) -> Option<u64> {
    let range = response.headers().get("range")?.to_str().ok()?;
    let (_, last) = range.trim().trim_start_matches("bytes=").split_once('-')?;
    match last.parse::<u64>().ok()? {
        0 => Some(0),
        last => Some(last + 1),
    }
}
