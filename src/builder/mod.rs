//! The builder: a parsed Dockerfile and a context -> an image in the store.
//!
//! [`build`] picks the stages the target needs (following `FROM <stage>` and
//! `COPY --from=<stage>`), builds each once in dependency order ([`stage`]), writes the
//! target's config and manifest, and tags it. Each step that changes files runs against an
//! overlay whose lower dirs are the snapshots of the layers so far and whose upper dir
//! becomes the step's layer ([`crate::layer::write`]) and then its snapshot.
//!
//! The builder prints nothing: it reports [`Event`]s to the caller.

mod command;
pub mod contexts;
mod copy;
mod exec;
pub mod family;
mod jobs;
mod lower;
pub mod mounts;
pub mod output;
pub mod pins;
pub mod rebase;
mod run;
mod stage;
mod stages;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::cache::StepCache;
use crate::copy::CopyError;
use crate::digest::Digest;
use crate::dockerfile::ignore::{Ignore, IgnoreError};
use crate::dockerfile::{self, Dockerfile, DockerfileError, Source, Stage};
use crate::epoch::Epoch;
use crate::image::{Descriptor, Image, Store, StoreError};
use crate::layer::{Compression, LayerError};
use crate::platform::{emulation, Platform};
use crate::sandbox::{Network, SandboxError, SandboxOptions};

pub use stage::BuiltStage;

/// What to build and how.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// The build context directory.
    pub context: PathBuf,
    /// The Dockerfile; `None` means `CONTEXT/Dockerfile`, else `CONTEXT/Containerfile`.
    pub dockerfile: Option<PathBuf>,
    /// Tags to give the result (`NAME[:TAG]`).
    pub tags: Vec<String>,
    /// `--label K=V` values, added to the result's config labels (over the Dockerfile's).
    pub labels: BTreeMap<String, String>,
    /// `--build-arg K=V` values.
    pub build_args: BTreeMap<String, String>,
    /// The stage to build; default the last.
    pub target: Option<String>,
    /// Network of RUN steps.
    pub network: Network,
    /// Compression of new layers.
    pub compression: Compression,
    /// `--secret` sources by id, for `RUN --mount=type=secret`.
    pub secrets: BTreeMap<String, mounts::SecretSource>,
    /// `--ssh` agent sockets by id, for `RUN --mount=type=ssh`.
    pub ssh: BTreeMap<String, PathBuf>,
    /// Image names that must resolve to one exact manifest (`FROM base` in a family
    /// builds on the digest its parent's build just produced, whatever the tag says now).
    pub pinned: BTreeMap<String, Digest>,
    /// Hints for references that may not resolve (a family's "did you mean"), by the
    /// reference as the Dockerfile writes it: an error about a missing image carries it.
    pub hints: BTreeMap<String, String>,
    /// How to reach registries for `FROM host/repo:tag` images not in the store.
    pub registry: crate::registry::RegistryOptions,
    /// `--platform`: the platforms to build for (none: this host's). One gives an image
    /// for it; several give an image index with one image per platform.
    pub platforms: Vec<Platform>,
    /// How many platforms build at once (0: as many as there are cores).
    pub jobs: usize,
    /// `--no-cache`: run every step.
    pub no_cache: bool,
    /// `--no-cache-filter`: run every step of these stages.
    pub no_cache_filter: Vec<String>,
    /// Rebuild steps whose parent changed instead of rebasing their layers onto it
    /// (`--no-rebase`).
    pub no_rebase: bool,
    /// The times written into the image (`SOURCE_DATE_EPOCH`, else the git commit time;
    /// see [`crate::epoch`]).
    pub epoch: Epoch,
    /// `--pull`: resolve every FROM image that names a registry again, even when the
    /// store holds it, as `docker build --pull` does.
    pub pull: bool,
    /// `--build-context NAME=...`: what `FROM NAME`, `COPY --from=NAME` and
    /// `RUN --mount=from=NAME` read instead of the stage or image called NAME.
    pub contexts: BTreeMap<String, contexts::NamedContext>,
    /// `--annotation`: annotations of the result's manifest.
    pub annotations: BTreeMap<String, String>,
    /// `--add-host`, `--shm-size`, `--ulimit`: the sandbox of every RUN.
    pub sandbox: SandboxOptions,
    /// `--allow security.insecure`: `RUN --security=insecure` may run (BuildKit's
    /// entitlement); without it such a step is an error.
    pub allow_insecure: bool,
}

impl BuildOptions {
    /// The platforms the build makes images for: `--platform`, else this host's.
    pub fn target_platforms(&self) -> Vec<Platform> {
        if self.platforms.is_empty() {
            vec![Platform::host()]
        } else {
            self.platforms.clone()
        }
    }
}

/// A finished build.
#[derive(Clone, Debug)]
pub struct BuildResult {
    /// What was tagged: the image's manifest, or for several platforms the index of
    /// their manifests (its digest is the result's identity).
    pub descriptor: Descriptor,
    /// The image, of the first platform when there are several.
    pub image: Image,
    /// Every platform's image, in `--platform` order (one for a single platform).
    pub images: Vec<Image>,
    /// The cache key and result of every step that wrote files, run or cached, in every
    /// stage: what `--cache-to mode=max` exports.
    pub cache_entries: Vec<(crate::cache::CacheKey, crate::cache::CachedStep)>,
    /// The same for the steps of the result's own stages (the target and the stages it
    /// is built FROM): what `--cache-to mode=min` exports.
    pub image_entries: Vec<(crate::cache::CacheKey, crate::cache::CachedStep)>,
}

/// Progress the builder reports; the CLI decides how to show it.
#[derive(Debug)]
pub enum Event<'a> {
    /// A step starts: stage label, 1-based step number, step count, instruction text.
    Step {
        /// `[stage]` label: the stage's name or index.
        stage: &'a str,
        /// 1-based step number within the stage.
        number: usize,
        /// Steps in the stage.
        total: usize,
        /// The instruction as written.
        text: &'a str,
    },
    /// One line of a RUN step's output.
    Output {
        /// The stage label.
        stage: &'a str,
        /// 1-based step number.
        number: usize,
        /// The line, without its newline.
        line: &'a [u8],
    },
    /// The step's result came from the cache.
    Cached {
        /// The stage label.
        stage: &'a str,
        /// 1-based step number.
        number: usize,
    },
    /// The step is not in the cache and runs; `reason` says why (for `--explain`).
    Miss {
        /// The stage label.
        stage: &'a str,
        /// 1-based step number.
        number: usize,
        /// Why the cache missed.
        reason: &'a str,
    },
    /// The step missed the cache because its parent changed, and reuses the layer it
    /// made over the old parent: the step does not read the parent, and `proof` says why
    /// the layer is the one it would write over the new parent.
    Rebased {
        /// The stage label.
        stage: &'a str,
        /// 1-based step number.
        number: usize,
        /// Why the reuse is safe.
        proof: &'a str,
    },
    /// A step finished.
    StepDone {
        /// The stage label.
        stage: &'a str,
        /// 1-based step number.
        number: usize,
        /// How long it took.
        elapsed: std::time::Duration,
        /// Bytes of the new layer it wrote (0 when cached or metadata-only).
        bytes: u64,
    },
    /// The image was written and tagged.
    Done {
        /// The manifest digest.
        digest: &'a Digest,
        /// The tags given.
        tags: &'a [String],
    },
}

/// Why a build failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum BuildError {
    /// A problem located in the Dockerfile (syntax, unknown stage, missing source, failing RUN).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Dockerfile(#[from] Box<DockerfileError>),
    /// Bad options (no Dockerfile, unknown target, bad tag).
    #[error("{0}")]
    Usage(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A registry failed (pull, push, login), or registries.conf is bad.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    /// A `--platform` value is malformed or cannot be built for here.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Platform(#[from] crate::platform::PlatformError),
    /// A snapshot stack could not be mounted.
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::SnapshotError),
    /// A layer could not be written.
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// The sandbox failed (not the command: a failing command is a Dockerfile error).
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// I/O on a path.
    #[error("{path}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl From<DockerfileError> for BuildError {
    fn from(e: DockerfileError) -> Self {
        BuildError::Dockerfile(Box::new(e))
    }
}

/// Wraps an I/O error with the path it happened on (for `map_err`).
pub fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |source| BuildError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A COPY/ADD error located at `span`: its message there, and the error under it (an I/O
/// or extraction error) kept as the cause, so the printer shows each once.
pub(crate) fn copy_error(
    source: &dockerfile::Source,
    span: dockerfile::Span,
    e: CopyError,
) -> BuildError {
    let message = e.to_string();
    let located = match e {
        CopyError::Io { source: cause, .. } => source.error_with(span, message, cause),
        CopyError::Extract { source: cause, .. } => source.error_with(span, message, cause),
        _ => source.error(span, message),
    };
    located.into()
}

/// Finds the Dockerfile of a context as docker does: `-f` if given, else the first of
/// [`crate::dockerfile::DEFAULT_NAMES`] in the context.
pub fn locate_dockerfile(context: &Path, given: Option<&Path>) -> Result<PathBuf, BuildError> {
    if let Some(path) = given {
        return Ok(path.to_owned());
    }
    crate::dockerfile::default_in(context).ok_or_else(|| {
        BuildError::Usage(format!(
            "no Dockerfile or Containerfile in {}",
            context.display()
        ))
    })
}

/// Builds the Dockerfile of `opts` into `store`, for each of its platforms, and tags
/// the result (an image, or an index of one image per platform).
pub fn build(
    store: &Store,
    opts: &BuildOptions,
    events: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<BuildResult, BuildError> {
    if !opts.context.is_dir() {
        return Err(BuildError::Usage(format!(
            "build context {} is not a directory",
            opts.context.display()
        )));
    }
    let from_stdin = opts.dockerfile.as_deref() == Some(Path::new("-"));
    let (path, bytes) = if from_stdin {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
            .map_err(io_err(Path::new("<stdin>")))?;
        (PathBuf::from("<stdin>"), bytes)
    } else {
        let path = locate_dockerfile(&opts.context, opts.dockerfile.as_deref())?;
        let bytes = fs_err::read(&path).map_err(|e| BuildError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        (path, bytes)
    };
    let dockerfile = dockerfile::parse_bytes(&path, bytes)?;
    // A Dockerfile on stdin has no `<Dockerfile>.dockerignore` beside it.
    let ignore = Ignore::load(&opts.context, (!from_stdin).then_some(path.as_path())).map_err(
        |e| match e {
            IgnoreError::Io(e) => io_err(&opts.context)(e),
            IgnoreError::Pattern(located) => BuildError::Dockerfile(located),
        },
    )?;
    let context =
        crate::copy::Context::new(&opts.context, ignore).map_err(io_err(&opts.context))?;
    for tag in &opts.tags {
        crate::image::ImageName::parse(tag)
            .map_err(|e| BuildError::Usage(format!("invalid tag {tag:?}: {e}")))?;
    }

    let target = target_stage(&dockerfile, opts.target.as_deref())?;
    let platforms = opts.target_platforms();
    for platform in &platforms {
        preflight(&dockerfile, target, opts, platform)?;
    }
    let shared = exec::Shared::default();
    let inputs = Inputs {
        store,
        dockerfile: &dockerfile,
        context: &context,
        opts,
        shared: &shared,
        target,
    };
    let mut built = if platforms.len() == 1 {
        vec![inputs.build_for(platforms[0].clone(), String::new(), events)?]
    } else {
        inputs.build_platforms(&platforms, events)?
    };
    for (stage, _) in &mut built {
        stage.add_labels(&opts.labels);
        check_config_size(stage, &dockerfile.stages[target], &dockerfile.source)?;
    }
    shared.publish(store)?;
    let mut images = Vec::with_capacity(built.len());
    for (stage, builder) in &mut built {
        builder.publish()?;
        stage.add_annotations(&opts.annotations);
        images.push(stage.commit(store, opts.epoch)?);
    }
    let descriptor = if platforms.len() == 1 {
        images[0].0.clone()
    } else {
        let entries: Vec<(Descriptor, Platform)> = images
            .iter()
            .zip(&built)
            .map(|((descriptor, _), (stage, _))| (descriptor.clone(), stage.platform.clone()))
            .collect();
        store.put_index(&entries)?
    };
    for tag in &opts.tags {
        store.tag(tag, &descriptor)?;
    }
    events(Event::Done {
        digest: &descriptor.digest,
        tags: &opts.tags,
    });
    let mut cache_entries = Vec::new();
    let mut image_entries = Vec::new();
    for (stage, builder) in built {
        cache_entries.extend(builder.used_entries());
        image_entries.extend(stage.steps);
    }
    let images: Vec<Image> = images.into_iter().map(|(_, image)| image).collect();
    Ok(BuildResult {
        descriptor,
        image: images[0].clone(),
        images,
        cache_entries,
        image_entries,
    })
}

/// What every platform's build of one `build` reads.
struct Inputs<'a> {
    store: &'a Store,
    dockerfile: &'a Dockerfile,
    context: &'a crate::copy::Context,
    opts: &'a BuildOptions,
    shared: &'a exec::Shared,
    /// The index of the target stage.
    target: usize,
}

impl<'a> Inputs<'a> {
    /// Builds the target stage for `platform`, its stage labels starting with `prefix`.
    /// Returns it with the builder, whose cache entries are recorded once every
    /// platform's build succeeded.
    fn build_for(
        &self,
        platform: Platform,
        prefix: String,
        events: &mut dyn FnMut(Event<'_>),
    ) -> Result<(BuiltStage, stages::StageBuilder<'a>), BuildError> {
        let cache = StepCache::open(self.store).map_err(io_err(self.store.root()))?;
        let mut builder = stages::StageBuilder::new(
            self.store,
            self.dockerfile,
            self.context,
            self.opts,
            (cache, self.shared),
            (platform, prefix),
        )?;
        let built = builder.build_target(self.target, events)?;
        if built.local.is_some() {
            return Err(BuildError::Usage(format!(
                "the target stage is replaced by a local directory --build-context, which is no image: build another target, or use the context through COPY --from in {}",
                self.dockerfile.source.path.display()
            )));
        }
        Ok((built, builder))
    }

    /// Builds every platform of `platforms`, up to `--jobs` at once (each in a thread of
    /// its own; a step they share runs once, see [`exec::Shared`]), in their order.
    /// Stage labels start with the platform. The first failure is the build's.
    #[allow(clippy::type_complexity)]
    fn build_platforms(
        &self,
        platforms: &[Platform],
        events: &mut (dyn FnMut(Event<'_>) + Send),
    ) -> Result<Vec<(BuiltStage, stages::StageBuilder<'a>)>, BuildError> {
        let jobs = match self.opts.jobs {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let events = Mutex::new(events);
        jobs::each(platforms, jobs, |platform| {
            let mut forward = |event: Event<'_>| {
                if let Ok(mut events) = events.lock() {
                    (*events)(event);
                }
            };
            self.build_for(platform.clone(), format!("{platform} "), &mut forward)
        })
    }
}

/// Refuses, before anything runs, a build whose RUN steps would execute for a platform
/// this host cannot run (natively or emulated): the stages the target needs, each for its
/// FROM's `--platform` or `platform`.
fn preflight(
    dockerfile: &Dockerfile,
    target: usize,
    opts: &BuildOptions,
    platform: &Platform,
) -> Result<(), BuildError> {
    let predefined = dockerfile::args::platform_args(&Platform::host(), platform);
    let stage_name = dockerfile::args::target_stage_name(dockerfile, opts.target.as_deref());
    let globals =
        dockerfile::args::ArgScope::global(dockerfile, &opts.build_args, &stage_name, predefined)?;
    let expand = |raw: &str| {
        dockerfile::expand::word(raw, dockerfile.escape, &|name| {
            globals.get(name).map(str::to_owned)
        })
        .ok()
    };
    // The stages the target needs: FROM another stage, COPY --from one.
    let mut needed = vec![false; dockerfile.stages.len()];
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if std::mem::replace(&mut needed[i], true) {
            continue;
        }
        let stage = &dockerfile.stages[i];
        let from = std::iter::once(expand(&stage.base)).chain(stage.instructions.iter().map(
            |instruction| match &instruction.value {
                dockerfile::Instruction::Copy(copy) => copy.from.as_deref().and_then(expand),
                _ => None,
            },
        ));
        for name in from.flatten() {
            if let Some(other) = dockerfile.stage_by_name(&name).filter(|s| s.index < i) {
                todo.push(other.index);
            }
        }
    }
    for stage in dockerfile.stages.iter().filter(|s| needed[s.index]) {
        let runs = stage
            .instructions
            .iter()
            .any(|i| matches!(i.value, dockerfile::Instruction::Run(_)));
        if !runs {
            continue;
        }
        let own = match &stage.platform {
            // Malformed values are the stage's own error when it is built.
            Some(raw) => match expand(raw).map(|text| Platform::parse(&text)) {
                Some(Ok(own)) => own,
                _ => continue,
            },
            None => platform.clone(),
        };
        emulation::ensure(&own).map_err(|e| {
            dockerfile.source.error_with(
                stage.span,
                format!("the RUN steps of this stage need to run programs for {own}"),
                BuildError::Platform(e),
            )
        })?;
    }
    Ok(())
}

/// The most bytes an image config may have: skopeo and the rest of containers/image
/// refuse to read a larger one (their `MaxConfigBodySize`), so strata does not write one.
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// Fails at the FROM of `stage` when the config of its image, `built`, is larger than
/// [`MAX_CONFIG_BYTES`], before anything of the build is published.
fn check_config_size(built: &BuiltStage, stage: &Stage, source: &Source) -> Result<(), BuildError> {
    let bytes = built.config_bytes();
    if bytes <= MAX_CONFIG_BYTES {
        return Ok(());
    }
    let config = &built.config;
    Err(source
        .error(
            stage.span,
            format!(
                "the image config of this stage would be {bytes} bytes ({} history entries, {} Env entries), over the {} MiB that skopeo and registries accept",
                config.history.len(),
                config.config.env.as_ref().map_or(0, Vec::len),
                MAX_CONFIG_BYTES >> 20
            ),
        )
        .with_hint("each instruction adds a history entry: merge ENV, LABEL and ARG lines into fewer instructions")
        .into())
}

/// The index of the stage `--target` names, or the last stage.
fn target_stage(dockerfile: &Dockerfile, target: Option<&str>) -> Result<usize, BuildError> {
    match target {
        None => Ok(dockerfile.stages.len() - 1),
        Some(name) => dockerfile
            .stage_by_name(name)
            .map(|s| s.index)
            .ok_or_else(|| {
                let known: Vec<String> = dockerfile
                    .stages
                    .iter()
                    .map(|s| s.name.clone().unwrap_or_else(|| s.index.to_string()))
                    .collect();
                BuildError::Usage(format!(
                    "target stage {name:?} not found in {} (stages: {})",
                    dockerfile.source.path.display(),
                    known.join(", ")
                ))
            }),
    }
}
