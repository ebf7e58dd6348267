//! Stages in dependency order: each stage's base (an earlier stage, `scratch`, an image
//! of the store or a registry), then its steps, each lowered ([`super::lower`]) and, when
//! it changes files, executed through the step cache ([`super::exec`]).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use crate::cache::{CacheKey, StepCache};
use crate::copy::Context;
use crate::digest::Digest;
use crate::dockerfile::args::{platform_args, target_stage_name, ArgScope};
use crate::dockerfile::mount::{self, MountRequest};
use crate::dockerfile::{
    expand, Dockerfile, DockerfileError, Instruction, Source, Span, Spanned, Stage,
};
use crate::fsroot::DirSpec;
use crate::image::{History, Image, Store};
use crate::platform::Platform;
use crate::registry::{self, Client, Reference, RegistryError};
use crate::sandbox;

use super::exec::{Executor, KeyInputs, ParentReads, Shared};
use super::lower::{instruction_display, instruction_text, lower, Lowering, Work};
use super::mounts::SecretDir;
use super::stage::{trigger_file, BuiltStage, StageLayer, State};
use super::{io_err, BuildError, BuildOptions, Event};

/// Which `--from` names a stage or image, for the errors of [`StageBuilder::stage_or_image`].
#[derive(Clone, Copy)]
pub(super) enum FromFlag<'t> {
    /// `COPY --from`.
    Copy,
    /// `RUN --mount=from=...,target=TARGET`.
    Mount {
        /// The mount's target.
        target: &'t str,
    },
}

/// Builds stages on demand, each once, detecting cycles between them.
pub(super) struct StageBuilder<'a> {
    pub(super) store: &'a Store,
    dockerfile: &'a Dockerfile,
    pub(super) context: &'a Context,
    pub(super) opts: &'a BuildOptions,
    globals: ArgScope,
    built: HashMap<usize, BuiltStage>,
    building: Vec<usize>,
    /// The step cache and this build's layers.
    pub(super) exec: Executor<'a>,
    /// The tmpfs secrets are written to, made on the first RUN that mounts something.
    pub(super) secret_dir: Option<SecretDir>,
    /// The cache mount ids this build has started fresh (see [`super::mounts::Resolver::fresh`]).
    pub(super) started_fresh: BTreeSet<String>,
    /// With `--pull`: what each reference was pulled as in this build (per platform), so
    /// two stages FROM one base pull it once and build on the same image.
    pulled: RefCell<HashMap<(String, Platform), Digest>>,
    /// The platform this build makes images for (`TARGETPLATFORM`): every stage's,
    /// unless its FROM says `--platform`.
    pub(super) target: Platform,
    /// What stage labels start with: the target platform when the build makes several.
    label_prefix: String,
}

impl<'a> StageBuilder<'a> {
    /// A builder for the stages of `dockerfile` for the `target` platform, reading
    /// sources from `context`, its executor one of the build's over `shared`. Fails when
    /// a global ARG's default does not expand (every one is evaluated).
    pub(super) fn new(
        store: &'a Store,
        dockerfile: &'a Dockerfile,
        context: &'a Context,
        opts: &'a BuildOptions,
        (cache, shared): (StepCache, &'a Shared),
        (target, label_prefix): (Platform, String),
    ) -> Result<Self, BuildError> {
        let stage = target_stage_name(dockerfile, opts.target.as_deref());
        let predefined = platform_args(&Platform::host(), &target);
        Ok(StageBuilder {
            store,
            dockerfile,
            context,
            opts,
            globals: ArgScope::global(dockerfile, &opts.build_args, &stage, predefined)?,
            built: HashMap::new(),
            building: Vec::new(),
            exec: Executor::new(store, opts, cache, shared),
            secret_dir: None,
            started_fresh: BTreeSet::new(),
            pulled: RefCell::new(HashMap::new()),
            target,
            label_prefix,
        })
    }

    /// The platform a stage is for: its FROM's `--platform` (expanded with the global
    /// ARGs: `$BUILDPLATFORM` is this host's), else the build's target.
    fn stage_platform(&self, stage: &Stage) -> Result<Platform, BuildError> {
        let Some(raw) = &stage.platform else {
            return Ok(self.target.clone());
        };
        let text = self.expand_global(raw, stage.span)?;
        Platform::parse(&text).map_err(|e| {
            self.dockerfile
                .source
                .error(stage.span, format!("FROM --platform={text}: {e}"))
                .into()
        })
    }

    fn expand_global(&self, raw: &str, span: Span) -> Result<String, BuildError> {
        expand::word(raw, self.dockerfile.escape, &|name| {
            self.globals.get(name).map(str::to_owned)
        })
        .map_err(|e| self.dockerfile.source.error(span, e.0).into())
    }

    /// Builds the stage `target` and, first, the stages it needs, each once and in file
    /// order. The stages a stage needs (its FROM, `COPY --from`, `RUN --mount=from=`)
    /// are found without recursion and built before it, so [`StageBuilder::build_stage`]
    /// finds them built and the call stack stays flat: a chain of 800 stages each
    /// copying from the previous one overflowed the stack when every `--from` built its
    /// stage recursively. What the walk cannot see (a `--from` written with a variable
    /// of the stage, a base's ONBUILD triggers) is still built on demand.
    pub(super) fn build_target(
        &mut self,
        target: usize,
        events: &mut dyn FnMut(Event<'_>),
    ) -> Result<BuiltStage, BuildError> {
        let mut needed = BTreeSet::new();
        let mut todo = vec![target];
        while let Some(index) = todo.pop() {
            if needed.insert(index) {
                todo.extend(self.static_dependencies(index));
            }
        }
        needed.remove(&target);
        for index in needed {
            self.build_stage(index, events)?;
        }
        self.build_stage(target, events)
    }

    /// The earlier stages that stage `index` names in its FROM, `COPY --from` and
    /// `RUN --mount=from=` without a variable of its own; none for a stage a named
    /// build context replaces. Words that do not expand are left to the build to
    /// report.
    fn static_dependencies(&self, index: usize) -> Vec<usize> {
        let stage = &self.dockerfile.stages[index];
        if stage
            .name
            .as_deref()
            .is_some_and(|name| self.opts.contexts.contains_key(name))
        {
            return Vec::new();
        }
        // (raw word, whether it is a `--mount` value)
        let mut words = vec![(stage.base.as_str(), false)];
        for instruction in &stage.instructions {
            match &instruction.value {
                Instruction::Copy(copy) | Instruction::Add(copy) => {
                    words.extend(copy.from.as_deref().map(|from| (from, false)));
                }
                Instruction::Run(run) => words.extend(
                    run.flags
                        .iter()
                        .filter(|flag| flag.name == "mount")
                        .map(|flag| (flag.value.as_str(), true)),
                ),
                _ => {}
            }
        }
        let mut deps = Vec::new();
        for (i, (raw, is_mount)) in words.into_iter().enumerate() {
            // Only the FROM line sees the global ARGs; a `$` elsewhere may name an ARG
            // of the stage, known only as it runs.
            if i > 0 && raw.contains('$') {
                continue;
            }
            let Ok(word) = self.expand_global(raw, stage.span) else {
                continue;
            };
            let name = if is_mount {
                match mount::parse(&word) {
                    Ok(MountRequest {
                        from: Some(from), ..
                    }) => from,
                    _ => continue,
                }
            } else {
                word
            };
            deps.extend(self.stage_named(&name, index));
        }
        deps
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
        // A named context replaces the stage of that name.
        if let Some(name) = &stage.name {
            let platform = self.stage_platform(stage)?;
            let source = &self.dockerfile.source;
            if let Some(context) = self.named_context(name, &platform, source, stage.span) {
                let built = context?;
                self.built.insert(index, built.clone());
                return Ok(built);
            }
        }
        if self.building.contains(&index) {
            return Err(self
                .dockerfile
                .source
                .error(stage.span, "circular dependency between stages")
                .into());
        }
        self.building.push(index);
        let label = format!(
            "{}{}",
            self.label_prefix,
            stage
                .name
                .clone()
                .unwrap_or_else(|| format!("stage-{index}"))
        );
        let platform = self.stage_platform(stage)?;
        let mut built = self.base_of(stage, &platform, events)?;
        // A child runs its base's ONBUILD triggers (an image's or an earlier stage's)
        // right after FROM, as docker does; they are not inherited.
        let triggers = built.config.config.on_build.take().unwrap_or_default();
        let trigger_file = trigger_file(stage, &triggers)?;
        let mut state = State::new(stage, &self.dockerfile.source, label, built);
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
            let text = instruction_display(state.source, instruction.span, self.dockerfile.escape);
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
                Some(layer) if self.exec.wrote(&layer.descriptor.digest) => layer.descriptor.size,
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

    /// Resolves the stage's FROM for `platform`: a previous stage, `scratch`, or an image
    /// in the store.
    fn base_of(
        &mut self,
        stage: &Stage,
        platform: &Platform,
        events: &mut dyn FnMut(Event<'_>),
    ) -> Result<BuiltStage, BuildError> {
        let base = self.expand_global(&stage.base, stage.span)?;
        let source = &self.dockerfile.source;
        let built = if let Some(parent) = self.stage_named(&base, stage.index) {
            self.build_stage(parent, events)?
        } else if base.eq_ignore_ascii_case("scratch") {
            return Ok(BuiltStage::scratch(platform));
        } else if let Some(context) = self.named_context(&base, platform, source, stage.span) {
            context?
        } else {
            self.image_stage(&base, platform, source, stage.span)?
        };
        if built.local.is_some() {
            return Err(self
                .dockerfile
                .source
                .error(
                    stage.span,
                    format!("FROM {base}: the build context {base:?} is a local directory, which has no layers to build on; read it with COPY --from={base}"),
                )
                .into());
        }
        Ok(built)
    }

    /// An image of the store for `platform` as a stage, or a located error if it is not
    /// there. `source` is the text `span` points into (the Dockerfile or ONBUILD
    /// triggers). With `--pull`, an image that names a registry is pulled again first.
    pub(super) fn image_stage(
        &self,
        reference: &str,
        platform: &Platform,
        source: &Source,
        span: Span,
    ) -> Result<BuiltStage, BuildError> {
        let pull_again = self.opts.pull
            && !self.opts.pinned.contains_key(reference)
            && Reference::parse(reference).is_ok();
        // A family's "did you mean" for an image that cannot be found, else the
        // registry's hint (how to configure a mirror).
        let hinted = |err: DockerfileError, fallback: Option<String>| match self
            .opts
            .hints
            .get(reference)
            .cloned()
            .or(fallback)
        {
            Some(hint) => BuildError::from(err.with_hint(hint)),
            None => BuildError::from(err),
        };
        let located = |e: RegistryError| {
            let fallback = miette::Diagnostic::help(&e).map(|h| h.to_string());
            hinted(
                source.error_with(span, format!("pulling {reference}"), e),
                fallback,
            )
        };
        if pull_again {
            let key = (reference.to_owned(), platform.clone());
            let known = self.pulled.borrow().get(&key).cloned();
            let image = match known {
                Some(digest) => self.store.image_by_digest(&digest)?,
                None => {
                    let image = self.pull(reference, platform).map_err(&located)?;
                    self.pulled.borrow_mut().insert(key, image.digest.clone());
                    image
                }
            };
            return BuiltStage::from_image(self.store, image, reference);
        }
        let found = match self.opts.pinned.get(reference) {
            // A family parent: exactly the image its build just produced (of an index,
            // the one for this platform).
            Some(digest) => self
                .store
                .image_by_digest_for(digest, Some(platform))
                .map(Some)
                .map_err(Into::into),
            // A tag as written (a locally built `base:1`), else a registry image under the
            // name a pull files it under (`alpine` is `docker.io/library/alpine:latest`).
            None => registry::stored(self.store, reference, platform, &self.opts.registry),
        };
        match found.map_err(&located)? {
            Some(image) => BuiltStage::from_image(self.store, image, reference),
            None if Reference::parse(reference).is_ok() => {
                let image = self.pull(reference, platform).map_err(located)?;
                BuiltStage::from_image(self.store, image, reference)
            }
            None => Err(hinted(
                source.error(
                    span,
                    format!(
                        "image {reference:?} is neither a stage of this Dockerfile nor in the store"
                    ),
                ),
                None,
            )),
        }
    }

    /// Pulls `reference` (a registry name; short names as docker reads them) for
    /// `platform` into the store.
    fn pull(&self, reference: &str, platform: &Platform) -> Result<Image, RegistryError> {
        let parsed = Reference::parse(reference)?;
        let pulled =
            Client::new(self.opts.registry.clone())?.pull(self.store, &parsed, Some(platform))?;
        Ok(self
            .store
            .image_by_digest_for(&pulled.digest, Some(platform))?)
    }

    /// The stage or image `name` of a `--from` (COPY, RUN --mount), built or loaded.
    /// A stage must come before the current one: BuildKit dispatches stages in file
    /// order, so naming a later stage is an error (with BuildKit's wording), not an image
    /// to pull.
    pub(super) fn stage_or_image(
        &mut self,
        state: &State<'_>,
        name: &str,
        flag: FromFlag<'_>,
        span: Span,
        events: &mut dyn FnMut(Event<'_>),
    ) -> Result<BuiltStage, BuildError> {
        let current = state.stage.index;
        match self.stage_named(name, usize::MAX) {
            Some(index) if index == current => {
                let what = match flag {
                    FromFlag::Copy => "COPY --from",
                    FromFlag::Mount { .. } => "--mount from",
                };
                Err(state
                    .source
                    .error(span, format!("{what}={name} refers to its own stage"))
                    .into())
            }
            Some(index) if index > current => {
                let message = match flag {
                    FromFlag::Copy => {
                        let stage = state
                            .stage
                            .name
                            .clone()
                            .unwrap_or_else(|| format!("stage-{current}"));
                        format!("cannot copy from stage {name:?}, it needs to be defined before current stage {stage:?}")
                    }
                    FromFlag::Mount { target } => format!("cannot mount from stage {name:?} to {target:?}, stage needs to be defined before current command"),
                };
                Err(state.source.error(span, message).into())
            }
            Some(index) => self.build_stage(index, events),
            None => {
                let platform = state.built.platform.clone();
                match self.named_context(name, &platform, state.source, span) {
                    Some(context) => context,
                    None => self.image_stage(name, &platform, state.source, span),
                }
            }
        }
    }

    /// The index of an earlier stage called `name` (or numbered `name`), if any.
    fn stage_named(&self, name: &str, before: usize) -> Option<usize> {
        self.dockerfile
            .stage_by_name(name)
            .map(|s| s.index)
            .filter(|&i| i < before)
    }

    /// Lowers one instruction, runs its work through the cache, and records it in the
    /// stage's history (and its layer, if it made one).
    fn step(
        &mut self,
        state: &mut State<'_>,
        instruction: &Spanned<Instruction>,
        number: usize,
        events: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), BuildError> {
        let cx = Lowering {
            escape: self.dockerfile.escape,
            build_args: &self.opts.build_args,
            globals: &self.globals,
            network: self.opts.network,
            allow_insecure: self.opts.allow_insecure,
        };
        let step = lower(&cx, state, instruction, number)?;
        let span = instruction.span;
        let done = match step.work {
            None => Ok(None),
            Some(Work::Mkdir { dir, user }) => self.mkdir(state, &dir, &user, span, number, events),
            Some(Work::Copy(copy)) => self.copy(state, copy, span, number, events),
            Some(Work::Run(run)) => self.run(state, run, span, number, events),
        };
        // Whatever failed under the step (the sandbox, a layer, the store) is shown at the
        // step's line, with the failure as its cause; errors located already keep theirs.
        let layer = done.map_err(|e| match e {
            BuildError::Dockerfile(_) => e,
            cause => {
                // A RUN that the sandbox could not start may have failed on the user (a
                // USER the image has no passwd entry for): say which line set it.
                let user_hint = match (&cause, state.user_span) {
                    (BuildError::Sandbox(_), Some(user)) => Some(format!(
                        "the step runs as {}, set by the USER at line {}",
                        state
                            .built
                            .config
                            .config
                            .user
                            .as_deref()
                            .unwrap_or_default(),
                        user.line
                    )),
                    _ => None,
                };
                let located =
                    state
                        .source
                        .error_with(span, instruction_text(state.source, span), cause);
                BuildError::from(match user_hint {
                    Some(hint) => located.with_hint(hint),
                    None => located,
                })
            }
        })?;
        state.built.config.history.push(History {
            created: Some(self.opts.epoch.created_rfc3339()),
            created_by: Some(format!("{} # buildkit", step.created_by)),
            comment: Some("buildkit.dockerfile.v0".into()),
            empty_layer: layer.is_none(),
            ..History::default()
        });
        state.built.layers.extend(layer);
        Ok(())
    }

    /// WORKDIR's directory, created owned by the USER in effect.
    fn mkdir(
        &mut self,
        state: &mut State<'_>,
        dir: &str,
        user: &str,
        span: Span,
        number: usize,
        events: &mut dyn FnMut(Event<'_>),
    ) -> Result<Option<StageLayer>, BuildError> {
        let inputs = KeyInputs {
            kind: "WORKDIR",
            text: format!("WORKDIR {dir}"),
            content: Vec::new(),
            files: BTreeMap::new(),
            rebasable: Some(ParentReads {
                users: Some(user.to_owned())
                    .filter(|u| !u.is_empty())
                    .into_iter()
                    .collect(),
                path: dir.to_owned(),
            }),
        };
        let probe = self.exec.probe(state, number, inputs, events)?;
        self.exec.execute(state, probe, |exec, state| {
            exec.mutate_rootfs(state, |root| {
                let (uid, gid) = if user.is_empty() {
                    (0, 0)
                } else {
                    let u = sandbox::resolve_user(root, user)
                        .map_err(|e| state.source.error(span, e))?;
                    (u.uid, u.gid)
                };
                root.mkdir_all(
                    Path::new(dir),
                    DirSpec {
                        mode: 0o755,
                        uid,
                        gid,
                    },
                )
                .map_err(io_err(Path::new(dir)))?;
                Ok(())
            })
        })
    }

    /// The key and result of every layer step this build went through.
    pub(super) fn used_entries(&self) -> Vec<(CacheKey, crate::cache::CachedStep)> {
        self.exec.used_entries()
    }

    /// Publishes this build's layers and cache entries (see [`Executor::publish`]).
    pub(super) fn publish(&mut self) -> Result<(), BuildError> {
        self.exec.publish()
    }
}
