//! `strata build` driven with `docker buildx build`'s syntax, through the CLI: the
//! `--cache-from`/`--cache-to` forms (registry and local, `mode=min|max`), `-o` outputs
//! (local, tar, oci, docker, image, registry), `--pull`, `--build-context`, the RUN
//! sandbox flags (`--add-host`, `--shm-size`, `--ulimit`, `--network default`),
//! `--annotation`, `--metadata-file` (one image and a family), `--progress rawjson|quiet`,
//! and a usage error naming the flag for every malformed value.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use common::registry::{Registry, RegistrySpec};
use common::{
    context_with, describe, output, require_environment, run, run_ok, skopeo_validate, Store, BASE,
};
use serde_json::Value;

/// A two-stage Dockerfile: `builder` makes an artifact the final stage copies, so
/// `mode=min` (the final stage's steps) and `mode=max` (every stage's) differ by the
/// builder's RUN.
const TWO_STAGES: &str = "FROM scratch AS tools\nCOPY busybox /bin/busybox\n\
    RUN [\"/bin/busybox\",\"--install\",\"-s\",\"/bin\"]\n\
    FROM tools AS builder\nRUN echo artifact > /artifact\n\
    FROM tools\nCOPY --from=builder /artifact /artifact\nRUN cat /artifact > /copied\n";

/// `strata build --progress plain ARGS CONTEXT` in `store`; must succeed. Returns
/// (digest on stdout, stderr).
fn build(store: &Store, args: &[&str], context: &Path) -> (String, String) {
    let out = run_ok(
        store
            .strata()
            .args(["build", "--progress", "plain"])
            .args(args)
            .arg(context),
    );
    (
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The number of steps the closing summary says ran.
fn steps_run(log: &str) -> usize {
    let summary = log
        .lines()
        .find(|l| l.contains(" steps run"))
        .unwrap_or_else(|| panic!("no summary in {log}"));
    let before = summary.split(" steps run").next().unwrap();
    before.rsplit(' ').next().unwrap().parse().unwrap()
}

/// `skopeo inspect` of `target` (a transport:reference), as JSON.
fn skopeo_inspect(target: &str, raw: bool) -> Value {
    let mut args = vec!["inspect", "--tls-verify=false"];
    if raw {
        args.push("--raw");
    }
    args.push(target);
    serde_json::from_str(&run("skopeo", &args)).unwrap()
}

#[test]
#[ignore = "needs root: make test"]
fn a_local_cache_in_min_and_max_mode_serves_a_fresh_store() {
    require_environment();
    let ctx = context_with(TWO_STAGES);
    let caches = common::temp_dir("strata-caches-");
    let min = caches.path().join("min");
    let max = caches.path().join("max");
    let a = Store::new();
    let (digest, log) = build(
        &a,
        &[
            "--cache-to",
            &format!("type=local,dest={}", min.display()),
            "--cache-to",
            &format!("type=local,dest={},mode=max", max.display()),
        ],
        ctx.path(),
    );
    assert_eq!(steps_run(&log), 5, "{log}");
    // min: tools' two steps, the final COPY and RUN; max adds the builder's RUN.
    assert!(
        log.contains("exported 4 cache entries to ") && log.contains("(mode=min,"),
        "{log}"
    );
    assert!(
        log.contains("exported 5 cache entries to ") && log.contains("(mode=max,"),
        "{log}"
    );
    // Each is an OCI layout skopeo reads, tagged `latest` as BuildKit's local cache is.
    for dir in [&min, &max] {
        let inspected = skopeo_inspect(&format!("oci:{}:latest", dir.display()), false);
        assert!(inspected["Layers"].as_array().is_some(), "{inspected}");
    }

    let with_max = Store::new();
    let (again, log) = build(
        &with_max,
        &["--cache-from", &format!("type=local,src={}", max.display())],
        ctx.path(),
    );
    assert_eq!(again, digest, "{log}");
    assert_eq!(steps_run(&log), 0, "mode=max leaves no step to run: {log}");

    // mode=min lacks the builder's RUN: it runs again, and the COPY of its (same)
    // output is still a hit, so the image is the same.
    let with_min = Store::new();
    let (again, log) = build(
        &with_min,
        &["--cache-from", &format!("type=local,src={}", min.display())],
        ctx.path(),
    );
    assert_eq!(again, digest, "{log}");
    assert_eq!(
        steps_run(&log),
        1,
        "mode=min reruns only the builder: {log}"
    );
    assert!(log.contains("[builder 1/1] RUN echo artifact"), "{log}");

    // A cache dir that does not exist yet is the first build, not an error.
    let fresh = Store::new();
    let (_, log) = build(
        &fresh,
        &[
            "--cache-from",
            &format!("type=local,src={}", caches.path().join("none").display()),
        ],
        ctx.path(),
    );
    assert!(log.contains("imported 0 cache entries"), "{log}");
}

#[test]
#[ignore = "needs root: make test"]
fn registry_cache_forms_outputs_and_metadata_agree_with_the_registry() {
    require_environment();
    let registry = Registry::start(&RegistrySpec::default());
    let host = registry.host();
    let ctx = context_with(TWO_STAGES);
    let cache_ref = format!("{host}/cache:buildx");
    let app = format!("{host}/app:1");
    let meta = ctx.path().join("meta.json");
    let a = Store::new();
    let (digest, log) = build(
        &a,
        &[
            "--cache-to",
            &format!("type=registry,ref={cache_ref},mode=max,ignore-error=false"),
            "-o",
            &format!("type=registry,name={app}"),
            "--metadata-file",
            meta.to_str().unwrap(),
        ],
        ctx.path(),
    );
    assert!(
        log.contains("exported 5 cache entries to ") && log.contains("(mode=max,"),
        "{log}"
    );
    let pushed = skopeo_inspect(&format!("docker://{app}"), false);
    assert_eq!(pushed["Digest"], digest.as_str(), "{pushed}");
    // buildx's keys, each agreeing with the registry and the store.
    let meta: Value = serde_json::from_str(&fs::read_to_string(&meta).unwrap()).unwrap();
    let keys: Vec<&String> = meta.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "containerimage.config.digest",
            "containerimage.descriptor",
            "containerimage.digest",
            "image.name"
        ],
        "{meta}"
    );
    assert_eq!(meta["containerimage.digest"], digest.as_str());
    assert_eq!(meta["image.name"], app.as_str());
    let manifest = skopeo_inspect(&format!("docker://{app}"), true);
    assert_eq!(
        meta["containerimage.config.digest"],
        manifest["config"]["digest"]
    );
    let descriptor = &meta["containerimage.descriptor"];
    assert_eq!(descriptor["digest"], digest.as_str());
    assert_eq!(descriptor["mediaType"], manifest["mediaType"]);
    let manifest_bytes = fs::read(
        a.path()
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .unwrap();
    assert_eq!(descriptor["size"], manifest_bytes.len() as u64);
    assert_eq!(a.tagged(&app), digest);

    // The bare REF form reads what the typed form wrote.
    let b = Store::new();
    let (again, log) = build(&b, &["--cache-from", &cache_ref], ctx.path());
    assert_eq!(again, digest);
    assert_eq!(steps_run(&log), 0, "{log}");

    // type=image,push=true pushes its names (and tags them), -t alone stays local.
    let second = format!("{host}/app:2");
    let (again, _) = build(
        &b,
        &[
            "-t",
            "local-only:1",
            "-o",
            &format!("type=image,name={second},push=true"),
        ],
        ctx.path(),
    );
    assert_eq!(again, digest);
    assert_eq!(b.tagged(&second), digest);
    assert_eq!(b.tagged("local-only:1"), digest);
    let pushed = skopeo_inspect(&format!("docker://{second}"), false);
    assert_eq!(pushed["Digest"], digest.as_str());
}

#[test]
#[ignore = "needs root: make test"]
fn file_outputs_take_buildx_forms_beside_iidfile_and_quiet() {
    require_environment();
    let store = Store::new();
    let ctx = context_with(&format!("{BASE}RUN echo out > /made\n"));
    let out_dir = common::temp_dir("strata-outputs-");
    let file = |name: &str| out_dir.path().join(name).display().to_string();
    let iid = file("iid");
    let out = run_ok(
        store
            .strata()
            .args(["build", "-q", "-t", "out:1", "--load", "--iidfile", &iid])
            .args(["-o", &format!("type=oci,dest={}", file("image.oci"))])
            .args(["-o", &format!("type=docker,dest={}", file("image.docker"))])
            .args(["-o", &format!("type=tar,dest={}", file("fs.tar"))])
            .args(["-o", &format!("type=local,dest={}", file("fs"))])
            .args(["-o", "type=image,name=extra:1,other:2"])
            .args(["-o", "type=docker"])
            .arg(ctx.path()),
    );
    let digest = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(digest.starts_with("sha256:"), "{}", describe(&out));
    assert!(
        out.stderr.is_empty(),
        "-q prints nothing else: {}",
        describe(&out)
    );
    assert_eq!(fs::read_to_string(&iid).unwrap(), digest);
    for tag in ["out:1", "extra:1", "other:2"] {
        assert_eq!(store.tagged(tag), digest, "{tag}");
        skopeo_validate(store.path(), tag);
    }
    let oci = skopeo_inspect(&format!("oci-archive:{}", file("image.oci")), false);
    assert_eq!(oci["Digest"], digest.as_str(), "{oci}");
    // A docker-archive holds uncompressed layers, so its manifest differs; its config
    // (and so the image ID docker shows) is the store's.
    let docker = skopeo_inspect(&format!("docker-archive:{}", file("image.docker")), true);
    let stored = skopeo_inspect(&format!("oci:{}:out:1", store.path().display()), true);
    assert_eq!(docker["config"]["digest"], stored["config"]["digest"]);
    let listing = run("tar", &["-tf", &file("fs.tar")]);
    assert!(
        listing
            .lines()
            .any(|l| l.trim_start_matches("./") == "made"),
        "{listing}"
    );
    assert_eq!(
        fs::read_to_string(out_dir.path().join("fs/made")).unwrap(),
        "out\n"
    );

    // An archive on standard output: the digest goes to stderr.
    let out = run_ok(
        store
            .strata()
            .args([
                "build",
                "-t",
                "out:1",
                "--progress",
                "quiet",
                "-o",
                "type=oci,dest=-",
            ])
            .arg(ctx.path()),
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), digest);
    fs::write(file("stdout.oci"), &out.stdout).unwrap();
    let from_stdout = skopeo_inspect(&format!("oci-archive:{}", file("stdout.oci")), false);
    assert_eq!(from_stdout["Digest"], digest.as_str());
}

#[test]
#[ignore = "needs root: make test"]
fn pull_resolves_a_moved_tag_again_and_without_it_the_store_copy_serves() {
    require_environment();
    let registry = Registry::start(&RegistrySpec::default());
    let base = format!("{}/base:1", registry.host());
    let upstream = Store::new();
    let push_base = |version: &str| {
        let ctx = context_with(&format!("{BASE}RUN echo {version} > /version\n"));
        let (digest, _) = build(&upstream, &["-t", &base, "--push"], ctx.path());
        digest
    };
    let v1 = push_base("v1");
    let store = Store::new();
    let app = context_with(&format!("FROM {base}\nRUN cat /version > /seen\n"));
    let (_, log) = build(&store, &["-t", "app:1"], app.path());
    assert!(!log.contains("error"), "{log}");
    assert_eq!(store.sh("app:1", "cat /seen"), "v1\n");

    let v2 = push_base("v2");
    assert_ne!(v1, v2);
    let (_, log) = build(&store, &["-t", "app:2"], app.path());
    assert_eq!(store.sh("app:2", "cat /seen"), "v1\n", "{log}");
    let (_, log) = build(&store, &["-t", "app:3", "--pull"], app.path());
    assert_eq!(store.sh("app:3", "cat /seen"), "v2\n", "{log}");
    let manifest = skopeo_inspect(&format!("oci:{}:app:3", store.path().display()), true);
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.base.digest"],
        v2.as_str()
    );
    // The pull also moved the store's copy of the tag.
    let (_, _) = build(&store, &["-t", "app:4"], app.path());
    assert_eq!(store.sh("app:4", "cat /seen"), "v2\n");
}

#[test]
#[ignore = "needs root: make test"]
fn named_contexts_replace_stages_images_and_feed_copy_and_mounts() {
    require_environment();
    let store = Store::new();
    let tools = context_with(&format!("{BASE}RUN echo from-tools > /origin\n"));
    build(&store, &["-t", "tools:1"], tools.path());
    let side = common::temp_dir("strata-side-");
    fs::write(side.path().join("hello.txt"), "side file\n").unwrap();
    // An OCI layout holding tools:1 under the tag v1, as skopeo writes one.
    let layouts = common::temp_dir("strata-layout-");
    let layout = layouts.path().join("tools");
    run(
        "skopeo",
        &[
            "copy",
            &format!("oci:{}:tools:1", store.path().display()),
            &format!("oci:{}:v1", layout.display()),
        ],
    );
    let tools_digest = store.tagged("tools:1");

    let ctx = context_with(
        "FROM scratch AS sources\nCOPY nothing-here /\n\
         FROM toolbox\n\
         COPY --from=sources hello.txt /copied.txt\n\
         RUN --mount=from=side,target=/side cat /side/hello.txt > /mounted.txt\n",
    );
    let side_arg = format!("side={}", side.path().display());
    let sources_arg = format!("sources={}", side.path().display());
    for toolbox in [
        "toolbox=docker-image://tools:1".to_owned(),
        format!("toolbox=oci-layout://{}:v1", layout.display()),
        format!("toolbox=oci-layout://{}@{tools_digest}", layout.display()),
    ] {
        let (_, log) = build(
            &store,
            &[
                "-t",
                "named:1",
                "--build-context",
                &toolbox,
                "--build-context",
                &side_arg,
                "--build-context",
                &sources_arg,
            ],
            ctx.path(),
        );
        assert_eq!(
            store.sh("named:1", "cat /origin /copied.txt /mounted.txt"),
            "from-tools\nside file\nside file\n",
            "{toolbox}: {log}"
        );
        let manifest = skopeo_inspect(&format!("oci:{}:named:1", store.path().display()), true);
        assert_eq!(
            manifest["annotations"]["org.opencontainers.image.base.digest"],
            tools_digest.as_str(),
            "{toolbox}"
        );
    }
    // The directory's content is the key: a changed file reaches the image.
    fs::write(side.path().join("hello.txt"), "changed\n").unwrap();
    build(
        &store,
        &[
            "-t",
            "named:2",
            "--build-context",
            "toolbox=docker-image://tools:1",
            "--build-context",
            &side_arg,
            "--build-context",
            &sources_arg,
        ],
        ctx.path(),
    );
    assert_eq!(
        store.sh("named:2", "cat /copied.txt /mounted.txt"),
        "changed\nchanged\n"
    );
    // A directory has no layers to build on.
    let from_dir = context_with("FROM side\n");
    let stderr = store.build_fails(from_dir.path(), &["--build-context", &side_arg]);
    assert!(
        stderr.contains("local directory") && stderr.contains("COPY --from=side"),
        "{stderr}"
    );
}

#[test]
#[ignore = "needs root: make test"]
fn sandbox_flags_reach_every_run_and_its_cache_key() {
    require_environment();
    let store = Store::new();
    let ctx = context_with(&format!(
        "{BASE}RUN grep -E '^(10.9.8.7|2001:db8::5)' /etc/hosts > /hosts.txt; \
         df -k /dev/shm | tail -1 | awk '{{print $2}}' > /shm.txt; \
         ulimit -Sn > /nofile.txt; ulimit -Hn >> /nofile.txt; ulimit -u > /nproc.txt\n"
    ));
    build(
        &store,
        &[
            "-t",
            "sandboxed:1",
            "--network",
            "default",
            "--add-host",
            "db.internal:10.9.8.7",
            "--add-host",
            "v6.internal=[2001:db8::5]",
            "--shm-size",
            "128m",
            "--ulimit",
            "nofile=1024:2048",
            "--ulimit",
            "nproc=300",
        ],
        ctx.path(),
    );
    assert_eq!(
        store.sh("sandboxed:1", "cat /hosts.txt"),
        "10.9.8.7\tdb.internal\n2001:db8::5\tv6.internal\n"
    );
    assert_eq!(store.sh("sandboxed:1", "cat /shm.txt"), "131072\n");
    assert_eq!(store.sh("sandboxed:1", "cat /nofile.txt"), "1024\n2048\n");
    assert_eq!(store.sh("sandboxed:1", "cat /nproc.txt"), "300\n");
    // Without the flags both RUNs are other steps (BuildKit keys them too; the COPY is
    // not) and see the defaults: 64 MiB of /dev/shm, no extra hosts.
    let (_, log) = build(&store, &["-t", "plain:1"], ctx.path());
    assert_eq!(steps_run(&log), 2, "{log}");
    assert_eq!(store.sh("plain:1", "cat /shm.txt"), "65536\n");
    assert_eq!(store.sh("plain:1", "cat /hosts.txt"), "");
}

#[test]
#[ignore = "needs root: make test"]
fn annotations_go_into_the_manifest_reproducibly() {
    require_environment();
    let store = Store::new();
    let ctx = context_with(&format!("{BASE}RUN echo a > /a\n"));
    let annotated = |tag: &str, extra: &[&str]| {
        let mut args = vec![
            "-t",
            tag,
            "--annotation",
            "org.opencontainers.image.source=https://example.invalid/repo",
            "--annotation",
            "manifest:org.example.team=core",
        ];
        args.extend(extra);
        build(&store, &args, ctx.path()).0
    };
    let plain = build(&store, &["-t", "plain:1"], ctx.path()).0;
    let first = annotated("annotated:1", &[]);
    let again = annotated("annotated:2", &[]);
    assert_ne!(plain, first, "annotations change the manifest digest");
    assert_eq!(first, again, "the same annotations give the same digest");
    let manifest = skopeo_inspect(&format!("oci:{}:annotated:1", store.path().display()), true);
    let annotations = &manifest["annotations"];
    assert_eq!(
        annotations["org.opencontainers.image.source"],
        "https://example.invalid/repo"
    );
    assert_eq!(annotations["org.example.team"], "core");
    // A platform qualifier for another platform annotates nothing, as buildx; one for
    // the build's `--platform` does.
    let other = annotated("annotated:3", &["--annotation", "manifest[plan9/mips]:x=y"]);
    assert_eq!(other, first);
    let version = run_ok(Command::new(env!("CARGO_BIN_EXE_strata")).arg("version"));
    let host = String::from_utf8_lossy(&version.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("platform: ").map(str::to_owned))
        .unwrap();
    let qualified = format!("manifest[{host}]:org.example.platform=yes");
    annotated(
        "annotated:4",
        &["--platform", &host, "--annotation", &qualified],
    );
    let manifest = skopeo_inspect(&format!("oci:{}:annotated:4", store.path().display()), true);
    assert_eq!(manifest["annotations"]["org.example.platform"], "yes");
}

#[test]
#[ignore = "needs root: make test"]
fn rawjson_progress_is_buildkits_solve_status_and_quiet_prints_only_the_digest() {
    require_environment();
    let store = Store::new();
    let ctx = context_with(&format!("{BASE}RUN echo hello-from-run\n"));
    let raw = |tag: &str| {
        let out = run_ok(
            store
                .strata()
                .args(["build", "-t", tag, "--progress", "rawjson"])
                .arg(ctx.path()),
        );
        let lines: Vec<Value> = String::from_utf8_lossy(&out.stderr)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect();
        (
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            lines,
        )
    };
    let (digest, lines) = raw("raw:1");
    let vertexes: Vec<&Value> = lines
        .iter()
        .filter_map(|l| l["vertexes"].as_array())
        .flatten()
        .collect();
    let run_step = vertexes
        .iter()
        .find(|v| {
            v["name"]
                .as_str()
                .unwrap()
                .contains("RUN echo hello-from-run")
        })
        .expect("a vertex for the RUN");
    assert!(run_step["digest"].as_str().unwrap().starts_with("sha256:"));
    assert!(run_step["started"].is_string());
    let completed = vertexes
        .iter()
        .find(|v| v["digest"] == run_step["digest"] && v["completed"].is_string())
        .expect("the RUN completes");
    assert!(completed["cached"].is_null(), "{completed}");
    let log = lines
        .iter()
        .filter_map(|l| l["logs"].as_array())
        .flatten()
        .find(|l| l["vertex"] == run_step["digest"])
        .expect("the RUN's output");
    let data = base64::engine::general_purpose::STANDARD
        .decode(log["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(data, b"hello-from-run\n");
    assert_eq!(log["stream"], 1);
    assert!(vertexes
        .iter()
        .any(|v| v["name"].as_str().unwrap().contains(&digest)));

    let (_, lines) = raw("raw:2");
    let cached = lines
        .iter()
        .filter_map(|l| l["vertexes"].as_array())
        .flatten()
        .filter(|v| v["completed"].is_string() && v["name"].as_str().unwrap().contains("RUN"))
        .all(|v| v["cached"] == true);
    assert!(cached, "{lines:?}");

    let out = run_ok(
        store
            .strata()
            .args(["build", "-t", "raw:3", "--progress", "quiet"])
            .arg(ctx.path()),
    );
    assert!(out.stderr.is_empty(), "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), digest);
}

#[test]
#[ignore = "needs root: make test"]
fn a_family_metadata_file_holds_one_object_per_image() {
    let family = common::BaseAndApps::new(
        "root:x:0:0:root:/root:/bin/sh\n",
        "root:x:0:\n",
        "",
        &[("web", "FROM base\nCOPY site/ /srv/\n")],
    );
    let store = Store::new();
    let meta = family.path().join("meta.json");
    let out = run_ok(
        store
            .strata()
            .args(["build", "--progress", "plain", "--metadata-file"])
            .arg(&meta)
            .arg(family.path()),
    );
    let built = common::FamilyBuild::parse(&out);
    let meta: Value = serde_json::from_str(&fs::read_to_string(&meta).unwrap()).unwrap();
    let names: Vec<&String> = meta.as_object().unwrap().keys().collect();
    assert_eq!(names, ["base", "web"], "{meta}");
    for (name, digest) in &built.digests {
        assert_eq!(
            meta[name]["containerimage.digest"],
            digest.as_str(),
            "{meta}"
        );
        let names = meta[name]["image.name"].as_str().unwrap();
        for tag in names.split(',') {
            assert_eq!(&store.tagged(tag), digest, "{tag}");
        }
    }
}

#[test]
#[ignore = "needs root: make test"]
fn malformed_values_are_usage_errors_that_name_the_flag() {
    require_environment();
    let store = Store::seeded();
    let ctx = context_with(BASE);
    let not_a_dir = ctx.path().join("Dockerfile").display().to_string();
    let cases: &[(&[&str], &str)] = &[
        (&["--cache-to", "type=gha"], "--cache-to \"type=gha\""),
        (
            &["--cache-to", "type=s3,bucket=b"],
            "--cache-to \"type=s3,bucket=b\"",
        ),
        (&["--cache-to", "type=inline"], "--cache-to \"type=inline\""),
        (&["--cache-to", "type=local"], "--cache-to \"type=local\""),
        (
            &["--cache-to", "type=registry,ref=a/b,mode=all"],
            "mode=all",
        ),
        (
            &["--cache-to", "type=local,dest=x,compression=zstd"],
            "--compression",
        ),
        (
            &["--cache-from", "type=local,dest=x"],
            "--cache-from \"type=local,dest=x\"",
        ),
        (&["-o", "type=s3,dest=x"], "--output \"type=s3,dest=x\""),
        (&["-o", "type=local"], "--output \"type=local\""),
        (
            &["-o", "type=registry,push=false"],
            "--output \"type=registry,push=false\"",
        ),
        (&["-o", "-", "-o", "type=oci,dest=-"], "standard output"),
        (&["--add-host", "nohost"], "--add-host \"nohost\""),
        (&["--add-host", "gw:host-gateway"], "host-gateway"),
        (
            &["--add-host", "db:999.1.1.1"],
            "--add-host \"db:999.1.1.1\"",
        ),
        (&["--shm-size", "lots"], "--shm-size \"lots\""),
        (&["--ulimit", "files=1"], "--ulimit \"files=1\""),
        (&["--ulimit", "nofile=10:5"], "--ulimit \"nofile=10:5\""),
        (&["--annotation", "index:a=b"], "--annotation \"index:a=b\""),
        (&["--annotation", "nokey"], "--annotation \"nokey\""),
        (
            &["--build-context", "x=https://example.invalid/r.git"],
            "--build-context",
        ),
        (
            &["--build-context", &format!("x={not_a_dir}")],
            "is not a directory",
        ),
        (
            &["--build-context", "x=oci-layout:///no/such/layout"],
            "not an OCI layout",
        ),
        (
            &["--platform", "linux", "--annotation", "a=b"],
            "--platform: invalid platform \"linux\"",
        ),
    ];
    for (flags, says) in cases {
        let stderr = store.build_fails(ctx.path(), flags);
        assert!(stderr.contains(says), "{flags:?}: {stderr}");
    }
    // clap's own: an unknown --network or --progress value.
    for flags in [["--network", "bridge"], ["--progress", "fancy"]] {
        let out = output(
            Command::new(env!("CARGO_BIN_EXE_strata"))
                .args(["build"])
                .args(flags)
                .arg(ctx.path()),
        );
        assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains(flags[1]));
    }
    // --pull re-resolves FROM lines: a family pins its bases instead.
    let family = common::BaseAndApps::new("root:x:0:0::/:/bin/sh\n", "root:x:0:\n", "", &[]);
    let stderr = store.build_fails(family.path(), &["--pull"]);
    assert!(stderr.contains("strata update"), "{stderr}");
}
