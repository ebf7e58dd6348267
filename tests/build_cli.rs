//! `strata build` as docker users drive it, through the CLI: `--label`, `--iidfile`, a
//! Dockerfile on standard input (`-f -`), `--output`, ONBUILD triggers of a stored image,
//! `ADD <url>` (and `--unpack`), a build whose binary file goes away, the default
//! Dockerfile names, and COPY's located refusals, sockets and `.dockerignore` errors.

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use common::{
    context_with, describe, image_config, output_with_stdin, require_environment, run_ok, Store,
    BASE,
};

/// Builds a context holding `dockerfile` (and busybox), which must fail with exit code 2
/// and no closing summary; returns what strata printed on stderr.
fn failed_build(store: &Store, dockerfile: &str) -> String {
    failed_build_of(store, &context_with(dockerfile))
}

/// [`failed_build`] of a context already written.
fn failed_build_of(store: &Store, ctx: &tempfile::TempDir) -> String {
    let out = common::output(
        store
            .strata()
            .args(["build", "-t", "bad:1"])
            .arg(ctx.path()),
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    // The error is the last word: no success-style summary of what was built.
    assert!(!stderr.contains("steps run"), "{stderr}");
    stderr
}

#[test]
#[ignore = "needs root: make test"]
fn labels_go_into_the_config_over_the_dockerfiles() {
    require_environment();
    let store = Store::new();
    let ctx = context_with(&format!("{BASE}LABEL team=core tier=base\n"));
    let iid = ctx.path().join("iid");
    let out = run_ok(
        store
            .strata()
            .args(["build", "-q", "-t", "labelled:1"])
            .args([
                "--label",
                "tier=app",
                "--label",
                "org.example.commit=abc123",
            ])
            .arg("--iidfile")
            .arg(&iid)
            .arg(ctx.path()),
    );
    let digest = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), digest);
    assert!(digest.starts_with("sha256:"), "{digest}");
    let config = image_config(store.path(), "labelled:1");
    let labels = &config["config"]["Labels"];
    assert_eq!(labels["team"], "core", "{config}");
    assert_eq!(labels["tier"], "app", "{config}");
    assert_eq!(labels["org.example.commit"], "abc123", "{config}");

    let bad = common::output(
        store
            .strata()
            .args(["build", "--label", "=x"])
            .arg(ctx.path()),
    );
    assert_eq!(bad.status.code(), Some(2), "{}", describe(&bad));
}

/// `strata build ARGS -f - CONTEXT` with `dockerfile` on its standard input.
fn build_from_stdin(
    store: &Store,
    args: &[&str],
    context: &std::path::Path,
    dockerfile: &str,
) -> std::process::Output {
    output_with_stdin(
        store
            .strata()
            .arg("build")
            .args(args)
            .args(["-f", "-"])
            .arg(context),
        dockerfile,
    )
}

#[test]
#[ignore = "needs root: make test"]
fn a_dockerfile_on_stdin_builds_with_the_given_context() {
    require_environment();
    let store = Store::new();
    // The context's own Dockerfile says something else: stdin wins.
    let ctx = context_with(&format!("{BASE}RUN echo from-the-context > /msg\n"));
    std::fs::write(ctx.path().join("note.txt"), "copied from the context\n").unwrap();
    let out = build_from_stdin(
        &store,
        &["-q", "-t", "stdin:1"],
        ctx.path(),
        &format!("{BASE}COPY note.txt /msg\nCMD [\"cat\", \"/msg\"]\n"),
    );
    assert!(out.status.success(), "{}", describe(&out));
    let run = run_ok(store.strata().args(["run", "stdin:1"]));
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "copied from the context\n"
    );

    // Errors in it name standard input and the line.
    let out = build_from_stdin(&store, &[], ctx.path(), "FROM scratch\nFROBNICATE x\n");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("<stdin>:2"), "{stderr}");
}

/// An upgrade that replaces the strata binary during a build does not break its RUN
/// steps: the sandbox re-executes the running binary, not its path.
#[test]
#[ignore = "needs root: make test"]
fn a_build_outlives_its_binary_file() {
    require_environment();
    let store = Store::new();
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("strata");
    std::fs::copy(env!("CARGO_BIN_EXE_strata"), &exe).unwrap();
    let ctx = context_with(&format!(
        "{BASE}RUN echo one > /one\nRUN echo two > /two\nCMD [\"cat\", \"/one\", \"/two\"]\n"
    ));
    let child = std::process::Command::new(&exe)
        .arg("--store")
        .arg(store.path())
        .args(["build", "-q", "-t", "orphan:1"])
        .arg(ctx.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // spawn() returns once the binary is executing: delete its file now.
    std::fs::remove_file(&exe).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let run = run_ok(store.strata().args(["run", "orphan:1"]));
    assert_eq!(String::from_utf8_lossy(&run.stdout), "one\ntwo\n");
}

/// A stored image's ONBUILD triggers run in a build FROM it, with the child's context,
/// and are not inherited; a trigger that fails names the base and the trigger.
#[test]
#[ignore = "needs root: make test"]
fn onbuild_triggers_of_a_stored_image_run_in_the_child() {
    require_environment();
    let store = Store::new();
    let parent = context_with(&format!(
        "{BASE}ONBUILD COPY config.txt /etc/app.conf\nONBUILD RUN wc -c < /etc/app.conf > /conf.size\n"
    ));
    store.build(parent.path(), "onbase:1", &[]);
    let child = context_with("FROM onbase:1\nCMD [\"cat\", \"/etc/app.conf\", \"/conf.size\"]\n");
    std::fs::write(child.path().join("config.txt"), "mode=child\n").unwrap();
    store.build(child.path(), "onchild:1", &[]);
    let run = run_ok(store.strata().args(["run", "onchild:1"]));
    assert_eq!(String::from_utf8_lossy(&run.stdout), "mode=child\n11\n");
    let config = image_config(store.path(), "onchild:1");
    assert!(config["config"]["OnBuild"].is_null(), "{config}");

    // Without config.txt in its context the trigger's COPY fails, naming the trigger.
    let stderr = failed_build(&store, "FROM onbase:1\n");
    assert!(
        stderr.contains("ONBUILD triggers of onbase:1") && stderr.contains("config.txt"),
        "{stderr}"
    );

    // A trigger naming an image that does not exist is located in the triggers too.
    let parent = context_with(&format!("{BASE}ONBUILD COPY --from=nosuch:1 /x /x\n"));
    store.build(parent.path(), "onfrom:1", &[]);
    let stderr = failed_build(&store, "FROM onfrom:1\n");
    assert!(
        stderr.contains("<ONBUILD triggers of onfrom:1>:2") && stderr.contains("nosuch:1"),
        "{stderr}"
    );
}

/// Serves `files` (URL path -> body) over HTTP on 127.0.0.1 from a thread, one request per
/// connection, 404 for anything else; returns the base URL.
fn serve(files: Vec<(&'static str, Vec<u8>)>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            let _ = std::io::BufRead::read_line(&mut reader, &mut request);
            // Skip the headers.
            let mut line = String::new();
            while std::io::BufRead::read_line(&mut reader, &mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request.split_whitespace().nth(1).unwrap_or_default();
            let (status, body) = match files.iter().find(|(p, _)| *p == path) {
                Some((_, body)) => ("200 OK", body.clone()),
                None => ("404 Not Found", b"not here\n".to_vec()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    base
}

/// `ADD <url>` downloads with strata's own client: named after the URL's last path
/// segment, mode 0600, never unpacked, `--checksum` enforced, the content in the cache key.
/// A gzipped tar holding `inside.txt` ("in\n").
fn tarball() -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let mut header = tar::Header::new_gnu();
    header.set_size(3);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, "inside.txt", &b"in\n"[..])
        .unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

/// The root filesystem of `reference` in `store`, unpacked into `scratch`.
fn rootfs_of(store: &Store, reference: &str, scratch: &tempfile::TempDir) -> std::path::PathBuf {
    let bundle = scratch.path().join("bundle");
    common::umoci_unpack(&store.image(reference), &bundle);
    bundle.join("rootfs")
}

#[test]
#[ignore = "needs root: make test"]
fn add_downloads_urls() {
    require_environment();
    let store = Store::new();
    let tarball = tarball();
    let hello = b"hello over http\n".to_vec();
    let hello_digest = strata::digest::Digest::of(&hello);
    let base = serve(vec![
        ("/files/hello%20world.txt", hello.clone()),
        ("/dist/tool.tar.gz", tarball.clone()),
    ]);
    let ctx = context_with(&format!(
        "{BASE}ADD {base}/files/hello%20world.txt /dl/\n\
         ADD --checksum={hello_digest} {base}/files/hello%20world.txt /checked.txt\n\
         ADD --chmod=644 {base}/dist/tool.tar.gz /dl/\n"
    ));
    store.build(ctx.path(), "fetched:1", &[]);
    let scratch = tempfile::tempdir().unwrap();
    let rootfs = rootfs_of(&store, "fetched:1", &scratch);
    let read = |p: &str| std::fs::read(rootfs.join(p)).unwrap();
    let mode = |p: &str| {
        std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(rootfs.join(p)).unwrap().permissions(),
        ) & 0o7777
    };
    assert_eq!(read("dl/hello world.txt"), hello);
    assert_eq!(mode("dl/hello world.txt"), 0o600);
    assert_eq!(read("checked.txt"), hello);
    // Not unpacked: the archive is there byte for byte.
    assert_eq!(read("dl/tool.tar.gz"), tarball);
    assert_eq!(mode("dl/tool.tar.gz"), 0o644);
    assert!(!rootfs.join("dl/inside.txt").exists());

    // A wrong checksum and a missing file are located errors.
    let wrong = strata::digest::Digest::of(b"something else");
    for (line, expected) in [
        (
            format!("ADD --checksum={wrong} {base}/files/hello%20world.txt /x\n"),
            "checksum mismatch",
        ),
        (format!("ADD {base}/nope.txt /x\n"), "404"),
    ] {
        let stderr = failed_build(&store, &format!("{BASE}{line}"));
        assert!(
            stderr.contains(expected) && stderr.contains("Dockerfile:4"),
            "{stderr}"
        );
    }
}

/// `ADD --unpack=true <url>` extracts a downloaded archive into the destination, and
/// copies a download that is no archive as it is (BuildKit's `AttemptUnpack` on the
/// HTTP source; `testDockerfileAddArchive`).
#[test]
#[ignore = "needs root: make test"]
fn add_unpack_true_extracts_a_download() {
    require_environment();
    let store = Store::new();
    let base = serve(vec![
        ("/dist/tool.tar.gz", tarball()),
        ("/files/plain.txt", b"plain\n".to_vec()),
    ]);
    let ctx = context_with(&format!(
        "{BASE}ADD --unpack=true {base}/dist/tool.tar.gz /dest/\n\
         ADD --unpack=true {base}/files/plain.txt /plain/\n\
         ADD {base}/dist/tool.tar.gz /kept/\n"
    ));
    store.build(ctx.path(), "unpacked:1", &[]);
    let scratch = tempfile::tempdir().unwrap();
    let rootfs = rootfs_of(&store, "unpacked:1", &scratch);
    assert_eq!(
        std::fs::read(rootfs.join("dest/inside.txt")).unwrap(),
        b"in\n"
    );
    assert!(!rootfs.join("dest/tool.tar.gz").exists());
    assert_eq!(
        std::fs::read(rootfs.join("plain/plain.txt")).unwrap(),
        b"plain\n"
    );
    assert_eq!(
        std::fs::read(rootfs.join("kept/tool.tar.gz")).unwrap(),
        tarball()
    );
}

/// What BuildKit refuses in a COPY, refused at the instruction's line: a `--chmod`
/// that is neither octal up to 7777 nor symbolic (`testCopyInvalidChmod`), a plain
/// missing source even beside a wildcard that may match nothing, a `--parents` path
/// without wildcards that does not exist (`testCopyParentsMissingDirectory`), and a
/// bare `!` among `--exclude` patterns (patternmatcher's "illegal exclusion pattern").
#[test]
#[ignore = "needs root: make test"]
fn copy_refusals_are_located() {
    require_environment();
    let store = Store::new();
    for (line, expected) in [
        (
            "COPY --chmod=64a busybox /x\n",
            "invalid --chmod value \"64a\"",
        ),
        (
            "COPY --chmod=10000 busybox /x\n",
            "invalid --chmod value \"10000\"",
        ),
        ("COPY --chmod=u+q busybox /x\n", "or a symbolic mode"),
        (
            "COPY busybox missing nomatch* /x/\n",
            "COPY source \"missing\" not found in the build context",
        ),
        (
            "COPY --parents /nonexistent-file /out/\n",
            "COPY source \"/nonexistent-file\" not found",
        ),
        (
            "COPY --parents nowhere/./x* /out/\n",
            "COPY source \"nowhere/./x*\" not found",
        ),
        ("COPY --exclude=! busybox /x\n", "illegal exclusion pattern"),
    ] {
        let stderr = failed_build(&store, &format!("{BASE}{line}"));
        assert!(
            stderr.contains(expected) && stderr.contains("Dockerfile:4"),
            "{line}: {stderr}"
        );
    }
}

/// A unix socket in the context is copied as an empty regular file with the socket's
/// permission bits: BuildKit's context transfer clears the socket type bit (fsutil's
/// `mkstat`; `testCopySocket`).
#[test]
#[ignore = "needs root: make test"]
fn a_context_socket_becomes_an_empty_file() {
    require_environment();
    let store = Store::new();
    let ctx = context_with(&format!("{BASE}COPY . /ctx/\nCOPY app.sock /named.sock\n"));
    let socket = ctx.path().join("app.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o640)).unwrap();
    store.build(ctx.path(), "socket:1", &[]);
    let scratch = tempfile::tempdir().unwrap();
    let rootfs = rootfs_of(&store, "socket:1", &scratch);
    for path in ["ctx/app.sock", "named.sock"] {
        let meta = std::fs::symlink_metadata(rootfs.join(path)).unwrap();
        assert!(meta.file_type().is_file(), "{path}: {meta:?}");
        assert_eq!(meta.len(), 0, "{path}");
        assert_eq!(meta.permissions().mode() & 0o7777, 0o640, "{path}");
    }
}

/// A `.dockerignore` line that is only `!` fails the build, named by file and line, as
/// patternmatcher's "illegal exclusion pattern" fails BuildKit's (`testDockerignoreInvalid`).
#[test]
#[ignore = "needs root: make test"]
fn a_bare_bang_in_dockerignore_fails_the_build() {
    require_environment();
    let store = Store::new();
    let ctx = context_with(&format!("{BASE}COPY . /ctx/\n"));
    std::fs::write(ctx.path().join(".dockerignore"), "*.log\n!\n").unwrap();
    let stderr = failed_build_of(&store, &ctx);
    assert!(
        stderr.contains(".dockerignore:2:1: illegal exclusion pattern: \"!\""),
        "{stderr}"
    );
}

/// `--output` writes the final filesystem out of the store, as `docker build -o` does: a
/// directory (deleted files gone, links and owners kept) or a tar, to a file or stdout.
#[test]
#[ignore = "needs root: make test"]
fn output_writes_the_filesystem_out() {
    require_environment();
    let store = Store::new();
    let ctx = context_with(&format!(
        "{BASE}RUN mkdir -p /out && echo artifact > /out/app.bin && echo gone > /out/tmp \
         && ln -s app.bin /out/link && chown 1000:1001 /out/app.bin\nRUN rm /out/tmp\n"
    ));
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local");
    run_ok(
        store
            .strata()
            .args(["build", "-q", "-t", "out:1", "-o"])
            .arg(format!("type=local,dest={}", local.display()))
            .arg(ctx.path()),
    );
    assert_eq!(
        std::fs::read_to_string(local.join("out/app.bin")).unwrap(),
        "artifact\n"
    );
    assert!(!local.join("out/tmp").exists());
    assert_eq!(
        std::fs::read_link(local.join("out/link")).unwrap(),
        std::path::Path::new("app.bin")
    );
    let meta = std::fs::metadata(local.join("out/app.bin")).unwrap();
    assert_eq!(
        (
            std::os::unix::fs::MetadataExt::uid(&meta),
            std::os::unix::fs::MetadataExt::gid(&meta)
        ),
        (1000, 1001)
    );
    assert!(local.join("bin/busybox").is_file());

    // A tar file, and a tar on stdout (the digest then goes to stderr): same entries.
    let tar_file = dir.path().join("rootfs.tar");
    run_ok(
        store
            .strata()
            .args(["build", "-q", "-o"])
            .arg(format!("type=tar,dest={}", tar_file.display()))
            .arg(ctx.path()),
    );
    let to_stdout = run_ok(
        store
            .strata()
            .args(["build", "-q", "-o", "-"])
            .arg(ctx.path()),
    );
    assert!(String::from_utf8_lossy(&to_stdout.stderr).contains("sha256:"));
    let entries = |bytes: &[u8]| -> Vec<String> {
        tar::Archive::new(bytes)
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    let listed = entries(&std::fs::read(&tar_file).unwrap());
    assert!(listed.iter().any(|p| p == "out/app.bin"), "{listed:?}");
    assert!(!listed.iter().any(|p| p == "out/tmp"), "{listed:?}");
    assert_eq!(entries(&to_stdout.stdout), listed);
}

#[test]
#[ignore = "needs root: make test"]
fn a_lowercase_dockerfile_is_found_as_buildkit_finds_it() {
    require_environment();
    let store = Store::new();
    let ctx = context_with(&format!("{BASE}RUN echo lower > /which\n"));
    std::fs::rename(ctx.path().join("Dockerfile"), ctx.path().join("dockerfile")).unwrap();
    store.build(ctx.path(), "lower:1", &[]);
    // `Dockerfile` wins over `dockerfile` when both are there.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("{BASE}RUN echo upper > /which\n"),
    )
    .unwrap();
    store.build(ctx.path(), "upper:1", &[]);
    let which = |tag: &str| {
        let out = run_ok(store.strata().args(["run", tag, "--", "cat", "/which"]));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(which("lower:1"), "lower\n");
    assert_eq!(which("upper:1"), "upper\n");
}

#[test]
#[ignore = "needs root: make test"]
fn plain_progress_shows_the_whole_of_a_multi_line_run() {
    require_environment();
    let store = Store::new();
    let ctx = context_with(&format!(
        "{BASE}RUN echo one > /one \\\n    # a comment inside\n    && echo two > /two\n"
    ));
    let out = run_ok(
        store
            .strata()
            .args(["build", "--progress", "plain", "-t", "multi:1"])
            .arg(ctx.path()),
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("3/3] RUN echo one > /one     && echo two > /two\n"),
        "{log}"
    );
}
