//! What an image's own steps were, read back from its config history: the users and
//! paths they depend on, the config fields they set, and every reason a step may read
//! its parent (a RUN, a `COPY --from`, a variable the new parent changes).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::image::{ContainerConfig, History};

use super::merge::shown;

/// What the own steps of an image read of their parent, from their history.
#[derive(Default)]
pub(super) struct Steps {
    /// Users resolved (`--chown`, WORKDIR under USER).
    pub(super) users: BTreeSet<String>,
    /// Absolute destinations written.
    pub(super) paths: Vec<String>,
    /// What the steps set in the config, as `Field` or `Field key` (`Env LANG`,
    /// `Labels` for every label): the image's own even where it equals the old parent's.
    pub(super) own: BTreeSet<String>,
}

/// Reads the own history entries: the users and paths they depend on, what they set, and
/// a refusal for every step that reads the parent or cannot be told. `parent` and `new`
/// are the old and new parent's configs.
pub(super) fn read_steps(
    history: &[History],
    parent: &ContainerConfig,
    new: &ContainerConfig,
    refusals: &mut Vec<String>,
) -> Steps {
    let mut steps = Steps::default();
    let changed = changed_env(parent, new);
    let mut own_shell = false;
    let mut workdir = parent
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());
    let mut user = parent.user.clone().unwrap_or_default();
    for (n, entry) in history.iter().enumerate() {
        let text = entry.created_by.as_deref().unwrap_or("");
        let text = text.strip_suffix(" # buildkit").unwrap_or(text);
        let text = text
            .strip_prefix("/bin/sh -c #(nop) ")
            .unwrap_or(text)
            .trim();
        let (keyword, rest) = text.split_once(' ').unwrap_or((text, ""));
        let step = format!("own step {} `{}`", n + 1, shorten(text));
        let keyword = keyword.to_ascii_uppercase();
        read_variables(&keyword, rest, &changed, &step, refusals);
        // A shell-form command is wrapped in the SHELL in effect when the step ran.
        if matches!(keyword.as_str(), "CMD" | "ENTRYPOINT" | "HEALTHCHECK")
            && !own_shell
            && parent.shell != new.shell
            && shell_form(&keyword, rest)
        {
            refusals.push(format!(
                "{step} is in shell form, and the new parent changes SHELL ({} -> {})",
                shown(parent.shell.as_ref()),
                shown(new.shell.as_ref())
            ));
        }
        own_shell |= keyword == "SHELL";
        set_fields(&keyword, rest, &mut steps.own);
        match keyword.as_str() {
            "COPY" | "ADD" => {
                let words = copy_words(rest);
                let mut dest = None;
                for word in &words {
                    if let Some(from) = word.strip_prefix("--from=") {
                        refusals.push(format!(
                            "{step} copies from {from}, which may derive from the parent"
                        ));
                    } else if let Some(owner) = word.strip_prefix("--chown=") {
                        if owner.contains('$') {
                            refusals.push(format!(
                                "{step}: --chown={owner} is not expanded in the history"
                            ));
                        } else if owner.split(':').any(|p| p.parse::<u32>().is_err()) {
                            steps.users.insert(owner.to_owned());
                        }
                    }
                    if !word.starts_with("--") {
                        dest = Some(word.clone());
                    }
                }
                match dest {
                    Some(d) if !d.contains('$') => {
                        steps.paths.push(crate::path::clean_abs(
                            &Path::new(&workdir).join(&d).to_string_lossy(),
                        ));
                    }
                    _ => refusals.push(format!("{step}: its destination cannot be told")),
                }
            }
            "WORKDIR" => {
                workdir = crate::path::clean_abs(
                    &Path::new(&workdir).join(rest.trim()).to_string_lossy(),
                );
                if !entry.empty_layer {
                    steps.paths.push(workdir.clone());
                    if !user.is_empty() && user.split(':').any(|p| p.parse::<u32>().is_err()) {
                        steps.users.insert(user.clone());
                    }
                }
            }
            "USER" => user = rest.trim().to_owned(),
            "ENV" | "LABEL" | "EXPOSE" | "VOLUME" | "CMD" | "ENTRYPOINT" | "HEALTHCHECK"
            | "STOPSIGNAL" | "SHELL" | "ARG" | "ONBUILD" | "MAINTAINER"
                if entry.empty_layer => {}
            "RUN" => refusals.push(format!(
                "{step} runs a command, which reads the parent's files"
            )),
            _ => refusals.push(format!("{step}: its history does not say what it did")),
        }
    }
    steps
}

/// The variables whose value differs between the old parent's Env and the new one's,
/// with both values (`None`: not set).
fn changed_env(
    old: &ContainerConfig,
    new: &ContainerConfig,
) -> BTreeMap<String, (Option<String>, Option<String>)> {
    let as_map = |c: &ContainerConfig| -> BTreeMap<String, String> {
        c.env
            .iter()
            .flatten()
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect()
    };
    let (old, new) = (as_map(old), as_map(new));
    old.keys()
        .chain(new.keys())
        .filter(|k| old.get(*k) != new.get(*k))
        .map(|k| (k.clone(), (old.get(k).cloned(), new.get(k).cloned())))
        .collect()
}

/// Refuses a step that may have read a variable the new parent changes. The history
/// keeps ENV and WORKDIR expanded, as BuildKit writes them (`ENV A=$LANG` is `ENV A=C`):
/// a value holding the variable's old value may have come from it (a short old value
/// refuses more than it must). A variable the old parent did not set expanded to
/// nothing, which no history shows: that one is not caught. The other steps that expand
/// variables keep their words as written (`LABEL a=$LANG`).
fn read_variables(
    keyword: &str,
    rest: &str,
    changed: &BTreeMap<String, (Option<String>, Option<String>)>,
    step: &str,
    refusals: &mut Vec<String>,
) {
    let change = |was: &Option<String>, is: &Option<String>| {
        format!("{} -> {}", shown(was.as_ref()), shown(is.as_ref()))
    };
    match keyword {
        "ENV" | "WORKDIR" => {
            // ENV's values only: `KEY=` is not something the step expanded.
            let values: Vec<&str> = rest
                .split(' ')
                .map(|w| match w.split_once('=') {
                    Some((k, v)) if keyword == "ENV" && is_name(k) => v,
                    _ => w,
                })
                .collect();
            for (name, (was, is)) in changed {
                let Some(old) = was.as_deref().filter(|v| !v.is_empty()) else {
                    continue;
                };
                if values.iter().any(|v| v.contains(old)) {
                    refusals.push(format!(
                        "{step} may have expanded ${name}, which the new parent changes ({}): the history keeps only the expanded value",
                        change(was, is)
                    ));
                }
            }
        }
        "COPY" | "ADD" | "EXPOSE" | "LABEL" | "STOPSIGNAL" | "USER" | "VOLUME" => {
            for name in references(rest) {
                if let Some((was, is)) = changed.get(name) {
                    refusals.push(format!(
                        "{step} expands ${name}, which the new parent changes ({})",
                        change(was, is)
                    ));
                }
            }
        }
        _ => {}
    }
}

/// The variable names `$NAME` and `${NAME...}` in `text` (escaped or not: a refusal
/// too many is safe).
pub(super) fn references(text: &str) -> BTreeSet<&str> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        let after = &rest[at + 1..];
        let after = after.strip_prefix('{').unwrap_or(after);
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        if end > 0 {
            names.insert(&after[..end]);
        }
        rest = &after[end..];
    }
    names
}

fn is_name(word: &str) -> bool {
    !word.is_empty()
        && !word.starts_with(|c: char| c.is_ascii_digit())
        && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether a CMD, ENTRYPOINT or HEALTHCHECK history line is a shell-form command.
pub(super) fn shell_form(keyword: &str, rest: &str) -> bool {
    let command = if keyword == "HEALTHCHECK" {
        match rest.split_once("CMD ") {
            Some((_, command)) => command,
            None => return false, // NONE
        }
    } else {
        rest
    };
    serde_json::from_str::<Vec<String>>(command.trim()).is_err()
}

/// Records what a step sets in the config (see [`Steps::own`]). A word it does not
/// understand marks the whole map as set: a conflict too many is safe.
pub(super) fn set_fields(keyword: &str, rest: &str, own: &mut BTreeSet<String>) {
    let mut keys = |field: &str, words: Vec<Option<String>>| {
        for word in words {
            own.insert(word.map_or_else(|| field.to_owned(), |k| format!("{field} {k}")));
        }
    };
    match keyword {
        // Written by strata as `ENV K=v K2=v2`, values unquoted: a value with ` X=` in it
        // only marks X too.
        "ENV" => keys(
            "Env",
            rest.split(' ')
                .filter_map(|w| w.split_once('=').map(|(k, _)| k))
                .filter(|k| is_name(k))
                .map(|k| Some(k.to_owned()))
                .collect(),
        ),
        "LABEL" => keys(
            "Labels",
            rest.split_whitespace()
                .map(|w| match w.split_once('=') {
                    Some((k, _)) if !w.contains(['"', '\'', '\\', '$']) => Some(k.to_owned()),
                    _ => None,
                })
                .collect(),
        ),
        "EXPOSE" => keys(
            "ExposedPorts",
            rest.split_whitespace()
                .map(|w| {
                    (!w.contains('$')).then(|| {
                        if w.contains('/') {
                            w.to_lowercase()
                        } else {
                            format!("{w}/tcp")
                        }
                    })
                })
                .collect(),
        ),
        "VOLUME" => keys(
            "Volumes",
            serde_json::from_str::<Vec<String>>(rest.trim())
                .unwrap_or_else(|_| rest.split_whitespace().map(str::to_owned).collect())
                .into_iter()
                .map(|w| (!w.contains('$')).then_some(w))
                .collect(),
        ),
        _ => {
            let fields: &[&str] = match keyword {
                "USER" => &["User"],
                "WORKDIR" => &["WorkingDir"],
                "CMD" => &["Cmd"],
                // ENTRYPOINT resets the inherited CMD.
                "ENTRYPOINT" => &["Entrypoint", "Cmd"],
                "HEALTHCHECK" => &["Healthcheck"],
                "STOPSIGNAL" => &["StopSignal"],
                "SHELL" => &["Shell"],
                _ => &[],
            };
            own.extend(fields.iter().map(|f| (*f).to_owned()));
        }
    }
}

/// The words of a COPY/ADD history line: JSON form (`["a", "b"]`) or space separated.
pub(super) fn copy_words(rest: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut rest = rest.trim();
    while rest.starts_with("--") {
        let (flag, tail) = rest.split_once(' ').unwrap_or((rest, ""));
        words.push(flag.to_owned());
        rest = tail.trim_start();
    }
    match serde_json::from_str::<Vec<String>>(rest) {
        Ok(list) => words.extend(list),
        Err(_) => words.extend(rest.split_whitespace().map(str::to_owned)),
    }
    words
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_owned(),
    }
}
