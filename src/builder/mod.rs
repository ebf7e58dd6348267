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

use crate::cache::StepCache;
use crate::copy::CopyError;
use crate::digest::Digest;
use crate::dockerfile::ignore::{Ignore, IgnoreError};
use crate::dockerfile::{self, Dockerfile, DockerfileError, Source, Stage};
use crate::epoch::Epoch;
use crate::image::{Descriptor, Image, Store, StoreError};
use crate::layer::{Compression, LayerError};
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
    /// `--platform` for images pulled from a multi-platform index (default: this host).
    pub platform: Option<String>,
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

/// A finished build.
#[derive(Clone, Debug)]
pub struct BuildResult {
    /// The manifest descriptor (its digest is the image's identity).
    pub descriptor: Descriptor,
    /// The image.
    pub image: Image,
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
    /// A `--platform` value is malformed.
    #[error(transparent)]
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

/// Builds the Dockerfile of `opts` into `store` and tags the result.
pub fn build(
    store: &Store,
    opts: &BuildOptions,
    events: &mut dyn FnMut(Event<'_>),
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
    let cache = StepCache::open(store).map_err(io_err(store.root()))?;
    let mut builder = stages::StageBuilder::new(store, &dockerfile, &context, opts, cache)?;
    let mut built = builder.build_target(target, events)?;
    if built.local.is_some() {
        return Err(BuildError::Usage(format!(
            "the target stage is replaced by a local directory --build-context, which is no image: build another target, or use the context through COPY --from in {}",
            dockerfile.source.path.display()
        )));
    }
    built.add_labels(&opts.labels);
    check_config_size(&built, &dockerfile.stages[target], &dockerfile.source)?;
    builder.publish()?;
    built.add_annotations(&opts.annotations);
    let (descriptor, image) = built.commit(store, opts.epoch)?;
    for tag in &opts.tags {
        store.tag(tag, &descriptor)?;
    }
    events(Event::Done {
        digest: &descriptor.digest,
        tags: &opts.tags,
    });
    Ok(BuildResult {
        descriptor,
        image,
        cache_entries: builder.used_entries(),
        image_entries: built.steps,
    })
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
