//! `strata lint` and `strata audit` through the CLI: formats and exit codes (0 clean,
//! 1 findings over the threshold, 2 error).

mod common;

use common::{context_with, output, require_environment, Store, BASE};

#[test]
#[ignore = "needs root: make test"]
fn lint_exit_codes_follow_the_fail_level() {
    require_environment();
    let ctx = context_with("FROM debian:latest\nRUN apt-get update\nRUN apt-get install curl\n");
    let store = Store::new();
    let lint = |extra: &[&str]| {
        output(
            store
                .strata()
                .arg("lint")
                .args(extra)
                .arg(ctx.path().join("Dockerfile")),
        )
    };
    let text = lint(&[]);
    assert_eq!(
        text.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    assert!(String::from_utf8_lossy(&text.stdout).contains("Dockerfile:2"));
    assert_eq!(lint(&["--fail-level", "none"]).status.code(), Some(0));
    let sarif = lint(&["--format", "sarif"]);
    let doc: serde_json::Value = serde_json::from_slice(&sarif.stdout).expect("SARIF is JSON");
    assert_eq!(doc["version"], "2.1.0");
    assert!(!doc["runs"][0]["results"].as_array().unwrap().is_empty());
    assert_eq!(lint(&["--fail-level", "loud"]).status.code(), Some(2));
}

#[test]
#[ignore = "needs root: make test"]
fn audit_exit_codes_follow_fail_on() {
    require_environment();
    let store = Store::new();
    let root = context_with(&format!("{BASE}RUN echo hi > /hi\n"));
    store.build(root.path(), "rooty:1", &[]);
    let clean = context_with(&format!("{BASE}USER 1000\n"));
    store.build(clean.path(), "clean:1", &[]);
    let audit =
        |image: &str, extra: &[&str]| output(store.strata().arg("audit").args(extra).arg(image));
    let flagged = audit("rooty:1", &["--fail-on", "warning", "--format", "json"]);
    assert_eq!(flagged.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&flagged.stdout).unwrap();
    assert!(
        report[0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "user-root"),
        "{report}"
    );
    assert_eq!(
        audit("clean:1", &["--fail-on", "warning"]).status.code(),
        Some(0)
    );
    assert_eq!(audit("missing:1", &[]).status.code(), Some(2));
}

#[test]
#[ignore = "needs root: make test"]
fn family_audit_json_carries_the_sharing_report() {
    require_environment();
    let store = Store::new();
    let family = tempfile::tempdir().unwrap();
    let root = family.path();
    std::fs::write(
        root.join("strata.toml"),
        "[family]\nname = \"dup\"\n\n[images.base]\ntier = \"base\"\n\n\
         [images.one]\ntier = \"app\"\n\n[images.two]\ntier = \"app\"\n",
    )
    .unwrap();
    std::fs::create_dir(root.join("base")).unwrap();
    common::add_busybox(&root.join("base"));
    std::fs::write(root.join("base/Dockerfile"), BASE).unwrap();
    // Both apps write the same 200 000 bytes to the same path in their own layers.
    for app in ["one", "two"] {
        std::fs::create_dir(root.join(app)).unwrap();
        std::fs::write(
            root.join(app).join("Dockerfile"),
            format!(
                "FROM base\nRUN head -c 200000 /bin/busybox > /shared.bin && echo {app} > /name\nUSER 1000\n"
            ),
        )
        .unwrap();
    }
    let built = output(store.strata().arg("build").arg(root));
    assert!(built.status.success(), "{}", common::describe(&built));
    let audit = output(store.strata().args(["audit", "--format", "json"]).arg(root));
    assert!(
        audit.status.code().is_some_and(|c| c < 2),
        "{}",
        common::describe(&audit)
    );
    let doc: serde_json::Value = serde_json::from_slice(&audit.stdout).expect("JSON");
    let images: Vec<&str> = doc["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["image"].as_str().unwrap())
        .collect();
    assert_eq!(images, ["base:latest", "one:latest", "two:latest"]);
    let group = &doc["sharing"]["groups"][0];
    assert_eq!(group["parent"], "base:latest", "{doc}");
    let duplicate = &group["duplicates"][0];
    assert_eq!(duplicate["path"], "/shared.bin", "{doc}");
    assert_eq!(duplicate["size"], 200_000);
    assert_eq!(duplicate["bytes_saved"], 200_000);
}
