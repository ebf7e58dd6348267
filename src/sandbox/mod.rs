//! The sandbox for one RUN (and for `strata run`): an overlay of the image's snapshot dirs
//! with a fresh upper dir, entered through new mount, pid, ipc, uts (and, with
//! `--network none`, net) namespaces and `pivot_root`; `/proc`, a minimal `/dev`, `/sys`
//! and a tmpfs `/run` mounted; the host's resolv.conf and hosts (with the `--add-host`
//! lines of [`SandboxOptions`] appended) bind-mounted read-only over files that never
//! reach the upper dir.
//!
//! The namespaces are entered by a fresh, single-threaded copy of the strata binary
//! (`strata __sandbox`, see [`child_main`]) because `unshare` and `fork` do not mix with
//! the builder's threads. The parent streams the child's output line by line.
//!
//! - `child`: the processes of a sandbox (supervisor, pid 1, command) and their protocol.
//! - `rootfs`: the overlay root, `pivot_root`, and the special mounts; how mountpoints are
//!   kept out of the upper dir (a skeleton lower dir) is explained there.
//! - `mounts`: the extra mounts of `RUN --mount` ([`Mount`]), resolved inside the image.
//! - `namespace`: the private mount namespace every strata process works in.
//! - `tty`: the pseudo-terminal of `strata run -t`.
//! - `user`: [`resolve_user`], USER as docker reads it.
//! - `rlimit`: [`SandboxOptions`], the build-wide extras of a sandbox (`/etc/hosts` lines,
//!   `/dev/shm` size, resource limits).
//! - `caps`, `seccomp`: docker's default confinement of the command ([`Security`]): its
//!   capability set, and its seccomp profile (`seccomp.toml`), installed after
//!   `no_new_privs`. With it, `rootfs` masks and write-protects parts of `/proc` and `/sys`
//!   as runc's default spec does.

mod caps;
mod child;
mod mounts;
mod namespace;
mod rlimit;
mod rootfs;
mod seccomp;
mod tty;
mod user;

pub use namespace::enter_private_mount_namespace;
pub use rlimit::{HostEntry, SandboxOptions, Ulimit};
pub use tty::{RawMode, TtySize};
pub use user::{resolve_user, ResolvedUser};

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};

use nix::fcntl::OFlag;
use nix::unistd::pipe2;

use child::{ChildError, ChildSpec};
use serde::{Deserialize, Serialize};

/// Network of a sandbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Network {
    /// The host's network namespace (docker's `--network host`, the build default).
    #[default]
    Host,
    /// A new network namespace holding only the loopback interface, brought up as docker's
    /// `--network none` does.
    None,
}

/// How much of docker's default confinement a sandbox's command gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Security {
    /// docker's defaults for a non-privileged container: its capability set, its seccomp
    /// profile, `no_new_privs`, runc's masked and read-only paths in `/proc` and `/sys`.
    #[default]
    Sandbox,
    /// `RUN --security=insecure` and `strata run --privileged` (docker's `--privileged`
    /// for one step): every capability this process holds, no seccomp filter, no
    /// `no_new_privs`, nothing masked, `/proc/sys` and `/sys` writable.
    Insecure,
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
    /// Extra mounts (`RUN --mount`), already resolved to host paths by the builder, in
    /// the order given. Their mount points never reach the upper dir.
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// A terminal of this size for the command (`strata run -t`), made in the sandbox's
    /// own devpts; `None`: the command's stdio are the ones [`Output`] says.
    #[serde(default)]
    pub tty: Option<TtySize>,
    /// Extra `/etc/hosts` lines, the `/dev/shm` size and resource limits.
    #[serde(default)]
    pub options: SandboxOptions,
    /// Confinement of the command.
    #[serde(default)]
    pub security: Security,
}

/// One extra mount of a sandbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mount {
    /// Bind-mounts the host path `source` (a directory, a file or a socket) at `target`.
    Bind {
        /// Host path.
        source: PathBuf,
        /// Absolute path inside the image.
        target: String,
        /// Mounted read-only.
        readonly: bool,
    },
    /// A fresh tmpfs at `target`, gone when the command ends.
    Tmpfs {
        /// Absolute path inside the image.
        target: String,
        /// Size limit in bytes (`None`: the kernel's default, half of RAM).
        size: Option<u64>,
    },
}

impl Mount {
    /// The absolute path inside the image it is mounted at.
    pub fn target(&self) -> &str {
        match self {
            Mount::Bind { target, .. } | Mount::Tmpfs { target, .. } => target,
        }
    }
}

/// How the command's output is handled.
pub enum Output<'a> {
    /// Each line of stdout and stderr (merged in order, without its `\n`; lines over 64 KiB
    /// arrive in pieces) goes to the callback as it is written (the builder prefixes it
    /// with the step). stdin is [`RunSpec::stdin`], or /dev/null.
    Lines(&'a mut dyn FnMut(&[u8])),
    /// stdout and stderr are inherited (`strata run`), and so is stdin when `stdin` is
    /// set (`-i`; else /dev/null) and [`RunSpec::stdin`] holds no bytes.
    Inherit {
        /// Whether the command reads the caller's stdin.
        stdin: bool,
    },
}

/// Sandbox failures (not the command's own non-zero exit, which is a normal result).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Setting up the sandbox failed.
    #[error("sandbox: {0}")]
    Setup(String),
    /// I/O talking to the child.
    #[error("sandbox: I/O with the child process")]
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
///
/// Spawns `$STRATA_EXE` (default: this executable, through `/proc/self/exe`) as
/// `strata __sandbox`, which sets up the sandbox and runs the command; see
/// [`child_main`]. Blocks until every process of the sandbox has exited. With
/// [`Output::Lines`], stdout and stderr share one pipe (so their order is kept) and each
/// line reaches the callback as soon as it is complete.
pub fn run(spec: &RunSpec, output: Output<'_>) -> Result<i32, SandboxError> {
    // `/proc/self/exe` is this very binary even when its file was replaced or deleted
    // since it started (an upgrade during a build), where its path would not be.
    let exe = std::env::var_os("STRATA_EXE")
        .map_or_else(|| PathBuf::from("/proc/self/exe"), PathBuf::from);
    // The child mounts a tmpfs of its own over this dir to build the root in; on the host
    // it stays empty.
    let scratch = tempfile::Builder::new()
        .prefix("strata-sandbox-")
        .tempdir()?;
    let seccomp = match spec.security {
        Security::Sandbox => Some(seccomp::default_program().map_err(SandboxError::Setup)?),
        Security::Insecure => None,
    };
    let message = serde_json::to_vec(&ChildSpec {
        spec: spec.clone(),
        scratch: scratch.path().to_owned(),
        seccomp: seccomp.map(<[u8]>::to_vec),
    })
    .map_err(|e| SandboxError::Setup(format!("encoding the spec: {e}")))?;
    let (spec_r, spec_w) = pipe2(OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC).map_err(io::Error::from)?;

    let mut command = Command::new(&exe);
    command.arg("__sandbox").env_clear();
    command.stdin(match (&spec.stdin, &output) {
        (Some(_), _) => Stdio::piped(),
        (None, Output::Lines(_)) => Stdio::null(),
        (None, Output::Inherit { stdin: true }) => Stdio::inherit(),
        (None, Output::Inherit { stdin: false }) => Stdio::null(),
    });
    let mut lines = None;
    if let Output::Lines(callback) = output {
        let (out_r, out_w) = pipe2(OFlag::O_CLOEXEC).map_err(io::Error::from)?;
        command
            .stdout(Stdio::from(out_w.try_clone()?))
            .stderr(Stdio::from(out_w));
        lines = Some((File::from(out_r), callback));
    }
    let (spec_fd, err_fd) = (spec_r.as_raw_fd(), err_w.as_raw_fd());
    // SAFETY: the closure runs between fork and exec and makes only async-signal-safe
    // calls. The pipes are duplicated above fd 10 first so that moving them to 3 and 4
    // cannot overwrite one with the other; dup2 clears close-on-exec on the copies.
    unsafe {
        command.pre_exec(move || {
            let spec_copy = libc::fcntl(spec_fd, libc::F_DUPFD_CLOEXEC, 10);
            let err_copy = libc::fcntl(err_fd, libc::F_DUPFD_CLOEXEC, 10);
            if spec_copy < 0
                || err_copy < 0
                || libc::dup2(spec_copy, child::SPEC_FD) < 0
                || libc::dup2(err_copy, child::ERROR_FD) < 0
                || libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) < 0
            {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut process = command
        .spawn()
        .map_err(|e| SandboxError::Setup(format!("starting {}: {e}", exe.display())))?;
    // Only the child may hold these ends, or the reads below would never see EOF.
    drop((command, spec_r, err_w));
    let stdin = process.stdin.take();

    let status = std::thread::scope(|scope| -> Result<ExitStatus, SandboxError> {
        if let (Some(mut pipe), Some(bytes)) = (stdin, &spec.stdin) {
            // A command that does not read all its input is not an error: ignore EPIPE.
            scope.spawn(move || pipe.write_all(bytes));
        }
        // The child reads the whole spec before doing anything else. If it died first,
        // its status and error pipe tell why.
        let _ = File::from(spec_w).write_all(&message);
        if let Some((out, callback)) = lines {
            if let Err(e) = stream_lines(out, callback) {
                // Do not leave the sandbox running behind an error.
                let _ = process.kill();
                let _ = process.wait();
                return Err(e.into());
            }
        }
        Ok(process.wait()?)
    })?;
    let mut error = Vec::new();
    File::from(err_r).read_to_end(&mut error)?;
    if !error.is_empty() {
        return Err(match serde_json::from_slice(&error) {
            Ok(ChildError::Exec { command, reason }) => SandboxError::Exec { command, reason },
            Ok(ChildError::Setup(message)) => SandboxError::Setup(message),
            Err(_) => SandboxError::Setup(String::from_utf8_lossy(&error).into_owned()),
        });
    }
    Ok(status
        .code()
        .or(status.signal().map(|s| 128 + s))
        .unwrap_or(UNKNOWN_STATUS))
}

/// Exit code for a status that is neither an exit nor a signal (wait never reports one).
const UNKNOWN_STATUS: i32 = 125;

/// Longest line handed to the callback; longer lines arrive in pieces of this size.
const MAX_LINE: u64 = 64 * 1024;

/// Calls `callback` with each line of `out` (without its `\n`) until EOF.
fn stream_lines(out: File, callback: &mut dyn FnMut(&[u8])) -> io::Result<()> {
    let mut reader = BufReader::with_capacity(64 * 1024, out);
    let mut line = Vec::new();
    loop {
        line.clear();
        if (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        callback(&line);
    }
}

/// Entry point of the `strata __sandbox` child process: reads the spec, enters the
/// namespaces, execs the command. Never returns on success; otherwise returns the exit
/// status for `main` after reporting the failure to [`run`].
pub fn child_main() -> i32 {
    child::main()
}
