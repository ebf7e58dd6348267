//! The step cache: content-addressed keys for build steps, and what each key produced.
//!
//! A step's [`CacheKey`] is the digest of the previous layer step's key, the instruction
//! after expansion, the container config and ARG values it runs with, and for COPY/ADD the
//! content of its sources (names, modes, ownership, bytes). Equal keys mean equal layers,
//! so a hit reuses the layer without running anything.
//!
//! Everything lives in the store's `cache/` dir, one small JSON file per entry written
//! atomically (temp file + rename), so concurrent builds never see a half-written entry:
//! - `cache/steps/<key>`: the layer a key produced ([`CachedStep`]);
//! - `cache/inputs/<identity>`: what a step of a given Dockerfile last ran with
//!   ([`StepInputs`]), so `--explain` can say why it missed;
//! - `cache/rebase/<key>`: a layer by the key of its step *without* the parent image
//!   ([`Rebasable`]), with the layers it was made over, so a build on a changed parent can
//!   reuse it once [`crate::snapshot::differences`] proves the step would write the same;
//! - `cache/files.json`: content digests of context files by (path, size, mtime, ctime,
//!   inode) ([`FileDigests`]), so unchanged files are never read twice.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::image::{Descriptor, Store};

/// The cache key of a build step.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CacheKey(pub Digest);

/// Accumulates the inputs of a step into a [`CacheKey`]. Every field is tagged and
/// length-prefixed, so different inputs can never hash alike by concatenation.
pub struct KeyBuilder(Sha256);

impl KeyBuilder {
    /// Starts a key of the given kind (`"scratch"`, `"image"`, `"RUN"`, ...).
    pub fn new(kind: &str) -> KeyBuilder {
        KeyBuilder(Sha256::new()).field("kind", kind.as_bytes())
    }

    /// Adds one named input.
    #[must_use]
    pub fn field(mut self, name: &str, value: &[u8]) -> KeyBuilder {
        for part in [name.as_bytes(), value] {
            self.0.update((part.len() as u64).to_le_bytes());
            self.0.update(part);
        }
        self
    }

    /// The finished key.
    pub fn finish(self) -> CacheKey {
        CacheKey(Digest::from_hasher(self.0))
    }
}

/// What a cached step produced: its layer, or none (a WORKDIR whose dir existed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedStep {
    /// The layer blob's descriptor and its diff_id.
    pub layer: Option<(Descriptor, Digest)>,
}

/// A layer made by a step that does not read its parent (COPY, WORKDIR), found by the
/// step's parent-free key: what a rebase onto another parent may reuse.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rebasable {
    /// The layer blob's descriptor and its diff_id.
    pub layer: (Descriptor, Digest),
    /// The layers it was made over, bottom first (descriptor and diff_id).
    pub lower: Vec<(Descriptor, Digest)>,
}

/// One entry file of the step cache, as [`StepCache::entries`] lists it.
#[derive(Clone, Debug)]
pub struct CacheEntry {
    /// The entry's file (removing it forgets the entry).
    pub path: PathBuf,
    /// Whether the file parses.
    pub readable: bool,
    /// The layers (blob descriptor and diff_id) it names.
    pub layers: Vec<(Descriptor, Digest)>,
}

/// The inputs a step last ran with, for explaining a cache miss.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepInputs {
    /// The key of the step before it (or of the base).
    pub parent: Option<CacheKey>,
    /// The instruction after expansion.
    pub instruction: String,
    /// ARG values in scope.
    pub args: BTreeMap<String, String>,
    /// Digest of every source file, by path (COPY/ADD).
    pub files: BTreeMap<String, String>,
}

impl StepInputs {
    /// Why `self` (the new inputs) missed where `old` had been built: the first difference
    /// a person would look for.
    pub fn explain(&self, old: &StepInputs) -> String {
        if self.instruction != old.instruction {
            return format!("instruction changed (was: {})", old.instruction);
        }
        for (name, value) in &self.args {
            match old.args.get(name) {
                Some(v) if v == value => {}
                Some(_) => return format!("build arg {name} changed"),
                None => return format!("build arg {name} added"),
            }
        }
        if let Some(name) = old.args.keys().find(|k| !self.args.contains_key(*k)) {
            return format!("build arg {name} removed");
        }
        let mut changes = Vec::new();
        for (path, digest) in &self.files {
            match old.files.get(path) {
                Some(d) if d == digest => {}
                Some(_) => changes.push(format!("file {path} changed")),
                None => changes.push(format!("file {path} added")),
            }
        }
        changes.extend(
            old.files
                .keys()
                .filter(|p| !self.files.contains_key(*p))
                .map(|p| format!("file {p} removed")),
        );
        if !changes.is_empty() {
            let more = if changes.len() > 3 {
                format!(" and {} more", changes.len() - 3)
            } else {
                String::new()
            };
            changes.truncate(3);
            return format!("{}{more}", changes.join(", "));
        }
        if self.parent != old.parent {
            return "parent rebuilt".into();
        }
        "file metadata or context changed".into()
    }
}

/// The step cache of one store.
#[derive(Clone, Debug)]
pub struct StepCache {
    dir: PathBuf,
    /// Whose temp area new entries are written in before they are renamed into place, so
    /// a writer killed half-way leaves its bytes where the next store opener reclaims
    /// them rather than a stray file among the entries.
    store: Store,
}

impl StepCache {
    /// The cache of `store` (in its `cache/`), created if missing.
    pub fn open(store: &Store) -> std::io::Result<StepCache> {
        let dir = store.root().join("cache");
        for sub in ["steps", "inputs", "rebase"] {
            fs_err::create_dir_all(dir.join(sub))?;
        }
        Ok(StepCache {
            dir,
            store: store.clone(),
        })
    }

    /// The entry of `key`, if any.
    pub fn get(&self, key: &CacheKey) -> Option<CachedStep> {
        read_json(&self.dir.join("steps").join(key.0.hex()))
    }

    /// Records what `key` produced.
    pub fn put(&self, key: &CacheKey, step: &CachedStep) -> std::io::Result<()> {
        write_json(&self.store, &self.dir.join("steps").join(key.0.hex()), step)
    }

    /// The layer last made by a step with the parent-free key `key`, if any.
    pub fn rebasable(&self, key: &CacheKey) -> Option<Rebasable> {
        read_json(&self.dir.join("rebase").join(key.0.hex()))
    }

    /// Records the layer a step with the parent-free key `key` made, and over what.
    pub fn put_rebasable(&self, key: &CacheKey, entry: &Rebasable) -> std::io::Result<()> {
        write_json(
            &self.store,
            &self.dir.join("rebase").join(key.0.hex()),
            entry,
        )
    }

    /// What the step called `identity` last ran with.
    pub fn last_inputs(&self, identity: &Digest) -> Option<StepInputs> {
        read_json(&self.dir.join("inputs").join(identity.hex()))
    }

    /// Remembers what the step called `identity` ran with.
    pub fn record_inputs(&self, identity: &Digest, inputs: &StepInputs) -> std::io::Result<()> {
        write_json(
            &self.store,
            &self.dir.join("inputs").join(identity.hex()),
            inputs,
        )
    }

    /// Every cached layer, for `prune` (which keeps the blobs they name).
    pub fn layers(&self) -> Vec<(Descriptor, Digest)> {
        let Ok(entries) = std::fs::read_dir(self.dir.join("steps")) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| read_json::<CachedStep>(&e.path()))
            .filter_map(|s| s.layer)
            .collect()
    }

    /// Every step entry and every rebase entry with the layers it names (the layer, then
    /// for a rebase entry the layers it was made over), for `strata fsck`. A file that
    /// does not parse is listed with no layers, so it counts as broken.
    pub fn entries(&self) -> Vec<CacheEntry> {
        let mut entries = Vec::new();
        for (sub, rebase) in [("steps", false), ("rebase", true)] {
            let Ok(dir) = std::fs::read_dir(self.dir.join(sub)) else {
                continue;
            };
            for path in dir.filter_map(Result::ok).map(|e| e.path()) {
                let layers = if rebase {
                    read_json::<Rebasable>(&path)
                        .map(|r| std::iter::once(r.layer).chain(r.lower).collect())
                } else {
                    read_json::<CachedStep>(&path).map(|s| s.layer.into_iter().collect())
                };
                entries.push(CacheEntry {
                    readable: layers.is_some(),
                    layers: layers.unwrap_or_default(),
                    path,
                });
            }
        }
        entries
    }

    /// Removes every entry (`prune --all`).
    pub fn clear(&self) -> std::io::Result<()> {
        for sub in ["steps", "inputs", "rebase"] {
            let dir = self.dir.join(sub);
            fs_err::remove_dir_all(&dir)?;
            fs_err::create_dir_all(&dir)?;
        }
        let _ = std::fs::remove_file(self.dir.join("files.json"));
        Ok(())
    }

    /// The file-digest memo of this store.
    pub fn file_digests(&self) -> FileDigests {
        let path = self.dir.join("files.json");
        let known = read_json(&path).unwrap_or_default();
        FileDigests {
            path,
            store: self.store.clone(),
            known,
            used: BTreeMap::new(),
        }
    }
}

/// Content digests of files by (path, size, mtime, ctime, inode): a file whose stat is
/// unchanged is not read again. Only entries used in this build are saved, so files that
/// left the context drop out.
pub struct FileDigests {
    path: PathBuf,
    store: Store,
    known: BTreeMap<String, String>,
    used: BTreeMap<String, String>,
}

impl FileDigests {
    /// The content digest (hex) of the file `path` with stat `st`, computed by `hash` only
    /// when unknown.
    pub fn digest(
        &mut self,
        path: &Path,
        st: &rustix::fs::Stat,
        hash: impl FnOnce() -> std::io::Result<String>,
    ) -> std::io::Result<String> {
        let key = format!(
            "{}\0{}\0{}.{}\0{}.{}\0{}",
            path.display(),
            st.st_size,
            st.st_mtime,
            st.st_mtime_nsec,
            st.st_ctime,
            st.st_ctime_nsec,
            st.st_ino
        );
        let digest = match self.known.get(&key) {
            Some(d) => d.clone(),
            None => hash()?,
        };
        self.used.insert(key, digest.clone());
        Ok(digest)
    }

    /// Saves the entries used in this build (atomically), merged into what the file
    /// holds now: the images of a family build one after another (and in parallel), and
    /// each must keep the others' entries, or the next one hashes its context again.
    /// Entries are dropped for files this build saw with another stat (stale) and for
    /// files that no longer exist, so the file does not grow without bound. Two builds
    /// saving at the same moment may lose each other's new entries: a later build then
    /// hashes those files once more, never reads a wrong digest (the key is the stat).
    pub fn save(&self) -> std::io::Result<()> {
        if self.used.iter().all(|(k, _)| self.known.contains_key(k)) {
            return Ok(());
        }
        let path_of = |key: &str| key.split('\0').next().unwrap_or_default().to_owned();
        let seen: std::collections::BTreeSet<String> =
            self.used.keys().map(|k| path_of(k)).collect();
        let mut merged: BTreeMap<String, String> =
            read_json::<BTreeMap<String, String>>(&self.path)
                .unwrap_or_default()
                .into_iter()
                .filter(|(key, _)| {
                    let path = path_of(key);
                    !seen.contains(&path) && Path::new(&path).symlink_metadata().is_ok()
                })
                .collect();
        merged.extend(self.used.iter().map(|(k, v)| (k.clone(), v.clone())));
        write_json(&self.store, &self.path, &merged)
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Writes `value` as JSON to a file in `store`'s temp area (same file system) and
/// renames it to `path`.
fn write_json<T: Serialize>(store: &Store, path: &Path, value: &T) -> std::io::Result<()> {
    let tmp = store.temp_path();
    let written = std::fs::File::create(&tmp).and_then(|mut file| {
        file.write_all(&serde_json::to_vec(value).map_err(std::io::Error::other)?)?;
        std::fs::rename(&tmp, path)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_digests_of_one_build_keep_those_of_another() {
        let root = tempfile::tempdir().unwrap();
        let files = tempfile::tempdir().unwrap();
        let cache = StepCache::open(&Store::open(root.path()).unwrap()).unwrap();
        let (a, b) = (files.path().join("a"), files.path().join("b"));
        std::fs::write(&a, "a").unwrap();
        std::fs::write(&b, "b").unwrap();
        let stat = |p: &Path| rustix::fs::stat(p).unwrap();
        let hashed = std::cell::Cell::new(0);
        let hash = || {
            hashed.set(hashed.get() + 1);
            Ok("h".to_owned())
        };
        // Two images of a family: each saves only what it used, neither loses the other's.
        let mut first = cache.file_digests();
        first.digest(&a, &stat(&a), hash).unwrap();
        let mut second = cache.file_digests();
        second.digest(&b, &stat(&b), hash).unwrap();
        first.save().unwrap();
        second.save().unwrap();
        let mut third = cache.file_digests();
        third.digest(&a, &stat(&a), hash).unwrap();
        third.digest(&b, &stat(&b), hash).unwrap();
        assert_eq!(hashed.get(), 2, "a and b were hashed again");
        // A changed file replaces its stale entry; a deleted one is dropped.
        std::fs::write(&a, "changed").unwrap();
        std::fs::remove_file(&b).unwrap();
        let mut fourth = cache.file_digests();
        fourth.digest(&a, &stat(&a), hash).unwrap();
        fourth.save().unwrap();
        let saved: BTreeMap<String, String> =
            read_json(&root.path().join("cache/files.json")).unwrap();
        assert_eq!(saved.len(), 1, "{saved:?}");
    }

    #[test]
    fn keys_separate_their_fields() {
        let a = KeyBuilder::new("RUN").field("x", b"ab").field("y", b"c");
        let b = KeyBuilder::new("RUN").field("x", b"a").field("y", b"bc");
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn explain_names_the_first_difference() {
        let old = StepInputs {
            instruction: "COPY app /app".into(),
            args: [("V".to_string(), "1".to_string())].into(),
            files: [
                ("app/a".to_string(), "1".to_string()),
                ("app/b".to_string(), "2".to_string()),
            ]
            .into(),
            ..StepInputs::default()
        };
        let mut new = old.clone();
        new.files.insert("app/b".into(), "3".into());
        assert_eq!(new.explain(&old), "file app/b changed");
        new.args.insert("V".into(), "2".into());
        assert_eq!(new.explain(&old), "build arg V changed");
        let mut parent_only = old.clone();
        parent_only.parent = Some(CacheKey(Digest::of(b"x")));
        assert_eq!(parent_only.explain(&old), "parent rebuilt");
    }

    #[test]
    fn entries_round_trip_and_clear() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = StepCache::open(&Store::open(tmp.path()).unwrap()).unwrap();
        let key = KeyBuilder::new("x").finish();
        assert!(cache.get(&key).is_none());
        cache.put(&key, &CachedStep { layer: None }).unwrap();
        assert_eq!(cache.get(&key), Some(CachedStep { layer: None }));
        cache.clear().unwrap();
        assert!(cache.get(&key).is_none());
    }
}
