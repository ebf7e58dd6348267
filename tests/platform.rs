//! Multi-platform builds through the CLI: an image index with one image per platform,
//! RUN for a foreign platform under QEMU user emulation (Debian's qemu-user-static,
//! registered by strata through binfmt_misc), checked with skopeo, umoci, a real
//! docker-registry on 127.0.0.1, and strata's own run/export/load/fsck.
//!
//! The arm64 base is Debian's busybox-static for arm64, which `make test` fetches to
//! [`FOREIGN_BUSYBOX`] (`apt-get download busybox-static:arm64`, `dpkg-deb -x`).

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::registry::{Registry, RegistrySpec};
use common::{
    assert_same_fingerprint, describe, fingerprint, output, require_environment, run_ok, temp_dir,
    umoci_unpack, Store, BUSYBOX,
};
use serde_json::Value;

/// Debian's static busybox for arm64, fetched by `make test` (deps-test).
const FOREIGN_BUSYBOX: &str = "/var/cache/strata-tests/busybox-arm64";

const TWO: &str = "linux/amd64,linux/arm64";

/// A context holding `busybox-amd64` and `busybox-arm64` and `dockerfile`.
fn two_arch_context(dockerfile: &str) -> tempfile::TempDir {
    let dir = temp_dir("strata-platform-");
    fs::copy(BUSYBOX, dir.path().join("busybox-amd64")).unwrap();
    fs::copy(FOREIGN_BUSYBOX, dir.path().join("busybox-arm64")).unwrap_or_else(|e| {
        panic!("{FOREIGN_BUSYBOX}: {e}: run `make test`, which fetches busybox-static:arm64")
    });
    fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    dir
}

/// A busybox root for the target platform, with a RUN in it.
const HERMETIC: &str = "FROM scratch
ARG TARGETARCH
ARG TARGETPLATFORM
COPY busybox-${TARGETARCH} /bin/busybox
RUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox --install -s /bin && uname -m > /arch && echo $TARGETPLATFORM > /target\"]
CMD [\"cat\", \"/arch\"]
";

/// `strata build --platform PLATFORMS -t TAG CONTEXT` in `store`, which must succeed.
fn build_for(store: &Store, platforms: &str, tag: &str, ctx: &Path) {
    run_ok(
        store
            .strata()
            .args(["build", "--platform", platforms, "-t", tag])
            .arg(ctx),
    );
}

/// `strata run --platform PLATFORM IMAGE` in `store`, which must succeed: its stdout.
fn run_on(store: &Store, platform: &str, image: &str) -> String {
    stdout(store.strata().args(["run", "--platform", platform, image]))
}

fn skopeo(args: &[&str]) -> Value {
    let out = run_ok(Command::new("skopeo").args(args));
    serde_json::from_slice(&out.stdout).expect("skopeo prints JSON")
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&run_ok(cmd).stdout)
        .trim()
        .to_owned()
}

/// The platforms of an index, as `os/arch[/variant]`.
fn platforms(index: &Value) -> Vec<String> {
    index["manifests"]
        .as_array()
        .expect("an index")
        .iter()
        .map(|m| {
            let p = &m["platform"];
            let mut text = format!(
                "{}/{}",
                p["os"].as_str().unwrap(),
                p["architecture"].as_str().unwrap()
            );
            if let Some(v) = p["variant"].as_str() {
                text = format!("{text}/{v}");
            }
            text
        })
        .collect()
}

/// The digest of `index`'s manifest for `arch`.
fn child(index: &Value, arch: &str) -> String {
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == arch)
        .and_then(|m| m["digest"].as_str())
        .unwrap_or_else(|| panic!("no {arch} manifest in {index}"))
        .to_owned()
}

/// Copies the `arch` image of `oci:LAYOUT:REF` into a layout of its own and unpacks it
/// with umoci (which reads single manifests only); returns the unpacked root.
fn unpack_arch(layout: &Path, reference: &str, arch: &str, scratch: &Path) -> std::path::PathBuf {
    let single = scratch.join(format!("layout-{arch}"));
    run_ok(Command::new("skopeo").args([
        "copy",
        "--override-arch",
        arch,
        &format!("oci:{}:{reference}", layout.display()),
        &format!("oci:{}:{arch}", single.display()),
    ]));
    let bundle = scratch.join(format!("bundle-{arch}"));
    umoci_unpack(&format!("{}:{arch}", single.display()), &bundle);
    bundle.join("rootfs")
}

#[test]
#[ignore = "needs root: make test"]
fn two_platform_image_is_an_index_each_platform_runs() {
    require_environment();
    let ctx = two_arch_context(HERMETIC);
    let store = Store::new();
    build_for(&store, TWO, "mp:1", ctx.path());
    let image = format!("oci:{}:mp:1", store.path().display());
    let index = skopeo(&["inspect", "--raw", &image]);
    assert_eq!(
        index["mediaType"], "application/vnd.oci.image.index.v1+json",
        "{index}"
    );
    assert_eq!(platforms(&index), ["linux/amd64", "linux/arm64"]);
    let arm = skopeo(&["inspect", "--override-arch", "arm64", &image]);
    assert_eq!(arm["Architecture"], "arm64");
    let amd = skopeo(&["inspect", "--override-arch", "amd64", &image]);
    assert_eq!(amd["Architecture"], "amd64");

    // Each image unpacks with umoci and holds what its RUN printed: the RUN ran as the
    // platform's CPU, natively or under QEMU.
    let scratch = temp_dir("strata-platform-unpack-");
    for (arch, machine) in [("amd64", "x86_64"), ("arm64", "aarch64")] {
        let root = unpack_arch(store.path(), "mp:1", arch, scratch.path());
        assert_eq!(
            fs::read_to_string(root.join("arch")).unwrap(),
            format!("{machine}\n")
        );
        assert_eq!(
            fs::read_to_string(root.join("target")).unwrap(),
            format!("linux/{arch}\n")
        );
    }
    assert_eq!(stdout(store.strata().args(["run", "mp:1"])), "x86_64");
    assert_eq!(run_on(&store, "linux/arm64", "mp:1"), "aarch64");
    let refused = output(
        store
            .strata()
            .args(["run", "--platform", "linux/arm/v7", "mp:1"]),
    );
    assert_eq!(refused.status.code(), Some(2), "{}", describe(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("has no image for linux/arm/v7 (it has: linux/amd64, linux/arm64)"),
        "{}",
        describe(&refused)
    );
    let images = stdout(store.strata().arg("images"));
    assert!(images.contains("linux/amd64,linux/arm64"), "{images}");
    let inspected: Value = serde_json::from_str(&stdout(store.strata().args([
        "inspect",
        "--platform",
        "linux/arm64",
        "mp:1",
    ])))
    .unwrap();
    assert_eq!(inspected["architecture"], "arm64");

    // The store stays sound and prune keeps every platform's blobs.
    run_ok(store.strata().arg("fsck"));
    run_ok(store.strata().args(["prune", "--all"]));
    run_ok(store.strata().arg("fsck"));
    assert_eq!(run_on(&store, "linux/arm64", "mp:1"), "aarch64");

    // Reproducible: a fresh store builds the same index.
    let fresh = Store::new();
    build_for(&fresh, TWO, "mp:1", ctx.path());
    assert_eq!(fresh.tagged("mp:1"), store.tagged("mp:1"));

    // An oci-archive keeps the index; a docker-archive holds the platform asked for.
    let oci = scratch.path().join("mp.oci.tar");
    run_ok(
        store
            .strata()
            .args(["export", "--format", "oci-archive", "-o"])
            .arg(&oci)
            .arg("mp:1"),
    );
    let archived = skopeo(&[
        "inspect",
        "--raw",
        &format!("oci-archive:{}", oci.display()),
    ]);
    assert_eq!(archived, index);
    let docker = scratch.path().join("mp.docker.tar");
    run_ok(
        store
            .strata()
            .args(["export", "--platform", "linux/arm64", "-o"])
            .arg(&docker)
            .arg("mp:1"),
    );
    let loaded = Store::new();
    run_ok(loaded.strata().args(["load", "-i"]).arg(&docker));
    let config: Value =
        serde_json::from_str(&stdout(loaded.strata().args(["inspect", "mp:1"]))).unwrap();
    assert_eq!(config["architecture"], "arm64");

    // Build outputs: an oci tar keeps the index, a local dir splits by platform as
    // BuildKit does, and outputs that hold one image refuse several.
    let oci_out = scratch.path().join("out.oci.tar");
    let local_out = scratch.path().join("out-local");
    run_ok(
        store
            .strata()
            .args(["build", "--platform", TWO, "-t", "mp:1"])
            .arg("-o")
            .arg(format!("type=oci,dest={}", oci_out.display()))
            .arg("-o")
            .arg(format!("type=local,dest={}", local_out.display()))
            .arg("--metadata-file")
            .arg(scratch.path().join("metadata.json"))
            .arg(ctx.path()),
    );
    // buildx's metadata of a multi-platform image: the index, and no one config.
    let metadata: Value =
        serde_json::from_slice(&fs::read(scratch.path().join("metadata.json")).unwrap()).unwrap();
    assert_eq!(metadata["containerimage.digest"], store.tagged("mp:1"));
    assert_eq!(
        metadata["containerimage.descriptor"]["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert!(
        metadata.get("containerimage.config.digest").is_none(),
        "{metadata}"
    );
    let out_index = skopeo(&[
        "inspect",
        "--raw",
        &format!("oci-archive:{}", oci_out.display()),
    ]);
    assert_eq!(out_index, index);
    for (dir, machine) in [("linux_amd64", "x86_64"), ("linux_arm64", "aarch64")] {
        assert_eq!(
            fs::read_to_string(local_out.join(dir).join("arch")).unwrap(),
            format!("{machine}\n")
        );
    }
    for refused in ["type=docker,dest=x.tar", "type=tar,dest=x.tar"] {
        let out = output(
            store
                .strata()
                .args(["build", "--platform", TWO, "-o", refused])
                .arg(ctx.path()),
        );
        assert_eq!(out.status.code(), Some(2), "{refused}: {}", describe(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains("one per platform (linux/amd64, linux/arm64)"),
            "{refused}: {}",
            describe(&out)
        );
    }
}

#[test]
#[ignore = "needs root: make test"]
fn index_survives_push_and_pull_and_families_build_every_platform() {
    require_environment();
    let registry = Registry::start(&RegistrySpec {
        tls: false,
        user: None,
    });
    let host = registry.host();
    let ctx = two_arch_context(HERMETIC);
    let store = Store::new();
    let dest = format!("{host}/strata/mp:1");
    build_for(&store, TWO, "mp:1", ctx.path());
    run_ok(store.strata().args(["push", "mp:1", &dest]));
    let remote = format!("docker://{dest}");
    let index = skopeo(&["inspect", "--tls-verify=false", "--raw", &remote]);
    let local = skopeo(&[
        "inspect",
        "--raw",
        &format!("oci:{}:mp:1", store.path().display()),
    ]);
    assert_eq!(
        index, local,
        "the registry holds the store's index byte for byte"
    );
    let arm = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--override-arch",
        "arm64",
        &remote,
    ]);
    assert_eq!(arm["Architecture"], "arm64");
    // skopeo names the image by the digest of what the tag points to: the index.
    assert_eq!(arm["Digest"], store.tagged("mp:1"));

    // A pull into an empty store takes this host's image of the index.
    let empty = Store::new();
    run_ok(empty.strata().args(["pull", &dest]));
    assert_eq!(empty.tagged(&dest), child(&local, "amd64"));
    // Every platform: the registry's index, byte for byte, in the store.
    let all = Store::new();
    run_ok(all.strata().args(["pull", "--all-platforms", &dest]));
    assert_eq!(all.tagged(&dest), store.tagged("mp:1"));
    let pulled = skopeo(&[
        "inspect",
        "--override-arch",
        "arm64",
        &format!("oci:{}:{dest}", all.path().display()),
    ]);
    assert_eq!(pulled["Architecture"], "arm64");
    assert_eq!(run_on(&all, "linux/arm64", &dest), "aarch64");
    run_ok(all.strata().arg("fsck"));
    // Naming every platform, in any order, is the registry's index too.
    let some = Store::new();
    run_ok(
        some.strata()
            .args(["pull", "--platform", "linux/arm64,linux/amd64", &dest]),
    );
    assert_eq!(some.tagged(&dest), store.tagged("mp:1"));

    // A family built on that multi-platform base: every image for both platforms, the
    // base pinned once per platform in strata.lock.
    let family = temp_dir("strata-platform-family-");
    fs::write(
        family.path().join("strata.toml"),
        "[family]\nname = \"mpf\"\nplatforms = [\"linux/amd64\", \"linux/arm64\"]\n\n[images.rt]\ntier = \"runtime\"\n\n[images.app]\ntier = \"app\"\n",
    )
    .unwrap();
    for (name, body) in [
        ("rt", format!("FROM {dest}\nRUN uname -m > /rt-arch\n")),
        (
            "app",
            "FROM rt\nRUN cat /rt-arch /arch > /both\nCMD [\"cat\", \"/both\"]\n".to_owned(),
        ),
    ] {
        fs::create_dir(family.path().join(name)).unwrap();
        fs::write(family.path().join(name).join("Dockerfile"), body).unwrap();
    }
    let builder = Store::new();
    run_ok(builder.strata().arg("build").arg(family.path()));
    assert_eq!(run_on(&builder, "linux/arm64", "app"), "aarch64\naarch64");
    assert_eq!(
        stdout(builder.strata().args(["run", "app"])),
        "x86_64\nx86_64"
    );
    let app = skopeo(&[
        "inspect",
        "--raw",
        &format!("oci:{}:app:latest", builder.path().display()),
    ]);
    assert_eq!(platforms(&app), ["linux/amd64", "linux/arm64"]);
    let lock = fs::read_to_string(family.path().join("strata.lock")).unwrap();
    for (platform, arch) in [("linux/amd64", "amd64"), ("linux/arm64", "arm64")] {
        assert!(
            lock.contains(platform) && lock.contains(&child(&local, arch)),
            "strata.lock pins {dest} for {platform}: {lock}"
        );
    }
}

#[test]
#[ignore = "needs root: make test"]
fn buildplatform_stage_runs_once_natively() {
    require_environment();
    // The compile stage runs on the build platform for every target; its output holds
    // the time it ran, so equal files in both images prove it ran once.
    let ctx = two_arch_context(
        "FROM --platform=$BUILDPLATFORM scratch AS compile
ARG BUILDARCH
COPY busybox-${BUILDARCH} /bin/busybox
RUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo compiled on $(/bin/busybox uname -m) at $(/bin/busybox date +%s%N) > /artifact\"]

FROM scratch
ARG TARGETARCH
COPY busybox-${TARGETARCH} /bin/busybox
COPY --from=compile /artifact /artifact
RUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox uname -m > /arch\"]
",
    );
    let store = Store::new();
    let out = run_ok(
        store
            .strata()
            .args([
                "build",
                "--progress",
                "plain",
                "--platform",
                TWO,
                "-t",
                "cross:1",
            ])
            .arg(ctx.path()),
    );
    let log = String::from_utf8_lossy(&out.stderr);
    let scratch = temp_dir("strata-platform-cross-");
    let amd = unpack_arch(store.path(), "cross:1", "amd64", scratch.path());
    let arm = unpack_arch(store.path(), "cross:1", "arm64", scratch.path());
    let artifact = fs::read_to_string(amd.join("artifact")).unwrap();
    assert!(artifact.starts_with("compiled on x86_64 at "), "{artifact}");
    assert_eq!(
        fs::read_to_string(arm.join("artifact")).unwrap(),
        artifact,
        "{log}"
    );
    assert_eq!(fs::read_to_string(arm.join("arch")).unwrap(), "aarch64\n");
    assert_eq!(fs::read_to_string(amd.join("arch")).unwrap(), "x86_64\n");
    // The live view names each line's platform.
    assert!(log.contains("[linux/arm64 stage-1"), "{log}");
    assert!(log.contains("[linux/amd64 compile"), "{log}");
}

#[test]
#[ignore = "needs root: make test"]
fn platforms_that_cannot_be_built_are_refused() {
    require_environment();
    let ctx = two_arch_context(HERMETIC);
    let store = Store::seeded();
    for (value, says) in [
        ("windows/amd64", "strata builds Linux images only"),
        ("linux/sparc", "unknown architecture \"sparc\""),
        ("linux/arm64/v9", "arm64 has no variant \"v9\""),
        ("linux", "expected os/arch[/variant]"),
        ("linux/amd64,", "expected os/arch[/variant]"),
    ] {
        let stderr = store.build_fails(ctx.path(), &["--platform", value]);
        assert!(stderr.contains(says), "--platform {value}: {stderr}");
    }
    // A local image exists for one platform only: building FROM it for another is a
    // located error, never that image.
    let base = two_arch_context("FROM scratch\nCOPY busybox-amd64 /bin/busybox\n");
    store.build(base.path(), "localbase:1", &[]);
    let child = two_arch_context("FROM localbase:1\nRUN [\"/bin/busybox\", \"true\"]\n");
    let stderr = store.build_fails(child.path(), &["--platform", "linux/arm64"]);
    assert!(
        stderr.contains("Dockerfile:1")
            && stderr.contains("has no image for linux/arm64 (it has: linux/amd64)"),
        "{stderr}"
    );
    // A FROM --platform that is no platform is located too.
    let bad = two_arch_context("FROM --platform=linux/nope scratch\nCOPY busybox-amd64 /x\n");
    let stderr = store.build_fails(bad.path(), &[]);
    assert!(
        stderr.contains("Dockerfile:1") && stderr.contains("unknown architecture \"nope\""),
        "{stderr}"
    );
    // strata.toml's platforms are checked where they are written.
    let family = temp_dir("strata-platform-family-");
    fs::write(
        family.path().join("strata.toml"),
        "[family]\nname = \"f\"\n\n[images.base]\ntier = \"base\"\nplatforms = [\"linux/amd64\", \"linux/sparc\"]\n",
    )
    .unwrap();
    fs::create_dir(family.path().join("base")).unwrap();
    fs::write(family.path().join("base/Dockerfile"), "FROM scratch\n").unwrap();
    let before = fingerprint(store.path());
    let out = output(store.strata().arg("build").arg(family.path()));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("strata.toml:6") && stderr.contains("linux/sparc"),
        "{stderr}"
    );
    assert_same_fingerprint(&before, &fingerprint(store.path()), "bad strata.toml");
}

#[test]
#[ignore = "needs root: make test"]
fn a_single_foreign_platform_gives_a_foreign_image() {
    require_environment();
    // `FROM scratch` for linux/arm64 is an arm64 image, config and all (it used to be
    // the host's).
    let ctx = two_arch_context(HERMETIC);
    let store = Store::new();
    build_for(&store, "linux/arm64", "arm:1", ctx.path());
    let image = format!("oci:{}:arm:1", store.path().display());
    let manifest = skopeo(&["inspect", "--raw", &image]);
    assert_eq!(
        manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json",
        "one platform gives one image, as buildx does"
    );
    let config = skopeo(&["inspect", "--config", "--raw", &image]);
    assert_eq!(config["architecture"], "arm64");
    assert_eq!(config["os"], "linux");
    assert_eq!(stdout(store.strata().args(["run", "arm:1"])), "aarch64");
}

#[test]
#[ignore = "needs root: make test"]
fn a_platform_no_emulator_can_run_is_refused_before_anything_runs() {
    require_environment();
    // binfmt_misc registrations are the host's: this test takes mips64el, which no other
    // test builds for, registers its QEMU handler without the fix-binary flag (so the
    // kernel would look for the emulator inside the build's root, where it is not), and
    // removes it again at the end; strata registers it properly when it next needs it.
    let binfmt = Path::new("/proc/sys/fs/binfmt_misc");
    if !binfmt.join("register").exists() {
        run_ok(
            Command::new("mount")
                .args(["-t", "binfmt_misc", "binfmt_misc"])
                .arg(binfmt),
        );
    }
    let handler = binfmt.join("qemu-mips64el");
    if handler.exists() {
        fs::write(&handler, "-1").unwrap();
    }
    let conf = fs::read_to_string("/usr/lib/binfmt.d/qemu-mips64el.conf")
        .expect("qemu-user-static's registration of mips64el (make test installs it)");
    let line = conf.lines().find(|l| l.starts_with(':')).unwrap();
    let without_f = format!("{}:OP", &line[..line.rfind(':').unwrap()]);
    fs::write(binfmt.join("register"), without_f).unwrap();

    let ctx = two_arch_context(
        "FROM scratch\nCOPY busybox-amd64 /bin/busybox\nRUN [\"/bin/busybox\", \"true\"]\n",
    );
    let store = Store::seeded();
    let stderr = store.build_fails(ctx.path(), &["--platform", "linux/amd64,linux/mips64le"]);
    fs::write(&handler, "-1").unwrap();
    assert!(
        stderr.contains("Dockerfile:1")
            && stderr.contains("cannot run programs for linux/mips64le")
            && stderr.contains("without the fix-binary flag F"),
        "{stderr}"
    );
    // Nothing ran: not even the amd64 image's RUN.
    assert!(!stderr.contains("[linux/amd64"), "{stderr}");
}
