//! The times strata writes into images (`src/epoch.rs`), through the CLI: without
//! `SOURCE_DATE_EPOCH` an image's `created` is the commit time of `HEAD` in the git
//! repository holding the build (0 outside one) and its files' mtimes stay 0, so a new
//! commit gives new configs but keeps every step cached, in a family too; with
//! `SOURCE_DATE_EPOCH` both are that time, and a bad value is refused.

mod common;

use std::path::Path;
use std::process::Command;

use common::{
    describe, git, image_config, output, require_environment, run_ok, umoci_unpack, Store, BASE,
};

/// Commit times the tests give their commits.
const FIRST: u64 = 1_700_000_000;
const SECOND: u64 = 1_700_086_400;

/// `strata --store STORE` without any `SOURCE_DATE_EPOCH` from the environment.
fn strata(store: &Store) -> Command {
    let mut cmd = store.strata();
    cmd.env_remove("SOURCE_DATE_EPOCH");
    cmd
}

/// Commits everything in `dir` at `seconds`, as author and committer.
fn commit_at(dir: &Path, seconds: u64, message: &str) {
    let date = format!("@{seconds} +0000");
    for args in [
        &["add", "-A"][..],
        &["commit", "-q", "--allow-empty", "-m", message],
    ] {
        run_ok(
            Command::new("git")
                .current_dir(dir)
                .env("GIT_AUTHOR_DATE", &date)
                .env("GIT_COMMITTER_DATE", &date)
                .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
                .args(args),
        );
    }
}

/// The config's `created` and those of the history entries the build added (the ones
/// strata writes, marked `# buildkit`).
fn created_times(store: &Store, tag: &str) -> (String, Vec<String>) {
    let config = image_config(store.path(), tag);
    let history = config["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| {
            h["created_by"]
                .as_str()
                .unwrap_or("")
                .ends_with("# buildkit")
        })
        .map(|h| h["created"].as_str().unwrap().to_owned())
        .collect();
    (config["created"].as_str().unwrap().to_owned(), history)
}

/// The mtime `path` has in the layers of image `tag`, as umoci unpacks them.
fn mtime_in(store: &Store, tag: &str, path: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let scratch = common::temp_dir("strata-epoch-unpack-");
    let bundle = scratch.path().join("bundle");
    umoci_unpack(&store.image(tag), &bundle);
    let file = bundle.join("rootfs").join(path.trim_start_matches('/'));
    std::fs::symlink_metadata(file).unwrap().mtime() as u64
}

/// `strata build --progress plain -t TAG DIR`, returning (digest, stderr).
fn build(store: &Store, dir: &Path, tag: &str) -> (String, String) {
    let out = run_ok(
        strata(store)
            .args(["build", "--progress", "plain", "-t", tag])
            .arg(dir),
    );
    (
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
#[ignore = "needs root: make test"]
fn created_is_the_commit_time_and_a_new_commit_keeps_the_cache() {
    require_environment();
    let ctx = common::context_with(&format!("{BASE}RUN echo made > /made\nCOPY note /note\n"));
    std::fs::write(ctx.path().join("note"), "hello\n").unwrap();
    git(ctx.path(), &["init", "-q"]);
    commit_at(ctx.path(), FIRST, "first");
    let store = Store::new();

    let (first, _) = build(&store, ctx.path(), "dated:1");
    let (created, history) = created_times(&store, "dated:1");
    assert_eq!(created, "2023-11-14T22:13:20Z");
    assert!(!history.is_empty());
    assert!(history.iter().all(|h| *h == created), "{history:?}");
    // Files keep mtime 0, whatever the commit: layers never change with the date.
    assert_eq!(mtime_in(&store, "dated:1", "/made"), 0);
    assert_eq!(mtime_in(&store, "dated:1", "/note"), 0);

    // A commit that changes nothing the image is built from: every step is cached, only
    // the config (its dates) differs.
    std::fs::write(ctx.path().join("README"), "docs\n").unwrap();
    std::fs::write(ctx.path().join(".dockerignore"), "README\n").unwrap();
    commit_at(ctx.path(), SECOND, "second");
    let (second, log) = build(&store, ctx.path(), "dated:2");
    assert!(log.contains("0 steps run"), "{log}");
    assert_ne!(first, second);
    assert_eq!(created_times(&store, "dated:2").0, "2023-11-15T22:13:20Z");

    // The same commit built again in a fresh store gives the same digest.
    let fresh = Store::new();
    assert_eq!(build(&fresh, ctx.path(), "dated:2").0, second);

    // Outside a git repository, created is 0.
    let plain = common::context_with(&format!("{BASE}RUN echo made > /made\n"));
    build(&store, plain.path(), "undated:1");
    assert_eq!(created_times(&store, "undated:1").0, "1970-01-01T00:00:00Z");
}

#[test]
#[ignore = "needs root: make test"]
fn source_date_epoch_sets_created_and_file_times() {
    require_environment();
    let ctx = common::context_with(&format!("{BASE}RUN echo made > /made\n"));
    git(ctx.path(), &["init", "-q"]);
    commit_at(ctx.path(), FIRST, "first");
    let store = Store::new();
    let epoch = |value: &str, tag: &str| {
        run_ok(
            store
                .strata()
                .env("SOURCE_DATE_EPOCH", value)
                .args(["build", "--progress", "plain", "-t", tag])
                .arg(ctx.path()),
        )
    };
    epoch("1600000000", "epoch:1");
    assert_eq!(created_times(&store, "epoch:1").0, "2020-09-13T12:26:40Z");
    assert_eq!(mtime_in(&store, "epoch:1", "/made"), 1_600_000_000);
    // Another epoch gives other layers, so the cached ones must not serve it.
    let other = epoch("1600000100", "epoch:2");
    assert!(
        !String::from_utf8_lossy(&other.stderr).contains("0 steps run"),
        "{}",
        describe(&other)
    );
    assert_eq!(mtime_in(&store, "epoch:2", "/made"), 1_600_000_100);

    let bad = output(
        store
            .strata()
            .env("SOURCE_DATE_EPOCH", "yesterday")
            .args(["build", "-t", "epoch:3"])
            .arg(ctx.path()),
    );
    assert_eq!(bad.status.code(), Some(2), "{}", describe(&bad));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("SOURCE_DATE_EPOCH=\"yesterday\" is not a number"),
        "{stderr}"
    );
}

#[test]
#[ignore = "needs root: make test"]
fn a_family_rebuilt_at_a_new_commit_runs_no_step() {
    require_environment();
    let dir = common::temp_dir("strata-epoch-family-");
    let root = dir.path();
    std::fs::create_dir_all(root.join("base")).unwrap();
    std::fs::create_dir_all(root.join("app")).unwrap();
    common::add_busybox(&root.join("base"));
    std::fs::write(
        root.join("strata.toml"),
        "[family]\nname = \"dated\"\n\n[images.base]\ntier = \"base\"\n[images.app]\ntier = \"app\"\n",
    )
    .unwrap();
    std::fs::write(root.join("base/Dockerfile"), BASE).unwrap();
    std::fs::write(
        root.join("app/Dockerfile"),
        "FROM base\nRUN echo app > /app\n",
    )
    .unwrap();
    git(root, &["init", "-q"]);
    commit_at(root, FIRST, "first");
    let store = Store::new();
    let family = |store: &Store| {
        let out = run_ok(
            strata(store)
                .args(["build", "--progress", "plain"])
                .arg(root),
        );
        common::FamilyBuild::parse(&out)
    };
    let first = family(&store);
    std::fs::write(root.join("CHANGELOG"), "nothing an image reads\n").unwrap();
    commit_at(root, SECOND, "second");
    let second = family(&store);
    // The base's config has a new date, so its digest moved; the app's RUN does not run
    // again for that (its key stands on the base's files and runtime config).
    assert!(second.log.contains("0 steps run"), "{}", second.log);
    assert_ne!(first.digests["base"], second.digests["base"]);
    assert_ne!(first.digests["app"], second.digests["app"]);
    assert_eq!(
        created_times(&store, "app:latest").0,
        "2023-11-15T22:13:20Z"
    );
}
