//! A build killed with SIGKILL in the middle of a step leaves the store readable (every
//! earlier tag still inspects and unpacks), no mount behind, its temp space reclaimed by
//! the next strata that opens the store, and the next build works. A prune killed while
//! it deletes a snapshot never leaves a partial one for a later build to trust.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{
    context_with, require_environment, run_ok, skopeo_validate, umoci_unpack, Store, BASE,
};

/// Whether the RUN step has written its `started` marker into its cache mount, the one
/// place a step can write that the host sees.
fn step_started(store: &Path) -> bool {
    walkdir::WalkDir::new(store.join("cache-mounts"))
        .into_iter()
        .filter_map(Result::ok)
        .any(|e| e.file_name() == "started")
}

#[test]
#[ignore = "needs root: make test"]
fn killed_build_leaves_a_readable_store_and_the_next_build_works() {
    require_environment();
    let store = Store::seeded();

    let victim = context_with(&format!(
        "{BASE}RUN echo layer > /layer\n\
         RUN --mount=type=cache,id=signal,target=/signal echo running > /signal/started; sleep 60\n"
    ));
    let mut child = store
        .strata()
        .args(["build", "--progress", "plain", "-t", "victim:1"])
        .arg(victim.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !step_started(store.path()) {
        assert!(
            Instant::now() < deadline,
            "the build never reached its RUN step"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the build ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // The earlier image is intact, the killed one was never tagged, nothing is mounted.
    skopeo_validate(store.path(), "seed:1");
    let bundles = tempfile::tempdir().unwrap();
    umoci_unpack(&store.image("seed:1"), &bundles.path().join("seed"));
    let listing =
        String::from_utf8_lossy(&run_ok(store.strata().arg("images")).stdout).into_owned();
    assert!(
        listing.contains("seed:1") && !listing.contains("victim:1"),
        "{listing}"
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&store.path().display().to_string()),
        "a mount of the killed build is left behind"
    );
    // `strata images` above opened the store: the killed build's temp area is gone.
    assert_eq!(temp_entries(store.path()), Vec::<String>::new());

    // The same Dockerfile without the hang builds, reusing the store as it was left.
    std::fs::write(
        victim.path().join("Dockerfile"),
        format!("{BASE}RUN echo layer > /layer\nRUN echo done > /done\n"),
    )
    .unwrap();
    store.build(victim.path(), "victim:1", &[]);
    umoci_unpack(&store.image("victim:1"), &bundles.path().join("victim"));
    assert!(bundles.path().join("victim/rootfs/done").is_file());
}

/// The entries of the store's `tmp/`.
fn temp_entries(store: &Path) -> Vec<String> {
    std::fs::read_dir(store.join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Entries (files, dirs, links) below `dir`.
fn entries_below(dir: &Path) -> usize {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .count()
}

/// Each snapshot's name and how many entries it holds.
fn snapshots(store: &Path) -> std::collections::BTreeMap<String, usize> {
    std::fs::read_dir(store.join("snapshots"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                entries_below(&e.path()),
            )
        })
        .collect()
}

#[test]
#[ignore = "needs root: make test"]
fn a_killed_prune_leaves_no_partial_snapshot() {
    require_environment();
    let store = Store::new();
    let ctx = context_with(&format!(
        "{BASE}RUN mkdir /many && cd /many && seq 1 10000 | xargs touch\n"
    ));
    // A seeded walk over kill instants, so a failure can be replayed.
    let mut seed: u64 = 0x5eed_0fca_11ed;
    for round in 0..4 {
        store.build(ctx.path(), "many:1", &[]);
        let complete = snapshots(store.path());
        run_ok(store.strata().args(["rmi", "many:1"]));
        let mut prune = store
            .strata()
            .args(["prune", "--all"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(20 + (seed >> 33) % 250));
        let _ = prune.kill();
        prune.wait().unwrap();
        // Each snapshot left is whole, as it was before the prune.
        for (name, entries) in snapshots(store.path()) {
            assert_eq!(
                Some(&entries),
                complete.get(&name),
                "round {round}: snapshot {name} is partial"
            );
        }
    }
    // The next build works on what is left, and the kills' leftovers are reclaimed.
    store.build(ctx.path(), "many:1", &[]);
    let unpacked = tempfile::tempdir().unwrap();
    umoci_unpack(&store.image("many:1"), &unpacked.path().join("b"));
    assert_eq!(
        entries_below(&unpacked.path().join("b/rootfs/many")),
        10_001
    );
    assert_eq!(temp_entries(store.path()), Vec::<String>::new());
}
