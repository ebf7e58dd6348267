//! Command line: clap types, one function per subcommand, and the one place that prints.
//!
//! Exit codes: 0 ok, 2 error (a command run by `strata run` passes its own code through).
//! Every subcommand fails with a [`CliError`], printed once by [`error::report`]: the
//! message, the source excerpt of a located error, its cause chain and hints.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::builder::{self, mounts};
use crate::cache::StepCache;
use crate::container::{self, RunOptions};
use crate::family::{self, Family, Plan};
use crate::image::archive::{self, ArchiveFormat};
use crate::image::Store;
use crate::sandbox::{self, Network};

mod build;
mod buildx;
mod checks;
mod error;
mod freshness;
mod generate;
mod progress;
mod rawjson;
mod registry;
mod store;

use error::report;
pub use error::CliError;
use progress::human_size;

/// strata: build, check and ship families of layered OCI images, without a daemon.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about)]
pub struct Cli {
    /// The local image store, an OCI image layout [default: $XDG_DATA_HOME/strata/store].
    #[arg(long, global = true, env = "STRATA_STORE", value_name = "DIR")]
    store: Option<PathBuf>,
    #[command(flatten)]
    registry: registry::RegistryFlags,
    #[command(subcommand)]
    command: Commands,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Build a Dockerfile into an image in the store.
    Build(Box<build::BuildArgs>),
    /// List the tagged images of the store.
    Images,
    /// Remove tags (the images' blobs go at the next `prune` if nothing else needs them).
    Rmi(store::RmiArgs),
    /// Show an image's history: one line per instruction, newest first, with layer sizes.
    History(store::HistoryArgs),
    /// Show what the store holds (images, snapshots, step cache, cache mounts) and its size.
    Df,
    /// Print strata's version and the platform it builds for by default.
    Version,
    /// Print the completion script for a shell (bash, zsh, fish, elvish, powershell).
    Completions(generate::CompletionsArgs),
    /// Write strata's man pages into a folder.
    Man(generate::ManArgs),
    /// Pull an image from a registry into the store.
    Pull(registry::PullArgs),
    /// Push an image of the store to a registry.
    Push(registry::PushArgs),
    /// Save credentials for a registry (checked against it first).
    Login(registry::LoginArgs),
    /// Remove saved credentials of a registry.
    Logout(registry::LogoutArgs),
    /// Check Dockerfiles and families against the practices of well-structured images.
    Lint(checks::LintArgs),
    /// Report what built images contain: layers, wasted bytes, caches, security, packages.
    Audit(checks::AuditArgs),
    /// Draw a family's tree with tiers and stale images.
    Graph(GraphArgs),
    /// Print a family's build waves (for CI matrices).
    Plan(PlanArgs),
    /// Say which external bases of a family moved upstream since they were pinned in its
    /// strata.lock, and which images are built on them (exit 1 when any did).
    Outdated(freshness::OutdatedArgs),
    /// Move the strata.lock pins of a family's external bases (all, or REF...) to what
    /// their tags name now; the next build rolls the change out.
    Update(freshness::UpdateArgs),
    /// Move a built image onto a new parent without running its steps, where that is
    /// provably what a rebuild would give (COPY and metadata steps only).
    Rebase(freshness::RebaseArgs),
    /// Run a command in an image (the same sandbox as RUN).
    Run(RunArgs),
    /// Write an image as a docker-archive or oci-archive file.
    Export(ExportArgs),
    /// Load images from a docker-archive or oci-archive (a file, standard input, or an
    /// OCI layout directory), as `docker load` does.
    Load(store::LoadArgs),
    /// Print an image's config (or manifest) as JSON.
    Inspect(InspectArgs),
    /// Remove what no tag needs (unreferenced blobs, snapshots, temp files); print what was freed.
    Prune {
        /// Also empty the `RUN --mount=type=cache` directories.
        #[arg(long)]
        cache_mounts: bool,
        /// Also drop the step cache, so only what tags need is kept.
        #[arg(long)]
        all: bool,
    },
    /// Check the store: blobs against their digests, tags, snapshots against their
    /// layers, the step cache, temp leftovers (exit 1 when something is broken).
    Fsck {
        /// Remove what is broken (corrupt blobs, incomplete snapshots, broken tags and
        /// cache entries, leftovers) and say what was removed.
        #[arg(long)]
        repair: bool,
    },
    /// Give an image another tag.
    Tag {
        /// Existing `NAME[:TAG]`.
        source: String,
        /// New `NAME[:TAG]`.
        target: String,
    },
}

#[derive(Debug, clap::Args)]
struct GraphArgs {
    /// The family folder.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Tree)]
    format: GraphFormat,
}

#[derive(Debug, clap::Args)]
struct PlanArgs {
    /// The family folder.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Output format (JSON only).
    #[arg(long, value_enum, default_value_t = PlanFormat::Json)]
    format: PlanFormat,
    /// Plan only the images affected by files changed since this git ref.
    #[arg(long, value_name = "GITREF")]
    changed_since: Option<String>,
    /// Plan only these images and what they need (repeatable, or comma separated).
    #[arg(long, value_name = "IMAGE", value_delimiter = ',')]
    only: Vec<String>,
    /// With --only, also every image below them.
    #[arg(long)]
    with_descendants: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum GraphFormat {
    Tree,
    Dot,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PlanFormat {
    Json,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Network of the container.
    #[arg(long, value_enum, default_value_t = NetworkArg::Host)]
    network: NetworkArg,
    /// Set an environment variable (repeatable).
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// Run as this user instead of the image's USER.
    #[arg(short = 'u', long = "user")]
    user: Option<String>,
    /// Working directory instead of the image's WORKDIR.
    #[arg(short = 'w', long = "workdir")]
    workdir: Option<String>,
    /// Replace the image's ENTRYPOINT.
    #[arg(long)]
    entrypoint: Option<String>,
    /// Of a multi-platform image, run this platform's (default: this host's); a foreign
    /// one runs under QEMU user emulation.
    #[arg(long)]
    platform: Option<String>,
    /// Keep standard input open for the command (without it, the command reads /dev/null).
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Give the command a terminal of its own (with -i, the keys typed go to it).
    #[arg(short = 't', long)]
    tty: bool,
    /// Accepted as docker's: strata run always discards the container and its changes.
    #[arg(long)]
    rm: bool,
    /// Run without docker's default confinement: every capability, no seccomp filter,
    /// /proc and /sys unmasked and writable (as `docker run --privileged`).
    #[arg(long)]
    privileged: bool,
    /// The image, `NAME[:TAG]`.
    image: String,
    /// The command, replacing the image's CMD.
    #[arg(last = true)]
    command: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct ExportArgs {
    /// The image, `NAME[:TAG]`.
    image: String,
    /// Of a multi-platform image, export this platform's image only (a docker-archive
    /// holds one; default: this host's). An oci-archive keeps the whole index without it.
    #[arg(long)]
    platform: Option<String>,
    /// Archive format.
    #[arg(long, value_enum, default_value_t = FormatArg::DockerArchive)]
    format: FormatArg,
    /// Output file.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: PathBuf,
}

#[derive(Debug, clap::Args)]
struct InspectArgs {
    /// The image, `NAME[:TAG]`.
    image: String,
    /// Of a multi-platform image, this platform's (default: this host's).
    #[arg(long)]
    platform: Option<String>,
    /// Print the image index of a multi-platform image.
    #[arg(long, conflicts_with_all = ["manifest", "platform"])]
    index: bool,
    /// Print the manifest instead of the config.
    #[arg(long)]
    manifest: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum NetworkArg {
    Host,
    None,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    DockerArchive,
    OciArchive,
}

impl From<NetworkArg> for Network {
    fn from(n: NetworkArg) -> Network {
        match n {
            NetworkArg::Host => Network::Host,
            NetworkArg::None => Network::None,
        }
    }
}

/// Every command returns its exit code or a [`CliError`], which keeps each module's
/// typed error (and with it Dockerfile locations and causes) for [`report`].
type CliResult = Result<i32, CliError>;

/// Runs the CLI and returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(error) => {
            report(&error);
            2
        }
    }
}

/// For commands that only print (to a pager, `head`, ...): a closed standard output ends
/// the process quietly, as it ends `cat`, instead of a panic in `println!`. Only for
/// these: builds, runs and pushes write to child pipes and sockets, where a closed peer
/// must be an error to handle, never a silent death.
fn quiet_on_broken_pipe() {
    // SAFETY: restoring the default disposition of one signal, before any thread exists.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        );
    }
}

fn dispatch(cli: Cli) -> CliResult {
    // No store needed (nor created) for these.
    match &cli.command {
        Commands::Completions(args) => return generate::completions(args),
        Commands::Man(args) => return generate::man(args),
        _ => {}
    }
    if let Commands::Version = cli.command {
        // No store needed (nor created) to say what this is.
        quiet_on_broken_pipe();
        println!(
            "strata {}\nplatform: {}",
            env!("CARGO_PKG_VERSION"),
            crate::platform::Platform::host()
        );
        return Ok(0);
    }
    let store_root = cli.store.clone().unwrap_or_else(Store::default_root);
    let needs_mounts = matches!(
        cli.command,
        Commands::Build(_) | Commands::Run(_) | Commands::Rebase(_)
    );
    if needs_mounts {
        // Before any thread exists: every mount we make dies with this process.
        sandbox::enter_private_mount_namespace()?;
    }
    let store = Store::open(&store_root)?;
    // Builds and runs keep `prune` from removing what they use.
    let _in_use = if needs_mounts {
        Some(store.in_use()?)
    } else {
        None
    };
    if matches!(
        cli.command,
        Commands::Images
            | Commands::History(_)
            | Commands::Df
            | Commands::Graph(_)
            | Commands::Plan(_)
            | Commands::Inspect(_)
            | Commands::Lint(_)
    ) {
        quiet_on_broken_pipe();
    }
    match cli.command {
        Commands::Build(args) => build::cmd_build(&store, &cli.registry, *args),
        Commands::Images => store::images(&store),
        Commands::Rmi(args) => store::rmi(&store, args),
        Commands::History(args) => store::history(&store, args),
        Commands::Df => store::df(&store),
        Commands::Load(args) => store::load(&store, args),
        Commands::Version | Commands::Completions(_) | Commands::Man(_) => {
            unreachable!("answered before the store is opened")
        }
        Commands::Lint(args) => checks::lint(args),
        Commands::Audit(args) => checks::audit(&store, args),
        Commands::Pull(args) => registry::pull(&store, &cli.registry, args),
        Commands::Push(args) => registry::push(&store, &cli.registry, args),
        Commands::Login(args) => registry::login(&cli.registry, args),
        Commands::Logout(args) => registry::logout(&cli.registry, args),
        Commands::Graph(args) => {
            let family = Family::load(&args.dir)?;
            let stale = builder::family::staleness(&store, &family);
            let text = match args.format {
                GraphFormat::Tree => family::render::tree(&family, &stale),
                GraphFormat::Dot => family::render::dot(&family, &stale),
                GraphFormat::Json => family::render::json(&family, &stale),
            };
            print!("{}", text.trim_end());
            println!();
            Ok(0)
        }
        Commands::Outdated(args) => freshness::outdated(&store, &cli.registry, args),
        Commands::Update(args) => freshness::update(&store, &cli.registry, args),
        Commands::Rebase(args) => freshness::rebase(&store, &cli.registry, args),
        Commands::Plan(args) => {
            let PlanFormat::Json = args.format;
            let family = Family::load(&args.dir)?;
            let (plan, changed) = match &args.changed_since {
                Some(gitref) => {
                    let changed = family::changed_since(&family, gitref)?;
                    (Plan::of(&family, &changed), changed)
                }
                None => (
                    Plan::new(&family, &args.only, args.with_descendants)?,
                    Default::default(),
                ),
            };
            println!(
                "{}",
                family::render::plan_json(&family, &plan, &changed).trim_end()
            );
            Ok(0)
        }
        Commands::Run(args) => cmd_run(&store, args),
        Commands::Export(args) => {
            let platform = parse_platform(args.platform.as_deref())?;
            let format = match args.format {
                FormatArg::DockerArchive => ArchiveFormat::Docker,
                FormatArg::OciArchive => ArchiveFormat::Oci,
            };
            let named = store.named(&args.image)?;
            let whole_index = format == ArchiveFormat::Oci
                && platform.is_none()
                && store.index_of(&named.digest)?.is_some();
            if whole_index {
                archive::export_index(&store, &named, Some(&args.image), &args.output)?;
            } else {
                let image = store.image_for(&args.image, platform.as_ref())?;
                archive::export(&store, &image, Some(&args.image), format, &args.output)?;
            }
            Ok(0)
        }
        Commands::Inspect(args) => {
            if args.index {
                let named = store.named(&args.image)?;
                let Some(index) = store.index_of(&named.digest)? else {
                    return Err(CliError::Usage(format!(
                        "{} is a single-platform image, which has no index: inspect --manifest shows its manifest",
                        args.image
                    )));
                };
                let json = serde_json::to_string_pretty(&index).map_err(CliError::Json)?;
                println!("{json}");
                return Ok(0);
            }
            let platform = parse_platform(args.platform.as_deref())?;
            let image = store.image_for(&args.image, platform.as_ref())?;
            let json = if args.manifest {
                serde_json::to_string_pretty(&image.manifest)
            } else {
                serde_json::to_string_pretty(&image.config)
            };
            println!("{}", json.map_err(CliError::Json)?);
            Ok(0)
        }
        Commands::Prune { cache_mounts, all } => {
            let cache = open_step_cache(&store)?;
            if all {
                cache.clear().map_err(CliError::io(format!(
                    "clearing the step cache in {}",
                    store.root().display()
                )))?;
            }
            let report = store.prune(&cache.layers())?;
            let caches = if cache_mounts {
                mounts::prune_caches(&store).map_err(CliError::io("emptying the cache mounts"))?
            } else {
                0
            };
            println!(
                "removed {} blobs and {} snapshots; freed {}{}",
                report.blobs,
                report.snapshots,
                human_size(report.bytes),
                if cache_mounts {
                    format!(" (+{} of cache mounts)", human_size(caches))
                } else {
                    String::new()
                }
            );
            Ok(0)
        }
        Commands::Fsck { repair } => {
            let cache = open_step_cache(&store)?;
            let report = crate::fsck::check(&store, &cache)?;
            for problem in &report.problems {
                println!("{}", problem.what);
            }
            let checked = format!(
                "{} blobs, {} tags, {} snapshots, {} cache entries",
                report.blobs, report.tags, report.snapshots, report.cache_entries
            );
            if report.problems.is_empty() {
                println!("store is sound: {checked} checked");
                return Ok(0);
            }
            if !repair {
                println!(
                    "{} problems in {checked} (strata fsck --repair removes what is broken)",
                    report.problems.len()
                );
                return Ok(1);
            }
            let mended = crate::fsck::repair(&store, &report)?;
            println!("repaired {mended} problems in {checked}");
            Ok(0)
        }
        Commands::Tag { source, target } => {
            let image = store.image(&source)?;
            // An image loaded without a tag is named by its digest and has no entry yet.
            let descriptor = match store
                .tags()?
                .into_iter()
                .find(|t| t.descriptor.digest == image.digest)
            {
                Some(tag) => tag.descriptor,
                None => store.manifest_descriptor(&image)?,
            };
            store.tag(&target, &descriptor)?;
            Ok(0)
        }
    }
}

/// The store's step cache, for `--cache-from` and `prune`.
fn open_step_cache(store: &Store) -> Result<StepCache, CliError> {
    StepCache::open(store).map_err(CliError::io(format!(
        "opening the step cache in {}",
        store.root().display()
    )))
}

/// A `--platform` value, parsed.
fn parse_platform(text: Option<&str>) -> Result<Option<crate::platform::Platform>, CliError> {
    text.map(|t| {
        crate::platform::Platform::parse(t).map_err(|e| CliError::Usage(format!("--platform: {e}")))
    })
    .transpose()
}

fn cmd_run(store: &Store, args: RunArgs) -> CliResult {
    if args.interactive && args.tty && !std::io::stdin().is_terminal() {
        // docker's refusal: raw keystrokes need a terminal to come from.
        return Err(CliError::Usage(
            "the input device is not a TTY: drop -t, or run from a terminal".into(),
        ));
    }
    let opts = RunOptions {
        interactive: args.interactive,
        tty: args.tty,
        command: args.command,
        entrypoint: args.entrypoint,
        env: args.env,
        user: args.user,
        workdir: args.workdir,
        network: args.network.into(),
        platform: parse_platform(args.platform.as_deref())?,
        privileged: args.privileged,
    };
    Ok(container::run(store, &args.image, &opts)?)
}
