//! [`RegistryError`]: every way a registry operation fails, each naming the URL, file or
//! reference involved. In its own file so that every other registry file can use it
//! without importing the module root.

use std::path::PathBuf;

use crate::digest::Digest;
use crate::image::StoreError;

/// Errors of registry operations, each naming the URL, file or reference involved.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
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
    /// A registries.conf (or drop-in directory) that cannot be read.
    #[error("cannot read registries configuration {}", path.display())]
    ConfRead {
        /// The file or directory.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A registries.conf that does not parse or breaks its rules, at its line.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Conf(Box<crate::dockerfile::DockerfileError>),
    /// A `--registry-mirror` that is not `[http[s]://]host[:port][/path]`.
    #[error("--registry-mirror {mirror:?}: {reason}")]
    BadMirror {
        /// The value given.
        mirror: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A name registries.conf blocks.
    #[error(
        "{reference} is blocked: the [[registry]] of {prefix:?} at {origin} says blocked = true"
    )]
    Blocked {
        /// The name.
        reference: String,
        /// The prefix of the table that blocks it.
        prefix: String,
        /// `file:line` of that table.
        origin: String,
    },
    /// A short name, with an empty `unqualified-search-registries`.
    #[error(
        "{reference} names no registry, and unqualified-search-registries is empty in {files}"
    )]
    NoSearchRegistries {
        /// The name as written.
        reference: String,
        /// The registries.conf files read.
        files: String,
    },
    /// Every source of a pull failed: each name and endpoint tried, and why.
    #[error("cannot pull {reference}; tried:{}", fmt_failures(.failures))]
    NotPulled {
        /// The name as written.
        reference: String,
        /// Each attempt, in order.
        failures: Vec<Failure>,
        /// How to configure a mirror.
        #[help]
        hint: String,
    },
    /// A blob of a pull that could not be fetched: which one, of which image.
    #[error("cannot fetch the {what} of {reference}")]
    Fetch {
        /// `config DIGEST` or `layer I of N (DIGEST)`.
        what: String,
        /// The image being pulled, as asked of the registry.
        reference: String,
        /// Cause.
        #[source]
        source: Box<RegistryError>,
    },
    /// Several images of a [`Client::push_many`](super::Client::push_many) failed; each error names its image.
    #[error("pushing {image}")]
    Image {
        /// The image (`NAME:TAG`) whose push failed.
        image: String,
        /// Cause.
        #[source]
        source: Box<RegistryError>,
    },
}

/// One failed attempt of a pull: the reference asked, at which endpoint, and why.
#[derive(Debug)]
pub struct Failure {
    /// The reference asked for there (`127.0.0.1:5000/library/debian:bookworm`).
    pub tried: String,
    /// What that endpoint is to the name (`mirror of docker.io`), empty for the name's
    /// own registry.
    pub role: String,
    /// Why it failed.
    pub error: RegistryError,
}

impl RegistryError {
    /// Whether the image does not exist (HTTP 404) wherever it was looked for.
    pub fn is_not_found(&self) -> bool {
        match self {
            RegistryError::Status { status: 404, .. } => true,
            RegistryError::Fetch { source, .. } => source.is_not_found(),
            RegistryError::NotPulled { failures, .. } => {
                !failures.is_empty() && failures.iter().all(|f| f.error.is_not_found())
            }
            _ => false,
        }
    }
}

fn fmt_failures(failures: &[Failure]) -> String {
    failures
        .iter()
        .map(|f| {
            let role = if f.role.is_empty() {
                String::new()
            } else {
                format!(" ({})", f.role)
            };
            format!("\n    {}{role}: {}", f.tried, f.error)
        })
        .collect()
}

fn fmt_detail(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}
