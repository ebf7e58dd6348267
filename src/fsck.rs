//! `strata fsck`: the store's invariants, checked from the files themselves, and with
//! `--repair` restored by removing what breaks them.
//!
//! What a healthy store holds (see `docs/store.md` for what keeps it so):
//! - every blob in `blobs/sha256/` hashes to its name;
//! - every tag in `index.json` names a manifest blob that parses, whose config and
//!   layers are there;
//! - every dir in `snapshots/` of a layer some tag or cache entry holds has every entry
//!   of that layer (a snapshot is complete or absent); snapshots and blobs nothing
//!   refers to are no damage (`rmi` leaves them for `prune`) and are not counted;
//! - every step cache entry parses and names layers whose blobs are there;
//! - `tmp/` holds only the areas of running processes.
//!
//! Checking reads every blob once and every layer a snapshot stands for once more, so it
//! takes about as long as pulling the store's images from a local disk. It takes the
//! store's exclusive lock (as `prune` does): running builds finish first.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::cache::StepCache;
use crate::digest::Digest;
use crate::image::{Descriptor, Store, StoreError};
use crate::layer::{self, Compression};

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// What is broken, naming the blob, tag, snapshot, cache entry or temp entry.
    pub what: String,
    /// What `--repair` removes for it.
    pub remove: Removal,
}

/// How `--repair` mends a [`Problem`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Removal {
    /// Remove this file or dir of the store.
    Path(PathBuf),
    /// Remove this tag from `index.json`.
    Tag(String),
}

/// What [`check`] found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Blobs verified.
    pub blobs: usize,
    /// Tags verified.
    pub tags: usize,
    /// Snapshots verified.
    pub snapshots: usize,
    /// Cache entries verified.
    pub cache_entries: usize,
    /// What is broken, in the order found.
    pub problems: Vec<Problem>,
}

/// Why fsck itself could not run (an unreadable store dir); what it finds is a
/// [`Report`], not an error.
#[derive(Debug, thiserror::Error)]
pub enum FsckError {
    /// The store could not be read or locked.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A dir of the store could not be listed.
    #[error("reading {path}")]
    Io {
        /// The dir.
        path: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
}

/// Checks every invariant of `store` (with its step cache `cache`).
pub fn check(store: &Store, cache: &StepCache) -> Result<Report, FsckError> {
    let _exclusive = store.exclusive()?;
    let mut report = Report::default();
    let blobs = check_blobs(store, &mut report)?;

    // Layers by diff_id, from every tagged image and every cache entry: what a snapshot
    // may stand for and be checked against.
    let mut layers: BTreeMap<Digest, Descriptor> = BTreeMap::new();
    for tag in store.tags()? {
        report.tags += 1;
        let problem = |what: String| Problem {
            what: format!("tag {}: {what}", tag.name),
            remove: Removal::Tag(tag.name.clone()),
        };
        let manifest = &tag.descriptor.digest;
        if !blobs.contains(manifest) {
            report.problems.push(problem(format!(
                "manifest {manifest} is missing or corrupt"
            )));
            continue;
        }
        let image = match store.image_by_digest(manifest) {
            Ok(image) => image,
            Err(e) => {
                report
                    .problems
                    .push(problem(format!("manifest {manifest}: {e}")));
                continue;
            }
        };
        let missing: Vec<String> = std::iter::once(&image.manifest.config)
            .chain(&image.manifest.layers)
            .filter(|d| !blobs.contains(&d.digest))
            .map(|d| d.digest.to_string())
            .collect();
        if !missing.is_empty() {
            report.problems.push(problem(format!(
                "blobs missing or corrupt: {}",
                missing.join(", ")
            )));
            continue;
        }
        for (descriptor, diff_id) in image
            .manifest
            .layers
            .iter()
            .zip(&image.config.rootfs.diff_ids)
        {
            layers.insert(diff_id.clone(), descriptor.clone());
        }
    }

    for entry in cache.entries() {
        report.cache_entries += 1;
        let name = entry.path.display().to_string();
        let remove = Removal::Path(entry.path.clone());
        if !entry.readable {
            report.problems.push(Problem {
                what: format!("cache entry {name} does not parse"),
                remove,
            });
            continue;
        }
        match entry
            .layers
            .iter()
            .find(|(d, _)| !blobs.contains(&d.digest))
        {
            Some((missing, _)) => report.problems.push(Problem {
                what: format!(
                    "cache entry {name} names layer {}, which is missing or corrupt",
                    missing.digest
                ),
                remove,
            }),
            None => {
                for (descriptor, diff_id) in entry.layers {
                    layers.entry(diff_id).or_insert(descriptor);
                }
            }
        }
    }

    check_snapshots(store, &layers, &mut report)?;
    for path in store.temp_orphans() {
        report.problems.push(Problem {
            what: format!(
                "temp leftover {} (its process is gone)",
                path.strip_prefix(store.root()).unwrap_or(&path).display()
            ),
            remove: Removal::Path(path),
        });
    }
    Ok(report)
}

/// Mends every problem of `report`: removes the files and untags the tags it names.
/// Returns how many were mended.
pub fn repair(store: &Store, report: &Report) -> Result<usize, FsckError> {
    let _exclusive = store.exclusive()?;
    let mut mended = 0;
    for problem in &report.problems {
        match &problem.remove {
            Removal::Tag(name) => {
                store.untag(name)?;
            }
            Removal::Path(path) if path.exists() || path.is_symlink() => {
                store.discard(path)?;
            }
            Removal::Path(_) => {}
        }
        mended += 1;
    }
    Ok(mended)
}

/// Hashes every blob; returns the digests of the good ones.
fn check_blobs(store: &Store, report: &mut Report) -> Result<BTreeSet<Digest>, FsckError> {
    let dir = store.root().join("blobs/sha256");
    let mut good = BTreeSet::new();
    for path in list(&dir)? {
        report.blobs += 1;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let remove = Removal::Path(path.clone());
        let Ok(expected) = format!("sha256:{name}").parse::<Digest>() else {
            report.problems.push(Problem {
                what: format!("blobs/sha256/{name} is not named by a digest"),
                remove,
            });
            continue;
        };
        match hash_file(&path) {
            Ok(actual) if actual == expected => {
                good.insert(expected);
            }
            Ok(actual) => report.problems.push(Problem {
                what: format!("blob {expected} is corrupt: its content hashes to {actual}"),
                remove,
            }),
            Err(e) => report.problems.push(Problem {
                what: format!("blob {expected} cannot be read: {e}"),
                remove,
            }),
        }
    }
    Ok(good)
}

/// Checks each snapshot dir against the layer it is named after.
fn check_snapshots(
    store: &Store,
    layers: &BTreeMap<Digest, Descriptor>,
    report: &mut Report,
) -> Result<(), FsckError> {
    for path in list(&store.root().join("snapshots"))? {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let problem = |what: String| Problem {
            what: format!("snapshot {name}: {what}"),
            remove: Removal::Path(path.clone()),
        };
        let layer = format!("sha256:{name}")
            .parse::<Digest>()
            .ok()
            .and_then(|diff_id| layers.get(&diff_id));
        let Some(layer) = layer else {
            continue; // Unreferenced: `prune` removes it, nothing reads it.
        };
        report.snapshots += 1;
        if !path.is_dir() || path.is_symlink() {
            report.problems.push(problem("not a directory".into()));
            continue;
        }
        let compression = Compression::from_media_type(&layer.media_type).unwrap_or_default();
        let blob = store.blob_path(&layer.digest);
        let verdict = File::open(&blob)
            .map_err(|e| e.to_string())
            .and_then(|file| {
                layer::missing_from_snapshot(BufReader::new(file), compression, &path)
                    .map_err(|e| e.to_string())
            });
        match verdict {
            Ok(None) => {}
            Ok(Some(entry)) => report.problems.push(problem(format!(
                "incomplete: {entry} of layer {} is missing or differs",
                layer.digest
            ))),
            Err(e) => report.problems.push(problem(format!(
                "cannot check against {}: {e}",
                layer.digest
            ))),
        }
    }
    Ok(())
}

/// The entries of `dir`, sorted.
fn list(dir: &Path) -> Result<Vec<PathBuf>, FsckError> {
    let io = |source| FsckError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut paths = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)?;
    paths.sort();
    Ok(paths)
}

/// The sha256 of a file, streamed.
fn hash_file(path: &Path) -> std::io::Result<Digest> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(Digest::from_hasher(hasher));
        }
        hasher.update(&buffer[..n]);
    }
}
