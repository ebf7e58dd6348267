//! Commands as the image and the sandbox see them: argv of shell and exec forms, RUN
//! heredocs as BuildKit runs them, RUN's history line, HEALTHCHECK's config form.

use crate::dockerfile::{Command, Healthcheck};
use crate::image::HealthConfig;

use super::stage::State;

/// BuildKit's history line for RUN: `RUN |N K=V ... /bin/sh -c cmd`.
pub(super) fn run_history(state: &State<'_>, command: &Command) -> String {
    let args = state.args.step_args();
    let prefix = if args.is_empty() {
        String::new()
    } else {
        let pairs: Vec<String> = args.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("|{} {} ", pairs.len(), pairs.join(" "))
    };
    format!(
        "RUN {prefix}{}",
        command_args(command, &state.shell()).join(" ")
    )
}

/// The argv of a CMD/ENTRYPOINT/RUN: exec form as is, shell form through `shell`.
pub(super) fn command_args(command: &Command, shell: &[String]) -> Vec<String> {
    match command {
        Command::Exec(args) => args.clone(),
        Command::Shell(text) => {
            let mut args = shell.to_vec();
            args.push(text.clone());
            args
        }
    }
}

/// The argv and stdin of a RUN step, heredocs included as BuildKit runs them: a RUN that
/// is only a heredoc runs the body as a script (through its `#!` interpreter if it has
/// one, else the shell); otherwise the shell gets the command and the heredocs verbatim.
pub(super) fn run_command(
    run: &crate::dockerfile::Run,
    shell: &[String],
) -> (Vec<String>, Option<Vec<u8>>) {
    let Command::Shell(text) = &run.command else {
        return (command_args(&run.command, shell), None);
    };
    if run.heredocs.is_empty() {
        return (command_args(&run.command, shell), None);
    }
    let first = &run.heredocs[0];
    let bare = text
        .trim()
        .trim_start_matches("<<")
        .trim_start_matches('-')
        .trim_matches(|c| c == '"' || c == '\'');
    if run.heredocs.len() == 1 && bare == first.name {
        if let Some(line) = first.content.strip_prefix("#!") {
            let mut args: Vec<String> = line
                .lines()
                .next()
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            args.push("/dev/stdin".into());
            return (args, Some(first.content.clone().into_bytes()));
        }
        let mut args = shell.to_vec();
        args.push(first.content.clone());
        return (args, None);
    }
    let mut script = text.clone();
    for doc in &run.heredocs {
        script.push('\n');
        script.push_str(&doc.content);
        if !doc.content.ends_with('\n') {
            script.push('\n');
        }
        script.push_str(&doc.name);
    }
    let mut args = shell.to_vec();
    args.push(script);
    (args, None)
}

/// HEALTHCHECK in docker's config form. A zero duration means docker's default, which
/// BuildKit leaves out of the config (Go's `omitempty`).
pub(super) fn health_config(check: &Healthcheck) -> HealthConfig {
    match check {
        Healthcheck::None => HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..HealthConfig::default()
        },
        Healthcheck::Check {
            command,
            interval,
            timeout,
            start_period,
            start_interval,
            retries,
        } => {
            let test = match command {
                Command::Exec(args) => std::iter::once("CMD".to_owned())
                    .chain(args.iter().cloned())
                    .collect(),
                Command::Shell(text) => vec!["CMD-SHELL".to_owned(), text.clone()],
            };
            let set = |d: &Option<i64>| d.filter(|&n| n != 0);
            HealthConfig {
                test: Some(test),
                interval: set(interval),
                timeout: set(timeout),
                start_period: set(start_period),
                start_interval: set(start_interval),
                retries: *retries,
            }
        }
    }
}
