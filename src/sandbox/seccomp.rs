//! docker's default seccomp profile: the data in `seccomp.toml` (see its header for the
//! format), compiled to a BPF program ([`default_program`]) and installed by the command
//! just before `execve` ([`Filter::install`]).
//!
//! # Why libseccomp
//!
//! docker's filter covers the native architecture and the ones the same CPU runs natively
//! (32-bit x86 on x86_64, 32-bit arm on aarch64): each has its own syscall numbers and
//! audit arch, and the filter must dispatch on the arch. libseccomp (what runc uses) knows
//! every architecture's syscall table and builds that dispatch; `seccompiler` builds a
//! filter for one arch only and kills any process whose arch differs, so a 32-bit binary
//! in an i386 image would die at its first syscall.
//!
//! A command run under qemu-user (a foreign-architecture image) is qemu, a native process:
//! the filter applies to the host syscalls qemu makes, so the native filter is the right
//! one there too.
//!
//! # Newer syscalls
//!
//! A syscall newer than the libseccomp strata is built with cannot be named in the
//! filter; as runc does, such syscalls (numbered above every one the profile names) fail
//! with ENOSYS rather than EPERM, so that libc falls back to their older forms.
//!
//! # Compiled once, installed many times
//!
//! The builder compiles the profile once per process and hands the BPF bytes to every
//! sandbox in its spec; the sandbox only converts them and calls `prctl`. Loading through
//! libseccomp's own `seccomp_load` would need the whole context in the sandbox process,
//! compiled again for every RUN.

use std::collections::BTreeMap;
use std::io::{Read, Seek};
use std::sync::OnceLock;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use rustix::thread::CapabilitySet;
use serde::Deserialize;

use super::caps::DEFAULT_CAPABILITIES;

/// The profile, as data.
const PROFILE: &str = include_str!("seccomp.toml");

/// `seccomp.toml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    /// The errno of every syscall no rule allows.
    default_errno: u16,
    /// Architectures whose syscalls the filter also covers, by native architecture.
    compatible: BTreeMap<String, Vec<String>>,
    /// The rules, in order.
    rule: Vec<Rule>,
}

/// One `[[rule]]` (see the header of `seccomp.toml`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    syscalls: Vec<String>,
    /// Fail the syscalls with this errno instead of allowing them.
    errno: Option<u16>,
    #[serde(default)]
    args: Vec<Arg>,
    #[serde(default)]
    arches: Vec<String>,
    #[serde(default)]
    not_arches: Vec<String>,
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    not_caps: Vec<String>,
    min_kernel: Option<String>,
}

/// A condition on a syscall argument.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Arg {
    index: u32,
    /// The comparison; absent with `mask`.
    op: Option<Op>,
    /// Compare `argument & mask` with `value` for equality.
    mask: Option<u64>,
    value: u64,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Op {
    Eq,
    Lt,
    Gt,
}

/// What a rule's conditions are checked against.
struct Target<'a> {
    /// The native architecture, as Rust names it (`std::env::consts::ARCH`).
    arch: &'a str,
    /// The running kernel's (major, minor) version.
    kernel: (u32, u32),
    /// The capabilities the sandboxed command holds.
    caps: CapabilitySet,
}

impl Rule {
    /// Whether the rule is part of the filter for `target`.
    fn applies(&self, target: &Target<'_>) -> Result<bool, String> {
        let has = |name: &String| -> Result<bool, String> {
            CapabilitySet::from_name(name)
                .map(|cap| target.caps.contains(cap))
                .ok_or_else(|| format!("seccomp profile: unknown capability {name:?}"))
        };
        for cap in &self.caps {
            if !has(cap)? {
                return Ok(false);
            }
        }
        for cap in &self.not_caps {
            if has(cap)? {
                return Ok(false);
            }
        }
        if !self.arches.is_empty() && !self.arches.iter().any(|a| a == target.arch) {
            return Ok(false);
        }
        if self.not_arches.iter().any(|a| a == target.arch) {
            return Ok(false);
        }
        if let Some(min) = &self.min_kernel {
            let min = parse_version(min)
                .ok_or_else(|| format!("seccomp profile: bad min_kernel {min:?}"))?;
            if target.kernel < min {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The libseccomp form of the argument conditions.
    fn comparisons(&self) -> Vec<ScmpArgCompare> {
        self.args
            .iter()
            .map(|arg| {
                let op = match (arg.mask, arg.op) {
                    (Some(mask), _) => ScmpCompareOp::MaskedEqual(mask),
                    (None, Some(Op::Lt)) => ScmpCompareOp::Less,
                    (None, Some(Op::Gt)) => ScmpCompareOp::Greater,
                    (None, Some(Op::Eq) | None) => ScmpCompareOp::Equal,
                };
                ScmpArgCompare::new(arg.index, op, arg.value)
            })
            .collect()
    }
}

/// `major.minor[.anything]` -> (major, minor).
fn parse_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.split(['.', '-', '+']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map_or(Some(0), |m| m.parse().ok())?;
    Some((major, minor))
}

/// libseccomp's architecture for a Rust architecture name (or the profile's `x32`).
fn scmp_arch(name: &str) -> Result<ScmpArch, String> {
    Ok(match name {
        "x86_64" => ScmpArch::X8664,
        "x86" => ScmpArch::X86,
        "x32" => ScmpArch::X32,
        "aarch64" => ScmpArch::Aarch64,
        "arm" => ScmpArch::Arm,
        "riscv64" => ScmpArch::Riscv64,
        "s390x" => ScmpArch::S390X,
        "loongarch64" => ScmpArch::Loongarch64,
        other => return Err(format!("seccomp: no filter for architecture {other:?}")),
    })
}

/// Compiles the profile for `target` into a BPF program (the kernel's `sock_filter`
/// array, in native byte order).
fn compile(target: &Target<'_>) -> Result<Vec<u8>, String> {
    let fail = |what: &str, e: libseccomp::error::SeccompError| format!("seccomp: {what}: {e}");
    let profile: Profile = toml::from_str(PROFILE).map_err(|e| format!("seccomp profile: {e}"))?;
    let mut ctx = ScmpFilterContext::new(ScmpAction::Errno(profile.default_errno.into()))
        .map_err(|e| fail("new filter", e))?;
    // A new context holds the arch libseccomp was built for; compiling for another one
    // (the tests do) swaps it.
    let arch = scmp_arch(target.arch)?;
    if arch != ScmpArch::native() {
        ctx.add_arch(arch)
            .and_then(|ctx| ctx.remove_arch(ScmpArch::native()))
            .map_err(|e| fail(&format!("arch {}", target.arch), e))?;
    }
    for arch in profile.compatible.get(target.arch).into_iter().flatten() {
        ctx.add_arch(scmp_arch(arch)?)
            .map_err(|e| fail(&format!("adding arch {arch}"), e))?;
    }
    for rule in &profile.rule {
        if !rule.applies(target)? {
            continue;
        }
        let action = rule
            .errno
            .map_or(ScmpAction::Allow, |errno| ScmpAction::Errno(errno.into()));
        let comparisons = rule.comparisons();
        for name in &rule.syscalls {
            // A name this libseccomp does not know (a syscall newer than it, or one of
            // another architecture family) cannot be made by this kernel's programs
            // through any number the filter would see: skip it, as runc does.
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                continue;
            };
            let added = if comparisons.is_empty() {
                ctx.add_rule(action, syscall)
            } else {
                ctx.add_rule_conditional(action, syscall, &comparisons)
            };
            added.map_err(|e| fail(&format!("rule for {name}"), e))?;
        }
    }
    let mut file = tempfile::tempfile().map_err(|e| format!("seccomp: temp file: {e}"))?;
    ctx.export_bpf(&file)
        .map_err(|e| fail("exporting BPF", e))?;
    let mut program = Vec::new();
    file.rewind()
        .and_then(|()| file.read_to_end(&mut program))
        .map_err(|e| format!("seccomp: reading the BPF back: {e}"))?;
    let newest = profile
        .rule
        .iter()
        .flat_map(|rule| &rule.syscalls)
        .filter_map(|name| ScmpSyscall::from_name_by_arch(name, arch).ok())
        .filter_map(|syscall| u32::try_from(i32::from(syscall)).ok())
        .max()
        .ok_or("seccomp profile: no syscall known")?;
    let mut bpf = enosys_stub(audit_arch(target.arch)?, newest);
    bpf.extend(program);
    Ok(bpf)
}

/// The kernel's `AUDIT_ARCH_*` (linux/audit.h) of a native architecture, which
/// `seccomp_data.arch` holds.
fn audit_arch(name: &str) -> Result<u32, String> {
    Ok(match name {
        "x86_64" => 0xc000_003e,
        "aarch64" => 0xc000_00b7,
        "riscv64" => 0xc000_00f3,
        "s390x" => 0x8000_0016,
        "loongarch64" => 0xc000_0102,
        other => return Err(format!("seccomp: no filter for architecture {other:?}")),
    })
}

/// Flag of x32 syscall numbers (they share x86_64's audit arch).
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// runc's ENOSYS stub, run before libseccomp's program: a native syscall numbered above
/// `newest` (the highest the profile names that this libseccomp knows) is newer than the
/// profile as compiled, and fails with ENOSYS instead of the default EPERM, so that libc
/// falls back to the older call (glibc's `fchmodat` tries `fchmodat2` first). Returns
/// BPF bytes, as libseccomp exports them.
fn enosys_stub(arch: u32, newest: u32) -> Vec<u8> {
    use libc::{BPF_ABS, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W};
    // Offsets of `seccomp_data.nr` and `.arch`.
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    #[allow(clippy::cast_possible_truncation)] // BPF opcodes are 16-bit
    let load = (BPF_LD | BPF_W | BPF_ABS) as u16;
    #[allow(clippy::cast_possible_truncation)]
    let jump = |op: u32| (BPF_JMP | op | BPF_K) as u16;
    #[allow(clippy::cast_possible_truncation)]
    let ret = (BPF_RET | BPF_K) as u16;
    // (code, jt, jf, k); a jump skips that many instructions, and the one after the
    // stub is libseccomp's first.
    let stub: [(u16, u8, u8, u32); 6] = [
        (load, 0, 0, ARCH),
        (jump(BPF_JEQ), 0, 4, arch),
        (load, 0, 0, NR),
        (jump(BPF_JGE), 2, 0, X32_SYSCALL_BIT),
        (jump(BPF_JGT), 0, 1, newest),
        (
            ret,
            0,
            0,
            libc::SECCOMP_RET_ERRNO | libc::ENOSYS.unsigned_abs(),
        ),
    ];
    stub.iter()
        .flat_map(|&(code, jt, jf, k)| {
            let mut bytes = code.to_ne_bytes().to_vec();
            bytes.extend([jt, jf]);
            bytes.extend(k.to_ne_bytes());
            bytes
        })
        .collect()
}

/// The BPF program of docker's default profile for this machine and strata's default
/// capabilities, compiled on first use and kept for the life of the process.
pub(super) fn default_program() -> Result<&'static [u8], String> {
    static PROGRAM: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
    PROGRAM
        .get_or_init(|| {
            let release = rustix::system::uname();
            let release = release.release().to_string_lossy();
            compile(&Target {
                arch: std::env::consts::ARCH,
                // An unparsable release drops only the rules that need a newer kernel.
                kernel: parse_version(&release).unwrap_or((0, 0)),
                caps: DEFAULT_CAPABILITIES,
            })
        })
        .as_deref()
        .map_err(Clone::clone)
}

/// A BPF program ready for the kernel.
pub(super) struct Filter(Vec<libc::sock_filter>);

impl Filter {
    /// Reads the bytes of [`default_program`] back into instructions.
    pub(super) fn from_bpf(bytes: &[u8]) -> Result<Filter, String> {
        if bytes.is_empty() || bytes.len() % 8 != 0 {
            return Err(format!(
                "seccomp: a BPF program of {} bytes is not a whole number of instructions",
                bytes.len()
            ));
        }
        let instructions = bytes
            .chunks_exact(8)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        Ok(Filter(instructions))
    }

    /// Installs the filter on this process (and so on everything it execs and forks).
    /// Needs `no_new_privs` or `CAP_SYS_ADMIN`.
    pub(super) fn install(&self) -> Result<(), String> {
        let len = u16::try_from(self.0.len())
            .map_err(|_| format!("seccomp: {} instructions are too many", self.0.len()))?;
        let program = libc::sock_fprog {
            len,
            filter: self.0.as_ptr().cast_mut(),
        };
        // SAFETY: `program` points at `len` valid instructions that outlive the call; the
        // kernel copies them.
        let rc = unsafe {
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &raw const program,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(format!(
                "installing the seccomp filter: {}",
                std::io::Error::last_os_error()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(arch: &str, caps: CapabilitySet) -> Target<'_> {
        Target {
            arch,
            kernel: (6, 1),
            caps,
        }
    }

    fn rule_for<'a>(profile: &'a Profile, syscall: &str, args: bool) -> &'a Rule {
        profile
            .rule
            .iter()
            .find(|r| r.syscalls.iter().any(|s| s == syscall) && r.args.is_empty() != args)
            .unwrap()
    }

    #[test]
    fn capability_groups_follow_the_default_set() {
        let profile: Profile = toml::from_str(PROFILE).unwrap();
        let default = target("x86_64", DEFAULT_CAPABILITIES);
        let full = target("x86_64", CapabilitySet::all());
        // chroot needs SYS_CHROOT, which the default set holds; mount needs SYS_ADMIN.
        assert!(rule_for(&profile, "chroot", false)
            .applies(&default)
            .unwrap());
        assert!(!rule_for(&profile, "mount", false)
            .applies(&default)
            .unwrap());
        assert!(rule_for(&profile, "mount", false).applies(&full).unwrap());
        // Without SYS_ADMIN, clone is allowed only without namespace flags.
        let clone = rule_for(&profile, "clone", true);
        assert!(clone.applies(&default).unwrap());
        assert!(!clone.applies(&full).unwrap());
        assert!(!rule_for(&profile, "syslog", false)
            .applies(&default)
            .unwrap());
    }

    #[test]
    fn arch_and_kernel_conditions() {
        let profile: Profile = toml::from_str(PROFILE).unwrap();
        let arch_prctl = rule_for(&profile, "arch_prctl", false);
        assert!(arch_prctl
            .applies(&target("x86_64", DEFAULT_CAPABILITIES))
            .unwrap());
        assert!(!arch_prctl
            .applies(&target("aarch64", DEFAULT_CAPABILITIES))
            .unwrap());
        let ptrace = rule_for(&profile, "ptrace", false);
        let mut old = target("x86_64", DEFAULT_CAPABILITIES);
        old.kernel = (4, 4);
        assert!(!ptrace.applies(&old).unwrap());
        assert_eq!(parse_version("6.1.0-37-amd64"), Some((6, 1)));
        assert_eq!(parse_version("4.8"), Some((4, 8)));
    }

    #[test]
    fn the_profile_compiles_for_the_supported_arches() {
        for arch in ["x86_64", "aarch64"] {
            let bpf = compile(&target(arch, DEFAULT_CAPABILITIES)).unwrap();
            assert!(Filter::from_bpf(&bpf).unwrap().0.len() > 100, "{arch}");
        }
        assert!(Filter::from_bpf(&[0; 7]).is_err());
    }

    /// Installs the default filter in a forked child and returns the errno of each of
    /// `calls` there (0: it succeeded).
    fn errnos_under_the_filter(calls: &[(libc::c_long, [libc::c_long; 2])]) -> Vec<i32> {
        let filter = Filter::from_bpf(default_program().unwrap()).unwrap();
        let mut fds = [0; 2];
        // SAFETY: a pipe into a plain array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: the child makes only raw syscalls on memory prepared before the fork,
        // then `_exit`s.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let mut out = Vec::with_capacity(calls.len());
            // SAFETY: see above; every argument is a plain integer.
            unsafe {
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                    || filter.install().is_err()
                {
                    libc::_exit(1);
                }
                for &(nr, [a, b]) in calls {
                    let rc = libc::syscall(nr, a, b, 0, 0, 0);
                    out.push(if rc < 0 { *libc::__errno_location() } else { 0 });
                }
                libc::write(fds[1], out.as_ptr().cast(), out.len() * 4);
                libc::_exit(0);
            }
        }
        let mut out = vec![0i32; calls.len()];
        let mut status = 0;
        // SAFETY: reading into a buffer of the right size; waiting for our own child.
        unsafe {
            libc::close(fds[1]);
            assert_eq!(
                libc::read(fds[0], out.as_mut_ptr().cast(), out.len() * 4),
                isize::try_from(out.len() * 4).unwrap()
            );
            libc::waitpid(pid, &raw mut status, 0);
            libc::close(fds[0]);
        }
        assert_eq!(status, 0);
        out
    }

    #[test]
    fn the_filter_denies_and_allows_in_a_real_process() {
        let newest = Filter::from_bpf(default_program().unwrap()).unwrap().0[4].k;
        let calls = [
            (libc::SYS_getpid, [0, 0]),
            // A new user namespace needs no privilege outside the filter.
            (
                libc::SYS_unshare,
                [libc::c_long::from(libc::CLONE_NEWUSER), 0],
            ),
            (libc::SYS_kexec_load, [0, 0]),
            (libc::SYS_personality, [0xffff_ffff, 0]),
            (libc::SYS_personality, [0x0040_0000, 0]), // READ_IMPLIES_EXEC
            (libc::c_long::from(newest) + 1, [0, 0]),
        ];
        assert_eq!(
            errnos_under_the_filter(&calls),
            [0, libc::EPERM, libc::EPERM, 0, libc::EPERM, libc::ENOSYS]
        );
    }

    #[test]
    fn syscalls_newer_than_the_profile_get_enosys() {
        let bpf = compile(&target("x86_64", DEFAULT_CAPABILITIES)).unwrap();
        let filter = Filter::from_bpf(&bpf).unwrap();
        let stub = &filter.0[..6];
        assert_eq!(stub[1].k, 0xc000_003e);
        // openat2 (437 on x86_64) is older than the newest syscall the profile names.
        assert!(stub[4].k >= 437, "{}", stub[4].k);
        assert_eq!(stub[5].k, libc::SECCOMP_RET_ERRNO | 38);
    }
}
