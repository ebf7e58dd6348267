//! Rebasing end to end through the `strata` binary: when a family parent changes, a step
//! that does not read its parent's files (COPY from the context or another stage,
//! WORKDIR, before any RUN of its stage) reuses the layer it made over the old parent
//! once the builder proved the layer is the one it would write over the new parent.
//!
//! The promise every test checks is that a rebase is invisible in the result: the image's
//! digest equals that of a build that ran every step (`--no-cache`, a fresh store, or
//! `--no-rebase`). Covered:
//! - a COPY/WORKDIR/ENV/USER/CMD app rebased onto a base whose files changed (REBASED
//!   lines, the summary, the very same layer blobs, `--no-rebase`);
//! - RUN reads the parent: the RUN and every step after it are rebuilt, with the reason;
//! - the refusals, each with its `--explain` reason: a directory on the way turned into a
//!   symlink, a `--chown` user dropped (the build fails, as BuildKit's does) or given
//!   another uid, a directory the app writes into with another mode or owner;
//! - `COPY --from` a stage that does not derive from the parent rebases, one that does
//!   not;
//! - regression: a WORKDIR made by another USER (the base's or the app's own) is never
//!   rebased, as its layer holds the directory owned by the user it was made with.
//!
//! Every test writes its own small family (a busybox base FROM scratch with /etc/passwd
//! copied in, and apps) into a temp dir and builds it into its own temp stores.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use common::{describe, output, run_ok, BaseAndApps as Family, FamilyBuild as Build, Store};

/// `/etc/passwd` of the base: root, app (1000) and other (1001).
const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                      app:x:1000:1000:app:/home/app:/bin/sh\n\
                      other:x:1001:1001:other:/home/other:/bin/sh\n";
const GROUP: &str = "root:x:0:\napp:x:1000:\nother:x:1001:\n";

/// The family of these tests: `base` with [`PASSWD`] and [`GROUP`], and the apps given.
fn family(base_tail: &str, apps: &[(&str, &str)]) -> Family {
    Family::new(PASSWD, GROUP, base_tail, apps)
}

impl Build {
    /// The digest of `image`.
    fn digest(&self, image: &str) -> &str {
        self.digests
            .get(image)
            .unwrap_or_else(|| panic!("no digest for {image} in {:?}\n{}", self.digests, self.log))
    }

    /// How each layer step of `image` went, by (stage, step number): `CACHED`,
    /// `REBASED: <proof>` or `not cached: <reason>`.
    fn steps(&self, image: &str) -> BTreeMap<(String, u32), String> {
        let mut steps = BTreeMap::new();
        for line in self.log.lines() {
            let Some((head, rest)) = line.strip_prefix('[').and_then(|l| l.split_once("] ")) else {
                continue;
            };
            let [name, stage, n] = head.split(' ').collect::<Vec<_>>()[..] else {
                continue;
            };
            let Ok(n) = n.parse::<u32>() else { continue };
            let outcome = rest == "CACHED"
                || rest.starts_with("REBASED: ")
                || rest.starts_with("not cached: ");
            if name == image && outcome {
                let old = steps.insert((stage.to_owned(), n), rest.to_owned());
                assert!(
                    old.is_none(),
                    "{image} {stage} {n} reported twice:\n{}",
                    self.log
                );
            }
        }
        steps
    }

    /// The outcome of step `n` of `stage` of `image`; fails if it was not reported.
    fn step(&self, image: &str, stage: &str, n: u32) -> String {
        self.steps(image)
            .remove(&(stage.to_owned(), n))
            .unwrap_or_else(|| panic!("no outcome for [{image} {stage} {n}] in:\n{}", self.log))
    }

    /// Asserts every layer step of `image` was rebased, and that they are `expected`.
    fn assert_all_rebased(&self, image: &str, expected: &[(&str, u32)]) {
        let steps = self.steps(image);
        let keys: Vec<(String, u32)> = expected
            .iter()
            .map(|(s, n)| ((*s).to_owned(), *n))
            .collect();
        assert_eq!(
            steps.keys().cloned().collect::<Vec<_>>(),
            keys,
            "{image}: layer steps\n{}",
            self.log
        );
        for (step, outcome) in &steps {
            assert!(
                outcome.starts_with("REBASED: "),
                "{image} {step:?} should be rebased: {outcome}\n{}",
                self.log
            );
        }
    }

    /// Asserts no step of any image was rebased.
    fn assert_nothing_rebased(&self) {
        assert!(
            !self.log.contains("REBASED"),
            "nothing may be rebased here:\n{}",
            self.log
        );
    }

    /// The closing summary line.
    fn summary(&self) -> &str {
        self.log
            .lines()
            .find(|l| l.contains(" images (") && l.contains("steps run"))
            .unwrap_or_else(|| panic!("no summary line in:\n{}", self.log))
    }
}

/// `strata build --progress plain --explain DIR` plus `extra`, whatever its outcome.
fn try_build(store: &Store, dir: &Path, extra: &[&str]) -> Output {
    output(
        store
            .strata()
            .args(["build", "--progress", "plain", "--explain"])
            .args(extra)
            .arg(dir),
    )
}

/// [`try_build`] that must succeed.
fn build(store: &Store, dir: &Path, extra: &[&str]) -> Build {
    let out = try_build(store, dir, extra);
    assert!(out.status.success(), "build failed: {}", describe(&out));
    Build::parse(&out)
}

/// Rebuilds the family with `--no-cache` (every step runs, none is rebased) and asserts
/// each of `images` comes out as it did in `incremental`: what the rebase (or the refusal)
/// gave is what a full rebuild gives.
fn assert_rebuild_gives(store: &Store, dir: &Path, incremental: &Build, images: &[&str]) {
    let full = build(store, dir, &["--no-cache"]);
    full.assert_nothing_rebased();
    for image in images {
        for (step, outcome) in full.steps(image) {
            assert_eq!(
                outcome, "not cached: cache disabled (--no-cache)",
                "{image} {step:?}"
            );
        }
        assert_eq!(
            full.digest(image),
            incremental.digest(image),
            "{image}: the incremental build and a --no-cache rebuild differ\n\
             --- incremental ---\n{}\n--- rebuild ---\n{}",
            incremental.log,
            full.log
        );
    }
}

/// The layer digests of `image:latest`'s manifest.
fn layers(store: &Store, image: &str) -> Vec<String> {
    let manifest = common::skopeo_validate(store.path(), &format!("{image}:latest"));
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect()
}

/// Runs `argv` in `image:latest` and returns its stdout.
fn run_in(store: &Store, image: &str, argv: &[&str]) -> String {
    let out = run_ok(
        store
            .strata()
            .args(["run", &format!("{image}:latest"), "--"])
            .args(argv),
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `uid:gid path` of each of `paths` in `image:latest`, a line each.
fn owners(store: &Store, image: &str, paths: &[&str]) -> String {
    let argv: Vec<&str> = ["stat", "-c", "%u:%g %n"]
        .iter()
        .chain(paths)
        .copied()
        .collect();
    run_in(store, image, &argv)
}

/// The app of the main test: every kind of step that never reads its parent's files.
const COPY_ONLY_APP: &str = "FROM base\n\
                             COPY --chown=app:app conf/ /etc/app/\n\
                             COPY site/ /srv/app/\n\
                             WORKDIR /srv/app/data\n\
                             ENV MODE=prod\n\
                             USER app\n\
                             WORKDIR /home/app/work\n\
                             CMD [\"cat\", \"/srv/app/index.html\"]\n";

#[test]
#[ignore = "needs root: make test"]
fn a_copy_only_app_is_rebased_with_the_digest_of_a_rebuild() {
    let fam = family("", &[("app", COPY_ONLY_APP)]);
    let store = Store::new();
    let cold = build(&store, fam.path(), &[]);
    let (cold_base, cold_layers) = (layers(&store, "base"), layers(&store, "app"));

    fam.write("base/etc/motd", "welcome v2\n");
    let warm = build(&store, fam.path(), &[]);
    assert_ne!(warm.digest("base"), cold.digest("base"), "the base changed");
    let motd = warm.step("base", "stage-0", 3);
    assert!(
        motd.contains("file etc/motd changed"),
        "base step 3: {motd}"
    );
    warm.assert_all_rebased(
        "app",
        &[
            ("stage-0", 1),
            ("stage-0", 2),
            ("stage-0", 3),
            ("stage-0", 6),
        ],
    );
    let chown = warm.step("app", "stage-0", 1);
    assert!(
        chown.contains("every path it writes reads the same in the new parent")
            && chown.contains("user app:app resolves alike"),
        "{chown}"
    );
    assert!(
        warm.step("app", "stage-0", 6)
            .contains("user app resolves alike"),
        "{}",
        warm.log
    );
    assert!(
        warm.summary().contains("(1 built, 1 rebased, 0 reused)")
            && warm.summary().contains(", 4 rebased, "),
        "{}",
        warm.summary()
    );
    // The app's own layers are the very blobs made over the old base, on the new base.
    let (warm_base, warm_layers) = (layers(&store, "base"), layers(&store, "app"));
    assert_eq!(warm_layers[..warm_base.len()], warm_base[..]);
    assert_eq!(
        warm_layers[warm_base.len()..],
        cold_layers[cold_base.len()..],
        "the rebased app's own layers"
    );
    assert_eq!(
        owners(&store, "app", &["/etc/app/app.conf", "/home/app/work"]),
        "1000:1000 /etc/app/app.conf\n1000:1000 /home/app/work\n"
    );
    let rebased = warm.digest("app").to_owned();

    // The core promise, three ways: a --no-cache rebuild in the same store, a cold build
    // in a fresh store, and a --no-rebase build after the same change.
    assert_rebuild_gives(&store, fam.path(), &warm, &["app"]);
    let fresh = build(&Store::new(), fam.path(), &[]);
    fresh.assert_nothing_rebased();
    assert_eq!(
        fresh.digest("app"),
        rebased,
        "a cold build in a fresh store"
    );

    let other = Store::new();
    fam.write("base/etc/motd", "welcome v1\n");
    assert_eq!(
        build(&other, fam.path(), &[]).digest("app"),
        cold.digest("app")
    );
    fam.write("base/etc/motd", "welcome v2\n");
    let no_rebase = build(&other, fam.path(), &["--no-rebase"]);
    no_rebase.assert_nothing_rebased();
    assert_eq!(no_rebase.steps("app").len(), 4, "{}", no_rebase.log);
    for (step, outcome) in no_rebase.steps("app") {
        assert_eq!(
            outcome, "not cached: parent rebuilt; not rebased: --no-rebase",
            "app {step:?}"
        );
    }
    assert_eq!(no_rebase.digest("app"), rebased, "--no-rebase");
}

#[test]
#[ignore = "needs root: make test"]
fn a_run_reads_the_parent_so_it_and_every_later_step_are_rebuilt() {
    let fam = family(
        "",
        &[
            (
                "runfirst",
                "FROM base\nRUN cat /etc/motd > /srv-motd\nCOPY site/ /srv/app/\n",
            ),
            (
                "runlater",
                "FROM base\nCOPY site/ /srv/app/\n\
                 RUN wc -c /srv/app/index.html > /srv/size\nCOPY conf/ /etc/app/\n",
            ),
        ],
    );
    let store = Store::new();
    build(&store, fam.path(), &[]);
    fam.write("base/etc/motd", "welcome v2\n");
    let warm = build(&store, fam.path(), &[]);

    let run_reason = "not cached: parent rebuilt; not rebased: a RUN reads the parent's files";
    assert_eq!(warm.step("runfirst", "stage-0", 1), run_reason);
    // After a RUN nothing is rebased: the stage has read its parent.
    assert_eq!(
        warm.step("runfirst", "stage-0", 2),
        "not cached: parent rebuilt"
    );
    let first = warm.step("runlater", "stage-0", 1);
    assert!(first.starts_with("REBASED: "), "{first}");
    assert_eq!(warm.step("runlater", "stage-0", 2), run_reason);
    assert_eq!(
        warm.step("runlater", "stage-0", 3),
        "not cached: parent rebuilt"
    );
    assert_eq!(
        run_in(&store, "runfirst", &["cat", "/srv-motd"]),
        "welcome v2\n",
        "the RUN ran over the new base"
    );

    assert_rebuild_gives(&store, fam.path(), &warm, &["runfirst", "runlater"]);
}

/// Builds the family, rewrites the base's tail to `new_tail`, builds again and checks
/// that no step was rebased, that step 1 of `app` says `not rebased: <because>`, and that
/// a `--no-cache` rebuild gives the same digest. Returns the store.
fn assert_refused(fam: &Family, new_tail: &str, because: &str) -> Store {
    let store = Store::new();
    build(&store, fam.path(), &[]);
    fam.set_base(new_tail);
    let warm = build(&store, fam.path(), &[]);
    warm.assert_nothing_rebased();
    let outcome = warm.step("app", "stage-0", 1);
    assert_eq!(
        outcome,
        format!("not cached: parent rebuilt; not rebased: {because}"),
        "{}",
        warm.log
    );
    assert_rebuild_gives(&store, fam.path(), &warm, &["app"]);
    store
}

#[test]
#[ignore = "needs root: make test"]
fn a_directory_on_the_way_that_became_a_symlink_is_not_rebased() {
    let fam = family(
        "RUN mkdir -p /srv /var/srv\n",
        &[("app", "FROM base\nCOPY site/ /srv/app/\n")],
    );
    let store = assert_refused(
        &fam,
        "RUN mkdir -p /var/srv && ln -s /var/srv /srv\n",
        "/srv is a directory 0755 0:0 in the old parent but a symlink 0777 0:0 -> /var/srv in the new one",
    );
    // The rebuilt COPY went through the symlink, as it does over the new base.
    assert_eq!(
        run_in(&store, "app", &["cat", "/var/srv/app/index.html"]),
        "<h1>app</h1>\n"
    );
}

#[test]
#[ignore = "needs root: make test"]
fn a_chown_user_missing_from_the_new_base_fails_the_build_and_is_not_rebased() {
    let app = "FROM base\nCOPY --chown=app:app conf/ /etc/app/\n";
    let fam = family("", &[("app", app)]);
    let store = Store::new();
    let cold = build(&store, fam.path(), &[]);
    let without_app = |text: &str| -> String {
        text.lines()
            .filter(|l| !l.starts_with("app:"))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    fam.write("base/etc/passwd", &without_app(PASSWD));
    fam.write("base/etc/group", &without_app(GROUP));

    // BuildKit fails a COPY whose --chown names a user the image lacks; so does strata,
    // and the layer made while the user existed is not reused in its place.
    let out = try_build(&store, fam.path(), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let warm = Build::parse(&out);
    warm.assert_nothing_rebased();
    assert_eq!(
        warm.step("app", "stage-0", 1),
        "not cached: parent rebuilt; not rebased: user app:app is 1000:1000 in the old parent but missing in the new one"
    );
    assert!(
        warm.log.contains("app/Dockerfile:2")
            && warm
                .log
                .contains("unable to find user app: no matching entries in passwd file"),
        "{}",
        warm.log
    );
    assert_eq!(
        store.tagged("app:latest"),
        cold.digest("app"),
        "app:latest is still the cold build"
    );
    // A cold build of the new family fails the same way: the rebase hid nothing.
    let fresh = try_build(&Store::new(), fam.path(), &[]);
    assert_eq!(fresh.status.code(), Some(2), "{}", describe(&fresh));
    assert!(
        String::from_utf8_lossy(&fresh.stderr)
            .contains("unable to find user app: no matching entries in passwd file"),
        "{}",
        describe(&fresh)
    );
}

#[test]
#[ignore = "needs root: make test"]
fn a_user_with_another_uid_in_the_new_base_is_not_rebased() {
    let app = "FROM base\nCOPY --chown=app:app conf/ /etc/app/\nUSER app\nWORKDIR /home/app/work\n";
    // WORKDIR's user is checked the same way: the USER in effect when it runs.
    let workdir_first = "FROM base\nUSER app\nWORKDIR /home/app/work\n";
    let fam = family("", &[("app", app), ("workapp", workdir_first)]);
    let store = Store::new();
    build(&store, fam.path(), &[]);
    fam.write(
        "base/etc/passwd",
        &PASSWD.replace(":1000:1000:", ":1002:1002:"),
    );
    fam.write("base/etc/group", &GROUP.replace(":1000:", ":1002:"));
    let warm = build(&store, fam.path(), &[]);
    warm.assert_nothing_rebased();
    assert_eq!(
        warm.step("app", "stage-0", 1),
        "not cached: parent rebuilt; not rebased: user app:app is 1000:1000 in the old parent but 1002:1002 in the new one"
    );
    // The WORKDIR comes after a step that was not rebased: its own-changes key is new,
    // so there is nothing over the old parent to reuse.
    let workdir = warm.step("app", "stage-0", 3);
    assert!(
        workdir.starts_with("not cached: parent rebuilt"),
        "{workdir}"
    );
    assert_eq!(
        owners(&store, "app", &["/etc/app/app.conf", "/home/app/work"]),
        "1002:1002 /etc/app/app.conf\n1002:1002 /home/app/work\n"
    );
    assert_eq!(
        warm.step("workapp", "stage-0", 2),
        "not cached: parent rebuilt; not rebased: user app is 1000:1000 in the old parent but 1002:1002 in the new one"
    );
    assert_eq!(
        owners(&store, "workapp", &["/home/app/work"]),
        "1002:1002 /home/app/work\n"
    );
    assert_rebuild_gives(&store, fam.path(), &warm, &["app", "workapp"]);
}

/// An app that COPYs into `/srv`, whose base makes `/srv` with `old_tail` then
/// `new_tail`: refused `because`, and `stat -c FORMAT /srv` in the result prints `want`.
fn assert_srv_change_refused(old_tail: &str, new_tail: &str, because: &str, stat: [&str; 2]) {
    let fam = family(old_tail, &[("app", "FROM base\nCOPY site/ /srv/app/\n")]);
    let store = assert_refused(&fam, new_tail, because);
    let [format, want] = stat;
    assert_eq!(run_in(&store, "app", &["stat", "-c", format, "/srv"]), want);
}

#[test]
#[ignore = "needs root: make test"]
fn a_directory_written_into_whose_mode_changed_is_not_rebased() {
    assert_srv_change_refused(
        "RUN mkdir -p /srv && chmod 755 /srv\n",
        "RUN mkdir -p /srv && chmod 775 /srv\n",
        "/srv is a directory 0755 0:0 in the old parent but a directory 0775 0:0 in the new one",
        ["%a", "775\n"],
    );
}

#[test]
#[ignore = "needs root: make test"]
fn a_directory_written_into_whose_owner_changed_is_not_rebased() {
    assert_srv_change_refused(
        "RUN mkdir -p /srv\n",
        "RUN mkdir -p /srv && chown 1000:1000 /srv\n",
        "/srv is a directory 0755 0:0 in the old parent but a directory 0755 1000:1000 in the new one",
        ["%u:%g", "1000:1000\n"],
    );
}

#[test]
#[ignore = "needs root: make test"]
fn copy_from_a_stage_rebases_unless_the_stage_derives_from_the_parent() {
    let fam = family(
        "",
        &[
            (
                "assets",
                "FROM scratch AS assets\nCOPY assets/ /assets/\n\
                 FROM base\nCOPY --from=assets /assets/ /srv/assets/\nCOPY site/ /srv/app/\n",
            ),
            (
                "derived",
                "FROM base AS gen\nRUN cat /etc/motd > /gen.txt\n\
                 FROM base\nCOPY --from=gen /gen.txt /srv/gen.txt\nCOPY site/ /srv/app/\n",
            ),
        ],
    );
    let store = Store::new();
    build(&store, fam.path(), &[]);
    fam.write("base/etc/motd", "welcome v2\n");
    let warm = build(&store, fam.path(), &[]);

    let assets = warm.steps("assets");
    assert_eq!(assets[&("assets".to_owned(), 1)], "CACHED", "{assets:?}");
    for n in [1, 2] {
        let step = warm.step("assets", "stage-1", n);
        assert!(step.starts_with("REBASED: "), "assets stage-1 {n}: {step}");
    }
    // The generated file comes from the parent: the COPY --from's key changed with it,
    // so there is no layer to reuse, and the new file is in the image.
    assert_eq!(warm.steps("derived").len(), 3, "{}", warm.log);
    warm.steps("derived").values().for_each(|s| {
        assert!(
            s.starts_with("not cached: parent rebuilt"),
            "{s}\n{}",
            warm.log
        )
    });
    assert_eq!(
        run_in(&store, "derived", &["cat", "/srv/gen.txt"]),
        "welcome v2\n"
    );

    assert_rebuild_gives(&store, fam.path(), &warm, &["assets", "derived"]);
}

/// Builds `fam`, applies `change` (which makes the WORKDIR /data of `app` run under
/// `other` instead of `app`), builds again: nothing is rebased, /data belongs to other,
/// and a rebuild gives the same digest.
fn assert_workdir_follows_user(fam: &Family, change: impl FnOnce(&Family)) {
    let store = Store::new();
    build(&store, fam.path(), &[]);
    change(fam);
    let warm = build(&store, fam.path(), &[]);
    warm.assert_nothing_rebased();
    assert_eq!(owners(&store, "app", &["/data"]), "1001:1001 /data\n");
    assert_rebuild_gives(&store, fam.path(), &warm, &["app"]);
}

/// Regression: WORKDIR's layer holds its directory owned by the USER in effect, and its
/// parent-free key once left that user out. A base whose USER changed (app -> other)
/// then had `WORKDIR /data` rebased with the directory still owned by app, a digest no
/// rebuild gives.
#[test]
#[ignore = "needs root: make test"]
fn a_workdir_under_the_bases_new_user_is_not_rebased() {
    let fam = family("USER app\n", &[("app", "FROM base\nWORKDIR /data\n")]);
    assert_workdir_follows_user(&fam, |fam| fam.set_base("USER other\n"));
}

/// The same with the parent unchanged: the app's own USER line changed, so the step's
/// full key misses, and its parent-free key must miss too.
#[test]
#[ignore = "needs root: make test"]
fn a_workdir_under_another_user_of_the_app_is_not_rebased() {
    let fam = family("", &[("app", "FROM base\nUSER app\nWORKDIR /data\n")]);
    assert_workdir_follows_user(&fam, |fam| {
        fam.write("app/Dockerfile", "FROM base\nUSER other\nWORKDIR /data\n");
    });
}
