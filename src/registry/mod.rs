//! The distribution client: pull images from and push images to any OCI
//! distribution-spec registry, with the credentials users already have.
//!
//! [`Client`] is the one entry point: cheap to clone, shared by threads. It owns the HTTP
//! agent (TLS verified by default, plain HTTP only for loopback hosts or when
//! [`RegistryOptions::insecure`] says so), the per-host auth state (challenge, bearer
//! tokens per scope), and the session's record of pushed blobs, so that a family pushed
//! with [`Client::push_many`] uploads a shared base layer once and cross-repository mounts
//! it everywhere else.
//!
//! - [`reference`]: `host[:port]/repo[:tag][@digest]` and platforms.
//! - [`auth`]: docker config / `REGISTRY_AUTH_FILE` credentials, helpers, login files.
//! - `transport`: requests with auth, retries and backoff.
//! - `pull` and `push`: the two directions, both streaming blobs through files.
//! - `locations`: where earlier pushes put each blob, for cross-repository mounts.
//!
//! Progress is reported through the [`Progress`] trait; the CLI renders it.

pub mod auth;
pub mod cache;
mod locations;
mod pull;
mod push;
pub mod reference;
mod transport;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::digest::Digest;
use crate::image::StoreError;

pub use auth::Credentials;
pub use pull::Pulled;
pub use push::{PushOptions, Pushed};
pub use reference::Reference;
pub use transport::Client;

/// Errors of registry operations, each naming the URL, file or reference involved.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A reference that is not `host[:port]/repo[:tag][@digest]`.
    #[error("invalid image reference {reference:?}: {reason}")]
    BadReference {
        /// The reference as given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A platform that is not `os/arch[/variant]`.
    #[error(transparent)]
    BadPlatform(#[from] crate::platform::PlatformError),
    /// The registry could not be reached (after retries).
    #[error("{method} {url}: {message}")]
    Transport {
        /// HTTP method.
        method: String,
        /// URL.
        url: String,
        /// What went wrong, with the retry count.
        message: String,
    },
    /// The registry answered with an unexpected status.
    #[error("{method} {url}: HTTP {status}{}", fmt_detail(.detail))]
    Status {
        /// HTTP method.
        method: String,
        /// URL.
        url: String,
        /// The status code.
        status: u16,
        /// The registry's error message, if it sent one.
        detail: String,
    },
    /// The registry refused the credentials (or there were none).
    #[error("{url}: authentication required or refused (HTTP {status}){}; hint: run `strata login {host}`", fmt_detail(.detail))]
    Unauthorized {
        /// URL.
        url: String,
        /// The registry host.
        host: String,
        /// 401 or 403.
        status: u16,
        /// The registry's error message.
        detail: String,
    },
    /// The registry sent something that breaks the protocol.
    #[error("{url}: {reason}")]
    Protocol {
        /// URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// Downloaded content that does not match its digest or size.
    #[error("{url}: content hashes to {actual} ({size} bytes), expected {expected}")]
    DigestMismatch {
        /// URL.
        url: String,
        /// The digest asked for.
        expected: Digest,
        /// The digest of what came.
        actual: Digest,
        /// How many bytes came.
        size: u64,
    },
    /// An index with no manifest for the wanted platform.
    #[error("{reference}: no image for platform {platform} (the index has: {available})")]
    NoPlatform {
        /// The reference pulled.
        reference: String,
        /// The platform wanted.
        platform: String,
        /// The platforms the index lists.
        available: String,
    },
    /// A manifest media type strata does not handle.
    #[error("{reference}: unsupported manifest media type {media_type:?}")]
    UnsupportedManifest {
        /// The reference.
        reference: String,
        /// Its media type.
        media_type: String,
    },
    /// A malformed auth file.
    #[error("{path}: {reason}")]
    AuthFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No auth file location could be found (no `$HOME`, no `$DOCKER_CONFIG`).
    #[error("no auth file: set REGISTRY_AUTH_FILE or DOCKER_CONFIG, or pass an auth file")]
    NoAuthFile,
    /// A credential helper failed.
    #[error("credential helper {program}: {reason}")]
    CredentialHelper {
        /// `docker-credential-NAME`.
        program: String,
        /// What went wrong.
        reason: String,
    },
    /// A CA file that could not be read or parsed.
    #[error("CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// I/O on a local file.
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A store operation failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Several images of a [`Client::push_many`] failed; each error names its image.
    #[error("pushing {image}")]
    Image {
        /// The image (`NAME:TAG`) whose push failed.
        image: String,
        /// Cause.
        #[source]
        source: Box<RegistryError>,
    },
}

fn fmt_detail(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

/// How the client reaches registries.
#[derive(Clone, Debug)]
pub struct RegistryOptions {
    /// Verify TLS certificates (default `true`; `--tls-verify=false` turns it off).
    pub tls_verify: bool,
    /// PEM file of CA certificates to trust instead of the built-in Mozilla roots
    /// (private registries with their own CA or a self-signed certificate).
    pub ca_file: Option<PathBuf>,
    /// Allow plain HTTP to any host (after HTTPS fails). Loopback hosts (`localhost`,
    /// `127.0.0.1`, `[::1]`) always may.
    pub insecure: bool,
    /// An auth file read before `$REGISTRY_AUTH_FILE` and the docker config
    /// (`--authfile`).
    pub auth_file: Option<PathBuf>,
    /// How many times a failed request (5xx, 429, broken connection, timeout) is retried.
    pub retries: u32,
    /// The first retry delay; each next one doubles, up to 8 s, with jitter.
    pub backoff: Duration,
    /// Seed of the retry jitter (fixed for reproducible tests).
    pub jitter_seed: u64,
    /// Bytes per `PATCH` of a chunked upload (default 8 MiB).
    pub chunk_size: u64,
    /// The longest wait for a response (headers) and for a connection.
    pub timeout: Duration,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            tls_verify: true,
            ca_file: None,
            insecure: false,
            auth_file: None,
            retries: 6,
            backoff: Duration::from_millis(200),
            jitter_seed: 0x5eed,
            chunk_size: 8 << 20,
            timeout: Duration::from_secs(60),
        }
    }
}

/// Which way a blob moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Registry to store.
    Download,
    /// Store to registry.
    Upload,
}

/// How a blob transfer ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobOutcome {
    /// The bytes were sent or received.
    Transferred,
    /// The destination had it already (HEAD on push, the store on pull).
    Skipped,
    /// Cross-repository mounted from another repository of the registry.
    Mounted,
}

/// Receives transfer progress. Called from several threads; all methods default to
/// nothing, so an implementation picks what it shows.
pub trait Progress: Send + Sync {
    /// A blob of `size` bytes starts to move to or from `repository`.
    fn blob_started(&self, repository: &str, digest: &Digest, size: u64, direction: Direction) {
        let _ = (repository, digest, size, direction);
    }
    /// `done` bytes of the blob have moved so far (it may go back after a restart).
    fn blob_progress(&self, digest: &Digest, done: u64) {
        let _ = (digest, done);
    }
    /// The blob is done.
    fn blob_finished(&self, digest: &Digest, outcome: BlobOutcome) {
        let _ = (digest, outcome);
    }
    /// A request failed and is retried after `delay` (for a "retrying" line).
    fn retrying(&self, what: &str, attempt: u32, delay: Duration) {
        let _ = (what, attempt, delay);
    }
}

/// A [`Progress`] that shows nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// The progress sink a new client starts with.
fn no_progress() -> Arc<dyn Progress> {
    Arc::new(NoProgress)
}
