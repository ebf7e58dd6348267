//! The live (terminal) view of `strata build`, run on a real pseudo-terminal by
//! `script(1)`: when the build ends, the list of finished steps stays on the screen, with
//! CACHED marks and step times, as BuildKit's view keeps it.

mod common;

use std::path::Path;
use std::process::Command;

use common::{context_with, describe, require_environment, run_ok, Store, BASE};

/// What a build in the live view leaves on the terminal: the pty's output played on
/// [`screen`], so that what indicatif redrew or erased is gone as it is for a user.
fn on_a_terminal(store: &Store, context: &Path, tag: &str) -> String {
    let command = format!(
        "{} --store {} build --progress tty -t {tag} {}",
        env!("CARGO_BIN_EXE_strata"),
        store.path().display(),
        context.display()
    );
    let out = run_ok(
        Command::new("script")
            .args(["-q", "-e", "-c", &command, "/dev/null"])
            .env("TERM", "xterm")
            .env_remove("CI"),
    );
    let text = screen(&String::from_utf8_lossy(&out.stdout));
    assert!(!text.is_empty(), "no output: {}", describe(&out));
    text
}

/// The width indicatif assumes for a pty that reports no size (script's).
const WIDTH: usize = 80;

/// The final screen of a terminal after `output`: a minimal emulator of what indicatif
/// sends (text wrapped at [`WIDTH`], `\r`, `\n`, and the CSI sequences for cursor
/// up/down/column and erase in line/display); other sequences are dropped.
fn screen(output: &str) -> String {
    let mut lines: Vec<Vec<char>> = vec![Vec::new()];
    let (mut row, mut col) = (0usize, 0usize);
    let mut chars = output.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => col = 0,
            '\n' => {
                row += 1;
                col = 0;
            }
            '\u{1b}' if chars.peek() == Some(&'[') => {
                chars.next();
                let mut params = String::new();
                let mut command = ' ';
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        command = c;
                        break;
                    }
                    params.push(c);
                }
                let n: usize = params.trim_start_matches('?').parse().unwrap_or(0);
                match command {
                    'A' => row = row.saturating_sub(n.max(1)),
                    'B' => row += n.max(1),
                    'G' => col = n.saturating_sub(1),
                    'K' if n == 2 => lines[row].clear(),
                    'K' => lines[row].truncate(col),
                    'J' => {
                        lines[row].truncate(col);
                        lines.truncate(row + 1);
                    }
                    _ => {}
                }
            }
            '\u{1b}' => {}
            c => {
                // Auto-wrap, which indicatif relies on: it pads lines to the width.
                if col == WIDTH {
                    row += 1;
                    col = 0;
                    if lines.len() <= row {
                        lines.resize(row + 1, Vec::new());
                    }
                }
                let line = &mut lines[row];
                if line.len() <= col {
                    line.resize(col, ' ');
                    line.push(c);
                } else {
                    line[col] = c;
                }
                col += 1;
            }
        }
        if lines.len() <= row {
            lines.resize(row + 1, Vec::new());
        }
    }
    lines
        .iter()
        .map(|l| l.iter().collect::<String>().trim_end().to_owned() + "\n")
        .collect()
}

#[test]
#[ignore = "needs root: make test"]
fn the_live_view_keeps_the_list_of_steps_with_cached_marks_and_times() {
    require_environment();
    let store = Store::new();
    let ctx = context_with(&format!(
        "{BASE}RUN echo one > /one\nCOPY busybox /copied\nENV A=1\n"
    ));
    let first = on_a_terminal(&store, ctx.path(), "live:1");
    let steps: Vec<&str> = first.lines().filter(|l| l.starts_with("=> [")).collect();
    assert_eq!(steps.len(), 5, "{first}");
    assert!(
        steps
            .iter()
            .any(|l| l.starts_with("=> [stage-0 3/5] RUN echo one > /one  ") && l.ends_with('s')),
        "{first}"
    );
    assert!(first.contains("=> tagged live:1 ("), "{first}");
    assert!(first.contains("1 image (1 built, 0 reused)"), "{first}");
    // Nothing of the spinners is left.
    assert!(
        !first.contains('⠁') && !first.contains("0s [stage-0"),
        "{first}"
    );

    let second = on_a_terminal(&store, ctx.path(), "live:2");
    let cached: Vec<&str> = second
        .lines()
        .filter(|l| l.starts_with("=> CACHED ["))
        .collect();
    // Every step that writes a layer comes from the cache the second time.
    assert!(
        cached.iter().any(|l| l.contains("RUN echo one > /one")),
        "{second}"
    );
    assert!(
        cached.iter().any(|l| l.contains("COPY busybox /copied")),
        "{second}"
    );
    assert!(second.contains("=> tagged live:2"), "{second}");
}
