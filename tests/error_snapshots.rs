//! What a failing `strata` prints: the real binary's stderr, snapshotted with insta, so
//! a change to the error printer (`error:` line, source excerpt, one `Caused by:` line per
//! cause, `hint:` lines) or to a message shows up in review. Temp paths and digests are
//! replaced by placeholders first. A FROM of an image not in the store is pulled from
//! docker.io, which the tests' registries.conf sends to a closed port.
//!
//! Builds need root (the binary enters a private mount namespace first), hence `make test`;
//! family, lint and store errors do not.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::{context_with, describe, output, require_environment, Store, BASE};
use tempfile::TempDir;

/// Runs `cmd`, expects exit code 2 and returns its stderr with `dirs` replaced by their
/// placeholders (longest first, so a store inside a context is named as the store) and
/// digests by `sha256:DIGEST`.
fn failing_stderr(cmd: &mut Command, dirs: &[(&Path, &str)]) -> String {
    let out = output(cmd);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
    let mut dirs = dirs.to_vec();
    dirs.sort_by_key(|(dir, _)| std::cmp::Reverse(dir.as_os_str().len()));
    for (dir, placeholder) in dirs {
        text = text.replace(&dir.display().to_string(), placeholder);
    }
    without_digests(&text)
}

/// `text` with every `sha256:` followed by hex digits written `sha256:DIGEST`.
fn without_digests(text: &str) -> String {
    const PREFIX: &str = "sha256:";
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(PREFIX) {
        let after = &rest[at + PREFIX.len()..];
        let hex = after.len()
            - after
                .trim_start_matches(|c: char| c.is_ascii_hexdigit())
                .len();
        out.push_str(&rest[..at]);
        out.push_str(if hex > 0 { "sha256:DIGEST" } else { PREFIX });
        rest = &after[hex..];
    }
    out + rest
}

/// `strata build -q` of `dockerfile` (a context with busybox) with extra flags; its stderr.
fn build_stderr(dockerfile: &str, flags: &[&str]) -> String {
    require_environment();
    let store = Store::new();
    let ctx = context_with(dockerfile);
    failing_stderr(
        store
            .strata()
            .args(["build", "-q", "-t", "bad:1"])
            .args(flags)
            .arg(ctx.path()),
        &[
            (ctx.path(), "[CTX]"),
            (store.path(), "[STORE]"),
            (common::hermetic_registries_conf(), "[REGISTRIES_CONF]"),
        ],
    )
}

/// A family folder holding `files`.
fn family_dir(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix("strata-family-")
        .tempdir()
        .unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    dir
}

/// `strata plan` of a family of `files` with extra flags; its stderr (no root needed).
fn plan_stderr(files: &[(&str, &str)], flags: &[&str]) -> String {
    let store = Store::new();
    let dir = family_dir(files);
    failing_stderr(
        // The folder first, as users often write it.
        store.strata().arg("plan").arg(dir.path()).args(flags),
        &[(dir.path(), "[FAMILY]"), (store.path(), "[STORE]")],
    )
}

#[test]
#[ignore = "needs root: make test"]
fn syntax_error_unterminated_heredoc() {
    insta::assert_snapshot!(build_stderr(
        &format!("{BASE}RUN <<EOT\necho never ends\n"),
        &[]
    ));
}

#[test]
#[ignore = "needs root: make test"]
fn unknown_instruction_with_suggestion() {
    insta::assert_snapshot!(build_stderr(&format!("{BASE}RUNN echo hi\n"), &[]));
}

#[test]
#[ignore = "needs root: make test"]
fn unknown_copy_from_stage() {
    insta::assert_snapshot!(build_stderr(
        &format!("{BASE}COPY --from=no-such-stage /x /x\n"),
        &["--network", "none"]
    ));
}

#[test]
#[ignore = "needs root: make test"]
fn missing_copy_source() {
    insta::assert_snapshot!(build_stderr(&format!("{BASE}COPY no-such-file /x\n"), &[]));
}

#[test]
#[ignore = "needs root: make test"]
fn failing_run_exit_code() {
    insta::assert_snapshot!(build_stderr(
        &format!("{BASE}RUN echo fine\nRUN echo broken >&2; exit 3\n"),
        &[]
    ));
}

#[test]
#[ignore = "needs root: make test"]
fn sandbox_error_names_the_run_line() {
    // Not a failing command but a failing sandbox: shown at the RUN's line, cause below.
    insta::assert_snapshot!(build_stderr(
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/no-such-program\"]\n",
        &[]
    ));
}

#[test]
#[ignore = "needs root: make test"]
fn bad_run_mount_flag() {
    insta::assert_snapshot!(build_stderr(
        &format!("{BASE}RUN --mount=type=frobnicate,target=/x true\n"),
        &[]
    ));
}

#[test]
#[ignore = "needs root: make test"]
fn unknown_image_in_from() {
    insta::assert_snapshot!(build_stderr("FROM no-such-image:1\nRUN true\n", &[]));
}

#[test]
#[ignore = "needs root: make test"]
fn unknown_target() {
    insta::assert_snapshot!(build_stderr(
        &format!("{BASE}FROM scratch AS real\n"),
        &["--target", "imaginary"]
    ));
}

#[test]
#[ignore = "needs root: make test"]
fn bad_platform() {
    insta::assert_snapshot!(build_stderr(
        "FROM localhost:1/x:1\n",
        &["--platform", "linux"]
    ));
}

#[test]
#[ignore = "needs root: make test"]
fn bad_secret_flag() {
    insta::assert_snapshot!(build_stderr(BASE, &["--secret", "src=/nowhere"]));
}

#[test]
#[ignore = "needs root: make test"]
fn run_without_command() {
    require_environment();
    let store = Store::new();
    let ctx = context_with("FROM scratch\nCOPY busybox /bin/busybox\n");
    store.build(ctx.path(), "no-cmd:1", &[]);
    insta::assert_snapshot!(failing_stderr(
        store.strata().args(["run", "no-cmd:1"]),
        &[(store.path(), "[STORE]")]
    ));
}

#[test]
fn pull_bad_platform() {
    let store = Store::new();
    insta::assert_snapshot!(failing_stderr(
        store
            .strata()
            .args(["pull", "localhost:1/x:1", "--platform", "linux"]),
        &[(store.path(), "[STORE]")]
    ));
}

#[test]
fn broken_strata_toml() {
    insta::assert_snapshot!(plan_stderr(
        &[
            ("strata.toml", "[family]\nname = \"x\n"),
            ("base/Dockerfile", "FROM scratch\n")
        ],
        &[]
    ));
}

#[test]
fn unknown_tier_with_hint() {
    insta::assert_snapshot!(plan_stderr(
        &[
            (
                "strata.toml",
                "[family]\nname = \"x\"\n\n[images.base]\ntier = \"bsae\"\n"
            ),
            ("base/Dockerfile", "FROM scratch\n")
        ],
        &[]
    ));
}

#[test]
fn family_cycle() {
    insta::assert_snapshot!(plan_stderr(
        &[
            (
                "strata.toml",
                "[family]\nname = \"x\"\n[images.a]\ntier = \"app\"\n[images.b]\ntier = \"app\"\n"
            ),
            ("a/Dockerfile", "FROM b\n"),
            ("b/Dockerfile", "# b\nFROM scratch AS s\nFROM a\n"),
        ],
        &[]
    ));
}

#[test]
fn family_unknown_only_image() {
    insta::assert_snapshot!(plan_stderr(
        &[
            (
                "strata.toml",
                "[family]\nname = \"x\"\n\n[images.base]\ntier = \"base\"\n"
            ),
            ("base/Dockerfile", "FROM scratch\n")
        ],
        &["--only", "nope"]
    ));
}

#[test]
fn family_missing_manifest() {
    insta::assert_snapshot!(plan_stderr(&[("README", "not a family\n")], &[]));
}

#[test]
fn lint_missing_file() {
    let store = Store::new();
    insta::assert_snapshot!(failing_stderr(
        store
            .strata()
            .args(["lint", "/nonexistent/strata-lint/Dockerfile"]),
        &[(store.path(), "[STORE]")]
    ));
}

#[test]
fn inspect_unknown_image() {
    let store = Store::new();
    insta::assert_snapshot!(failing_stderr(
        store.strata().args(["inspect", "no-such-image:1"]),
        &[(store.path(), "[STORE]")]
    ));
}

#[test]
fn inspect_store_not_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("store");
    fs::write(&file, "a file, not a store\n").unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
    cmd.arg("--store").arg(&file).args(["inspect", "x:1"]);
    insta::assert_snapshot!(failing_stderr(&mut cmd, &[(dir.path(), "[DIR]")]));
}

#[test]
#[ignore = "needs root: make test"]
fn unknown_user_names_the_user_line() {
    insta::assert_snapshot!(build_stderr(&format!("{BASE}USER app\nRUN true\n"), &[]));
}
