//! `strata load` against real docker 20.10 (a private daemon, `common::docker`): what
//! `docker save` writes (from a file, a pipe, gzip or zstd compressed, several images
//! with a symlinked layer, an image saved by ID) loads, runs, shows docker's history,
//! reads in skopeo and umoci, pushes to a registry docker pulls from, and exports back
//! into docker with its image ID; OCI archives (strata's, skopeo's, docker 25+'s
//! layout) and OCI layout dirs load, keeping their manifests; `rmi` and `prune` free
//! what a load stored; truncated and tampered archives fail naming file and entry,
//! leaving no tag, blob or temp file.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::docker::Docker;
use common::registry::{Registry, RegistrySpec};
use common::{
    context_with, describe, output, require_environment, run, run_ok, skopeo_validate, temp_dir,
    umoci_unpack, Store, BASE,
};
use serde_json::Value;
use tempfile::TempDir;

/// What docker's classic builder makes of it: a COPY layer, ENV, a RUN layer written by
/// busybox itself, LABEL and CMD (metadata-only history entries).
const DOCKERFILE: &str = "FROM scratch\nCOPY busybox /bin/busybox\nENV GREETING=hello PATH=/bin\nRUN [\"/bin/busybox\",\"sh\",\"-c\",\"echo hi > /x\"]\nLABEL purpose=load-test\nCMD [\"/bin/busybox\",\"sh\",\"-c\",\"echo $GREETING; cat /x\"]\n";
/// What the image's CMD prints.
const OUTPUT: &str = "hello\nhi\n";
/// The image's tag in docker.
const APP: &str = "load/app:1";

/// The shared daemon, with [`APP`] built in it.
fn docker_with_app() -> std::sync::Arc<Docker> {
    require_environment();
    let docker = Docker::shared();
    let ctx = context_with(DOCKERFILE);
    docker.build(ctx.path(), APP);
    docker
}

/// `docker save -o FILE IMAGES...`.
fn save(docker: &Docker, file: &Path, images: &[&str]) {
    run_ok(
        docker
            .command()
            .arg("save")
            .arg("-o")
            .arg(file)
            .args(images),
    );
}

/// The shared daemon with [`APP`], and a temp dir holding its `docker save` as `app.tar`.
fn saved_app() -> (std::sync::Arc<Docker>, TempDir, PathBuf) {
    let docker = docker_with_app();
    let dir = temp_dir("strata-load-");
    let archive = dir.path().join("app.tar");
    save(&docker, &archive, &[APP]);
    (docker, dir, archive)
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&run_ok(cmd).stdout).into_owned()
}

/// `strata load ARGS` with `input` (a file) on standard input, if given.
fn load(store: &Store, args: &[&str], input: Option<&Path>) -> std::process::Output {
    let mut cmd = store.strata();
    cmd.arg("load").args(args);
    if let Some(input) = input {
        cmd.stdin(fs::File::open(input).unwrap());
    }
    output(&mut cmd)
}

fn loaded(store: &Store, args: &[&str], input: Option<&Path>) -> String {
    let out = load(store, args, input);
    assert!(out.status.success(), "strata load: {}", describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A new store with `strata load -i input` done, which must say it loaded `name`, whose
/// command prints `printed`.
fn loads_and_runs(input: &Path, name: &str, printed: &str) -> Store {
    let store = Store::new();
    assert_eq!(
        loaded(&store, &["-i", input.to_str().unwrap()], None),
        format!("Loaded image: {name}\n")
    );
    assert_eq!(stdout(store.strata().args(["run", name])), printed);
    store
}

/// The blob files of a store, sorted.
fn blobs(store: &Store) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(store.path().join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn tmp_entries(store: &Store) -> Vec<String> {
    fs::read_dir(store.path().join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
#[ignore = "needs root: make test"]
fn a_docker_save_loads_runs_matches_docker_and_goes_back() {
    let (docker, dir, archive) = saved_app();
    let store = Store::new();
    assert_eq!(
        loaded(&store, &["-i", archive.to_str().unwrap()], None),
        format!("Loaded image: {APP}\n")
    );
    assert_eq!(stdout(store.strata().args(["run", APP])), OUTPUT);

    // History: docker's instructions and layer sizes, exact and as docker prints them,
    // and docker's image ID on top (the config is kept byte for byte).
    let docker_rows = docker.run(&[
        "history",
        "--no-trunc",
        "--human=false",
        "--format",
        "{{.CreatedBy}}\t{{.Size}}",
        APP,
    ]);
    let history: Vec<Value> = serde_json::from_str(&stdout(
        store.strata().args(["history", "--format", "json", APP]),
    ))
    .unwrap();
    let strata_rows: Vec<String> = history
        .iter()
        .map(|e| format!("{}\t{}", e["created_by"].as_str().unwrap(), e["size"]))
        .collect();
    assert_eq!(strata_rows, docker_rows.lines().collect::<Vec<_>>());
    assert!(
        strata_rows.iter().any(|r| r.ends_with("\t3")),
        "{strata_rows:?}"
    );
    let docker_sizes = docker.run(&["history", "--format", "{{.Size}}", APP]);
    let table = stdout(store.strata().args(["history", "--no-trunc", APP]));
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), docker_sizes.lines().count(), "{table}");
    for (row, size) in rows.iter().zip(docker_sizes.lines()) {
        assert!(
            row.trim_end().ends_with(&format!(" {size}")),
            "{row:?} vs {size}"
        );
    }
    let id = docker.run(&["image", "inspect", "--format", "{{.Id}}", APP]);
    let id = id.trim().trim_start_matches("sha256:");
    assert!(rows[0].starts_with(&id[..12]), "{table}");

    // The loaded image is a valid OCI image: skopeo reads it, umoci unpacks it.
    let manifest = skopeo_validate(store.path(), APP);
    assert!(
        manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["mediaType"] == "application/vnd.oci.image.layer.v1.tar"),
        "{manifest}"
    );
    let bundle = temp_dir("strata-bundle-");
    umoci_unpack(&store.image(APP), &bundle.path().join("b"));
    let rootfs = bundle.path().join("b/rootfs");
    assert_eq!(fs::read_to_string(rootfs.join("x")).unwrap(), "hi\n");
    assert!(rootfs.join("bin/busybox").is_file());

    // Pushed to a registry, docker pulls and runs it.
    let registry = Registry::start(&RegistrySpec::default());
    let remote = format!("{}/load/pushed:1", registry.host());
    run_ok(store.strata().args(["push", APP, &remote]));
    docker.run(&["pull", &remote]);
    let ran = docker.run(&["run", "--rm", "--network", "none", &remote]);
    assert_eq!(ran, OUTPUT);

    // Exported as a docker-archive, docker loads it back under the same image ID.
    run_ok(store.strata().args(["tag", APP, "load/back:1"]));
    let back = dir.path().join("back.tar");
    run_ok(
        store
            .strata()
            .args(["export", "load/back:1", "--format", "docker-archive", "-o"])
            .arg(&back),
    );
    let out = docker.run(&["load", "-i", back.to_str().unwrap()]);
    assert!(out.contains("Loaded image: load/back:1"), "{out}");
    let back_id = docker.run(&["image", "inspect", "--format", "{{.Id}}", "load/back:1"]);
    assert_eq!(back_id.trim().trim_start_matches("sha256:"), id);
    let ran = docker.run(&["run", "--rm", "--network", "none", "load/back:1"]);
    assert_eq!(ran, OUTPUT);
}

#[test]
#[ignore = "needs root: make test"]
fn pipes_gzip_several_images_and_untagged_ones_load() {
    let docker = docker_with_app();
    // A second image sharing the first one's COPY layer: `docker save` writes that
    // layer once and a symlink to it for the other image.
    let ctx = context_with(
        "FROM scratch\nCOPY busybox /bin/busybox\nCMD [\"/bin/busybox\",\"echo\",\"two\"]\n",
    );
    docker.build(ctx.path(), "load/two");
    let dir = temp_dir("strata-load-");
    let both = dir.path().join("both.tar");
    save(&docker, &both, &[APP, "load/two"]);
    let listing = run("tar", &["tvf", both.to_str().unwrap()]);
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with('l') && l.contains("layer.tar -> ")),
        "expected a symlinked layer: {listing}"
    );

    // `docker save | strata load`: a pipe, which cannot be seeked.
    let store = Store::new();
    let mut saving = docker
        .command()
        .args(["save", APP, "load/two"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = output(
        store
            .strata()
            .arg("load")
            .stdin(saving.stdout.take().unwrap()),
    );
    assert!(saving.wait().unwrap().success());
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        ["Loaded image: load/app:1", "Loaded image: load/two:latest"]
    );
    assert_eq!(stdout(store.strata().args(["run", "load/two"])), "two\n");
    assert_eq!(stdout(store.strata().args(["run", APP])), OUTPUT);
    skopeo_validate(store.path(), "load/two:latest");

    // gzip'd and zstd'd, from a file and from `-i -`.
    let compressed = |tool: &str, name: &str| {
        let file = dir.path().join(name);
        run_ok(
            Command::new(tool)
                .args(["-c", "-q"])
                .arg(&both)
                .stdout(fs::File::create(&file).unwrap()),
        );
        file
    };
    let gz = compressed("gzip", "both.tar.gz");
    let zst = compressed("zstd", "both.tar.zst");
    for (args, input) in [
        (vec!["-i", gz.to_str().unwrap()], None),
        (vec!["-i", "-"], Some(gz.as_path())),
        (vec!["-i", zst.to_str().unwrap()], None),
    ] {
        let store = Store::new();
        let out = loaded(&store, &args, input);
        assert!(out.contains("Loaded image: load/two:latest"), "{out}");
        assert_eq!(stdout(store.strata().args(["run", APP])), OUTPUT);
    }

    // An image saved by ID has no tag: its digest names it, until it is tagged.
    let id = docker.run(&["image", "inspect", "--format", "{{.Id}}", "load/two"]);
    let by_id = dir.path().join("by-id.tar");
    save(&docker, &by_id, &[id.trim()]);
    let store = Store::new();
    let out = loaded(&store, &["-i", by_id.to_str().unwrap()], None);
    let digest = out
        .strip_prefix("Loaded image ID: ")
        .unwrap_or_else(|| panic!("{out}"))
        .trim();
    assert_eq!(stdout(store.strata().args(["run", digest])), "two\n");
    run_ok(store.strata().args(["tag", digest, "named:1"]));
    assert_eq!(store.tagged("named:1"), digest);
}

#[test]
#[ignore = "needs root: make test"]
fn oci_archives_and_layouts_load_with_their_digests() {
    let docker = docker_with_app();
    let dir = temp_dir("strata-load-");

    // strata's own oci-archive, into an empty store: the same manifest, byte for byte.
    let built = Store::new();
    let ctx = context_with(&format!(
        "{BASE}RUN echo built > /built\nCMD [\"cat\", \"/built\"]\n"
    ));
    built.build(ctx.path(), "built:1", &[]);
    let archive = dir.path().join("built.tar");
    run_ok(
        built
            .strata()
            .args(["export", "built:1", "--format", "oci-archive", "-o"])
            .arg(&archive),
    );
    let store = loads_and_runs(&archive, "built:1", "built\n");
    assert_eq!(store.tagged("built:1"), built.tagged("built:1"));

    // skopeo's oci-archive of the image in docker.
    let from_docker = dir.path().join("skopeo.tar");
    run_ok(Command::new("skopeo").args([
        "copy",
        "--src-daemon-host",
        docker.host(),
        &format!("docker-daemon:{APP}"),
        &format!("oci-archive:{}:{APP}", from_docker.display()),
    ]));
    loads_and_runs(&from_docker, APP, OUTPUT);

    // docker 25+'s layout: an OCI layout whose manifest.json names the blobs, layers
    // gzipped as in containerd's store. manifest.json decides; diff_ids are checked on
    // the decompressed tars, and the layers keep their compression.
    let tree = dir.path().join("new-style");
    fs::create_dir(&tree).unwrap();
    run_ok(
        Command::new("tar")
            .arg("xf")
            .arg(&archive)
            .arg("-C")
            .arg(&tree),
    );
    let manifest: Value = serde_json::from_str(&stdout(built.strata().args([
        "inspect",
        "--manifest",
        "built:1",
    ])))
    .unwrap();
    let blob = |d: &Value| format!("blobs/sha256/{}", &d["digest"].as_str().unwrap()[7..]);
    let docker_manifest = serde_json::json!([{
        "Config": blob(&manifest["config"]),
        "RepoTags": ["new/style:1"],
        "Layers": manifest["layers"].as_array().unwrap().iter().map(blob).collect::<Vec<_>>(),
    }]);
    fs::write(tree.join("manifest.json"), docker_manifest.to_string()).unwrap();
    let new_style = dir.path().join("new-style.tar");
    run_ok(
        Command::new("tar")
            .arg("cf")
            .arg(&new_style)
            .arg("-C")
            .arg(&tree)
            .arg("."),
    );
    let store = loads_and_runs(&new_style, "new/style:1", "built\n");
    let loaded: Value = serde_json::from_str(&stdout(store.strata().args([
        "inspect",
        "--manifest",
        "new/style:1",
    ])))
    .unwrap();
    assert_eq!(loaded["layers"], manifest["layers"]);

    // An OCI layout directory.
    let layout = dir.path().join("layout");
    run_ok(Command::new("skopeo").args([
        "copy",
        &format!("oci:{}:built:1", built.path().display()),
        &format!("oci:{}:copied:2", layout.display()),
    ]));
    let store = loads_and_runs(&layout, "copied:2", "built\n");
    assert_eq!(store.tagged("copied:2"), built.tagged("built:1"));
}

#[test]
#[ignore = "needs root: make test"]
fn rmi_then_prune_frees_what_a_load_stored() {
    let (_docker, _dir, archive) = saved_app();
    let store = Store::new();
    loaded(&store, &["-i", archive.to_str().unwrap()], None);
    // Two layers, the config and the manifest.
    assert_eq!(blobs(&store).len(), 4, "{:?}", blobs(&store));
    stdout(store.strata().args(["history", APP]));
    let untagged = stdout(store.strata().args(["rmi", APP]));
    assert!(untagged.contains("Unreferenced: sha256:"), "{untagged}");
    let pruned = stdout(store.strata().args(["prune"]));
    assert!(
        pruned.starts_with("removed 4 blobs and 2 snapshots"),
        "{pruned}"
    );
    assert_eq!(blobs(&store), Vec::<String>::new());
}

#[test]
#[ignore = "needs root: make test"]
fn truncated_and_tampered_archives_fail_leaving_nothing() {
    let (_docker, dir, archive) = saved_app();
    let manifest: Value = serde_json::from_str(&run(
        "tar",
        &["xOf", archive.to_str().unwrap(), "manifest.json"],
    ))
    .unwrap();
    let layers: Vec<&str> = manifest[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();

    let fails = |file: &Path, input: Option<&Path>| -> String {
        let store = Store::new();
        let args = match input {
            Some(_) => vec!["-i", "-"],
            None => vec!["-i", file.to_str().unwrap()],
        };
        let out = load(&store, &args, input);
        assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
        assert_eq!(stdout(store.strata().arg("images")).lines().count(), 1);
        assert_eq!(blobs(&store), Vec::<String>::new());
        assert_eq!(tmp_entries(&store), Vec::<String>::new());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };

    // Cut in the middle of the busybox layer: from a file and from a pipe.
    let bytes = fs::read(&archive).unwrap();
    let truncated = dir.path().join("truncated.tar");
    fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = fails(&truncated, None);
    assert!(
        err.contains(truncated.to_str().unwrap())
            && err.contains(&format!("entry {:?}", layers[0])),
        "{err}"
    );
    let err = fails(&truncated, Some(&truncated));
    assert!(
        err.contains("standard input") && err.contains(layers[0]),
        "{err}"
    );

    // The RUN layer changed after the config was written: its diff_id no longer matches.
    let tree = dir.path().join("tree");
    fs::create_dir(&tree).unwrap();
    run_ok(
        Command::new("tar")
            .arg("xf")
            .arg(&archive)
            .arg("-C")
            .arg(&tree),
    );
    fs::write(dir.path().join("extra"), "tampered\n").unwrap();
    run_ok(
        Command::new("tar")
            .arg("rf")
            .arg(tree.join(layers[1]))
            .arg("-C")
            .arg(dir.path())
            .arg("extra"),
    );
    let tampered = dir.path().join("tampered.tar");
    run_ok(
        Command::new("tar")
            .arg("cf")
            .arg(&tampered)
            .arg("-C")
            .arg(&tree)
            .arg("."),
    );
    let err = fails(&tampered, None);
    assert!(
        err.contains(tampered.to_str().unwrap())
            && err.contains(layers[1])
            && err.contains("diff_id"),
        "{err}"
    );

    // Not an archive at all.
    let text = dir.path().join("notes.txt");
    fs::write(&text, "not a tar\n".repeat(100)).unwrap();
    let err = fails(&text, None);
    assert!(err.contains(text.to_str().unwrap()), "{err}");
}
