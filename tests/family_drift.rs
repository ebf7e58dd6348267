//! Upstream drift of a family's external base, against a real `docker-registry` on
//! 127.0.0.1, through the `strata` binary: a base pushed under a tag, a family built FROM
//! it into an empty store (the base pulled, `strata.lock` written with the registry's
//! digest), `strata outdated` quiet (exit 0); a new base pushed under the same tag:
//! a build still uses the pin (same digests), `strata outdated` names the base and every
//! image below it (exit 1), `strata update` moves the pin (and only on request), and
//! `strata build --push` rolls it out so that `skopeo inspect` shows every descendant on
//! the new base.
//!
//! Every command runs with a private `HOME` and `DOCKER_CONFIG`, so no test reads the
//! machine's registry credentials.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use common::registry::{Registry, RegistrySpec};
use common::{
    describe, output, require_environment, run, run_ok, temp_dir, FamilyBuild, Store, BASE, BUSYBOX,
};
use serde_json::Value;
use tempfile::TempDir;

/// A store and the private `HOME` its commands run with.
struct Client {
    store: Store,
    home: TempDir,
}

impl Client {
    fn new() -> Client {
        Client {
            store: Store::new(),
            home: temp_dir("strata-home-"),
        }
    }

    fn strata(&self) -> Command {
        let mut cmd = self.store.strata();
        cmd.env("HOME", self.home.path())
            .env("DOCKER_CONFIG", self.home.path().join(".docker"))
            .env_remove("REGISTRY_AUTH_FILE");
        cmd
    }

    fn ok(&self, args: &[&str]) -> Output {
        run_ok(self.strata().args(args))
    }
}

/// Builds and pushes a busybox base with `motd` as `reference` from `client`'s store;
/// returns the manifest digest the registry serves for it.
fn push_base(client: &Client, reference: &str, motd: &str) -> String {
    let ctx = temp_dir("strata-drift-base-");
    fs::copy(BUSYBOX, ctx.path().join("busybox")).unwrap();
    fs::write(ctx.path().join("motd"), motd).unwrap();
    fs::write(
        ctx.path().join("Dockerfile"),
        format!("{BASE}COPY motd /etc/motd\n"),
    )
    .unwrap();
    client.ok(&[
        "build",
        "--progress",
        "plain",
        "--push",
        "-t",
        reference,
        ctx.path().to_str().unwrap(),
    ]);
    registry_digest(reference)
}

/// `skopeo inspect` of `docker://reference` (plain HTTP).
fn inspect(reference: &str, raw: bool) -> Value {
    let mut args = vec!["inspect", "--tls-verify=false"];
    if raw {
        args.push("--raw");
    }
    let target = format!("docker://{reference}");
    args.push(&target);
    serde_json::from_str(&run("skopeo", &args)).unwrap()
}

fn registry_digest(reference: &str) -> String {
    inspect(reference, false)["Digest"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The family: `rt` FROM the external base (a RUN over it), `app` FROM `rt` (a COPY).
fn write_family(root: &Path, registry: &str, base: &str) {
    let files: Vec<(String, String)> = vec![
        (
            "strata.toml".into(),
            format!(
                "[family]\nname = \"drift\"\nregistry = \"{registry}\"\n\n\
                 [images.rt]\ntier = \"runtime\"\n\n[images.app]\ntier = \"app\"\n"
            ),
        ),
        (
            "rt/Dockerfile".into(),
            format!("FROM {base}\nRUN cat /etc/motd > /rt.txt\n"),
        ),
        (
            "app/Dockerfile".into(),
            "FROM rt\nCOPY app.txt /srv/app.txt\nUSER 1000\n".into(),
        ),
        ("app/app.txt".into(), "the app\n".into()),
    ];
    common::write_files(root, &files);
}

#[test]
#[ignore = "needs root: make test"]
fn a_moved_base_is_reported_pinned_until_updated_and_rolled_out() {
    require_environment();
    let registry = Registry::start(&RegistrySpec::default());
    let host = format!("127.0.0.1:{}", registry.port);
    let base_ref = format!("{host}/upstream/base:1");
    let upstream = Client::new();
    let first = push_base(&upstream, &base_ref, "v1\n");

    let fam = temp_dir("strata-drift-");
    write_family(fam.path(), &host, &base_ref);
    let dir = fam.path().to_str().unwrap();
    // A CI machine: an empty store, the base pulled through the registry.
    let ci = Client::new();
    let cold = ci.ok(&["build", "--progress", "plain", dir]);
    let lock = fs::read_to_string(fam.path().join("strata.lock")).expect("strata.lock written");
    assert!(lock.contains(&base_ref) && lock.contains(&first), "{lock}");
    assert!(
        String::from_utf8_lossy(&cold.stderr).contains(&format!("pinned {base_ref}")),
        "{}",
        describe(&cold)
    );
    let quiet = output(ci.strata().args(["outdated", dir]));
    assert_eq!(quiet.status.code(), Some(0), "{}", describe(&quiet));

    // Upstream publishes a fix under the same tag.
    let second = push_base(&upstream, &base_ref, "v2: security fix\n");
    assert_ne!(first, second);

    // The pin holds: a build changes nothing, and the lock is untouched.
    let pinned = ci.ok(&["build", "--progress", "plain", dir]);
    assert_eq!(
        FamilyBuild::parse(&pinned).digests,
        FamilyBuild::parse(&cold).digests,
        "{}",
        describe(&pinned)
    );
    assert_eq!(
        fs::read_to_string(fam.path().join("strata.lock")).unwrap(),
        lock
    );

    let drift = output(ci.strata().args(["outdated", dir]));
    assert_eq!(drift.status.code(), Some(1), "{}", describe(&drift));
    let report = String::from_utf8_lossy(&drift.stdout);
    assert!(
        report.contains(&format!("{base_ref} (linux/"))
            && report.contains(&first)
            && report.contains(&second),
        "{report}"
    );
    assert!(report.contains("built on it: app, rt"), "{report}");

    // Updating another reference is refused and names the one the family has.
    let wrong = output(ci.strata().args(["update", "-C", dir, "debian:bookworm"]));
    assert_eq!(wrong.status.code(), Some(2), "{}", describe(&wrong));
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains(&base_ref),
        "{}",
        describe(&wrong)
    );

    let update = ci.ok(&["update", "-C", dir, &base_ref]);
    let moved = String::from_utf8_lossy(&update.stdout);
    assert!(
        moved.contains(&format!("{first} -> {second}")) && moved.contains("app, rt"),
        "{moved}"
    );
    let lock = fs::read_to_string(fam.path().join("strata.lock")).unwrap();
    assert!(lock.contains(&second) && !lock.contains(&first), "{lock}");
    let after = output(ci.strata().args(["outdated", dir]));
    assert_eq!(after.status.code(), Some(0), "{}", describe(&after));
    // Until the rollout, graph shows rt stale on the moved pin, and app below it.
    let graph = ci.ok(&["graph", dir]);
    let tree = String::from_utf8_lossy(&graph.stdout);
    assert!(
        tree.contains(&format!("base {base_ref} is pinned to"))
            && tree.contains("parent rt is stale"),
        "{tree}"
    );

    let rollout = ci.ok(&["build", "--progress", "plain", "--push", dir]);
    let rolled = FamilyBuild::parse(&rollout).digests;
    assert_ne!(
        rolled,
        FamilyBuild::parse(&cold).digests,
        "{}",
        describe(&rollout)
    );
    // The rollout summary: rt rebuilt (its RUN reads the base), app rebased with proof.
    let log = String::from_utf8_lossy(&rollout.stderr);
    assert!(
        log.contains("rollout of drift: 1 rebuilt, 1 rebased, 0 unchanged, 2 tags pushed"),
        "{log}"
    );
    assert!(
        log.contains("rebuilt   rt: stage-0 step 1: parent rebuilt; not rebased: a RUN reads the parent's files"),
        "{log}"
    );
    assert!(
        log.contains("rebased   app: 1 steps moved")
            && log.contains("reads the same in the new parent"),
        "{log}"
    );
    let graph = ci.ok(&["graph", dir]);
    assert!(
        !String::from_utf8_lossy(&graph.stdout).contains("stale"),
        "{}",
        describe(&graph)
    );

    // Every descendant in the registry is on the new base: rt's recorded base is the
    // new upstream digest and its layers start with the new base's; app is on that rt.
    let base_layers = inspect(&base_ref, false)["Layers"].clone();
    let rt = inspect(&format!("{host}/rt:latest"), true);
    assert_eq!(
        rt["annotations"]["org.opencontainers.image.base.digest"], second,
        "{rt}"
    );
    let rt_layers = inspect(&format!("{host}/rt:latest"), false)["Layers"].clone();
    let n = base_layers.as_array().unwrap().len();
    assert_eq!(
        rt_layers.as_array().unwrap()[..n],
        base_layers.as_array().unwrap()[..]
    );
    let rt_digest = registry_digest(&format!("{host}/rt:latest"));
    let app = inspect(&format!("{host}/app:latest"), true);
    assert_eq!(
        app["annotations"]["org.opencontainers.image.base.digest"], rt_digest,
        "{app}"
    );
    assert_eq!(rolled.get("rt"), Some(&rt_digest), "{rolled:?}");
}

#[test]
#[ignore = "needs root: make test"]
fn a_base_only_in_the_store_is_pinned_by_its_store_digest() {
    require_environment();
    let client = Client::new();
    let ctx = temp_dir("strata-local-base-");
    fs::copy(BUSYBOX, ctx.path().join("busybox")).unwrap();
    fs::write(ctx.path().join("Dockerfile"), BASE).unwrap();
    client.ok(&["build", "-t", "localbase:1", ctx.path().to_str().unwrap()]);
    let fam = temp_dir("strata-local-fam-");
    common::write_files(
        fam.path(),
        &[
            (
                "strata.toml".into(),
                "[family]\nname = \"local\"\n\n[images.app]\ntier = \"app\"\n".into(),
            ),
            (
                "app/Dockerfile".into(),
                "FROM localbase:1\nRUN echo hi > /hi\n".into(),
            ),
        ],
    );
    let dir = fam.path().to_str().unwrap();
    client.ok(&["build", dir]);
    let lock = fs::read_to_string(fam.path().join("strata.lock")).unwrap();
    assert!(lock.contains("localbase:1"), "{lock}");
    assert_eq!(
        output(client.strata().args(["outdated", dir]))
            .status
            .code(),
        Some(0)
    );
    // The tag moves in the store: outdated says so, and the build keeps the pin.
    fs::write(
        ctx.path().join("Dockerfile"),
        format!("{BASE}RUN echo new > /new\n"),
    )
    .unwrap();
    client.ok(&["build", "-t", "localbase:1", ctx.path().to_str().unwrap()]);
    let drift = output(client.strata().args(["outdated", dir]));
    assert_eq!(drift.status.code(), Some(1), "{}", describe(&drift));
    assert!(
        String::from_utf8_lossy(&drift.stdout).contains("built on it: app"),
        "{}",
        describe(&drift)
    );
    client.ok(&["build", dir]);
    let run_old = output(
        client
            .strata()
            .args(["run", "app:latest", "--", "ls", "/new"]),
    );
    assert_ne!(run_old.status.code(), Some(0), "the pin must hold");
    client.ok(&["update", "-C", dir]);
    client.ok(&["build", dir]);
    client.ok(&["run", "app:latest", "--", "ls", "/new"]);
}
