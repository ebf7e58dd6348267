//! `strata run`: a stored image -> one command in the sandbox, as `docker run --rm` would
//! run it (Entrypoint, Cmd, Env, User and WorkingDir honoured, changes discarded; `-i`
//! for stdin, `-t` for a terminal, as docker's flags).

use crate::image::{Store, StoreError};
use crate::sandbox::{self, Network, RawMode, RunSpec, SandboxError, Security, TtySize};
use crate::snapshot::{lower_stack, SnapshotError, StepDirs};

/// Why `strata run` could not run the command (the command's own exit code is a result).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RunError {
    /// The image, or one of its layers' snapshots, is not in the store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The container's dirs could not be made or its overlay mounted.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// The sandbox could not be set up, or the command not started.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The image is for a platform this host cannot run.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Platform(#[from] crate::platform::PlatformError),
    /// Neither the image nor the command line says what to run.
    #[error("image {image} has no ENTRYPOINT or CMD")]
    #[diagnostic(help("give a command after --"))]
    NoCommand {
        /// The image as named on the command line.
        image: String,
    },
}

/// What `strata run` overrides of the image's config.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Replaces the image's Cmd when not empty.
    pub command: Vec<String>,
    /// Replaces the image's Entrypoint (an empty string clears it).
    pub entrypoint: Option<String>,
    /// Extra `K=V` environment, overriding the image's.
    pub env: Vec<String>,
    /// Replaces the image's User.
    pub user: Option<String>,
    /// Replaces the image's WorkingDir.
    pub workdir: Option<String>,
    /// Network namespace choice.
    pub network: Network,
    /// `-i`: the command reads the caller's stdin (else /dev/null), as in docker.
    pub interactive: bool,
    /// `-t`: the command gets a terminal of its own, sized like the caller's.
    pub tty: bool,
    /// `--platform`: which image of a multi-platform one (default: this host's).
    pub platform: Option<crate::platform::Platform>,
    /// `--privileged`: none of docker's default confinement ([`Security::Insecure`]).
    pub privileged: bool,
}

/// Runs the image `name` and returns the command's exit code.
pub fn run(store: &Store, name: &str, opts: &RunOptions) -> Result<i32, RunError> {
    let image = store.image_for(name, opts.platform.as_ref())?;
    crate::platform::emulation::ensure(&image.config.platform())?;
    let config = &image.config.config;
    let snapshots = store.snapshots(&image)?;
    let lower = lower_stack(snapshots.into_iter());

    let entrypoint = match &opts.entrypoint {
        Some(e) if e.is_empty() => Vec::new(),
        Some(e) => vec![e.clone()],
        None => config.entrypoint.clone().unwrap_or_default(),
    };
    let cmd = if opts.command.is_empty() {
        config.cmd.clone().unwrap_or_default()
    } else {
        opts.command.clone()
    };
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.is_empty() {
        return Err(RunError::NoCommand {
            image: name.to_owned(),
        });
    }
    let mut env = config.env.clone().unwrap_or_default();
    for kv in &opts.env {
        let key = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
        env.retain(|e| e.split_once('=').map(|(k, _)| k) != Some(key));
        env.push(kv.clone());
    }

    let dirs = StepDirs::new(store)?;
    let spec = RunSpec {
        lower,
        upper: dirs.upper.clone(),
        work: dirs.work.clone(),
        args,
        env,
        cwd: opts
            .workdir
            .clone()
            .or_else(|| config.working_dir.clone())
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into()),
        user: opts
            .user
            .clone()
            .or_else(|| config.user.clone())
            .unwrap_or_default(),
        network: opts.network,
        hostname: image.digest.short().to_owned(),
        stdin: None,
        mounts: Vec::new(),
        tty: opts.tty.then(TtySize::of_user_terminal),
        options: sandbox::SandboxOptions::default(),
        security: if opts.privileged {
            Security::Insecure
        } else {
            Security::Sandbox
        },
    };
    // Keystrokes go to the command's terminal as they are typed; its line discipline
    // echoes them and turns ^C into SIGINT.
    let _raw = (opts.tty && opts.interactive).then(RawMode::enter);
    Ok(sandbox::run(
        &spec,
        sandbox::Output::Inherit {
            stdin: opts.interactive,
        },
    )?)
}
