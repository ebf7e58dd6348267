//! The executor's cache side: a layer step's key, its lookup, the layer it writes, and
//! publishing what a successful build made.
//!
//! Every step that changes files goes through [`Executor::execute`]: the key is the digest
//! of the parent key, the instruction after expansion, the config, the ARGs in scope, the
//! content of its inputs, the layer compression and the files' mtime; a hit reuses the recorded layer, a miss
//! runs the work and keeps its layer in the build's scratch space ([`Pending`]) until
//! [`Executor::publish`], so a failed build leaves the store as it found it.
//!
//! A step that does not read its parent's files (COPY, WORKDIR: no RUN so far in the
//! stage) also has a parent-free key: the same inputs without the base image. When the
//! parent changed, that key finds the layer the step made over the old parent, and
//! [`crate::snapshot::differences`] proves whether it is exactly what the step would
//! write over the new one (every path it holds reads the same in both, every `--chown` or
//! WORKDIR user resolves to the same ids). If so, the layer is reused: a rebase, with the
//! digest a rebuild would give, as everything else (config, history) is built as usual.
//!
//! The platforms of one build run in parallel, each with its own executor over one
//! [`Shared`]: a step whose key two of them compute alike (a stage `FROM
//! --platform=$BUILDPLATFORM`, which is the same for every target) runs once, the others
//! wait for it and take its layer, as BuildKit merges equal vertices of its graph.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::cache::{
    CacheKey, CachedStep, FileDigests, KeyBuilder, Rebasable, StepCache, StepInputs,
};
use crate::copy::{digest_sources, CopyError, SourceSet};
use crate::digest::Digest;
use crate::fsroot::Root;
use crate::image::{Descriptor, Store};
use crate::layer;
use crate::snapshot::{lower_stack, StepDirs};

use super::rebase::parent_differences;
use super::stage::{StageLayer, State};
use super::{io_err, BuildError, BuildOptions, Event};

/// What a layer step's key is made of, besides the stage's state.
pub(super) struct KeyInputs<'a> {
    /// `RUN`, `COPY`, `ADD` or `WORKDIR`.
    pub kind: &'a str,
    /// The instruction after expansion.
    pub text: String,
    /// The digest of what the step reads (sources, mounted stages), or empty.
    pub content: Vec<u8>,
    /// Digest of every source file by path, for `--explain`.
    pub files: BTreeMap<String, String>,
    /// `None` when the step reads its parent's files (RUN), so it can never be rebased;
    /// else what little of the parent it does read, which must read alike in a new one.
    pub rebasable: Option<ParentReads>,
}

/// What a step that does not run anything reads of its parent.
#[derive(Clone, Debug, Default)]
pub(super) struct ParentReads {
    /// User names it resolves (`--chown`, WORKDIR's USER).
    pub users: Vec<String>,
    /// The absolute path it writes to: the symlinks and directories on the way decide
    /// where its files land.
    pub path: String,
}

/// A layer step's cache lookup: its key, what it ran with, and what the cache holds.
pub(super) struct Probe {
    key: CacheKey,
    /// The parent-free key, while the stage has not read its base.
    free: Option<CacheKey>,
    identity: Digest,
    inputs: StepInputs,
    hit: Lookup,
}

/// What the cache holds for a key.
enum Lookup {
    /// Nothing usable: the step runs.
    Miss,
    /// The step ran before and added this layer (none: it changed nothing).
    Hit(Option<StageLayer>),
    /// The step ran over another parent and made this layer, proven to be the one it
    /// would make over this one.
    Rebased(StageLayer),
}

/// Why a step's layer over an old parent may not be reused, for `--explain`.
type Refusal = String;

/// A step that ran in this build: the cache entry and inputs it records once published.
struct Ran {
    key: CacheKey,
    identity: Digest,
    inputs: StepInputs,
    result: CachedStep,
    /// The parent-free entry to record, for a step that ran and made a layer.
    rebasable: Option<(CacheKey, Rebasable)>,
}

/// A layer this build wrote that is not in the store yet.
struct Pending {
    /// The compressed blob, beside the step's dirs.
    blob: PathBuf,
    /// Its digests.
    layer: layer::Layer,
    /// The step's dirs; the upper dir is the layer's snapshot until published.
    dirs: StepDirs,
}

/// What the executors of one build share: the layers written and not yet published, and
/// the steps that are running or ran, by key.
#[derive(Default)]
pub(super) struct Shared {
    /// Layers written by this build, by blob digest.
    pending: Mutex<HashMap<Digest, Pending>>,
    /// Steps claimed by an executor: `None` while it runs, then its layer.
    steps: Mutex<HashMap<CacheKey, Option<Option<StageLayer>>>>,
    /// Signalled whenever a claimed step finishes or is given up.
    finished: Condvar,
}

/// Whose a step is, after [`Shared::claim`].
enum Claim {
    /// The caller's to run (and then [`Shared::finish`] or [`Shared::abandon`]).
    Mine,
    /// Another executor of this build ran it and made this layer.
    Done(Option<StageLayer>),
}

impl Shared {
    fn steps(&self) -> MutexGuard<'_, HashMap<CacheKey, Option<Option<StageLayer>>>> {
        self.steps.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pending(&self) -> MutexGuard<'_, HashMap<Digest, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Claims step `key`, or waits while another executor runs it and takes its result.
    fn claim(&self, key: &CacheKey) -> Claim {
        let mut steps = self.steps();
        loop {
            match steps.get(key) {
                None => {
                    steps.insert(key.clone(), None);
                    return Claim::Mine;
                }
                Some(Some(layer)) => return Claim::Done(layer.clone()),
                Some(None) => {
                    steps = self.finished.wait(steps).unwrap_or_else(|e| e.into_inner());
                }
            }
        }
    }

    /// Records the layer a claimed step made, for the executors waiting on it.
    fn finish(&self, key: &CacheKey, layer: Option<StageLayer>) {
        self.steps().insert(key.clone(), Some(layer));
        self.finished.notify_all();
    }

    /// Gives a claimed step up (it failed): a waiting executor claims it instead.
    fn abandon(&self, key: &CacheKey) {
        self.steps().remove(key);
        self.finished.notify_all();
    }

    /// Moves the layers the build made into the store (blobs into `blobs/`, upper dirs
    /// into `snapshots/`). Called once every platform's build succeeded.
    pub(super) fn publish(&self, store: &Store) -> Result<(), BuildError> {
        // Every stage's layers go in (not only the target's): the cache entries of
        // intermediate stages point at them.
        for (digest, p) in self.pending().drain() {
            store.commit_blob(&p.blob, &digest)?;
            store.adopt_snapshot(&p.dirs.upper, &p.layer)?;
        }
        Ok(())
    }
}

/// The step cache and the layers of one build for one platform.
pub(super) struct Executor<'a> {
    store: &'a Store,
    opts: &'a BuildOptions,
    cache: StepCache,
    /// Content digests of context files, by stat.
    memo: FileDigests,
    /// What the build's executors share.
    shared: &'a Shared,
    /// The blobs of layers this executor wrote (rather than found cached).
    written: HashSet<Digest>,
    /// The step this executor claimed and is running, given up if it fails.
    running: Option<CacheKey>,
    /// Steps that ran: their cache entries are written by [`Executor::publish`].
    ran: Vec<Ran>,
    /// Every layer step's key and result, run or cached (for `--cache-to`).
    used: Vec<(CacheKey, CachedStep)>,
}

impl Drop for Executor<'_> {
    /// A step claimed but never executed (the build failed between probe and execute) is
    /// given up, so that no other platform's build waits for it forever.
    fn drop(&mut self) {
        if let Some(key) = self.running.take() {
            self.shared.abandon(&key);
        }
    }
}

/// The cache entry of a step that produced `layer`.
fn cached_step(layer: Option<&StageLayer>) -> CachedStep {
    CachedStep {
        layer: layer.map(|l| (l.descriptor.clone(), l.diff_id.clone())),
    }
}

impl<'a> Executor<'a> {
    /// An executor over the store's step cache.
    pub(super) fn new(
        store: &'a Store,
        opts: &'a BuildOptions,
        cache: StepCache,
        shared: &'a Shared,
    ) -> Self {
        Executor {
            store,
            opts,
            memo: cache.file_digests(),
            cache,
            shared,
            written: HashSet::new(),
            running: None,
            ran: Vec::new(),
            used: Vec::new(),
        }
    }

    /// The content digest of a source set (and each file's), through the stat memo.
    pub(super) fn digest(
        &mut self,
        set: &SourceSet<'_>,
    ) -> Result<(Digest, BTreeMap<String, String>), CopyError> {
        digest_sources(set, &mut self.memo)
    }

    /// Whether the steps of `stage` may come from the cache: not with `--no-cache`, nor
    /// for a stage `--no-cache-filter` names.
    pub(super) fn uses_cache(&self, stage: &crate::dockerfile::Stage) -> bool {
        !self.opts.no_cache
            && !stage.name.as_ref().is_some_and(|n| {
                self.opts
                    .no_cache_filter
                    .iter()
                    .any(|f| f.eq_ignore_ascii_case(n))
            })
    }

    /// Whether this build wrote the blob `digest` (rather than finding it cached).
    pub(super) fn wrote(&self, digest: &Digest) -> bool {
        self.written.contains(digest)
    }

    /// Computes the key of step `number` of `state` and looks it up, reporting a hit or
    /// (with the reason) a miss.
    pub(super) fn probe(
        &mut self,
        state: &State<'_>,
        number: usize,
        inputs: KeyInputs<'_>,
        events: &mut dyn FnMut(Event<'_>),
    ) -> Result<Probe, BuildError> {
        let args: BTreeMap<String, String> = state.args.step_args().into_iter().collect();
        let config = serde_json::to_vec(&state.built.config.config).unwrap_or_default();
        let args_json = serde_json::to_vec(&args).unwrap_or_default();
        let key = KeyBuilder::new(inputs.kind)
            .field("parent", state.built.key.0.as_str().as_bytes())
            .field("instruction", inputs.text.as_bytes())
            .field("config", &config)
            .field("args", &args_json)
            .field("content", &inputs.content)
            .field("compression", self.opts.compression.media_type().as_bytes())
            .field("mtime", &self.opts.epoch.files.to_le_bytes())
            .finish();
        let free = match (&inputs.rebasable, &state.built.free) {
            (Some(reads), Some(own)) => Some(
                KeyBuilder::new(inputs.kind)
                    .field("own", own.0.as_str().as_bytes())
                    .field("instruction", inputs.text.as_bytes())
                    .field("workdir", state.workdir().as_bytes())
                    // The users the step resolves: WORKDIR's comes from the config (its
                    // own USER or the base's), not its text, and its layer holds the dir
                    // owned by that user. Without it a WORKDIR made by `app` was reused
                    // under USER other, as `rebase` only checks that the *current* user
                    // resolves alike in both parents.
                    .field(
                        "users",
                        &serde_json::to_vec(&reads.users).unwrap_or_default(),
                    )
                    .field("args", &args_json)
                    .field("content", &inputs.content)
                    .field("compression", self.opts.compression.media_type().as_bytes())
                    .field("mtime", &self.opts.epoch.files.to_le_bytes())
                    .finish(),
            ),
            _ => None,
        };
        let identity = KeyBuilder::new("identity")
            .field("dockerfile", state.source.path.to_string_lossy().as_bytes())
            .field("stage", &state.stage.index.to_le_bytes())
            .field("step", &number.to_le_bytes())
            .finish()
            .0;
        let reads = inputs.rebasable.clone().unwrap_or_default();
        let step_inputs = StepInputs {
            parent: Some(state.built.key.clone()),
            instruction: inputs.text,
            args,
            files: inputs.files,
        };
        let use_cache = self.uses_cache(state.stage);
        let mut hit = if use_cache {
            self.lookup(&key)?
        } else {
            Lookup::Miss
        };

        let mut refusal = None;
        if let (Lookup::Miss, Some(free), true) = (&hit, &free, use_cache && !self.opts.no_rebase) {
            match self.rebase(state, free, &reads)? {
                Some(Ok((layer, proof))) => {
                    events(Event::Rebased {
                        stage: &state.label,
                        number,
                        proof: &proof,
                    });
                    hit = Lookup::Rebased(layer);
                }
                Some(Err(why)) => refusal = Some(why),
                None => {}
            }
        }
        // Last, as nothing below can fail: a claim must reach `execute`.
        if let Lookup::Miss = hit {
            match self.shared.claim(&key) {
                Claim::Done(layer) => hit = Lookup::Hit(layer),
                Claim::Mine => self.running = Some(key.clone()),
            }
        }
        match &hit {
            Lookup::Hit(_) => events(Event::Cached {
                stage: &state.label,
                number,
            }),
            Lookup::Rebased(_) => {}
            Lookup::Miss => {
                let mut reason = if !use_cache {
                    "cache disabled (--no-cache)".to_owned()
                } else {
                    match self.cache.last_inputs(&identity) {
                        Some(old) => step_inputs.explain(&old),
                        None => "not built before".to_owned(),
                    }
                };
                if let Some(why) = refusal {
                    reason = format!("{reason}; not rebased: {why}");
                } else if self.opts.no_rebase && free.is_some() && use_cache {
                    reason.push_str("; not rebased: --no-rebase");
                } else if inputs.rebasable.is_none()
                    && state.built.free.is_some()
                    && reason == "parent rebuilt"
                {
                    reason.push_str("; not rebased: a RUN reads the parent's files");
                }
                events(Event::Miss {
                    stage: &state.label,
                    number,
                    reason: &reason,
                });
            }
        }
        Ok(Probe {
            key,
            free,
            identity,
            inputs: step_inputs,
            hit,
        })
    }

    /// The layer the step with parent-free key `free` made over another parent, if the
    /// cache has one whose layers are all still here: `Ok` with the proof when it is
    /// exactly what the step would write over this stage's layers, else `Err` with why not.
    #[allow(clippy::type_complexity)]
    fn rebase(
        &self,
        state: &State<'_>,
        free: &CacheKey,
        reads: &ParentReads,
    ) -> Result<Option<Result<(StageLayer, String), Refusal>>, BuildError> {
        let users = &reads.users;
        let Some(entry) = self.cache.rebasable(free) else {
            return Ok(None);
        };
        let present = std::iter::once(&entry.layer)
            .chain(&entry.lower)
            .all(|(d, _)| self.store.blob_path(&d.digest).is_file());
        if !present {
            return Ok(None);
        }
        let (descriptor, diff_id) = entry.layer.clone();
        let snapshot = self.store.snapshot(&descriptor, &diff_id)?;
        let old_lower = entry
            .lower
            .iter()
            .map(|(d, id)| self.store.snapshot(d, id))
            .collect::<Result<Vec<_>, _>>()?;
        let why = parent_differences(
            self.store,
            &lower_stack(old_lower.into_iter()),
            &state.built.lower_dirs(),
            std::slice::from_ref(&snapshot),
            users,
            std::slice::from_ref(&reads.path),
        )?;
        if !why.is_empty() {
            return Ok(Some(Err(why.join("; "))));
        }
        let proof = format!(
            "the layer made over the old parent ({}) is reused: the step reads no parent files and every path it writes reads the same in the new parent{}",
            descriptor.digest.short(),
            if users.is_empty() { String::new() } else { format!(", user {} resolves alike", users.join(", ")) }
        );
        Ok(Some(Ok((
            StageLayer {
                descriptor,
                diff_id,
                snapshot,
            },
            proof,
        ))))
    }

    /// The cached result of `key`, if its layer is still in the store.
    fn lookup(&self, key: &CacheKey) -> Result<Lookup, BuildError> {
        let Some(step) = self.cache.get(key) else {
            return Ok(Lookup::Miss);
        };
        let Some((descriptor, diff_id)) = step.layer else {
            return Ok(Lookup::Hit(None));
        };
        if !self.store.blob_path(&descriptor.digest).is_file() {
            return Ok(Lookup::Miss);
        }
        let snapshot = self.store.snapshot(&descriptor, &diff_id)?;
        Ok(Lookup::Hit(Some(StageLayer {
            descriptor,
            diff_id,
            snapshot,
        })))
    }

    /// Runs `work` unless the probe hit, records the result for the cache, and moves the
    /// stage's key forward. Returns the step's layer (none if it changed nothing).
    pub(super) fn execute(
        &mut self,
        state: &mut State<'_>,
        probe: Probe,
        work: impl FnOnce(&mut Self, &State<'_>) -> Result<Option<StageLayer>, BuildError>,
    ) -> Result<Option<StageLayer>, BuildError> {
        let key = probe.key.clone();
        let claimed = self.running.take().filter(|k| *k == key);
        let done = self.execute_probe(state, probe, work);
        if let Some(key) = claimed {
            match &done {
                Ok(layer) => self.shared.finish(&key, layer.clone()),
                Err(_) => self.shared.abandon(&key),
            }
        }
        done
    }

    /// [`Executor::execute`] but for the step's claim.
    fn execute_probe(
        &mut self,
        state: &mut State<'_>,
        probe: Probe,
        work: impl FnOnce(&mut Self, &State<'_>) -> Result<Option<StageLayer>, BuildError>,
    ) -> Result<Option<StageLayer>, BuildError> {
        let Probe {
            key,
            free,
            identity,
            inputs,
            hit,
        } = probe;
        let layer = match hit {
            Lookup::Hit(layer) => layer,
            Lookup::Rebased(layer) => {
                self.ran.push(Ran {
                    key: key.clone(),
                    identity,
                    inputs,
                    result: cached_step(Some(&layer)),
                    rebasable: None,
                });
                Some(layer)
            }
            Lookup::Miss => {
                let layer = work(self, state)?;
                let rebasable = match (&free, &layer) {
                    (Some(free), Some(made)) => Some((
                        free.clone(),
                        Rebasable {
                            layer: (made.descriptor.clone(), made.diff_id.clone()),
                            lower: state
                                .built
                                .layers
                                .iter()
                                .map(|l| (l.descriptor.clone(), l.diff_id.clone()))
                                .collect(),
                        },
                    )),
                    _ => None,
                };
                self.ran.push(Ran {
                    key: key.clone(),
                    identity,
                    inputs,
                    result: cached_step(layer.as_ref()),
                    rebasable,
                });
                layer
            }
        };
        state.built.key = key.clone();
        state.built.free = free;
        let entry = (key, cached_step(layer.as_ref()));
        state.built.steps.push(entry.clone());
        self.used.push(entry);
        Ok(layer)
    }

    /// Mounts the stage's root filesystem with a fresh upper dir, lets `change` write into
    /// it, and returns the upper dir as a layer (none if nothing changed).
    pub(super) fn mutate_rootfs(
        &mut self,
        state: &State<'_>,
        change: impl FnOnce(&Root) -> Result<(), BuildError>,
    ) -> Result<Option<StageLayer>, BuildError> {
        let lower = state.built.lower_dirs();
        let dirs = if lower.is_empty() {
            // Over nothing (FROM scratch), the upper dir is the whole root.
            let dirs = StepDirs::upper_only(self.store)?;
            let root = Root::open(&dirs.upper).map_err(io_err(&dirs.upper))?;
            change(&root)?;
            dirs
        } else {
            let dirs = StepDirs::new(self.store)?;
            {
                let overlay = dirs.mount(&lower)?;
                let root = Root::open(overlay.target()).map_err(io_err(&dirs.mnt))?;
                change(&root)?;
            }
            dirs
        };
        self.finish_layer(dirs)
    }

    /// Writes the upper dir of `dirs` as a layer blob, kept in the build's scratch space
    /// until [`Executor::publish`]. A step that changed nothing adds no layer, as BuildKit
    /// drops empty layers.
    pub(super) fn finish_layer(
        &mut self,
        dirs: StepDirs,
    ) -> Result<Option<StageLayer>, BuildError> {
        let changed = fs_err::read_dir(&dirs.upper)
            .map_err(io_err(&dirs.upper))?
            .next()
            .is_some();
        if !changed {
            return Ok(None);
        }
        let blob = dirs.mnt.with_extension("blob");
        let written = layer::write(
            &dirs.upper,
            self.opts.compression,
            self.opts.epoch.files,
            &blob,
        )?;
        let descriptor = Descriptor {
            media_type: written.compression.media_type().into(),
            digest: written.digest.clone(),
            size: written.size,
            annotations: BTreeMap::new(),
            platform: None,
        };
        let diff_id = written.diff_id.clone();
        self.written.insert(written.digest.clone());
        // An equal layer made earlier in this build (two stages with the same first
        // steps) keeps serving as the snapshot: other stages already point at it.
        let snapshot = self
            .shared
            .pending()
            .entry(written.digest.clone())
            .or_insert(Pending {
                blob,
                layer: written,
                dirs,
            })
            .dirs
            .upper
            .clone();
        Ok(Some(StageLayer {
            descriptor,
            diff_id,
            snapshot,
        }))
    }

    /// The key and result of every layer step this build went through.
    pub(super) fn used_entries(&self) -> Vec<(CacheKey, CachedStep)> {
        self.used.clone()
    }

    /// Records the cache entries of the steps this executor ran. Called once the build
    /// succeeded and [`Shared::publish`] put their layers in the store.
    pub(super) fn publish(&mut self) -> Result<(), BuildError> {
        let cache_dir = self.store.root().join("cache");
        for ran in self.ran.drain(..) {
            self.cache
                .put(&ran.key, &ran.result)
                .map_err(io_err(&cache_dir))?;
            self.cache
                .record_inputs(&ran.identity, &ran.inputs)
                .map_err(io_err(&cache_dir))?;
            if let Some((free, entry)) = &ran.rebasable {
                self.cache
                    .put_rebasable(free, entry)
                    .map_err(io_err(&cache_dir))?;
            }
        }
        self.memo.save().map_err(io_err(&cache_dir))?;
        Ok(())
    }
}
