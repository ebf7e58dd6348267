//! The registry acceptance points end to end through the `strata` binary, against a real
//! `docker-registry` on 127.0.0.1 (see `tests/registry.rs` for the same points at the
//! library level):
//! - a family `build --push` over TLS with htpasswd basic auth after `strata login`: every
//!   image readable by skopeo, each distinct blob uploaded once (the base's layers are
//!   cross-repository mounted into the other repositories), a second push of the
//!   unchanged family uploads nothing, `strata push` of one image, and refused
//!   credentials are a clear error that writes no credentials;
//! - pulls: a Dockerfile `FROM` an image skopeo pushed, built into an empty store and run,
//!   and `strata pull` followed by `strata images`;
//! - faults: pushes through a proxy answering 503s and cutting uploads still land the
//!   exact image; a registry that is down is exit code 2, an error naming it, and a store
//!   left byte for byte as it was;
//! - the step cache shared through a registry: `--cache-to` from one store, `--cache-from`
//!   into a fresh one builds the same family running no step and giving the same digests;
//! - pushing zstd layers warns that docker 20.10 cannot pull them.
//!
//! Every strata command runs with its own `HOME` and `DOCKER_CONFIG` and without
//! `REGISTRY_AUTH_FILE`, so no test reads or writes the credentials of the machine.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::registry::{free_port, skopeo_push, FaultProxy, Registry, RegistrySpec};
use common::{
    assert_same_fingerprint, context_with, describe, fingerprint, output, output_with_stdin,
    require_environment, run, run_ok, Store, BASE, BUSYBOX,
};
use serde_json::Value;
use tempfile::TempDir;

const USER: &str = "strata";
const PASSWORD: &str = "s3cret-pass";

/// The test family's images; `base` is the parent of both apps.
const IMAGES: [&str; 3] = ["base", "app1", "app2"];

/// A RUN whose layer differs on every run (`/proc/uptime`) and which appends to a cache
/// mount in the store, so a step that ran shows in the digest and in `cache-mounts/`.
fn stamp_run(name: &str) -> String {
    format!(
        "RUN --mount=type=cache,id=runs,target=/runs \
         echo {name} >> /runs/ran && cat /proc/uptime > /{name}.built-at\n"
    )
}

/// Writes the family into `root`: `base` (busybox from scratch, a motd, a stamp) and two
/// apps FROM it (a file, a RUN over it, a stamp). `registry` is `[family] registry`.
fn write_family(root: &Path, registry: Option<&str>) {
    let mut toml = "[family]\nname = \"fam\"\n".to_owned();
    if let Some(registry) = registry {
        toml.push_str(&format!("registry = \"{registry}\"\n"));
    }
    toml.push_str(
        "\n[images.base]\ntier = \"base\"\n\n[images.app1]\ntier = \"app\"\n\n\
         [images.app2]\ntier = \"app\"\n",
    );
    let mut files = vec![
        ("strata.toml".to_owned(), toml),
        (
            "base/Dockerfile".to_owned(),
            format!("{BASE}COPY motd /etc/motd\n{}", stamp_run("base")),
        ),
        ("base/motd".to_owned(), "family base\n".to_owned()),
    ];
    for app in ["app1", "app2"] {
        files.push((
            format!("{app}/Dockerfile"),
            format!(
                "FROM base\nCOPY {app}.txt /srv/{app}.txt\n\
                 RUN wc -c /srv/{app}.txt > /srv/size\n{}\
                 CMD [\"cat\", \"/srv/{app}.txt\"]\n",
                stamp_run(app)
            ),
        ));
        files.push((format!("{app}/{app}.txt"), format!("hello from {app}\n")));
    }
    common::write_files(root, &files);
    fs::copy(BUSYBOX, root.join("base/busybox")).unwrap();
}

/// A freshly written family in a temp dir (after checking the environment).
fn family(registry: Option<&str>) -> TempDir {
    require_environment();
    let dir = common::temp_dir("strata-family-");
    write_family(dir.path(), registry);
    dir
}

/// A store plus the private `HOME` / `DOCKER_CONFIG` its commands run with.
struct Env {
    store: Store,
    home: TempDir,
}

impl Env {
    fn new() -> Self {
        Self {
            store: Store::new(),
            home: common::temp_dir("strata-home-"),
        }
    }

    /// `strata --store STORE` with the private credential locations.
    fn strata(&self) -> Command {
        let mut cmd = self.store.strata();
        cmd.env("HOME", self.home.path())
            .env("DOCKER_CONFIG", self.docker_config())
            .env_remove("REGISTRY_AUTH_FILE");
        cmd
    }

    /// The docker config directory: `login` writes `config.json` here.
    fn docker_config(&self) -> PathBuf {
        self.home.path().join("docker")
    }

    /// `strata build --progress plain ARGS... DIR`; must succeed.
    fn build(&self, dir: &Path, args: &[&str]) -> Built {
        let out = run_ok(
            self.strata()
                .args(["build", "--progress", "plain"])
                .args(args)
                .arg(dir),
        );
        Built::parse(&out)
    }
}

/// What a family build printed.
struct Built {
    /// Image name -> manifest digest, from the `NAME sha256:...` lines on stdout.
    digests: BTreeMap<String, String>,
    /// stderr: progress, summary, push lines.
    log: String,
}

impl Built {
    fn parse(out: &Output) -> Self {
        let digests = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(_, d)| d.starts_with("sha256:"))
            .map(|(n, d)| (n.to_owned(), d.to_owned()))
            .collect();
        Self {
            digests,
            log: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The closing `N images (...); S steps run, C cached; ...` line.
    fn summary(&self) -> &str {
        self.log
            .lines()
            .find(|l| l.contains(" images (") && l.contains("steps run"))
            .unwrap_or_else(|| panic!("no summary line in:\n{}", self.log))
    }
}

/// The manifest of a store image, as `strata inspect --manifest` prints it.
fn manifest(env: &Env, image: &str) -> Value {
    let out = run_ok(env.strata().args(["inspect", "--manifest", image]));
    serde_json::from_slice(&out.stdout).expect("manifest is JSON")
}

/// The layer digests of a store image.
fn layers(env: &Env, image: &str) -> Vec<String> {
    manifest(env, image)["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect()
}

/// Every blob (layers and config) of a store image.
fn blobs(env: &Env, image: &str) -> Vec<String> {
    let mut blobs = layers(env, image);
    blobs.push(
        manifest(env, image)["config"]["digest"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    blobs
}

/// The hex part of `sha256:HEX`.
fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// Requests that write blobs: upload sessions started, chunks sent, uploads finished,
/// mounts.
fn blob_writes(requests: &[(String, String, u16)]) -> Vec<(String, String, u16)> {
    requests
        .iter()
        .filter(|(m, p, _)| {
            matches!(m.as_str(), "POST" | "PATCH" | "PUT") && p.contains("/blobs/uploads")
        })
        .cloned()
        .collect()
}

/// The `Digest` skopeo reports for `docker://reference`, with extra skopeo flags.
fn remote_digest(reference: &str, flags: &[&str]) -> String {
    let url = format!("docker://{reference}");
    let mut args = vec!["inspect"];
    args.extend_from_slice(flags);
    args.push(&url);
    let inspect: Value = serde_json::from_str(&run("skopeo", &args)).unwrap();
    inspect["Digest"].as_str().unwrap().to_owned()
}

/// Copies `docker://reference` into a new OCI layout with skopeo and returns the digest
/// of the manifest the layout's index points at.
fn copy_back(reference: &str, flags: &[&str], into: &Path) -> String {
    let src = format!("docker://{reference}");
    let dest = format!("oci:{}:copy", into.display());
    let mut args = vec!["copy"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&[&src, &dest]);
    run("skopeo", &args);
    common::skopeo_validate(into, "copy");
    let index: Value = serde_json::from_slice(&fs::read(into.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"].as_str().unwrap().to_owned()
}

#[test]
#[ignore = "needs root: make test"]
fn family_push_over_tls_with_basic_auth_uploads_each_blob_once() {
    let registry = Registry::start(&RegistrySpec {
        tls: true,
        user: Some((USER.into(), PASSWORD.into())),
    });
    let host = registry.host();
    let ca = registry.ca_file.clone().unwrap();
    let ca_flag = ["--ca-file", ca.to_str().unwrap()];
    let fam = family(Some(&format!("{host}/ns")));
    let env = Env::new();
    let cold = env.build(fam.path(), &[]);
    assert_eq!(
        cold.digests.keys().collect::<Vec<_>>(),
        ["app1", "app2", "base"]
    );

    // Anonymous: refused, with a hint to log in.
    let out = output(env.strata().args(ca_flag).args([
        "push",
        "base:latest",
        &format!("{host}/ns/base:latest"),
    ]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr.contains("authentication required or refused")
            && stderr.contains(&format!("strata login {host}")),
        "{}",
        describe(&out)
    );

    // A wrong password: exit 2, a clear error, and nothing written.
    let login = |password: &str| {
        output_with_stdin(
            env.strata()
                .args(ca_flag)
                .args(["login", &host, "-u", USER, "--password-stdin"]),
            &format!("{password}\n"),
        )
    };
    let out = login("wrong-password");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr.contains("authentication required or refused") && stderr.contains(&host),
        "{}",
        describe(&out)
    );
    let config = env.docker_config().join("config.json");
    assert!(
        !config.exists(),
        "a refused login wrote {}",
        config.display()
    );

    // Without the CA the registry's certificate is refused, with a hint.
    let out = output_with_stdin(
        env.strata()
            .args(["login", &host, "-u", USER, "--password-stdin"]),
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("CA file"),
        "{}",
        describe(&out)
    );

    let out = login(PASSWORD);
    assert!(out.status.success(), "login: {}", describe(&out));
    let saved: Value = serde_json::from_slice(&fs::read(&config).unwrap()).unwrap();
    assert!(saved["auths"][&host]["auth"].is_string(), "{saved}");

    // The family push: the build is cached, every image goes to `<registry>/<name>`.
    let pushed = env.build(fam.path(), &[&ca_flag[..], &["--push"]].concat());
    assert_eq!(pushed.digests, cold.digests, "{}", pushed.log);
    let cert_dir = registry.cert_dir.as_ref().unwrap().display().to_string();
    let creds = format!("{USER}:{PASSWORD}");
    let scratch = tempfile::tempdir().unwrap();
    for name in IMAGES {
        let reference = format!("{host}/ns/{name}:latest");
        let local = &cold.digests[name];
        assert_eq!(
            &remote_digest(&reference, &["--cert-dir", &cert_dir, "--creds", &creds]),
            local,
            "{reference}"
        );
        let copied = copy_back(
            &reference,
            &["--src-cert-dir", &cert_dir, "--src-creds", &creds],
            &scratch.path().join(name),
        );
        assert_eq!(&copied, local, "skopeo copy of {reference}");
    }

    // Each distinct blob crossed the network once; the base's layers were mounted into
    // the two other repositories.
    let requests = registry.requests();
    let finished_uploads = |digest: &str| {
        requests
            .iter()
            .filter(|(m, p, s)| {
                m == "PUT" && *s == 201 && p.contains("/blobs/uploads/") && p.contains(hex(digest))
            })
            .count()
    };
    let distinct: BTreeSet<String> = IMAGES
        .iter()
        .flat_map(|name| blobs(&env, &format!("{name}:latest")))
        .collect();
    for digest in &distinct {
        assert_eq!(
            finished_uploads(digest),
            1,
            "{digest} uploads; requests:\n{requests:#?}"
        );
    }
    let base_layers = layers(&env, "base:latest");
    assert!(base_layers.len() >= 3, "{base_layers:?}");
    for digest in &base_layers {
        let mounts = requests
            .iter()
            .filter(|(m, p, s)| {
                m == "POST" && *s == 201 && p.contains("mount=") && p.contains(hex(digest))
            })
            .count();
        assert_eq!(mounts, 2, "mounts of {digest}; requests:\n{requests:#?}");
    }
    let uploads = blob_writes(&requests)
        .into_iter()
        .filter(|(m, _, s)| m == "PUT" && *s == 201)
        .count();
    assert_eq!(uploads, distinct.len(), "{requests:#?}");

    // Again, nothing changed: no blob is written.
    let before = registry.requests().len();
    let again = env.build(fam.path(), &[&ca_flag[..], &["--push"]].concat());
    assert_eq!(again.digests, cold.digests);
    assert!(again.summary().contains(" 0 steps run"), "{}", again.log);
    let writes = blob_writes(&registry.requests()[before..]);
    assert!(writes.is_empty(), "second push wrote blobs: {writes:#?}");
    let manifests = registry.requests()[before..]
        .iter()
        .filter(|(m, p, s)| m == "PUT" && *s == 201 && p.contains("/manifests/"))
        .count();
    assert_eq!(manifests, IMAGES.len(), "{}", registry.log());

    // `strata push` of one image to another repository and tag, in a run of its own: the
    // store remembers where the family push put every blob, so all are mounted.
    let before = registry.requests().len();
    let dest = format!("{host}/other/app1:v2");
    let out = run_ok(
        env.strata()
            .args(ca_flag)
            .args(["push", "app1:latest", &dest]),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        cold.digests["app1"]
    );
    assert_eq!(
        remote_digest(&dest, &["--cert-dir", &cert_dir, "--creds", &creds]),
        cold.digests["app1"]
    );
    let writes = blob_writes(&registry.requests()[before..]);
    let mounted = writes
        .iter()
        .filter(|(m, p, s)| m == "POST" && *s == 201 && p.contains("mount="))
        .count();
    assert_eq!(mounted, blobs(&env, "app1:latest").len(), "{writes:#?}");
    assert_eq!(mounted, writes.len(), "uploads besides mounts: {writes:#?}");

    // Logged out, the registry refuses again.
    run_ok(env.strata().args(["logout", &host]));
    let out = output(env.strata().args(ca_flag).args([
        "push",
        "app2:latest",
        &format!("{host}/other/app2:v2"),
    ]));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}

/// Builds `dockerfile` (busybox in its context) with strata in a store of its own, pushes
/// it to `remote` with skopeo in `format` (`oci` or `v2s2`), and returns the registry's
/// manifest digest.
fn publish(dockerfile: &str, remote: &str, format: &str) -> String {
    let source = Store::new();
    let ctx = context_with(dockerfile);
    source.build(ctx.path(), "published:1", &[]);
    skopeo_push(source.path(), "published:1", remote, format);
    remote_digest(remote, &["--tls-verify=false"])
}

#[test]
#[ignore = "needs root: make test"]
fn from_an_image_in_a_registry_builds_and_runs_in_an_empty_store() {
    require_environment();
    let registry = Registry::start(&RegistrySpec::default());
    let host = registry.host();

    let remote = format!("{host}/lib/busybox:1");
    let digest = publish(
        &format!("{BASE}CMD [\"echo\", \"hello from the registry\"]\n"),
        &remote,
        "oci",
    );

    // FROM the registry image in an empty store: pulled, built on, run.
    let env = Env::new();
    let app = context_with(&format!(
        "FROM {remote}\nRUN echo built on the pulled image > /msg\nCMD [\"cat\", \"/msg\"]\n"
    ));
    let out = run_ok(
        env.strata()
            .args(["build", "-q", "-t", "app:1"])
            .arg(app.path()),
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("sha256:"),
        "{}",
        describe(&out)
    );
    common::skopeo_validate(env.store.path(), "app:1");
    let out = run_ok(env.strata().args(["run", "app:1"]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "built on the pulled image\n"
    );
    let app_layers = layers(&env, "app:1");
    let pulled_layers = layers(&env, &remote);
    assert_eq!(
        &app_layers[..pulled_layers.len()],
        &pulled_layers[..],
        "app:1 is not built on the pulled layers"
    );

    // `strata pull` alone, then `images` lists it and it runs.
    let env = Env::new();
    let out = run_ok(env.strata().args(["pull", &remote]));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), digest);
    let images = run_ok(env.strata().arg("images"));
    let listed = String::from_utf8_lossy(&images.stdout);
    let line = listed
        .lines()
        .find(|l| l.split_whitespace().next() == Some(remote.as_str()))
        .unwrap_or_else(|| panic!("{remote} not listed:\n{listed}"));
    assert!(
        line.contains(&hex(&digest)[..12]),
        "{line:?} lacks {digest}"
    );
    let out = run_ok(env.strata().args(["run", &remote]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from the registry\n"
    );
    // A second pull downloads nothing.
    let out = run_ok(env.strata().args(["pull", &remote]));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("0 blobs downloaded"),
        "{}",
        describe(&out)
    );
}

#[test]
#[ignore = "needs root: make test"]
fn a_docker_schema2_image_pinned_by_digest_is_stored_as_oci_and_found_offline() {
    require_environment();
    let registry = Registry::start(&RegistrySpec::default());
    let host = registry.host();
    let remote = format!("{host}/lib/v2s2:1");
    let digest = publish(BASE, &remote, "v2s2");
    let pinned = format!("{host}/lib/v2s2@{digest}");

    let env = Env::new();
    let app = context_with(&format!(
        "FROM {host}/lib/v2s2:1@{digest}\nRUN echo pinned > /msg\nCMD [\"cat\", \"/msg\"]\n"
    ));
    let build = || {
        run_ok(
            env.strata()
                .args(["build", "-q", "-t", "app:1"])
                .arg(app.path()),
        )
    };
    build();
    // The pulled Docker manifest became an OCI one that skopeo and umoci read, filed
    // under the digest the Dockerfile pinned.
    common::skopeo_validate(env.store.path(), &pinned);
    let bundle = tempfile::tempdir().unwrap();
    common::umoci_unpack(
        &format!("{}:{pinned}", env.store.path().display()),
        &bundle.path().join("bundle"),
    );
    assert!(bundle.path().join("bundle/rootfs/bin/busybox").is_file());
    common::skopeo_validate(env.store.path(), "app:1");
    let out = run_ok(env.strata().args(["run", "app:1"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "pinned\n");

    // With the registry gone, the pinned base is found in the store.
    drop(registry);
    let again = build();
    assert!(
        String::from_utf8_lossy(&again.stdout).starts_with("sha256:"),
        "{}",
        describe(&again)
    );
}

/// The fault proxy's seed for the single-image push: one that cuts an upload.
const SINGLE_SEED: u64 = 2;

#[test]
#[ignore = "needs root: make test"]
fn pushes_survive_503s_and_cut_uploads() {
    let registry = Registry::start(&RegistrySpec::default());
    let proxy = FaultProxy::start(registry.port, 7, 0.3, 12);
    let via_proxy = format!("127.0.0.1:{}", proxy.port);
    let fam = family(Some(&format!("{via_proxy}/faulty")));
    let env = Env::new();

    // The whole family, pushed as part of the build.
    let built = env.build(fam.path(), &["--push"]);
    assert!(
        proxy.faults() > 0 && built.log.contains("retrying"),
        "{} faults, log:\n{}",
        proxy.faults(),
        built.log
    );
    let scratch = tempfile::tempdir().unwrap();
    for name in IMAGES {
        let direct = format!("{}/faulty/{name}:latest", registry.host());
        let local = &built.digests[name];
        assert_eq!(&remote_digest(&direct, &["--tls-verify=false"]), local);
        let copied = copy_back(
            &direct,
            &["--src-tls-verify=false"],
            &scratch.path().join(name),
        );
        assert_eq!(&copied, local, "skopeo copy of {direct}");
    }

    // One image, one request at a time, through a proxy with a fresh fault budget: with
    // this seed an upload is cut in the middle (the requests, hence the faults, are the
    // same on every run).
    let proxy = FaultProxy::start(registry.port, SINGLE_SEED, 0.3, 12);
    let out = run_ok(env.strata().args([
        "push",
        "app2:latest",
        &format!("127.0.0.1:{}/single/app2:1", proxy.port),
    ]));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        proxy.cut_uploads() > 0 && log.contains("retrying upload"),
        "{} uploads cut: {}",
        proxy.cut_uploads(),
        describe(&out)
    );
    let direct = format!("{}/single/app2:1", registry.host());
    assert_eq!(
        remote_digest(&direct, &["--tls-verify=false"]),
        built.digests["app2"]
    );
    let copied = copy_back(
        &direct,
        &["--src-tls-verify=false"],
        &scratch.path().join("single"),
    );
    assert_eq!(copied, built.digests["app2"]);
}

#[test]
#[ignore = "needs root: make test"]
fn a_registry_that_is_down_fails_clearly_and_leaves_the_store_alone() {
    require_environment();
    let env = Env::new();
    let ctx = context_with(&format!("{BASE}RUN echo seed > /seed\n"));
    env.store.build(ctx.path(), "seed:1", &[]);
    let down = format!("127.0.0.1:{}", free_port());
    let before = fingerprint(env.store.path());

    let from_down = context_with(&format!("FROM {down}/gone/app:1\nRUN true\n"));
    let attempts: [(&str, Vec<String>); 3] = [
        (
            "push",
            vec![
                "push".into(),
                "seed:1".into(),
                format!("{down}/gone/seed:1"),
            ],
        ),
        ("pull", vec!["pull".into(), format!("{down}/gone/app:1")]),
        (
            "build FROM",
            vec![
                "build".into(),
                "-t".into(),
                "bad:1".into(),
                from_down.path().display().to_string(),
            ],
        ),
    ];
    for (what, args) in attempts {
        let started = std::time::Instant::now();
        let out = output(env.strata().args(&args));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {}", describe(&out));
        assert!(
            stderr.contains(&down) && stderr.to_lowercase().contains("refused"),
            "{what}: the error should name {down} and the refused connection: {}",
            describe(&out)
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{what}: a refused connection took {:?}",
            started.elapsed()
        );
        assert_same_fingerprint(&before, &fingerprint(env.store.path()), what);
    }
    // The FROM error points at the Dockerfile line.
    let out = output(
        env.strata()
            .args(["build", "-t", "bad:1"])
            .arg(from_down.path()),
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Dockerfile:1:"),
        "{}",
        describe(&out)
    );
}

#[test]
#[ignore = "needs root: make test"]
fn a_cache_exported_from_one_store_builds_the_family_in_another_without_running_a_step() {
    let registry = Registry::start(&RegistrySpec::default());
    let cache_ref = format!("{}/cache:fam", registry.host());
    let fam = family(None);

    let a = Env::new();
    let first = a.build(fam.path(), &["--cache-to", &cache_ref]);
    assert!(
        !first.summary().contains(" 0 steps run"),
        "store A ran nothing: {}",
        first.log
    );
    assert!(
        first.log.contains(&format!("cache entries to {cache_ref}")),
        "{}",
        first.log
    );
    assert_eq!(stamps(&a), ["app1", "app2", "base"], "store A's RUN log");

    let b = Env::new();
    let second = b.build(fam.path(), &["--cache-from", &cache_ref]);
    assert!(
        second.summary().contains(" 0 steps run"),
        "store B ran steps: {}",
        second.log
    );
    assert!(
        second
            .log
            .contains(&format!("cache entries from {cache_ref}")),
        "{}",
        second.log
    );
    // The stamps in the layers come from A's runs, so equal digests mean nothing ran
    // again; and no RUN wrote to B's cache mount.
    assert_eq!(second.digests, first.digests);
    assert_eq!(second.digests.len(), IMAGES.len());
    assert!(stamps(&b).is_empty(), "a RUN ran in store B");
    for name in IMAGES {
        common::skopeo_validate(b.store.path(), &format!("{name}:latest"));
    }
    let out = run_ok(b.strata().args(["run", "app1:latest"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from app1\n");
    let out = run_ok(
        b.strata()
            .args(["run", "app2:latest", "--", "cat", "/base.built-at"]),
    );
    let out_a = run_ok(
        a.strata()
            .args(["run", "app2:latest", "--", "cat", "/base.built-at"]),
    );
    assert_eq!(out.stdout, out_a.stdout);
}

/// The names the stamp RUNs appended to the `runs` cache mount of a store, sorted.
fn stamps(env: &Env) -> Vec<String> {
    let root = env.store.path().join("cache-mounts");
    let Ok(dirs) = fs::read_dir(&root) else {
        return Vec::new();
    };
    let mut names: Vec<String> = dirs
        .filter_map(|d| fs::read_to_string(d.unwrap().path().join("data/ran")).ok())
        .flat_map(|text| text.lines().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    names.sort();
    names
}

#[test]
#[ignore = "needs root: make test"]
fn pushing_zstd_layers_warns_that_old_docker_cannot_pull_them() {
    require_environment();
    let registry = Registry::start(&RegistrySpec::default());
    let store = Store::new();
    let ctx = context_with(&format!("{BASE}RUN echo z > /z\n"));
    let push = |compression: &str, tag: &str| {
        let out = run_ok(
            store
                .strata()
                .env("HOME", store.path())
                .args(["build", "-q", "--push", "--compression", compression, "-t"])
                .arg(format!("127.0.0.1:{}/z:{tag}", registry.port))
                .arg(ctx.path()),
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let zstd = push("zstd", "1");
    assert!(
        zstd.contains("has zstd layers, which docker 20.10 and older cannot pull"),
        "{zstd}"
    );
    let gzip = push("gzip", "2");
    assert!(!gzip.contains("zstd"), "{gzip}");
}
