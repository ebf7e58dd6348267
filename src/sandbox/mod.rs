//! The sandbox for one RUN (and for `strata run`): an overlay of the image's snapshot dirs
//! with a fresh upper dir, entered through new mount, pid, ipc, uts (and, with
//! `--network none`, net) namespaces and `pivot_root`; `/proc`, a minimal `/dev`, `/sys`
//! and a tmpfs `/run` mounted; the host's resolv.conf and hosts bind-mounted read-only
//! over files that never reach the upper dir.
//!
//! The namespaces are entered by a fresh, single-threaded copy of the strata binary
//! (`strata __sandbox`, see [`child_main`]) because `unshare` and `fork` do not mix with
//! the builder's threads. The parent streams the child's output line by line.

mod overlay;
mod user;

pub use overlay::{enter_private_mount_namespace, Overlay};
pub use user::{resolve_user, ResolvedUser};

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Network of a sandbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Network {
    /// The host's network namespace (docker's `--network host`, the build default).
    #[default]
    Host,
    /// A new, empty network namespace (loopback down).
    None,
}

/// Everything the sandbox needs to run one command.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunSpec {
    /// Overlay lower dirs, top-most first. Empty means an empty root (FROM scratch).
    pub lower: Vec<PathBuf>,
    /// The upper dir receiving the changes (must be empty, on the store's file system).
    pub upper: PathBuf,
    /// The overlay work dir (empty, same file system as `upper`).
    pub work: PathBuf,
    /// argv; `args[0]` is looked up in the image's PATH (from `env`) if it has no `/`.
    pub args: Vec<String>,
    /// Environment, `K=V`. PATH defaults to docker's if absent; HOME to the user's.
    pub env: Vec<String>,
    /// Working directory inside the image; created if missing (as docker does).
    pub cwd: String,
    /// `user[:group]` as in USER (names or ids); empty means root.
    pub user: String,
    /// Network namespace choice.
    pub network: Network,
    /// Hostname inside the sandbox.
    pub hostname: String,
    /// Bytes fed to the command's stdin (heredoc bodies for `RUN <<EOF`); `None`: /dev/null.
    pub stdin: Option<Vec<u8>>,
}

/// How the command's output is handled.
pub enum Output<'a> {
    /// Each line goes to the callback (the builder prefixes it with the step).
    Lines(&'a mut dyn FnMut(&[u8])),
    /// stdout and stderr are inherited (`strata run`).
    Inherit,
}

/// Sandbox failures (not the command's own non-zero exit, which is a normal result).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Setting up the sandbox failed.
    #[error("sandbox: {0}")]
    Setup(String),
    /// I/O talking to the child.
    #[error("sandbox: {0}")]
    Io(#[from] std::io::Error),
    /// The command could not be started (not found, not executable).
    #[error("cannot run {command:?}: {reason}")]
    Exec {
        /// The program.
        command: String,
        /// Why.
        reason: String,
    },
}

/// Runs `spec` and returns the command's exit code (128+N if killed by signal N).
pub fn run(spec: &RunSpec, output: Output<'_>) -> Result<i32, SandboxError> {
    let _ = (spec, output);
    todo!("sandbox helper")
}

/// Entry point of the `strata __sandbox` child process: reads the spec, enters the
/// namespaces, execs the command. Never returns on success.
pub fn child_main() -> i32 {
    todo!("sandbox helper")
}
