//! Families: `strata.toml` parsing, parent inference from real Dockerfiles, the errors
//! (each must name file and line), plans, the renderers, and `changed_since` in a real
//! git repository.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use common::git;
use strata::family::{changed_since, render, Base, ByteSize, Efficiency, Family, Plan};
use tempfile::TempDir;

/// A family folder made of `(path, text)` files.
fn family_dir(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    dir
}

fn load(files: &[(&str, &str)]) -> (TempDir, Family) {
    let dir = family_dir(files);
    let family = Family::load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    (dir, family)
}

/// The error of loading `files`, with the temp dir replaced by `DIR`.
fn load_error(files: &[(&str, &str)]) -> String {
    let dir = family_dir(files);
    let err = Family::load(dir.path()).expect_err("the family should be refused");
    err.to_string()
        .replace(&dir.path().display().to_string(), "DIR")
}

fn names(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}

/// The minimal file of the issue, verbatim.
const ISSUE_TOML: &str = r#"[family]
name = "acme"

[images.base]           # image name; context defaults to the folder of the same name
tier = "base"

[images.jre]
context = "runtimes/jre"   # folder holding the Dockerfile (or set `dockerfile = ...`)
tier = "runtime"

[images.shop]
tier = "app"
"#;

fn issue_family() -> (TempDir, Family) {
    load(&[
        ("strata.toml", ISSUE_TOML),
        (
            "base/Dockerfile",
            "FROM scratch\nCOPY busybox /bin/busybox\n",
        ),
        ("runtimes/jre/Dockerfile", "FROM base\nRUN true\n"),
        ("shop/Containerfile", "FROM jre\nCOPY app /app\n"),
    ])
}

#[test]
fn minimal_file_from_the_issue() {
    let (dir, family) = issue_family();
    assert_eq!(family.name, "acme");
    assert_eq!(family.tiers, ["base", "runtime", "app"]);
    let jre = family.image("jre").unwrap();
    assert_eq!(jre.context, dir.path().join("runtimes/jre"));
    assert_eq!(jre.dockerfile, dir.path().join("runtimes/jre/Dockerfile"));
    assert_eq!(jre.tier, "runtime");
    assert_eq!(names(&jre.parents), ["base"]);
    assert_eq!(names(&jre.children), ["shop"]);
    assert_eq!(jre.base, Base::Family("base".into()));
    let shop = family.image("shop").unwrap();
    assert_eq!(shop.dockerfile, dir.path().join("shop/Containerfile"));
    assert_eq!(family.image("base").unwrap().base, Base::Scratch);
    assert_eq!(family.tags(shop), ["shop:latest"]);
    assert!(family
        .image("nope")
        .unwrap_err()
        .to_string()
        .contains("no image named \"nope\""));
}

#[test]
fn settings_policies_and_custom_tiers() {
    let toml = r#"
tiers = ["base", "runtime", "middleware", "app"]

[family]
name = "acme"
version = "2.1"
registry = "localhost:5000/acme"
build_args = { MIRROR = "m1", JAVA = 11 }

[images.base]
tier = "base"

[images.mw]
tier = "middleware"
context = "mw"
dockerfile = "Dockerfile.mw"
tags = ["edge", "localhost:5000/acme/mw:edge"]
build_args = { JAVA = 17 }
target = "final"
platform = "linux/amd64"
max_size = "1.5MiB"

[policy.middleware]
user = "svc"
max_size = 100
min_efficiency = "90%"
max_wasted = "2kB"
"#;
    let (_dir, family) = load(&[
        ("strata.toml", toml),
        ("base/Dockerfile", "FROM scratch\n"),
        (
            "mw/Dockerfile.mw",
            "FROM localhost:5000/acme/base:2.1 AS final\nFROM final AS unused\n",
        ),
    ]);
    assert_eq!(family.tiers, ["base", "runtime", "middleware", "app"]);
    assert_eq!(family.version.as_deref(), Some("2.1"));
    let mw = family.image("mw").unwrap();
    assert_eq!(names(&mw.parents), ["base"]);
    assert_eq!(mw.target.as_deref(), Some("final"));
    assert_eq!(
        mw.platforms,
        [strata::platform::Platform::parse("linux/amd64").unwrap()]
    );
    assert_eq!(
        mw.build_args,
        BTreeMap::from([("JAVA".into(), "17".into()), ("MIRROR".into(), "m1".into())])
    );
    assert_eq!(mw.policy.user.as_deref(), Some("svc"));
    assert_eq!(mw.policy.max_size, Some(ByteSize(1_572_864)));
    assert_eq!(mw.policy.min_efficiency, Some(Efficiency(0.9)));
    assert_eq!(mw.policy.max_wasted, Some(ByteSize(2000)));
    assert_eq!(
        family.tags(mw),
        [
            "mw:latest",
            "mw:2.1",
            "mw:edge",
            "localhost:5000/acme/mw:edge"
        ]
    );
    assert_eq!(family.image("base").unwrap().policy.user, None);
    // The `[tiers] order = [...]` form means the same.
    let (_dir, family) = load(&[
        (
            "strata.toml",
            "[family]\nname = \"x\"\n[tiers]\norder = [\"os\", \"apps\"]\n[images.a]\ntier = \"apps\"\n",
        ),
        ("a/Dockerfile", "FROM debian:12\n"),
    ]);
    assert_eq!(family.tiers, ["os", "apps"]);
    assert_eq!(names(&family.images["a"].external_bases), ["debian:12"]);
}

#[test]
fn parents_from_from_arg_and_copy_from() {
    let toml = r#"[family]
name = "acme"
[images.base]
tier = "base"
[images.tools]
tier = "base"
[images.jre]
tier = "runtime"
[images.shop]
tier = "app"
build_args = { RUNTIME = "jre" }
"#;
    let (_dir, family) = load(&[
        ("strata.toml", toml),
        ("base/Dockerfile", "FROM scratch\n"),
        ("tools/Dockerfile", "FROM alpine:3.20\n"),
        // ARG in FROM, default value.
        ("jre/Dockerfile", "ARG BASE=base\nFROM ${BASE}\nRUN true\n"),
        // ARG set by build_args, a build stage, COPY --from a family image and a stage,
        // a cache mount from a family image, an external final base.
        (
            "shop/Dockerfile",
            "ARG RUNTIME=nothing\n\
             FROM $RUNTIME AS build\n\
             RUN --mount=type=cache,target=/c,from=tools true\n\
             FROM debian:12-slim\n\
             COPY --from=build /a /a\n\
             COPY --from=base /bin /bin\n",
        ),
    ]);
    let shop = family.image("shop").unwrap();
    // FROM parents first, then the others in file order.
    assert_eq!(names(&shop.parents), ["jre", "tools", "base"]);
    assert_eq!(names(&shop.external_bases), ["debian:12-slim"]);
    assert_eq!(shop.base, Base::External("debian:12-slim".into()));
    let lines: Vec<(String, usize)> = shop
        .references
        .iter()
        .map(|r| (format!("{} {}", r.kind.describe(), r.name), r.span.line))
        .collect();
    assert_eq!(
        lines,
        [
            ("FROM jre".to_owned(), 2),
            ("RUN --mount from tools".to_owned(), 3),
            ("FROM debian:12-slim".to_owned(), 4),
            ("COPY --from base".to_owned(), 6),
        ]
    );
    assert_eq!(names(&family.images["base"].children), ["jre", "shop"]);
    assert_eq!(names(&family.images["tools"].children), ["shop"]);
    assert_eq!(
        names(&family.images["tools"].external_bases),
        ["alpine:3.20"]
    );
}

#[test]
fn cycle_is_refused_with_the_chain_and_line() {
    let err = load_error(&[
        (
            "strata.toml",
            "[family]\nname = \"x\"\n[images.a]\ntier = \"app\"\n[images.b]\ntier = \"app\"\n",
        ),
        ("a/Dockerfile", "FROM b\n"),
        ("b/Dockerfile", "# b\nFROM scratch AS s\nFROM a\n"),
    ]);
    assert_eq!(
        err,
        "DIR/b/Dockerfile:3:1: cycle between family images: a -> b -> a (each built from the next)"
    );
}

#[test]
fn higher_tier_parent_is_refused() {
    let err = load_error(&[
        (
            "strata.toml",
            "[family]\nname = \"x\"\n[images.base]\ntier = \"base\"\n[images.shop]\ntier = \"app\"\n",
        ),
        ("base/Dockerfile", "FROM scratch\nCOPY --from=shop /x /x\n"),
        ("shop/Dockerfile", "FROM scratch\n"),
    ]);
    assert_eq!(
        err,
        "DIR/base/Dockerfile:2:1: image base (tier base) is built COPY --from shop, of the higher tier app"
    );
}

#[test]
fn manifest_errors_name_file_line_and_column() {
    let base = ("base/Dockerfile", "FROM scratch\n");
    let unknown_tier = load_error(&[
        (
            "strata.toml",
            "[family]\nname = \"x\"\n\n[images.base]\ntier = \"bsae\"\n",
        ),
        base,
    ]);
    assert_eq!(
        unknown_tier,
        "DIR/strata.toml:5:8: unknown tier \"bsae\" for image base"
    );

    let unknown_policy_tier = load_error(&[
        (
            "strata.toml",
            "[family]\nname = \"x\"\n[policy.middle]\nuser = \"a\"\n",
        ),
        base,
    ]);
    assert_eq!(
        unknown_policy_tier,
        "DIR/strata.toml:3:9: unknown tier \"middle\" in [policy.middle]"
    );

    let unknown_key = load_error(&[
        (
            "strata.toml",
            "[family]\nname = \"x\"\n[images.base]\ntier = \"base\"\ncontxt = \"b\"\n",
        ),
        base,
    ]);
    assert!(
        unknown_key.starts_with("DIR/strata.toml:5:1: unknown field `contxt`"),
        "{unknown_key}"
    );

    let bad_toml = load_error(&[("strata.toml", "[family]\nname = \"x\n"), base]);
    assert!(bad_toml.starts_with("DIR/strata.toml:2:"), "{bad_toml}");

    let bad_size = load_error(&[
        (
            "strata.toml",
            "[family]\nname = \"x\"\n[images.base]\ntier = \"base\"\nmax_size = \"3 parsecs\"\n",
        ),
        base,
    ]);
    assert!(
        bad_size.starts_with("DIR/strata.toml:5:12: invalid size \"3 parsecs\""),
        "{bad_size}"
    );

    let no_dockerfile = load_error(&[(
        "strata.toml",
        "[family]\nname = \"x\"\n[images.base]\ntier = \"base\"\ncontext = \".\"\n",
    )]);
    assert_eq!(
        no_dockerfile,
        "DIR/strata.toml:3:1: no Dockerfile or Containerfile in DIR/."
    );

    let missing = load_error(&[]);
    assert_eq!(missing, "cannot read DIR/strata.toml");
}

#[test]
fn dockerfile_errors_keep_their_location() {
    let err = load_error(&[
        (
            "strata.toml",
            "[family]\nname = \"x\"\n[images.a]\ntier = \"app\"\n",
        ),
        ("a/Dockerfile", "FROM scratch\nRUNN x\n"),
    ]);
    assert_eq!(err, "DIR/a/Dockerfile:2:1: unknown instruction: RUNN");
    let empty = load_error(&[
        (
            "strata.toml",
            "[family]\nname = \"x\"\n[images.a]\ntier = \"app\"\n",
        ),
        ("a/Dockerfile", "ARG BASE\nFROM $BASE\n"),
    ]);
    assert_eq!(
        empty,
        "DIR/a/Dockerfile:2:1: FROM $BASE expands to an empty image name"
    );
}

/// a <- b, a <- c, d from b and c (COPY --from), e from b; f stands alone.
fn diamond() -> (TempDir, Family) {
    let toml = "[family]\nname = \"d\"\nversion = \"3\"\n\
                [images.a]\ntier = \"base\"\n[images.b]\ntier = \"runtime\"\n\
                [images.c]\ntier = \"runtime\"\n[images.d]\ntier = \"app\"\n\
                [images.e]\ntier = \"app\"\n[images.f]\ntier = \"base\"\n";
    load(&[
        ("strata.toml", toml),
        ("a/Dockerfile", "FROM scratch\n"),
        ("b/Dockerfile", "FROM a\n"),
        ("c/Dockerfile", "FROM a\n"),
        ("d/Dockerfile", "FROM b\nCOPY --from=c /x /x\n"),
        ("e/Dockerfile", "FROM b\n"),
        ("f/Dockerfile", "FROM alpine:3.20\n"),
    ])
}

fn waves(plan: &Plan) -> Vec<Vec<&str>> {
    plan.waves.iter().map(|w| names(w)).collect()
}

#[test]
fn waves_of_a_diamond() {
    let (_dir, family) = diamond();
    let all = Plan::new(&family, &[], false).unwrap();
    assert_eq!(
        waves(&all),
        [vec!["a", "f"], vec!["b", "c"], vec!["d", "e"]]
    );
    assert_eq!(all.wave_of("d"), Some(2));
}

#[test]
fn only_and_with_descendants() {
    let (_dir, family) = diamond();
    let only = |names: &[&str], desc: bool| {
        let names: Vec<String> = names.iter().map(|&s| s.to_owned()).collect();
        Plan::new(&family, &names, desc).unwrap()
    };
    assert_eq!(
        waves(&only(&["d"], false)),
        [vec!["a"], vec!["b", "c"], vec!["d"]]
    );
    assert_eq!(
        waves(&only(&["e"], false)),
        [vec!["a"], vec!["b"], vec!["e"]]
    );
    // d also needs c, so c is planned though it is not below b.
    assert_eq!(
        waves(&only(&["b"], true)),
        [vec!["a"], vec!["b", "c"], vec!["d", "e"]]
    );
    assert_eq!(
        waves(&only(&["c"], true)),
        [vec!["a"], vec!["b", "c"], vec!["d"]]
    );
    assert_eq!(waves(&only(&["f"], true)), [vec!["f"]]);
    let err = Plan::new(&family, &["zz".into()], false).unwrap_err();
    assert_eq!(err.to_string(), "family d has no image named \"zz\"");
    // Exactly a set, parents outside it taken as built.
    let set: BTreeSet<String> = ["d".to_owned(), "e".to_owned(), "b".to_owned()].into();
    assert_eq!(waves(&Plan::of(&family, &set)), [vec!["b"], vec!["d", "e"]]);
}

#[test]
fn tree_rendering() {
    let (_dir, family) = diamond();
    let stale = BTreeMap::from([("e".to_owned(), "parent b rebuilt".to_owned())]);
    assert_eq!(
        render::tree(&family, &stale),
        "\
d 3 (tiers: base < runtime < app)
a [base]
├── b [runtime]
│   ├── d [app] (also needs c)
│   └── e [app]  stale: parent b rebuilt
└── c [runtime]
f [base] (external: alpine:3.20)
"
    );
}

#[test]
fn dot_rendering() {
    let (_dir, family) = diamond();
    let stale = BTreeMap::from([("e".to_owned(), "parent b rebuilt".to_owned())]);
    assert_eq!(
        render::dot(&family, &stale),
        r#"digraph "d" {
  rankdir=TB;
  node [shape=box];
  subgraph cluster_0 {
    label="base";
    "a";
    "f";
  }
  subgraph cluster_1 {
    label="runtime";
    "b";
    "c";
  }
  subgraph cluster_2 {
    label="app";
    "d";
    "e" [color=red, fontcolor=red, tooltip="stale: parent b rebuilt"];
  }
  "alpine:3.20" [shape=ellipse, style=dashed];
  "a" -> "b";
  "a" -> "c";
  "b" -> "d";
  "c" -> "d" [style=dashed];
  "b" -> "e";
  "alpine:3.20" -> "f";
}
"#
    );
}

#[test]
fn json_rendering() {
    let (_dir, family) = issue_family();
    let stale = BTreeMap::from([("shop".to_owned(), "app/main.js changed".to_owned())]);
    let graph: serde_json::Value = serde_json::from_str(&render::json(&family, &stale)).unwrap();
    assert_eq!(
        graph,
        serde_json::json!({
            "family": "acme",
            "version": null,
            "tiers": ["base", "runtime", "app"],
            "images": [
                {"name": "base", "tier": "base", "context": "base",
                 "dockerfile": "base/Dockerfile", "parents": [], "external_bases": [],
                    "did_you_mean": {},
                 "children": ["jre"], "stale": null},
                {"name": "jre", "tier": "runtime", "context": "runtimes/jre",
                 "dockerfile": "runtimes/jre/Dockerfile", "parents": ["base"],
                 "external_bases": [],
                    "did_you_mean": {}, "children": ["shop"], "stale": null},
                {"name": "shop", "tier": "app", "context": "shop",
                 "dockerfile": "shop/Containerfile", "parents": ["jre"],
                 "external_bases": [],
                    "did_you_mean": {}, "children": [], "stale": "app/main.js changed"},
            ]
        })
    );

    let plan = Plan::new(&family, &["jre".into()], true).unwrap();
    let changed: BTreeSet<String> = ["jre".to_owned(), "shop".to_owned()].into();
    let text = render::plan_json(&family, &plan, &changed);
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        value["waves"],
        serde_json::json!([["base"], ["jre"], ["shop"]])
    );
    assert_eq!(value["changed"], serde_json::json!(["jre", "shop"]));
    assert_eq!(
        value["images"][1],
        serde_json::json!({"name": "jre", "wave": 1, "tier": "runtime",
            "context": "runtimes/jre", "dockerfile": "runtimes/jre/Dockerfile",
            "parents": ["base"], "tags": ["jre:latest"]})
    );
}

#[test]
fn the_example_family_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/family");
    let family = Family::load(&root).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        render::tree(&family, &BTreeMap::new()),
        "\
acme 1.0 (tiers: base < runtime < app)
base [base]
└── jre [runtime]
    ├── billing [app]
    └── shop [app]
"
    );
    let shop = family.image("shop").unwrap();
    assert_eq!(shop.policy.user.as_deref(), Some("app"));
    assert_eq!(
        family.image("jre").unwrap().build_args["RUNTIME_VERSION"],
        "17"
    );
}

#[test]
#[ignore = "needs git: make test"]
fn changed_since_maps_files_to_images_and_descendants() {
    // The family lives in a subfolder of the repository, as in a monorepo.
    let repo = family_dir(&[
        ("README", "monorepo\n"),
        ("images/strata.toml", ISSUE_TOML),
        (
            "images/base/Dockerfile",
            "FROM scratch\nCOPY busybox /bin/busybox\n",
        ),
        ("images/base/busybox", "binary\n"),
        ("images/runtimes/jre/Dockerfile", "FROM base\n"),
        ("images/shop/Dockerfile", "FROM jre\nCOPY app /app\n"),
        ("images/shop/app/main.js", "v1\n"),
        ("images/shop/.dockerignore", "*.log\n"),
    ]);
    let top = repo.path();
    git(top, &["init", "-q"]);
    git(top, &["add", "."]);
    git(top, &["commit", "-qm", "one"]);
    let dir = top.join("images");
    let family = Family::load(&dir).unwrap();
    let changed = |family: &Family| -> Vec<String> {
        changed_since(family, "HEAD").unwrap().into_iter().collect()
    };
    assert!(changed(&family).is_empty());

    // Outside the family, and ignored by shop's .dockerignore: nothing.
    fs::write(top.join("README"), "changed\n").unwrap();
    fs::write(dir.join("shop/debug.log"), "noise\n").unwrap();
    assert!(changed(&family).is_empty());

    // One app file (an untracked one too): that app only.
    fs::write(dir.join("shop/app/main.js"), "v2\n").unwrap();
    assert_eq!(changed(&family), ["shop"]);
    git(top, &["checkout", "-q", "--", "."]);
    fs::write(dir.join("shop/app/new.js"), "new\n").unwrap();
    assert_eq!(changed(&family), ["shop"]);
    fs::remove_file(dir.join("shop/app/new.js")).unwrap();

    // The runtime's Dockerfile: the runtime and the app.
    fs::write(dir.join("runtimes/jre/Dockerfile"), "FROM base\nRUN true\n").unwrap();
    assert_eq!(changed(&family), ["jre", "shop"]);
    git(top, &["checkout", "-q", "--", "."]);

    // The base: everything.
    fs::write(dir.join("base/busybox"), "patched\n").unwrap();
    assert_eq!(changed(&family), ["base", "jre", "shop"]);
    git(top, &["checkout", "-q", "--", "."]);

    // strata.toml: only the images whose entry changed (and their descendants).
    let edited = ISSUE_TOML.replace(
        "tier = \"runtime\"",
        "tier = \"runtime\"\nbuild_args = { V = 2 }",
    );
    fs::write(dir.join("strata.toml"), edited).unwrap();
    let family = Family::load(&dir).unwrap();
    assert_eq!(changed(&family), ["jre", "shop"]);

    // Committed changes count against an older ref.
    git(top, &["commit", "-qam", "two"]);
    assert!(changed(&family).is_empty());
    assert_eq!(
        changed_since(&family, "HEAD~1")
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        ["jre", "shop"]
    );
    let err = changed_since(&family, "no-such-ref")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("git diff"), "{err}");
}

#[test]
fn manifest_errors_render_the_line() {
    let dir = family_dir(&[
        (
            "strata.toml",
            "[family]\nname = \"x\"\n\n[images.base]\ntier = \"bsae\"\n",
        ),
        ("base/Dockerfile", "FROM scratch\n"),
    ]);
    let err = Family::load(dir.path()).unwrap_err();
    let mut text = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .render_report(&mut text, &err)
        .unwrap();
    assert!(text.contains("5 │ tier = \"bsae\""), "{text}");
    assert!(
        text.contains("help: the tiers are base < runtime < app"),
        "{text}"
    );
}
