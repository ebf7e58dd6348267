//! `RUN --mount` and `RUN --network` end to end through the CLI, against the behaviour
//! Docker documents for BuildKit: cache mounts persist in the store between builds and
//! never reach a layer (`sharing=locked` serialises concurrent builds), secrets are
//! readable in their step only and leave no trace in the store or the build output,
//! bind mounts read another stage or the context (read-only unless `rw`, whose writes
//! are discarded), tmpfs contents vanish with the step, ssh forwards an agent socket,
//! `--network=none` isolates one step, bad mount options name the line, and
//! `strata prune --cache-mounts` empties the caches.
//!
//! Every test uses its own store, context and cache ids, so they run in parallel.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{
    assert_same_fingerprint, context_with, describe, files_containing, fingerprint, layer_entries,
    output, require_environment, run_ok, skopeo_validate, umoci_unpack, unique, Store, BASE,
};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

/// An unpacked image: the bundle directory (removed on drop) and its root filesystem.
struct Unpacked {
    _bundle: TempDir,
    rootfs: PathBuf,
}

impl Unpacked {
    /// Unpacks `reference` of `store` with umoci.
    fn new(store: &Store, reference: &str) -> Self {
        let dir = common::temp_dir("strata-mounts-");
        let bundle = dir.path().join("bundle");
        umoci_unpack(&store.image(reference), &bundle);
        Self {
            rootfs: bundle.join("rootfs"),
            _bundle: dir,
        }
    }

    /// The content of an image file, panicking with its path when it cannot be read.
    fn read(&self, path: &str) -> String {
        let host = self.rootfs.join(path.trim_start_matches('/'));
        fs::read_to_string(&host).unwrap_or_else(|e| panic!("image file {path}: {e}"))
    }

    /// Whether a path exists in the image (symlinks not followed).
    fn exists(&self, path: &str) -> bool {
        self.rootfs
            .join(path.trim_start_matches('/'))
            .symlink_metadata()
            .is_ok()
    }
}

/// `strata build -t reference FLAGS CONTEXT` with extra environment variables; returns
/// the output whatever the exit status.
fn build_cmd(
    store: &Store,
    ctx: &Path,
    reference: &str,
    flags: &[&str],
    env: &[(&str, &str)],
) -> Command {
    let mut cmd = store.strata();
    cmd.arg("build")
        .args(["-t", reference])
        .args(flags)
        .arg(ctx);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Builds and validates an image; panics with the output on failure.
fn build_ok(
    store: &Store,
    ctx: &Path,
    reference: &str,
    flags: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let out = run_ok(&mut build_cmd(store, ctx, reference, flags, env));
    skopeo_validate(store.path(), reference);
    out
}

/// Builds a Dockerfile that must fail with exit code 2 and leave the store untouched;
/// returns stderr.
fn build_fails(store: &Store, dockerfile: &str, flags: &[&str]) -> String {
    store.build_fails(context_with(dockerfile).path(), flags)
}

/// Asserts that stderr names `Dockerfile:LINE` (followed by a column or not) and `word`.
fn assert_names(stderr: &str, line: u32, word: &str) {
    let needle = format!("Dockerfile:{line}");
    let located = stderr.match_indices(&needle).any(|(at, _)| {
        !stderr[at + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    });
    assert!(located, "stderr does not name {needle}:\n{stderr}");
    assert!(
        stderr.contains(word),
        "stderr does not name `{word}`:\n{stderr}"
    );
}

/// Layer entries (of any image in the store) at or under one of `roots`, or named one
/// of `names`; each as `blob: path`.
fn entries_matching(store: &Store, roots: &[&str], names: &[&str]) -> Vec<String> {
    layer_entries(store.path())
        .into_iter()
        .filter(|(_, path)| {
            let base = path.rsplit('/').next().unwrap_or(path);
            let base = base.strip_prefix(".wh.").unwrap_or(base);
            roots
                .iter()
                .any(|r| path == r || path.starts_with(&format!("{r}/")))
                || names.contains(&base)
        })
        .map(|(blob, path)| format!("{blob}: {path}"))
        .collect()
}

/// The manifest digest of an image of the store.
fn manifest_digest(store: &Store, reference: &str) -> String {
    let image = format!("oci:{}:{reference}", store.path().display());
    let out = run_ok(Command::new("skopeo").args(["inspect", "--format", "{{.Digest}}", &image]));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Lower-case hex sha256 of `bytes`.
fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

// --- cache ----------------------------------------------------------------------------

/// (a) A cache mount keeps what build 1 wrote for build 2 (same id at another target,
/// and the default id = target), and neither the cache files nor the mount points (nor
/// parents created for them) are in any layer of either image.
#[test]
#[ignore = "needs root: make test"]
fn cache_mount_persists_between_builds_and_stays_out_of_layers() {
    require_environment();
    let store = Store::new();
    let id = unique("keep");
    let first = context_with(&format!(
        "{BASE}RUN --mount=type=cache,target=/mnt-cache/inner,id={id} \
         --mount=type=cache,target=/default-id-cache \
         echo persisted > /mnt-cache/inner/cached-file && echo by-default > /default-id-cache/default-file \
         && echo first > /first\n"
    ));
    build_ok(&store, first.path(), "cache:1", &[], &[]);
    let second = context_with(&format!(
        "{BASE}RUN --mount=type=cache,target=/elsewhere,id={id} \
         --mount=type=cache,target=/default-id-cache \
         cat /elsewhere/cached-file /default-id-cache/default-file > /seen\n"
    ));
    build_ok(&store, second.path(), "cache:2", &[], &[]);

    let one = Unpacked::new(&store, "cache:1");
    assert_eq!(one.read("/first"), "first\n");
    let two = Unpacked::new(&store, "cache:2");
    assert_eq!(two.read("/seen"), "persisted\nby-default\n");
    for image in [&one, &two] {
        for path in ["/mnt-cache", "/default-id-cache", "/elsewhere"] {
            assert!(!image.exists(path), "{path} is in the image");
        }
    }
    let leaked = entries_matching(
        &store,
        &["mnt-cache", "default-id-cache", "elsewhere"],
        &["cached-file", "default-file"],
    );
    assert!(
        leaked.is_empty(),
        "cache mounts reached layers:\n{}",
        leaked.join("\n")
    );
}

/// Reads the log a cache holds by building a third image that copies it out.
fn cache_log(store: &Store, id: &str) -> Vec<String> {
    let ctx = context_with(&format!(
        "{BASE}RUN --mount=type=cache,target=/c,id={id} cp /c/log /log\n"
    ));
    build_ok(store, ctx.path(), "log:1", &[], &[]);
    Unpacked::new(store, "log:1")
        .read("/log")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// (b) `sharing=locked`: two `strata build` processes on one store, same cache id, run
/// their steps one after the other: each step's start and end markers are adjacent.
#[test]
#[ignore = "needs root: make test"]
fn locked_cache_serialises_concurrent_builds() {
    require_environment();
    let store = Store::new();
    let id = unique("locked");
    let contexts: Vec<TempDir> = ["A", "B"]
        .iter()
        .map(|name| {
            context_with(&format!(
                "{BASE}RUN --mount=type=cache,target=/c,id={id},sharing=locked \
                 echo start-{name} >> /c/log && sleep 3 && echo end-{name} >> /c/log\n"
            ))
        })
        .collect();
    let children: Vec<_> = contexts
        .iter()
        .enumerate()
        .map(|(i, ctx)| {
            build_cmd(&store, ctx.path(), &format!("locked:{i}"), &[], &[])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn strata build")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "concurrent build failed: {}",
            describe(&out)
        );
    }
    let log = cache_log(&store, &id);
    assert_eq!(log.len(), 4, "expected two start/end pairs: {log:?}");
    for pair in log.chunks(2) {
        let (start, end) = (&pair[0], &pair[1]);
        assert!(
            start.starts_with("start-") && end == &start.replace("start-", "end-"),
            "the two locked steps overlapped: {log:?}"
        );
    }
}

/// (h) `strata prune --cache-mounts` says what it freed, empties the caches, and keeps
/// the images.
#[test]
#[ignore = "needs root: make test"]
fn prune_cache_mounts_empties_the_cache() {
    require_environment();
    let store = Store::new();
    let id = unique("prune");
    let fill = context_with(&format!(
        "{BASE}RUN --mount=type=cache,target=/c,id={id} echo x > /c/f && echo filled > /filled\n"
    ));
    build_ok(&store, fill.path(), "prune:1", &[], &[]);

    let out = run_ok(store.strata().args(["prune", "--cache-mounts"]));
    assert!(
        !String::from_utf8_lossy(&out.stdout).trim().is_empty(),
        "prune printed nothing: {}",
        describe(&out)
    );
    skopeo_validate(store.path(), "prune:1");

    let check = context_with(&format!(
        "{BASE}RUN --mount=type=cache,target=/c,id={id} \
         (test -e /c/f && echo present || echo gone) > /after\n"
    ));
    build_ok(&store, check.path(), "prune:2", &[], &[]);
    assert_eq!(Unpacked::new(&store, "prune:2").read("/after"), "gone\n");
}

// --- secrets ----------------------------------------------------------------------------

/// (c) A file secret and an env secret are readable in their steps (the image records
/// only their hashes), a missing optional secret is simply absent, and no file of the
/// store (raw or decompressed) nor the build output holds the secret bytes.
#[test]
#[ignore = "needs root: make test"]
fn secrets_are_readable_and_leave_no_trace() {
    require_environment();
    let store = Store::new();
    let dir = common::temp_dir("strata-secret-");
    // Distinctive strings that nothing else in a store could contain.
    let file_secret = format!("file-secret-{}-q7Zx9", unique("s"));
    let env_secret = format!("env-secret-{}-K3vW2", unique("s"));
    let src = dir.path().join("tok");
    fs::write(&src, &file_secret).unwrap();
    let ctx = context_with(&format!(
        "{BASE}RUN --mount=type=secret,id=tok sha256sum /run/secrets/tok | cut -d' ' -f1 > /tok.sha\n\
         RUN --mount=type=secret,id=tok2,env=TOK printf %s \"$TOK\" | sha256sum | cut -d' ' -f1 > /tok2.sha \
         && (test -e /run/secrets/tok2 && echo file || echo nofile) > /tok2.file\n\
         RUN --mount=type=secret,id=tok,target=/sec/file,required wc -c < /sec/file > /tok.len\n\
         RUN --mount=type=secret,id=missing (test -e /run/secrets/missing && echo present || echo absent) > /missing\n\
         RUN (env | grep -c '^TOK=' || true) > /env-after\n"
    ));
    let secret_flag = format!("id=tok,src={}", src.display());
    let out = build_ok(
        &store,
        ctx.path(),
        "secret:1",
        &[
            "--secret",
            &secret_flag,
            "--secret",
            "id=tok2,env=STRATA_TEST_SECRET_VAR",
        ],
        &[("STRATA_TEST_SECRET_VAR", &env_secret)],
    );
    let image = Unpacked::new(&store, "secret:1");
    assert_eq!(
        image.read("/tok.sha").trim(),
        sha256_hex(file_secret.as_bytes())
    );
    assert_eq!(
        image.read("/tok2.sha").trim(),
        sha256_hex(env_secret.as_bytes())
    );
    assert_eq!(
        image.read("/tok2.file"),
        "nofile\n",
        "env= alone mounts no file"
    );
    assert_eq!(image.read("/tok.len").trim(), file_secret.len().to_string());
    assert_eq!(image.read("/missing"), "absent\n");
    assert_eq!(
        image.read("/env-after"),
        "0\n",
        "the secret env var outlived its step"
    );
    for path in ["/run/secrets", "/sec"] {
        assert!(!image.exists(path), "{path} is in the image");
    }

    for secret in [&file_secret, &env_secret] {
        let hits = files_containing(store.path(), secret.as_bytes());
        assert!(
            hits.is_empty(),
            "secret found in the store:\n{}",
            hits.join("\n")
        );
        for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "secret found in the build's {stream}"
            );
        }
    }

    // The secret is not part of the step cache key: another value rebuilds nothing.
    fs::write(&src, format!("{file_secret}-rotated")).unwrap();
    build_ok(
        &store,
        ctx.path(),
        "secret:3",
        &[
            "--secret",
            &secret_flag,
            "--secret",
            "id=tok2,env=STRATA_TEST_SECRET_VAR",
        ],
        &[("STRATA_TEST_SECRET_VAR", "rotated")],
    );
    assert_eq!(
        manifest_digest(&store, "secret:3"),
        manifest_digest(&store, "secret:1"),
        "a changed secret invalidated the step cache"
    );

    // A failing step's error names the command, not the secret.
    let failing = context_with(&format!(
        "{BASE}RUN --mount=type=secret,id=tok,env=TOKEN test \"$TOKEN\" = nope\n"
    ));
    let out = output(&mut build_cmd(
        &store,
        failing.path(),
        "secret:2",
        &["--secret", &secret_flag],
        &[],
    ));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        !describe(&out).contains(&file_secret),
        "secret in a failed build's output: {}",
        describe(&out)
    );
}

/// (c) A missing required secret and an unreadable secret source are clear errors.
#[test]
#[ignore = "needs root: make test"]
fn missing_required_secret_is_an_error() {
    require_environment();
    let store = Store::seeded();
    for required in ["required", "required=true"] {
        let stderr = build_fails(
            &store,
            &format!(
                "{BASE}RUN --mount=type=secret,id=nothere,{required} cat /run/secrets/nothere\n"
            ),
            &[],
        );
        assert_names(&stderr, 4, "nothere");
    }
    let missing = format!("/nonexistent/{}", unique("secret-src"));
    let ctx = context_with(&format!("{BASE}RUN --mount=type=secret,id=tok true\n"));
    let out = output(&mut build_cmd(
        &store,
        ctx.path(),
        "bad:1",
        &["--secret", &format!("id=tok,src={missing}")],
        &[],
    ));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&missing),
        "error does not name the secret source: {}",
        describe(&out)
    );
}

// --- bind -------------------------------------------------------------------------------

/// (d) Bind mounts from another stage and from an image of the store.
#[test]
#[ignore = "needs root: make test"]
fn bind_mount_from_stage_and_image() {
    require_environment();
    let store = Store::new();
    let src = context_with(&format!(
        "{BASE}RUN mkdir -p /pub && echo from-image > /pub/i\n"
    ));
    build_ok(&store, src.path(), "bindsrc:1", &[], &[]);
    let ctx = context_with(&format!(
        "{}FROM base AS builder\n\
         RUN mkdir -p /out && echo built > /out/x\n\
         FROM base\n\
         RUN --mount=type=bind,from=builder,source=/out,target=/in cat /in/x > /from-stage\n\
         RUN --mount=type=bind,from=bindsrc:1,source=/pub,target=/img cat /img/i > /from-image\n",
        BASE.replacen("FROM scratch", "FROM scratch AS base", 1)
    ));
    build_ok(&store, ctx.path(), "bind:1", &[], &[]);
    let image = Unpacked::new(&store, "bind:1");
    assert_eq!(image.read("/from-stage"), "built\n");
    assert_eq!(image.read("/from-image"), "from-image\n");
    for path in ["/in", "/img", "/out", "/pub"] {
        assert!(!image.exists(path), "{path} is in the image");
    }
}

/// (d) A context bind mount is read-only by default; with `rw` the step may write, but
/// the writes reach neither the image nor the context directory, nor the next step.
#[test]
#[ignore = "needs root: make test"]
fn bind_mount_from_context_readonly_and_rw_discarded() {
    require_environment();
    let store = Store::new();
    let ctx = context_with(&format!(
        "{BASE}RUN --mount=type=bind,source=data,target=/ctx \
         cat /ctx/f > /ro-read && (touch /ctx/w 2>/dev/null && echo writable || echo readonly) > /ro\n\
         RUN --mount=type=bind,source=data,target=/ctx,rw \
         echo changed > /ctx/f && touch /ctx/new && cat /ctx/f > /rw-seen\n\
         RUN --mount=type=bind,source=data,target=/ctx,readwrite ls /ctx > /rw-list && cat /ctx/f > /after\n"
    ));
    fs::create_dir(ctx.path().join("data")).unwrap();
    fs::write(ctx.path().join("data/f"), "original\n").unwrap();
    let before = fingerprint(ctx.path());
    build_ok(&store, ctx.path(), "bindctx:1", &[], &[]);
    assert_same_fingerprint(&before, &fingerprint(ctx.path()), "rw bind mount: context");

    let image = Unpacked::new(&store, "bindctx:1");
    assert_eq!(image.read("/ro-read"), "original\n");
    assert_eq!(image.read("/ro"), "readonly\n");
    assert_eq!(image.read("/rw-seen"), "changed\n");
    assert_eq!(
        image.read("/rw-list"),
        "f\n",
        "a write of the rw step survived it"
    );
    assert_eq!(image.read("/after"), "original\n");
    assert!(!image.exists("/ctx"), "/ctx is in the image");
    let leaked = entries_matching(&store, &["ctx"], &["new"]);
    assert!(
        leaked.is_empty(),
        "bind mounts reached layers:\n{}",
        leaked.join("\n")
    );
}

/// A bind mount of the context sees what BuildKit sends as the context: `.dockerignore`
/// hides files and directories (read-only and `rw` alike), `!` re-includes, and the
/// directories on the way keep their modes.
#[test]
#[ignore = "needs root: make test"]
fn bind_mount_from_context_honours_dockerignore() {
    require_environment();
    let store = Store::new();
    let ctx = context_with(&format!(
        "{BASE}RUN --mount=type=bind,target=/ctx \
         cd /ctx && find . | sort > /seen && stat -c %a data/sub > /mode\n\
         RUN --mount=type=bind,source=data,target=/ctx,rw cd /ctx && find . | sort > /seen-rw\n"
    ));
    for dir in ["data/sub", "data/logs", "node_modules/x"] {
        fs::create_dir_all(ctx.path().join(dir)).unwrap();
    }
    fs::set_permissions(
        ctx.path().join("data/sub"),
        std::os::unix::fs::PermissionsExt::from_mode(0o750),
    )
    .unwrap();
    for file in [
        "data/keep.txt",
        "data/secret.key",
        "data/sub/a.log",
        "data/sub/b.txt",
        "data/logs/x.log",
        "data/logs/keep.log",
        "node_modules/x/index.js",
    ] {
        fs::write(ctx.path().join(file), file).unwrap();
    }
    fs::write(
        ctx.path().join(".dockerignore"),
        "node_modules\n**/*.key\ndata/sub/*.log\ndata/logs\n!data/logs/keep.log\n",
    )
    .unwrap();
    let before = fingerprint(ctx.path());
    build_ok(&store, ctx.path(), "bindignore:1", &[], &[]);
    assert_same_fingerprint(&before, &fingerprint(ctx.path()), "context after the build");

    let image = Unpacked::new(&store, "bindignore:1");
    assert_eq!(
        image.read("/seen"),
        ".\n./.dockerignore\n./Dockerfile\n./busybox\n./data\n./data/keep.txt\n./data/logs\n\
         ./data/logs/keep.log\n./data/sub\n./data/sub/b.txt\n"
    );
    assert_eq!(image.read("/mode"), "750\n");
    assert_eq!(
        image.read("/seen-rw"),
        ".\n./keep.txt\n./logs\n./logs/keep.log\n./sub\n./sub/b.txt\n"
    );
}

// --- tmpfs ------------------------------------------------------------------------------

/// (e) tmpfs contents are gone after the step, a tmpfs over an existing directory hides
/// it for the step only, and `size=` limits the file system.
#[test]
#[ignore = "needs root: make test"]
fn tmpfs_contents_are_gone_after_the_step() {
    require_environment();
    let store = Store::new();
    let ctx = context_with(&format!(
        "{BASE}RUN mkdir -p /existing && echo keep > /existing/k\n\
         RUN --mount=type=tmpfs,target=/scratch --mount=type=tmpfs,target=/existing \
         echo t > /scratch/tmpfs-file && cat /scratch/tmpfs-file > /seen \
         && ls /existing | wc -l > /hidden && echo x > /existing/tmpfs-new\n\
         RUN --mount=type=tmpfs,target=/sized,size=1048576 df -k /sized | tail -1 | awk '{{print $2}}' > /size-kb\n\
         RUN (test -e /scratch/tmpfs-file && echo present || echo gone) > /after\n"
    ));
    build_ok(&store, ctx.path(), "tmpfs:1", &[], &[]);
    let image = Unpacked::new(&store, "tmpfs:1");
    assert_eq!(image.read("/seen"), "t\n");
    assert_eq!(image.read("/hidden").trim(), "0");
    assert_eq!(image.read("/existing/k"), "keep\n");
    assert!(!image.exists("/existing/tmpfs-new"));
    assert_eq!(image.read("/size-kb").trim(), "1024");
    assert_eq!(image.read("/after"), "gone\n");
    for path in ["/scratch", "/sized"] {
        assert!(!image.exists(path), "{path} is in the image");
    }
    let leaked = entries_matching(&store, &["scratch", "sized"], &["tmpfs-file", "tmpfs-new"]);
    assert!(
        leaked.is_empty(),
        "tmpfs reached layers:\n{}",
        leaked.join("\n")
    );
}

// --- ssh --------------------------------------------------------------------------------

/// An ssh mount exposes the agent socket given with `--ssh` at the default path (with
/// `SSH_AUTH_SOCK` set) or at `target`, and leaves no stub in the image.
#[test]
#[ignore = "needs root: make test"]
fn ssh_mount_forwards_the_agent_socket() {
    require_environment();
    let store = Store::new();
    let dir = common::temp_dir("strata-ssh-");
    let agent = dir.path().join("agent.sock");
    let other = dir.path().join("other.sock");
    let _listeners = [
        UnixListener::bind(&agent).unwrap(),
        UnixListener::bind(&other).unwrap(),
    ];
    let ctx = context_with(&format!(
        "{BASE}RUN --mount=type=ssh (test -S \"$SSH_AUTH_SOCK\" && echo \"$SSH_AUTH_SOCK\") > /default\n\
         RUN --mount=type=ssh,id=deploy,target=/agent/deploy.sock,required \
         (test -S /agent/deploy.sock && echo \"$SSH_AUTH_SOCK\") > /named\n"
    ));
    let named = format!("deploy={}", other.display());
    let agent_env = agent.display().to_string();
    build_ok(
        &store,
        ctx.path(),
        "ssh:1",
        &["--ssh", "default", "--ssh", &named],
        &[("SSH_AUTH_SOCK", &agent_env)],
    );
    let image = Unpacked::new(&store, "ssh:1");
    assert_eq!(image.read("/default"), "/run/buildkit/ssh_agent.0\n");
    assert_eq!(image.read("/named"), "/agent/deploy.sock\n");
    for path in ["/run/buildkit", "/agent"] {
        assert!(!image.exists(path), "{path} is in the image");
    }

    let stderr = build_fails(
        &store,
        &format!("{BASE}RUN --mount=type=ssh,id=absent,required true\n"),
        &[],
    );
    assert_names(&stderr, 4, "absent");
}

// --- network ----------------------------------------------------------------------------

/// Interface names listed in a `/proc/net/dev` text.
fn interfaces(proc_net_dev: &str) -> BTreeSet<String> {
    proc_net_dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split_once(':'))
        .map(|(name, _)| name.trim().to_owned())
        .collect()
}

/// (f) `RUN --network=none` sees only `lo`, while the build's default (host) and
/// explicit `host`/`default` steps see the host's interfaces; with `--network none` on
/// the command line, `default` means none.
#[test]
#[ignore = "needs root: make test"]
fn per_step_network() {
    require_environment();
    let host = interfaces(&fs::read_to_string("/proc/net/dev").unwrap());
    assert!(
        host.len() > 1,
        "the host network has only {host:?}: this test needs an interface besides lo"
    );
    let lo: BTreeSet<String> = ["lo".to_owned()].into();
    let store = Store::new();
    let ctx = context_with(&format!(
        "{BASE}RUN cat /proc/net/dev > /net-build-default\n\
         RUN --network=none cat /proc/net/dev > /net-none\n\
         RUN --network=host cat /proc/net/dev > /net-host\n\
         RUN --network=default cat /proc/net/dev > /net-default\n"
    ));
    build_ok(&store, ctx.path(), "net:1", &[], &[]);
    let image = Unpacked::new(&store, "net:1");
    assert_eq!(interfaces(&image.read("/net-none")), lo);
    for path in ["/net-build-default", "/net-host", "/net-default"] {
        assert_eq!(interfaces(&image.read(path)), host, "{path}");
    }

    let ctx = context_with(&format!(
        "{BASE}RUN --network=default cat /proc/net/dev > /net-default\n"
    ));
    build_ok(&store, ctx.path(), "net:2", &["--network", "none"], &[]);
    assert_eq!(
        interfaces(&Unpacked::new(&store, "net:2").read("/net-default")),
        lo
    );
}

// --- errors -----------------------------------------------------------------------------

/// (g) Bad mount and network options: exit code 2, the line and the option named, the
/// store untouched.
#[test]
#[ignore = "needs root: make test"]
fn mount_option_errors_name_line_and_option() {
    require_environment();
    let store = Store::seeded();
    let cases = [
        ("--mount=type=nfs,target=/x", "nfs"),
        ("--mount=type=cache,target=/x,frobnicate=1", "frobnicate"),
        ("--mount=type=cache,id=x", "target"),
        ("--mount=type=tmpfs", "target"),
        (
            "--mount=type=cache,target=/x,sharing=sometimes",
            "sometimes",
        ),
        ("--mount=type=tmpfs,target=/x,size=huge", "huge"),
        ("--network=bogus", "bogus"),
    ];
    for (flag, word) in cases {
        // A blank line and a comment first, so line 6 is not the line count by chance.
        let dockerfile = format!("{BASE}\n# comment\nRUN {flag} true\n");
        let stderr = build_fails(&store, &dockerfile, &[]);
        assert_names(&stderr, 6, word);
    }
}
