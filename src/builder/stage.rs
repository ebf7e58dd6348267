//! One stage of a build: its base, then its instructions in order, each turning the
//! stage's state (layers so far, config, ARGs in scope) into the next.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::copy::{self, digest_sources, fetch, Context, SourceSet};
use crate::digest::Digest;
use crate::dockerfile::args::ArgScope;
use crate::dockerfile::ignore::Ignore;
use crate::dockerfile::{
    expand, ArgDecl, Command, Dockerfile, Healthcheck, Instruction, Source, Span, Spanned, Stage,
};
use crate::fsroot::{DirSpec, Root};
use crate::image::{
    ContainerConfig, Descriptor, HealthConfig, History, Image, ImageConfig, RootFs, Store,
    StoreError,
};
use crate::layer;
use crate::platform::Platform;
use crate::registry::{Client, Reference};
use crate::sandbox::{self, Network, RunSpec};
use crate::snapshot::{lower_stack, StepDirs};

use super::mounts::{self, MountGuards, MountSource, MountType, Resolver, SecretDir};
use super::{io_err, BuildError, BuildOptions, Event};
use crate::cache::{CacheKey, CachedStep, FileDigests, KeyBuilder, StepCache, StepInputs};

/// Docker's default PATH, which BuildKit puts in the config of images built FROM scratch.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const BASE_NAME: &str = "org.opencontainers.image.base.name";
const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";

/// One layer of a stage, with the snapshot dir that holds its files.
#[derive(Clone, Debug)]
struct StageLayer {
    descriptor: Descriptor,
    diff_id: Digest,
    snapshot: PathBuf,
}

/// The result of a stage: layers and config, ready to be committed or used by other stages.
#[derive(Clone, Debug)]
pub struct BuiltStage {
    layers: Vec<StageLayer>,
    config: ImageConfig,
    annotations: BTreeMap<String, String>,
    /// Cache key of the last step that touched the file system (or of the base).
    key: CacheKey,
}

impl BuiltStage {
    /// The state of `FROM scratch`: no layers, BuildKit's empty config.
    fn scratch() -> BuiltStage {
        let host = Platform::host();
        let key = KeyBuilder::new("scratch")
            .field("platform", host.architecture.as_bytes())
            .finish();
        BuiltStage {
            layers: Vec::new(),
            config: ImageConfig {
                architecture: host.architecture,
                os: host.os,
                variant: host.variant,
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
        }
    }

    /// The state of `FROM <image>` for an image in the store.
    fn from_image(store: &Store, image: Image, reference: &str) -> Result<BuiltStage, BuildError> {
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
        let mut config = image.config;
        // Fields strata does not model (docker's `container_config`, ...) describe the
        // base's own build, not the child's.
        config.extra.clear();
        config.config.extra.clear();
        let key = KeyBuilder::new("image")
            .field("digest", image.digest.as_str().as_bytes())
            .finish();
        Ok(BuiltStage {
            layers,
            config,
            annotations,
            key,
        })
    }

    /// Overlay lower dirs, top-most first.
    fn lower_dirs(&self) -> Vec<PathBuf> {
        lower_stack(self.layers.iter().map(|l| l.snapshot.clone()))
    }

    /// Adds `labels` to the config (`build --label`), over those the Dockerfile set.
    pub fn add_labels(&mut self, labels: &BTreeMap<String, String>) {
        if !labels.is_empty() {
            let own = self.config.config.labels.get_or_insert_with(BTreeMap::new);
            own.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }

    /// Writes config and manifest to the store.
    pub fn commit(&self, store: &Store) -> Result<(Descriptor, Image), BuildError> {
        let mut config = self.config.clone();
        config.created = Some(timestamp());
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
fn trigger_file(stage: &Stage, triggers: &[String]) -> Result<Option<Dockerfile>, BuildError> {
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

/// `SOURCE_DATE_EPOCH`, or 0: the time written into layers, configs and history, so that
/// the same inputs give the same digests.
fn epoch() -> u64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// [`epoch`] as RFC 3339.
fn timestamp() -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(epoch() as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// Builds stages on demand, each once, detecting cycles between them.
pub(super) struct StageBuilder<'a> {
    store: &'a Store,
    dockerfile: &'a Dockerfile,
    context: &'a Context,
    opts: &'a BuildOptions,
    globals: ArgScope,
    built: HashMap<usize, BuiltStage>,
    building: Vec<usize>,
    pending: RefCell<HashMap<Digest, Pending>>,
    /// The tmpfs secrets are written to, made on the first RUN that mounts something.
    secret_dir: RefCell<Option<SecretDir>>,
    /// The store's step cache.
    cache: StepCache,
    /// Content digests of context files, by stat.
    memo: RefCell<FileDigests>,
    /// Cache entries of the steps this build ran, written by [`StageBuilder::publish`].
    records: RefCell<Vec<Probe>>,
    /// Every layer step's key and result, run or cached (for `--cache-to`).
    used: RefCell<Vec<(CacheKey, CachedStep)>>,
}

/// The cache entry of a step that produced `layer`.
fn cached_step(layer: &Option<StageLayer>) -> CachedStep {
    CachedStep {
        layer: layer
            .as_ref()
            .map(|l| (l.descriptor.clone(), l.diff_id.clone())),
    }
}

/// A layer step's cache lookup: its key, what it ran with, and the cached result if any.
struct Probe {
    key: CacheKey,
    identity: Digest,
    inputs: StepInputs,
    hit: Option<Option<StageLayer>>,
    result: Option<CachedStep>,
}

/// The evolving state of the stage being built.
struct State<'s> {
    stage: &'s Stage,
    /// The text the stage's instructions come from (the Dockerfile, or the ONBUILD
    /// triggers of its base while they run): spans of errors and history point into it.
    source: &'s Source,
    label: String,
    built: BuiltStage,
    args: ArgScope,
}

impl State<'_> {
    /// Looks a variable up for expansion: ENV wins over ARG, as docker documents.
    fn lookup(&self, name: &str) -> Option<String> {
        env_get(&self.built.config.config, name).or_else(|| self.args.get(name).map(str::to_owned))
    }

    fn shell(&self) -> Vec<String> {
        self.built
            .config
            .config
            .shell
            .clone()
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    fn workdir(&self) -> String {
        self.built
            .config
            .config
            .working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into())
    }
}

fn env_get(config: &ContainerConfig, name: &str) -> Option<String> {
    config
        .env
        .as_ref()?
        .iter()
        .rev()
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=').map(str::to_owned))
}

fn env_set(config: &mut ContainerConfig, name: &str, value: &str) {
    let env = config.env.get_or_insert_with(Vec::new);
    let entry = format!("{name}={value}");
    match env
        .iter_mut()
        .find(|kv| kv.split_once('=').map(|(k, _)| k) == Some(name))
    {
        Some(slot) => *slot = entry,
        None => env.push(entry),
    }
}

impl<'a> StageBuilder<'a> {
    pub(super) fn new(
        store: &'a Store,
        dockerfile: &'a Dockerfile,
        context: &'a Context,
        opts: &'a BuildOptions,
        cache: StepCache,
    ) -> Self {
        StageBuilder {
            store,
            dockerfile,
            context,
            opts,
            globals: ArgScope::global(dockerfile, &opts.build_args),
            built: HashMap::new(),
            pending: RefCell::default(),
            secret_dir: RefCell::default(),
            memo: RefCell::new(cache.file_digests()),
            cache,
            records: RefCell::default(),
            used: RefCell::default(),
            building: Vec::new(),
        }
    }

    fn expand_global(&self, raw: &str, span: Span) -> Result<String, BuildError> {
        expand::word(raw, self.dockerfile.escape, &|name| {
            self.globals.get(name).map(str::to_owned)
        })
        .map_err(|e| self.dockerfile.source.error(span, e.0).into())
    }

    /// Builds stage `index` (and, first, the stages it needs), once.
    pub(super) fn build_stage(
        &mut self,
        index: usize,
        events: &mut dyn FnMut(Event<'_>),
    ) -> Result<BuiltStage, BuildError> {
        if let Some(built) = self.built.get(&index) {
            return Ok(built.clone());
        }
        let stage = &self.dockerfile.stages[index];
        if self.building.contains(&index) {
            return Err(self
                .dockerfile
                .source
                .error(stage.span, "circular dependency between stages")
                .into());
        }
        self.building.push(index);
        let label = stage
            .name
            .clone()
            .unwrap_or_else(|| format!("stage-{index}"));
        let mut built = self.base_of(stage, events)?;
        // A child runs its base's ONBUILD triggers (an image's or an earlier stage's)
        // right after FROM, as docker does; they are not inherited.
        let triggers = built.config.config.on_build.take().unwrap_or_default();
        let trigger_file = trigger_file(stage, &triggers)?;
        let mut state = State {
            stage,
            source: &self.dockerfile.source,
            label,
            built,
            args: ArgScope::default(),
        };
        if let Some(file) = &trigger_file {
            let own = (state.stage, state.source, state.label.clone());
            state.label = format!("{} onbuild", own.2);
            (state.stage, state.source) = (&file.stages[0], &file.source);
            self.run_steps(&mut state, events)?;
            (state.stage, state.source, state.label) = own;
        }
        self.run_steps(&mut state, events)?;
        self.building.pop();
        self.built.insert(index, state.built.clone());
        Ok(state.built)
    }

    /// Runs the instructions of `state.stage`, reporting each step.
    fn run_steps(
        &mut self,
        state: &mut State<'_>,
        events: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), BuildError> {
        let total = state.stage.instructions.len();
        for (i, instruction) in state.stage.instructions.iter().enumerate() {
            let text = Self::instruction_text(state.source, instruction.span);
            events(Event::Step {
                stage: &state.label,
                number: i + 1,
                total,
                text: &text,
            });
            let started = std::time::Instant::now();
            let layers_before = state.built.layers.len();
            self.step(state, instruction, i + 1, events)?;
            let bytes = match state.built.layers[layers_before..].first() {
                Some(layer) if self.pending.borrow().contains_key(&layer.descriptor.digest) => {
                    layer.descriptor.size
                }
                _ => 0,
            };
            events(Event::StepDone {
                stage: &state.label,
                number: i + 1,
                elapsed: started.elapsed(),
                bytes,
            });
        }
        Ok(())
    }

    /// The instruction as written, on one line, for progress and history.
    fn instruction_text(source: &Source, span: Span) -> String {
        let text = &source.text[span.offset..span.offset + span.len];
        text.lines().next().unwrap_or("").trim().to_owned()
    }

    /// Resolves the stage's FROM: a previous stage, `scratch`, or an image in the store.
    fn base_of(
        &mut self,
        stage: &Stage,
        events: &mut dyn FnMut(Event<'_>),
    ) -> Result<BuiltStage, BuildError> {
        let base = self.expand_global(&stage.base, stage.span)?;
        if let Some(parent) = self.stage_named(&base, stage.index) {
            return self.build_stage(parent, events);
        }
        if base.eq_ignore_ascii_case("scratch") {
            return Ok(BuiltStage::scratch());
        }
        self.image_stage(&base, &self.dockerfile.source, stage.span)
    }

    /// An image of the store as a stage, or a located error if it is not there.
    /// `source` is the text `span` points into (the Dockerfile or ONBUILD triggers).
    fn image_stage(
        &self,
        reference: &str,
        source: &Source,
        span: Span,
    ) -> Result<BuiltStage, BuildError> {
        let found = match self.opts.pinned.get(reference) {
            // A family parent: exactly the image its build just produced.
            Some(digest) => self.store.image_by_digest(digest),
            // A tag as written, else a registry image under the normalised name the
            // pull below files it under (`docker.io/x` is `docker.io/library/x`).
            None => match (self.store.image(reference), Reference::parse(reference)) {
                (Err(StoreError::UnknownImage(_)), Ok(remote)) => {
                    self.store.image(&remote.store_name())
                }
                (found, _) => found,
            },
        };
        match found {
            Ok(image) => BuiltStage::from_image(self.store, image, reference),
            Err(StoreError::UnknownImage(_)) if Reference::parse(reference).is_ok() => {
                let image = self.pull(reference).map_err(|e| {
                    BuildError::from(source.error(span, format!("pulling {reference}: {e}")))
                })?;
                BuiltStage::from_image(self.store, image, reference)
            }
            Err(StoreError::UnknownImage(_)) => Err(source
                .error(span, format!("image {reference:?} is neither a stage of this Dockerfile nor in the store"))
                .into()),
            Err(e) => Err(e.into()),
        }
    }

    /// Pulls `reference` (which names a registry) into the store.
    fn pull(&self, reference: &str) -> Result<Image, BuildError> {
        let parsed = Reference::parse(reference)?;
        let platform = self
            .opts
            .platform
            .as_deref()
            .map(Platform::parse)
            .transpose()?;
        let pulled = Client::new(self.opts.registry.clone())?.pull(
            self.store,
            &parsed,
            platform.as_ref(),
        )?;
        Ok(self.store.image_by_digest(&pulled.digest)?)
    }

    /// The index of an earlier stage called `name` (or numbered `name`), if any.
    fn stage_named(&self, name: &str, before: usize) -> Option<usize> {
        self.dockerfile
            .stage_by_name(name)
            .map(|s| s.index)
            .filter(|&i| i < before)
    }

    fn step(
        &mut self,
        state: &mut State<'_>,
        instruction: &Spanned<Instruction>,
        number: usize,
        events: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), BuildError> {
        let span = instruction.span;
        let escape = self.dockerfile.escape;
        let expand = |state: &State<'_>, raw: &str| self.expand(state, raw, span);
        let mut created_by = format!(
            "{} {}",
            instruction.value.keyword(),
            Self::instruction_args(state.source, span)
        );
        let mut layer = None;
        match &instruction.value {
            Instruction::Run(run) => {
                created_by = self.run_history(state, &run.command);
                layer = Some(self.run(state, run, span, number, events)?);
            }
            Instruction::Copy(c) | Instruction::Add(c) => {
                let is_add = matches!(instruction.value, Instruction::Add(_));
                layer = Some(self.copy(state, c, is_add, span, number, events)?);
            }
            Instruction::Env(pairs) => {
                // Every value sees the environment from before this instruction, as
                // docker documents (`ENV a=1 b=$a` does not give b the new a).
                let values: Vec<String> = pairs
                    .iter()
                    .map(|(_, raw)| expand(state, raw))
                    .collect::<Result<_, _>>()?;
                let mut parts = Vec::new();
                for ((key, _), value) in pairs.iter().zip(values) {
                    env_set(&mut state.built.config.config, key, &value);
                    parts.push(format!("{key}={value}"));
                }
                created_by = format!("ENV {}", parts.join(" "));
            }
            Instruction::Arg(decls) => {
                for ArgDecl { name, default } in decls {
                    let default = default
                        .as_deref()
                        .map(|raw| expand(state, raw))
                        .transpose()?;
                    state
                        .args
                        .declare(name, default, &self.opts.build_args, &self.globals);
                }
            }
            Instruction::Workdir(raw) => {
                let path = expand(state, raw)?;
                let dir = normalise(&Path::new(&state.workdir()).join(&path));
                state.built.config.config.working_dir = Some(dir.clone());
                created_by = format!("WORKDIR {dir}");
                if dir != "/" {
                    let user = state.built.config.config.user.clone().unwrap_or_default();
                    let text = format!("WORKDIR {dir}");
                    let probe =
                        self.probe(state, number, "WORKDIR", text, b"", BTreeMap::new(), events)?;
                    layer = Some(self.through_cache(state, probe, |state| {
                        self.mutate_rootfs(state, |root| {
                            let owner = if user.is_empty() {
                                (0, 0)
                            } else {
                                let u = sandbox::resolve_user(root, &user)
                                    .map_err(|e| state.source.error(span, e))?;
                                (u.uid, u.gid)
                            };
                            root.mkdir_all(
                                Path::new(&dir),
                                DirSpec {
                                    mode: 0o755,
                                    uid: owner.0,
                                    gid: owner.1,
                                },
                            )
                            .map_err(io_err(Path::new(&dir)))?;
                            Ok(())
                        })
                    })?);
                }
            }
            Instruction::User(raw) => state.built.config.config.user = Some(expand(state, raw)?),
            Instruction::Label(pairs) => {
                for (key, raw) in pairs {
                    let key = expand(state, key)?;
                    let value = expand(state, raw)?;
                    state
                        .built
                        .config
                        .config
                        .labels
                        .get_or_insert_with(BTreeMap::new)
                        .insert(key, value);
                }
            }
            Instruction::Expose(ports) => {
                for raw in ports {
                    for port in expand::words(raw, escape, &|n| state.lookup(n))
                        .map_err(|e| state.source.error(span, e.0))?
                    {
                        let port = if port.contains('/') {
                            port.to_lowercase()
                        } else {
                            format!("{port}/tcp")
                        };
                        state
                            .built
                            .config
                            .config
                            .exposed_ports
                            .get_or_insert_with(BTreeMap::new)
                            .insert(port, serde_json::json!({}));
                    }
                }
            }
            Instruction::Volume(paths) => {
                for raw in paths {
                    let path = expand(state, raw)?;
                    state
                        .built
                        .config
                        .config
                        .volumes
                        .get_or_insert_with(BTreeMap::new)
                        .insert(path, serde_json::json!({}));
                }
            }
            Instruction::Entrypoint(command) => {
                let shell = state.shell();
                state.built.config.config.entrypoint = Some(command_args(command, &shell));
                // An ENTRYPOINT resets the CMD inherited from the base, as docker does.
                if !self.stage_sets_cmd_before(state.stage, number) {
                    state.built.config.config.cmd = None;
                }
            }
            Instruction::Cmd(command) => {
                let shell = state.shell();
                state.built.config.config.cmd = Some(command_args(command, &shell));
            }
            Instruction::Shell(args) => state.built.config.config.shell = Some(args.clone()),
            Instruction::StopSignal(raw) => {
                state.built.config.config.stop_signal = Some(expand(state, raw)?)
            }
            Instruction::Healthcheck(check) => {
                let shell = state.shell();
                state.built.config.config.healthcheck =
                    Some(health_config(check, &shell).map_err(|e| state.source.error(span, e))?);
            }
            Instruction::OnBuild(trigger) => state
                .built
                .config
                .config
                .on_build
                .get_or_insert_with(Vec::new)
                .push(trigger.clone()),
            Instruction::Maintainer(name) => state.built.config.author = Some(name.clone()),
        }
        let new_layer = layer.flatten();
        state.built.config.history.push(History {
            created: Some(timestamp()),
            created_by: Some(format!("{created_by} # buildkit")),
            comment: Some("buildkit.dockerfile.v0".into()),
            empty_layer: new_layer.is_none(),
            ..History::default()
        });
        if let Some(l) = new_layer {
            state.built.layers.push(l);
        }
        Ok(())
    }

    /// Expands a raw word with the stage's ENV and ARG values; errors point at `span`.
    fn expand(&self, state: &State<'_>, raw: &str, span: Span) -> Result<String, BuildError> {
        expand::word(raw, self.dockerfile.escape, &|n| state.lookup(n))
            .map_err(|e| state.source.error(span, e.0).into())
    }

    /// Whether a CMD comes before step `number` in `stage` (so a later ENTRYPOINT keeps it).
    fn stage_sets_cmd_before(&self, stage: &Stage, number: usize) -> bool {
        stage.instructions[..number - 1]
            .iter()
            .any(|i| matches!(i.value, Instruction::Cmd(_)))
    }

    /// The instruction's arguments as written, on one line.
    fn instruction_args(source: &Source, span: Span) -> String {
        let text = Self::instruction_text(source, span);
        text.split_once(char::is_whitespace)
            .map(|(_, rest)| rest.trim().to_owned())
            .unwrap_or_default()
    }

    /// BuildKit's history line for RUN: `RUN |N K=V ... /bin/sh -c cmd`.
    fn run_history(&self, state: &State<'_>, command: &Command) -> String {
        let args = state.args.history_args();
        let prefix = if args.is_empty() {
            String::new()
        } else {
            let pairs: Vec<String> = args.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("|{} {} ", pairs.len(), pairs.join(" "))
        };
        format!(
            "RUN {prefix}{}",
            command_args(command, &state.shell()).join(" ")
        )
    }

    /// Runs a RUN step in the sandbox and turns its changes into a layer.
    fn run(
        &mut self,
        state: &mut State<'_>,
        run: &crate::dockerfile::Run,
        span: Span,
        number: usize,
        events: &mut dyn FnMut(Event<'_>),
    ) -> Result<Option<StageLayer>, BuildError> {
        let (args, stdin) = run_command(run, &state.shell());
        let mut env: Vec<String> = state.built.config.config.env.clone().unwrap_or_default();
        for (k, v) in state.args.run_env(&self.opts.build_args) {
            if env_get(&state.built.config.config, &k).is_none() {
                env.push(format!("{k}={v}"));
            }
        }
        let mut network = self.opts.network;
        let mut requests = Vec::new();
        for flag in &run.flags {
            let value = self.expand(state, &flag.value, flag.span)?;
            let located =
                |message: String| BuildError::from(state.source.error(flag.span, message));
            match (flag.name.as_str(), value.as_str()) {
                ("network", "none") => network = Network::None,
                ("network", "host") => network = Network::Host,
                ("network", "default") => {}
                ("network", other) => {
                    return Err(located(format!(
                        "RUN --network={other}: expected default, none or host"
                    )))
                }
                ("mount", value) => {
                    requests.push((mounts::parse(value).map_err(located)?, flag.span))
                }
                // The sandbox never grants more than the default set of capabilities.
                ("security", "sandbox") => {}
                (name, value) => {
                    return Err(located(format!("RUN --{name}={value} is not supported")))
                }
            }
        }
        // Stages and images that mounts read from are built (or loaded) first; what a
        // bind mount shows is part of the step's key, what a cache mount holds is not.
        let mut sources = Vec::new();
        let mut mount_inputs = KeyBuilder::new("mounts");
        for (request, flag_span) in &requests {
            let lower = match &request.from {
                Some(from) => {
                    let (lower, key) = self.layers_of(state, from, *flag_span, events)?;
                    mount_inputs = mount_inputs.field("from", key.0.as_str().as_bytes());
                    Some(lower)
                }
                None if request.kind == MountType::Bind => {
                    let source = request.source.clone().unwrap_or_else(|| ".".into());
                    let located = |e: copy::CopyError| {
                        BuildError::from(state.source.error(*flag_span, e.to_string()))
                    };
                    let no_skip = Ignore::default();
                    let set = self.context.select(&[source], &no_skip).map_err(located)?;
                    let (digest, _) =
                        digest_sources(&set, &mut self.memo.borrow_mut()).map_err(located)?;
                    mount_inputs = mount_inputs.field("context", digest.as_str().as_bytes());
                    None
                }
                None => None,
            };
            sources.push(lower);
        }
        let flags: Vec<(&str, String)> = run
            .flags
            .iter()
            .map(|f| Ok((f.name.as_str(), self.expand(state, &f.value, f.span)?)))
            .collect::<Result<_, BuildError>>()?;
        let mut text = String::from("RUN");
        for (name, value) in &flags {
            text.push_str(&format!(" --{name}={value}"));
        }
        text.push(' ');
        text.push_str(&args.join(" "));
        let content = mount_inputs
            .field("args", &serde_json::to_vec(&args).unwrap_or_default())
            .field("stdin", stdin.as_deref().unwrap_or_default())
            .finish();
        let probe = self.probe(
            state,
            number,
            "RUN",
            text,
            content.0.as_str().as_bytes(),
            BTreeMap::new(),
            events,
        )?;
        self.through_cache(state, probe, |state| {
            let mut guards = MountGuards::default();
            let mut sandbox_mounts = Vec::new();
            {
                let mut secret_dir = self.secret_dir.borrow_mut();
                if secret_dir.is_none() && !requests.is_empty() {
                    *secret_dir = Some(SecretDir::new(self.store).map_err(BuildError::Usage)?);
                }
                for ((request, flag_span), lower) in requests.iter().zip(sources) {
                    let Some(secret_dir) = secret_dir.as_mut() else {
                        break;
                    };
                    let mut resolver = Resolver {
                        store: self.store,
                        secrets: &self.opts.secrets,
                        ssh: &self.opts.ssh,
                        secret_dir,
                    };
                    // Only a bind mount shows the context, so only it needs the walk
                    // for what .dockerignore hides.
                    let hidden = match (&lower, request.kind) {
                        (None, MountType::Bind) => self.context.excluded().map_err(|e| {
                            BuildError::from(
                                state
                                    .source
                                    .error(*flag_span, format!("reading the build context: {e}")),
                            )
                        })?,
                        _ => Vec::new(),
                    };
                    let source = match lower {
                        Some(lower) => MountSource::Layers(lower),
                        None => MountSource::Context(self.context.dir(), hidden),
                    };
                    let resolved = resolver
                        .resolve(request, source, &mut guards)
                        .map_err(|e| BuildError::from(state.source.error(*flag_span, e)))?;
                    sandbox_mounts.extend(resolved.mounts);
                    env.extend(resolved.env);
                }
            }
            let dirs = StepDirs::new(self.store)?;
            let spec = RunSpec {
                lower: state.built.lower_dirs(),
                upper: dirs.upper.clone(),
                work: dirs.work.clone(),
                args,
                env,
                cwd: state.workdir(),
                user: state.built.config.config.user.clone().unwrap_or_default(),
                network,
                hostname: "strata".into(),
                stdin,
                mounts: sandbox_mounts,
            };
            let label = state.label.clone();
            let mut on_line = |line: &[u8]| {
                events(Event::Output {
                    stage: &label,
                    number,
                    line,
                })
            };
            let code = sandbox::run(&spec, sandbox::Output::Lines(&mut on_line))?;
            if code != 0 {
                return Err(self
                    .dockerfile
                    .source
                    .error(
                        span,
                        format!("RUN failed: the command exited with code {code}"),
                    )
                    .into());
            }
            self.finish_layer(dirs)
        })
    }

    /// Computes the cache key of a layer step from what it runs with and looks it up.
    /// `instruction` is the step after expansion, `content` the digest of its sources.
    #[allow(clippy::too_many_arguments)]
    fn probe(
        &self,
        state: &State<'_>,
        number: usize,
        kind: &str,
        instruction: String,
        content: &[u8],
        files: BTreeMap<String, String>,
        events: &mut dyn FnMut(Event<'_>),
    ) -> Result<Probe, BuildError> {
        let args: BTreeMap<String, String> = state
            .args
            .run_env(&self.opts.build_args)
            .into_iter()
            .collect();
        let config = serde_json::to_vec(&state.built.config.config).unwrap_or_default();
        let key = KeyBuilder::new(kind)
            .field("parent", state.built.key.0.as_str().as_bytes())
            .field("instruction", instruction.as_bytes())
            .field("config", &config)
            .field("args", &serde_json::to_vec(&args).unwrap_or_default())
            .field("content", content)
            .field("compression", self.opts.compression.media_type().as_bytes())
            .finish();
        let identity = KeyBuilder::new("identity")
            .field("dockerfile", state.source.path.to_string_lossy().as_bytes())
            .field("stage", &state.stage.index.to_le_bytes())
            .field("step", &number.to_le_bytes())
            .finish()
            .0;
        let inputs = StepInputs {
            parent: Some(state.built.key.clone()),
            instruction,
            args,
            files,
        };
        let use_cache = !self.opts.no_cache
            && !state.stage.name.as_ref().is_some_and(|n| {
                self.opts
                    .no_cache_filter
                    .iter()
                    .any(|f| f.eq_ignore_ascii_case(n))
            });
        let hit = if use_cache { self.lookup(&key)? } else { None };
        match &hit {
            Some(_) => events(Event::Cached {
                stage: &state.label,
                number,
            }),
            None => {
                let reason = if !use_cache {
                    "cache disabled (--no-cache)".to_owned()
                } else {
                    match self.cache.last_inputs(&identity) {
                        Some(old) => inputs.explain(&old),
                        None => "not built before".to_owned(),
                    }
                };
                events(Event::Miss {
                    stage: &state.label,
                    number,
                    reason: &reason,
                });
            }
        }
        Ok(Probe {
            key,
            identity,
            inputs,
            hit,
            result: None,
        })
    }

    /// The cached result of `key`, if its layer is still in the store.
    fn lookup(&self, key: &CacheKey) -> Result<Option<Option<StageLayer>>, BuildError> {
        let Some(step) = self.cache.get(key) else {
            return Ok(None);
        };
        let Some((descriptor, diff_id)) = step.layer else {
            return Ok(Some(None));
        };
        if !self.store.blob_path(&descriptor.digest).is_file() {
            return Ok(None);
        }
        let snapshot = self.store.snapshot(&descriptor, &diff_id)?;
        Ok(Some(Some(StageLayer {
            descriptor,
            diff_id,
            snapshot,
        })))
    }

    /// Runs `exec` unless the probe hit, records the result for the cache, and moves the
    /// stage's key forward.
    fn through_cache(
        &self,
        state: &mut State<'_>,
        mut probe: Probe,
        exec: impl FnOnce(&State<'_>) -> Result<Option<StageLayer>, BuildError>,
    ) -> Result<Option<StageLayer>, BuildError> {
        let layer = match probe.hit.take() {
            Some(layer) => layer,
            None => {
                let layer = exec(state)?;
                probe.result = Some(cached_step(&layer));
                layer
            }
        };
        state.built.key = probe.key.clone();
        self.used
            .borrow_mut()
            .push((probe.key.clone(), cached_step(&layer)));
        if probe.result.is_some() {
            self.records.borrow_mut().push(probe);
        }
        Ok(layer)
    }

    /// The layers (overlay lower dirs) of `from`, a stage of this Dockerfile or an image,
    /// with its cache key.
    fn layers_of(
        &mut self,
        state: &State<'_>,
        from: &str,
        span: Span,
        events: &mut dyn FnMut(Event<'_>),
    ) -> Result<(Vec<PathBuf>, CacheKey), BuildError> {
        let built = match self.stage_named(from, usize::MAX) {
            Some(index) if index == state.stage.index => {
                return Err(state
                    .source
                    .error(span, format!("--from={from} refers to its own stage"))
                    .into())
            }
            Some(index) => self.build_stage(index, events)?,
            None => self.image_stage(from, state.source, span)?,
        };
        Ok((built.lower_dirs(), built.key))
    }

    /// Mounts the stage's root filesystem with a fresh upper dir, lets `change` write into
    /// it, and returns the upper dir as a layer (none if nothing changed).
    fn mutate_rootfs(
        &self,
        state: &State<'_>,
        change: impl FnOnce(&Root) -> Result<(), BuildError>,
    ) -> Result<Option<StageLayer>, BuildError> {
        let dirs = StepDirs::new(self.store)?;
        {
            let overlay = dirs.mount(&state.built.lower_dirs())?;
            let root = Root::open(overlay.target()).map_err(io_err(&dirs.mnt))?;
            change(&root)?;
        }
        self.finish_layer(dirs)
    }

    /// Writes the upper dir of `dirs` as a layer blob. Blob and upper dir stay in the
    /// build's scratch space ([`Pending`]) until [`StageBuilder::publish`]: a build that
    /// fails leaves the store as it found it.
    /// A step that changed nothing adds no layer, as BuildKit drops empty layers.
    fn finish_layer(&self, dirs: StepDirs) -> Result<Option<StageLayer>, BuildError> {
        let changed = fs_err::read_dir(&dirs.upper)
            .map_err(io_err(&dirs.upper))?
            .next()
            .is_some();
        if !changed {
            return Ok(None);
        }
        let blob = dirs.mnt.with_extension("blob");
        let written = layer::write(&dirs.upper, self.opts.compression, epoch(), &blob)?;
        let descriptor = Descriptor {
            media_type: written.compression.media_type().into(),
            digest: written.digest.clone(),
            size: written.size,
            annotations: BTreeMap::new(),
            platform: None,
        };
        let diff_id = written.diff_id.clone();
        // An equal layer made earlier in this build (two stages with the same first
        // steps) keeps serving as the snapshot: other stages already point at it.
        let mut pending = self.pending.borrow_mut();
        let kept = pending.entry(written.digest.clone()).or_insert(Pending {
            blob,
            layer: written,
            dirs,
        });
        Ok(Some(StageLayer {
            descriptor,
            diff_id,
            snapshot: kept.dirs.upper.clone(),
        }))
    }

    /// The key and result of every layer step this build went through.
    pub(super) fn used_entries(&self) -> Vec<(CacheKey, CachedStep)> {
        self.used.borrow().clone()
    }

    /// Moves the layers this build made into the store (blobs into `blobs/`, upper dirs
    /// into `snapshots/`) and records its cache entries. Called once the build succeeded.
    pub(super) fn publish(&self) -> Result<(), BuildError> {
        // Every stage's layers go in (not only the target's): the cache entries of
        // intermediate stages point at them.
        for (digest, p) in self.pending.borrow_mut().drain() {
            self.store.commit_blob(&p.blob, &digest)?;
            self.store.adopt_snapshot(&p.dirs.upper, &p.layer)?;
        }
        let cache_dir = self.store.root().join("cache");
        for probe in self.records.borrow_mut().drain(..) {
            if let Some(result) = &probe.result {
                self.cache
                    .put(&probe.key, result)
                    .map_err(io_err(&cache_dir))?;
            }
            self.cache
                .record_inputs(&probe.identity, &probe.inputs)
                .map_err(io_err(&cache_dir))?;
        }
        self.memo.borrow().save().map_err(io_err(&cache_dir))?;
        Ok(())
    }

    /// COPY and ADD.
    #[allow(clippy::too_many_arguments)]
    fn copy(
        &mut self,
        state: &mut State<'_>,
        c: &crate::dockerfile::Copy,
        is_add: bool,
        span: Span,
        number: usize,
        events: &mut dyn FnMut(Event<'_>),
    ) -> Result<Option<StageLayer>, BuildError> {
        let escape = self.dockerfile.escape;
        let source = state.source.clone();
        let expand = |raw: &str| -> Result<String, BuildError> {
            expand::word(raw, escape, &|n| state.lookup(n))
                .map_err(|e| source.error(span, e.0).into())
        };
        let dest_raw = expand(&c.dest)?;
        let dest = if dest_raw.starts_with('/') {
            dest_raw.clone()
        } else {
            let joined = Path::new(&state.workdir())
                .join(&dest_raw)
                .to_string_lossy()
                .into_owned();
            // Keep a trailing slash: it means "a directory".
            if dest_raw.ends_with('/') || dest_raw == "." {
                format!("{}/", joined.trim_end_matches('/'))
            } else {
                joined
            }
        };
        let chmod = c
            .chmod
            .as_deref()
            .map(|raw| {
                copy::parse_chmod(&expand(raw)?)
                    .map_err(|e| BuildError::from(source.error(span, e.to_string())))
            })
            .transpose()?;
        let chown = c.chown.as_deref().map(&expand).transpose()?;
        let excludes: Vec<String> = c
            .excludes
            .iter()
            .map(|p| expand(p))
            .collect::<Result<_, _>>()?;
        let skip = Ignore::parse(&excludes.join("\n"));

        // Where the sources come from: heredocs, another stage or image, or the context.
        let from_name = c.from.as_deref().map(&expand).transpose()?;
        let from_stage = match &from_name {
            Some(name) => {
                let name = name.as_str();
                let built = match self.stage_named(name, usize::MAX) {
                    Some(index) if index == state.stage.index => {
                        return Err(source
                            .error(span, format!("COPY --from={name} refers to its own stage"))
                            .into())
                    }
                    Some(index) => self.build_stage(index, events)?,
                    None => self.image_stage(name, &source, span)?,
                };
                Some(built)
            }
            None => None,
        };
        let sources: Vec<String> = c
            .sources
            .iter()
            .map(|s| expand(s))
            .collect::<Result<_, _>>()?;
        let docs: Vec<(String, Vec<u8>)> = c
            .heredocs
            .iter()
            .map(|doc| {
                let body = if doc.expand {
                    expand(&doc.content)?
                } else {
                    doc.content.clone()
                };
                Ok((doc.name.clone(), body.into_bytes()))
            })
            .collect::<Result<_, BuildError>>()?;

        let downloads = if is_add && sources.iter().any(|s| fetch::is_url(s)) {
            Some(self.download(&sources, c, &dest, &source, span, &expand)?)
        } else if c.checksum.is_some() {
            return Err(source
                .error(span, "ADD --checksum needs URL sources")
                .into());
        } else {
            None
        };

        // The key covers what is copied: the content of context sources, or the key of
        // the stage or image they come from, or the heredoc bodies, or the downloads.
        let fail = |e: copy::CopyError| BuildError::from(source.error(span, e.to_string()));
        let (content, files) = match (&downloads, &from_stage, docs.is_empty()) {
            (Some(downloads), _, _) => (downloads.key.clone(), BTreeMap::new()),
            (None, _, false) => (
                KeyBuilder::new("heredocs")
                    .field("docs", &serde_json::to_vec(&docs).unwrap_or_default())
                    .finish()
                    .0,
                BTreeMap::new(),
            ),
            (None, Some(stage), true) => (stage.key.0.clone(), BTreeMap::new()),
            (None, None, true) => {
                let set = self.context.select(&sources, &skip).map_err(fail)?;
                digest_sources(&set, &mut self.memo.borrow_mut()).map_err(fail)?
            }
        };
        let keyword = if is_add { "ADD" } else { "COPY" };
        let text = format!(
            "{keyword} {}{}{}{}{} {dest}",
            from_name
                .as_deref()
                .map(|f| format!("--from={f} "))
                .unwrap_or_default(),
            excludes
                .iter()
                .map(|e| format!("--exclude={e} "))
                .collect::<String>(),
            chown
                .as_deref()
                .map(|o| format!("--chown={o} "))
                .unwrap_or_default(),
            chmod.map(|m| format!("--chmod={m:o} ")).unwrap_or_default(),
            sources.join(" ")
        );
        let probe = self.probe(
            state,
            number,
            keyword,
            text,
            content.as_str().as_bytes(),
            files,
            events,
        )?;
        self.through_cache(state, probe, |state| {
            self.mutate_rootfs(state, |root| {
                let owner = match &chown {
                    None => None,
                    Some(spec) => {
                        Some(resolve_chown(root, spec).map_err(|e| source.error(span, e))?)
                    }
                };
                let opts = copy::CopyOptions {
                    chown: owner,
                    chmod,
                    unpack_archives: is_add,
                };
                let dest = Path::new(&dest);
                if let Some(downloads) = &downloads {
                    let dir = downloads.dir.path();
                    let from_root = Root::open(dir).map_err(io_err(dir))?;
                    let set =
                        SourceSet::from_root(&from_root, dir, &downloads.files, &skip, "downloads")
                            .map_err(fail)?;
                    let opts = copy::CopyOptions {
                        unpack_archives: false,
                        ..opts
                    };
                    copy::copy(&set, root, dest, &opts).map_err(fail)?;
                } else if !docs.is_empty() {
                    copy::copy(&SourceSet::inline(docs), root, dest, &opts).map_err(fail)?;
                } else if let Some(stage) = &from_stage {
                    let dirs = StepDirs::new(self.store)?;
                    let overlay = dirs.mount(&stage.lower_dirs())?;
                    let from_root = Root::open(overlay.target()).map_err(io_err(&dirs.mnt))?;
                    let place = format!(
                        "stage or image {:?}",
                        from_name.as_deref().unwrap_or_default()
                    );
                    let set = SourceSet::from_root(&from_root, &dirs.mnt, &sources, &skip, &place)
                        .map_err(fail)?;
                    copy::copy(&set, root, dest, &opts).map_err(fail)?;
                } else {
                    let set = self.context.select(&sources, &skip).map_err(fail)?;
                    copy::copy(&set, root, dest, &opts).map_err(fail)?;
                }
                Ok(())
            })
        })
    }
}

/// The URL sources of one ADD, downloaded.
struct Downloads {
    /// Holds `N/NAME` for the N-th URL.
    dir: tempfile::TempDir,
    /// The `N/NAME` paths in `dir`, in source order.
    files: Vec<String>,
    /// The content part of the step's cache key: every URL with its content digest.
    key: Digest,
}

impl StageBuilder<'_> {
    /// Downloads the URL `sources` of `ADD` (all of them must be URLs) into a temp dir of
    /// the store, each checked against `--checksum` when given.
    fn download(
        &self,
        sources: &[String],
        c: &crate::dockerfile::Copy,
        dest: &str,
        source: &Source,
        span: Span,
        expand: &dyn Fn(&str) -> Result<String, BuildError>,
    ) -> Result<Downloads, BuildError> {
        let located = |message: String| BuildError::from(source.error(span, message));
        if !sources.iter().all(|s| fetch::is_url(s)) {
            return Err(located(
                "ADD mixes URLs with other sources: give the URLs an ADD of their own".into(),
            ));
        }
        let expected = c
            .checksum
            .as_deref()
            .map(|raw| {
                expand(raw)?
                    .parse::<Digest>()
                    .map_err(|e| located(format!("ADD --checksum: {e}")))
            })
            .transpose()?;
        let dir = self.store.temp_dir()?;
        let mut files = Vec::new();
        let mut key = KeyBuilder::new("urls");
        for (i, url) in sources.iter().enumerate() {
            let name = fetch::file_name(url);
            if name == fetch::UNNAMED && (dest.ends_with('/') || sources.len() > 1) {
                return Err(located(format!(
                    "ADD {url}: the URL names no file; give a file path as the destination"
                )));
            }
            let sub = dir.path().join(i.to_string());
            std::fs::create_dir(&sub).map_err(io_err(&sub))?;
            let digest = fetch::download(url, &sub.join(&name), expected.as_ref())
                .map_err(|e| located(format!("ADD: {e}")))?;
            key = key
                .field("url", url.as_bytes())
                .field("digest", digest.as_str().as_bytes());
            files.push(format!("{i}/{name}"));
        }
        Ok(Downloads {
            dir,
            files,
            key: key.finish().0,
        })
    }
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

/// Resolves `--chown=user[:group]` as docker does: names through the image's passwd and
/// group files; a user without a group gets the gid equal to its uid.
fn resolve_chown(root: &Root, spec: &str) -> Result<(u32, u32), String> {
    let resolved = sandbox::resolve_user(root, spec)?;
    if spec.contains(':') {
        Ok((resolved.uid, resolved.gid))
    } else {
        Ok((resolved.uid, resolved.uid))
    }
}

/// The argv of a CMD/ENTRYPOINT/RUN: exec form as is, shell form through `shell`.
fn command_args(command: &Command, shell: &[String]) -> Vec<String> {
    match command {
        Command::Exec(args) => args.clone(),
        Command::Shell(text) => {
            let mut args = shell.to_vec();
            args.push(text.clone());
            args
        }
    }
}

/// The argv and stdin of a RUN step, heredocs included as BuildKit runs them: a RUN that
/// is only a heredoc runs the body as a script (through its `#!` interpreter if it has
/// one, else the shell); otherwise the shell gets the command and the heredocs verbatim.
fn run_command(run: &crate::dockerfile::Run, shell: &[String]) -> (Vec<String>, Option<Vec<u8>>) {
    let Command::Shell(text) = &run.command else {
        return (command_args(&run.command, shell), None);
    };
    if run.heredocs.is_empty() {
        return (command_args(&run.command, shell), None);
    }
    let first = &run.heredocs[0];
    let bare = text
        .trim()
        .trim_start_matches("<<")
        .trim_start_matches('-')
        .trim_matches(|c| c == '"' || c == '\'');
    if run.heredocs.len() == 1 && bare == first.name {
        if let Some(line) = first.content.strip_prefix("#!") {
            let interpreter: Vec<String> = line
                .lines()
                .next()
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            let mut args = interpreter;
            args.push("/dev/stdin".into());
            return (args, Some(first.content.clone().into_bytes()));
        }
        let mut args = shell.to_vec();
        args.push(first.content.clone());
        return (args, None);
    }
    let mut script = text.clone();
    for doc in &run.heredocs {
        script.push('\n');
        script.push_str(&doc.content);
        if !doc.content.ends_with('\n') {
            script.push('\n');
        }
        script.push_str(&doc.name);
    }
    let mut args = shell.to_vec();
    args.push(script);
    (args, None)
}

/// HEALTHCHECK in docker's config form.
fn health_config(check: &Healthcheck, shell: &[String]) -> Result<HealthConfig, String> {
    let _ = shell;
    match check {
        Healthcheck::None => Ok(HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..HealthConfig::default()
        }),
        Healthcheck::Check {
            command,
            interval,
            timeout,
            start_period,
            start_interval,
            retries,
        } => {
            let test = match command {
                Command::Exec(args) => std::iter::once("CMD".to_owned())
                    .chain(args.iter().cloned())
                    .collect(),
                Command::Shell(text) => vec!["CMD-SHELL".to_owned(), text.clone()],
            };
            let duration = |flag: &str, v: &Option<String>| {
                v.as_deref()
                    .map(|d| parse_duration(d).map_err(|e| format!("--{flag}: {e}")))
                    .transpose()
            };
            Ok(HealthConfig {
                test: Some(test),
                interval: duration("interval", interval)?,
                timeout: duration("timeout", timeout)?,
                start_period: duration("start-period", start_period)?,
                start_interval: duration("start-interval", start_interval)?,
                retries: retries
                    .as_deref()
                    .map(|r| {
                        r.parse::<i64>()
                            .map_err(|_| format!("--retries: {r:?} is not a number"))
                    })
                    .transpose()?,
            })
        }
    }
}

/// A Go-style duration (`1h2m3.5s`, `300ms`) in nanoseconds.
fn parse_duration(text: &str) -> Result<i64, String> {
    let mut total = 0f64;
    let mut rest = text;
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("{text:?} lacks a unit"))?;
        let (number, tail) = rest.split_at(split);
        let value: f64 = number
            .parse()
            .map_err(|_| format!("{text:?} is not a duration"))?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(format!("{text:?} has an unknown unit {unit:?}")),
        };
        total += value * scale;
        rest = next;
    }
    Ok(total as i64)
}

/// Lexically cleans an absolute path (`/a/./b/../c` -> `/a/c`), as docker does for WORKDIR.
fn normalise(path: &Path) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.to_str().unwrap_or("/").split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_follow_go_syntax() {
        assert_eq!(parse_duration("30s"), Ok(30_000_000_000));
        assert_eq!(parse_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_duration("250ms"), Ok(250_000_000));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5x").is_err());
    }

    #[test]
    fn workdir_paths_are_cleaned() {
        assert_eq!(normalise(Path::new("/a/./b/../c/")), "/a/c");
        assert_eq!(normalise(Path::new("/../..")), "/");
    }

    #[test]
    fn env_set_replaces_in_place() {
        let mut config = ContainerConfig::default();
        env_set(&mut config, "A", "1");
        env_set(&mut config, "B", "2");
        env_set(&mut config, "A", "3");
        assert_eq!(config.env, Some(vec!["A=3".to_string(), "B=2".to_string()]));
        assert_eq!(env_get(&config, "A").as_deref(), Some("3"));
        assert_eq!(env_get(&config, "AB"), None);
    }
}
