//! Bad input: every failure exits with code 2, names the Dockerfile location
//! (`Dockerfile:LINE:COL`) when there is one, and leaves the store byte-for-byte as it
//! was. Hostile images and tarballs must not write outside the image being built.

mod common;

use std::fs;
use std::path::Path;

use common::{
    assert_same_fingerprint, context_with, describe, fingerprint, output, require_environment,
    umoci_unpack, unique, Store, BASE,
};

/// Runs `strata build` of `dockerfile` (plus `files` in the context) with extra flags on
/// a seeded store, expects exit code 2 and an untouched store, and returns stderr.
fn build_fails(dockerfile: &str, files: &[(&str, &str)], flags: &[&str]) -> String {
    require_environment();
    let store = Store::seeded();
    let ctx = context_with(dockerfile);
    for (name, content) in files {
        fs::write(ctx.path().join(name), content).unwrap();
    }
    store.build_fails(ctx.path(), flags)
}

/// Asserts that stderr names `Dockerfile:LINE:COL` for the given line.
fn assert_location(stderr: &str, line: u32) {
    let needle = format!("Dockerfile:{line}:");
    let found = stderr.match_indices(&needle).any(|(at, _)| {
        stderr[at + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    });
    assert!(found, "stderr does not name {needle}COL:\n{stderr}");
}

#[test]
#[ignore = "needs root: make test"]
fn unknown_instruction() {
    let stderr = build_fails(&format!("{BASE}FROBNICATE all the things\n"), &[], &[]);
    assert_location(&stderr, 4);
}

#[test]
#[ignore = "needs root: make test"]
fn unknown_instruction_flag() {
    let stderr = build_fails(
        &format!("{BASE}COPY --frobnicate=yes busybox /b\n"),
        &[],
        &[],
    );
    assert_location(&stderr, 4);
    assert!(
        stderr.contains("frobnicate"),
        "stderr does not name the flag:\n{stderr}"
    );
}

#[test]
#[ignore = "needs root: make test"]
fn unknown_cli_flag() {
    let stderr = build_fails(BASE, &[], &["--frobnicate"]);
    assert!(
        stderr.contains("frobnicate"),
        "stderr does not name the flag:\n{stderr}"
    );
}

#[test]
#[ignore = "needs root: make test"]
fn unterminated_heredoc() {
    let stderr = build_fails(&format!("{BASE}RUN <<EOT\necho never ends\n"), &[], &[]);
    assert_location(&stderr, 4);
}

#[test]
#[ignore = "needs root: make test"]
fn missing_copy_source() {
    let stderr = build_fails(&format!("{BASE}RUN true\nCOPY no-such-file /x\n"), &[], &[]);
    assert_location(&stderr, 5);
    assert!(
        stderr.contains("no-such-file"),
        "stderr does not name the source:\n{stderr}"
    );
}

#[test]
#[ignore = "needs root: make test"]
fn failing_run() {
    let stderr = build_fails(
        &format!("{BASE}RUN echo fine\nRUN exit 3\nRUN echo never\n"),
        &[],
        &[],
    );
    assert_location(&stderr, 5);
    assert!(
        stderr.contains("exit 3"),
        "stderr does not name the step:\n{stderr}"
    );
    let lower = stderr.to_lowercase();
    assert!(
        ["code 3", "status 3", "code: 3", "status: 3"]
            .iter()
            .any(|s| lower.contains(s)),
        "stderr does not give the exit code 3:\n{stderr}"
    );
}

#[test]
#[ignore = "needs root: make test"]
fn unknown_copy_from_stage() {
    let stage = unique("no-such-stage");
    let stderr = build_fails(
        &format!("{BASE}COPY --from={stage} /x /x\n"),
        &[],
        &["--network", "none"],
    );
    assert_location(&stderr, 4);
    assert!(
        stderr.contains(&stage),
        "stderr does not name the stage:\n{stderr}"
    );
}

#[test]
#[ignore = "needs root: make test"]
fn unknown_target() {
    let stderr = build_fails(
        &format!("{BASE}FROM scratch AS real\n"),
        &[],
        &["--target", "imaginary"],
    );
    assert!(
        stderr.contains("imaginary"),
        "stderr does not name the target:\n{stderr}"
    );
}

/// Either the build fails cleanly (exit 2, store untouched) or it succeeds and the file
/// lands inside the image; never on the host.
fn build_confined(
    dockerfile: &str,
    files: &[(&str, &[u8])],
    host_paths: &[&Path],
) -> Option<(Store, tempfile::TempDir)> {
    require_environment();
    let store = Store::seeded();
    let ctx = context_with(dockerfile);
    for (name, content) in files {
        fs::write(ctx.path().join(name), content).unwrap();
    }
    let before = fingerprint(store.path());
    let out = output(
        store
            .strata()
            .arg("build")
            .args(["-t", "hostile:1"])
            .arg(ctx.path()),
    );
    for path in host_paths {
        assert!(
            path.symlink_metadata().is_err(),
            "{} was written on the host: {}",
            path.display(),
            describe(&out)
        );
    }
    if out.status.success() {
        let bundle = tempfile::tempdir().unwrap();
        umoci_unpack(&store.image("hostile:1"), &bundle.path().join("b"));
        Some((store, bundle))
    } else {
        assert_eq!(
            out.status.code(),
            Some(2),
            "expected success or exit code 2: {}",
            describe(&out)
        );
        assert_same_fingerprint(&before, &fingerprint(store.path()), "refused hostile build");
        None
    }
}

#[test]
#[ignore = "needs root: make test"]
fn copy_through_symlink_to_root_stays_in_image() {
    let name = unique("strata-pwned");
    let host = Path::new("/tmp").join(&name);
    let dockerfile =
        format!("{BASE}RUN mkdir -p /tmp && ln -s / /escape\nCOPY payload /escape/tmp/{name}\n");
    if let Some((_store, bundle)) =
        build_confined(&dockerfile, &[("payload", b"pwned\n")], &[&host])
    {
        let inside = bundle.path().join("b/rootfs/tmp").join(&name);
        assert_eq!(
            fs::read(&inside).unwrap(),
            b"pwned\n",
            "{} missing from the image",
            inside.display()
        );
    }
}

/// A gzipped tar whose entries try to leave the extraction root: `../` paths, and
/// files written through symlinks pointing at `/` and upwards.
fn hostile_tarball(names: &[String]) -> Vec<u8> {
    fn entry(
        builder: &mut tar::Builder<impl std::io::Write>,
        path: &str,
        kind: tar::EntryType,
        target: &str,
        data: &[u8],
    ) {
        let mut header = tar::Header::new_gnu();
        // Written by hand: `Header::set_path` refuses `..`, which is the point here.
        header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_entry_type(kind);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        if !target.is_empty() {
            header.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
        }
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    let up = "../".repeat(16);
    entry(
        &mut builder,
        &format!("{up}tmp/{}", names[0]),
        tar::EntryType::Regular,
        "",
        b"evil\n",
    );
    entry(&mut builder, "rootlink", tar::EntryType::Symlink, "/", b"");
    entry(
        &mut builder,
        &format!("rootlink/tmp/{}", names[1]),
        tar::EntryType::Regular,
        "",
        b"evil\n",
    );
    entry(
        &mut builder,
        "uplink",
        tar::EntryType::Symlink,
        &format!("{up}tmp"),
        b"",
    );
    entry(
        &mut builder,
        &format!("uplink/{}", names[2]),
        tar::EntryType::Regular,
        "",
        b"evil\n",
    );
    builder.into_inner().unwrap().finish().unwrap()
}

#[test]
#[ignore = "needs root: make test"]
fn hostile_tar_in_add_stays_confined() {
    let names: Vec<String> = (0..3).map(|_| unique("strata-evil")).collect();
    let hosts: Vec<_> = names.iter().map(|n| Path::new("/tmp").join(n)).collect();
    let host_refs: Vec<&Path> = hosts.iter().map(|p| p.as_path()).collect();
    let tarball = hostile_tarball(&names);
    let dockerfile = format!("{BASE}RUN mkdir -p /tmp /dst\nADD evil.tar.gz /dst/\n");
    build_confined(&dockerfile, &[("evil.tar.gz", &tarball)], &host_refs);
}
