//! A build killed with SIGKILL in the middle of a step leaves the store readable (every
//! earlier tag still inspects and unpacks), no mount behind, and the next build works.

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
