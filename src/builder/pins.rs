//! A family's external bases, pinned through its [`Lock`]: which exact image each
//! `FROM debian:bookworm` or `FROM host/repo:1` of the family means, and which of those
//! pins moved upstream.
//!
//! A pin is a manifest digest as the registry serves it (for an image that exists only
//! in the store, its store digest). Building on a pin finds that image in the store (a
//! pull by digest files it as `host/repo@digest`) or pulls it by digest; a reference
//! the lock does not know yet is asked of its registry and pinned. So a family builds on
//! the same bases until `strata update` moves them, and `strata outdated` can tell,
//! image by image, what a move would rebuild.

use std::collections::{BTreeMap, BTreeSet};

use crate::digest::Digest;
use crate::family::{Family, Lock, Pin};
use crate::image::Store;
use crate::platform::Platform;
use crate::registry::{Client, Reference, RegistryOptions};

use super::BuildError;

/// What pinning found for one external reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pinned {
    /// The reference as the Dockerfiles write it.
    pub reference: String,
    /// The pin (a registry's manifest digest, or a store digest).
    pub pin: Digest,
    /// The image in the store that builds use for it.
    pub image: Digest,
    /// The lock did not have it: it was resolved and pinned now.
    pub new: bool,
}

/// The platform pins are resolved for: `--platform`, else this host's.
pub fn pin_platform(platform: Option<&str>) -> Result<Platform, BuildError> {
    Ok(match platform {
        Some(text) => Platform::parse(text)?,
        None => Platform::host(),
    })
}

/// Every external base of the family's images `names`, as a store image to build on:
/// the lock's pin when it has one, else what the reference names now (pinned in `lock`,
/// which the caller saves). A reference that cannot be resolved is left out: the build
/// then reports it where the Dockerfile names it.
pub fn pin_bases<'a>(
    store: &Store,
    family: &Family,
    names: impl IntoIterator<Item = &'a String>,
    lock: &mut Lock,
    platform: &Platform,
    registry: &RegistryOptions,
) -> Result<Vec<Pinned>, BuildError> {
    let wanted: BTreeSet<&String> = names
        .into_iter()
        .flat_map(|name| &family.images[name].external_bases)
        .collect();
    let client = Client::new(registry.clone())?;
    let key = platform.to_string();
    let mut pinned = Vec::new();
    for reference in wanted {
        let (pin, new) = match lock.get(reference, &key) {
            Some(pin) => (pin.clone(), false),
            None => match current(store, &client, reference, platform) {
                Some(pin) => (pin, true),
                None => continue,
            },
        };
        let image = image_for_pin(store, &client, reference, platform, &pin)?;
        if new {
            lock.set(reference, &key, pin.clone());
        }
        pinned.push(Pinned {
            reference: reference.clone(),
            pin,
            image,
            new,
        });
    }
    Ok(pinned)
}

/// What `reference` names now: a local image (a short name the store has as written,
/// like a locally built `base:1`, which a build would not pull either), else its
/// registry's manifest for `platform`, else (none reachable) the store's image of that
/// name. `None`: neither.
fn current(store: &Store, client: &Client, reference: &str, platform: &Platform) -> Option<Digest> {
    if let Some(local) = local_image(store, reference) {
        return Some(local);
    }
    if let Ok(remote) = Reference::parse(reference) {
        if let Ok(digest) = client.resolve(&remote, Some(platform)) {
            return Some(digest);
        }
    }
    crate::registry::stored(store, reference, platform, client.options())
        .ok()
        .flatten()
        .map(|i| i.digest)
}

/// The store image of a reference that is no registry name, or a short name the store
/// has as written: what it names is the store's business, not a registry's.
fn local_image(store: &Store, reference: &str) -> Option<Digest> {
    let remote = Reference::parse(reference).ok();
    if remote.is_some_and(|r| r.short.is_none()) {
        return None;
    }
    store.image(reference).ok().map(|i| i.digest)
}

/// The store image of `reference` pinned to `pin`: already there (by digest), or pulled
/// by digest from the reference's registry.
fn image_for_pin(
    store: &Store,
    client: &Client,
    reference: &str,
    platform: &Platform,
    pin: &Digest,
) -> Result<Digest, BuildError> {
    if let Some(image) = pinned_in_store(store, reference, pin) {
        return Ok(image);
    }
    let Ok(mut remote) = Reference::parse(reference) else {
        return Err(BuildError::Usage(format!(
            "strata.lock pins {reference} to {pin}, which is not in the store and names no \
             registry to pull it from: build or load that image, or `strata update {reference}`"
        )));
    };
    remote.digest = Some(pin.clone());
    Ok(client.pull(store, &remote, Some(platform))?.digest)
}

/// The store image of `reference` pinned to `pin`, if the store has it: by that digest,
/// or filed under `host/repo@pin` by a pull (a converted Docker manifest has another).
pub fn pinned_in_store(store: &Store, reference: &str, pin: &Digest) -> Option<Digest> {
    if let Ok(image) = store.image_by_digest(pin) {
        return Some(image.digest);
    }
    let mut remote = Reference::parse(reference).ok()?;
    remote.digest = Some(pin.clone());
    store.image(&remote.store_name()).ok().map(|i| i.digest)
}

/// How one pin compares with what its reference names now.
#[derive(Clone, Debug)]
pub struct Drift {
    /// The pin as the lock has it.
    pub pin: Pin,
    /// What the reference names now (`Err`: why that could not be found out).
    pub current: Result<Digest, String>,
    /// The family images built on it, directly or below one that is, sorted.
    pub images: Vec<String>,
}

impl Drift {
    /// Whether the reference names another image now.
    pub fn moved(&self) -> bool {
        self.current.as_ref().is_ok_and(|d| *d != self.pin.digest)
    }
}

/// Every pin of `lock` that an image of the family uses, compared with what its
/// reference names now (asked of its registry; for a store-only image, its tag).
pub fn drift(
    store: &Store,
    family: &Family,
    lock: &Lock,
    registry: &RegistryOptions,
) -> Result<Vec<Drift>, BuildError> {
    let client = Client::new(registry.clone())?;
    let mut found = Vec::new();
    for pin in lock.pins() {
        let images = family.images_on(&pin.reference);
        if images.is_empty() {
            continue;
        }
        let platform = Platform::parse(&pin.platform)?;
        let current = match (
            local_image(store, &pin.reference),
            Reference::parse(&pin.reference),
        ) {
            (Some(local), _) => Ok(local),
            (None, Ok(remote)) => client
                .resolve(&remote, Some(&platform))
                .map_err(|e| e.to_string()),
            (None, Err(_)) => store
                .image(&pin.reference)
                .map(|i| i.digest)
                .map_err(|e| e.to_string()),
        };
        found.push(Drift {
            pin: pin.clone(),
            current,
            images: images.into_iter().collect(),
        });
    }
    Ok(found)
}

/// The external references of the family that the lock has no pin for on `platform`.
pub fn unpinned(family: &Family, lock: &Lock, platform: &Platform) -> Vec<String> {
    let key = platform.to_string();
    let all: BTreeSet<&String> = family
        .images
        .values()
        .flat_map(|i| &i.external_bases)
        .collect();
    all.into_iter()
        .filter(|r| lock.get(r, &key).is_none())
        .cloned()
        .collect()
}

/// A pin `strata update` moved: the reference, its platform, and the old and new pins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Moved {
    /// The reference as the lock has it.
    pub reference: String,
    /// The platform of the pin.
    pub platform: String,
    /// The pin before (`None`: there was none).
    pub from: Option<Digest>,
    /// The pin now.
    pub to: Digest,
}

/// Moves the pins of `references` (every reference the family uses, when empty) to what
/// they name now, pulling the new images into the store, and returns what moved. A
/// reference that the family does not use is an error naming the ones it does.
pub fn update(
    store: &Store,
    family: &Family,
    lock: &mut Lock,
    references: &[String],
    platform: &Platform,
    registry: &RegistryOptions,
) -> Result<Vec<Moved>, BuildError> {
    let client = Client::new(registry.clone())?;
    // Each reference the family uses, with the platforms it is (or is to be) pinned for.
    let mut targets: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for pin in lock.pins() {
        if !family.images_on(&pin.reference).is_empty() {
            targets
                .entry(pin.reference.clone())
                .or_default()
                .insert(pin.platform.clone());
        }
    }
    for reference in unpinned(family, lock, platform) {
        targets
            .entry(reference)
            .or_default()
            .insert(platform.to_string());
    }
    if !references.is_empty() {
        let known: Vec<String> = targets.keys().cloned().collect();
        let mut chosen = BTreeMap::new();
        for asked in references {
            let Some(name) = known
                .iter()
                .find(|k| crate::family::same_reference(k, asked))
            else {
                return Err(BuildError::Usage(format!(
                    "family {} builds on no image {asked:?}; its external bases are: {}",
                    family.name,
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                )));
            };
            chosen.insert(name.clone(), targets[name].clone());
        }
        targets = chosen;
    }
    let mut moved = Vec::new();
    for (reference, platforms) in targets {
        for key in platforms {
            let platform = Platform::parse(&key)?;
            let Some(now) = current(store, &client, &reference, &platform) else {
                return Err(BuildError::Usage(format!(
                    "{reference} is neither in a registry strata can reach nor in the store"
                )));
            };
            let from = lock.get(&reference, &key).cloned();
            if from.as_ref() == Some(&now) {
                continue;
            }
            image_for_pin(store, &client, &reference, &platform, &now)?;
            lock.set(&reference, &key, now.clone());
            moved.push(Moved {
                reference: reference.clone(),
                platform: key,
                from,
                to: now,
            });
        }
    }
    Ok(moved)
}
