//! Whether this host can run a platform's programs, which a RUN step for that platform
//! needs: natively, or through QEMU user emulation that the kernel starts by itself
//! (binfmt_misc).
//!
//! A RUN runs in its own root, where no emulator exists; the handler must therefore be
//! registered with the fix-binary flag (`F`), which makes the kernel open the emulator
//! when it is registered and use that open file in every mount namespace and root.
//! Debian's `qemu-user-static` ships such registrations in `/usr/lib/binfmt.d`; as root,
//! [`ensure`] mounts binfmt_misc when it is missing and registers the handler a platform
//! needs from that file, so a plain `apt-get install qemu-user-static` suffices. Otherwise
//! the error says exactly what is missing.

use std::path::{Path, PathBuf};

use super::{Platform, PlatformError};

/// Where the kernel's binfmt_misc file system is mounted.
const BINFMT: &str = "/proc/sys/fs/binfmt_misc";
/// Where Debian's qemu-user-static (and systemd-binfmt) keep handler registrations.
const BINFMT_D: &[&str] = &["/usr/lib/binfmt.d", "/etc/binfmt.d", "/run/binfmt.d"];

/// How programs of a platform run here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Runner {
    /// The CPU runs them.
    Native,
    /// binfmt_misc hands them to this emulator (opened at registration: `F` flag).
    Emulated(PathBuf),
}

/// Whether this host runs `platform`'s programs natively: its own architecture, and on
/// amd64 the 32-bit x86 one (386), which x86-64 kernels run.
pub fn native(platform: &Platform) -> bool {
    let host = Platform::host();
    platform.os == host.os
        && (platform.architecture == host.architecture
            || (host.architecture == "amd64" && platform.architecture == "386"))
}

/// Makes sure programs of `platform` can run here, registering QEMU's binfmt_misc
/// handler when that is missing and possible (as root, from `qemu-user-static`'s
/// registration file), and says how they run. The error names what is missing and how to
/// fix it.
pub fn ensure(platform: &Platform) -> Result<Runner, PlatformError> {
    if native(platform) {
        return Ok(Runner::Native);
    }
    let arch = platform.qemu_arch();
    let missing = |why: String, help: String| PlatformError::NoEmulator {
        platform: platform.to_string(),
        host: Platform::host().to_string(),
        why,
        help,
    };
    let root = rustix::process::geteuid().is_root();
    let binfmt = Path::new(BINFMT);
    if !binfmt.join("status").exists() {
        if !root {
            return Err(missing(
                format!("binfmt_misc is not mounted at {BINFMT}"),
                format!("as root: mount -t binfmt_misc binfmt_misc {BINFMT}, then register qemu-{arch} (Debian: apt-get install qemu-user-static)"),
            ));
        }
        mount_binfmt(binfmt).map_err(|e| {
            missing(
                format!("binfmt_misc is not mounted at {BINFMT} and mounting it failed: {e}"),
                format!("mount -t binfmt_misc binfmt_misc {BINFMT}"),
            )
        })?;
    }
    let handler = binfmt.join(format!("qemu-{arch}"));
    if !handler.exists() {
        let Some(registration) = registration_file(arch) else {
            return Err(missing(
                format!("no binfmt_misc handler qemu-{arch} is registered and no registration file for it was found in {}", BINFMT_D.join(", ")),
                format!("install QEMU user emulation (Debian: apt-get install qemu-user-static), which registers qemu-{arch}"),
            ));
        };
        if !root {
            return Err(missing(
                format!("the binfmt_misc handler qemu-{arch} is not registered"),
                format!(
                    "as root, register it: cat {} > {BINFMT}/register",
                    registration.display()
                ),
            ));
        }
        register(binfmt, &registration).map_err(|e| {
            missing(
                format!(
                    "registering qemu-{arch} from {} failed: {e}",
                    registration.display()
                ),
                format!("cat {} > {BINFMT}/register", registration.display()),
            )
        })?;
    }
    let status = std::fs::read_to_string(&handler).map_err(|e| {
        missing(
            format!("reading {}: {e}", handler.display()),
            "check binfmt_misc".into(),
        )
    })?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name).map(str::trim).map(str::to_owned))
    };
    if status.lines().next() != Some("enabled") {
        return Err(missing(
            format!("the binfmt_misc handler {} is disabled", handler.display()),
            format!("echo 1 > {}", handler.display()),
        ));
    }
    let flags = field("flags:").unwrap_or_default();
    let interpreter = field("interpreter").unwrap_or_default();
    if !flags.contains('F') {
        return Err(missing(
            format!("the binfmt_misc handler qemu-{arch} ({interpreter}) is registered without the fix-binary flag F, so the kernel looks for {interpreter} inside the build's root, where it is not"),
            format!("re-register it with F: echo -1 > {}; then register it again with flags F (Debian's qemu-user-static does: `update-binfmts --enable qemu-{arch}`)", handler.display()),
        ));
    }
    Ok(Runner::Emulated(PathBuf::from(interpreter)))
}

/// Mounts binfmt_misc at `dir`.
fn mount_binfmt(dir: &Path) -> std::io::Result<()> {
    rustix::mount::mount(
        "binfmt_misc",
        dir,
        "binfmt_misc",
        rustix::mount::MountFlags::NOSUID
            | rustix::mount::MountFlags::NODEV
            | rustix::mount::MountFlags::NOEXEC,
        None,
    )
    .map_err(Into::into)
}

/// The first registration file for `qemu-ARCH` in the binfmt.d dirs.
fn registration_file(arch: &str) -> Option<PathBuf> {
    BINFMT_D
        .iter()
        .map(|dir| Path::new(dir).join(format!("qemu-{arch}.conf")))
        .find(|path| path.is_file())
}

/// Registers the handler that `file` (binfmt.d format: one `:name:type:...:flags` line,
/// comments with `#`) describes, adding the fix-binary flag when it lacks it.
fn register(binfmt: &Path, file: &Path) -> std::io::Result<()> {
    let text = std::fs::read_to_string(file)?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(':'))
        .ok_or_else(|| std::io::Error::other("no registration line"))?;
    let mut fields: Vec<String> = line.split(':').map(str::to_owned).collect();
    // `:name:type:offset:magic:mask:interpreter:flags`: 8 fields after the split.
    if fields.len() != 8 {
        return Err(std::io::Error::other(format!(
            "expected :name:type:offset:magic:mask:interpreter:flags, got {line:?}"
        )));
    }
    if !fields[7].contains('F') {
        fields[7].push('F');
    }
    std::fs::write(binfmt.join("register"), fields.join(":"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_runs_its_own_platform() {
        assert_eq!(ensure(&Platform::host()).unwrap(), Runner::Native);
        if Platform::host().architecture == "amd64" {
            assert!(native(&Platform::parse("linux/386").unwrap()));
            assert!(!native(&Platform::parse("linux/arm64").unwrap()));
        }
    }
}
