//! The `strata __sandbox` process and its descendants.
//!
//! ```text
//! strata (builder)            spawns `strata __sandbox`, spec on fd 3, errors back on fd 4
//! └─ supervisor               reads the spec, unshares mount/pid/ipc/uts[/net], forks
//!    └─ init (pid 1)          mounts the root, pivot_root, hostname, USER, cwd; forks;
//!       │                     reaps orphans; exits with the command's status
//!       └─ command (pid 2)    [setsid, terminal], chdir, capabilities,
//!                             setgroups/setgid/setuid, no_new_privs, seccomp, execve
//! ```
//!
//! The command does not run as pid 1 itself because pid 1 ignores signals without a
//! handler and must reap orphans; a tiny init does both, and when it exits the kernel kills
//! whatever the command left behind (docker's RUN semantics). Each process dies with its
//! parent (`PR_SET_PDEATHSIG`), so killing the builder tears the whole sandbox down.
//!
//! Failures before the command runs are written to fd 4 as a JSON [`ChildError`]; fd 4
//! is close-on-exec, so a successful `execve` leaves it silent.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::Write;
use std::os::fd::FromRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::{signal, SigHandler, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Gid, Pid, Uid};
use rustix::thread::{unshare_unsafe, UnshareFlags};
use serde::{Deserialize, Serialize};

use super::seccomp::Filter;
use super::tty::Pty;
use super::user::{resolve_user, ResolvedUser};
use super::{caps, rootfs, Network, RunSpec, Security};
use crate::fsroot::{DirSpec, Root};

/// The fd on which the supervisor reads its [`ChildSpec`].
pub(super) const SPEC_FD: i32 = 3;
/// The fd on which the sandbox reports a [`ChildError`].
pub(super) const ERROR_FD: i32 = 4;
/// Exit status of a sandbox whose setup failed (docker uses 125 for its own failures).
const SETUP_FAILED: i32 = 125;

/// Docker's PATH for images that set none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the builder sends the sandbox process.
#[derive(Serialize, Deserialize)]
pub(super) struct ChildSpec {
    /// The command and its root.
    pub spec: RunSpec,
    /// An empty host dir to build the root under (the builder removes it afterwards).
    pub scratch: PathBuf,
    /// The seccomp filter for the command (BPF, compiled once by the builder); `None`
    /// with [`Security::Insecure`].
    pub seccomp: Option<Vec<u8>>,
}

/// Why the sandbox did not run the command.
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum ChildError {
    /// Setting up namespaces, mounts or the user failed.
    Setup(String),
    /// `execve` failed.
    Exec {
        /// The program.
        command: String,
        /// Why.
        reason: String,
    },
}

/// The supervisor: see the module doc. Returns the exit status for `main`.
pub(super) fn main() -> i32 {
    // The command must not inherit the error pipe.
    // SAFETY: fcntl on a number we were handed; a bad fd just fails.
    if unsafe { libc::fcntl(ERROR_FD, libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
        eprintln!("strata __sandbox is run by strata itself, with a spec on fd {SPEC_FD} and fd {ERROR_FD} for errors");
        return SETUP_FAILED;
    }
    match supervise() {
        Ok(code) => code,
        Err(e) => report(&ChildError::Setup(e)),
    }
}

fn supervise() -> Result<i32, String> {
    // SAFETY: fd 3 was set up by `run` for this process alone.
    let spec_file = unsafe { File::from_raw_fd(SPEC_FD) };
    let child: ChildSpec = serde_json::from_reader(spec_file)
        .map_err(|e| format!("reading the spec on fd {SPEC_FD}: {e}"))?;
    let mut flags =
        UnshareFlags::NEWNS | UnshareFlags::NEWPID | UnshareFlags::NEWIPC | UnshareFlags::NEWUTS;
    if child.spec.network == Network::None {
        flags |= UnshareFlags::NEWNET;
    }
    // SAFETY: this process is single-threaded (it only ran main so far), and no flag
    // touches the fd table.
    unsafe { unshare_unsafe(flags) }.map_err(|e| format!("unshare: {e}"))?;
    // SAFETY: single-threaded, so the child may do anything.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => std::process::exit(init(&child)),
        ForkResult::Parent { child } => wait_for(child),
    }
}

/// pid 1 of the sandbox.
fn init(child: &ChildSpec) -> i32 {
    // Without the supervisor nobody collects our status: die with it.
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    let spec = &child.spec;
    let prepared = match prepare(spec, &child.scratch, child.seccomp.as_deref()) {
        Ok(prepared) => prepared,
        Err(e) => return report(&ChildError::Setup(e)),
    };
    let pty = match spec.tty.map(Pty::open).transpose() {
        Ok(pty) => pty,
        Err(e) => return report(&ChildError::Setup(e)),
    };
    // SAFETY: single-threaded.
    match unsafe { fork() } {
        Err(e) => report(&ChildError::Setup(format!("fork: {e}"))),
        Ok(ForkResult::Child) => {
            if let Some(Err(e)) = pty.as_ref().map(Pty::attach) {
                std::process::exit(report(&ChildError::Setup(e)));
            }
            let (reason, code) = exec(spec, &prepared);
            report(&ChildError::Exec {
                command: spec.args[0].clone(),
                reason,
            });
            std::process::exit(code)
        }
        Ok(ForkResult::Parent { child: command }) => {
            let code = match pty {
                Some(pty) => pty.relay(command).unwrap_or_else(|| reap_until(command)),
                None => reap_until(command),
            };
            match prepared.cleanup.run() {
                Ok(()) => code,
                Err(e) => report(&ChildError::Setup(e)),
            }
        }
    }
}

/// What `init` works out for the command.
struct Prepared {
    cleanup: rootfs::Cleanup,
    user: ResolvedUser,
    env: Vec<CString>,
    path: String,
    seccomp: Option<Filter>,
}

/// Enters the root, sets the hostname and network, resolves the user and env, makes the
/// cwd, reads the seccomp filter.
fn prepare(spec: &RunSpec, scratch: &Path, seccomp: Option<&[u8]>) -> Result<Prepared, String> {
    if spec.args.is_empty() {
        return Err("empty command".to_owned());
    }
    let seccomp = seccomp.map(Filter::from_bpf).transpose()?;
    let cleanup = rootfs::enter(spec, scratch)?;
    if !spec.hostname.is_empty() {
        nix::unistd::sethostname(&spec.hostname)
            .map_err(|e| format!("sethostname {:?}: {e}", spec.hostname))?;
    }
    if spec.network == Network::None {
        loopback_up()?;
    }
    let root = Root::open(Path::new("/")).map_err(|e| format!("opening /: {e}"))?;
    let user = resolve_user(&root, &spec.user)?;
    root.mkdir_all(Path::new(&spec.cwd), DirSpec::default())
        .map_err(|e| format!("creating the working directory {}: {e}", spec.cwd))?;
    let mut env = spec.env.clone();
    if !env.iter().any(|kv| kv.starts_with("PATH=")) {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    if !env.iter().any(|kv| kv.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }
    let path = env
        .iter()
        .rev()
        .find_map(|kv| kv.strip_prefix("PATH="))
        .unwrap_or_default()
        .to_owned();
    let env = env.into_iter().map(cstring).collect::<Result<_, _>>()?;
    Ok(Prepared {
        cleanup,
        user,
        env,
        path,
        seccomp,
    })
}

/// Becomes the user and execs the command; returns only on failure, with the reason and
/// the shell's exit code for it (127 not found, 126 not executable).
fn exec(spec: &RunSpec, prepared: &Prepared) -> (String, i32) {
    // std ignores SIGPIPE for Rust programs; the command expects the default.
    // SAFETY: restoring a default disposition.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
    let cwd = &spec.cwd;
    if let Err(e) = nix::unistd::chdir(if cwd.is_empty() { "/" } else { cwd.as_str() }) {
        return (format!("chdir {cwd}: {e}"), 126);
    }
    // Before dropping privileges: raising a hard limit needs them.
    for ulimit in &spec.options.ulimits {
        if let Err(reason) = ulimit.apply() {
            return (reason, 126);
        }
    }
    if spec.security == Security::Sandbox {
        if let Err(e) = caps::restrict() {
            return (e, 126);
        }
    }
    let user = &prepared.user;
    let groups: Vec<Gid> = user.groups.iter().map(|&g| Gid::from_raw(g)).collect();
    let ids = nix::unistd::setgroups(&groups)
        .and_then(|()| nix::unistd::setgid(Gid::from_raw(user.gid)))
        .and_then(|()| nix::unistd::setuid(Uid::from_raw(user.uid)));
    if let Err(e) = ids {
        return (
            format!(
                "switching to user {:?} ({}:{}): {e}",
                spec.user, user.uid, user.gid
            ),
            126,
        );
    }
    let program = match find_program(&spec.args[0], &prepared.path) {
        Ok(program) => program,
        Err(reason) => return (reason, 127),
    };
    let args = match spec
        .args
        .iter()
        .cloned()
        .map(cstring)
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(args) => args,
        Err(reason) => return (reason, 126),
    };
    let Ok(program) = CString::new(program.as_os_str().as_bytes()) else {
        return ("NUL byte in the program path".to_owned(), 126);
    };
    // Last, so that everything above runs unfiltered: no setuid binary regains what was
    // dropped, and the filter confines exactly the command (as runc loads it last when
    // `noNewPrivileges` is set).
    if spec.security == Security::Sandbox {
        if let Err(e) = rustix::thread::set_no_new_privs(true) {
            return (format!("setting no_new_privs: {e}"), 126);
        }
    }
    if let Some(Err(e)) = prepared.seccomp.as_ref().map(Filter::install) {
        return (e, 126);
    }
    let err = nix::unistd::execve(&program, &args, &prepared.env).unwrap_err();
    let code = if err == nix::errno::Errno::ENOENT {
        127
    } else {
        126
    };
    (
        format!(
            "{}: {}",
            program.to_string_lossy(),
            err.desc().to_lowercase()
        ),
        code,
    )
}

/// `name` itself if it holds a `/`, else the first executable file named `name` in `path`.
fn find_program(name: &str, path: &str) -> Result<PathBuf, String> {
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    for dir in path.split(':') {
        let candidate = Path::new(if dir.is_empty() { "." } else { dir }).join(name);
        let is_file = std::fs::metadata(&candidate).is_ok_and(|m| m.is_file());
        if is_file && rustix::fs::access(&candidate, rustix::fs::Access::EXEC_OK).is_ok() {
            return Ok(candidate);
        }
    }
    Err(format!("executable file not found in $PATH ({path})"))
}

/// Reaps every child until `command` exits; returns its status as a shell would.
fn reap_until(command: Pid) -> i32 {
    loop {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == command => return code,
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == command => {
                return 128 + signal as i32
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return report(&ChildError::Setup(format!("waiting for the command: {e}"))),
        }
    }
}

/// Waits for `child` and returns its status as a shell would.
fn wait_for(child: Pid) -> Result<i32, String> {
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, signal, _)) => return Ok(128 + signal as i32),
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(format!("waiting for the sandbox's init: {e}")),
        }
    }
}

/// Sends `error` to the builder (or stderr if there is no error pipe); returns the exit
/// status that goes with it.
fn report(error: &ChildError) -> i32 {
    let code = match error {
        ChildError::Setup(_) => SETUP_FAILED,
        ChildError::Exec { .. } => 127,
    };
    let json = serde_json::to_vec(error).unwrap_or_default();
    // SAFETY: fd 4 belongs to this process (see `main`); ManuallyDrop keeps it open for
    // the other processes of the sandbox that share it.
    let mut pipe = std::mem::ManuallyDrop::new(unsafe { File::from_raw_fd(ERROR_FD) });
    if pipe.write_all(&json).is_err() {
        eprintln!("strata sandbox: {error:?}");
    }
    code
}

fn cstring(s: impl Into<Vec<u8>>) -> Result<CString, String> {
    let bytes = s.into();
    CString::new(bytes).map_err(|e| format!("NUL byte in {:?}", OsStr::from_bytes(&e.into_vec())))
}

/// Brings up `lo` in a fresh network namespace (docker's `--network none` has it up, so
/// servers on 127.0.0.1 work in builds).
fn loopback_up() -> Result<(), String> {
    let fail = |what: &str| {
        format!(
            "bringing up lo: {what}: {}",
            std::io::Error::last_os_error()
        )
    };
    // SAFETY: plain syscalls on a socket this function owns and a zeroed ifreq.
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            return Err(fail("socket"));
        }
        let _close = std::os::fd::OwnedFd::from_raw_fd(sock);
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (dst, src) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        if libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut ifr) < 0 {
            return Err(fail("SIOCGIFFLAGS"));
        }
        ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock, libc::SIOCSIFFLAGS, &ifr) < 0 {
            return Err(fail("SIOCSIFFLAGS"));
        }
    }
    Ok(())
}
