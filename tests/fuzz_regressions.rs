//! Inputs the fuzz targets in fuzz/ found (docs/fuzzing.md), minimised, fed through the
//! same public API as their target. Each also sits in its target's corpus
//! (fuzz/corpus/TARGET/), so `make fuzz` replays it too.

use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use strata::dockerfile::expand;

/// Runs `f` on another thread and fails if it has not returned after a minute: the bugs
/// here were hangs, and a test that hangs reports nothing.
fn within_a_minute<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || tx.send(f()));
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(value) => value,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what} did not finish within 60 s"),
        // The worker panicked: pass its panic on.
        Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(_) => unreachable!("the worker sends before it returns"),
        },
    }
}

/// The variable the `expand` fuzz target sets that holds spaces and quotes.
const SPACED: &str = " x  'y' \"z\" *.? ";

/// What bash makes of `${V<op>}` with `V` set to `value`: the reference the shell
/// patterns of `${V#pat}`, `${V%pat}` and `${V/pat/repl}` follow.
fn bash(value: &str, op: &str) -> String {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("printf %s \"${{V{op}}}\""))
        .env("V", value)
        .output()
        .expect("run bash");
    assert!(out.status.success(), "bash failed on {op}");
    String::from_utf8(out.stdout).expect("bash prints UTF-8")
}

fn expand_with(value: &str, op: &str) -> String {
    let lookup = |name: &str| (name == "V").then(|| value.to_owned());
    expand::word(&format!("${{V{op}}}"), '\\', &lookup)
        .unwrap_or_else(|e| panic!("${{V{op}}} does not expand: {e}"))
}

/// fuzz/artifacts/expand/timeout-291ec627…: `${SPACED#` and 23 `*` before `?z`. Pattern
/// removal backtracked over every way of splitting the text among the stars, exponential
/// in their number: the input ran past libFuzzer's 10 s timeout.
#[test]
fn many_stars_in_a_removal_pattern_finish() {
    let input = format!("${{SPACED#{}?z}}", "*".repeat(23));
    let got = within_a_minute("23 stars", move || {
        let lookup = |name: &str| (name == "SPACED").then(|| SPACED.to_owned());
        expand::word(&input, '\\', &lookup)
    });
    assert_eq!(
        got.unwrap(),
        bash(SPACED, &format!("#{}?z", "*".repeat(23)))
    );
    // Longer: 60 stars and a pattern that never matches, over a 2000-character value.
    let value = "ab/".repeat(700);
    let pattern = format!("{}q", "*".repeat(60));
    for op in ["#{}", "##{}", "%{}", "%%{}", "/{}/x", "//{}/x"] {
        let (v, op) = (value.clone(), op.replace("{}", &pattern));
        let got = within_a_minute(&op.clone(), move || expand_with(&v, &op));
        assert_eq!(got, value, "a pattern that matches nothing");
    }
}

/// The linear matcher that replaced the backtracking one gives bash's answers for every
/// removal and replacement form, shortest and longest. (bash's anchored `${V/#p/r}`
/// is left out: BuildKit reads the `#` literally, and so does strata.)
#[test]
fn removal_and_replacement_patterns_agree_with_bash() {
    let values = ["/usr/local/bin/tool.tar.gz", "aaa", "", "a*b?c", SPACED];
    let ops = [
        "#*/", "##*/", "%.*", "%%.*", "#a", "##a*", "%a", "%%*a", "#", "%", "#*", "%%*", "#?",
        "%?", "#\\*", "%\\?c", "#*\\*", "/a/x", "//a/x", "/*/x", "//?/x", "/a*/x", "//*./-",
        "/l*l/L", "#*y", "%%z*", "// /_",
    ];
    for value in values {
        for op in ops {
            assert_eq!(
                expand_with(value, op),
                bash(value, op),
                "${{V{op}}} with V={value:?}"
            );
        }
    }
}
