//! Shared helpers for the integration tests: running commands and the `strata` binary
//! against a throw-away store, the reference tools (buildah, umoci, skopeo, runc, git),
//! build contexts made from `tests/corpus/<case>/`, and a comparable snapshot of an
//! unpacked root filesystem. [`registry`] starts a real `docker-registry` and a
//! fault-injecting proxy; [`docker`] a private docker daemon.
//!
//! Every test binary includes this module and uses a different subset of it, hence the
//! `dead_code` allowance below.
#![allow(dead_code)]

pub mod docker;
pub mod registry;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

/// The tools the tests drive besides `strata` itself.
const TOOLS: &[&str] = &["buildah", "umoci", "skopeo", "runc", "tar", "jq"];

/// Where busybox-static installs its binary; copied into every build context.
pub const BUSYBOX: &str = "/bin/busybox";

/// Fails (never skips) when the tests cannot run here: they need root and the reference
/// tools, which `make test` installs.
pub fn require_environment() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "these tests build images and must run as root: use `make test`"
    );
    for tool in TOOLS {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
        assert!(
            found,
            "required tool `{tool}` is missing: run `make test`, which installs it"
        );
    }
    let busybox = fs::read(BUSYBOX)
        .unwrap_or_else(|e| panic!("{BUSYBOX}: {e}: run `make test` (installs busybox-static)"));
    // A dynamically linked busybox cannot run in a FROM scratch image.
    assert!(
        is_static_elf64(&busybox),
        "{BUSYBOX} is not static: run `make test` (installs busybox-static)"
    );
}

/// True for a 64-bit little-endian ELF without a PT_INTERP program header (no dynamic
/// loader needed).
fn is_static_elf64(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let u16_at = |at: usize| {
        elf.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let Some(phoff) = elf
        .get(0x20..0x28)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize)
    else {
        return false;
    };
    let (Some(entsize), Some(count)) = (u16_at(0x36), u16_at(0x38)) else {
        return false;
    };
    elf.starts_with(b"\x7fELF\x02\x01")
        && (0..count).all(|i| {
            let at = phoff + i * entsize;
            elf.get(at..at + 4)
                .is_some_and(|t| u32::from_le_bytes(t.try_into().unwrap()) != PT_INTERP)
        })
}

/// A name unique within this machine for the life of the test process.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A new temporary directory named `PREFIX...`, removed on drop; the prefix tells
/// whose leftovers a killed test run left in the temp dir.
pub fn temp_dir(prefix: &str) -> TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir().unwrap()
}

/// Runs a command and returns its output, panicking with the full command line if it
/// cannot be started.
pub fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs a command that must succeed; on failure the panic shows its stdout and stderr.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = output(cmd);
    assert!(out.status.success(), "{cmd:?} failed: {}", describe(&out));
    out
}

/// Runs `program args`, fails the test with its stderr if it fails, returns its stdout.
pub fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `cmd` with `input` on its standard input and returns its output whatever the
/// exit status.
pub fn output_with_stdin(cmd: &mut Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// `git ARGS` in `dir` as a throw-away committer; fails the test if git fails.
pub fn git(dir: &Path, args: &[&str]) {
    run_ok(
        Command::new("git")
            .current_dir(dir)
            .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
            .args(args),
    );
}

/// Exit status, stdout and stderr of a finished command, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The closed loopback port docker.io is sent to in tests.
pub const CLOSED_PORT: u16 = 9;

/// A registries.conf that sends docker.io to [`CLOSED_PORT`] on 127.0.0.1, so that no
/// test contacts Docker Hub: a short name that is not in the store fails at once, the
/// same way on every machine. One file for all test processes, renamed into place.
pub fn hermetic_registries_conf() -> &'static Path {
    static FILE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let path = std::env::temp_dir().join("strata-test-registries.conf");
        let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
        fs::write(
            &tmp,
            format!(
                "[[registry]]\nprefix = \"docker.io\"\nlocation = \"127.0.0.1:{CLOSED_PORT}\"\n"
            ),
        )
        .unwrap();
        fs::rename(&tmp, &path).unwrap();
        path
    })
}

/// `len` bytes that do not compress, the same for the same `seed` (xorshift64).
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// A fresh, empty strata store in a temporary directory.
pub struct Store {
    dir: TempDir,
}

impl Store {
    /// Creates the store directory (strata initialises the layout on first use).
    pub fn new() -> Self {
        Self {
            dir: temp_dir("strata-store-"),
        }
    }

    /// The store's path, which is also an OCI image layout.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A `strata --store STORE` command, ready for a subcommand, with the registries.conf
    /// of [`hermetic_registries_conf`] and no mirror from the environment.
    pub fn strata(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
        cmd.arg("--store").arg(self.path());
        cmd.env("CONTAINERS_REGISTRIES_CONF", hermetic_registries_conf())
            .env_remove("STRATA_REGISTRY_MIRROR");
        cmd
    }

    /// Builds `context` as `reference` with extra `build` arguments; panics on failure.
    pub fn build(&self, context: &Path, reference: &str, extra: &[String]) -> Output {
        let out = run_ok(
            self.strata()
                .arg("build")
                .arg("-t")
                .arg(reference)
                .args(extra)
                .arg(context),
        );
        skopeo_validate(self.path(), reference);
        out
    }

    /// A store holding one good image, `seed:1`, so "unchanged" is checked against an
    /// initialised, non-empty layout.
    pub fn seeded() -> Self {
        let store = Self::new();
        let seed = context_with(&format!("{BASE}RUN echo seed > /seed\n"));
        store.build(seed.path(), "seed:1", &[]);
        store
    }

    /// `strata build -t bad:1 FLAGS CONTEXT`, which must exit with code 2 and leave the
    /// store byte-for-byte as it was; returns stderr.
    pub fn build_fails(&self, context: &Path, flags: &[&str]) -> String {
        let before = fingerprint(self.path());
        let out = output(
            self.strata()
                .arg("build")
                .args(["-t", "bad:1"])
                .args(flags)
                .arg(context),
        );
        assert_eq!(
            out.status.code(),
            Some(2),
            "expected exit code 2: {}",
            describe(&out)
        );
        assert_same_fingerprint(&before, &fingerprint(self.path()), "failed build");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// The manifest digest the tag `reference` points to (the last entry of that name in
    /// `index.json`, as strata reads it).
    pub fn tagged(&self, reference: &str) -> String {
        let index: Value =
            serde_json::from_slice(&fs::read(self.path().join("index.json")).unwrap()).unwrap();
        index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == reference)
            .and_then(|m| m["digest"].as_str())
            .unwrap_or_else(|| panic!("no tag {reference} in {index}"))
            .to_owned()
    }

    /// `strata run IMAGE -- sh -c SCRIPT` in this store, which must succeed; its stdout.
    pub fn sh(&self, image: &str, script: &str) -> String {
        let out = run_ok(self.strata().args(["run", image, "--", "sh", "-c", script]));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `layout:reference` for umoci.
    pub fn image(&self, reference: &str) -> String {
        format!("{}:{reference}", self.path().display())
    }
}

/// Checks an image in an OCI layout with skopeo, which parses the index, manifest and
/// config and checks that each blob it reads matches its digest.
pub fn skopeo_validate(layout: &Path, reference: &str) -> Value {
    let image = format!("oci:{}:{reference}", layout.display());
    run_ok(Command::new("skopeo").args(["inspect", &image]));
    let raw = run_ok(Command::new("skopeo").args(["inspect", "--raw", &image]));
    let manifest: Value = serde_json::from_slice(&raw.stdout).expect("manifest is JSON");
    let config = image_config(layout, reference);
    let layers = manifest["layers"].as_array().map_or(0, Vec::len);
    let diff_ids = config["rootfs"]["diff_ids"].as_array().map_or(0, Vec::len);
    assert_eq!(
        layers, diff_ids,
        "{image}: manifest layers vs config rootfs.diff_ids"
    );
    manifest
}

/// The raw image configuration (with Docker's extensions such as Healthcheck) of an
/// image in an OCI layout.
pub fn image_config(layout: &Path, reference: &str) -> Value {
    let image = format!("oci:{}:{reference}", layout.display());
    let out = run_ok(Command::new("skopeo").args(["inspect", "--config", "--raw", &image]));
    serde_json::from_slice(&out.stdout).expect("config is JSON")
}

/// Unpacks `layout:reference` into a new runtime bundle at `bundle` with umoci.
pub fn umoci_unpack(image: &str, bundle: &Path) {
    run_ok(
        Command::new("umoci")
            .args(["unpack", "--image", image])
            .arg(bundle),
    );
}

/// What a corpus case asks of the harness, read from its optional `case.json`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaseSpec {
    /// Why the case is shaped the way it is.
    #[serde(rename = "_comment")]
    pub comment: String,
    /// `--build-arg` values, `K=V`.
    pub build_args: Vec<String>,
    /// `--target` stage.
    pub target: Option<String>,
    /// Whether buildah is the reference (false for features buildah 1.28 lacks).
    pub buildah: Option<bool>,
    /// Directories BuildKit creates and buildah does not (WORKDIRs no step used).
    pub buildkit_only: Vec<String>,
    /// Expected contents of files in the built image.
    pub files: BTreeMap<String, String>,
    /// Expected permission bits (octal) of paths in the built image.
    pub modes: BTreeMap<String, String>,
    /// Paths that must not exist in the built image.
    pub absent: Vec<String>,
    /// `name.tar.gz` -> directory of the case to pack into it at test time.
    pub tarballs: BTreeMap<String, String>,
    /// Config fields where buildah 1.28 departs from BuildKit: the value BuildKit writes,
    /// which replaces buildah's in the comparison (the case's `_comment` says why).
    pub buildkit_config: BTreeMap<String, Value>,
    /// Build secrets, id -> content: written to files outside the context at test time
    /// and passed to both builders as `--secret id=ID,src=FILE`.
    pub secrets: BTreeMap<String, String>,
    /// Empty directories buildah 1.28 leaves behind as parents of `RUN --mount` targets
    /// (`/run/secrets`); BuildKit removes the mount stubs it created, parents included.
    pub mount_stubs: Vec<String>,
}

impl CaseSpec {
    /// The `strata build` / `buildah bud` flags this case needs.
    pub fn build_flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        for arg in &self.build_args {
            flags.push("--build-arg".to_owned());
            flags.push(arg.clone());
        }
        if let Some(target) = &self.target {
            flags.push("--target".to_owned());
            flags.push(target.clone());
        }
        flags
    }

    /// Writes the case's secrets into `dir` and returns the matching `--secret` flags.
    pub fn secret_flags(&self, dir: &Path) -> Vec<String> {
        let mut flags = Vec::new();
        for (id, content) in &self.secrets {
            let file = dir.join(format!("secret-{id}"));
            fs::write(&file, content).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            flags.push("--secret".to_owned());
            flags.push(format!("id={id},src={}", file.display()));
        }
        flags
    }
}

/// The corpus directory.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// Reads `tests/corpus/<name>/case.json` (all defaults when absent).
pub fn case_spec(name: &str) -> CaseSpec {
    let path = corpus_dir().join(name).join("case.json");
    match fs::read_to_string(&path) {
        Ok(text) => {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        }
        Err(_) => CaseSpec::default(),
    }
}

/// A build context: a temporary copy of a corpus case (or any directory) plus busybox
/// and the tarballs the case asks for. `case.json` is harness input, not context.
pub fn prepare_context(case_dir: &Path, spec: &CaseSpec) -> TempDir {
    let ctx = temp_dir("strata-ctx-");
    run_ok(
        Command::new("cp")
            .arg("-a")
            .arg(case_dir.join("."))
            .arg(ctx.path()),
    );
    let _ = fs::remove_file(ctx.path().join("case.json"));
    add_busybox(ctx.path());
    for (tarball, dir) in &spec.tarballs {
        run_ok(
            Command::new("tar")
                .args([
                    "--sort=name",
                    "--owner=0",
                    "--group=0",
                    "--numeric-owner",
                    "--mtime=@0",
                    "-czf",
                ])
                .arg(ctx.path().join(tarball))
                .arg("-C")
                .arg(ctx.path())
                .arg(dir),
        );
    }
    ctx
}

/// Copies the static busybox into a context directory as `busybox`.
pub fn add_busybox(ctx: &Path) {
    fs::copy(BUSYBOX, ctx.join("busybox")).unwrap_or_else(|e| panic!("copy {BUSYBOX}: {e}"));
}

/// Writes `files` (path relative to `root`, text) under `root`, creating their folders.
pub fn write_files(root: &Path, files: &[(String, String)]) {
    for (path, text) in files {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
    }
}

/// Writes a context directory holding `busybox` and a Dockerfile with `body`.
pub fn context_with(body: &str) -> TempDir {
    let ctx = temp_dir("strata-ctx-");
    add_busybox(ctx.path());
    fs::write(ctx.path().join("Dockerfile"), body).unwrap();
    ctx
}

/// The first three lines of every test Dockerfile: busybox on an empty image.
pub const BASE: &str = "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\",\"--install\",\"-s\",\"/bin\"]\n";

/// An image built by buildah (the reference), in a storage of its own that is removed on
/// drop: concurrent tests sharing one buildah storage remove each other's layers.
pub struct BuildahImage {
    /// Local image name, unique per test.
    pub name: String,
    storage: TempDir,
}

impl BuildahImage {
    /// `buildah bud` in chroot isolation, Docker format (keeps Healthcheck, Shell,
    /// OnBuild), one layer per step.
    pub fn build(context: &Path, flags: &[String]) -> Self {
        let name = format!("{}:x", unique("strata-conformance"));
        let storage = temp_dir("strata-buildah-");
        let image = Self { name, storage };
        run_ok(
            image
                .buildah()
                .args([
                    "bud",
                    "--isolation",
                    "chroot",
                    "--format",
                    "docker",
                    "--layers",
                    "-q",
                ])
                .args(flags)
                .args(["-t", &image.name])
                .arg(context),
        );
        image
    }

    /// A buildah command on this image's storage.
    fn buildah(&self) -> Command {
        let mut cmd = Command::new("buildah");
        cmd.arg("--root")
            .arg(self.storage.path().join("root"))
            .arg("--runroot")
            .arg(self.storage.path().join("run"));
        cmd
    }

    /// `buildah inspect` of the image: `.Docker` holds the Docker-format config.
    pub fn inspect(&self) -> Value {
        let out = run_ok(
            self.buildah()
                .args(["inspect", "--type", "image", &self.name]),
        );
        serde_json::from_slice(&out.stdout).expect("buildah inspect is JSON")
    }

    /// Pushes the image to an OCI layout and unpacks it with umoci into `bundle`.
    pub fn unpack(&self, scratch: &Path, bundle: &Path) {
        let layout = scratch.join("buildah-layout");
        let dest = format!("oci:{}:case", layout.display());
        run_ok(self.buildah().args(["push", "-q", &self.name, &dest]));
        umoci_unpack(&format!("{}:case", layout.display()), bundle);
    }
}

impl Drop for BuildahImage {
    /// Removes the images (unmounting their layers) before the storage dir goes.
    fn drop(&mut self) {
        let _ = self.buildah().args(["rmi", "--all", "--force"]).output();
    }
}

/// The kind of a filesystem entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Fifo,
    CharDevice,
    BlockDevice,
    Socket,
}

/// What the comparison looks at for one path: everything but timestamps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    /// Permission bits including setuid, setgid and sticky.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// sha256 of a file's bytes, a symlink's target, or a device's numbers.
    pub content: String,
    /// The smallest path sharing this entry's inode, when it has hard links in the tree.
    pub link_group: Option<String>,
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} {:04o} {}:{}",
            self.kind, self.mode, self.uid, self.gid
        )?;
        match self.kind {
            Kind::File => write!(f, " sha256:{}", &self.content[..12])?,
            Kind::Dir => {}
            _ => write!(f, " -> {}", self.content)?,
        }
        if let Some(group) = &self.link_group {
            write!(f, " (hardlink group {group})")?;
        }
        Ok(())
    }
}

/// A root filesystem: absolute in-image path -> entry.
pub type Tree = BTreeMap<String, Entry>;

/// Walks `root` without following symlinks and records every entry.
pub fn snapshot(root: &Path) -> Tree {
    let mut tree = Tree::new();
    let mut inodes: HashMap<(u64, u64), Vec<String>> = HashMap::new();
    for item in walkdir::WalkDir::new(root).sort_by_file_name() {
        let item = item.unwrap_or_else(|e| panic!("walk {}: {e}", root.display()));
        let rel = item.path().strip_prefix(root).unwrap();
        let path = format!("/{}", rel.to_string_lossy());
        let meta = item.path().symlink_metadata().unwrap();
        let ft = meta.file_type();
        let (kind, content) = if ft.is_file() {
            let mut hasher = Sha256::new();
            let mut file = fs::File::open(item.path()).unwrap();
            std::io::copy(&mut file, &mut hasher).unwrap();
            (Kind::File, hex::encode(hasher.finalize()))
        } else if ft.is_dir() {
            (Kind::Dir, String::new())
        } else if ft.is_symlink() {
            let target = fs::read_link(item.path()).unwrap();
            (Kind::Symlink, target.to_string_lossy().into_owned())
        } else if ft.is_fifo() {
            (Kind::Fifo, String::new())
        } else if ft.is_char_device() {
            (Kind::CharDevice, format!("{:#x}", meta.rdev()))
        } else if ft.is_block_device() {
            (Kind::BlockDevice, format!("{:#x}", meta.rdev()))
        } else {
            (Kind::Socket, String::new())
        };
        if kind != Kind::Dir && meta.nlink() > 1 {
            inodes
                .entry((meta.dev(), meta.ino()))
                .or_default()
                .push(path.clone());
        }
        let entry = Entry {
            kind,
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            content,
            link_group: None,
        };
        tree.insert(path, entry);
    }
    for paths in inodes.into_values().filter(|p| p.len() > 1) {
        let first = paths.iter().min().unwrap().clone();
        for path in paths {
            tree.get_mut(&path).unwrap().link_group = Some(first.clone());
        }
    }
    tree
}

/// Differences that the comparison forgives, each a documented buildah/BuildKit split.
#[derive(Debug, Default)]
pub struct Allowances {
    /// Paths only the reference has that BuildKit would not create (VOLUME dirs).
    pub reference_only: Vec<String>,
    /// Directories only strata has that BuildKit creates too (unused WORKDIRs).
    pub strata_only: Vec<String>,
    /// Empty directories only the reference has: parents of `RUN --mount` targets that
    /// buildah creates and leaves, where BuildKit removes every stub it made.
    pub mount_stubs: Vec<String>,
}

/// Mount points buildah's chroot isolation leaves in RUN layers as empty dirs and files;
/// BuildKit removes its mount stubs, so strata must not have them.
const BUILDAH_MOUNT_STUBS: &[&str] = &[
    "/dev",
    "/proc",
    "/sys",
    "/run",
    "/etc",
    "/etc/hosts",
    "/etc/hostname",
    "/etc/resolv.conf",
];

/// Compares strata's tree with the reference's; returns one readable line per difference.
pub fn diff_trees(strata: &Tree, reference: &Tree, allow: &Allowances) -> Vec<String> {
    const EMPTY_SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let mut diffs = Vec::new();
    for (path, r) in reference {
        match strata.get(path) {
            Some(s) if s != r => {
                diffs.push(format!("{path}\n    strata:    {s}\n    reference: {r}"))
            }
            Some(_) => {}
            None => {
                let is_stub = |p: &str| {
                    BUILDAH_MOUNT_STUBS.contains(&p) || allow.mount_stubs.iter().any(|s| s == p)
                };
                // A stub dir counts as empty when all it holds is other stubs (`/etc`).
                let empty = r.kind == Kind::Dir
                    && !reference.keys().any(|k| is_child(k, path) && !is_stub(k))
                    || r.kind == Kind::File && r.content == EMPTY_SHA;
                let stub = is_stub(path) && empty;
                let volume = allow.reference_only.contains(path) && r.kind == Kind::Dir;
                if !stub && !volume {
                    diffs.push(format!("{path}: missing in strata (reference: {r})"));
                }
            }
        }
    }
    for (path, s) in strata {
        let allowed = allow.strata_only.contains(path) && s.kind == Kind::Dir;
        if !reference.contains_key(path) && !allowed {
            diffs.push(format!("{path}: only in strata ({s})"));
        }
    }
    diffs
}

fn is_child(candidate: &str, dir: &str) -> bool {
    candidate.len() > dir.len() + 1
        && candidate.starts_with(dir)
        && candidate.as_bytes()[dir.len()] == b'/'
}

/// The image config fields the comparison covers, normalised so that absent, `null`
/// and empty collections compare equal.
pub const CONFIG_FIELDS: &[&str] = &[
    "Env",
    "Entrypoint",
    "Cmd",
    "User",
    "WorkingDir",
    "ExposedPorts",
    "Volumes",
    "Labels",
    "StopSignal",
    "Healthcheck",
    "Shell",
    "OnBuild",
];

/// Picks and normalises [`CONFIG_FIELDS`] out of a `config` object.
pub fn normalise_config(config: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for &field in CONFIG_FIELDS {
        let mut value = config.get(field).cloned().unwrap_or(Value::Null);
        match field {
            // buildah stamps its own version; BuildKit adds no label.
            "Labels" => {
                if let Some(labels) = value.as_object_mut() {
                    labels.remove("io.buildah.version");
                }
            }
            // buildah leaves WorkingDir empty where BuildKit writes "/": same meaning.
            "WorkingDir" if value.as_str().is_some_and(str::is_empty) => {
                value = Value::String("/".into())
            }
            // Zero durations and retries mean "inherit the default" in either spelling.
            "Healthcheck" => {
                if let Some(hc) = value.as_object_mut() {
                    hc.retain(|_, v| v.as_i64() != Some(0));
                }
            }
            _ => {}
        }
        let empty = match &value {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        };
        if !empty {
            out.insert(field.to_owned(), value);
        }
    }
    out.entry("WorkingDir".to_owned())
        .or_insert_with(|| Value::String("/".into()));
    out
}

/// One readable line per config field that differs.
pub fn diff_configs(
    strata: &BTreeMap<String, Value>,
    reference: &BTreeMap<String, Value>,
) -> Vec<String> {
    CONFIG_FIELDS
        .iter()
        .filter(|f| strata.get(**f) != reference.get(**f))
        .map(|f| {
            format!(
                "config {f}\n    strata:    {}\n    reference: {}",
                show(strata.get(*f)),
                show(reference.get(*f))
            )
        })
        .collect()
}

fn show(value: Option<&Value>) -> String {
    value.map_or_else(|| "(unset)".to_owned(), Value::to_string)
}

/// Checks that a config's history has exactly one non-empty entry per layer.
pub fn check_history(config: &Value) -> Result<(), String> {
    let layers = config["rootfs"]["diff_ids"].as_array().map_or(0, Vec::len);
    let history = config["history"].as_array().cloned().unwrap_or_default();
    let non_empty = history
        .iter()
        .filter(|h| h["empty_layer"] != Value::Bool(true))
        .count();
    if non_empty == layers {
        Ok(())
    } else {
        Err(format!(
            "history has {non_empty} non-empty entries for {layers} layers: {history:#?}"
        ))
    }
}

/// Checks a case's expected file contents, modes and absent paths against a tree rooted
/// at `rootfs`.
pub fn check_expectations(rootfs: &Path, spec: &CaseSpec) -> Vec<String> {
    let mut problems = Vec::new();
    for (path, want) in &spec.files {
        match fs::read(rootfs.join(path.trim_start_matches('/'))) {
            Ok(got) if got == want.as_bytes() => {}
            Ok(got) => problems.push(format!(
                "{path}: content {:?}, expected {want:?}",
                String::from_utf8_lossy(&got)
            )),
            Err(e) => problems.push(format!("{path}: {e}")),
        }
    }
    for (path, want) in &spec.modes {
        let want = u32::from_str_radix(want, 8).expect("modes are octal");
        match rootfs.join(path.trim_start_matches('/')).symlink_metadata() {
            Ok(meta) if meta.mode() & 0o7777 == want => {}
            Ok(meta) => problems.push(format!(
                "{path}: mode {:04o}, expected {want:04o}",
                meta.mode() & 0o7777
            )),
            Err(e) => problems.push(format!("{path}: {e}")),
        }
    }
    for path in &spec.absent {
        if rootfs
            .join(path.trim_start_matches('/'))
            .symlink_metadata()
            .is_ok()
        {
            problems.push(format!("{path}: exists, expected absent"));
        }
    }
    problems
}

/// A fingerprint of a whole directory tree (names, kinds, modes, owners, full content
/// hashes and link targets), to prove a failed command left a store's bytes untouched.
/// Timestamps are left out: a staging dir created and removed inside the store changes
/// the store's mtime but no byte of it.
pub fn fingerprint(dir: &Path) -> BTreeMap<String, String> {
    snapshot(dir)
        .into_iter()
        .map(|(path, entry)| (path, format!("{entry} {}", entry.content)))
        .collect()
}

/// Asserts two fingerprints are equal, listing the paths that changed.
pub fn assert_same_fingerprint(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
    what: &str,
) {
    let changed: Vec<_> = before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(v))
        .map(|(k, _)| format!("changed or removed: {k}"))
        .chain(
            after
                .keys()
                .filter(|k| !before.contains_key(*k))
                .map(|k| format!("added: {k}")),
        )
        .collect();
    assert!(
        changed.is_empty(),
        "{what}: store changed:\n{}",
        changed.join("\n")
    );
}

/// gzip and zstd frame magic numbers: layer blobs start with one of them.
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// Opens `path` decompressed when it starts with a gzip or zstd magic number; `None`
/// for any other file.
pub fn open_decompressed(path: &Path) -> Option<Box<dyn Read>> {
    let mut magic = [0u8; 4];
    let n = fs::File::open(path)
        .and_then(|mut f| f.read(&mut magic))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file = io::BufReader::new(fs::File::open(path).unwrap());
    if magic[..n].starts_with(GZIP_MAGIC) {
        Some(Box::new(flate2::read::MultiGzDecoder::new(file)))
    } else if magic[..n].starts_with(ZSTD_MAGIC) {
        Some(Box::new(
            zstd::stream::read::Decoder::with_buffer(file).unwrap(),
        ))
    } else {
        None
    }
}

/// Whether a stream holds `needle`, read in chunks (blobs are never held whole).
pub fn stream_contains(mut reader: impl Read, needle: &[u8]) -> io::Result<bool> {
    assert!(!needle.is_empty());
    let mut window: Vec<u8> = Vec::with_capacity(64 * 1024 + needle.len());
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut chunk)?;
        if n == 0 {
            return Ok(false);
        }
        window.extend_from_slice(&chunk[..n]);
        if window.windows(needle.len()).any(|w| w == needle) {
            return Ok(true);
        }
        // Keep the tail that could start a match spanning the next chunk.
        let keep = window.len().min(needle.len() - 1);
        window.drain(..window.len() - keep);
    }
}

/// Every regular file under `dir` (blobs, snapshots, caches, temp files) whose bytes hold
/// `needle`, raw or after gzip/zstd decompression; paths relative to `dir`.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for item in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let item = item.unwrap_or_else(|e| panic!("walk {}: {e}", dir.display()));
        if !item.file_type().is_file() {
            continue;
        }
        let path = item.path();
        let rel = path.strip_prefix(dir).unwrap().display().to_string();
        let raw = fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if stream_contains(io::BufReader::new(raw), needle)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        {
            hits.push(rel.clone());
        }
        if let Some(decoded) = open_decompressed(path) {
            // A file that merely starts like gzip but is not: its raw bytes were scanned.
            if stream_contains(decoded, needle).unwrap_or(false) {
                hits.push(format!("{rel} (decompressed)"));
            }
        }
    }
    hits
}

/// The entry paths (relative, without `./` or a trailing `/`, e.g. `etc/passwd`) of every tar layer blob in a store's
/// `blobs/` directory, gzip, zstd or uncompressed, as `(blob file name, entry path)`.
pub fn layer_entries(store: &Path) -> Vec<(String, String)> {
    let mut entries = Vec::new();
    for item in walkdir::WalkDir::new(store.join("blobs")).sort_by_file_name() {
        let item = item.unwrap();
        if !item.file_type().is_file() {
            continue;
        }
        let path = item.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let reader = match open_decompressed(path) {
            Some(decoded) => decoded,
            None => {
                // Uncompressed: a tar has "ustar" at offset 257; JSON blobs do not.
                let mut head = [0u8; 262];
                let n = fs::File::open(path).unwrap().read(&mut head).unwrap();
                if n < 262 || &head[257..262] != b"ustar" {
                    continue;
                }
                Box::new(io::BufReader::new(fs::File::open(path).unwrap())) as Box<dyn Read>
            }
        };
        let mut archive = tar::Archive::new(reader);
        for entry in archive
            .entries()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        {
            let entry = entry.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let entry_path = entry.path().unwrap().to_string_lossy().into_owned();
            let entry_path = entry_path.trim_start_matches("./").trim_end_matches('/');
            entries.push((name.clone(), entry_path.to_owned()));
        }
    }
    entries
}

/// What one `strata build` of a family printed: its stderr (progress lines, summary,
/// errors) and the image digests of the `NAME sha256:...` lines on stdout.
pub struct FamilyBuild {
    /// stderr.
    pub log: String,
    /// Image name -> manifest digest.
    pub digests: BTreeMap<String, String>,
}

impl FamilyBuild {
    /// Reads the output of a family build.
    pub fn parse(out: &Output) -> Self {
        let stdout = String::from_utf8_lossy(&out.stdout);
        FamilyBuild {
            log: String::from_utf8_lossy(&out.stderr).into_owned(),
            digests: stdout
                .lines()
                .filter_map(|l| l.split_once(' '))
                .filter(|(_, d)| d.starts_with("sha256:"))
                .map(|(n, d)| (n.to_owned(), d.to_owned()))
                .collect(),
        }
    }
}

/// A family in a temp dir for rebase tests: `base` (busybox, `etc/` with the passwd, group
/// and a motd given, then a tail) and apps `FROM base`, each with a small context.
pub struct BaseAndApps {
    dir: TempDir,
}

impl BaseAndApps {
    /// Writes the family: the base Dockerfile is busybox, `etc/` (`passwd`, `group`, motd)
    /// and then `base_tail`; every app gets the Dockerfile given and the same small
    /// context (`site/`, `conf/`, `assets/`).
    pub fn new(passwd: &str, group: &str, base_tail: &str, apps: &[(&str, &str)]) -> Self {
        require_environment();
        let dir = temp_dir("strata-rebase-");
        let mut toml = "[family]\nname = \"rb\"\n\n[images.base]\ntier = \"base\"\n".to_owned();
        let mut files: Vec<(String, String)> = vec![
            ("base/etc/passwd".into(), passwd.into()),
            ("base/etc/group".into(), group.into()),
            ("base/etc/motd".into(), "welcome v1\n".into()),
        ];
        for (name, dockerfile) in apps {
            toml.push_str(&format!("\n[images.{name}]\ntier = \"app\"\n"));
            files.extend([
                (format!("{name}/Dockerfile"), (*dockerfile).to_owned()),
                (
                    format!("{name}/site/index.html"),
                    format!("<h1>{name}</h1>\n"),
                ),
                (
                    format!("{name}/site/css/main.css"),
                    "h1 { color: red }\n".into(),
                ),
                (format!("{name}/conf/app.conf"), "port = 8080\n".into()),
                (format!("{name}/assets/logo.txt"), "(logo)\n".into()),
            ]);
        }
        files.push(("strata.toml".into(), toml));
        write_files(dir.path(), &files);
        fs::copy(BUSYBOX, dir.path().join("base/busybox")).unwrap();
        let family = BaseAndApps { dir };
        family.set_base(base_tail);
        family
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Rewrites the base Dockerfile with `tail` after its fixed first steps.
    pub fn set_base(&self, tail: &str) {
        self.write(
            "base/Dockerfile",
            &format!(
                "FROM scratch\nCOPY busybox /bin/busybox\n\
                 RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
                 COPY etc/ /etc/\n{tail}"
            ),
        );
    }

    /// Writes `text` to the family file `path`.
    pub fn write(&self, path: &str, text: &str) {
        fs::write(self.path().join(path), text).unwrap();
    }
}
