//! HEALTHCHECK durations are parsed once, by the Dockerfile parser, so `lint` and `build`
//! accept exactly the same values (issue 11: `--interval=0` linted clean but failed to
//! build, because the builder had a second, stricter duration parser).

mod common;

use common::{context_with, output, Store};

const DOCKERFILE: &str =
    "FROM scratch\nHEALTHCHECK --interval=0 --timeout=1m30s --retries=2 CMD [\"/bin/true\"]\n";

#[test]
#[ignore = "needs root: make test"]
fn zero_interval_lints_and_builds_alike() {
    let ctx = context_with(DOCKERFILE);
    let store = Store::new();
    let lint = output(
        store
            .strata()
            .args(["lint", "--fail-level", "error"])
            .arg(ctx.path().join("Dockerfile")),
    );
    assert_eq!(lint.status.code(), Some(0), "{}", common::describe(&lint));
    let built = store.build(ctx.path(), "hc:zero", &[]);
    assert!(built.status.success());
    let config = common::image_config(store.path(), "hc:zero");
    let check = &config["config"]["Healthcheck"];
    // Zero means docker's default, which BuildKit leaves out (Go's `omitempty`).
    assert!(check.get("Interval").is_none(), "{check}");
    assert_eq!(check["Timeout"], 90_000_000_000_i64);
    assert_eq!(check["Retries"], 2);
}

#[test]
#[ignore = "needs root: make test"]
fn a_bad_duration_is_refused_alike_by_lint_and_build() {
    let ctx = context_with("FROM scratch\nHEALTHCHECK --interval=5 CMD [\"/bin/true\"]\n");
    let store = Store::new();
    let lint = output(
        store
            .strata()
            .arg("lint")
            .arg(ctx.path().join("Dockerfile")),
    );
    let build = output(store.strata().arg("build").arg(ctx.path()));
    // lint reports the parse error as a finding (exit 1), build fails with it (exit 2).
    assert_eq!(lint.status.code(), Some(1), "{}", common::describe(&lint));
    assert_eq!(build.status.code(), Some(2), "{}", common::describe(&build));
    let message = "--interval: invalid duration \"5\"";
    assert!(String::from_utf8_lossy(&lint.stdout).contains(message));
    assert!(String::from_utf8_lossy(&build.stderr).contains(message));
}
