//! Crash consistency under `kill -9` at random instants: a seeded loop of builds, prunes
//! and pushes (to a real docker-registry on 127.0.0.1), each killed at a point drawn
//! from its own uninterrupted duration. After every kill `strata fsck` finds the store
//! sound and the kept image still reads; after the loop a build gives the digest a clean
//! build in a fresh store gives, the store's temp space is empty again, and a push goes
//! through whole. `STRATA_KILL_SEED` replays a failing sequence.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::registry::{Registry, RegistrySpec};
use common::{
    context_with, describe, output, require_environment, run_ok, skopeo_validate, Store, BASE,
};

/// How many kills the loop makes.
const KILLS: usize = 21;

/// A small deterministic generator (64-bit LCG, the high bits used), so a failing
/// sequence replays from its seed.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    /// A duration in [lo, hi).
    fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let span = (hi - lo).as_micros().max(1) as u64;
        lo + Duration::from_micros(self.next() % span)
    }
}

/// The entries of the store's `tmp/`.
fn temp_entries(store: &Path) -> Vec<String> {
    std::fs::read_dir(store.join("tmp"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The operations the loop kills.
#[derive(Clone, Copy, Debug)]
enum Op {
    Build,
    Prune,
    Push,
}

/// Runs `strata fsck` and insists the store is sound.
fn assert_sound(store: &Store, when: &str) {
    let out = output(store.strata().arg("fsck"));
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("store is sound"),
        "{when}: {}",
        describe(&out)
    );
}

#[test]
#[ignore = "needs root: make test"]
fn kills_at_random_instants_never_break_the_store() {
    require_environment();
    let seed = std::env::var("STRATA_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x6b11_1a11_u64);
    let mut rng = Seeded(seed);

    // Deterministic content big enough that a kill lands in extraction, hashing,
    // compression or upload rather than only in start-up.
    let victim = context_with(&format!(
        "{BASE}RUN mkdir /many && cd /many && seq 1 4000 | xargs touch\n\
         COPY noise /noise\n\
         RUN cat /noise /noise > /noise2 && echo done > /done\n"
    ));
    let mut noise = Seeded(7);
    let bytes: Vec<u8> = (0..16 << 20).map(|_| noise.next() as u8).collect();
    std::fs::write(victim.path().join("noise"), &bytes).unwrap();
    let kept = context_with(&format!("{BASE}COPY noise /kept\n"));
    std::fs::write(kept.path().join("noise"), &bytes[..8 << 20]).unwrap();

    // The reference: a clean build in a fresh store, and how long each operation takes.
    let reference = Store::new();
    let started = Instant::now();
    reference.build(victim.path(), "victim:1", &[]);
    let build_time = started.elapsed();
    let expected = reference.tagged("victim:1");

    let registry = Registry::start(&RegistrySpec::default());
    let store = Store::new();
    store.build(kept.path(), "kept:1", &[]);
    let started = Instant::now();
    run_ok(store.strata().args([
        "push",
        "kept:1",
        &format!("{}/kill/timing:1", registry.host()),
    ]));
    let push_time = started.elapsed();
    store.build(victim.path(), "victim:1", &[]);
    run_ok(store.strata().args(["rmi", "victim:1"]));
    let started = Instant::now();
    run_ok(store.strata().args(["prune", "--all"]));
    let prune_time = started.elapsed();

    let mut log = Vec::new();
    for round in 0..KILLS {
        let op = [Op::Build, Op::Prune, Op::Push][(rng.next() % 3) as usize];
        let mut command = store.strata();
        let span = match op {
            Op::Build => {
                command
                    .args(["build", "--progress", "plain", "-t", "victim:1"])
                    .arg(victim.path());
                build_time
            }
            Op::Prune => {
                // Give the prune something to delete: the victim's layers, untagged.
                store.build(victim.path(), "victim:1", &[]);
                run_ok(store.strata().args(["rmi", "victim:1"]));
                command.args(["prune", "--all"]);
                prune_time
            }
            Op::Push => {
                // New content each time, so the push uploads rather than mounts.
                let mut fresh = Seeded(round as u64);
                let bytes: Vec<u8> = (0..8 << 20).map(|_| fresh.next() as u8).collect();
                std::fs::write(kept.path().join("noise"), bytes).unwrap();
                let name = format!("round{round}:1");
                store.build(kept.path(), &name, &[]);
                command.args(["push", &name, &format!("{}/kill/{name}", registry.host())]);
                push_time
            }
        };
        // Within the first half of the operation's measured time, so that a kill lands
        // mid-operation even when the machine is slower now than when it was measured.
        let wait = rng.between(
            Duration::from_millis(5),
            span / 2 + Duration::from_millis(5),
        );
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(wait);
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill();
        child.wait().unwrap();
        log.push(format!(
            "round {round}: {op:?} killed after {wait:?}{}",
            if finished { " (had finished)" } else { "" }
        ));
        let when = format!("seed {seed:#x}\n{}", log.join("\n"));
        assert_sound(&store, &when);
        skopeo_validate(store.path(), "kept:1");
    }
    let kills = log
        .iter()
        .filter(|l| !l.ends_with("(had finished)"))
        .count();
    assert!(
        kills >= KILLS / 2,
        "too few kills landed mid-operation:\n{}",
        log.join("\n")
    );

    // The store builds the image a clean store builds, byte for byte, and the kills'
    // temp space is gone once that build has run.
    store.build(victim.path(), "victim:1", &[]);
    assert_eq!(store.tagged("victim:1"), expected, "{}", log.join("\n"));
    assert_eq!(temp_entries(store.path()), Vec::<String>::new());
    assert_sound(&store, "after the loop");

    // A push after killed pushes is whole: skopeo reads it back, blob digests checked.
    let dest = format!("{}/kill/final:1", registry.host());
    run_ok(store.strata().args(["push", "kept:1", &dest]));
    let copy = tempfile::tempdir().unwrap();
    run_ok(Command::new("skopeo").args([
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{dest}"),
        &format!("oci:{}:final", copy.path().display()),
    ]));
    skopeo_validate(copy.path(), "final");
}
