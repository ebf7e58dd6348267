//! The rules on RUN, by group: package manager caches (in `caches`), apt usage and
//! upgrades, shell pitfalls (pipes to a shell, `cd`, `sudo`, pipefail), package lists,
//! and later-layer cleanup of what earlier steps added.
//!
//! [`check_run`] takes one RUN as a [`Script`] with its stage's [`History`] and hands it
//! to each group in turn. The groups do not see each other's findings; what one RUN
//! adds to the history is only ever compared with later RUNs, so their order does not
//! change what is found.

use super::caches;
use super::context::{Ctx, Out, Role};
use super::packages::{package_name, package_op, Manager, PackageOp};
use super::plural;
use super::rules::RuleId;
use super::script::{covers, History, Script};
use super::shell::{Cmd, Join, Word};
use crate::dockerfile::Span;

/// The rules on one RUN's commands; `span` is the RUN, already counted in
/// `history.layers`.
pub(super) fn check_run(
    script: &Script,
    ctx: &Ctx,
    env_no_pip_cache: bool,
    pipefail_shell: bool,
    history: &mut History,
    span: Span,
    out: &mut Out,
) {
    let layer = history.layers;
    let line = span.line;
    caches::check_left(script, env_no_pip_cache, history, layer, line, out);
    caches::check_removed(script, history, layer, out);
    check_apt(script, ctx, out);
    check_shell_pitfalls(script, pipefail_shell, out);
    // One pass for the two groups that both report STR020: findings at one position
    // (all words of an exec form's `sh -c` share one) keep the order of the commands.
    for cmd in &script.cmds {
        check_packages(cmd, history, layer, line, out);
        check_later_changes(cmd, history, layer, line, out);
    }
}

/// STR010 to STR013: `apt-get update` without an install, `install` without `-y` or
/// `--no-install-recommends`, and upgrades (apt, apk, dnf) outside the base tier.
fn check_apt(script: &Script, ctx: &Ctx, out: &mut Out) {
    let mut seen_update = None::<&Cmd>;
    let mut installs_after_update = false;
    for cmd in &script.cmds {
        let program = cmd.program();
        let Some(program_word) = cmd.words.get(cmd.program_index()) else {
            continue;
        };
        if !matches!(program, "apt-get" | "apt") {
            if ctx.role != Role::Base {
                check_other_upgrade(cmd, program_word, out);
            }
            continue;
        }
        let Some((_, sub)) = cmd.subcommand() else {
            continue;
        };
        let (offset, len) = (
            program_word.offset,
            sub.offset + sub.len - program_word.offset,
        );
        match sub.text.as_str() {
            "update" => seen_update = Some(cmd),
            "upgrade" | "dist-upgrade" | "full-upgrade" | "build-dep" | "source" | "download"
            | "install"
                if seen_update.is_some() =>
            {
                installs_after_update = true;
            }
            _ => {}
        }
        match sub.text.as_str() {
            "install" => {
                let yes = cmd.args().iter().any(|w| {
                    matches!(
                        w.text.as_str(),
                        "-y" | "--yes" | "--assume-yes" | "-qq" | "-q=2" | "--quiet=2"
                    ) || (w.text.starts_with('-')
                        && !w.text.starts_with("--")
                        && w.text.contains('y'))
                });
                if !yes {
                    out.at(
                        RuleId::AptInstallNoYes,
                        offset,
                        len,
                        format!(
                            "`{program} install` without -y waits for an answer that never comes"
                        ),
                    );
                }
                let no_rec = cmd.args().iter().any(|w| {
                    w.text == "--no-install-recommends"
                        || w.text.contains("Install-Recommends=false")
                        || w.text.contains("Install-Recommends=0")
                });
                if !no_rec {
                    out.at(RuleId::AptInstallRecommends, offset, len, format!("`{program} install` without --no-install-recommends also installs recommended packages"));
                }
            }
            "upgrade" | "dist-upgrade" | "full-upgrade" if ctx.role != Role::Base => {
                out.at(
                    RuleId::UpgradeOutsideBase,
                    offset,
                    len,
                    format!("`{program} {}` outside the base tier", sub.text),
                );
            }
            _ => {}
        }
    }
    if let Some(update) = seen_update {
        if !installs_after_update {
            let pw = &update.words[update.program_index()];
            let sub = update.subcommand().map_or(pw, |(_, w)| w);
            let alone = script.cmds.len() == 1;
            let message = if alone {
                "`apt-get update` in a RUN of its own: a later install runs against this cached, stale index"
            } else {
                "`apt-get update` not followed by an install in the same RUN"
            };
            out.at(
                RuleId::AptUpdateAlone,
                pw.offset,
                sub.offset + sub.len - pw.offset,
                message.to_owned(),
            );
        }
    }
}

/// STR013 for `apk upgrade` and a whole-system `yum`/`dnf upgrade` (or `update`).
fn check_other_upgrade(cmd: &Cmd, program_word: &Word, out: &mut Out) {
    let program = cmd.program();
    let upgrade = match (program, cmd.subcommand()) {
        ("apk", Some((_, s))) if s.text == "upgrade" => Some(s),
        ("yum" | "dnf" | "microdnf", Some((at, s)))
            if matches!(s.text.as_str(), "upgrade" | "update")
                && cmd.args()[at + 1..].iter().all(|w| w.text.starts_with('-')) =>
        {
            Some(s)
        }
        _ => None,
    };
    if let Some(sub) = upgrade {
        out.at(
            RuleId::UpgradeOutsideBase,
            program_word.offset,
            sub.offset + sub.len - program_word.offset,
            format!("`{program} {}` outside the base tier", sub.text),
        );
    }
}

/// STR042, STR062, STR070, STR074: a download piped into a shell, `cd` outside a
/// subshell, `sudo`, a pipe without pipefail.
fn check_shell_pitfalls(script: &Script, pipefail_shell: bool, out: &mut Out) {
    const SHELLS: [&str; 6] = ["sh", "bash", "ash", "dash", "zsh", "ksh"];
    for (i, cmd) in script.cmds.iter().enumerate() {
        let program = cmd.program();
        let program_word = cmd.words.get(cmd.program_index());
        if cmd.words.first().is_some_and(|w| w.text == "sudo") {
            out.word(RuleId::SudoInRun, &cmd.words[0], "sudo in RUN".to_owned());
        }
        if program == "cd" && !cmd.subshell && script.shell {
            out.word(
                RuleId::CdInRun,
                &cmd.words[cmd.program_index()],
                "`cd` in RUN: the next instruction starts in the WORKDIR again".to_owned(),
            );
        }
        let Some(pw) = program_word else { continue };
        if cmd.join == Join::Pipe {
            let prev = &script.cmds[i - 1];
            if matches!(prev.program(), "curl" | "wget") && SHELLS.contains(&program) {
                out.word(
                    RuleId::PipeToShell,
                    pw,
                    format!(
                        "pipes a download from {} straight into {program}",
                        prev.program()
                    ),
                );
            }
        }
        let substitutes_download = cmd
            .args()
            .iter()
            .any(|w| w.text.contains("$(curl") || w.text.contains("$(wget"));
        if matches!(program, "sh" | "bash") && substitutes_download {
            out.word(
                RuleId::PipeToShell,
                pw,
                format!("runs a script downloaded by a command substitution with {program}"),
            );
        }
    }
    if script.shell && !pipefail_shell {
        let set_pipefail = script
            .cmds
            .iter()
            .any(|c| c.program() == "set" && c.args().iter().any(|w| w.text.contains("pipefail")));
        if let Some(pipe) = script.cmds.iter().find(|c| c.join == Join::Pipe) {
            if !set_pipefail {
                out.word(
                    RuleId::PipeWithoutPipefail,
                    &pipe.words[0],
                    "a pipe without pipefail: only the last command's failure fails the RUN"
                        .to_owned(),
                );
            }
        }
    }
}

/// STR021, STR022 on an install's list, and STR020 for an uninstall of a package an
/// earlier RUN installed; installs are remembered in `history`.
fn check_packages(cmd: &Cmd, history: &mut History, layer: usize, line: usize, out: &mut Out) {
    let Some(op) = package_op(cmd) else { return };
    if op.install {
        check_package_list(&op, out);
        for w in &op.packages {
            history
                .packages
                .push((op.manager, package_name(&w.text).to_owned(), layer, line));
        }
        if op.manager == Manager::Apk {
            let virtual_name = cmd
                .args()
                .iter()
                .position(|w| w.text == "--virtual" || w.text == "-t")
                .and_then(|pos| cmd.args().get(pos + 1));
            if let Some(v) = virtual_name {
                history
                    .packages
                    .push((op.manager, v.text.clone(), layer, line));
            }
        }
        return;
    }
    for w in &op.packages {
        let name = package_name(&w.text);
        if let Some((_, _, at, at_line)) = history
            .packages
            .iter()
            .find(|(m, n, at, _)| *m == op.manager && n == name && *at < layer)
        {
            let apart = layer - at;
            out.word(RuleId::LaterLayerCleanup, w, format!("removes `{name}`, installed by the RUN on line {at_line} ({apart} layer{} earlier): that layer still ships it", plural(apart)))
                .hint = format!("install, use and remove it in one RUN (merge into line {at_line})");
        }
    }
}

/// STR021, STR022 on one install's package list.
fn check_package_list(op: &PackageOp, out: &mut Out) {
    let names: Vec<(String, &Word)> = op
        .packages
        .iter()
        .map(|w| (package_name(&w.text).to_ascii_lowercase(), *w))
        .collect();
    for (i, (name, w)) in names.iter().enumerate() {
        if let Some((_, first)) = names[..i].iter().find(|(n, _)| n == name) {
            let line = out.source.span_at(first.offset, 0).line;
            out.word(
                RuleId::DuplicatePackages,
                w,
                format!("`{name}` is already in this list (line {line})"),
            );
        }
    }
    if !op.manager.is_os() || names.len() < 2 {
        return;
    }
    let lines = |w: &Word| out.source.span_at(w.offset, 0).line;
    let multi_line = lines(names[0].1) != lines(names[names.len() - 1].1);
    if !multi_line {
        return;
    }
    if let Some(pair) = names.windows(2).find(|p| p[1].0 < p[0].0) {
        let message = format!(
            "`{}` comes after `{}`: the list is not sorted",
            pair[1].0, pair[0].0
        );
        out.word(RuleId::UnsortedPackages, pair[1].1, message);
    }
}

/// STR020 for `rm` and `chown -R`/`chmod -R` over what an earlier COPY, ADD or download
/// added; downloads (`curl -o`, `wget -O`) are remembered in `history`.
fn check_later_changes(cmd: &Cmd, history: &mut History, layer: usize, line: usize, out: &mut Out) {
    let program = cmd.program();
    match program {
        "rm" => {
            for w in cmd.args().iter().filter(|w| !w.text.starts_with('-')) {
                let target = history.resolve(&w.text);
                let glob = w.text.ends_with('*');
                if let Some((_, _, at, at_line, what)) =
                    history.paths.iter().find(|(p, is_dir, at, _, _)| {
                        *at < layer
                            && (covers(&target, p)
                                || (glob && p.starts_with(&target))
                                || (*is_dir && covers(p, &target)))
                    })
                {
                    let apart = layer - at;
                    out.word(RuleId::LaterLayerCleanup, w, format!("removes {}, added by the {what} on line {at_line} ({apart} layer{} earlier): that layer still ships it", w.text, plural(apart)))
                        .hint = format!("do not add it (or use it and remove it in one RUN, merging with line {at_line})");
                }
            }
        }
        "chown" | "chmod" if cmd.has_flag(&["-R", "--recursive"]) => {
            let targets = cmd
                .args()
                .iter()
                .filter(|w| !w.text.starts_with('-'))
                .skip(1);
            for w in targets {
                let target = history.resolve(&w.text);
                if let Some((path, _, at, at_line, what)) =
                    history.paths.iter().find(|(p, _, at, _, what)| {
                        *at < layer && *what != "download" && (covers(&target, p) || target == *p)
                    })
                {
                    let apart = layer - at;
                    let flag = if program == "chown" {
                        "--chown"
                    } else {
                        "--chmod"
                    };
                    out.word(RuleId::LaterLayerCleanup, w, format!("`{program} -R` over {path}, added by the {what} on line {at_line} ({apart} layer{} earlier), copies every file into a new layer", plural(apart)))
                        .hint = format!("use {what} {flag}=... on line {at_line}");
                }
            }
        }
        "curl" | "wget" => {
            let flag = if program == "curl" {
                ["-o", "--output"]
            } else {
                ["-O", "--output-document"]
            };
            let dest = cmd
                .args()
                .iter()
                .position(|w| flag.contains(&w.text.as_str()))
                .and_then(|pos| cmd.args().get(pos + 1))
                .filter(|w| w.text != "-");
            if let Some(dest) = dest {
                history
                    .paths
                    .push((history.resolve(&dest.text), false, layer, line, "download"));
            }
        }
        _ => {}
    }
}
