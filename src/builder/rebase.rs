//! Rebasing: putting an image's own layers on a new parent without running its steps.
//!
//! Two callers share the proof ([`parent_differences`]): the executor, which reuses a
//! step's layer made over an old parent when the parent of a family image changed, and
//! `strata rebase IMAGE --onto NEWPARENT` ([`rebase`]), which works from the image alone:
//! its history says what each of its own steps was, its base annotation names the parent
//! it was built on. Such a rebase is only made when it is provably what a rebuild would
//! give, so with the same `SOURCE_DATE_EPOCH` it has the rebuild's digest:
//! - the old parent's layers are the bottom of the image's, and the platform is the same;
//! - no own step is a RUN (which reads the parent's files) or a `COPY --from` (whose
//!   stage may derive from the parent), and every step is known from its history;
//! - every `--chown` user resolves to the same ids in both parents, and every path the
//!   own layers hold (and the way to every destination) reads the same in both
//!   ([`crate::snapshot::differences`]);
//! - no own step may have read a variable or the SHELL the new parent changes, and both
//!   parents have the same ONBUILD triggers (a rebuild runs the new parent's);
//! - the config merges three ways: what the image inherited from the old parent follows
//!   the new parent, what it set itself (by value, or by an own step) stays, and a field
//!   both the image and the new parent changed is a conflict.
//!
//! `--force` turns the refusals into warnings (the layer prefix and the platform stay
//! hard errors: without them there is nothing to rebase).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::fsroot::Root;
use crate::image::{ContainerConfig, Descriptor, History, ImageConfig, Store, StoreError};
use crate::image::{BASE_DIGEST, BASE_NAME};
use crate::registry::{Client, Reference, RegistryOptions};
use crate::sandbox;
use crate::snapshot::{differences, lower_stack, path_differences, StepDirs};

use super::stage::timestamp;
use super::{io_err, BuildError};

/// Why a layer made over one parent is not what its step would make over another: each
/// user that resolves differently and each path that reads differently (at most `limit`
/// paths, then a count). Empty: the layers can move. `old` and `new` are overlay lower
/// dir stacks (top first) of the two parents; `layers` are the snapshot dirs to check.
pub(super) fn parent_differences(
    store: &Store,
    old: &[PathBuf],
    new: &[PathBuf],
    layers: &[PathBuf],
    users: &[String],
    paths: &[String],
) -> Result<Vec<String>, BuildError> {
    let (old_dirs, new_dirs) = (StepDirs::new(store)?, StepDirs::new(store)?);
    let old = old_dirs.mount(old)?;
    let new = new_dirs.mount(new)?;
    let (old_root, new_root) = (
        Root::open(old.target()).map_err(io_err(old.target()))?,
        Root::open(new.target()).map_err(io_err(new.target()))?,
    );
    let mut why = Vec::new();
    for user in users {
        let ids = |root: &Root| {
            sandbox::resolve_user(root, user)
                .map(|u| format!("{}:{}", u.uid, u.gid))
                .unwrap_or_else(|_| "missing".to_owned())
        };
        let (was, is) = (ids(&old_root), ids(&new_root));
        if was != is {
            why.push(format!(
                "user {user} is {was} in the old parent but {is} in the new one"
            ));
        }
    }
    let mut found = Vec::new();
    for path in paths {
        found.extend(
            path_differences(Path::new(path), &old_root, &new_root)
                .map_err(io_err(old.target()))?,
        );
    }
    for layer in layers {
        // The way to a destination is mostly in the layer too (copied-up dirs): name
        // each path once.
        for d in differences(layer, &old_root, &new_root).map_err(io_err(layer))? {
            if !found.iter().any(|f| f.path == d.path) {
                found.push(d);
            }
        }
    }
    const LIMIT: usize = 3;
    why.extend(found.iter().take(LIMIT).map(ToString::to_string));
    if found.len() > LIMIT {
        why.push(format!("and {} more paths", found.len() - LIMIT));
    }
    Ok(why)
}

/// What `strata rebase` is asked to do.
#[derive(Clone, Debug, Default)]
pub struct RebaseOptions {
    /// Rebase despite refusals (they are returned as warnings).
    pub force: bool,
    /// Tags for the result (none: the result is only in the store by digest).
    pub tags: Vec<String>,
    /// How to reach a registry for a new parent not in the store.
    pub registry: RegistryOptions,
}

/// What a rebase made.
#[derive(Clone, Debug)]
pub struct Rebased {
    /// The new image's manifest.
    pub descriptor: Descriptor,
    /// The refusals `--force` overrode (empty: the rebase is proven).
    pub forced: Vec<String>,
    /// How many own layers moved onto the new parent.
    pub layers: usize,
}

/// Rebases the image `image` of the store onto `onto` (in the store, or pulled when it
/// names a registry), refusing with every reason when the result could differ from a
/// rebuild (see the module doc).
pub fn rebase(
    store: &Store,
    image: &str,
    onto: &str,
    opts: &RebaseOptions,
) -> Result<Rebased, BuildError> {
    let child = store.image(image)?;
    let old_digest = child
        .manifest
        .annotations
        .get(BASE_DIGEST)
        .ok_or_else(|| {
            BuildError::Usage(format!(
                "{image} does not record its parent ({BASE_DIGEST}): it was not built FROM an image, or not by a builder that says so"
            ))
        })?
        .parse()
        .map_err(|e| BuildError::Usage(format!("{image}: bad {BASE_DIGEST}: {e}")))?;
    let old = store.image_by_digest(&old_digest).map_err(|_| {
        BuildError::Usage(format!(
            "{image} was built on {old_digest}, which is not in the store: pull or build that parent first"
        ))
    })?;
    let new = match store.image(onto) {
        Ok(found) => found,
        Err(StoreError::UnknownImage(_)) if Reference::parse(onto).is_ok() => {
            let pulled =
                Client::new(opts.registry.clone())?.pull(store, &Reference::parse(onto)?, None)?;
            store.image_by_digest(&pulled.digest)?
        }
        Err(e) => return Err(e.into()),
    };
    let platform = |c: &ImageConfig| {
        format!(
            "{}/{}{}",
            c.os,
            c.architecture,
            c.variant
                .as_deref()
                .map(|v| format!("/{v}"))
                .unwrap_or_default()
        )
    };
    if platform(&child.config) != platform(&new.config) {
        return Err(BuildError::Usage(format!(
            "{image} is {} but {onto} is {}: a rebase cannot change the platform",
            platform(&child.config),
            platform(&new.config)
        )));
    }
    let (own_layers, own_diff_ids) = own_part(image, &child, &old)?;
    let own_history = child
        .config
        .history
        .get(old.config.history.len()..)
        .filter(|_| child.config.history.starts_with(&old.config.history))
        .ok_or_else(|| {
            BuildError::Usage(format!(
                "{image}'s history does not start with its parent's: it cannot tell its own steps"
            ))
        })?;
    let mut refusals = Vec::new();
    let steps = read_steps(
        own_history,
        &old.config.config,
        &new.config.config,
        &mut refusals,
    );
    // A rebuild runs the new parent's triggers as its first steps; the old parent's ran
    // as own steps of the image, and were checked with them above.
    let triggers = |c: &ImageConfig| c.config.on_build.clone().unwrap_or_default();
    let (was, is) = (triggers(&old.config), triggers(&new.config));
    if was != is {
        refusals.push(format!(
            "the old parent's ONBUILD triggers are {was:?} but the new parent's are {is:?}, which a rebuild runs"
        ));
    }
    if own_history.iter().filter(|h| !h.empty_layer).count() != own_layers.len() {
        refusals.push(format!(
            "its history lists {} layer steps above the parent for {} layers",
            own_history.iter().filter(|h| !h.empty_layer).count(),
            own_layers.len()
        ));
    }
    let (config, conflicts) = merge_config(
        &old.config.config,
        &new.config.config,
        &child.config.config,
        &steps.own,
    );
    refusals.extend(conflicts);
    let stack = |layers: &[Descriptor], ids: &[crate::digest::Digest]| {
        layers
            .iter()
            .zip(ids)
            .map(|(d, id)| store.snapshot(d, id))
            .collect::<Result<Vec<_>, _>>()
    };
    let old_stack = stack(&old.manifest.layers, &old.config.rootfs.diff_ids)?;
    let new_stack = stack(&new.manifest.layers, &new.config.rootfs.diff_ids)?;
    let own_snapshots = stack(&own_layers, &own_diff_ids)?;
    refusals.extend(parent_differences(
        store,
        &lower_stack(old_stack.into_iter()),
        &lower_stack(new_stack.into_iter()),
        &own_snapshots,
        &steps.users.into_iter().collect::<Vec<_>>(),
        &steps.paths,
    )?);
    if !refusals.is_empty() && !opts.force {
        return Err(BuildError::Usage(format!(
            "refusing to rebase {image} onto {onto}, as a rebuild could differ:\n  - {}\n(--force rebases anyway)",
            refusals.join("\n  - ")
        )));
    }
    let mut rebased = child.config.clone();
    rebased.config = config;
    rebased.created = Some(timestamp());
    rebased.history = new
        .config
        .history
        .iter()
        .chain(own_history)
        .cloned()
        .collect();
    rebased.rootfs.diff_ids = new
        .config
        .rootfs
        .diff_ids
        .iter()
        .chain(&own_diff_ids)
        .cloned()
        .collect();
    let layers: Vec<Descriptor> = new
        .manifest
        .layers
        .iter()
        .chain(&own_layers)
        .cloned()
        .collect();
    let mut annotations = child.manifest.annotations.clone();
    let old_name = annotations.get(BASE_NAME).cloned().unwrap_or_default();
    if !crate::family::same_reference(&old_name, onto) {
        annotations.insert(BASE_NAME.to_owned(), onto.to_owned());
    }
    annotations.insert(BASE_DIGEST.to_owned(), new.digest.to_string());
    let descriptor = store.put_image(&rebased, &layers, annotations)?;
    for tag in &opts.tags {
        store.tag(tag, &descriptor)?;
    }
    Ok(Rebased {
        descriptor,
        forced: refusals,
        layers: own_layers.len(),
    })
}

/// The image's own layers and diff_ids: those above its parent's, which must be the
/// bottom of its own.
#[allow(clippy::type_complexity)]
fn own_part(
    image: &str,
    child: &crate::image::Image,
    parent: &crate::image::Image,
) -> Result<(Vec<Descriptor>, Vec<crate::digest::Digest>), BuildError> {
    let (ids, parent_ids) = (
        &child.config.rootfs.diff_ids,
        &parent.config.rootfs.diff_ids,
    );
    let same_layers = child.manifest.layers.len() >= parent.manifest.layers.len()
        && child
            .manifest
            .layers
            .iter()
            .zip(&parent.manifest.layers)
            .all(|(a, b)| a.digest == b.digest);
    if !ids.starts_with(parent_ids) || !same_layers || ids.len() != child.manifest.layers.len() {
        return Err(BuildError::Usage(format!(
            "{image}'s layers do not start with those of the parent it records ({}): it cannot be rebased",
            parent.digest
        )));
    }
    Ok((
        child.manifest.layers[parent.manifest.layers.len()..].to_vec(),
        ids[parent_ids.len()..].to_vec(),
    ))
}

/// What the own steps of an image read of their parent, from their history.
#[derive(Default)]
struct Steps {
    /// Users resolved (`--chown`, WORKDIR under USER).
    users: BTreeSet<String>,
    /// Absolute destinations written.
    paths: Vec<String>,
    /// What the steps set in the config, as `Field` or `Field key` (`Env LANG`,
    /// `Labels` for every label): the image's own even where it equals the old parent's.
    own: BTreeSet<String>,
}

/// Reads the own history entries: the users and paths they depend on, what they set, and
/// a refusal for every step that reads the parent or cannot be told. `parent` and `new`
/// are the old and new parent's configs.
fn read_steps(
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
fn references(text: &str) -> BTreeSet<&str> {
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
fn shell_form(keyword: &str, rest: &str) -> bool {
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
fn set_fields(keyword: &str, rest: &str, own: &mut BTreeSet<String>) {
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

/// A config value for a message: its debug form (strings quoted), or `none`.
fn shown<T: std::fmt::Debug>(value: Option<&T>) -> String {
    value.map_or_else(|| "none".to_owned(), |v| format!("{v:?}"))
}

/// The words of a COPY/ADD history line: JSON form (`["a", "b"]`) or space separated.
fn copy_words(rest: &str) -> Vec<String> {
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

/// The three-way merge of a container config: for every field (and every Env, Label,
/// port and volume entry), what the image has as the old parent had it follows the new
/// parent, unless an own step set it (`own`, see [`Steps::own`]); what the image changed
/// stays; a change in both is a conflict, named.
fn merge_config(
    old: &ContainerConfig,
    new: &ContainerConfig,
    image: &ContainerConfig,
    own: &BTreeSet<String>,
) -> (ContainerConfig, Vec<String>) {
    let mut conflicts = Vec::new();
    let mut merged = image.clone();
    fn pick<T: Clone + PartialEq + std::fmt::Debug>(
        name: &str,
        own: &BTreeSet<String>,
        old: &Option<T>,
        new: &Option<T>,
        image: &Option<T>,
        conflicts: &mut Vec<String>,
    ) -> Option<T> {
        let (old, new, image) = (old.as_ref(), new.as_ref(), image.as_ref());
        merge_value(
            name,
            "sets",
            own.contains(name),
            [old, new, image],
            conflicts,
        )
        .cloned()
    }
    merged.user = pick(
        "User",
        own,
        &old.user,
        &new.user,
        &image.user,
        &mut conflicts,
    );
    merged.working_dir = pick(
        "WorkingDir",
        own,
        &old.working_dir,
        &new.working_dir,
        &image.working_dir,
        &mut conflicts,
    );
    merged.entrypoint = pick(
        "Entrypoint",
        own,
        &old.entrypoint,
        &new.entrypoint,
        &image.entrypoint,
        &mut conflicts,
    );
    merged.cmd = pick("Cmd", own, &old.cmd, &new.cmd, &image.cmd, &mut conflicts);
    merged.healthcheck = pick(
        "Healthcheck",
        own,
        &old.healthcheck,
        &new.healthcheck,
        &image.healthcheck,
        &mut conflicts,
    );
    merged.stop_signal = pick(
        "StopSignal",
        own,
        &old.stop_signal,
        &new.stop_signal,
        &image.stop_signal,
        &mut conflicts,
    );
    merged.shell = pick(
        "Shell",
        own,
        &old.shell,
        &new.shell,
        &image.shell,
        &mut conflicts,
    );
    merged.env = merge_env(old, new, image, own, &mut conflicts);
    merged.labels = merge_map(
        "Labels",
        own,
        &old.labels,
        &new.labels,
        &image.labels,
        &mut conflicts,
    );
    merged.exposed_ports = merge_map(
        "ExposedPorts",
        own,
        &old.exposed_ports,
        &new.exposed_ports,
        &image.exposed_ports,
        &mut conflicts,
    );
    merged.volumes = merge_map(
        "Volumes",
        own,
        &old.volumes,
        &new.volumes,
        &image.volumes,
        &mut conflicts,
    );
    (merged, conflicts)
}

/// One value merged three ways (`None`: unset): the new parent's where the image has the
/// old parent's and did not set it itself (`own`), else the image's; a conflict, named
/// `what`, when the image and the new parent both changed it.
///
/// Regression: `own` once did not exist, so a value an own step set to what the old
/// parent had (`LABEL tier=base` over a base with that label, `CMD ["sh"]` over one
/// with that CMD) followed the new parent, which no rebuild does.
fn merge_value<'v, T: PartialEq + std::fmt::Debug>(
    what: &str,
    verb: &str,
    own: bool,
    [old, new, image]: [Option<&'v T>; 3],
    conflicts: &mut Vec<String>,
) -> Option<&'v T> {
    if image == old && !own {
        new
    } else if new == old || new == image {
        image
    } else {
        conflicts.push(format!(
            "{what}: the image {verb} {}, the old parent had {}, the new parent has {}",
            shown(image),
            shown(old),
            shown(new)
        ));
        image
    }
}

/// Env as a map merged by name, in the order a rebuild gives: the new parent's
/// variables first, then those the image added.
fn merge_env(
    old: &ContainerConfig,
    new: &ContainerConfig,
    image: &ContainerConfig,
    own: &BTreeSet<String>,
    conflicts: &mut Vec<String>,
) -> Option<Vec<String>> {
    let as_map = |c: &ContainerConfig| -> Option<BTreeMap<String, String>> {
        c.env.as_ref().map(|env| {
            env.iter()
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (k.to_owned(), v.to_owned())
                })
                .collect()
        })
    };
    let merged = merge_map(
        "Env",
        own,
        &as_map(old),
        &as_map(new),
        &as_map(image),
        conflicts,
    )?;
    let order: Vec<&String> = new
        .env
        .iter()
        .chain(image.env.iter())
        .flatten()
        .map(|kv| kv.split_once('=').map_or(kv.as_str(), |(k, _)| k))
        .fold(Vec::new(), |mut seen: Vec<&str>, k| {
            if !seen.contains(&k) {
                seen.push(k);
            }
            seen
        })
        .into_iter()
        .filter_map(|k| merged.get_key_value(k).map(|(k, _)| k))
        .collect();
    Some(
        order
            .into_iter()
            .map(|k| format!("{k}={}", merged[k]))
            .collect(),
    )
}

/// A map merged key by key, three ways; `own` holds `NAME key` for each key an own step
/// set, `NAME` when they set keys it cannot tell.
fn merge_map<V: Clone + PartialEq + std::fmt::Debug>(
    name: &str,
    own: &BTreeSet<String>,
    old: &Option<BTreeMap<String, V>>,
    new: &Option<BTreeMap<String, V>>,
    image: &Option<BTreeMap<String, V>>,
    conflicts: &mut Vec<String>,
) -> Option<BTreeMap<String, V>> {
    let empty = BTreeMap::new();
    let (o, n, i) = (
        old.as_ref().unwrap_or(&empty),
        new.as_ref().unwrap_or(&empty),
        image.as_ref().unwrap_or(&empty),
    );
    let keys: BTreeSet<&String> = o.keys().chain(n.keys()).chain(i.keys()).collect();
    let mut merged = BTreeMap::new();
    for key in keys {
        let set =
            i.contains_key(key) && (own.contains(name) || own.contains(&format!("{name} {key}")));
        let value = merge_value(
            &format!("{name} {key}"),
            "has",
            set,
            [o.get(key), n.get(key), i.get(key)],
            conflicts,
        );
        if let Some(v) = value {
            merged.insert(key.clone(), v.clone());
        }
    }
    if merged.is_empty() && image.is_none() && new.is_none() {
        None
    } else {
        Some(merged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[&str]) -> ContainerConfig {
        ContainerConfig {
            env: Some(vars.iter().map(|s| (*s).to_owned()).collect()),
            ..ContainerConfig::default()
        }
    }

    #[test]
    fn inherited_follows_the_new_parent_and_own_stays() {
        let old = env(&["PATH=/bin", "LANG=C"]);
        let new = env(&["PATH=/bin", "LANG=C.UTF-8", "TZ=UTC"]);
        let image = env(&["PATH=/bin", "LANG=C", "APP=1"]);
        let (merged, conflicts) = merge_config(&old, &new, &image, &BTreeSet::new());
        assert!(conflicts.is_empty(), "{conflicts:?}");
        assert_eq!(
            merged.env.unwrap(),
            ["PATH=/bin", "LANG=C.UTF-8", "TZ=UTC", "APP=1"]
        );
    }

    #[test]
    fn a_change_on_both_sides_is_a_conflict() {
        let old = env(&["PATH=/bin"]);
        let new = env(&["PATH=/usr/bin:/bin"]);
        let image = env(&["PATH=/app/bin:/bin"]);
        let (_, conflicts) = merge_config(&old, &new, &image, &BTreeSet::new());
        assert_eq!(conflicts.len(), 1, "{conflicts:?}");
        assert!(conflicts[0].starts_with("Env PATH"), "{conflicts:?}");
    }

    #[test]
    fn a_value_an_own_step_set_is_own_even_as_the_old_parent_had_it() {
        let (old, new) = (env(&["LANG=C", "TZ=UTC"]), env(&["LANG=C.UTF-8", "TZ=UTC"]));
        let image = env(&["LANG=C", "TZ=UTC"]);
        let mut own = BTreeSet::new();
        set_fields("ENV", "LANG=C", &mut own);
        assert_eq!(own, BTreeSet::from(["Env LANG".to_owned()]));
        let (merged, conflicts) = merge_config(&old, &new, &image, &own);
        assert_eq!(merged.env.unwrap(), ["LANG=C", "TZ=UTC"]);
        assert_eq!(
            conflicts,
            [
                r#"Env LANG: the image has "C", the old parent had "C", the new parent has "C.UTF-8""#
            ]
        );
        // Not set by a step: it follows the new parent.
        let (merged, conflicts) = merge_config(&old, &new, &image, &BTreeSet::new());
        assert!(conflicts.is_empty(), "{conflicts:?}");
        assert_eq!(merged.env.unwrap(), ["LANG=C.UTF-8", "TZ=UTC"]);
    }

    #[test]
    fn what_steps_set_and_read() {
        let mut own = BTreeSet::new();
        set_fields("LABEL", "a=1 b.c=2", &mut own);
        set_fields("LABEL", "\"d e\"=3", &mut own);
        set_fields("EXPOSE", "80 53/UDP", &mut own);
        set_fields("ENTRYPOINT", "[\"sh\"]", &mut own);
        let want = [
            "Cmd",
            "Entrypoint",
            "ExposedPorts 53/udp",
            "ExposedPorts 80/tcp",
            "Labels",
            "Labels a",
            "Labels b.c",
        ];
        assert_eq!(own.iter().map(String::as_str).collect::<Vec<_>>(), want);
        assert_eq!(
            references("a=$A ${B:-x} \\$C $ end"),
            BTreeSet::from(["A", "B", "C"])
        );
        assert!(shell_form("CMD", "echo hi"));
        assert!(!shell_form("CMD", r#"["echo", "hi"]"#));
        assert!(shell_form(
            "HEALTHCHECK",
            "--interval=5s CMD wget -q localhost"
        ));
        assert!(!shell_form("HEALTHCHECK", "NONE"));
    }

    #[test]
    fn copy_history_words() {
        assert_eq!(
            copy_words("--chown=app:app src/ /srv/app/"),
            ["--chown=app:app", "src/", "/srv/app/"]
        );
        assert_eq!(
            copy_words(r#"["a b", "/dest dir/"]"#),
            ["a b", "/dest dir/"]
        );
    }
}
