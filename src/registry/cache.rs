//! The step cache shared through a registry (`strata build --cache-to REF` and
//! `--cache-from REF`) or an OCI layout directory (`--cache-to type=local,dest=DIR`,
//! `--cache-from type=local,src=DIR`), so a second machine builds without running cached
//! steps.
//!
//! # Artifact format
//!
//! The cache is an ordinary OCI image, so every registry stores it and every tool can copy
//! it:
//! - **layers**: every distinct layer blob a cache entry names, in the order first named;
//! - **config** (`application/vnd.oci.image.config.v1+json`): a valid image config
//!   (`architecture`, `os`, `rootfs.diff_ids` of those layers) with one more field,
//!   `"strata.cache.v1"`: an object from cache key (64 hex digits) to the step's result,
//!   `{"layer": [DESCRIPTOR, DIFF_ID]}` or `{"layer": null}` (a step that wrote nothing);
//! - **manifest annotation** `org.opencontainers.image.title` = `strata build cache`.
//!
//! A key is the digest of a step's inputs (see [`crate::cache`]): it names no path of the
//! machine that built it, so another checkout of the same sources finds the same keys.
//! Export to a registry tags the artifact in the local store under its destination
//! reference, then pushes it; import pulls it (layers land in the store's blobs) and adds
//! the entries the local cache lacks. A local cache is the same artifact in an OCI layout
//! directory, named by a tag in its `index.json` (`latest` unless told), as BuildKit's
//! local cache names its own.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::cache::{CacheKey, CachedStep, StepCache};
use crate::image::layout::{self, Selector};
use crate::image::{Descriptor, Image, ImageConfig, RootFs, Store, StoreError};
use crate::platform::Platform;

use super::client::Client;
use super::error::RegistryError;
use super::push::{PushOptions, Pushed};
use super::reference::Reference;

/// The config field holding the entries.
pub const ENTRIES_FIELD: &str = "strata.cache.v1";

/// Pushes `entries` as a cache artifact to `destination`.
pub fn export(
    client: &Client,
    store: &Store,
    entries: &[(CacheKey, CachedStep)],
    destination: &str,
) -> Result<Pushed, RegistryError> {
    let reference = Reference::parse(destination)?;
    let manifest = artifact(store, entries)?;
    store.tag(destination, &manifest)?;
    client.push(store, destination, &reference, &PushOptions::default())
}

/// Writes `entries` as a cache artifact into the OCI layout `dir` under `tag`.
pub fn export_local(
    store: &Store,
    entries: &[(CacheKey, CachedStep)],
    dir: &Path,
    tag: &str,
) -> Result<Descriptor, StoreError> {
    let manifest = artifact(store, entries)?;
    let image = store.image_by_digest(&manifest.digest)?;
    layout::export(store, &image, dir, tag)
}

/// Puts the cache artifact of `entries` into the store (untagged) and returns its
/// manifest descriptor.
fn artifact(store: &Store, entries: &[(CacheKey, CachedStep)]) -> Result<Descriptor, StoreError> {
    let mut layers: Vec<Descriptor> = Vec::new();
    let mut diff_ids = Vec::new();
    let mut table = serde_json::Map::new();
    for (key, step) in entries {
        if let Some((layer, diff_id)) = &step.layer {
            if !layers.iter().any(|l| l.digest == layer.digest) {
                layers.push(layer.clone());
                diff_ids.push(diff_id.clone());
            }
        }
        table.insert(
            key.0.hex().to_owned(),
            serde_json::to_value(step).unwrap_or(Value::Null),
        );
    }
    let host = Platform::host();
    let mut config = ImageConfig {
        architecture: host.architecture,
        os: host.os,
        variant: host.variant,
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids,
        },
        ..ImageConfig::default()
    };
    config
        .extra
        .insert(ENTRIES_FIELD.into(), Value::Object(table));
    let annotations = BTreeMap::from([(
        "org.opencontainers.image.title".to_owned(),
        "strata build cache".to_owned(),
    )]);
    store.put_image(&config, &layers, annotations)
}

/// Pulls the cache artifact at `source` and adds its entries to `cache`; returns how many
/// were new. A cache that does not exist yet (the first build) is not an error: `Ok(0)`.
pub fn import(
    client: &Client,
    store: &Store,
    cache: &StepCache,
    source: &str,
) -> Result<usize, RegistryError> {
    let reference = Reference::parse(source)?;
    let pulled = match client.pull(store, &reference, None) {
        Ok(pulled) => pulled,
        Err(e) if e.is_not_found() => return Ok(0),
        Err(e) => return Err(e),
    };
    let image = store.image_by_digest(&pulled.digest)?;
    add_entries(cache, &image, source)
}

/// Adds the entries of the cache artifact in the OCI layout `dir` (under `tag`) to
/// `cache`; returns how many were new. A layout that does not exist yet (the first build)
/// is not an error: `Ok(0)`.
pub fn import_local(
    store: &Store,
    cache: &StepCache,
    dir: &Path,
    tag: &str,
) -> Result<usize, RegistryError> {
    if !dir.join("index.json").is_file() {
        return Ok(0);
    }
    let selector = Selector::Tag(tag.to_owned());
    let image = layout::import(store, dir, &selector, &Platform::host())?;
    add_entries(cache, &image, &dir.display().to_string())
}

/// Adds the entries of the cache artifact `image` (read from `source`) that `cache`
/// lacks; returns how many.
fn add_entries(cache: &StepCache, image: &Image, source: &str) -> Result<usize, RegistryError> {
    let Some(Value::Object(table)) = image.config.extra.get(ENTRIES_FIELD) else {
        return Err(RegistryError::Protocol {
            url: source.to_owned(),
            reason: format!("not a strata build cache (no {ENTRIES_FIELD} in its config)"),
        });
    };
    let mut added = 0;
    for (hex, value) in table {
        let (Ok(digest), Ok(step)) = (
            format!("sha256:{hex}").parse(),
            serde_json::from_value::<CachedStep>(value.clone()),
        ) else {
            continue;
        };
        let key = CacheKey(digest);
        if cache.get(&key).is_none() {
            cache
                .put(&key, &step)
                .map_err(|e| RegistryError::Protocol {
                    url: source.to_owned(),
                    reason: format!("writing the step cache: {e}"),
                })?;
            added += 1;
        }
    }
    Ok(added)
}
