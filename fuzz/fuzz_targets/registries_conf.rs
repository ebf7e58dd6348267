//! `registries.conf` (containers-registries.conf(5)) through the public loader, then the
//! questions a pull and a push ask of it. The input is written into one temp dir reused
//! for every run (its `registries.conf.d` drop-in dir does not exist).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use strata::registry::{ConfFiles, Reference, RegistriesConf};

static DIR: LazyLock<tempfile::TempDir> =
    LazyLock::new(|| tempfile::tempdir().expect("temp dir for registries.conf"));

fuzz_target!(|data: &[u8]| {
    let path = DIR.path().join("registries.conf");
    std::fs::write(&path, data).expect("write registries.conf");
    let Ok(conf) = RegistriesConf::load(&ConfFiles::File(path), &[]) else {
        return;
    };
    let _ = conf.search_is_empty();
    let _ = conf.any_insecure();
    for name in [
        "busybox",
        "library/debian:12",
        "example.com/a/b@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "localhost:5000/x",
    ] {
        let reference = Reference::parse(name).expect("a valid reference");
        let _ = conf.candidates(&reference);
        let _ = conf.pull_sources(&reference);
        let _ = conf.check_push(&reference);
        let _ = conf.insecure(reference.api_host());
        let _ = conf.mirror_hint(reference.api_host());
    }
});
