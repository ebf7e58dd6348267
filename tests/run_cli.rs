//! `strata run`'s docker flags through the CLI: without `-i` the command reads
//! /dev/null, with `-i` the caller's stdin; `-t` gives it a terminal in the sandbox's own
//! devpts (`/dev/pts/0`, 24x80 when the caller has none, the session's controlling tty);
//! `-it` without a terminal is refused as docker refuses it; `--rm` is accepted.

mod common;

use std::process::Command;

use common::{context_with, describe, output, output_with_stdin, require_environment, Store, BASE};

/// A store holding `run:1`, a busybox image.
fn store_with_image() -> Store {
    let store = Store::new();
    let ctx = context_with(BASE);
    store.build(ctx.path(), "run:1", &[]);
    store
}

#[test]
#[ignore = "needs root: make test"]
fn stdin_reaches_the_command_only_with_i() {
    require_environment();
    let store = store_with_image();
    let mut plain = store.strata();
    plain.args(["run", "run:1", "--", "cat"]);
    let out = output_with_stdin(&mut plain, "typed\n");
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");

    let mut interactive = store.strata();
    interactive.args(["run", "-i", "--rm", "run:1", "--", "cat"]);
    let out = output_with_stdin(&mut interactive, "typed\n");
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "typed\n");
}

#[test]
#[ignore = "needs root: make test"]
fn t_gives_the_command_a_terminal_of_its_own() {
    require_environment();
    let store = store_with_image();
    let out = output(store.strata().args([
        "run",
        "-t",
        "run:1",
        "--",
        "sh",
        "-c",
        // Its own terminal, its controlling one (`/dev/tty` opens), sized 24x80.
        "tty; stty size; echo ok > /dev/tty; exit 3",
    ]));
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    // A terminal turns \n into \r\n.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "/dev/pts/0\r\n24 80\r\nok\r\n"
    );

    // Without -t there is no terminal.
    let out = output(store.strata().args(["run", "run:1", "--", "tty"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "not a tty\n");
}

#[test]
#[ignore = "needs root: make test"]
fn it_reads_keys_from_a_terminal_and_needs_one() {
    require_environment();
    let store = store_with_image();
    let out = output(
        store
            .strata()
            .args(["run", "-it", "run:1", "--", "true"])
            .stdin(std::process::Stdio::null()),
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the input device is not a TTY"),
        "{}",
        describe(&out)
    );

    // On a pseudo-terminal (script(1)), what is typed reaches the command.
    let command = format!(
        "{} --store {} run -it run:1 -- sh -c 'read line; echo \"got $line\"'",
        env!("CARGO_BIN_EXE_strata"),
        store.path().display()
    );
    let mut script = Command::new("script");
    script.args(["-q", "-e", "-c", &command, "/dev/null"]);
    let out = output_with_stdin(&mut script, "hello\n");
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("got hello\r\n"),
        "{}",
        describe(&out)
    );
}
