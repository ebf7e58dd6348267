//! Conformance: every case in `tests/corpus/` is built by strata and by buildah (the
//! reference), both images are unpacked with umoci, and the root filesystems (type, mode
//! with setuid/setgid/sticky bits, owner, content hash, link target, hard-link grouping;
//! not timestamps) and the config fields that carry Dockerfile meaning must agree.
//!
//! Where buildah 1.28 and BuildKit disagree, strata follows BuildKit and the harness
//! forgives exactly that difference:
//! - buildah's chroot isolation leaves empty mount stubs (`/dev`, `/proc`, `/sys`, `/run`,
//!   `/etc/hosts`, ...) in RUN layers; BuildKit removes them (see `BUILDAH_MOUNT_STUBS`);
//! - buildah creates VOLUME directories in the image; BuildKit only records them;
//! - buildah skips WORKDIR directories no later step uses; BuildKit creates every one
//!   (declared per case as `buildkit_only` in `case.json`);
//! - buildah removes a `RUN --mount` target it created but leaves the parent directories
//!   it made for it (`/run/secrets` for secrets, `/a/b` for a target `/a/b/c`); BuildKit
//!   removes those too (`MountStubsCleaner` walks up the created parents), so strata must
//!   not have them (declared per case as `mount_stubs` in `case.json`, forgiven only when
//!   empty);
//! - buildah writes `WorkingDir: ""` where BuildKit writes `/`;
//! - buildah ignores SHELL for shell-form CMD and ENTRYPOINT; BuildKit (and the Dockerfile
//!   reference) run them through it (`buildkit_config` in `case.json`);
//! - buildah adds the user's supplementary groups for `USER u:g` at run time; the corpus
//!   only records `id -u`/`id -g`, on which both agree.
//!
//! Both add `PATH=/usr/local/sbin:...` to the Env of a scratch-based image (BuildKit's
//! dockerfile2llb "make sure that PATH is always set"), so Env is compared as is.
//! Layer counts are not compared across builders (they split metadata-only steps
//! differently); strata's own history must have one non-empty entry per layer.
//! Heredoc cases (`"buildah": false`) are checked against expected contents only.
//!
//! Mount cases (`mount-*`) run the same Dockerfile through both builders. buildah 1.28
//! has no `RUN --network`, no `env=` for secrets, spells the tmpfs size `tmpfs-size`, and
//! writes a `rw` context bind mount through to the context directory (BuildKit discards
//! such writes): those features are covered by `tests/mounts.rs` against the documented
//! behaviour instead.

mod common;

use std::path::Path;
use std::process::Command;

use common::{
    case_spec, check_expectations, check_history, corpus_dir, diff_configs, diff_trees,
    image_config, normalise_config, prepare_context, require_environment, run_ok, snapshot,
    umoci_unpack, Allowances, BuildahImage, Store,
};

/// Builds one corpus case with strata and buildah and compares the results.
fn conformance(name: &str) {
    require_environment();
    let spec = case_spec(name);
    let ctx = prepare_context(&corpus_dir().join(name), &spec);
    let work = common::temp_dir("strata-conf-");
    let mut flags = spec.build_flags();
    flags.extend(spec.secret_flags(work.path()));

    let store = Store::new();
    store.build(ctx.path(), "case:x", &flags);
    let config = image_config(store.path(), "case:x");
    let mut problems = Vec::new();
    if let Err(e) = check_history(&config) {
        problems.push(e);
    }
    let bundle = work.path().join("strata");
    umoci_unpack(&store.image("case:x"), &bundle);
    let rootfs = bundle.join("rootfs");
    problems.extend(check_expectations(&rootfs, &spec));

    if spec.buildah != Some(false) {
        let reference = BuildahImage::build(ctx.path(), &flags);
        let ref_bundle = work.path().join("buildah");
        reference.unpack(work.path(), &ref_bundle);
        let inspect = reference.inspect();
        let ref_config = &inspect["Docker"]["config"];
        let allow = Allowances {
            reference_only: ref_config["Volumes"]
                .as_object()
                .map(|v| {
                    v.keys()
                        .map(|k| k.trim_end_matches('/').to_owned())
                        .collect()
                })
                .unwrap_or_default(),
            strata_only: spec.buildkit_only.clone(),
            mount_stubs: spec.mount_stubs.clone(),
        };
        let mut expected = normalise_config(ref_config);
        expected.extend(spec.buildkit_config.clone());
        problems.extend(diff_configs(
            &normalise_config(&config["config"]),
            &expected,
        ));
        problems.extend(diff_trees(
            &snapshot(&rootfs),
            &snapshot(&ref_bundle.join("rootfs")),
            &allow,
        ));
    }
    assert!(
        problems.is_empty(),
        "case {name}: {} difference(s) (strata vs buildah/expected):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

macro_rules! cases {
    ($($test:ident => $dir:literal),* $(,)?) => {
        $(
            #[test]
            #[ignore = "needs root: make test"]
            fn $test() {
                conformance($dir);
            }
        )*
        /// Every corpus directory has a test above, so no case is skipped silently.
        const CASES: &[&str] = &[$($dir),*];
    };
}

cases! {
    add_tar => "add-tar",
    add_unpack => "add-unpack",
    arg => "arg",
    arg_predefined => "arg-predefined",
    chmod_lower => "chmod-lower",
    continuations => "continuations",
    copy_basic => "copy-basic",
    copy_chmod => "copy-chmod",
    copy_chown_chmod => "copy-chown-chmod",
    copy_dangling_link => "copy-dangling-link",
    copy_exclude => "copy-exclude",
    copy_parents => "copy-parents",
    copy_wildcard_empty => "copy-wildcard-empty",
    dockerignore => "dockerignore",
    empty_layers => "empty-layers",
    env => "env",
    escape_directive => "escape-directive",
    expansion => "expansion",
    heredoc => "heredoc",
    heredoc_expansion => "heredoc-expansion",
    links => "links",
    metadata => "metadata",
    mount_bind => "mount-bind",
    mount_cache => "mount-cache",
    mount_secret => "mount-secret",
    mount_tmpfs => "mount-tmpfs",
    multistage => "multistage",
    names => "names",
    onbuild => "onbuild",
    opaque => "opaque",
    run_forms => "run-forms",
    shell_forms => "shell-forms",
    special_files => "special-files",
    target => "target",
    user => "user",
    whiteout => "whiteout",
    workdir => "workdir",
}

#[test]
fn every_corpus_case_has_a_test() {
    let mut dirs: Vec<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    assert_eq!(dirs, CASES, "add new corpus directories to the cases! list");
}

/// The manifest digest of `case:x` in a store.
fn manifest_digest(store: &Path) -> String {
    let image = format!("oci:{}:case:x", store.display());
    let out = run_ok(Command::new("skopeo").args(["inspect", "--format", "{{.Digest}}", &image]));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Two cold builds of the same context give the same image digest: layer mtimes are
/// normalised, and nothing else (build time, host name) leaks into the blobs.
#[test]
#[ignore = "needs root: make test"]
fn builds_are_reproducible() {
    require_environment();
    let spec = case_spec("links");
    let ctx = prepare_context(&corpus_dir().join("links"), &spec);
    let first = Store::new();
    first.build(ctx.path(), "case:x", &[]);
    let second = Store::new();
    second.build(ctx.path(), "case:x", &[]);
    assert_eq!(
        manifest_digest(first.path()),
        manifest_digest(second.path())
    );
}
