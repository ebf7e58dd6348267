//! A store on a file system that fills up mid-build (a small tmpfs): the build fails with
//! exit code 2 and says why once, names the step, leaves earlier tags intact and no
//! orphan snapshot, blob or temp file behind (`strata fsck` finds the store sound); once
//! there is room again the same build succeeds.

mod common;

use std::path::Path;
use std::process::Command;

use common::{
    assert_same_fingerprint, context_with, describe, fingerprint, hermetic_registries_conf, output,
    require_environment, run_ok, skopeo_validate, temp_dir, BASE,
};

/// Mounts a tmpfs of `size` on `dir`.
fn mount_tmpfs(dir: &Path, size: &str, remount: bool) {
    let options = if remount {
        format!("remount,size={size}")
    } else {
        format!("size={size}")
    };
    run_ok(
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", &options, "tmpfs"])
            .arg(dir),
    );
}

/// Unmounts the tmpfs when the test ends, however it ends.
struct Unmount<'a>(&'a Path);

impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0).status();
    }
}

#[test]
#[ignore = "needs root: make test"]
fn a_full_disk_fails_the_build_once_and_cleanly() {
    require_environment();
    let mount = temp_dir("strata-full-");
    mount_tmpfs(mount.path(), "48m", false);
    let _unmount = Unmount(mount.path());

    let store_dir = mount.path().join("store");
    let strata = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
        cmd.arg("--store")
            .arg(&store_dir)
            .env("CONTAINERS_REGISTRIES_CONF", hermetic_registries_conf());
        cmd
    };
    let seed = context_with(&format!("{BASE}RUN echo seed > /seed\n"));
    run_ok(strata().args(["build", "-t", "seed:1"]).arg(seed.path()));

    // 40 MB of incompressible data: its layer and snapshot cannot both fit.
    let big = context_with(&format!("{BASE}COPY big /big\nRUN echo after > /after\n"));
    let bytes = common::noise(0x2545_f491_4f6c_dd1d, 40 << 20);
    std::fs::write(big.path().join("big"), bytes).unwrap();

    let before = fingerprint(&store_dir);
    let out = output(strata().args(["build", "-t", "big:1"]).arg(big.path()));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("No space left on device").count(),
        1,
        "the cause once: {stderr}"
    );
    assert!(
        stderr.contains("Dockerfile:"),
        "the step is named: {stderr}"
    );
    assert!(
        stderr.contains("COPY big /big"),
        "the step is named: {stderr}"
    );

    // Nothing of the failed build is left: the store is as it was, and sound.
    let after = fingerprint(&store_dir);
    assert_same_fingerprint(&before, &after, "failed build on a full disk");
    let fsck = output(strata().arg("fsck"));
    assert!(
        fsck.status.success() && String::from_utf8_lossy(&fsck.stdout).contains("store is sound"),
        "{}",
        describe(&fsck)
    );
    skopeo_validate(&store_dir, "seed:1");

    // With room again, the same build works.
    mount_tmpfs(mount.path(), "256m", true);
    run_ok(strata().args(["build", "-t", "big:1"]).arg(big.path()));
    skopeo_validate(&store_dir, "big:1");
}
