//! Family builds end to end through the `strata` binary: order and parallelism of the
//! waves, the step cache (no-change rebuild, one app file changed, base changed, build
//! arg changed, each with its `--explain` reason), base annotations, concurrent builds on
//! one store, prune, reproducible digests, `graph` staleness, `plan --changed-since`, and
//! the family errors.
//!
//! Every test generates its own small family (base FROM scratch with busybox, a runtime,
//! two apps) in a temp dir and builds it into its own temp store.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{
    describe, git, output, require_environment, run_ok, umoci_unpack, FamilyBuild as Build, Store,
    BUSYBOX,
};
use serde_json::Value;
use tempfile::TempDir;

/// The family's images in dependency order.
const IMAGES: [&str; 4] = ["base", "rt", "app1", "app2"];

const STRATA_TOML: &str = r#"[family]
name = "fam"

[images.base]
tier = "base"

[images.rt]
tier = "runtime"

[images.app1]
tier = "app"

[images.app2]
tier = "app"
"#;

/// A RUN that records its start and end (seconds since boot, from `/proc/uptime`) into
/// the shared cache mount as `/par/NAME.start` and `/par/NAME.end`, sleeping `sleep`
/// seconds in between, and leaves `/NAME.ran` in its layer so the step has a layer.
fn stamp_run(name: &str, sleep: u32) -> String {
    format!(
        "RUN --mount=type=cache,id=par,target=/par,sharing=shared \
         cut -d' ' -f1 /proc/uptime > /par/{name}.start && sleep {sleep} \
         && cut -d' ' -f1 /proc/uptime > /par/{name}.end && echo {name} > /{name}.ran\n"
    )
}

/// Writes the test family into `root`: every step of every image adds a layer, so a
/// no-change rebuild has exactly one `CACHED` line per layer an image adds to its parent.
/// `sleep` is how long the timed RUN of rt and the apps lasts.
fn write_family(root: &Path, sleep: u32) {
    let mut files: Vec<(String, String)> = vec![
        ("strata.toml".into(), STRATA_TOML.into()),
        (
            "base/Dockerfile".into(),
            "FROM scratch\nCOPY busybox /bin/busybox\n\
             RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
             COPY etc/ /etc/\n"
                .into(),
        ),
        ("base/etc/motd".into(), "welcome v1\n".into()),
        (
            "rt/Dockerfile".into(),
            format!(
                "FROM base\nARG FLAVOUR=plain\n\
                 RUN mkdir -p /opt/rt && echo \"$FLAVOUR\" > /opt/rt/flavour\n\
                 COPY lib/ /opt/rt/lib/\n{}",
                stamp_run("rt", sleep)
            ),
        ),
        ("rt/lib/core.txt".into(), "runtime core\n".into()),
    ];
    for app in ["app1", "app2"] {
        files.push((
            format!("{app}/Dockerfile"),
            format!(
                "FROM rt\nCOPY static/ /srv/static/\n{}\
                 COPY app/ /srv/app/\nRUN wc -c /srv/app/main.txt > /srv/size\n\
                 CMD [\"cat\", \"/srv/app/main.txt\"]\n",
                stamp_run(app, sleep)
            ),
        ));
        files.push((
            format!("{app}/static/index.html"),
            format!("<h1>{app}</h1>\n"),
        ));
        files.push((format!("{app}/app/main.txt"), format!("{app} v1\n")));
        files.push((format!("{app}/app/lib.txt"), format!("{app} library\n")));
    }
    common::write_files(root, &files);
    fs::copy(BUSYBOX, root.join("base/busybox")).unwrap();
}

/// A freshly generated family in a temp dir (after checking the environment).
fn family(sleep: u32) -> TempDir {
    require_environment();
    let dir = common::temp_dir("strata-family-");
    write_family(dir.path(), sleep);
    dir
}

/// Appends `text` to the file `path` of the family.
fn append(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    let mut old = fs::read_to_string(&path).unwrap();
    old.push_str(text);
    fs::write(&path, old).unwrap();
}

impl Build {
    /// Every `[IMAGE STAGE N] CACHED` or `[IMAGE STAGE N] not cached: REASON` line, as
    /// (image, step number) -> "CACHED" or the reason.
    fn steps(&self) -> BTreeMap<(String, u32), String> {
        let mut steps = BTreeMap::new();
        for line in self.log.lines() {
            let Some((head, rest)) = line.strip_prefix('[').and_then(|l| l.split_once("] ")) else {
                continue;
            };
            let words: Vec<&str> = head.split(' ').collect();
            let [image, _stage, n] = words[..] else {
                continue;
            };
            let Ok(n) = n.parse::<u32>() else { continue };
            let status = if rest == "CACHED" {
                "CACHED".to_string()
            } else if let Some(reason) = rest.strip_prefix("not cached: ") {
                reason.to_string()
            } else {
                continue;
            };
            steps.insert((image.to_string(), n), status);
        }
        steps
    }

    /// The steps of one image, by number.
    fn image_steps(&self, image: &str) -> BTreeMap<u32, String> {
        self.steps()
            .into_iter()
            .filter(|((i, _), _)| i == image)
            .map(|((_, n), s)| (n, s))
            .collect()
    }

    /// The closing summary line.
    fn summary(&self) -> &str {
        self.log
            .lines()
            .find(|l| l.contains(" images (") && l.contains("steps run"))
            .unwrap_or_else(|| panic!("no summary line in:\n{}", self.log))
    }
}

/// `strata build --progress plain --explain DIR` plus `extra`; must succeed.
fn build(store: &Store, dir: &Path, extra: &[&str]) -> Build {
    let out = run_ok(
        store
            .strata()
            .args(["build", "--progress", "plain", "--explain"])
            .args(extra)
            .arg(dir),
    );
    let build = Build::parse(&out);
    assert!(
        !build.digests.is_empty(),
        "no digests on stdout: {}",
        describe(&out)
    );
    build
}

/// The raw manifest of `reference` in the store, read by skopeo.
fn manifest(store: &Store, reference: &str) -> Value {
    let image = format!("oci:{}:{reference}", store.path().display());
    let out = run_ok(Command::new("skopeo").args(["inspect", "--raw", &image]));
    serde_json::from_slice(&out.stdout).expect("manifest is JSON")
}

fn layer_count(store: &Store, reference: &str) -> usize {
    manifest(store, reference)["layers"]
        .as_array()
        .map_or(0, Vec::len)
}

/// Every tag in the store's index.json.
fn tags(store: &Store) -> Vec<String> {
    let index: Value =
        serde_json::from_slice(&fs::read(store.path().join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .map(str::to_string)
        .collect()
}

/// Checks every tag of the store with `skopeo inspect` and unpacks it with umoci.
fn check_every_tag(store: &Store, expected: &[&str]) {
    let tags = tags(store);
    for name in expected {
        assert!(
            tags.iter().any(|t| t == &format!("{name}:latest")),
            "{name}:latest missing from {tags:?}"
        );
    }
    let scratch = tempfile::tempdir().unwrap();
    for (i, tag) in tags.iter().enumerate() {
        common::skopeo_validate(store.path(), tag);
        let bundle = scratch.path().join(format!("bundle{i}"));
        umoci_unpack(&store.image(tag), &bundle);
        assert!(
            bundle.join("rootfs/bin/busybox").is_file(),
            "{tag}: unpacked rootfs has no /bin/busybox"
        );
        fs::remove_dir_all(&bundle).unwrap();
    }
}

/// The file of the shared cache mount `par` named `name`, as seconds since boot.
fn stamp(store: &Store, name: &str) -> f64 {
    let root = store.path().join("cache-mounts");
    let dirs: Vec<_> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path().join("data"))
        .filter(|d| d.is_dir())
        .collect();
    assert_eq!(
        dirs.len(),
        1,
        "one cache mount expected in {}",
        root.display()
    );
    let path = dirs[0].join(name);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}: {text:?}: {e}", path.display()))
}

#[test]
#[ignore = "needs root: make test"]
fn siblings_build_in_parallel_after_their_parent() {
    let fam = family(1);
    let store = Store::new();
    let b = build(&store, fam.path(), &["--jobs", "2"]);
    let (s1, e1) = (stamp(&store, "app1.start"), stamp(&store, "app1.end"));
    let (s2, e2) = (stamp(&store, "app2.start"), stamp(&store, "app2.end"));
    assert!(
        s1 < e2 && s2 < e1,
        "app1 [{s1}, {e1}] and app2 [{s2}, {e2}] should overlap with --jobs 2\n{}",
        b.log
    );
    let rt_end = stamp(&store, "rt.end");
    assert!(
        s1 >= rt_end && s2 >= rt_end,
        "apps started ({s1}, {s2}) before their parent rt finished ({rt_end})"
    );
    // The log agrees: each image is tagged before any step of its children is shown.
    let pos = |needle: &str| {
        b.log
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in:\n{}", b.log))
    };
    assert!(pos("base tagged") < pos("[rt "));
    assert!(pos("rt tagged") < pos("[app1 "));
    assert!(pos("rt tagged") < pos("[app2 "));
}

#[test]
#[ignore = "needs root: make test"]
fn no_change_rebuild_is_fully_cached() {
    let fam = family(0);
    let store = Store::new();
    let cold = build(&store, fam.path(), &[]);
    assert_eq!(cold.digests.keys().collect::<Vec<_>>().len(), IMAGES.len());
    let warm = build(&store, fam.path(), &[]);
    assert_eq!(
        warm.digests, cold.digests,
        "a no-change rebuild changed digests"
    );
    // One step per layer an image adds on top of its parent.
    let parents = [
        ("base", None),
        ("rt", Some("base")),
        ("app1", Some("rt")),
        ("app2", Some("rt")),
    ];
    let mut layer_steps = 0;
    for (image, parent) in parents {
        let own = layer_count(&store, &format!("{image}:latest"));
        let inherited = parent.map_or(0, |p| layer_count(&store, &format!("{p}:latest")));
        layer_steps += own - inherited;
    }
    let steps = warm.steps();
    let cached = steps.values().filter(|s| *s == "CACHED").count();
    assert_eq!(steps.len(), cached, "steps not cached: {steps:?}");
    assert_eq!(
        cached, layer_steps,
        "CACHED lines vs steps with layers\n{}",
        warm.log
    );
    let summary = warm.summary();
    assert!(summary.contains(" 0 steps run"), "{summary}");
    assert!(summary.contains(&format!("{cached} cached")), "{summary}");
}

#[test]
#[ignore = "needs root: make test"]
fn one_app_file_changed_rebuilds_only_that_app_from_its_copy() {
    let fam = family(0);
    let store = Store::new();
    let cold = build(&store, fam.path(), &[]);
    append(fam.path(), "app1/app/main.txt", "changed\n");
    let warm = build(&store, fam.path(), &[]);
    for image in ["base", "rt", "app2"] {
        let steps = warm.image_steps(image);
        assert!(!steps.is_empty(), "{image}: no steps in\n{}", warm.log);
        assert!(
            steps.values().all(|s| s == "CACHED"),
            "{image} should be fully cached: {steps:?}"
        );
        assert_eq!(
            warm.digests[image], cold.digests[image],
            "{image} digest changed"
        );
    }
    // app1: 1 COPY static, 2 RUN stamp, 3 COPY app/ (sees the file), 4 RUN.
    let app1 = warm.image_steps("app1");
    assert_eq!(app1.get(&1).map(String::as_str), Some("CACHED"), "{app1:?}");
    assert_eq!(app1.get(&2).map(String::as_str), Some("CACHED"), "{app1:?}");
    let copy = app1.get(&3).expect("app1 step 3");
    assert!(
        copy.contains("file app/main.txt changed"),
        "app1 step 3: {copy}"
    );
    assert_eq!(
        app1.get(&4).map(String::as_str),
        Some("parent rebuilt"),
        "{app1:?}"
    );
    assert_ne!(warm.digests["app1"], cold.digests["app1"]);
    assert!(
        warm.summary().contains(" 2 steps run"),
        "{}",
        warm.summary()
    );
}

#[test]
#[ignore = "needs root: make test"]
fn base_change_rebuilds_every_descendant() {
    let fam = family(0);
    let store = Store::new();
    let cold = build(&store, fam.path(), &[]);
    append(fam.path(), "base/etc/motd", "security fix\n");
    let warm = build(&store, fam.path(), &[]);
    let base = warm.image_steps("base");
    assert_eq!(base.get(&1).map(String::as_str), Some("CACHED"), "{base:?}");
    assert_eq!(base.get(&2).map(String::as_str), Some("CACHED"), "{base:?}");
    let copy = base.get(&3).expect("base step 3");
    assert!(
        copy.contains("file etc/motd changed"),
        "base step 3: {copy}"
    );
    for image in ["rt", "app1", "app2"] {
        let steps = warm.image_steps(image);
        assert!(!steps.is_empty(), "{image}: no steps in\n{}", warm.log);
        assert!(
            // A RUN also says that it reads its parent (so it is not rebased).
            steps.values().all(|s| s == "parent rebuilt"
                || s == "parent rebuilt; not rebased: a RUN reads the parent's files"),
            "{image}: every step should say `parent rebuilt`: {steps:?}"
        );
    }
    for image in IMAGES {
        assert_ne!(
            warm.digests[image], cold.digests[image],
            "{image} digest unchanged"
        );
    }
}

#[test]
#[ignore = "needs root: make test"]
fn build_arg_change_is_explained() {
    let fam = family(0);
    let store = Store::new();
    build(&store, fam.path(), &[]);
    let warm = build(&store, fam.path(), &["--build-arg", "FLAVOUR=spicy"]);
    let rt = warm.image_steps("rt");
    let first = rt.values().next().expect("rt steps");
    assert!(first.contains("build arg FLAVOUR changed"), "rt: {rt:?}");
    assert!(
        warm.image_steps("base").values().all(|s| s == "CACHED"),
        "base does not use FLAVOUR\n{}",
        warm.log
    );
    let out = run_ok(
        store
            .strata()
            .args(["run", "rt:latest", "--", "cat", "/opt/rt/flavour"]),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "spicy\n");
}

#[test]
#[ignore = "needs root: make test"]
fn children_carry_base_annotations() {
    let fam = family(0);
    let store = Store::new();
    let b = build(&store, fam.path(), &[]);
    for (child, parent) in [("rt", "base"), ("app1", "rt"), ("app2", "rt")] {
        let m = manifest(&store, &format!("{child}:latest"));
        let notes = &m["annotations"];
        let name = notes["org.opencontainers.image.base.name"]
            .as_str()
            .unwrap_or_else(|| panic!("{child}: no base.name in {m}"));
        assert!(
            name == parent
                || name.starts_with(&format!("{parent}:"))
                || name.ends_with(&format!("/{parent}:latest")),
            "{child}: base.name {name:?} should name {parent}"
        );
        assert_eq!(
            notes["org.opencontainers.image.base.digest"].as_str(),
            Some(b.digests[parent].as_str()),
            "{child}: base.digest"
        );
    }
}

#[test]
#[ignore = "needs root: make test"]
fn concurrent_builds_on_one_store() {
    let fam = family(0);
    // A second family sharing the same base, with its own child.
    let other = family(0);
    fs::write(
        other.path().join("strata.toml"),
        "[family]\nname = \"other\"\n\n[images.base]\ntier = \"base\"\n\n\
         [images.tool]\ntier = \"app\"\n",
    )
    .unwrap();
    fs::create_dir_all(other.path().join("tool")).unwrap();
    fs::write(
        other.path().join("tool/Dockerfile"),
        "FROM base\nRUN echo tool > /tool\nCMD [\"cat\", \"/tool\"]\n",
    )
    .unwrap();
    let store = Store::new();
    let spawn = |dir: &Path| {
        store
            .strata()
            .args(["build", "--progress", "plain"])
            .arg(dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children = [spawn(fam.path()), spawn(fam.path()), spawn(other.path())];
    let outs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for out in &outs {
        assert!(
            out.status.success(),
            "a concurrent build failed: {}",
            describe(out)
        );
    }
    let (a, b, c) = (
        Build::parse(&outs[0]),
        Build::parse(&outs[1]),
        Build::parse(&outs[2]),
    );
    assert_eq!(a.digests, b.digests, "two builds of one family disagree");
    assert_eq!(
        a.digests["base"], c.digests["base"],
        "the shared base differs"
    );
    check_every_tag(&store, &["base", "rt", "app1", "app2", "tool"]);
    let out = run_ok(store.strata().args(["run", "tool:latest"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tool\n");
}

#[test]
#[ignore = "needs root: make test"]
fn prune_keeps_what_is_tagged() {
    let fam = family(0);
    let store = Store::new();
    build(&store, fam.path(), &[]);
    append(fam.path(), "app1/app/main.txt", "v2\n");
    append(fam.path(), "rt/lib/core.txt", "v2\n");
    let second = build(&store, fam.path(), &[]);
    // A plain prune keeps the step cache: a rebuild runs nothing.
    prune(&store, &[]);
    let warm = build(&store, fam.path(), &[]);
    assert!(
        warm.summary().contains(" 0 steps run"),
        "{}",
        warm.summary()
    );
    // `--all` drops the cache too, and with it the layers only the first build used.
    let removed = prune(&store, &["--all"]);
    assert!(
        removed > 0,
        "prune --all removed no blob after orphaning layers"
    );
    check_every_tag(&store, &IMAGES);
    let run = |image: &str, cmd: &[&str]| {
        let out = run_ok(store.strata().arg("run").arg(image).args(cmd));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(run("app1:latest", &[]), "app1 v1\nv2\n");
    assert_eq!(run("app2:latest", &[]), "app2 v1\n");
    assert_eq!(
        run("rt:latest", &["--", "cat", "/opt/rt/lib/core.txt"]),
        "runtime core\nv2\n"
    );
    assert_eq!(
        run("base:latest", &["--", "cat", "/etc/motd"]),
        "welcome v1\n"
    );
    // Rebuilding without a cache gives the same images back.
    let again = build(&store, fam.path(), &[]);
    assert_eq!(again.digests, second.digests);
}

/// Runs `strata prune` with `flags`; returns how many blobs it says it removed.
fn prune(store: &Store, flags: &[&str]) -> u64 {
    let out = run_ok(store.strata().arg("prune").args(flags));
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    said.split_once("removed ")
        .and_then(|(_, r)| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("prune said: {said}"))
}

#[test]
#[ignore = "needs root: make test"]
fn two_cold_builds_in_two_stores_give_identical_digests() {
    let first = family(0);
    // A second checkout, written later (other mtimes, ctimes, inodes) at another path.
    std::thread::sleep(Duration::from_millis(1100));
    let second = family(0);
    let (s1, s2) = (Store::new(), Store::new());
    let a = build(&s1, first.path(), &[]);
    let b = build(&s2, second.path(), &[]);
    assert_eq!(a.digests.len(), IMAGES.len());
    assert_eq!(a.digests, b.digests, "cold builds of two checkouts differ");
    for image in IMAGES {
        let reference = format!("{image}:latest");
        assert_eq!(
            manifest(&s1, &reference),
            manifest(&s2, &reference),
            "{image}"
        );
    }
}

/// Image name -> its `stale` value from `strata graph --format json` (null when fresh).
fn staleness(store: &Store, dir: &Path) -> BTreeMap<String, Value> {
    let out = run_ok(store.strata().args(["graph", "--format", "json"]).arg(dir));
    let graph: Value = serde_json::from_slice(&out.stdout).expect("graph JSON");
    graph["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["name"].as_str().unwrap().to_string(), i["stale"].clone()))
        .collect()
}

fn stale_names(store: &Store, dir: &Path) -> Vec<String> {
    staleness(store, dir)
        .into_iter()
        .filter(|(_, s)| !s.is_null())
        .map(|(n, _)| n)
        .collect()
}

#[test]
#[ignore = "needs root: make test"]
fn graph_marks_stale_images_and_their_descendants() {
    let fam = family(0);
    let store = Store::new();
    build(&store, fam.path(), &[]);
    assert!(
        stale_names(&store, fam.path()).is_empty(),
        "{:?}",
        staleness(&store, fam.path())
    );
    append(fam.path(), "app2/app/main.txt", "x\n");
    assert_eq!(stale_names(&store, fam.path()), ["app2"]);
    let why = staleness(&store, fam.path())["app2"].to_string();
    assert!(why.contains("main.txt"), "app2 stale reason: {why}");
    append(fam.path(), "rt/lib/core.txt", "x\n");
    assert_eq!(stale_names(&store, fam.path()), ["app1", "app2", "rt"]);
    build(&store, fam.path(), &[]);
    assert!(
        stale_names(&store, fam.path()).is_empty(),
        "{:?}",
        staleness(&store, fam.path())
    );
}

/// The image names of `strata plan --format json --changed-since HEAD`.
fn planned(store: &Store, dir: &Path) -> Vec<String> {
    let out = run_ok(
        store
            .strata()
            .args(["plan", "--format", "json", "--changed-since", "HEAD"])
            .arg(dir),
    );
    let plan: Value = serde_json::from_slice(&out.stdout).expect("plan JSON");
    let mut names: Vec<String> = plan["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[test]
#[ignore = "needs root: make test"]
fn plan_changed_since_lists_only_affected_images() {
    let fam = family(0);
    let store = Store::new();
    git(fam.path(), &["init", "-q", "."]);
    git(fam.path(), &["add", "-A"]);
    git(fam.path(), &["commit", "-q", "-m", "family"]);
    assert!(planned(&store, fam.path()).is_empty());
    append(fam.path(), "app2/app/main.txt", "x\n");
    assert_eq!(planned(&store, fam.path()), ["app2"]);
    append(fam.path(), "rt/lib/core.txt", "x\n");
    assert_eq!(planned(&store, fam.path()), ["app1", "app2", "rt"]);
}

/// Builds the generated family after `edit`, expecting exit code 2; returns stderr with
/// the family dir shown as `DIR`.
fn family_error(edit: impl FnOnce(&Path)) -> String {
    let fam = family(0);
    edit(fam.path());
    let store = Store::new();
    let out = output(store.strata().arg("build").arg(fam.path()));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    String::from_utf8_lossy(&out.stderr).replace(&fam.path().display().to_string(), "DIR")
}

#[test]
#[ignore = "needs root: make test"]
fn cycle_is_an_error_naming_the_line() {
    let err = family_error(|root| {
        fs::write(root.join("app1/Dockerfile"), "# one\nFROM app2\n").unwrap();
        fs::write(root.join("app2/Dockerfile"), "# two\n\nFROM app1\n").unwrap();
    });
    assert!(err.contains("cycle"), "{err}");
    assert!(
        err.contains("app1/Dockerfile:2") || err.contains("app2/Dockerfile:3"),
        "{err}"
    );
}

#[test]
#[ignore = "needs root: make test"]
fn from_a_higher_tier_is_an_error_naming_the_line() {
    let err = family_error(|root| {
        // app1 no longer comes from rt, so the only fault is rt's tier.
        fs::write(root.join("app1/Dockerfile"), "FROM base\nRUN true\n").unwrap();
        fs::write(
            root.join("rt/Dockerfile"),
            "# runtime\nFROM app1\nRUN true\n",
        )
        .unwrap();
    });
    assert!(err.contains("rt/Dockerfile:2"), "{err}");
    assert!(err.contains("app1"), "{err}");
}
