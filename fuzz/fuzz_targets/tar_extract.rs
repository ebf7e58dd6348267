//! The tar reader of layer extraction and of ADD's archive unpacking, on arbitrary bytes.
//! The first byte picks the mode: a layer (uncompressed, OCI whiteouts become overlay
//! ones) or an ADD archive (compression sniffed, `--chown` or not). Everything is extracted
//! into `root/` of one temp dir, emptied after every run; after each run the temp dir must
//! hold nothing but `root/` and the input file: an entry written outside the root fails
//! the run.
#![no_main]

use std::path::Path;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use strata::fsroot::Root;
use strata::layer::{extract, extract_archive, Compression};

static DIR: LazyLock<tempfile::TempDir> =
    LazyLock::new(|| tempfile::tempdir().expect("temp dir for extraction"));

/// Removes everything under `root` (entries may be read-only dirs: make them writable).
fn empty(root: &Path) {
    if std::fs::remove_dir_all(root).is_err() {
        let _ = std::process::Command::new("chmod")
            .arg("-R")
            .arg("u+rwx")
            .arg(root)
            .status();
        std::fs::remove_dir_all(root).expect("remove the extraction root");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, tar)) = data.split_first() else {
        return;
    };
    let dir = DIR.path();
    let root = dir.join("root");
    std::fs::create_dir(&root).expect("create the extraction root");
    if mode & 1 == 0 {
        let _ = extract(tar, Compression::None, &root);
    } else {
        let input = dir.join("input");
        std::fs::write(&input, tar).expect("write the archive");
        let chown = (mode & 2 != 0).then_some((1000, 1000));
        let into = Root::open(&root).expect("open the root");
        let _ = extract_archive(&input, &into, Path::new("/dest"), chown);
    }
    let mut outside: Vec<_> = std::fs::read_dir(dir)
        .expect("list the temp dir")
        .map(|e| e.expect("entry").file_name())
        .filter(|name| name != "root" && name != "input")
        .collect();
    outside.sort();
    empty(&root);
    assert!(outside.is_empty(), "written outside the root: {outside:?}");
});
