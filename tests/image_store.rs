//! The store and the archives, checked with the real readers: skopeo and umoci must read
//! the store as an OCI layout, and skopeo must read both export formats.

mod common;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use common::run;
use flate2::write::GzEncoder;
use strata::digest::{Digest, HashingWriter};
use strata::image::archive::{export, ArchiveFormat};
use strata::image::{
    ContainerConfig, Descriptor, HealthConfig, History, ImageConfig, RootFs, Store, StoreError,
    CONFIG_MEDIA_TYPE, MANIFEST_MEDIA_TYPE,
};
use strata::layer::{Compression, Layer};

fn json(program: &str, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&run(program, args)).unwrap()
}

/// A gzip layer holding `/bin/busybox` (the static one on the host) and `/bin/sh` linking to
/// it, written the way the layer writer does: tar -> hash -> gzip -> hash -> temp file.
fn busybox_layer(store: &Store) -> Layer {
    let tmp = store.temp_path();
    let blob = HashingWriter::new(File::create(&tmp).unwrap());
    let gzip = GzEncoder::new(blob, flate2::Compression::fast());
    let mut tar = tar::Builder::new(HashingWriter::new(gzip));

    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    tar.append_data(&mut dir, "bin/", std::io::empty()).unwrap();
    let mut busybox = File::open("/bin/busybox").unwrap();
    let mut file = tar::Header::new_gnu();
    file.set_mode(0o755);
    file.set_size(busybox.metadata().unwrap().len());
    tar.append_data(&mut file, "bin/busybox", &mut busybox)
        .unwrap();
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    tar.append_link(&mut link, "bin/sh", "busybox").unwrap();

    let (gzip, diff_id, tar_size) = tar.into_inner().unwrap().finish();
    let (file, digest, size) = gzip.finish().unwrap().finish();
    file.sync_all().unwrap();
    store.commit_blob(&tmp, &digest).unwrap();
    Layer {
        digest,
        diff_id,
        size,
        tar_size,
        compression: Compression::Gzip,
    }
}

fn descriptor(layer: &Layer) -> Descriptor {
    Descriptor {
        media_type: layer.compression.media_type().into(),
        digest: layer.digest.clone(),
        size: layer.size,
        annotations: BTreeMap::new(),
        platform: None,
    }
}

fn config(layer: &Layer, cmd: &str) -> ImageConfig {
    ImageConfig {
        created: Some("2024-05-06T07:08:09Z".into()),
        architecture: "amd64".into(),
        os: "linux".into(),
        config: ContainerConfig {
            user: Some("1000:1000".into()),
            env: Some(vec!["PATH=/bin".into(), "GREETING=hello world".into()]),
            cmd: Some(vec!["/bin/sh".into(), "-c".into(), cmd.into()]),
            healthcheck: Some(HealthConfig {
                test: Some(vec!["CMD-SHELL".into(), "true".into()]),
                interval: Some(30_000_000_000),
                retries: Some(3),
                ..Default::default()
            }),
            shell: Some(vec!["/bin/sh".into(), "-c".into()]),
            on_build: Some(vec!["RUN true".into()]),
            ..Default::default()
        },
        rootfs: RootFs {
            diff_ids: vec![layer.diff_id.clone()],
            ..Default::default()
        },
        history: vec![History {
            created_by: Some("COPY busybox /bin/".into()),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A store holding one tagged busybox image.
struct Fixture {
    _dir: tempfile::TempDir,
    work: PathBuf,
    store: Store,
    layer: Layer,
    manifest: Descriptor,
}

fn fixture(name: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let layer = busybox_layer(&store);
    let annotations = BTreeMap::from([(
        "org.opencontainers.image.base.name".into(),
        "scratch".into(),
    )]);
    let manifest = store
        .put_image(
            &config(&layer, "echo one"),
            &[descriptor(&layer)],
            annotations,
        )
        .unwrap();
    store.tag(name, &manifest).unwrap();
    let work = dir.path().join("work");
    fs::create_dir(&work).unwrap();
    Fixture {
        work,
        _dir: dir,
        store,
        layer,
        manifest,
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
#[ignore = "needs root: make test"]
fn skopeo_and_umoci_read_the_store_despite_leftover_temp_files() {
    let f = fixture("example.com:5000/team/app:1.0");
    let root = path_str(f.store.root());
    fs::write(f.store.temp_path(), b"garbage from a killed build").unwrap();
    fs::create_dir(f.store.root().join("tmp/half-written-dir")).unwrap();
    let reference = format!("oci:{root}:example.com:5000/team/app:1.0");

    let inspect = json("skopeo", &["inspect", &reference]);
    assert_eq!(inspect["Digest"], f.manifest.digest.as_str());
    assert_eq!(inspect["Architecture"], "amd64");
    assert_eq!(inspect["Layers"][0], f.layer.digest.as_str());
    assert_eq!(inspect["Env"][1], "GREETING=hello world");
    let raw = run("skopeo", &["inspect", "--raw", &reference]);
    assert_eq!(Digest::of(raw.as_bytes()), f.manifest.digest);
    let config = json("skopeo", &["inspect", "--config", "--raw", &reference]);
    assert_eq!(
        config["config"]["Healthcheck"]["Interval"],
        30_000_000_000_i64
    );
    assert_eq!(config["config"]["User"], "1000:1000");
    assert_eq!(config["rootfs"]["diff_ids"][0], f.layer.diff_id.as_str());

    let bundle = f.work.join("bundle");
    run(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{root}:example.com:5000/team/app:1.0"),
            path_str(&bundle),
        ],
    );
    let busybox = bundle.join("rootfs/bin/busybox");
    assert_eq!(
        fs::read(&busybox).unwrap(),
        fs::read("/bin/busybox").unwrap()
    );
    assert_eq!(
        fs::read_link(bundle.join("rootfs/bin/sh")).unwrap(),
        Path::new("busybox")
    );
    let runtime: serde_json::Value =
        serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(runtime["process"]["args"][2], "echo one");
}

#[test]
#[ignore = "needs skopeo, busybox-static: make test"]
fn images_are_listed_loaded_and_retagged() {
    let f = fixture("app");
    let second = f
        .store
        .put_image(
            &config(&f.layer, "echo two"),
            &[descriptor(&f.layer)],
            BTreeMap::new(),
        )
        .unwrap();
    assert_ne!(second.digest, f.manifest.digest);
    f.store.tag("other:v1", &f.manifest).unwrap();

    let tags = f.store.tags().unwrap();
    let names: Vec<&str> = tags.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["app:latest", "other:v1"]);
    let created = tags[0].created.as_deref().unwrap();
    time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339).unwrap();

    f.store.tag("app:latest", &second).unwrap();
    let tags = f.store.tags().unwrap();
    assert_eq!(tags.len(), 2);
    assert_eq!(tags[0].descriptor.digest, second.digest);
    let image = f.store.image("app").unwrap();
    assert_eq!(image.digest, second.digest);
    assert_eq!(image.config, config(&f.layer, "echo two"));
    assert_eq!(
        image.manifest.media_type.as_deref(),
        Some(MANIFEST_MEDIA_TYPE)
    );
    assert_eq!(image.size(), image.manifest.config.size + f.layer.size);
    assert_eq!(f.store.image("other:v1").unwrap().digest, f.manifest.digest);
    assert!(
        matches!(f.store.image("app:nope"), Err(StoreError::UnknownImage(n)) if n == "app:nope")
    );
    assert!(matches!(
        f.store.tag("App", &second),
        Err(StoreError::BadName(_))
    ));

    // skopeo rewrites index.json its own way (no lock, no mediaType); strata still reads it.
    let root = path_str(f.store.root());
    run(
        "skopeo",
        &[
            "copy",
            &format!("oci:{root}:other:v1"),
            &format!("oci:{root}:copy:2"),
        ],
    );
    assert_eq!(f.store.image("copy:2").unwrap().digest, f.manifest.digest);
    f.store.tag("after-skopeo", &second).unwrap();
    let names: Vec<String> = f
        .store
        .tags()
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(
        names,
        ["after-skopeo:latest", "app:latest", "copy:2", "other:v1"]
    );

    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(f.store.root().join("index.json")).unwrap()).unwrap();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(index["manifests"].as_array().unwrap().len(), 4);
}

#[test]
#[ignore = "needs skopeo, busybox-static: make test"]
fn docker_archive_is_read_by_skopeo() {
    let f = fixture("app:1");
    let image = f.store.image("app:1").unwrap();
    let archive = f.work.join("app.tar");
    export(
        &f.store,
        &image,
        Some("registry.local/app:1"),
        ArchiveFormat::Docker,
        &archive,
    )
    .unwrap();
    let source = format!("docker-archive:{}", path_str(&archive));

    let inspect = json("skopeo", &["inspect", &source]);
    assert_eq!(
        inspect["Layers"][0],
        f.layer.diff_id.as_str(),
        "layers are plain tars"
    );
    assert_eq!(inspect["Env"][0], "PATH=/bin");
    let mut entries = tar::Archive::new(File::open(&archive).unwrap());
    let names: Vec<String> = entries
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(
        names.contains(&"manifest.json".to_owned()) && names.contains(&"repositories".to_owned()),
        "{names:?}"
    );

    let raw_config = run("skopeo", &["inspect", "--config", "--raw", &source]);
    assert_eq!(
        Digest::of(raw_config.as_bytes()),
        image.manifest.config.digest,
        "the config blob as is"
    );

    let out = f.work.join("copied");
    run(
        "skopeo",
        &["copy", &source, &format!("oci:{}:x", path_str(&out))],
    );
    // skopeo converts the config to OCI's schema on the way, dropping docker's extensions
    // (Healthcheck, Shell, OnBuild); only the layers are compared.
    let config = json(
        "skopeo",
        &[
            "inspect",
            "--config",
            "--raw",
            &format!("oci:{}:x", path_str(&out)),
        ],
    );
    assert_eq!(config["rootfs"]["diff_ids"][0], f.layer.diff_id.as_str());
}

#[test]
#[ignore = "needs skopeo, busybox-static: make test"]
fn oci_archive_is_read_by_skopeo() {
    let f = fixture("app:1");
    let image = f.store.image("app:1").unwrap();
    let archive = f.work.join("app-oci.tar");
    export(
        &f.store,
        &image,
        Some("app:1"),
        ArchiveFormat::Oci,
        &archive,
    )
    .unwrap();
    let file = path_str(&archive);

    for source in [
        format!("oci-archive:{file}"),
        format!("oci-archive:{file}:1"),
    ] {
        let inspect = json("skopeo", &["inspect", &source]);
        assert_eq!(inspect["Digest"], f.manifest.digest.as_str(), "{source}");
    }
    let out = f.work.join("copied");
    run(
        "skopeo",
        &[
            "copy",
            &format!("oci-archive:{file}"),
            &format!("oci:{}:y", path_str(&out)),
        ],
    );
    let inspect = json("skopeo", &["inspect", &format!("oci:{}:y", path_str(&out))]);
    assert_eq!(
        inspect["Digest"],
        f.manifest.digest.as_str(),
        "copied unchanged"
    );
}

#[test]
#[ignore = "needs skopeo, busybox-static: make test"]
fn concurrent_tagging_keeps_every_tag() {
    let f = fixture("base");
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = Store::open(f.store.root()).unwrap();
            let manifest = f.manifest.clone();
            std::thread::spawn(move || {
                for n in 0..10 {
                    store.tag(&format!("t{t}:v{n}"), &manifest).unwrap();
                    store.tag("shared", &manifest).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let tags = f.store.tags().unwrap();
    assert_eq!(
        tags.len(),
        8 * 10 + 2,
        "every tag once, plus base and shared"
    );
    let root = path_str(f.store.root());
    json("skopeo", &["inspect", &format!("oci:{root}:t7:v9")]);
    json("skopeo", &["inspect", &format!("oci:{root}:shared:latest")]);
}

#[test]
fn blobs_are_written_once_and_checked_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let a = store.put_blob(CONFIG_MEDIA_TYPE, b"{}").unwrap();
    let b = store.put_blob(CONFIG_MEDIA_TYPE, b"{}").unwrap();
    assert_eq!(a, b);
    assert_eq!(store.read_blob(&a.digest).unwrap(), b"{}");

    let tmp = store.temp_path();
    fs::write(&tmp, b"{}").unwrap();
    store.commit_blob(&tmp, &a.digest).unwrap();
    assert!(!tmp.exists(), "a duplicate commit removes its temp file");

    fs::write(store.blob_path(&a.digest), b"{ }").unwrap();
    assert!(matches!(
        store.read_blob(&a.digest),
        Err(StoreError::DigestMismatch { .. })
    ));
    let missing = Digest::of(b"missing");
    assert!(
        store
            .tag(
                "x",
                &Descriptor {
                    digest: missing,
                    ..a
                }
            )
            .is_err(),
        "tag needs the manifest blob"
    );
}

#[test]
#[ignore = "needs busybox-static: make test"]
fn configs_from_elsewhere_keep_their_unknown_fields() {
    let f = fixture("base");
    let foreign = format!(
        r#"{{"architecture":"amd64","config":{{"Hostname":"","Env":["A=1"],"Image":"sha256:00"}},"container":"abc","created":"2020-01-01T00:00:00Z","docker_version":"19.03","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        f.layer.diff_id
    );
    let config = f
        .store
        .put_blob(CONFIG_MEDIA_TYPE, foreign.as_bytes())
        .unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPE, "config": config, "layers": [descriptor(&f.layer)],
    });
    let manifest = f
        .store
        .put_blob(MANIFEST_MEDIA_TYPE, manifest.to_string().as_bytes())
        .unwrap();
    f.store.tag("foreign:1", &manifest).unwrap();

    let image = f.store.image("foreign:1").unwrap();
    assert_eq!(
        image.config.config.env.as_deref(),
        Some(&["A=1".to_owned()][..])
    );
    assert_eq!(image.config.extra["docker_version"], "19.03");
    assert_eq!(image.config.config.extra["Image"], "sha256:00");
    let again = serde_json::to_value(&image.config).unwrap();
    assert_eq!(
        again,
        serde_json::from_str::<serde_json::Value>(&foreign).unwrap()
    );
}

#[test]
#[ignore = "needs busybox-static: make test"]
fn adopted_upper_dirs_become_snapshots_once() {
    let f = fixture("base");
    let upper = f.store.temp_dir().unwrap().keep();
    fs::write(upper.join("file"), b"first").unwrap();
    // A whiteout, as an overlay upper dir holds them.
    nix::sys::stat::mknod(
        &upper.join("gone"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::empty(),
        0,
    )
    .unwrap();
    let snapshot = f.store.adopt_snapshot(&upper, &f.layer).unwrap();
    assert_eq!(
        snapshot,
        f.store.root().join("snapshots").join(f.layer.diff_id.hex())
    );
    assert!(!upper.exists());
    assert_eq!(fs::read(snapshot.join("file")).unwrap(), b"first");

    let again = f.store.temp_dir().unwrap().keep();
    fs::write(again.join("file"), b"second").unwrap();
    assert_eq!(f.store.adopt_snapshot(&again, &f.layer).unwrap(), snapshot);
    assert!(
        !again.exists(),
        "a second upper dir for the same layer is dropped"
    );
    assert_eq!(fs::read(snapshot.join("file")).unwrap(), b"first");
    assert_eq!(
        f.store
            .snapshot(&descriptor(&f.layer), &f.layer.diff_id)
            .unwrap(),
        snapshot
    );
}

#[test]
#[ignore = "needs root: make test"]
fn snapshot_extracts_a_layer_once() {
    let f = fixture("base");
    let layer = descriptor(&f.layer);
    let snapshot = f.store.snapshot(&layer, &f.layer.diff_id).unwrap();
    assert_eq!(
        fs::read(snapshot.join("bin/busybox")).unwrap(),
        fs::read("/bin/busybox").unwrap()
    );
    let mut out = File::create(snapshot.join("marker")).unwrap();
    out.write_all(b"kept").unwrap();
    assert_eq!(
        f.store.snapshot(&layer, &f.layer.diff_id).unwrap(),
        snapshot
    );
    assert!(
        snapshot.join("marker").exists(),
        "the second call reuses the first snapshot"
    );

    let wrong = Digest::of(b"not this layer");
    assert!(matches!(
        f.store.snapshot(&layer, &wrong),
        Err(StoreError::DigestMismatch { .. })
    ));
    assert!(!f.store.root().join("snapshots").join(wrong.hex()).exists());
}
