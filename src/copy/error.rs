//! [`CopyError`]: why selecting, hashing or writing COPY/ADD sources failed.

use std::io;

/// Why a COPY/ADD failed; each names the pattern or path involved. The builder adds the
/// Dockerfile location.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// A source without wildcards (or a `--parents` path without them) does not exist
    /// or is excluded; a wildcard matching nothing is no error.
    #[error("COPY source {pattern:?} not found in {place}")]
    NotFound {
        /// The pattern as written.
        pattern: String,
        /// Where it was looked for: "the build context" or a stage.
        place: String,
    },
    /// A directory must be written where a non-directory exists.
    #[error("cannot copy to {dest}: it exists and is not a directory")]
    NotADirectory {
        /// The destination path in the image.
        dest: String,
    },
    /// A file must be written where a directory exists.
    #[error("cannot replace directory {dest} with a file")]
    IsADirectory {
        /// The destination path in the image.
        dest: String,
    },
    /// `--chmod` is neither an octal mode nor a symbolic one.
    #[error(
        "invalid --chmod value {0:?}: expected an octal mode up to 7777 (such as 0755) \
         or a symbolic mode (such as u+x,go-w)"
    )]
    BadChmod(String),
    /// A pattern of the instruction is refused (`COPY --parents` below its pivot).
    #[error("invalid pattern {pattern:?}: {reason}")]
    BadPattern {
        /// The pattern as written.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// Something strata does not do (remote ADD sources).
    #[error("{0} is not supported")]
    Unsupported(String),
    /// ADD could not extract an archive.
    #[error("ADD {archive}: cannot extract")]
    Extract {
        /// The archive's source pattern.
        archive: String,
        /// The cause.
        #[source]
        source: crate::layer::LayerError,
    },
    /// An I/O error on a path (host path for sources, image path for destinations).
    #[error("{path}")]
    Io {
        /// The path being read or written.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}
