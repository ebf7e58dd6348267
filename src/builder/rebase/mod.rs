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

use std::path::{Path, PathBuf};

use crate::fsroot::Root;
use crate::image::{Descriptor, ImageConfig, Store};
use crate::image::{BASE_DIGEST, BASE_NAME};
use crate::registry::{Client, Reference, RegistryOptions};
use crate::sandbox;
use crate::snapshot::{differences, lower_stack, path_differences, StepDirs};

use super::{io_err, BuildError};

mod history;
mod merge;

use history::read_steps;
use merge::merge_config;

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
    /// The result's `created` (`SOURCE_DATE_EPOCH`); `None` keeps the image's own, which
    /// is what a rebuild of the same commit writes (see [`crate::epoch`]).
    pub created: Option<u64>,
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
    let own_platform = child.config.platform();
    let new = match crate::registry::stored(store, onto, &own_platform, &opts.registry)? {
        Some(found) => found,
        None => {
            // From an index, the manifest of the image's own platform.
            let pulled = Client::new(opts.registry.clone())?.pull(
                store,
                &Reference::parse(onto)?,
                Some(&own_platform),
            )?;
            store.image_by_digest_for(&pulled.digest, Some(&own_platform))?
        }
    };
    let (was, is) = (child.config.platform(), new.config.platform());
    if was != is {
        return Err(BuildError::Usage(format!(
            "{image} is {was} but {onto} is {is}: a rebase cannot change the platform"
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
    if let Some(seconds) = opts.created {
        rebased.created = Some(crate::epoch::rfc3339(seconds));
    }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::history::{copy_words, references, set_fields, shell_form};
    use super::*;
    use crate::image::ContainerConfig;

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
