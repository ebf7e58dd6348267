//! `strata build` as docker users drive it, through the CLI: `--label`, `--iidfile`, a
//! Dockerfile on standard input (`-f -`), ONBUILD triggers of a stored image, and a build
//! whose binary file goes away.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{context_with, describe, image_config, require_environment, run_ok, Store, BASE};

#[test]
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

#[test]
fn a_dockerfile_on_stdin_builds_with_the_given_context() {
    require_environment();
    let store = Store::new();
    // The context's own Dockerfile says something else: stdin wins.
    let ctx = context_with(&format!("{BASE}RUN echo from-the-context > /msg\n"));
    std::fs::write(ctx.path().join("note.txt"), "copied from the context\n").unwrap();
    let mut child = store
        .strata()
        .args(["build", "-q", "-t", "stdin:1", "-f", "-"])
        .arg(ctx.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{BASE}COPY note.txt /msg\nCMD [\"cat\", \"/msg\"]\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let run = run_ok(store.strata().args(["run", "stdin:1"]));
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "copied from the context\n"
    );

    // Errors in it name standard input and the line.
    let mut child = store
        .strata()
        .args(["build", "-f", "-"])
        .arg(ctx.path())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"FROM scratch\nFROBNICATE x\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("<stdin>:2"), "{stderr}");
}

/// An upgrade that replaces the strata binary during a build does not break its RUN
/// steps: the sandbox re-executes the running binary, not its path.
#[test]
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
    let bare = context_with("FROM onbase:1\n");
    let out = common::output(
        store
            .strata()
            .args(["build", "-t", "bare:1"])
            .arg(bare.path()),
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ONBUILD triggers of onbase:1") && stderr.contains("config.txt"),
        "{stderr}"
    );
}
