//! The distribution client against the real `docker-registry` on 127.0.0.1: pushes
//! checked with skopeo, pulls of what skopeo pushed, multi-platform indexes, a
//! fault-injecting proxy, and a registry that is down.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::registry::{free_port, skopeo_push, FaultProxy, Registry, RegistrySpec};
use common::run;
use strata::digest::Digest;
use strata::image::{Store, INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE};
use strata::platform::Platform;
use strata::registry::{Client, PushOptions, Reference, RegistryError, RegistryOptions};

const USER: &str = "strata";
const PASSWORD: &str = "s3cret-pass";

/// Builds `tag` with the strata CLI from a Dockerfile and context files.
fn build(store: &Path, tag: &str, dockerfile: &str, files: &[(&str, &[u8])]) {
    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("Dockerfile"), dockerfile).unwrap();
    for (name, content) in files {
        std::fs::write(context.path().join(name), content).unwrap();
    }
    let output = Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg("--store")
        .arg(store)
        .args(["build", "-q", "-t", tag])
        .arg(context.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "strata build {tag}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A store with `base:1` (busybox, from scratch) and `app-a:1`, `app-b:1` on top of it.
fn family_store(dir: &Path) -> Store {
    let busybox = std::fs::read("/bin/busybox").unwrap();
    build(
        dir,
        "base:1",
        "FROM scratch\nCOPY busybox /bin/busybox\n",
        &[("busybox", &busybox)],
    );
    for app in ["app-a", "app-b"] {
        build(
            dir,
            &format!("{app}:1"),
            &format!("FROM base:1\nCOPY {app}.txt /{app}.txt\n"),
            &[(&format!("{app}.txt"), app.as_bytes())],
        );
    }
    Store::open(dir).unwrap()
}

fn reference(registry: &Registry, path: &str) -> Reference {
    Reference::parse(&format!("{}/{path}", registry.host())).unwrap()
}

fn fast_options() -> RegistryOptions {
    RegistryOptions {
        backoff: Duration::from_millis(10),
        ..RegistryOptions::default()
    }
}

#[test]
#[ignore = "needs root: make test"]
fn family_push_over_tls_with_basic_auth_uploads_shared_layers_once() {
    let registry = Registry::start(&RegistrySpec {
        tls: true,
        user: Some((USER.into(), PASSWORD.into())),
    });
    let dir = tempfile::tempdir().unwrap();
    let store = family_store(&dir.path().join("store"));
    let auth_file = dir.path().join("auth.json");
    let options = RegistryOptions {
        ca_file: registry.ca_file.clone(),
        auth_file: Some(auth_file.clone()),
        ..fast_options()
    };

    // Without the CA, the certificate is refused with a hint.
    let err = Client::new(fast_options())
        .unwrap()
        .push(
            &store,
            "base:1",
            &reference(&registry, "fam/base:1"),
            &PushOptions::default(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("CA file"), "{err}");

    let client = Client::new(options.clone()).unwrap();
    // Anonymous: refused, with a login hint.
    let err = client
        .push(
            &store,
            "base:1",
            &reference(&registry, "fam/base:1"),
            &PushOptions::default(),
        )
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err}");
    assert!(err.to_string().contains("strata login"), "{err}");
    // A wrong password is not written.
    let err = client
        .login(&registry.host(), USER, "wrong", None)
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err}");
    assert!(!auth_file.exists());
    assert_eq!(
        client
            .login(&registry.host(), USER, PASSWORD, None)
            .unwrap(),
        auth_file
    );

    let client = Client::new(options.clone()).unwrap();
    let jobs: Vec<(String, Reference)> = ["base", "app-a", "app-b"]
        .iter()
        .map(|name| {
            (
                format!("{name}:1"),
                reference(&registry, &format!("fam/{name}:1")),
            )
        })
        .collect();
    let results = client.push_many(&store, &jobs, &PushOptions::default(), 3);
    let pushed: Vec<_> = results.into_iter().map(Result::unwrap).collect();

    // Distinct blobs: the busybox layer, two app layers, three configs.
    let busybox_layer = store.image("base:1").unwrap().manifest.layers[0]
        .digest
        .clone();
    assert_eq!(
        pushed.iter().map(|p| p.uploaded).sum::<usize>(),
        6,
        "{pushed:?}"
    );
    assert_eq!(
        pushed.iter().map(|p| p.mounted).sum::<usize>(),
        2,
        "{pushed:?}"
    );
    let finishing_puts = |digest: &Digest| {
        registry
            .requests()
            .iter()
            .filter(|(m, p, s)| {
                m == "PUT" && *s == 201 && p.contains("/blobs/uploads/") && p.contains(digest.hex())
            })
            .count()
    };
    assert_eq!(finishing_puts(&busybox_layer), 1, "{}", registry.log());

    let cert_dir = registry.cert_dir.as_ref().unwrap().display().to_string();
    let creds = format!("{USER}:{PASSWORD}");
    for (name, dest) in &jobs {
        let url = format!("docker://{dest}");
        let inspect: serde_json::Value = serde_json::from_str(&run(
            "skopeo",
            &["inspect", "--cert-dir", &cert_dir, "--creds", &creds, &url],
        ))
        .unwrap();
        assert_eq!(
            inspect["Digest"].as_str(),
            Some(store.image(name).unwrap().digest.as_str())
        );
        let layout = dir.path().join(format!("copy-{}", name.replace(':', "-")));
        run(
            "skopeo",
            &[
                "copy",
                "--src-cert-dir",
                &cert_dir,
                "--src-creds",
                &creds,
                &url,
                &format!("oci:{}:x", layout.display()),
            ],
        );
    }

    // A second push of the unchanged family, by a fresh client, uploads nothing.
    let before = registry.requests().len();
    let client = Client::new(options).unwrap();
    for result in client.push_many(&store, &jobs, &PushOptions::default(), 2) {
        let pushed = result.unwrap();
        assert_eq!(
            (pushed.uploaded, pushed.mounted, pushed.bytes_uploaded),
            (0, 0, 0)
        );
    }
    let writes = registry.requests()[before..]
        .iter()
        .filter(|(m, p, _)| (m == "PATCH" || m == "POST") && p.contains("/blobs/"))
        .count();
    assert_eq!(writes, 0, "{}", registry.log());

    assert!(Client::new(fast_options())
        .unwrap()
        .logout(&registry.host(), Some(&auth_file))
        .unwrap());
}

#[test]
#[ignore = "needs root: make test"]
fn pull_of_a_docker_schema2_image_pushed_by_skopeo() {
    let registry = Registry::start(&RegistrySpec::default());
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let busybox = std::fs::read("/bin/busybox").unwrap();
    build(
        &source,
        "base:1",
        "FROM scratch\nCOPY busybox /bin/busybox\nCMD [\"/bin/busybox\", \"true\"]\n",
        &[("busybox", &busybox)],
    );
    let dest = reference(&registry, "pulled/base:1");
    skopeo_push(&source, "base:1", &dest.to_string(), "v2s2");
    let raw = run(
        "skopeo",
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{dest}"),
        ],
    );
    let expected = Digest::of(raw.as_bytes());

    let store = Store::open(&dir.path().join("store")).unwrap();
    let client = Client::new(fast_options()).unwrap();
    let pulled = client.pull(&store, &dest, None).unwrap();
    assert_eq!(pulled.registry_digest, expected);
    assert_eq!(pulled.downloaded, 2);
    // Stored as an OCI manifest of the same blobs, which skopeo and umoci read.
    assert_eq!(
        pulled.descriptor.media_type,
        "application/vnd.oci.image.manifest.v1+json"
    );
    let name = pulled.name;
    let image = store.image(&name).unwrap();
    assert_eq!(image.digest, pulled.digest);
    assert_ne!(image.digest, expected);
    assert_eq!(
        image.manifest.config.media_type,
        "application/vnd.oci.image.config.v1+json"
    );
    assert_eq!(
        image.manifest.layers[0].media_type,
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let layout = format!("{}:{name}", dir.path().join("store").display());
    let inspected = run("skopeo", &["inspect", &format!("oci:{layout}")]);
    assert!(
        inspected.contains(&pulled.digest.to_string()),
        "{inspected}"
    );
    run(
        "umoci",
        &[
            "unpack",
            "--image",
            &layout,
            dir.path().join("bundle").to_str().unwrap(),
        ],
    );
    assert!(dir.path().join("bundle/rootfs/bin/busybox").is_file());
    assert_eq!(
        image.config.config.cmd,
        Some(vec!["/bin/busybox".to_owned(), "true".to_owned()])
    );
    // The layer is usable: it extracts into a snapshot with busybox in it.
    let snapshot = store
        .snapshot(&image.manifest.layers[0], &image.config.rootfs.diff_ids[0])
        .unwrap();
    assert!(snapshot.join("bin/busybox").is_file());

    // Again: nothing to download. By digest: nothing tagged.
    let again = client.pull(&store, &dest, None).unwrap();
    assert_eq!((again.downloaded, again.skipped), (0, 2));
    // By the registry's digest: filed under that digest, pointing at the same OCI manifest.
    let by_digest =
        Reference::parse(&format!("{}/pulled/base@{expected}", registry.host())).unwrap();
    let pinned = client.pull(&store, &by_digest, None).unwrap();
    assert_eq!(pinned.name, by_digest.to_string());
    assert_eq!(store.image(&pinned.name).unwrap().digest, pulled.digest);
    let tampered = Reference::parse(&format!(
        "{}/pulled/base@{}",
        registry.host(),
        Digest::of(b"not the manifest")
    ))
    .unwrap();
    assert!(client.pull(&store, &tampered, None).is_err());
}

#[test]
#[ignore = "needs root: make test"]
fn pull_from_a_multi_platform_index_takes_the_requested_platform() {
    let registry = Registry::start(&RegistrySpec::default());
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let busybox = std::fs::read("/bin/busybox").unwrap();
    build(
        &source,
        "native:1",
        "FROM scratch\nCOPY busybox /bin/busybox\n",
        &[("busybox", &busybox)],
    );
    let layout = Store::open(&source).unwrap();
    let native = layout.image("native:1").unwrap();
    let host = Platform::host();
    let other_arch = if host.architecture == "arm64" {
        "amd64"
    } else {
        "arm64"
    };

    // A fake image for the other architecture: the same layer, its own config.
    let mut config = native.config.clone();
    config.architecture = other_arch.into();
    let foreign = layout
        .put_image(&config, &native.manifest.layers, BTreeMap::new())
        .unwrap();
    let native_descriptor = layout
        .tags()
        .unwrap()
        .into_iter()
        .find(|t| t.name == "native:1")
        .unwrap()
        .descriptor;
    let entry = |digest: &Digest, size: u64, arch: &str| {
        serde_json::json!({
            "mediaType": MANIFEST_MEDIA_TYPE, "digest": digest, "size": size,
            "platform": {"os": "linux", "architecture": arch}
        })
    };
    let index = serde_json::json!({
        "schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE,
        "manifests": [
            entry(&foreign.digest, foreign.size, other_arch),
            entry(&native.digest, native_descriptor.size, &host.architecture),
        ]
    });
    let index = layout
        .put_blob(INDEX_MEDIA_TYPE, &serde_json::to_vec(&index).unwrap())
        .unwrap();
    layout.tag("multi:1", &index).unwrap();
    let dest = reference(&registry, "multi/app:1");
    run(
        "skopeo",
        &[
            "copy",
            "--multi-arch",
            "all",
            "--dest-tls-verify=false",
            &format!("oci:{}:multi:1", source.display()),
            &format!("docker://{dest}"),
        ],
    );

    let client = Client::new(fast_options()).unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let pulled = client.pull(&store, &dest, None).unwrap();
    assert_eq!(pulled.digest, native.digest);
    assert_eq!(
        store.image(&dest.store_name()).unwrap().digest,
        native.digest
    );

    let other = Platform::parse(&format!("linux/{other_arch}")).unwrap();
    let pulled = client.pull(&store, &dest, Some(&other)).unwrap();
    assert_eq!(pulled.digest, foreign.digest);
    assert_eq!((pulled.downloaded, pulled.skipped), (1, 1));

    let err = client
        .pull(
            &store,
            &dest,
            Some(&Platform::parse("linux/s390x").unwrap()),
        )
        .unwrap_err();
    assert!(matches!(err, RegistryError::NoPlatform { .. }), "{err}");
    assert!(err.to_string().contains(other_arch), "{err}");
}

#[test]
#[ignore = "needs root: make test"]
fn push_and_pull_survive_dropped_connections_and_503s() {
    let registry = Registry::start(&RegistrySpec::default());
    let proxy = FaultProxy::start(registry.port, 7, 0.3, 12);
    let dir = tempfile::tempdir().unwrap();
    let store = family_store(&dir.path().join("store"));
    let options = RegistryOptions {
        chunk_size: 256 << 10,
        retries: 8,
        ..fast_options()
    };
    let client = Client::new(options.clone()).unwrap();
    let via_proxy = Reference::parse(&format!("127.0.0.1:{}/faulty/app-a:1", proxy.port)).unwrap();
    let pushed = client
        .push(&store, "app-a:1", &via_proxy, &PushOptions::default())
        .unwrap();
    assert_eq!(pushed.uploaded, 3);
    assert!(
        proxy.faults() > 0 && proxy.cut_uploads() > 0,
        "{} faults",
        proxy.faults()
    );

    let direct = format!("docker://{}", reference(&registry, "faulty/app-a:1"));
    let inspect: serde_json::Value =
        serde_json::from_str(&run("skopeo", &["inspect", "--tls-verify=false", &direct])).unwrap();
    assert_eq!(inspect["Digest"].as_str(), Some(pushed.digest.as_str()));
    run(
        "skopeo",
        &[
            "copy",
            "--src-tls-verify=false",
            &direct,
            &format!("oci:{}:x", dir.path().join("copy").display()),
        ],
    );

    let fresh = Store::open(&dir.path().join("fresh")).unwrap();
    let pulled = Client::new(options)
        .unwrap()
        .pull(&fresh, &via_proxy, None)
        .unwrap();
    assert_eq!(pulled.digest, pushed.digest);
}

#[test]
fn a_registry_that_is_down_is_a_clear_error_and_the_store_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let index = std::fs::read(dir.path().join("index.json")).unwrap();
    let down = Reference::parse(&format!("127.0.0.1:{}/gone/app:1", free_port())).unwrap();
    let client = Client::new(RegistryOptions {
        retries: 2,
        ..fast_options()
    })
    .unwrap();
    let err = client.pull(&store, &down, None).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(&down.registry) && message.contains("refused"),
        "{message}"
    );
    assert_eq!(std::fs::read(dir.path().join("index.json")).unwrap(), index);
    // Nothing is left in tmp/ once the store's own area goes with it.
    drop(store);
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
}
