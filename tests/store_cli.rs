//! The store commands a docker user reaches for, through the `strata` binary: `rmi`
//! (untag; `prune` then frees the blobs; a typo removes nothing), `history` (docker's
//! columns: image ID, instruction cut at 45 characters, layer sizes as docker counts and
//! prints them), `df`, `version` (needs no store), a plain build without `-t` not
//! claiming to tag anything, printing commands ending quietly on a closed pipe, and the
//! completions and man pages generated from the command definitions.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};

use common::{context_with, describe, output, require_environment, run_ok, Store, BASE};
use serde_json::Value;

/// A store with `app:1` (and `app:2`, the same image): busybox, a 3000-byte file, ENV.
fn store_with_app() -> Store {
    require_environment();
    let store = Store::new();
    let ctx = context_with(&format!(
        "{BASE}RUN head -c 3000 /dev/zero > /data && ln /data /data.link\nENV A_VERY_LONG_VARIABLE_NAME=a-rather-long-value-to-cut\n"
    ));
    store.build(ctx.path(), "app:1", &[]);
    run_ok(store.strata().args(["tag", "app:1", "app:2"]));
    store
}

fn stdout(store: &Store, args: &[&str]) -> String {
    String::from_utf8_lossy(&run_ok(store.strata().args(args)).stdout).into_owned()
}

#[test]
#[ignore = "needs root: make test"]
fn rmi_untags_and_prune_then_frees_the_blobs() {
    let store = store_with_app();
    // One unknown tag among known ones: an error, and nothing is removed.
    let wrong = output(store.strata().args(["rmi", "app:1", "nope:1"]));
    assert_eq!(wrong.status.code(), Some(2), "{}", describe(&wrong));
    assert!(stdout(&store, &["images"]).contains("app:1"));

    let first = stdout(&store, &["rmi", "app:1"]);
    assert_eq!(first, "Untagged: app:1\n", "app:2 still names the image");
    let nothing = stdout(&store, &["prune"]);
    assert!(nothing.starts_with("removed 0 blobs"), "{nothing}");
    let second = stdout(&store, &["rmi", "app:2"]);
    assert!(
        second.starts_with("Untagged: app:2\nUnreferenced: sha256:"),
        "{second}"
    );
    assert!(!stdout(&store, &["images"]).contains("app:"));
    let freed = stdout(&store, &["prune", "--all"]);
    assert!(
        !freed.starts_with("removed 0 blobs"),
        "prune after rmi frees the image's blobs: {freed}"
    );
    let gone = output(store.strata().args(["inspect", "app:2"]));
    assert_eq!(gone.status.code(), Some(2), "{}", describe(&gone));
}

#[test]
#[ignore = "needs root: make test"]
fn history_has_dockers_columns_sizes_and_cuts() {
    let store = store_with_app();
    let config: Value = serde_json::from_str(&stdout(&store, &["inspect", "app:1"])).unwrap();
    let manifest: Value =
        serde_json::from_str(&stdout(&store, &["inspect", "--manifest", "app:1"])).unwrap();
    let entries: Vec<&Value> = config["history"].as_array().unwrap().iter().rev().collect();
    let table = stdout(&store, &["history", "app:1"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("IMAGE "), "{table}");
    assert_eq!(lines.len(), entries.len() + 1, "{table}");
    let image_id = &manifest["config"]["digest"].as_str().unwrap()["sha256:".len()..][..12];
    assert!(lines[1].starts_with(image_id), "{table}");
    assert!(
        lines[2..].iter().all(|l| l.starts_with("<missing>")),
        "{table}"
    );
    // The ENV line is cut as docker cuts it: 44 characters and an ellipsis.
    let env = entries[0]["created_by"].as_str().unwrap();
    let cut: String = env.chars().take(44).collect();
    assert!(lines[1].contains(&format!("{cut}…")), "{table}");
    assert!(lines[1].contains(" 0B "), "{table}");
    // The RUN layer adds 3000 bytes once, though two names link them.
    let run_line = lines.iter().find(|l| l.contains("head -c 3000")).unwrap();
    assert!(run_line.contains(" 3kB "), "{table}");
    let whole = stdout(&store, &["history", "--no-trunc", "app:1"]);
    assert!(whole.contains(env), "{whole}");

    let json: Value =
        serde_json::from_str(&stdout(&store, &["history", "--format", "json", "app:1"])).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), entries.len());
    for (row, entry) in rows.iter().zip(&entries) {
        assert_eq!(row["created_by"], entry["created_by"]);
    }
    let sizes: Vec<u64> = rows.iter().map(|r| r["size"].as_u64().unwrap()).collect();
    assert!(sizes.contains(&3000), "{sizes:?}");
}

#[test]
#[ignore = "needs root: make test"]
fn history_names_every_line_of_a_continued_instruction() {
    require_environment();
    let store = Store::new();
    let ctx = context_with(&format!(
        "{BASE}COPY busybox \\\n    # a comment line\n    busybox /copied/\nLABEL a=1 \\\n      b=2\n"
    ));
    store.build(ctx.path(), "multi:1", &[]);
    let config: Value = serde_json::from_str(&stdout(&store, &["inspect", "multi:1"])).unwrap();
    let created_by: Vec<&str> = config["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["created_by"].as_str().unwrap())
        .collect();
    assert!(
        created_by.contains(&"COPY busybox     busybox /copied/ # buildkit"),
        "{created_by:?}"
    );
    assert!(
        created_by.contains(&"LABEL a=1       b=2 # buildkit"),
        "{created_by:?}"
    );
}

#[test]
#[ignore = "needs root: make test"]
fn df_and_version_and_a_build_without_tags() {
    let store = store_with_app();
    let df = stdout(&store, &["df"]);
    let images = df.lines().find(|l| l.starts_with("Images")).unwrap();
    assert!(images.split_whitespace().nth(1) == Some("1"), "{df}");
    assert!(
        df.contains("Snapshots") && df.contains("Step cache"),
        "{df}"
    );

    // version needs no store and creates none.
    let dir = common::temp_dir("strata-version-");
    let missing = dir.path().join("no-store");
    let version = run_ok(
        Command::new(env!("CARGO_BIN_EXE_strata"))
            .arg("--store")
            .arg(&missing)
            .arg("version"),
    );
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("strata "));
    assert!(!missing.exists());

    let ctx = context_with(&format!("{BASE}RUN echo plain > /u\n"));
    let out = run_ok(
        store
            .strata()
            .args(["build", "--progress", "plain"])
            .arg(ctx.path()),
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!log.contains("tagged"), "{log}");
    assert!(log.contains("built sha256:"), "{log}");
}

#[test]
fn printing_commands_end_quietly_on_a_closed_pipe() {
    // A family whose graph is far larger than a pipe's buffer, so the writer meets the
    // closed pipe for sure.
    let dir = common::temp_dir("strata-pipe-");
    let family = dir.path().join("family");
    let mut toml = "[family]\nname = \"wide\"\n".to_owned();
    let mut files = Vec::new();
    for n in 0..1500 {
        toml.push_str(&format!("\n[images.app{n}]\ntier = \"app\"\n"));
        files.push((format!("app{n}/Dockerfile"), "FROM scratch\n".to_owned()));
    }
    files.push(("strata.toml".to_owned(), toml));
    common::write_files(&family, &files);
    for _ in 0..5 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
            .arg("--store")
            .arg(dir.path().join("store"))
            .args(["graph", "--format", "json"])
            .arg(&family)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read one byte, then close the pipe, as `| head -c1` does.
        let mut out = child.stdout.take().unwrap();
        let mut byte = [0u8; 1];
        out.read_exact(&mut byte).unwrap();
        drop(out);
        let done = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&done.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            done.status.success() || done.status.code().is_none(),
            "{:?}: {stderr}",
            done.status
        );
    }
}

#[test]
fn completions_and_man_pages_come_from_the_command_definitions() {
    let strata = env!("CARGO_BIN_EXE_strata");
    let script = run_ok(Command::new(strata).args(["completions", "bash"]));
    let dir = common::temp_dir("strata-gen-");
    let file = dir.path().join("strata.bash");
    std::fs::write(&file, &script.stdout).unwrap();
    // bash loads it and completes `strata reb` to the rebase command.
    let words = run_ok(Command::new("bash").arg("-c").arg(format!(
        "source {}; COMP_WORDS=(strata reb); COMP_CWORD=1; COMP_LINE='strata reb'; COMP_POINT=10; _strata strata reb strata; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file.display()
    )));
    assert_eq!(String::from_utf8_lossy(&words.stdout).trim(), "rebase");
    for shell in ["zsh", "fish"] {
        let out = run_ok(Command::new(strata).args(["completions", shell]));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("rebase"),
            "{shell}"
        );
    }
    let man = dir.path().join("man");
    run_ok(Command::new(strata).arg("man").arg(&man));
    let page = std::fs::read_to_string(man.join("strata-rebase.1")).unwrap();
    assert!(
        page.contains(".TH strata-rebase") && page.contains("onto"),
        "{page}"
    );
    assert!(man.join("strata.1").is_file() && man.join("strata-build.1").is_file());
    let bad = output(Command::new(strata).args(["completions", "tcsh"]));
    assert_eq!(bad.status.code(), Some(2), "{}", describe(&bad));
}
