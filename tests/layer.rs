//! Layer writing and extraction against a real overlayfs, real tools and hostile tars.
//! Needs root (overlay mounts, chown, device nodes, `security.*`/`trusted.*` xattrs).

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::run;
use strata::fsroot::Root;
use strata::layer::{extract, extract_archive, write, Compression, Layer};

const EPOCH: u64 = 1_700_000_000;
/// `security.capability` v2 granting cap_net_bind_service (bit 10), effective.
const CAP_NET_BIND: [u8; 20] = [1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

fn shell(script: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(script).output().unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// An overlay mount, unmounted when dropped (also when a test fails).
struct Overlay {
    merged: PathBuf,
}

impl Overlay {
    fn mount(lowers: &[&Path], upper: &Path, work: &Path, merged: &Path) -> Overlay {
        fs::create_dir_all(merged).unwrap();
        let lowers: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
        let opts = format!(
            "lowerdir={},upperdir={},workdir={},redirect_dir=off,metacopy=off,index=off",
            lowers.join(":"),
            upper.display(),
            work.display()
        );
        run(
            "mount",
            &[
                "-t",
                "overlay",
                "overlay",
                "-o",
                &opts,
                merged.to_str().unwrap(),
            ],
        );
        Overlay {
            merged: merged.to_owned(),
        }
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.merged).status();
    }
}

/// A base tree and an overlay on it with every kind of change a RUN can make; returns
/// (tmp, lower, upper) after unmounting.
fn changed_upper() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let (lower, upper, work) = (
        tmp.path().join("lower"),
        tmp.path().join("upper"),
        tmp.path().join("work"),
    );
    for d in [&upper, &work] {
        fs::create_dir(d).unwrap();
    }
    fs::create_dir_all(lower.join("etc")).unwrap();
    fs::write(lower.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
    fs::write(lower.join("gone.txt"), "bye").unwrap();
    fs::create_dir_all(lower.join("dir/sub")).unwrap();
    fs::write(lower.join("dir/old"), "old").unwrap();
    {
        let ov = Overlay::mount(&[&lower], &upper, &work, &tmp.path().join("merged"));
        let m = &ov.merged;
        fs::remove_file(m.join("gone.txt")).unwrap();
        fs::remove_dir_all(m.join("dir")).unwrap();
        fs::create_dir(m.join("dir")).unwrap();
        fs::write(m.join("dir/new"), "new").unwrap();
        fs::create_dir(m.join("new")).unwrap();
        fs::write(m.join("new/h1"), "linked").unwrap();
        fs::hard_link(m.join("new/h1"), m.join("new/h2")).unwrap();
        std::os::unix::fs::symlink("../etc/passwd", m.join("new/sym")).unwrap();
        run("mkfifo", &[m.join("new/fifo").to_str().unwrap()]);
        run(
            "mknod",
            &[m.join("new/null").to_str().unwrap(), "c", "1", "3"],
        );
        fs::write(m.join("new/suid"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(m.join("new/suid"), fs::Permissions::from_mode(0o4755)).unwrap();
        std::os::unix::fs::chown(m.join("new/suid"), Some(1000), Some(1000)).unwrap();
        fs::set_permissions(m.join("new/suid"), fs::Permissions::from_mode(0o4755)).unwrap();
        fs::write(m.join("new").join("l".repeat(200)), "long").unwrap();
        fs::write(m.join("new/café-日本.txt"), "unicode").unwrap();
        fs::write(m.join("new/cap"), "cap").unwrap();
        xattr::set(m.join("new/cap"), "security.capability", &CAP_NET_BIND).unwrap();
        xattr::set(m.join("new/cap"), "user.note", b"kept").unwrap();
        fs::create_dir(m.join("sticky")).unwrap();
        fs::set_permissions(m.join("sticky"), fs::Permissions::from_mode(0o1777)).unwrap();
        fs::write(m.join("etc/passwd"), "root:x:0:0::/root:/bin/bash\n").unwrap();
    }
    (tmp, lower, upper)
}

struct TarEntry {
    kind: tar::EntryType,
    mode: u32,
    uid: u64,
    mtime: u64,
    link: Option<PathBuf>,
    pax: BTreeMap<String, Vec<u8>>,
    uname_empty: bool,
}

/// Every entry of a (decompressed) tar, in order.
fn read_tar(tar: impl Read) -> Vec<(String, TarEntry)> {
    let mut archive = tar::Archive::new(tar);
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        let h = entry.header().clone();
        let pax = entry
            .pax_extensions()
            .unwrap()
            .map(|p| {
                p.map(|r| r.unwrap())
                    .map(|r| (r.key().unwrap().to_owned(), r.value_bytes().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        out.push((
            name,
            TarEntry {
                kind: h.entry_type(),
                mode: h.mode().unwrap(),
                uid: h.uid().unwrap(),
                mtime: h.mtime().unwrap(),
                link: entry.link_name().unwrap().map(|l| l.into_owned()),
                pax,
                uname_empty: h.username_bytes().is_none_or(<[u8]>::is_empty),
            },
        ));
    }
    out
}

fn sha256_of(cmd: &str) -> String {
    format!(
        "sha256:{}",
        shell(&format!("{cmd} | sha256sum | cut -d' ' -f1"))
    )
}

#[test]
#[ignore = "needs root: make test"]
fn overlay_changes_become_a_deterministic_oci_layer() {
    let (tmp, lower, upper) = changed_upper();
    let blob = tmp.path().join("layer.tar.gz");
    let layer = write(&upper, Compression::Gzip, EPOCH, &blob).unwrap();

    // Digests and sizes agree with the tools.
    assert_eq!(
        layer.digest.as_str(),
        sha256_of(&format!("cat {}", blob.display()))
    );
    assert_eq!(
        layer.diff_id.as_str(),
        sha256_of(&format!("gzip -dc {}", blob.display()))
    );
    assert_eq!(layer.size, fs::metadata(&blob).unwrap().len());
    assert_eq!(
        layer.tar_size.to_string(),
        shell(&format!("gzip -dc {} | wc -c", blob.display()))
    );
    shell(&format!("tar -tzf {} >/dev/null", blob.display())); // GNU tar reads it

    // The same upper dir gives the same blob, and zstd wraps the very same tar.
    let again = write(&upper, Compression::Gzip, EPOCH, &tmp.path().join("again")).unwrap();
    assert_eq!(again, layer);
    let zst = tmp.path().join("layer.tar.zst");
    let z = write(&upper, Compression::Zstd, EPOCH, &zst).unwrap();
    assert_eq!(z.diff_id, layer.diff_id);
    assert_eq!(
        z.digest.as_str(),
        sha256_of(&format!("cat {}", zst.display()))
    );
    assert_eq!(
        z.diff_id.as_str(),
        sha256_of(&format!("zstd -dc {}", zst.display()))
    );
    assert_eq!(
        write(&upper, Compression::Zstd, EPOCH, &tmp.path().join("z2")).unwrap(),
        z
    );
    let plain = write(&upper, Compression::None, EPOCH, &tmp.path().join("plain")).unwrap();
    assert_eq!(
        (plain.digest.clone(), plain.size),
        (layer.diff_id.clone(), layer.tar_size)
    );

    let entries = read_tar(flate2::read::GzDecoder::new(fs::File::open(&blob).unwrap()));
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    let by_name: BTreeMap<&str, &TarEntry> = entries.iter().map(|(n, e)| (n.as_str(), e)).collect();
    let long = format!("new/{}", "l".repeat(200));
    for expected in [
        ".wh.gone.txt",
        "dir/",
        "dir/.wh..wh..opq",
        "dir/new",
        "etc/",
        "etc/passwd",
        "new/",
        "new/cap",
        "new/café-日本.txt",
        "new/fifo",
        "new/h1",
        "new/h2",
        long.as_str(),
        "new/null",
        "new/suid",
        "new/sym",
        "sticky/",
    ] {
        assert!(
            by_name.contains_key(expected),
            "{expected} missing from {names:?}"
        );
    }
    assert_eq!(names.len(), 17, "{names:?}");
    // The opaque marker follows its dir at once, before the dir's children.
    let dir_at = names.iter().position(|n| *n == "dir/").unwrap();
    assert_eq!(names[dir_at + 1], "dir/.wh..wh..opq");
    for (name, e) in &entries {
        assert_eq!(e.mtime, EPOCH, "{name}");
        assert!(e.uname_empty, "{name}");
        assert!(!name.starts_with("./") && !name.starts_with('/'), "{name}");
        assert!(
            !e.pax.keys().any(|k| k.contains("overlay")),
            "{name}: {:?}",
            e.pax.keys()
        );
    }
    assert_eq!(by_name[".wh.gone.txt"].kind, tar::EntryType::Regular);
    assert_eq!(by_name["new/h2"].kind, tar::EntryType::Link);
    assert_eq!(by_name["new/h2"].link.as_deref(), Some(Path::new("new/h1")));
    assert_eq!(
        by_name["new/sym"].link.as_deref(),
        Some(Path::new("../etc/passwd"))
    );
    assert_eq!(by_name["new/fifo"].kind, tar::EntryType::Fifo);
    assert_eq!(by_name["new/null"].kind, tar::EntryType::Char);
    assert_eq!(
        (by_name["new/suid"].mode, by_name["new/suid"].uid),
        (0o4755, 1000)
    );
    assert_eq!(by_name["sticky/"].mode, 0o1777);
    assert_eq!(
        by_name["new/cap"].pax["SCHILY.xattr.security.capability"],
        CAP_NET_BIND
    );
    assert_eq!(by_name["new/cap"].pax["SCHILY.xattr.user.note"], b"kept");
    assert_eq!(by_name[long.as_str()].pax["path"], long.as_bytes());
    assert!(by_name["new/café-日本.txt"].pax.contains_key("path"));
    assert!(
        by_name["etc/passwd"].pax.is_empty(),
        "short ASCII names need no PAX"
    );

    // Roundtrip: the extracted snapshot, stacked on the same lower, shows what the merged
    // dir showed.
    for (compression, path) in [(Compression::Gzip, &blob), (Compression::Zstd, &zst)] {
        let snap = tempfile::tempdir_in(tmp.path()).unwrap();
        let diff_id = extract(fs::File::open(path).unwrap(), compression, snap.path()).unwrap();
        assert_eq!(diff_id, layer.diff_id);
        assert_eq!(tree(snap.path()), tree(&upper));
        let (u, w) = (snap.path().join("../u2"), snap.path().join("../w2"));
        fs::create_dir_all(&u).unwrap();
        fs::create_dir_all(&w).unwrap();
        let ov = Overlay::mount(&[snap.path(), &lower], &u, &w, &tmp.path().join("m2"));
        let m = &ov.merged;
        assert!(!m.join("gone.txt").exists());
        let mut dir: Vec<_> = fs::read_dir(m.join("dir"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        dir.sort();
        assert_eq!(dir, ["new"]);
        assert_eq!(
            fs::read_to_string(m.join("etc/passwd")).unwrap(),
            "root:x:0:0::/root:/bin/bash\n"
        );
        assert_eq!(
            fs::read_to_string(m.join("new/sym")).unwrap(),
            "root:x:0:0::/root:/bin/bash\n"
        );
        drop(ov);
        fs::remove_dir_all(&u).unwrap();
        fs::remove_dir_all(&w).unwrap();
    }
}

/// umoci, an independent OCI reader, unpacks an image of the lower dir and the layer on
/// top of it (checking every digest and diff_id) into what the merged dir showed.
#[test]
#[ignore = "needs root: make test"]
fn umoci_unpacks_the_layers() {
    let (tmp, lower, upper) = changed_upper();
    let layout = tmp.path().join("layout");
    fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    let mut layers = Vec::new();
    for dir in [&lower, &upper] {
        let out = tmp.path().join("blob");
        let layer = write(dir, Compression::Gzip, EPOCH, &out).unwrap();
        fs::rename(&out, layout.join("blobs/sha256").join(layer.digest.hex())).unwrap();
        layers.push(layer);
    }
    let blob = |value: serde_json::Value| {
        let bytes = serde_json::to_vec(&value).unwrap();
        let digest = strata::digest::Digest::of(&bytes);
        fs::write(layout.join("blobs/sha256").join(digest.hex()), &bytes).unwrap();
        (digest.to_string(), bytes.len())
    };
    let (config, config_size) = blob(serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>()},
    }));
    let (manifest, manifest_size) = blob(serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
        "layers": layers.iter().map(|l| serde_json::json!({
            "mediaType": l.compression.media_type(), "digest": l.digest.to_string(), "size": l.size,
        })).collect::<Vec<_>>(),
    }));
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest, "size": manifest_size,
        "annotations": {"org.opencontainers.image.ref.name": "t"},
    }]});
    fs::write(layout.join("index.json"), index.to_string()).unwrap();
    let bundle = tmp.path().join("bundle");
    run(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{}:t", layout.display()),
            bundle.to_str().unwrap(),
        ],
    );
    let rootfs = bundle.join("rootfs");
    assert!(!rootfs.join("gone.txt").exists());
    assert_eq!(listing(&rootfs.join("dir")), [PathBuf::from("new")]);
    assert_eq!(
        fs::read_to_string(rootfs.join("etc/passwd")).unwrap(),
        "root:x:0:0::/root:/bin/bash\n"
    );
    assert_eq!(
        fs::read_link(rootfs.join("new/sym")).unwrap(),
        Path::new("../etc/passwd")
    );
    assert_eq!(
        fs::metadata(rootfs.join("new/suid")).unwrap().mode() & 0o7777,
        0o4755
    );
    assert_eq!(
        xattr::get(rootfs.join("new/cap"), "security.capability")
            .unwrap()
            .unwrap(),
        CAP_NET_BIND
    );
    let (h1, h2) = (
        fs::metadata(rootfs.join("new/h1")).unwrap(),
        fs::metadata(rootfs.join("new/h2")).unwrap(),
    );
    assert_eq!(h1.ino(), h2.ino());
    assert!(
        rootfs.join("new/café-日本.txt").exists()
            && rootfs.join("new").join("l".repeat(200)).exists()
    );
}

/// What a tree holds, comparable across copies: per relative path, type, mode, owner,
/// content or link target or device, xattrs (overlay's own reduced to opaqueness), and
/// which earlier path it is a hard link of. mtimes are left out: `write` normalises them.
fn tree(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<u64, PathBuf> = BTreeMap::new();
    for entry in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(root).unwrap().to_owned();
        let meta = entry.path().symlink_metadata().unwrap();
        let ft = meta.file_type();
        let what = if ft.is_file() {
            format!("{:?}", fs::read(entry.path()).unwrap())
        } else if ft.is_symlink() {
            format!("-> {:?}", fs::read_link(entry.path()).unwrap())
        } else {
            format!("rdev {}", meta.rdev())
        };
        let mut xattrs: Vec<String> = xattr::list(entry.path())
            .unwrap()
            .filter_map(|n| {
                let n = n.to_str().unwrap().to_owned();
                let v = xattr::get(entry.path(), &n).unwrap().unwrap();
                match n.as_str() {
                    "trusted.overlay.opaque" => Some(format!("opaque={v:?}")),
                    n if n.starts_with("trusted.overlay.") => None,
                    _ => Some(format!("{n}={v:?}")),
                }
            })
            .collect();
        xattrs.sort();
        let link = if !ft.is_dir() && meta.nlink() > 1 {
            inodes
                .entry(meta.ino())
                .or_insert_with(|| rel.clone())
                .clone()
        } else {
            rel.clone()
        };
        out.insert(
            rel,
            format!(
                "mode {:o} {}:{} {what} {xattrs:?} link {link:?}",
                meta.mode(),
                meta.uid(),
                meta.gid()
            ),
        );
    }
    out
}

/// A tar built by hand, with names the `tar` crate's own setters would refuse.
struct RawTar(tar::Builder<Vec<u8>>);

impl RawTar {
    fn new() -> Self {
        RawTar(tar::Builder::new(Vec::new()))
    }
    fn add(&mut self, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }
    fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.add(name, tar::EntryType::Regular, "", data)
    }
    fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.add(name, tar::EntryType::Symlink, target, b"")
    }
    fn finish(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.0, tar::Builder::new(Vec::new()))
            .into_inner()
            .unwrap()
    }
}

/// Entries that try to leave the destination: `..`, absolute names, writes through a
/// symlink to `/` and through a relative symlink climbing out.
fn hostile_tar() -> Vec<u8> {
    RawTar::new()
        .file("../../evil1", b"1")
        .file("/abs/evil2", b"2")
        .symlink("a", "/")
        .file("a/etc/escaped", b"3")
        .symlink("b", "../../../../..")
        .file("b/evil3", b"4")
        .symlink("c", "/etc")
        .file("c/strata-layer-escape-test", b"5")
        .finish()
}

/// Every path below `dir`, relative.
fn listing(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap().path().strip_prefix(dir).unwrap().to_owned())
        .collect()
}

#[test]
#[ignore = "needs root: make test"]
fn hostile_layer_entries_stay_inside_dest() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dest");
    fs::create_dir(&dest).unwrap();
    extract(&hostile_tar()[..], Compression::None, &dest).unwrap();
    assert_eq!(
        listing(tmp.path())
            .iter()
            .filter(|p| !p.starts_with("dest"))
            .count(),
        0
    );
    for (path, content) in [
        ("evil1", "1"),
        ("abs/evil2", "2"),
        ("etc/escaped", "3"),
        ("evil3", "4"),
    ] {
        assert_eq!(
            fs::read_to_string(dest.join(path)).unwrap(),
            content,
            "{path}"
        );
    }
    assert!(dest.join("etc/strata-layer-escape-test").exists());
    assert!(!Path::new("/etc/strata-layer-escape-test").exists());
    assert!(!Path::new("/etc/escaped").exists() && !Path::new("/abs").exists());

    // A hard link cannot reach a file outside either.
    let link = RawTar::new()
        .add(
            "passwd",
            tar::EntryType::Link,
            "../../../../etc/passwd",
            b"",
        )
        .finish();
    let dest2 = tmp.path().join("dest2");
    fs::create_dir(&dest2).unwrap();
    let before = fs::metadata("/etc/passwd").unwrap().nlink();
    assert!(extract(&link[..], Compression::None, &dest2).is_err());
    assert_eq!(fs::metadata("/etc/passwd").unwrap().nlink(), before);
}

#[test]
#[ignore = "needs root: make test"]
fn hostile_archive_entries_stay_inside_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let root_dir = tmp.path().join("root");
    fs::create_dir(&root_dir).unwrap();
    let archive = tmp.path().join("evil.tar");
    fs::write(&archive, hostile_tar()).unwrap();
    let root = Root::open(&root_dir).unwrap();
    assert!(extract_archive(&archive, &root, Path::new("/app"), None).unwrap());
    let outside: Vec<_> = listing(tmp.path())
        .into_iter()
        .filter(|p| !p.starts_with("root"))
        .collect();
    assert_eq!(outside, [PathBuf::from("evil.tar")]);
    // Names are confined to dest; a symlink to `/` means the image's root.
    assert_eq!(fs::read_to_string(root_dir.join("app/evil1")).unwrap(), "1");
    assert_eq!(
        fs::read_to_string(root_dir.join("app/abs/evil2")).unwrap(),
        "2"
    );
    assert_eq!(
        fs::read_to_string(root_dir.join("etc/escaped")).unwrap(),
        "3"
    );
    assert_eq!(fs::read_to_string(root_dir.join("evil3")).unwrap(), "4");
    assert!(root_dir.join("etc/strata-layer-escape-test").exists());
    assert!(!Path::new("/etc/strata-layer-escape-test").exists());
}

#[test]
#[ignore = "needs root: make test"]
fn archives_are_detected_decompressed_and_owned() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir_all(src.join("pkg/bin")).unwrap();
    fs::write(src.join("pkg/bin/tool"), "tool").unwrap();
    fs::set_permissions(src.join("pkg/bin/tool"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(src.join("pkg/readme"), "hi").unwrap();
    let tar = tmp.path().join("a.tar");
    shell(&format!(
        "tar -C {} --owner=7 --group=8 -cf {} pkg",
        src.display(),
        tar.display()
    ));
    for (tool, ext) in [
        ("gzip", "gz"),
        ("zstd -q", "zst"),
        ("bzip2", "bz2"),
        ("xz", "xz"),
    ] {
        shell(&format!(
            "{tool} -c {} > {}.{ext}",
            tar.display(),
            tar.display()
        ));
    }
    let root_dir = tmp.path().join("root");
    fs::create_dir_all(root_dir.join("opt/pkg")).unwrap();
    fs::write(root_dir.join("opt/pkg/readme"), "old, replaced").unwrap();
    let root = Root::open(&root_dir).unwrap();
    for ext in ["", ".gz", ".zst", ".bz2", ".xz"] {
        let archive = PathBuf::from(format!("{}{ext}", tar.display()));
        assert!(
            extract_archive(&archive, &root, Path::new("/opt"), None).unwrap(),
            "{ext}"
        );
        assert_eq!(
            fs::read_to_string(root_dir.join("opt/pkg/readme")).unwrap(),
            "hi",
            "{ext}"
        );
        let tool = fs::metadata(root_dir.join("opt/pkg/bin/tool")).unwrap();
        assert_eq!(
            (tool.mode() & 0o7777, tool.uid(), tool.gid()),
            (0o755, 7, 8),
            "{ext}"
        );
    }
    assert!(extract_archive(&tar, &root, Path::new("/srv"), Some((1000, 1001))).unwrap());
    for path in ["srv/pkg", "srv/pkg/bin/tool"] {
        let meta = fs::metadata(root_dir.join(path)).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (1000, 1001), "{path}");
    }

    // Not archives: plain text, and a gzip of something that is not a tar.
    let text = tmp.path().join("notes.txt");
    fs::write(&text, "just text\n".repeat(100)).unwrap();
    assert!(!extract_archive(&text, &root, Path::new("/x"), None).unwrap());
    shell(&format!("gzip -k {}", text.display()));
    assert!(!extract_archive(
        &tmp.path().join("notes.txt.gz"),
        &root,
        Path::new("/x"),
        None
    )
    .unwrap());
    assert!(!root_dir.join("x").exists());
}

#[test]
#[ignore = "needs root: make test"]
fn read_only_dirs_receive_their_children_and_keep_their_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_path("ro/").unwrap();
    h.set_mode(0o555);
    h.set_mtime(12345);
    h.set_size(0);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &b""[..]).unwrap();
    let mut f = tar::Header::new_ustar();
    f.set_path("ro/f").unwrap();
    f.set_mode(0o644);
    f.set_size(1);
    f.set_cksum();
    b.append(&f, &b"x"[..]).unwrap();
    let bytes = b.into_inner().unwrap();
    extract(&bytes[..], Compression::None, tmp.path()).unwrap();
    let meta = fs::metadata(tmp.path().join("ro")).unwrap();
    assert_eq!((meta.mode() & 0o7777, meta.mtime()), (0o555, 12345));
    assert_eq!(fs::read_to_string(tmp.path().join("ro/f")).unwrap(), "x");
}

/// A simple deterministic byte generator: xorshift for incompressible data, words for text.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn random(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
    fn text(&mut self, len: usize) -> Vec<u8> {
        const WORDS: [&str; 16] = [
            "fn ",
            "let ",
            "return ",
            "self",
            ".unwrap()",
            "\n    ",
            "struct ",
            "impl ",
            "0x1f ",
            "{ ",
            "} ",
            "error ",
            "path ",
            "layer ",
            "digest ",
            "// ",
        ];
        let mut out = Vec::with_capacity(len + 16);
        while out.len() < len {
            out.extend_from_slice(WORDS[(self.next() % 16) as usize].as_bytes());
        }
        out.truncate(len);
        out
    }
}

/// CPU seconds (user + system, all threads) this process has used: on a shared machine
/// wall time says more about the neighbours than about the code.
fn cpu_seconds() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes the struct it is given.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) }, 0);
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// Runs `f` and prints MB/s of `bytes` by wall time and by CPU time.
fn report(what: &str, bytes: u64, f: impl FnOnce()) {
    let (start, cpu) = (Instant::now(), cpu_seconds());
    f();
    let (wall, cpu) = (start.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    let mb = bytes as f64 / 1e6;
    println!(
        "{what}: {:.0} MB/s wall, {:.0} MB per CPU-second ({wall:.2}s wall, {cpu:.2}s CPU)",
        mb / wall,
        mb / cpu
    );
}

fn time_write(name: &str, upper: &Path, out: &Path) {
    for compression in [Compression::Gzip, Compression::Zstd, Compression::None] {
        let tar_size = write(upper, Compression::None, 0, out).unwrap().tar_size;
        let mut layer: Option<Layer> = None;
        report(&format!("{name}: write {compression:?}"), tar_size, || {
            layer = Some(write(upper, compression, 0, out).unwrap());
        });
        let layer = layer.unwrap();
        println!(
            "    {} MB tar -> {} MB blob",
            layer.tar_size / 1_000_000,
            layer.size / 1_000_000
        );
        let snap = tempfile::tempdir_in(upper.parent().unwrap()).unwrap();
        report(
            &format!("{name}: extract {compression:?}"),
            tar_size,
            || {
                extract(fs::File::open(out).unwrap(), compression, snap.path()).unwrap();
            },
        );
    }
}

/// Throughput report, not a timing assertion:
/// `cargo test --release --test layer -- --ignored --nocapture throughput`.
#[test]
#[ignore]
fn throughput() {
    let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
    let mut gen = Gen(0x9e37_79b9_7f4a_7c15);

    // 100 MB mixed: half text-like, half incompressible, in files of 4 KB .. 4 MB.
    let mixed = tmp.path().join("mixed");
    let mut total = 0;
    let mut i = 0;
    while total < 100_000_000 {
        let size = [4_000, 40_000, 400_000, 4_000_000][i % 4];
        let data = if (i / 4) % 2 == 0 {
            gen.text(size)
        } else {
            gen.random(size)
        };
        let dir = mixed.join(format!("d{}", i % 20));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(format!("f{i}")), &data).unwrap();
        total += size;
        i += 1;
    }
    time_write("100 MB mixed", &mixed, &tmp.path().join("mixed.blob"));

    // 20,000 small text files.
    let small = tmp.path().join("small");
    for i in 0..20_000 {
        let dir = small.join(format!("d{}", i % 200));
        if i < 200 {
            fs::create_dir_all(&dir).unwrap();
        }
        fs::write(dir.join(format!("f{i}.rs")), gen.text(500 + (i % 7) * 300)).unwrap();
    }
    time_write("20k small files", &small, &tmp.path().join("small.blob"));

    // gzip level choice: the uncompressed tar through flate2 at each level, one core.
    let tar = tmp.path().join("mixed.tar");
    write(&mixed, Compression::None, 0, &tar).unwrap();
    let bytes = fs::read(&tar).unwrap();
    for level in 1..=6 {
        let mut size = 0;
        report(&format!("gzip -{level} alone"), bytes.len() as u64, || {
            let counter = strata::digest::HashingWriter::new(std::io::sink());
            let mut enc = flate2::write::GzEncoder::new(counter, flate2::Compression::new(level));
            std::io::Write::write_all(&mut enc, &bytes).unwrap();
            size = enc.finish().unwrap().finish().2;
        });
        println!(
            "    {} MB -> {} MB",
            bytes.len() / 1_000_000,
            size / 1_000_000
        );
    }
}
