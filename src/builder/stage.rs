//! The state of a stage as its steps run: its layers and config so far, the ARGs in
//! scope, and the cache key of the last file-system change ([`BuiltStage`], [`State`]).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use crate::cache::{CacheKey, CachedStep, KeyBuilder};
use crate::digest::Digest;
use crate::dockerfile::args::ArgScope;
use crate::dockerfile::{expand, Dockerfile, Source, Span, Stage};
use crate::epoch::Epoch;
use crate::image::{ContainerConfig, Descriptor, Image, ImageConfig, RootFs, Store};
use crate::platform::Platform;
use crate::snapshot::lower_stack;

use super::BuildError;

/// Docker's default PATH, which BuildKit puts in the config of images built FROM scratch.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
use crate::image::{BASE_DIGEST, BASE_NAME};

/// One layer of a stage, with the snapshot dir that holds its files.
#[derive(Clone, Debug)]
pub(super) struct StageLayer {
    /// The layer blob.
    pub(super) descriptor: Descriptor,
    /// Digest of its uncompressed tar.
    pub(super) diff_id: Digest,
    /// The dir holding its files (an overlay lower dir).
    pub(super) snapshot: PathBuf,
}

/// The result of a stage: layers and config, ready to be committed or used by other stages.
#[derive(Clone, Debug)]
pub struct BuiltStage {
    pub(super) layers: Vec<StageLayer>,
    pub(super) config: ImageConfig,
    annotations: BTreeMap<String, String>,
    /// Cache key of the last step that touched the file system (or of the base).
    pub(super) key: CacheKey,
    /// The same without the base image: the key of the stage's own changes since its
    /// base, while none of them read the base's files (a RUN does; then `None`). A step
    /// with a parent-free key may be rebased onto another base (see `Executor::probe`).
    pub(super) free: Option<CacheKey>,
    /// The key and result of every layer step of this stage and the stages it is built
    /// FROM: what `--cache-to mode=min` exports for the image it becomes.
    pub(super) steps: Vec<(CacheKey, CachedStep)>,
    /// A local directory context (`--build-context NAME=DIR`): its files are the root,
    /// read in place; the stage has no layers of its own.
    pub(super) local: Option<PathBuf>,
    /// The platform the stage's files are for: what its RUN steps execute as.
    pub(super) platform: Platform,
}

impl BuiltStage {
    /// The state of `FROM scratch` for `platform`: no layers, BuildKit's empty config.
    pub(super) fn scratch(platform: &Platform) -> BuiltStage {
        let key = KeyBuilder::new("scratch")
            .field("platform", platform.to_string().as_bytes())
            .finish();
        BuiltStage {
            platform: platform.clone(),
            layers: Vec::new(),
            config: ImageConfig {
                architecture: platform.architecture.clone(),
                os: platform.os.clone(),
                variant: platform.variant.clone(),
                config: ContainerConfig {
                    env: Some(vec![format!("PATH={DEFAULT_PATH}")]),
                    working_dir: Some("/".into()),
                    ..ContainerConfig::default()
                },
                rootfs: RootFs::default(),
                ..ImageConfig::default()
            },
            annotations: BTreeMap::new(),
            key,
            // Nothing to rebase from: the step cache alone serves scratch.
            free: None,
            steps: Vec::new(),
            local: None,
        }
    }

    /// The state of `FROM <image>` for an image in the store. Its platform is the one its
    /// config names.
    pub(super) fn from_image(
        store: &Store,
        image: Image,
        reference: &str,
    ) -> Result<BuiltStage, BuildError> {
        let diff_ids = &image.config.rootfs.diff_ids;
        if diff_ids.len() != image.manifest.layers.len() {
            return Err(BuildError::Usage(format!(
                "image {reference}: config lists {} diff_ids for {} layers",
                diff_ids.len(),
                image.manifest.layers.len()
            )));
        }
        let layers = image
            .manifest
            .layers
            .iter()
            .zip(diff_ids)
            .map(|(descriptor, diff_id)| {
                Ok(StageLayer {
                    descriptor: descriptor.clone(),
                    diff_id: diff_id.clone(),
                    snapshot: store.snapshot(descriptor, diff_id)?,
                })
            })
            .collect::<Result<_, BuildError>>()?;
        let annotations = [
            (BASE_NAME.to_owned(), reference.to_owned()),
            (BASE_DIGEST.to_owned(), image.digest.to_string()),
        ]
        .into();
        let platform = image.config.platform();
        let mut config = image.config;
        // Fields strata does not model (docker's `container_config`, ...) describe the
        // base's own build, not the child's.
        config.extra.clear();
        config.config.extra.clear();
        // What a child's steps can see of the base: its file system and its runtime
        // config. Not its manifest digest: a base rebuilt at a new commit differs only in
        // `created` and history times, and must not make every child step run again.
        let key = KeyBuilder::new("image")
            .field(
                "diff_ids",
                &serde_json::to_vec(&config.rootfs.diff_ids).unwrap_or_default(),
            )
            .field(
                "config",
                &serde_json::to_vec(&config.config).unwrap_or_default(),
            )
            .field("os", config.os.as_bytes())
            .field("architecture", config.architecture.as_bytes())
            .field(
                "variant",
                config.variant.as_deref().unwrap_or("").as_bytes(),
            )
            .finish();
        let free = KeyBuilder::new("own")
            .field("os", config.os.as_bytes())
            .field("architecture", config.architecture.as_bytes())
            .field(
                "variant",
                config.variant.as_deref().unwrap_or("").as_bytes(),
            )
            .finish();
        Ok(BuiltStage {
            platform,
            layers,
            config,
            annotations,
            key,
            free: Some(free),
            steps: Vec::new(),
            local: None,
        })
    }

    /// A local directory as a stage's root (see [`BuiltStage::local`]), keyed `key`.
    pub(super) fn from_dir(dir: PathBuf, key: CacheKey, platform: &Platform) -> BuiltStage {
        BuiltStage {
            local: Some(dir),
            key,
            ..BuiltStage::scratch(platform)
        }
    }

    /// Overlay lower dirs, top-most first.
    pub(super) fn lower_dirs(&self) -> Vec<PathBuf> {
        match &self.local {
            Some(dir) => vec![dir.clone()],
            None => lower_stack(self.layers.iter().map(|l| l.snapshot.clone())),
        }
    }

    /// Adds `labels` to the config (`build --label`), over those the Dockerfile set.
    pub fn add_labels(&mut self, labels: &BTreeMap<String, String>) {
        if !labels.is_empty() {
            let own = self.config.config.labels.get_or_insert_with(BTreeMap::new);
            own.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }

    /// Adds `annotations` to the manifest's (`build --annotation`), over the base image
    /// annotations.
    pub fn add_annotations(&mut self, annotations: &BTreeMap<String, String>) {
        self.annotations
            .extend(annotations.iter().map(|(k, v)| (k.clone(), v.clone())));
    }

    /// The size in bytes of the config as JSON (before `commit` adds `created` and the
    /// diff_ids), counted without holding the text.
    pub(super) fn config_bytes(&self) -> u64 {
        /// A writer that only counts; serde_json writes into it.
        struct Count(u64);
        impl std::io::Write for Count {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0 += buf.len() as u64;
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut count = Count(0);
        // Serialising plain data into a writer that cannot fail does not fail.
        let _ = serde_json::to_writer(&mut count, &self.config);
        count.0
    }

    /// Writes config and manifest to the store.
    pub fn commit(&self, store: &Store, epoch: Epoch) -> Result<(Descriptor, Image), BuildError> {
        let mut config = self.config.clone();
        config.created = Some(epoch.created_rfc3339());
        config.rootfs = RootFs {
            kind: "layers".into(),
            diff_ids: self.layers.iter().map(|l| l.diff_id.clone()).collect(),
        };
        let layers: Vec<Descriptor> = self.layers.iter().map(|l| l.descriptor.clone()).collect();
        let descriptor = store.put_image(&config, &layers, self.annotations.clone())?;
        let image = store.image_by_digest(&descriptor.digest)?;
        Ok((descriptor, image))
    }
}

/// The ONBUILD `triggers` of `stage`'s base as a Dockerfile of their own (one stage with
/// the child's index and name, so `COPY --from` and `--no-cache-filter` see the child),
/// or `None` when there are none. Errors point into that text, named after the base.
pub(super) fn trigger_file(
    stage: &Stage,
    triggers: &[String],
) -> Result<Option<Dockerfile>, BuildError> {
    if triggers.is_empty() {
        return Ok(None);
    }
    let path = PathBuf::from(format!("<ONBUILD triggers of {}>", stage.base));
    let text = format!("FROM {}\n{}\n", stage.base, triggers.join("\n"));
    let mut file = crate::dockerfile::parse(&path, &text)?;
    let own = &mut file.stages[0];
    own.index = stage.index;
    own.name.clone_from(&stage.name);
    Ok(Some(file))
}

/// The evolving state of the stage being built.
pub(super) struct State<'s> {
    pub(super) stage: &'s Stage,
    /// The text the stage's instructions come from (the Dockerfile, or the ONBUILD
    /// triggers of its base while they run): spans of errors and history point into it.
    pub(super) source: &'s Source,
    pub(super) label: String,
    pub(super) built: BuiltStage,
    pub(super) args: ArgScope,
    /// Where each variable of `built`'s Env is, kept in step by [`State::set_env`].
    env: EnvIndex,
    /// The USER instruction of this stage in effect, if any: a RUN that fails to start
    /// names it.
    pub(super) user_span: Option<Span>,
}

impl<'s> State<'s> {
    /// The state at the start of `stage`, built on `built`.
    pub(super) fn new(
        stage: &'s Stage,
        source: &'s Source,
        label: String,
        built: BuiltStage,
    ) -> State<'s> {
        let env = EnvIndex::new(built.config.config.env.as_deref().unwrap_or_default());
        State {
            stage,
            source,
            label,
            built,
            args: ArgScope::default(),
            env,
            user_span: None,
        }
    }

    /// Looks a variable up for expansion: ENV wins over ARG, as docker documents.
    pub(super) fn lookup(&self, name: &str) -> Option<String> {
        self.env_value(name)
            .or_else(|| self.args.get(name))
            .map(str::to_owned)
    }

    /// The value of `name` in the config's `Env`.
    pub(super) fn env_value(&self, name: &str) -> Option<&str> {
        let env = self.built.config.config.env.as_deref()?;
        self.env.get(env, name)
    }

    /// Sets `name` in the config's `Env`, in place when present (as docker does).
    pub(super) fn set_env(&mut self, name: &str, value: &str) {
        let env = self.built.config.config.env.get_or_insert_with(Vec::new);
        self.env.set(env, name, value);
    }

    /// Bytes held by the stage's variables: its Env entries and the ARG values in
    /// scope, checked against [`crate::dockerfile::args::MAX_VARIABLE_BYTES`].
    pub(super) fn variable_bytes(&self) -> usize {
        self.env.bytes + self.args.bytes()
    }

    /// Expands a raw word with the stage's ENV and ARG values; errors point at `span`.
    pub(super) fn expand(&self, escape: char, raw: &str, span: Span) -> Result<String, BuildError> {
        expand::word(raw, escape, &|n| self.lookup(n))
            .map_err(|e| self.source.error(span, e.0).into())
    }

    /// The SHELL in effect (docker's default `/bin/sh -c`).
    pub(super) fn shell(&self) -> Vec<String> {
        self.built
            .config
            .config
            .shell
            .clone()
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    /// The working directory in effect (`/` when unset).
    pub(super) fn workdir(&self) -> String {
        self.built
            .config
            .config
            .working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into())
    }
}

/// An index of a config's `Env` by variable name: a stage of 300k ENV lines scanned the
/// list at each one (quadratic); the index makes each lookup and update constant time.
struct EnvIndex {
    /// Position of each name's entry (the last one, which is the one docker reads, when
    /// a base image lists a name twice).
    slots: HashMap<String, usize>,
    /// Bytes of all entries (`K=V`).
    bytes: usize,
}

impl EnvIndex {
    /// The index of `env`.
    fn new(env: &[String]) -> EnvIndex {
        let mut slots = HashMap::with_capacity(env.len());
        for (i, kv) in env.iter().enumerate() {
            let name = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
            slots.insert(name.to_owned(), i);
        }
        EnvIndex {
            slots,
            bytes: env.iter().map(String::len).sum(),
        }
    }

    /// The value of `name` in `env` (the list this index was made for).
    fn get<'e>(&self, env: &'e [String], name: &str) -> Option<&'e str> {
        let kv = env.get(*self.slots.get(name)?)?;
        kv.strip_prefix(name)?.strip_prefix('=')
    }

    /// Sets `name` in `env`, replacing its entry in place or appending one.
    fn set(&mut self, env: &mut Vec<String>, name: &str, value: &str) {
        let entry = format!("{name}={value}");
        self.bytes += entry.len();
        match self.slots.get(name) {
            Some(&i) => {
                self.bytes -= env[i].len();
                env[i] = entry;
            }
            None => {
                self.slots.insert(name.to_owned(), env.len());
                env.push(entry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_set_replaces_in_place() {
        let mut env = vec!["A=0".to_string(), "B=x".to_string(), "B=last".to_string()];
        let mut index = EnvIndex::new(&env);
        assert_eq!(index.get(&env, "B"), Some("last"));
        index.set(&mut env, "A", "1");
        index.set(&mut env, "C", "2");
        index.set(&mut env, "A", "3");
        assert_eq!(env, ["A=3", "B=x", "B=last", "C=2"]);
        assert_eq!(index.get(&env, "A"), Some("3"));
        assert_eq!(index.get(&env, "AB"), None);
        assert_eq!(index.bytes, env.iter().map(String::len).sum::<usize>());
    }
}
