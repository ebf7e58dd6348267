//! Where pushed blobs already are, remembered across runs in the store's
//! `registry-blobs.json`: registry host -> blob digest -> the repositories (most recent
//! first, at most [`MAX_REPOS`]) that a push put it in or found it in.
//!
//! A later push, from another run too, offers those repositories as cross-repository
//! mount sources, so `strata push base` then `strata push app` uploads the base layers
//! once, as skopeo's blob-info cache does. A stale entry (the repository was deleted, or
//! the registry does not mount) costs one refused mount, after which the blob is uploaded.

use std::collections::BTreeMap;

use crate::digest::Digest;
use crate::image::{Descriptor, Store, StoreError};

/// The hints file in the store.
const FILE: &str = "registry-blobs.json";
/// Repositories remembered per blob and registry.
pub const MAX_REPOS: usize = 4;

/// Host -> digest -> repositories, most recent first.
type Table = BTreeMap<String, BTreeMap<Digest, Vec<String>>>;

/// The locations known when a push starts.
pub(super) struct Locations {
    table: Table,
}

impl Locations {
    /// Reads what earlier pushes into `store` remembered.
    pub(super) fn load(store: &Store) -> Locations {
        Locations {
            table: store.read_hints(FILE),
        }
    }

    /// Repositories of `host` known to hold `digest`.
    pub(super) fn repos(&self, host: &str, digest: &Digest) -> &[String] {
        self.table
            .get(host)
            .and_then(|blobs| blobs.get(digest))
            .map_or(&[], Vec::as_slice)
    }
}

/// Remembers that `repo` of `host` now holds `blobs`. Blobs no longer in the store are
/// forgotten on the way, so the file shrinks with `strata prune`.
pub(super) fn remember(
    store: &Store,
    host: &str,
    repo: &str,
    blobs: &[&Descriptor],
) -> Result<(), StoreError> {
    store.update_hints(FILE, |table: &mut Table| {
        let known = table.entry(host.to_owned()).or_default();
        for blob in blobs {
            let repos = known.entry(blob.digest.clone()).or_default();
            repos.retain(|r| r != repo);
            repos.insert(0, repo.to_owned());
            repos.truncate(MAX_REPOS);
        }
        for blobs in table.values_mut() {
            blobs.retain(|digest, _| store.blob_path(digest).is_file());
        }
        table.retain(|_, blobs| !blobs.is_empty());
    })
}
