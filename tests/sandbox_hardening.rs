//! The sandbox of RUN and `strata run` is docker's default profile (issue 14): docker's
//! capability set, its seccomp filter, `no_new_privs`, runc's masked and read-only paths.
//! Probed from inside real builds and runs through the CLI: mounts, new namespaces,
//! writes to `/proc/sys` and `/proc/sysrq-trigger`, `/sys/firmware`, dmesg, kallsyms
//! addresses and `/proc/kcore` all fail or show nothing, and the host's
//! `kernel.printk_ratelimit` (which a RUN could change before) is unchanged. With
//! `RUN --security=insecure` (allowed by `--allow security.insecure`) and
//! `strata run --privileged` the command has the full set; without `--allow` the build
//! stops at the step's line and leaves the store as it was.

mod common;

use std::fs;

use common::{context_with, require_environment, run_ok, Store, BASE};

/// Docker's default capability set, as `/proc/self/status` shows it.
const DOCKER_CAPS: &str = "00000000a80425fb";

/// A sysctl that no namespace covers: writing it in a sandbox would change the host.
const PRINTK_RATELIMIT: &str = "/proc/sys/kernel/printk_ratelimit";

/// Probes that change nothing, one `name=result` line each (plus the status lines).
const READ_PROBES: &str = r#"grep -E '^(CapEff|CapBnd|Seccomp|NoNewPrivs):' /proc/self/status
mkdir -p /probe-mnt
mount -t tmpfs probe /probe-mnt 2>/dev/null && echo mount-tmpfs=ok && umount /probe-mnt || echo mount-tmpfs=denied
mount -t cgroup -o none,name=probe probe /probe-mnt 2>/dev/null && echo mount-cgroup=ok && umount /probe-mnt || echo mount-cgroup=denied
for ns in U m n; do unshare -$ns true 2>/dev/null && echo unshare-$ns=ok || echo unshare-$ns=denied; done
echo firmware=$(ls /sys/firmware 2>/dev/null | wc -l)
dmesg >/dev/null 2>&1 && echo dmesg=ok || echo dmesg=denied
echo kallsyms-lines=$(wc -l < /proc/kallsyms)
echo kallsyms-nonzero=$(grep -vc '^0000000000000000 ' /proc/kallsyms)
echo kcore=$(cat /proc/kcore 2>/dev/null | head -c 16 | wc -c)
echo proc-sys-mount=$(grep -c ' /proc/sys proc ro,' /proc/mounts)
"#;

/// Probes that would change the host if they succeeded: only for the confined sandbox.
const WRITE_PROBES: &str = r#"v=$(cat /proc/sys/kernel/printk_ratelimit)
{ echo $((v + 1)) > /proc/sys/kernel/printk_ratelimit; } 2>/dev/null && echo sysctl=written || echo sysctl=denied
{ echo h > /proc/sysrq-trigger; } 2>/dev/null && echo sysrq=written || echo sysrq=denied
"#;

/// The host's `kernel.printk_ratelimit`.
fn printk_ratelimit() -> String {
    fs::read_to_string(PRINTK_RATELIMIT).unwrap()
}

/// A status line of this (the test's) process, e.g. the host's full `CapEff`.
fn own_status(field: &str) -> String {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:\t")))
        .unwrap()
        .to_owned()
}

/// The host's count of entries in /sys/firmware.
fn host_firmware_entries() -> usize {
    fs::read_dir("/sys/firmware").map_or(0, Iterator::count)
}

/// Checks the probe output of a command under docker's default confinement.
fn assert_confined(out: &str) {
    for line in [
        format!("CapEff:\t{DOCKER_CAPS}"),
        format!("CapBnd:\t{DOCKER_CAPS}"),
        "Seccomp:\t2".to_owned(),
        "NoNewPrivs:\t1".to_owned(),
        "mount-tmpfs=denied".to_owned(),
        "mount-cgroup=denied".to_owned(),
        "unshare-U=denied".to_owned(),
        "unshare-m=denied".to_owned(),
        "unshare-n=denied".to_owned(),
        "sysctl=denied".to_owned(),
        "sysrq=denied".to_owned(),
        "firmware=0".to_owned(),
        "dmesg=denied".to_owned(),
        "kallsyms-nonzero=0".to_owned(),
        "kcore=0".to_owned(),
        "proc-sys-mount=1".to_owned(),
    ] {
        assert!(
            out.lines().any(|l| l.ends_with(&line)),
            "missing {line:?} in:\n{out}"
        );
    }
    // The kallsyms check means something only if the file lists symbols.
    assert!(!out.contains("kallsyms-lines=0\n"), "{out}");
}

/// Checks the probe output of a privileged command: the host's capabilities, no filter.
fn assert_privileged(out: &str) {
    for line in [
        format!("CapEff:\t{}", own_status("CapEff")),
        format!("CapBnd:\t{}", own_status("CapBnd")),
        "Seccomp:\t0".to_owned(),
        "NoNewPrivs:\t0".to_owned(),
        "mount-tmpfs=ok".to_owned(),
        "unshare-m=ok".to_owned(),
        format!("firmware={}", host_firmware_entries()),
        "proc-sys-mount=0".to_owned(),
    ] {
        assert!(
            out.lines().any(|l| l.ends_with(&line)),
            "missing {line:?} in:\n{out}"
        );
    }
}

/// `RUN <probes>` as a Dockerfile line, in exec form so no quoting gets in the way.
fn run_line(flags: &str, script: &str) -> String {
    let script = serde_json::to_string(script).unwrap();
    format!("RUN {flags}[\"/bin/sh\", \"-c\", {script}]\n")
}

/// Output (stdout and stderr) of a build that must succeed.
fn build_output(store: &Store, ctx: &std::path::Path, flags: &[&str]) -> String {
    let out = run_ok(
        store
            .strata()
            .args(["build", "--progress", "plain", "-t", "probe:1"])
            .args(flags)
            .arg(ctx),
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
#[ignore = "needs root: make test"]
fn run_steps_get_dockers_default_confinement() {
    require_environment();
    let before = printk_ratelimit();
    let store = Store::new();
    let ctx = context_with(&format!(
        "{BASE}{}",
        run_line("", &format!("{READ_PROBES}{WRITE_PROBES}"))
    ));
    let out = build_output(&store, ctx.path(), &["--no-cache"]);
    assert_confined(&out);
    assert_eq!(
        printk_ratelimit(),
        before,
        "a RUN step changed a host sysctl"
    );
}

#[test]
#[ignore = "needs root: make test"]
fn strata_run_gets_dockers_default_confinement() {
    require_environment();
    let before = printk_ratelimit();
    let store = Store::new();
    let ctx = context_with(BASE);
    store.build(ctx.path(), "probe:1", &[]);
    let out = store.sh("probe:1", &format!("{READ_PROBES}{WRITE_PROBES}"));
    assert_confined(&out);
    assert_eq!(
        printk_ratelimit(),
        before,
        "strata run changed a host sysctl"
    );

    let out = run_ok(store.strata().args([
        "run",
        "--privileged",
        "probe:1",
        "--",
        "sh",
        "-c",
        READ_PROBES,
    ]));
    assert_privileged(&String::from_utf8_lossy(&out.stdout));
}

#[test]
#[ignore = "needs root: make test"]
fn security_insecure_runs_with_full_privileges_when_allowed() {
    require_environment();
    let store = Store::new();
    let ctx = context_with(&format!(
        "{BASE}{}",
        run_line("--security=insecure ", READ_PROBES)
    ));
    let out = build_output(
        &store,
        ctx.path(),
        &["--no-cache", "--allow", "security.insecure"],
    );
    assert_privileged(&out);
}

#[test]
#[ignore = "needs root: make test"]
fn security_insecure_without_allow_is_a_located_error() {
    require_environment();
    let store = Store::seeded();
    let ctx = context_with(&format!("{BASE}RUN --security=insecure touch /x\n"));
    // Exit 2 and the store untouched: checked by build_fails.
    let stderr = store.build_fails(ctx.path(), &[]);
    assert!(
        stderr
            .contains("Dockerfile:4:5: RUN --security=insecure: security.insecure is not allowed"),
        "{stderr}"
    );
    assert!(stderr.contains("--allow security.insecure"), "{stderr}");
    // `network.host` alone grants nothing more.
    let stderr = store.build_fails(ctx.path(), &["--allow", "network.host"]);
    assert!(
        stderr.contains("security.insecure is not allowed"),
        "{stderr}"
    );
}

#[test]
#[ignore = "needs root: make test"]
fn the_security_mode_is_part_of_the_cache_key() {
    require_environment();
    let store = Store::new();
    let plain = context_with(&format!("{BASE}RUN echo same > /f\n"));
    store.build(plain.path(), "plain:1", &[]);
    let insecure = context_with(&format!("{BASE}RUN --security=insecure echo same > /f\n"));
    let out = build_output(&store, insecure.path(), &["--allow", "security.insecure"]);
    // COPY and the busybox install come from the cache, the RUN does not.
    assert!(out.contains("1 steps run, 2 cached"), "{out}");
}
