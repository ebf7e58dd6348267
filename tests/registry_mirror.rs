//! Short names, registries.conf and mirrors through the `strata` binary, against real
//! `docker-registry`s on 127.0.0.1 standing in for a docker.io mirror:
//! - `strata pull debian:bookworm` and a build `FROM debian:bookworm` fetch the image
//!   from a `[[registry.mirror]]` of docker.io (an empty mirror's 404 first), file it as
//!   `docker.io/library/debian:bookworm` and say which mirror served it; the same with
//!   `--registries-conf` and with `--registry-mirror` / `STRATA_REGISTRY_MIRROR`;
//! - `unqualified-search-registries` are tried in order; the longest prefix wins and its
//!   `location` rewrites the name;
//! - with nothing reachable, pull and build fail (exit 2) naming every endpoint tried and
//!   how to configure a mirror, the build at its FROM line;
//! - a bad registries.conf is an error naming its file and line; a blocked name is
//!   refused.
//!
//! docker.io itself is never contacted: every conf here sends its location to a closed
//! port on 127.0.0.1, as `common::hermetic_registries_conf` does for every other test.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::registry::{free_port, Registry, RegistrySpec};
use common::{context_with, describe, output, require_environment, run_ok, temp_dir, Store, BASE};
use tempfile::TempDir;

/// A registries.conf in a directory of its own (so it has no drop-ins).
struct Conf {
    dir: TempDir,
}

impl Conf {
    fn new(text: &str) -> Conf {
        let dir = temp_dir("strata-regconf-");
        fs::write(dir.path().join("registries.conf"), text).unwrap();
        Conf { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("registries.conf")
    }
}

/// docker.io sent to a closed port, with `mirrors` (insecure) in order.
fn hub_with_mirrors(mirrors: &[String]) -> String {
    let mut text = format!(
        "[[registry]]\nprefix = \"docker.io\"\nlocation = \"127.0.0.1:{}\"\n",
        free_port()
    );
    for mirror in mirrors {
        text.push_str(&format!(
            "\n[[registry.mirror]]\nlocation = \"{mirror}\"\ninsecure = true\n"
        ));
    }
    text
}

/// `strata` on `store` reading `conf` through `CONTAINERS_REGISTRIES_CONF`.
fn strata_with(store: &Store, conf: &Path) -> Command {
    let mut cmd = store.strata();
    cmd.env("CONTAINERS_REGISTRIES_CONF", conf);
    cmd
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `cmd`, which must fail with exit code 2; its stderr.
fn fails(cmd: &mut Command) -> String {
    let out = output(cmd);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    stderr(&out)
}

/// Two registries: `full` holds a busybox image (with `/etc/motd` saying "from the
/// mirror") as `library/debian:bookworm` and `debian:bookworm`; `empty` holds nothing.
struct Mirrors {
    full: Registry,
    empty: Registry,
}

impl Mirrors {
    fn start() -> Mirrors {
        require_environment();
        let mirrors = Mirrors {
            full: Registry::start(&RegistrySpec::default()),
            empty: Registry::start(&RegistrySpec::default()),
        };
        let publisher = Store::new();
        let ctx = context_with(&format!(
            "{BASE}RUN echo from the mirror > /etc/motd\nCMD [\"cat\", \"/etc/motd\"]\n"
        ));
        publisher.build(ctx.path(), "upstream:1", &[]);
        for path in ["library/debian:bookworm", "debian:bookworm"] {
            run_ok(publisher.strata().args([
                "push",
                "upstream:1",
                &format!("{}/{path}", mirrors.full.host()),
            ]));
        }
        mirrors
    }

    /// Manifest requests the registry answered, as `(path, status)`.
    fn manifest_gets(registry: &Registry) -> Vec<(String, u16)> {
        registry
            .requests()
            .into_iter()
            .filter(|(method, path, _)| method == "GET" && path.contains("/manifests/"))
            .map(|(_, path, status)| (path, status))
            .collect()
    }
}

/// The line of `strata images` for `name`, if it lists it.
fn listed(store: &Store, name: &str) -> bool {
    let out = run_ok(store.strata().arg("images"));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.split_whitespace().next() == Some(name))
}

#[test]
#[ignore = "needs root: make test"]
fn a_docker_hub_name_is_pulled_and_built_on_from_a_mirror() {
    let mirrors = Mirrors::start();
    let (full, empty) = (mirrors.full.host(), mirrors.empty.host());
    // The empty mirror answers 404 first: not fatal, the next mirror has it.
    let conf = Conf::new(&hub_with_mirrors(&[empty.clone(), full.clone()]));

    let store = Store::new();
    let out = run_ok(strata_with(&store, &conf.path()).args(["pull", "debian:bookworm"]));
    assert!(
        stderr(&out).contains(&format!(
            "pulled debian:bookworm (docker.io/library/debian:bookworm) from mirror {full}:"
        )),
        "{}",
        describe(&out)
    );
    assert!(listed(&store, "docker.io/library/debian:bookworm"));
    assert!(!listed(&store, "debian:bookworm"));
    let asked_empty = Mirrors::manifest_gets(&mirrors.empty);
    assert_eq!(
        asked_empty,
        [("/v2/library/debian/manifests/bookworm".to_owned(), 404)],
        "{asked_empty:?}"
    );

    // A build in an empty store pulls FROM through the mirror and runs on it.
    let builder = Store::new();
    let ctx = context_with(
        "FROM debian:bookworm\nRUN cat /etc/motd > /copied\nCMD [\"cat\", \"/copied\"]\n",
    );
    run_ok(
        strata_with(&builder, &conf.path())
            .args(["build", "-q", "-t", "onhub:1"])
            .arg(ctx.path()),
    );
    assert!(listed(&builder, "docker.io/library/debian:bookworm"));
    let ran = run_ok(builder.strata().args(["run", "onhub:1"]));
    assert_eq!(String::from_utf8_lossy(&ran.stdout), "from the mirror\n");
    // Built again: the store has the base, no registry is asked.
    let before = Mirrors::manifest_gets(&mirrors.full).len();
    run_ok(
        builder
            .strata()
            .env("CONTAINERS_REGISTRIES_CONF", hub_conf_closed().path())
            .args(["build", "-q", "-t", "onhub:1"])
            .arg(ctx.path()),
    );
    assert_eq!(Mirrors::manifest_gets(&mirrors.full).len(), before);

    // --registries-conf instead of the environment.
    let flagged = Store::new();
    let out = run_ok(
        flagged
            .strata()
            .arg("--registries-conf")
            .arg(conf.path())
            .args(["pull", "debian:bookworm"]),
    );
    assert!(
        stderr(&out).contains(&format!("from mirror {full}")),
        "{}",
        describe(&out)
    );
}

/// A conf that only closes docker.io (no mirrors).
fn hub_conf_closed() -> Conf {
    Conf::new(&hub_with_mirrors(&[]))
}

#[test]
#[ignore = "needs root: make test"]
fn registry_mirror_flags_serve_docker_hub_names() {
    let mirrors = Mirrors::start();
    let (full, empty) = (mirrors.full.host(), mirrors.empty.host());
    let closed = hub_conf_closed();
    for via_env in [false, true] {
        let store = Store::new();
        let mut cmd = strata_with(&store, &closed.path());
        if via_env {
            cmd.env("STRATA_REGISTRY_MIRROR", format!("{empty},{full}"));
        } else {
            cmd.args(["--registry-mirror", &empty, "--registry-mirror", &full]);
        }
        let out = run_ok(cmd.args(["pull", "debian:bookworm"]));
        assert!(
            stderr(&out).contains(&format!("from mirror {full}")),
            "{}",
            describe(&out)
        );
        assert!(listed(&store, "docker.io/library/debian:bookworm"));
    }
    // Mirrors are docker.io's only: another registry's name does not go there.
    let store = Store::new();
    let err = fails(
        strata_with(&store, &closed.path())
            .args(["--registry-mirror", &full, "pull"])
            .arg(format!("127.0.0.1:{}/library/debian:bookworm", free_port())),
    );
    assert!(!err.contains(&full), "{err}");
}

#[test]
#[ignore = "needs root: make test"]
fn search_registries_are_tried_in_order_and_the_longest_prefix_rewrites() {
    let mirrors = Mirrors::start();
    let (full, empty) = (mirrors.full.host(), mirrors.empty.host());
    let conf = Conf::new(&format!(
        "unqualified-search-registries = [\"{empty}\", \"{full}\"]\n\n\
         [[registry]]\nprefix = \"example.com\"\nlocation = \"127.0.0.1:{closed}\"\n\n\
         [[registry]]\nprefix = \"example.com/team\"\nlocation = \"{full}/library\"\n",
        closed = free_port()
    ));
    let store = Store::new();
    let out = run_ok(strata_with(&store, &conf.path()).args(["pull", "debian:bookworm"]));
    // Filed under the search registry that had it, after the one that did not.
    assert!(
        listed(&store, &format!("{full}/debian:bookworm")),
        "{}",
        describe(&out)
    );
    assert_eq!(
        Mirrors::manifest_gets(&mirrors.empty),
        [("/v2/debian/manifests/bookworm".to_owned(), 404)]
    );

    let out = run_ok(
        strata_with(&store, &conf.path()).args(["pull", "example.com/team/debian:bookworm"]),
    );
    assert!(
        stderr(&out).contains(&format!(
            "pulled example.com/team/debian:bookworm from {full}:"
        )),
        "{}",
        describe(&out)
    );
    assert!(listed(&store, "example.com/team/debian:bookworm"));
    // The shorter prefix's location is closed: its names fail there.
    let err = fails(strata_with(&store, &conf.path()).args(["pull", "example.com/other:1"]));
    assert!(err.contains("refused"), "{err}");
}

#[test]
fn with_no_reachable_endpoint_pull_fails_naming_each_and_how_to_mirror() {
    let (mirror, location) = (free_port(), free_port());
    let conf = Conf::new(&format!(
        "[[registry]]\nprefix = \"docker.io\"\nlocation = \"127.0.0.1:{location}\"\n\n\
         [[registry.mirror]]\nlocation = \"127.0.0.1:{mirror}\"\n"
    ));
    let store = Store::new();
    let err = fails(strata_with(&store, &conf.path()).args(["pull", "debian:bookworm"]));
    let tried = [
        format!("127.0.0.1:{mirror}/library/debian:bookworm (mirror of docker.io): "),
        format!("127.0.0.1:{location}/library/debian:bookworm (location of docker.io): "),
    ];
    for line in &tried {
        assert!(err.contains(line), "{line:?} missing:\n{err}");
    }
    assert!(err.find(&tried[0]) < err.find(&tried[1]), "{err}");
    assert!(err.contains("cannot pull debian:bookworm"), "{err}");
    assert!(err.to_lowercase().contains("refused"), "{err}");
    let hint = err
        .lines()
        .find(|l| l.trim_start().starts_with("hint:"))
        .unwrap_or_else(|| panic!("no hint:\n{err}"));
    assert!(
        hint.contains("--registry-mirror")
            && hint.contains("[[registry.mirror]]")
            && hint.contains(&conf.path().display().to_string()),
        "{hint}"
    );
    assert!(!listed(&store, "docker.io/library/debian:bookworm"));

    // The search list too: each candidate, in order.
    let search = Conf::new(&format!(
        "unqualified-search-registries = [\"127.0.0.1:{mirror}\", \"127.0.0.1:{location}\"]\n"
    ));
    let err = fails(strata_with(&store, &search.path()).args(["pull", "team/app:1"]));
    let (a, b) = (
        err.find(&format!("127.0.0.1:{mirror}/team/app:1: ")),
        err.find(&format!("127.0.0.1:{location}/team/app:1: ")),
    );
    assert!(a.is_some() && a < b, "{err}");
}

#[test]
#[ignore = "needs root: make test"]
fn with_no_reachable_endpoint_a_build_fails_at_its_from_line() {
    require_environment();
    let (mirror, location) = (free_port(), free_port());
    let conf = Conf::new(&format!(
        "[[registry]]\nprefix = \"docker.io\"\nlocation = \"127.0.0.1:{location}\"\n\n\
         [[registry.mirror]]\nlocation = \"127.0.0.1:{mirror}\"\n"
    ));
    let store = Store::seeded();
    let ctx = context_with("# a base from Docker Hub\nFROM debian:bookworm\nRUN true\n");
    let conf_flag = conf.path().display().to_string();
    let err = store.build_fails(ctx.path(), &["--registries-conf", &conf_flag]);
    assert!(
        err.contains("Dockerfile:2:1: pulling debian:bookworm"),
        "{err}"
    );
    for endpoint in [mirror, location] {
        assert!(
            err.contains(&format!("127.0.0.1:{endpoint}/library/debian:bookworm")),
            "{endpoint}:\n{err}"
        );
    }
    assert!(
        err.contains("hint:") && err.contains("--registry-mirror"),
        "{err}"
    );
}

#[test]
fn a_bad_registries_conf_names_its_file_and_line() {
    let conf = Conf::new(
        "unqualified-search-registries = [\"docker.io\"]\n\n[[registry]]\nlocation = \"docker.io\"\ninsecure = \"yes\"\n",
    );
    let store = Store::new();
    let err = fails(strata_with(&store, &conf.path()).args(["pull", "debian:bookworm"]));
    assert!(
        err.starts_with(&format!("error: {}:5:", conf.path().display())),
        "{err}"
    );
    assert!(err.contains("insecure = \"yes\""), "no excerpt:\n{err}");

    // A drop-in in the v1 format is refused, naming the drop-in.
    let good = Conf::new("unqualified-search-registries = [\"docker.io\"]\n");
    let drop_ins = good.dir.path().join("registries.conf.d");
    fs::create_dir(&drop_ins).unwrap();
    fs::write(
        drop_ins.join("50-old.conf"),
        "[registries.search]\nregistries = ['search.example.com']\n",
    )
    .unwrap();
    let err = fails(strata_with(&store, &good.path()).args(["pull", "debian:bookworm"]));
    assert!(
        err.contains("50-old.conf:1:") && err.contains("v2"),
        "{err}"
    );

    // A file named explicitly must exist.
    let missing = good.dir.path().join("missing.conf");
    let err = fails(strata_with(&store, &missing).args(["pull", "debian:bookworm"]));
    assert!(err.contains(&missing.display().to_string()), "{err}");
}

#[test]
fn a_blocked_registry_is_refused() {
    let conf = Conf::new(&format!(
        "{}\n[[registry]]\nprefix = \"docker.io/library/debian\"\nlocation = \"docker.io/library/debian\"\nblocked = true\n",
        hub_with_mirrors(&[])
    ));
    let store = Store::new();
    let err = fails(strata_with(&store, &conf.path()).args(["pull", "debian:bookworm"]));
    assert!(
        err.contains("docker.io/library/debian:bookworm is blocked")
            && err.contains(&format!("{}:5", conf.path().display())),
        "{err}"
    );
    // Another name of docker.io is not blocked (it fails at the closed location).
    let err = fails(strata_with(&store, &conf.path()).args(["pull", "alpine"]));
    assert!(!err.contains("blocked") && err.contains("refused"), "{err}");
}
