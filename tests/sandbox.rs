//! The RUN sandbox end to end: real overlays, namespaces and busybox-static (needs root).

use std::collections::BTreeSet;
use std::path::PathBuf;

use strata::sandbox::{run, Mount, Network, Output, RunSpec, SandboxError};
use strata::snapshot::Overlay;

const APPLETS: [&str; 18] = [
    "sh", "cat", "echo", "id", "ls", "hostname", "mkdir", "pwd", "kill", "printf", "sleep", "test",
    "touch", "grep", "stat", "dd", "df", "rm",
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
            tty: None,
            options: Default::default(),
            security: Default::default(),
        }
    }

    /// Runs `script` and returns its exit code and output lines.
    fn sh(&self, script: &str) -> (i32, Vec<String>) {
        run_lines(&self.spec(script))
    }

    /// Runs `script` with `mounts`.
    fn sh_with(&self, script: &str, mounts: Vec<Mount>) -> (i32, Vec<String>) {
        let mut spec = self.spec(script);
        spec.mounts = mounts;
        run_lines(&spec)
    }

    /// Runs `true` with `mounts` and returns the setup error.
    fn setup_error(&self, mounts: Vec<Mount>) -> String {
        let mut spec = self.spec("true");
        spec.mounts = mounts;
        match run(&spec, Output::Lines(&mut |_| {})) {
            Err(SandboxError::Setup(message)) => message,
            other => panic!("{other:?}"),
        }
    }

    /// A fresh host dir under the test's temp dir.
    fn host_dir(&self, name: &str) -> PathBuf {
        let dir = self.tmp.path().join(name);
        fs_err::create_dir(&dir).unwrap();
        dir
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
#[ignore = "needs root: make test"]
fn output_lines_keep_order_and_exit_code_passes_through() {
    let sb = Sandbox::new();
    assert_eq!(
        sb.sh("echo out; echo err >&2; printf 'no newline'; exit 7"),
        (7, vec!["out".into(), "err".into(), "no newline".into()])
    );
    assert_eq!(sb.sh("kill -9 $$").0, 128 + 9);
}

#[test]
#[ignore = "needs root: make test"]
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
#[ignore = "needs root: make test"]
fn inherited_output_and_orphans_killed() {
    let sb = Sandbox::new();
    let spec = sb.spec("sleep 30 & exit 3");
    let start = std::time::Instant::now();
    assert_eq!(run(&spec, Output::Inherit { stdin: false }).unwrap(), 3);
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
#[ignore = "needs root: make test"]
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
#[ignore = "needs root: make test"]
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
#[ignore = "needs root: make test"]
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
#[ignore = "needs root: make test"]
fn writing_etc_in_an_image_without_etc_keeps_only_the_users_files() {
    let sb = Sandbox::new();
    assert_eq!(sb.sh("echo x > /etc/foo").0, 0);
    assert_eq!(sb.upper_entries(), set(&["etc", "etc/foo"]));
    let etc = fs_err::metadata(sb.upper().join("etc")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::mode(&etc) & 0o7777, 0o755);
}

#[test]
#[ignore = "needs root: make test"]
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
#[ignore = "needs root: make test"]
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
#[ignore = "needs root: make test"]
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
#[ignore = "needs root: make test"]
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
#[ignore = "needs root: make test"]
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
#[ignore = "needs root: make test"]
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
#[ignore = "needs root: make test"]
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
#[ignore = "needs root: make test"]
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

fn bind(source: &std::path::Path, target: &str, readonly: bool) -> Mount {
    Mount::Bind {
        source: source.to_owned(),
        target: target.into(),
        readonly,
    }
}

fn tmpfs(target: &str, size: Option<u64>) -> Mount {
    Mount::Tmpfs {
        target: target.into(),
        size,
    }
}

/// A cache mount: writes land in the host dir; neither they nor the mountpoint (nor its
/// missing parents /var, /var/cache) reach the upper dir.
#[test]
#[ignore = "needs root: make test"]
fn rw_bind_of_a_host_dir() {
    let sb = Sandbox::new();
    let cache = sb.host_dir("cache");
    fs_err::write(cache.join("old"), "from before\n").unwrap();
    let (code, lines) = sb.sh_with(
        "cat /var/cache/apt/old && echo new > /var/cache/apt/new && echo x > /keep",
        vec![bind(&cache, "/var/cache/apt", false)],
    );
    assert_eq!((code, lines), (0, vec!["from before".to_owned()]));
    assert_eq!(fs_err::read_to_string(cache.join("new")).unwrap(), "new\n");
    assert_eq!(sb.upper_entries(), set(&["keep"]));
}

#[test]
#[ignore = "needs root: make test"]
fn readonly_bind_cannot_be_written() {
    let sb = Sandbox::new();
    let dir = sb.host_dir("context");
    fs_err::write(dir.join("f"), "content\n").unwrap();
    let (code, lines) = sb.sh_with(
        "cat /src/f; echo x > /src/g; touch /src/f; echo x > /src/f",
        vec![bind(&dir, "/src", true)],
    );
    assert_ne!(code, 0);
    assert_eq!(lines[0], "content");
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.contains("Read-only file system")),
        "{lines:?}"
    );
    assert_eq!(
        fs_err::read_dir(&dir).unwrap().count(),
        1,
        "nothing written to the host dir"
    );
    assert_eq!(fs_err::read_to_string(dir.join("f")).unwrap(), "content\n");
    assert!(sb.upper_entries().is_empty(), "{:?}", sb.upper_entries());
}

/// Secrets: read-only file binds at /run/secrets/ID (on the sandbox's /run tmpfs) and at a
/// path of the image's root (a stub file of the skeleton); nothing of either in the upper dir.
#[test]
#[ignore = "needs root: make test"]
fn file_bind_like_a_secret_leaves_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let secrets = sb.host_dir("secrets");
    let secret = secrets.join("x");
    fs_err::write(&secret, "s3cr3t\n").unwrap();
    fs_err::set_permissions(&secret, std::fs::Permissions::from_mode(0o400)).unwrap();
    let (code, lines) = sb.sh_with(
        "cat /run/secrets/x /secrets/token; stat -c %a /run/secrets/x; \
         echo x > /run/secrets/x || echo refused",
        vec![
            bind(&secret, "/run/secrets/x", true),
            bind(&secret, "/secrets/token", true),
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(lines[..3], ["s3cr3t", "s3cr3t", "400"]);
    assert_eq!(lines.last().unwrap(), "refused");
    assert!(sb.upper_entries().is_empty(), "{:?}", sb.upper_entries());
    assert!(!sb.upper().join("run").exists() && !sb.upper().join("secrets").exists());
    assert_eq!(fs_err::read_to_string(&secret).unwrap(), "s3cr3t\n");
}

#[test]
#[ignore = "needs root: make test"]
fn tmpfs_contents_are_gone_after_the_step() {
    let sb = Sandbox::new();
    let (code, lines) = sb.sh_with(
        "echo hi > /scratch/a && cat /scratch/a && stat -c %a /scratch \
         && df -k /scratch | grep -c ' 1024 ' \
         && ! dd if=/dev/zero of=/scratch/big bs=1024 count=2048 2>/dev/null && echo full",
        vec![tmpfs("/scratch", Some(1024 * 1024))],
    );
    assert_eq!(
        (code, lines),
        (
            0,
            vec!["hi".into(), "1777".into(), "1".into(), "full".into()]
        )
    );
    assert!(sb.upper_entries().is_empty(), "{:?}", sb.upper_entries());
    let (code, lines) = sb.sh_with("ls -A /scratch", vec![tmpfs("/scratch", None)]);
    assert_eq!((code, lines), (0, vec![]));
    assert_eq!(
        sb.sh("test -e /scratch || echo absent"),
        (0, vec!["absent".into()])
    );
}

/// apt's two cache dirs, and mounts inside earlier mounts (their mountpoints are made in
/// the earlier mount, as runc does).
#[test]
#[ignore = "needs root: make test"]
fn nested_mounts() {
    let sb = Sandbox::new();
    let archives = sb.host_dir("archives");
    let lists = sb.host_dir("lists");
    let (code, lines) = sb.sh_with(
        "echo a > /var/cache/apt/a && echo t > /var/cache/t && echo l > /var/lib/apt/lists/l \
         && echo p > /var/cache/apt/partial/p && ls /var/cache /var/cache/apt",
        vec![
            tmpfs("/var/cache", None),
            bind(&archives, "/var/cache/apt", false),
            bind(&lists, "/var/lib/apt/lists", false),
            tmpfs("/var/cache/apt/partial", None),
        ],
    );
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(
        lines,
        [
            "/var/cache:",
            "apt",
            "t",
            "",
            "/var/cache/apt:",
            "a",
            "partial"
        ]
    );
    assert_eq!(fs_err::read_to_string(archives.join("a")).unwrap(), "a\n");
    assert!(archives.join("partial").is_dir());
    assert!(!archives.join("partial/p").exists());
    assert_eq!(fs_err::read_to_string(lists.join("l")).unwrap(), "l\n");
    assert!(sb.upper_entries().is_empty(), "{:?}", sb.upper_entries());
}

/// A target under a symlink of the image follows it, inside the root: `/cache ->
/// /var/cache` (dangling in the image) and a link to an absolute host path.
#[test]
#[ignore = "needs root: make test"]
fn targets_under_symlinks_stay_inside_the_root() {
    let sb = Sandbox::new();
    let lower = &sb.lower[0];
    fs_err::create_dir(lower.join("var")).unwrap();
    std::os::unix::fs::symlink("/var/cache", lower.join("cache")).unwrap();
    let host = sb.host_dir("host-side");
    std::os::unix::fs::symlink(&host, lower.join("evil")).unwrap();
    std::os::unix::fs::symlink("../../../../..", lower.join("up")).unwrap();
    let script = format!(
        "echo c > /cache/apt/c && grep -c ' /var/cache/apt ' /proc/mounts \
         && echo e > /evil/inside/e && grep -c ' {host}/inside ' /proc/mounts \
         && test -d /tmp/up && cat /var/cache/apt/c",
        host = host.display()
    );
    let (code, lines) = sb.sh_with(
        &script,
        vec![
            tmpfs("/cache/apt", None),
            tmpfs("/evil/inside", None),
            tmpfs("/up/up/tmp/up", None),
        ],
    );
    assert_eq!((code, lines), (0, vec!["1".into(), "1".into(), "c".into()]));
    assert!(!host.join("inside").exists());
    assert!(!std::path::Path::new("/tmp/up").exists());
    assert!(sb.upper_entries().is_empty(), "{:?}", sb.upper_entries());
}

/// An ssh agent: a unix socket bound onto an empty stub file.
#[test]
#[ignore = "needs root: make test"]
fn socket_bind() {
    use std::os::unix::fs::MetadataExt;
    let sb = Sandbox::new();
    let socket = sb.tmp.path().join("agent.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let inode = fs_err::metadata(&socket).unwrap().ino();
    let (code, lines) = sb.sh_with(
        "test -S /run/buildkit/ssh_agent.0 && stat -c %i /run/buildkit/ssh_agent.0 \
         && test -S /agent && stat -c %i /agent",
        vec![
            bind(&socket, "/run/buildkit/ssh_agent.0", false),
            bind(&socket, "/agent", true),
        ],
    );
    assert_eq!(
        (code, lines),
        (0, vec![inode.to_string(), inode.to_string()])
    );
    assert!(sb.upper_entries().is_empty(), "{:?}", sb.upper_entries());
}

/// The image's own non-empty dir is hidden during the step and unchanged after it.
#[test]
#[ignore = "needs root: make test"]
fn mount_over_a_non_empty_image_dir() {
    let sb = Sandbox::new();
    let apt = sb.lower[0].join("var/cache/apt");
    fs_err::create_dir_all(&apt).unwrap();
    fs_err::write(apt.join("image-file"), "image\n").unwrap();
    let cache = sb.host_dir("cache");
    let (code, lines) = sb.sh_with(
        "ls -A /var/cache/apt; echo n > /var/cache/apt/new; rm -f /var/cache/apt/image-file; \
         echo k > /var/cache/keep",
        vec![bind(&cache, "/var/cache/apt", false)],
    );
    assert_eq!((code, lines), (0, vec![]));
    assert_eq!(
        sb.upper_entries(),
        set(&["var", "var/cache", "var/cache/keep"])
    );
    assert_eq!(
        fs_err::read_to_string(apt.join("image-file")).unwrap(),
        "image\n"
    );
    assert_eq!(
        sb.sh("ls -A /var/cache/apt"),
        (0, vec!["image-file".to_owned()])
    );
}

/// A lower layer whose /var/cache is opaque hides the skeleton's stub: the mountpoint is
/// made in the merged dir and removed from the upper dir afterwards, with the copied-up
/// parents, unless the command wrote there too.
#[test]
#[ignore = "needs root: make test"]
fn opaque_dir_on_the_way_to_a_target() {
    let mut sb = Sandbox::new();
    fs_err::create_dir_all(sb.lower[0].join("var/cache/old")).unwrap();
    let top = sb.tmp.path().join("top");
    fs_err::create_dir_all(top.join("var/cache")).unwrap();
    xattr::set(top.join("var/cache"), "trusted.overlay.opaque", b"y").unwrap();
    sb.lower.insert(0, top);
    let cache = sb.host_dir("cache");
    let mounts = || {
        vec![
            bind(&cache, "/var/cache/apt/archives", false),
            tmpfs("/var/cache/tmp", None),
        ]
    };
    let (code, lines) = sb.sh_with(
        "echo a > /var/cache/apt/archives/a && ls /var/cache",
        mounts(),
    );
    assert_eq!((code, lines), (0, vec!["apt".into(), "tmp".into()]));
    assert!(sb.upper_entries().is_empty(), "{:?}", sb.upper_entries());
    assert_eq!(fs_err::read_to_string(cache.join("a")).unwrap(), "a\n");
    let (code, _) = sb.sh_with("echo f > /var/cache/apt/f", mounts());
    assert_eq!(code, 0);
    assert_eq!(
        sb.upper_entries(),
        set(&["var", "var/cache", "var/cache/apt", "var/cache/apt/f"])
    );
}

#[test]
#[ignore = "needs root: make test"]
fn mount_errors_name_the_target() {
    let sb = Sandbox::new();
    fs_err::write(sb.lower[0].join("file"), "").unwrap();
    let dir = sb.host_dir("dir");
    let message = sb.setup_error(vec![bind(&sb.tmp.path().join("missing"), "/m", false)]);
    assert!(
        message.contains("mount target /m") && message.contains("missing"),
        "{message}"
    );
    let message = sb.setup_error(vec![tmpfs("relative/t", None)]);
    assert!(message.contains("relative/t"), "{message}");
    let message = sb.setup_error(vec![tmpfs("/", None)]);
    assert!(message.contains("mount target \"/\""), "{message}");
    let message = sb.setup_error(vec![bind(&dir, "/file", false)]);
    assert!(
        message.contains("mount target /file") && message.contains("not a directory"),
        "{message}"
    );
    let message = sb.setup_error(vec![tmpfs("/file/below", None)]);
    assert!(message.contains("mount target /file/below"), "{message}");
    let message = sb.setup_error(vec![
        bind(&dir.join("../dir"), "/bin", false),
        bind(&sb.lower[0].join("file"), "/bin", false),
    ]);
    assert!(
        message.contains("mount target /bin") && message.contains("is a directory"),
        "{message}"
    );
    assert!(sb.upper_entries().is_empty(), "{:?}", sb.upper_entries());
}

/// The skeleton provides the mountpoints: the upper dir stays empty while the command
/// runs, not only after the cleanup.
#[test]
#[ignore = "needs root: make test"]
fn mountpoints_come_from_the_skeleton() {
    let sb = Sandbox::new();
    let cache = sb.host_dir("cache");
    let secret = sb.tmp.path().join("secret");
    fs_err::write(&secret, "s").unwrap();
    let mut spec = sb.spec("echo ready; sleep 1");
    spec.mounts = vec![
        bind(&cache, "/var/cache/apt", false),
        bind(&secret, "/secrets/x", true),
        tmpfs("/tmp", None),
    ];
    let mut during = None;
    let code = run(
        &spec,
        Output::Lines(&mut |_| during = Some(sb.upper_entries())),
    )
    .unwrap();
    assert_eq!(code, 0);
    assert_eq!(during, Some(BTreeSet::new()));
}
