//! A pseudo-terminal for `strata run -t`, made as docker (runc) makes it: inside the
//! sandbox's own devpts, so the command's `tty` is `/dev/pts/0` of its own `/dev`, it is
//! the session leader with the terminal as its controlling tty (job control, `^C` as
//! SIGINT), and the terminal has the size of the user's.
//!
//! - [`Pty::open`] runs in the sandbox's init once the root is entered;
//! - [`Pty::attach`] runs in the command's process before `execve`;
//! - [`Pty::relay`] runs in init while the command lives: the terminal's output to init's
//!   stdout (the user's), and with `-i` init's stdin into the terminal;
//! - [`RawMode`] runs on the host: keystrokes reach the command's terminal unprocessed,
//!   whose line discipline does what the user's would have done.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::termios::{self, SetArg, Termios};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

/// Rows and columns of a terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TtySize {
    /// Lines.
    pub rows: u16,
    /// Characters per line.
    pub cols: u16,
}

impl TtySize {
    /// The size of the terminal on standard output (else standard input), or 24x80 as
    /// docker assumes when there is none.
    pub fn of_user_terminal() -> TtySize {
        for fd in [libc::STDOUT_FILENO, libc::STDIN_FILENO] {
            let mut size = libc::winsize {
                ws_row: 0,
                ws_col: 0,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            // SAFETY: TIOCGWINSZ writes one winsize into `size`; a non-tty fails.
            let ok = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) } == 0;
            if ok && size.ws_row > 0 && size.ws_col > 0 {
                return TtySize {
                    rows: size.ws_row,
                    cols: size.ws_col,
                };
            }
        }
        TtySize { rows: 24, cols: 80 }
    }
}

/// Both ends of the command's terminal.
pub(super) struct Pty {
    master: OwnedFd,
    slave: OwnedFd,
}

impl Pty {
    /// Opens a terminal in the devpts mounted at `/dev/pts` of the entered root, sized
    /// `size`.
    pub(super) fn open(size: TtySize) -> Result<Pty, String> {
        let master = posix_openpt(nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY)
            .map_err(|e| format!("opening /dev/ptmx: {e}"))?;
        grantpt(&master).map_err(|e| format!("grantpt: {e}"))?;
        unlockpt(&master).map_err(|e| format!("unlockpt: {e}"))?;
        let name = ptsname_r(&master).map_err(|e| format!("ptsname: {e}"))?;
        // O_NOCTTY: init must not acquire the terminal itself.
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&name)
            .map_err(|e| format!("opening {name}: {e}"))?;
        let winsize = libc::winsize {
            ws_row: size.rows,
            ws_col: size.cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize.
        if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSWINSZ, &winsize) } != 0 {
            return Err(format!(
                "setting the size of {name}: {}",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: `into_raw_fd` hands the PtyMaster's fd over to us alone.
        let master = unsafe { OwnedFd::from_raw_fd(master.into_raw_fd()) };
        Ok(Pty {
            master,
            slave: slave.into(),
        })
    }

    /// In the command's process: a new session whose controlling terminal is the slave,
    /// which becomes stdin, stdout and stderr.
    pub(super) fn attach(&self) -> Result<(), String> {
        nix::unistd::setsid().map_err(|e| format!("setsid: {e}"))?;
        let slave = self.slave.as_raw_fd();
        // SAFETY: plain ioctl and dup2 calls on fds this process owns.
        unsafe {
            if libc::ioctl(slave, libc::TIOCSCTTY, 0) != 0 {
                return Err(format!(
                    "making the terminal controlling: {}",
                    std::io::Error::last_os_error()
                ));
            }
            for fd in [libc::STDIN_FILENO, libc::STDOUT_FILENO, libc::STDERR_FILENO] {
                if libc::dup2(slave, fd) < 0 {
                    return Err(format!(
                        "redirecting fd {fd} to the terminal: {}",
                        std::io::Error::last_os_error()
                    ));
                }
            }
        }
        Ok(())
    }

    /// In init, once the command runs: copies the terminal's output to stdout, and
    /// init's stdin (the user's with `-i`, else /dev/null) into the terminal, until the
    /// command has exited and its output is drained; returns the command's status as a
    /// shell gives it, if it was reaped here (`None`: the terminal closed first, and the
    /// caller waits for it). Orphans are reaped on the way, as init must.
    pub(super) fn relay(self, command: Pid) -> Option<i32> {
        // Only the command may hold the slave: its last close is the master's EOF.
        drop(self.slave);
        let master = File::from(self.master);
        if let Ok(mut input) = master.try_clone() {
            std::thread::spawn(move || {
                // SAFETY: fd 0 stays open for the life of init; ManuallyDrop keeps this
                // File from closing it.
                let mut stdin = std::mem::ManuallyDrop::new(unsafe { File::from_raw_fd(0) });
                let _ = std::io::copy(&mut *stdin, &mut input);
            });
        }
        let mut stdout = std::io::stdout().lock();
        let mut status = None;
        let mut buffer = [0u8; 16 * 1024];
        loop {
            let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
            let ready = poll(&mut fds, PollTimeout::from(100u16)).unwrap_or(0);
            if ready > 0 {
                match (&master).read(&mut buffer) {
                    Ok(0) | Err(_) => break, // EIO: every holder of the slave closed it.
                    Ok(n) => {
                        let _ = stdout.write_all(&buffer[..n]);
                        let _ = stdout.flush();
                        continue;
                    }
                }
            }
            // Nothing to read: a command that exited while something it started still
            // holds the terminal ends the relay, as in docker, once its output is out.
            if status.is_some() {
                break;
            }
            status = reap(command);
        }
        status
    }
}

/// Reaps exited children without waiting; the command's status once it has exited.
fn reap(command: Pid) -> Option<i32> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == command => return Some(code),
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == command => {
                return Some(128 + signal as i32)
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// The user's terminal in raw mode (restored on drop), while `strata run -it` forwards
/// keystrokes to the command's terminal.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Puts standard input in raw mode; `None` when it is not a terminal.
    pub fn enter() -> Option<RawMode> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}
