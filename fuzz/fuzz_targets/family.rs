//! `strata.toml` (the family manifest) through the public loader, then the plan of the
//! whole family. The input is written as `strata.toml` into one temp dir reused for every
//! run; the image contexts it names mostly do not exist, which must be a clean error.
#![no_main]

use std::collections::BTreeSet;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use strata::family::{Family, Plan, MANIFEST};

static DIR: LazyLock<tempfile::TempDir> =
    LazyLock::new(|| tempfile::tempdir().expect("temp dir for the family"));

fuzz_target!(|data: &[u8]| {
    let dir = DIR.path();
    std::fs::write(dir.join(MANIFEST), data).expect("write strata.toml");
    let Ok(family) = Family::load(dir) else {
        return;
    };
    let all: BTreeSet<String> = family.images.keys().cloned().collect();
    let plan = Plan::of(&family, &all);
    for image in plan.images() {
        let _ = plan.wave_of(image);
    }
    let _ = family.ancestors(all.iter().map(String::as_str));
    let _ = family.descendants(all.iter().map(String::as_str));
});
