//! Building a family: a [`Plan`]'s waves in order, the images of a wave in parallel (up to
//! `jobs` at once), each FROM the exact manifest its family parents just produced.
//!
//! Also decides which images are stale, for `strata graph`: never built, built on a parent
//! that has been rebuilt since, or with files in its context changed after its build.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use crate::digest::Digest;
use crate::family::render::Stale;
use crate::family::{Base, Family, Lock, Plan};
use crate::image::Store;
use crate::platform::Platform;

use super::{build, BuildError, BuildOptions, BuildResult, Event};

/// What a family build does beyond what every image's build shares.
#[derive(Clone, Debug)]
pub struct FamilyOptions {
    /// How many images build at once.
    pub jobs: usize,
    /// The store image each external base reference (as the Dockerfiles write it)
    /// builds on: the family's pins (see [`super::pins`]); a reference not here
    /// resolves by its tag.
    pub bases: BTreeMap<String, Digest>,
    /// Options shared by every image (network, compression, cache flags, secrets, and
    /// `--build-arg`s that override the family's); context, Dockerfile, tags, target and
    /// pins are set per image.
    pub common: BuildOptions,
}

/// Builds the images of `plan` into `store`. `events` receives every image's events with
/// the image's name; it is called from several threads.
pub fn build_family(
    store: &Store,
    family: &Family,
    plan: &Plan,
    opts: &FamilyOptions,
    events: &(dyn Fn(&str, Event<'_>) + Sync),
) -> Result<BTreeMap<String, BuildResult>, BuildError> {
    let mut built = BTreeMap::new();
    for wave in &plan.waves {
        let results = super::jobs::each(wave, opts.jobs, |name| {
            build_one(store, family, name, opts, &built, events)
        })?;
        built.extend(wave.iter().cloned().zip(results));
    }
    Ok(built)
}

/// Builds one image of the family, pinned to its parents' fresh manifests.
fn build_one(
    store: &Store,
    family: &Family,
    name: &str,
    opts: &FamilyOptions,
    built: &BTreeMap<String, BuildResult>,
    events: &(dyn Fn(&str, Event<'_>) + Sync),
) -> Result<BuildResult, BuildError> {
    let image = family
        .images
        .get(name)
        .ok_or_else(|| BuildError::Usage(format!("no image {name:?} in family {}", family.name)))?;
    let mut pinned = BTreeMap::new();
    let mut hints = BTreeMap::new();
    for reference in &image.references {
        let Some(parent) = family.image_for_reference(&reference.name) else {
            if let Some(digest) = opts.bases.get(&reference.name) {
                pinned.insert(reference.name.clone(), digest.clone());
            } else if let Some(hint) = family.did_you_mean(&reference.name) {
                hints.insert(reference.name.clone(), hint);
            }
            continue;
        };
        let digest = match built.get(parent).map(|r| r.descriptor.digest.clone()) {
            Some(digest) => digest,
            // Not part of this plan (`--only`, `--changed-since`): its current tag.
            None => store.image(&format!("{parent}:latest"))?.digest,
        };
        pinned.insert(reference.name.clone(), digest);
    }
    let mut build_args = image.build_args.clone();
    build_args.extend(opts.common.build_args.clone());
    let image_opts = BuildOptions {
        context: image.context.clone(),
        dockerfile: Some(image.dockerfile.clone()),
        tags: family.local_tags(image),
        build_args,
        target: image.target.clone(),
        // `--platform` wins over strata.toml, as `buildx bake --set *.platform=` does.
        platforms: if opts.common.platforms.is_empty() {
            image.platforms.clone()
        } else {
            opts.common.platforms.clone()
        },
        pinned,
        hints,
        ..opts.common.clone()
    };
    build(store, &image_opts, &mut |event| events(name, event))
}

/// Why each image of the family is stale (absent: fresh): never built, its parent was
/// rebuilt after it (the base digest it recorded is not the parent's current one), or a
/// file of its context or its Dockerfile changed after it was tagged.
pub fn staleness(store: &Store, family: &Family) -> Stale {
    let tags = store.tags().unwrap_or_default();
    let current = |name: &str| -> Option<(Digest, Option<String>)> {
        tags.iter()
            .find(|t| t.name == format!("{name}:latest"))
            .map(|t| (t.descriptor.digest.clone(), t.created.clone()))
    };
    let mut stale = Stale::new();
    let lock = Lock::load(&family.root).ok();
    for (name, image) in &family.images {
        let Some((digest, created)) = current(name) else {
            stale.insert(name.clone(), "never built".into());
            continue;
        };
        let base_digest = store.image_by_digest(&digest).ok().and_then(|i| {
            i.manifest
                .annotations
                .get("org.opencontainers.image.base.digest")
                .cloned()
        });
        let parent_moved = image.parents.iter().find(|p| {
            let Some((parent_digest, _)) = current(p) else {
                return true;
            };
            image.parents.first() == Some(*p)
                && base_digest.as_deref() != Some(parent_digest.as_str())
        });
        if let Some(parent) = parent_moved {
            stale.insert(name.clone(), format!("parent {parent} rebuilt"));
            continue;
        }
        if let Some(why) = moved_pin(store, image, &lock, base_digest.as_deref()) {
            stale.insert(name.clone(), why);
            continue;
        }
        let built_at = created
            .and_then(|c| {
                time::OffsetDateTime::parse(&c, &time::format_description::well_known::Rfc3339).ok()
            })
            .map(SystemTime::from);
        if let Some(path) =
            built_at.and_then(|at| newer_file(&image.context, &image.dockerfile, at))
        {
            stale.insert(
                name.clone(),
                format!("{} changed", family.display_path(&path)),
            );
        }
    }
    // Below a stale image everything is stale too.
    for name in family.images.keys() {
        if stale.contains_key(name) {
            continue;
        }
        if let Some(parent) = family
            .ancestors([name.as_str()])
            .into_iter()
            .find(|a| a != name && stale.contains_key(a))
        {
            stale.insert(name.clone(), format!("parent {parent} is stale"));
        }
    }
    stale
}

/// Why `image`, built FROM an external base, is not on the image its strata.lock pins
/// now (after `strata update`), if it is not.
fn moved_pin(
    store: &Store,
    image: &crate::family::Image,
    lock: &Option<Lock>,
    built_on: Option<&str>,
) -> Option<String> {
    let Base::External(reference) = &image.base else {
        return None;
    };
    let platform = Platform::host().to_string();
    let pin = lock.as_ref()?.get(reference, &platform)?;
    let pinned = super::pins::pinned_in_store(store, reference, pin);
    if pinned.as_ref().map(Digest::as_str) == built_on {
        return None;
    }
    Some(format!(
        "base {reference} is pinned to {} in strata.lock, built on {}",
        pin.short(),
        built_on
            .and_then(|d| d.parse::<Digest>().ok())
            .map_or("an unknown parent".to_owned(), |d| d.short().to_owned())
    ))
}

/// The first file of `context` (or `dockerfile`) modified after `at`.
fn newer_file(context: &Path, dockerfile: &Path, at: SystemTime) -> Option<std::path::PathBuf> {
    let modified = |p: &Path| p.symlink_metadata().and_then(|m| m.modified()).ok();
    if modified(dockerfile).is_some_and(|m| m > at) {
        return Some(dockerfile.to_owned());
    }
    walkdir::WalkDir::new(context)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.file_type().is_file() && modified(e.path()).is_some_and(|m| m > at))
        .map(|e| e.into_path())
}
