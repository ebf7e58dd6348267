//! Built images run: with `strata run` (output, non-root user, exit code passthrough),
//! with runc after `umoci unpack` (the image is a plain OCI image), and exported as
//! docker-archive and oci-archive that skopeo reads.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::{
    context_with, describe, output, require_environment, run_ok, umoci_unpack, unique, Store, BASE,
};
use serde_json::Value;

/// The greeting the test image prints after its uid.
const GREETING: &str = "hello from a strata image";

/// A store holding `greet:1`: a non-root named user whose CMD prints `id -u` and a
/// greeting.
fn greet_image() -> Store {
    require_environment();
    let dockerfile = format!(
        "{BASE}RUN mkdir -p /etc /home/app && echo 'root:x:0:0::/root:/bin/sh' > /etc/passwd \\\n \
         && echo 'app:x:1000:1000::/home/app:/bin/sh' >> /etc/passwd \\\n \
         && printf 'root:x:0:\\napp:x:1000:\\n' > /etc/group && chown 1000:1000 /home/app\n\
         USER app\nWORKDIR /home/app\n\
         CMD [\"/bin/sh\", \"-c\", \"echo uid=$(id -u) && echo {GREETING}\"]\n"
    );
    let ctx = context_with(&dockerfile);
    let store = Store::new();
    store.build(ctx.path(), "greet:1", &[]);
    store
}

fn expected_output() -> String {
    format!("uid=1000\n{GREETING}\n")
}

#[test]
#[ignore = "needs root: make test"]
fn strata_run_prints_and_passes_exit_code() {
    let store = greet_image();
    let out = run_ok(store.strata().args(["run", "greet:1"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected_output());

    let out = output(
        store
            .strata()
            .args(["run", "greet:1", "--", "sh", "-c", "exit 5"]),
    );
    assert_eq!(
        out.status.code(),
        Some(5),
        "exit code not passed through: {}",
        describe(&out)
    );

    let out =
        run_ok(
            store
                .strata()
                .args(["run", "--network", "none", "greet:1", "--", "id", "-u"]),
        );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1000\n");
}

/// Makes a umoci bundle runnable by runc here: no terminal, no rlimits or cgroup
/// resources (the test may itself run in a container that forbids setting them).
fn loosen_bundle(bundle: &Path) {
    let path = bundle.join("config.json");
    let mut config: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    config["process"]["terminal"] = Value::Bool(false);
    if let Some(process) = config["process"].as_object_mut() {
        process.remove("rlimits");
    }
    if let Some(linux) = config["linux"].as_object_mut() {
        linux.remove("resources");
    }
    fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
}

#[test]
#[ignore = "needs root: make test"]
fn runc_runs_the_unpacked_image() {
    let store = greet_image();
    let work = tempfile::tempdir().unwrap();
    let bundle = work.path().join("bundle");
    umoci_unpack(&store.image("greet:1"), &bundle);
    loosen_bundle(&bundle);
    let id = unique("strata-runc");
    let out = output(
        Command::new("runc")
            .arg("run")
            .arg("-b")
            .arg(&bundle)
            .arg(&id),
    );
    let _ = Command::new("runc").args(["delete", "-f", &id]).output();
    assert!(out.status.success(), "runc run failed: {}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected_output());
}

#[test]
#[ignore = "needs root: make test"]
fn exported_archives_are_readable() {
    let store = greet_image();
    let work = tempfile::tempdir().unwrap();
    for (format, transport) in [
        ("docker-archive", "docker-archive"),
        ("oci-archive", "oci-archive"),
    ] {
        let file = work.path().join(format!("greet.{format}.tar"));
        run_ok(
            store
                .strata()
                .args(["export", "greet:1", "--format", format, "-o"])
                .arg(&file),
        );
        let out = run_ok(Command::new("skopeo").args([
            "inspect",
            "--config",
            &format!("{transport}:{}", file.display()),
        ]));
        let config: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(config["config"]["User"], "app", "{format}: {config:#}");
    }
}
