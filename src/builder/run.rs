//! The work of RUN: what its mounts read goes into the key, then the command runs in the
//! sandbox over the stage's layers and its upper dir becomes the step's layer.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::cache::KeyBuilder;
use crate::dockerfile::ignore::Ignore;
use crate::dockerfile::mount::{MountRequest, MountType};
use crate::dockerfile::Span;
use crate::sandbox::{self, RunSpec, SandboxOptions};
use crate::snapshot::StepDirs;

use super::exec::KeyInputs;
use super::lower::RunStep;
use super::mounts::{MountGuards, MountSource, Resolver, SecretDir};
use super::stage::{StageLayer, State};
use super::stages::{FromFlag, StageBuilder};
use super::{copy_error, BuildError, Event};

/// The overlay lower dirs (top-most first) a `--mount` reads, or `None` for the context.
type MountLower = Option<Vec<PathBuf>>;

impl StageBuilder<'_> {
    /// Runs a RUN step in the sandbox (unless cached) and turns its changes into a layer.
    pub(super) fn run(
        &mut self,
        state: &mut State<'_>,
        step: RunStep,
        span: Span,
        number: usize,
        events: &mut dyn FnMut(Event<'_>),
    ) -> Result<Option<StageLayer>, BuildError> {
        let (sources, mount_inputs) = self.mount_sources(state, &step.mounts, events)?;
        let mut content = mount_inputs
            .field("args", &serde_json::to_vec(&step.args).unwrap_or_default())
            .field("stdin", step.stdin.as_deref().unwrap_or_default());
        // As BuildKit's exec op, a RUN's key covers its extra hosts, /dev/shm size and
        // ulimits; without any, the key is what it was before these flags existed.
        if self.opts.sandbox != SandboxOptions::default() {
            let settings = serde_json::to_vec(&self.opts.sandbox).unwrap_or_default();
            content = content.field("sandbox", &settings);
        }
        let content = content.finish();
        let inputs = KeyInputs {
            kind: "RUN",
            text: step.text.clone(),
            content: content.0.as_str().as_bytes().to_vec(),
            files: BTreeMap::new(),
            rebasable: None,
        };
        let probe = self.exec.probe(state, number, inputs, events)?;
        let (store, opts, context) = (self.store, self.opts, self.context);
        // A step that may not come from the cache starts its cache mounts fresh too.
        let fresh = !self.exec.uses_cache(state.stage);
        let secret_dir = &mut self.secret_dir;
        let started_fresh = &mut self.started_fresh;
        self.exec.execute(state, probe, |exec, state| {
            // A foreign platform's programs run under emulation, or the step cannot run.
            crate::platform::emulation::ensure(&state.built.platform)?;
            let RunStep {
                args,
                stdin,
                mut env,
                network,
                mounts,
                security,
                ..
            } = step;
            let mut guards = MountGuards::default();
            let mut sandbox_mounts = Vec::new();
            if secret_dir.is_none() && !mounts.is_empty() {
                *secret_dir = Some(SecretDir::new(store).map_err(BuildError::Usage)?);
            }
            if let Some(secret_dir) = secret_dir.as_mut() {
                for ((request, flag_span), lower) in mounts.iter().zip(sources) {
                    let mut resolver = Resolver {
                        store,
                        secrets: &opts.secrets,
                        ssh: &opts.ssh,
                        secret_dir,
                        fresh: fresh.then_some(&mut *started_fresh),
                    };
                    // Only a bind mount shows the context, so only it needs the walk for
                    // what .dockerignore hides.
                    let hidden = match (&lower, request.kind) {
                        (None, MountType::Bind) => context.excluded().map_err(|e| {
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
                        None => MountSource::Context(context.dir(), hidden),
                    };
                    let resolved = resolver
                        .resolve(request, source, &mut guards)
                        .map_err(|e| BuildError::from(state.source.error(*flag_span, e)))?;
                    sandbox_mounts.extend(resolved.mounts);
                    env.extend(resolved.env);
                }
            }
            let dirs = StepDirs::new(store)?;
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
                tty: None,
                options: opts.sandbox.clone(),
                security,
            };
            let label = state.label.clone();
            let mut on_line = |line: &[u8]| {
                events(Event::Output {
                    stage: &label,
                    number,
                    line,
                });
            };
            let code = sandbox::run(&spec, sandbox::Output::Lines(&mut on_line))?;
            if code != 0 {
                return Err(state
                    .source
                    .error(
                        span,
                        format!("RUN failed: the command exited with code {code}"),
                    )
                    .into());
            }
            exec.finish_layer(dirs)
        })
    }

    /// What each `--mount` of a RUN reads from: the layers of a `from=` stage or image
    /// (built or loaded first), or the context for a bind mount (`None`); and the part of
    /// the key they make. What a bind mount shows is part of the key, what a cache mount
    /// holds is not.
    fn mount_sources(
        &mut self,
        state: &State<'_>,
        mounts: &[(MountRequest, Span)],
        events: &mut dyn FnMut(Event<'_>),
    ) -> Result<(Vec<MountLower>, KeyBuilder), BuildError> {
        let mut sources = Vec::new();
        let mut mount_inputs = KeyBuilder::new("mounts");
        for (request, flag_span) in mounts {
            let lower = match &request.from {
                Some(from) => {
                    let flag = FromFlag::Mount {
                        target: &request.target,
                    };
                    let built = self.stage_or_image(state, from, flag, *flag_span, events)?;
                    mount_inputs = mount_inputs.field("from", built.key.0.as_str().as_bytes());
                    Some(built.lower_dirs())
                }
                None if request.kind == MountType::Bind => {
                    let source = request.source.clone().unwrap_or_else(|| ".".into());
                    let located = |e| copy_error(state.source, *flag_span, e);
                    let no_skip = Ignore::default();
                    let set = self
                        .context
                        .select(&[source], &no_skip, false)
                        .map_err(located)?;
                    let (digest, _) = self.exec.digest(&set).map_err(located)?;
                    mount_inputs = mount_inputs.field("context", digest.as_str().as_bytes());
                    None
                }
                None => None,
            };
            sources.push(lower);
        }
        Ok((sources, mount_inputs))
    }
}
