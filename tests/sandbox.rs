//! The RUN sandbox end to end: real overlays, namespaces and busybox-static (needs root).

use std::collections::BTreeSet;
use std::path::PathBuf;

use strata::sandbox::{run, Network, Output, Overlay, RunSpec, SandboxError};

const APPLETS: [&str; 11] = [
    "sh", "cat", "echo", "id", "ls", "hostname", "mkdir", "pwd", "kill", "printf", "sleep",
];

/// A busybox image of one lower dir plus a fresh upper and work dir.
struct Sandbox {
    tmp: tempfile::TempDir,
    lower: Vec<PathBuf>,
}

impl Sandbox {
    fn new() -> Sandbox {
        // SAFETY (edition 2021: set_var is safe): every test sets the same value.
        std::env::set_var("STRATA_EXE", env!("CARGO_BIN_EXE_strata"));
        let tmp = tempfile::tempdir().unwrap();
        let lower = tmp.path().join("lower");
        fs_err::create_dir_all(lower.join("bin")).unwrap();
        fs_err::copy("/bin/busybox", lower.join("bin/busybox")).unwrap();
        for applet in APPLETS {
            std::os::unix::fs::symlink("busybox", lower.join("bin").join(applet)).unwrap();
        }
        for dir in ["upper", "work"] {
            fs_err::create_dir(tmp.path().join(dir)).unwrap();
        }
        Sandbox {
            lower: vec![lower],
            tmp,
        }
    }

    fn upper(&self) -> PathBuf {
        self.tmp.path().join("upper")
    }

    fn spec(&self, script: &str) -> RunSpec {
        RunSpec {
            lower: self.lower.clone(),
            upper: self.upper(),
            work: self.tmp.path().join("work"),
            args: vec!["/bin/sh".into(), "-c".into(), script.into()],
            env: vec![],
            cwd: "/".into(),
            user: String::new(),
            network: Network::Host,
            hostname: "strata-test".into(),
            stdin: None,
            mounts: Vec::new(),
        }
    }

    /// Runs `script` and returns its exit code and output lines.
    fn sh(&self, script: &str) -> (i32, Vec<String>) {
        run_lines(&self.spec(script))
    }

    /// Every path in the upper dir, relative.
    fn upper_entries(&self) -> BTreeSet<String> {
        walkdir::WalkDir::new(self.upper())
            .min_depth(1)
            .into_iter()
            .map(|e| {
                e.unwrap()
                    .path()
                    .strip_prefix(self.upper())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }
}

fn run_lines(spec: &RunSpec) -> (i32, Vec<String>) {
    let mut lines = Vec::new();
    let code = run(
        spec,
        Output::Lines(&mut |line| lines.push(String::from_utf8_lossy(line).into_owned())),
    )
    .unwrap();
    (code, lines)
}

fn set(entries: &[&str]) -> BTreeSet<String> {
    entries.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn output_lines_keep_order_and_exit_code_passes_through() {
    let sb = Sandbox::new();
    assert_eq!(
        sb.sh("echo out; echo err >&2; printf 'no newline'; exit 7"),
        (7, vec!["out".into(), "err".into(), "no newline".into()])
    );
    assert_eq!(sb.sh("kill -9 $$").0, 128 + 9);
}

#[test]
fn lines_stream_before_the_command_ends() {
    let sb = Sandbox::new();
    let start = std::time::Instant::now();
    let mut seen = Vec::new();
    let code = run(
        &sb.spec("echo first; sleep 2; echo second"),
        Output::Lines(&mut |line| {
            seen.push((String::from_utf8_lossy(line).into_owned(), start.elapsed()))
        }),
    );
    assert_eq!(code.unwrap(), 0);
    assert_eq!(seen.len(), 2);
    assert!(
        seen[0].1 < std::time::Duration::from_millis(1500),
        "{seen:?}"
    );
    assert!(seen[1].1 >= std::time::Duration::from_secs(2), "{seen:?}");
}

/// `strata run`: stdio inherited; background processes die with the command.
#[test]
fn inherited_output_and_orphans_killed() {
    let sb = Sandbox::new();
    let spec = sb.spec("sleep 30 & exit 3");
    let start = std::time::Instant::now();
    assert_eq!(run(&spec, Output::Inherit).unwrap(), 3);
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn users_from_ids_and_passwd() {
    let sb = Sandbox::new();
    let etc = sb.lower[0].join("etc");
    fs_err::create_dir(&etc).unwrap();
    fs_err::write(
        etc.join("passwd"),
        "root:x:0:0:root:/root:/bin/sh\nalice:x:1234:1300:Alice:/home/alice:/bin/sh\n",
    )
    .unwrap();
    fs_err::write(
        etc.join("group"),
        "root:x:0:\nalice:x:1300:\nwheel:x:10:alice\n",
    )
    .unwrap();
    let as_user = |user: &str| {
        let mut spec = sb.spec("id -u; id -g; id -G; echo $HOME");
        spec.user = user.into();
        run_lines(&spec)
    };
    assert_eq!(
        as_user("1000"),
        (0, vec!["1000".into(), "0".into(), "0".into(), "/".into()])
    );
    assert_eq!(
        as_user("alice"),
        (
            0,
            vec![
                "1234".into(),
                "1300".into(),
                "1300 10".into(),
                "/home/alice".into()
            ]
        )
    );
    assert_eq!(
        as_user(""),
        (0, vec!["0".into(), "0".into(), "0".into(), "/root".into()])
    );
    let mut spec = sb.spec("true");
    spec.user = "bob".into();
    match run(&spec, Output::Lines(&mut |_| {})) {
        Err(SandboxError::Setup(message)) => {
            assert!(message.contains("unable to find user bob"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn namespaces_pid_hostname_and_no_network() {
    let sb = Sandbox::new();
    let (code, lines) = sb.sh("echo $$; hostname; cat /proc/net/dev");
    assert_eq!(code, 0);
    assert!(lines[0].parse::<u32>().unwrap() <= 2, "{lines:?}");
    assert_eq!(lines[1], "strata-test");
    assert!(
        lines
            .iter()
            .skip(4)
            .any(|l| !l.trim_start().starts_with("lo:")),
        "host network expected: {lines:?}"
    );

    let mut spec = sb.spec("cat /proc/net/dev; cat /sys/class/net/lo/operstate");
    spec.network = Network::None;
    let (code, lines) = run_lines(&spec);
    assert_eq!(code, 0);
    let interfaces: Vec<&str> = lines[2..lines.len() - 1]
        .iter()
        .map(|l| l.split(':').next().unwrap().trim())
        .collect();
    assert_eq!(interfaces, ["lo"], "{lines:?}");
}

#[test]
fn mountpoints_never_reach_the_upper_dir() {
    let sb = Sandbox::new();
    let (code, lines) = sb.sh(
        "ls /proc/self/ >/dev/null && ls /sys/kernel >/dev/null && test -c /dev/null && test -d /dev/pts \
         && test -d /run && cat /etc/resolv.conf >/dev/null && cat /etc/hosts >/dev/null \
         && ! (echo x >> /etc/resolv.conf) 2>/dev/null && echo hi > /hello && echo ok",
    );
    assert_eq!((code, lines), (0, vec!["ok".to_owned()]));
    assert_eq!(sb.upper_entries(), set(&["hello"]));
}

#[test]
fn writing_etc_in_an_image_without_etc_keeps_only_the_users_files() {
    let sb = Sandbox::new();
    assert_eq!(sb.sh("echo x > /etc/foo").0, 0);
    assert_eq!(sb.upper_entries(), set(&["etc", "etc/foo"]));
    let etc = fs_err::metadata(sb.upper().join("etc")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::mode(&etc) & 0o7777, 0o755);
}

#[test]
fn host_files_are_mounted_over_the_images_etc() {
    let sb = Sandbox::new();
    fs_err::create_dir(sb.lower[0].join("etc")).unwrap();
    fs_err::write(sb.lower[0].join("etc/hosts"), "image's own\n").unwrap();
    let (code, lines) = sb.sh("cat /etc/hosts; echo x > /etc/foo");
    assert_eq!(code, 0);
    let host: Vec<String> = fs_err::read_to_string("/etc/hosts")
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines, host);
    assert_eq!(sb.upper_entries(), set(&["etc", "etc/foo"]));
    assert_eq!(
        fs_err::read_to_string(sb.lower[0].join("etc/hosts")).unwrap(),
        "image's own\n"
    );
}

#[test]
fn stdin_bytes_reach_the_command() {
    let sb = Sandbox::new();
    let mut spec = sb.spec("cat; echo done");
    spec.stdin = Some(b"line 1\nline 2\n".to_vec());
    assert_eq!(
        run_lines(&spec),
        (0, vec!["line 1".into(), "line 2".into(), "done".into()])
    );
    // Without stdin bytes, stdin is /dev/null.
    assert_eq!(sb.sh("cat; echo done"), (0, vec!["done".into()]));
}

#[test]
fn many_lower_dirs() {
    let mut sb = Sandbox::new();
    for i in 0..149 {
        let dir = sb.tmp.path().join(format!(
            "layer-{i:03}-{}",
            "long-store-path-component".repeat(3)
        ));
        fs_err::create_dir(&dir).unwrap();
        fs_err::write(dir.join(format!("f{i}")), format!("{i}\n")).unwrap();
        fs_err::write(dir.join("top"), format!("{i}\n")).unwrap();
        sb.lower.push(dir);
    }
    assert_eq!(sb.lower.len(), 150);
    assert_eq!(
        sb.sh("cat /top /f0 /f148"),
        (0, vec!["0".into(), "0".into(), "148".into()])
    );
}

#[test]
fn cwd_env_and_path_lookup() {
    let sb = Sandbox::new();
    let mut spec = sb.spec("");
    spec.args = vec![
        "sh".into(),
        "-c".into(),
        "pwd; echo $PATH; echo $FOO".into(),
    ];
    spec.cwd = "/work/dir".into();
    spec.env = vec!["FOO=bar".into()];
    let default_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    assert_eq!(
        run_lines(&spec),
        (
            0,
            vec!["/work/dir".into(), default_path.into(), "bar".into()]
        )
    );
    assert_eq!(sb.upper_entries(), set(&["work", "work/dir"]));
}

#[test]
fn exec_failures_are_errors() {
    let sb = Sandbox::new();
    let mut spec = sb.spec("");
    spec.args = vec!["nonexistent".into()];
    match run(&spec, Output::Lines(&mut |_| {})) {
        Err(SandboxError::Exec { command, reason }) => {
            assert_eq!(command, "nonexistent");
            assert!(reason.contains("not found in $PATH"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    fs_err::write(sb.lower[0].join("not-executable"), "").unwrap();
    spec.args = vec!["/not-executable".into()];
    assert!(matches!(
        run(&spec, Output::Lines(&mut |_| {})),
        Err(SandboxError::Exec { .. })
    ));
}

/// FROM scratch: no lower dir at all.
#[test]
fn empty_lower_runs_nothing_but_sets_up() {
    let sb = Sandbox::new();
    let mut spec = sb.spec("");
    spec.lower.clear();
    assert!(matches!(
        run(&spec, Output::Lines(&mut |_| {})),
        Err(SandboxError::Exec { .. })
    ));
    assert!(sb.upper_entries().is_empty(), "{:?}", sb.upper_entries());
}

#[test]
fn overlay_mount_with_empty_lower() {
    let sb = Sandbox::new();
    let target = sb.tmp.path().join("merged");
    fs_err::create_dir(&target).unwrap();
    std::thread::scope(|s| {
        // Mount in a thread with its own mount namespace, as the builder's process has.
        s.spawn(|| {
            // In a thread, the new mount namespace is this thread's alone.
            strata::sandbox::enter_private_mount_namespace().unwrap();
            let overlay =
                Overlay::mount(&[], &sb.upper(), &sb.tmp.path().join("work"), &target).unwrap();
            fs_err::write(overlay.target().join("file"), "x").unwrap();
            drop(overlay);
            assert!(!target.join("file").exists());
        })
        .join()
        .unwrap();
    });
    assert_eq!(sb.upper_entries(), set(&["file"]));
    let leftovers: Vec<_> = fs_err::read_dir(sb.tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        4,
        "the empty lower dir is removed: {leftovers:?}"
    );
}

/// A lower layer with an opaque /etc hides the skeleton's mountpoint files: they are then
/// created in the merged dir and removed from the upper dir afterwards.
#[test]
fn opaque_etc_in_a_lower_layer() {
    let mut sb = Sandbox::new();
    let top = sb.tmp.path().join("top");
    fs_err::create_dir_all(top.join("etc")).unwrap();
    xattr::set(top.join("etc"), "trusted.overlay.opaque", b"y").unwrap();
    sb.lower.insert(0, top);
    let host = fs_err::read_to_string("/etc/hosts").unwrap();
    let (code, lines) = sb.sh("cat /etc/hosts");
    assert_eq!((code, lines.join("\n")), (0, host.trim_end().to_owned()));
    assert!(sb.upper_entries().is_empty(), "{:?}", sb.upper_entries());
    assert_eq!(sb.sh("echo x > /etc/foo").0, 0);
    assert_eq!(sb.upper_entries(), set(&["etc", "etc/foo"]));
}
