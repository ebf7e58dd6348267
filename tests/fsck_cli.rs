//! `strata fsck` through the CLI: a store made by builds is sound; each kind of damage
//! (a corrupt blob, a snapshot missing a file, a cache entry that does not parse, a temp
//! leftover) is named, exit code 1; `--repair` removes what is broken, after which the
//! store is sound and a build makes the image again.

mod common;

use std::path::{Path, PathBuf};

use common::{context_with, describe, output, require_environment, run_ok, Store, BASE};

/// `strata fsck ARGS`: exit code and stdout.
fn fsck(store: &Store, args: &[&str]) -> (Option<i32>, String) {
    let out = output(store.strata().arg("fsck").args(args));
    assert!(out.status.code().is_some(), "{}", describe(&out));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The one entry of `dir` for which `pick` holds.
fn entry(dir: &Path, pick: impl Fn(&Path) -> bool) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| pick(p))
        .unwrap_or_else(|| panic!("nothing fits in {}", dir.display()))
}

#[test]
#[ignore = "needs root: make test"]
fn fsck_names_damage_and_repair_removes_it() {
    require_environment();
    let store = Store::new();
    let ctx = context_with(&format!(
        "{BASE}RUN mkdir /data && echo one > /data/one && echo two > /data/two\n"
    ));
    store.build(ctx.path(), "fsck:1", &[]);
    let other = context_with(&format!("{BASE}ENV OTHER=1\n"));
    store.build(other.path(), "other:1", &[]);
    let (code, text) = fsck(&store, &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.starts_with("store is sound: "), "{text}");

    // A snapshot that lost a file: the one holding /data.
    let snapshots = store.path().join("snapshots");
    let partial = entry(&snapshots, |p| p.join("data").is_dir());
    std::fs::remove_file(partial.join("data/two")).unwrap();
    // A cache entry that does not parse.
    let broken_entry = store.path().join("cache/steps").join("0".repeat(64));
    std::fs::write(&broken_entry, b"{not json").unwrap();
    // A temp file outside any process's area.
    std::fs::write(store.path().join("tmp/file-left-behind"), b"x").unwrap();
    // A corrupt blob: the other image's config.
    let manifest: serde_json::Value = serde_json::from_slice(
        &run_ok(store.strata().args(["inspect", "--manifest", "other:1"])).stdout,
    )
    .unwrap();
    let config_digest = manifest["config"]["digest"].as_str().unwrap().to_owned();
    let config_blob = store
        .path()
        .join("blobs/sha256")
        .join(&config_digest["sha256:".len()..]);
    let mut bytes = std::fs::read(&config_blob).unwrap();
    bytes.push(b' ');
    std::fs::write(&config_blob, bytes).unwrap();

    let (code, text) = fsck(&store, &[]);
    assert_eq!(code, Some(1), "{text}");
    let snapshot_name = partial.file_name().unwrap().to_string_lossy().into_owned();
    for expected in [
        format!("blob {config_digest} is corrupt"),
        "tag other:1: manifest sha256:".to_owned(),
        format!("snapshot {snapshot_name}: incomplete: data/two"),
        format!("cache entry {} does not parse", broken_entry.display()),
        "temp leftover tmp/file-left-behind".to_owned(),
    ] {
        assert!(text.contains(&expected), "{expected:?} not in:\n{text}");
    }
    assert!(text.contains("strata fsck --repair"), "{text}");

    let (code, text) = fsck(&store, &["--repair"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("repaired 5 problems"), "{text}");
    assert!(!partial.exists() && !broken_entry.exists() && !config_blob.exists());
    let (code, text) = fsck(&store, &[]);
    assert_eq!(code, Some(0), "{text}");

    // The broken tag is gone, the partial snapshot too; builds make them again, whole.
    let images = String::from_utf8_lossy(&run_ok(store.strata().arg("images")).stdout).into_owned();
    assert!(
        images.contains("fsck:1") && !images.contains("other:1"),
        "{images}"
    );
    store.build(other.path(), "other:1", &[]);
    store.build(ctx.path(), "fsck:1", &[]);
    let scratch = common::temp_dir("strata-fsck-");
    let bundle = scratch.path().join("b");
    common::umoci_unpack(&store.image("fsck:1"), &bundle);
    assert!(bundle.join("rootfs/data/two").is_file());
    assert_eq!(fsck(&store, &[]).0, Some(0));
}
