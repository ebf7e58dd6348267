//! `strata build`: its flags and the command that runs a build, of one Dockerfile or of a
//! family.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::ValueEnum;

use crate::builder::family::{build_family, FamilyOptions};
use crate::builder::{self, mounts, BuildOptions};
use crate::family::{self, Family, Plan};
use crate::image::Store;
use crate::layer::Compression;

use super::progress::{self, Progress, Style};
use super::{open_step_cache, registry, CliError, CliResult, NetworkArg};

/// The flags of `strata build`.
#[derive(Debug, clap::Args)]
pub(super) struct BuildArgs {
    /// The Dockerfile, `-` for standard input [default: CONTEXT/Dockerfile, else
    /// CONTEXT/Containerfile].
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Tag the image `NAME[:TAG]` (repeatable).
    #[arg(short = 't', long = "tag", value_name = "NAME:TAG")]
    tags: Vec<String>,
    /// Add a label to the image's config (repeatable).
    #[arg(long = "label", value_name = "K=V")]
    labels: Vec<String>,
    /// Write the image's manifest digest to FILE.
    #[arg(long, value_name = "FILE")]
    iidfile: Option<PathBuf>,
    /// Also write the image's filesystem out: `DIR`, `type=local,dest=DIR`,
    /// `type=tar,dest=FILE`, or `-` (a tar on standard output).
    #[arg(short = 'o', long, value_name = "SPEC")]
    output: Option<String>,
    /// Set a build argument (repeatable); `K` alone takes the value of the environment variable.
    #[arg(long = "build-arg", value_name = "K=V")]
    build_args: Vec<String>,
    /// Build up to this stage.
    #[arg(long, value_name = "STAGE")]
    target: Option<String>,
    /// Network of RUN steps.
    #[arg(long, value_enum, default_value_t = NetworkArg::Host)]
    network: NetworkArg,
    /// Compression of new layers. zstd layers need docker 23 or later (or containerd
    /// 1.5+): docker 20.10 cannot pull or load them ("invalid tar header").
    #[arg(long, value_enum, default_value_t = CompressionArg::Gzip)]
    compression: CompressionArg,
    /// Expose a secret to `RUN --mount=type=secret`: `id=ID,src=FILE` or `id=ID,env=VAR`.
    #[arg(long = "secret", value_name = "id=ID,src=FILE")]
    secrets: Vec<String>,
    /// Forward an SSH agent to `RUN --mount=type=ssh`: `default` ($SSH_AUTH_SOCK) or `ID=SOCKET`.
    #[arg(long = "ssh", value_name = "default|ID=SOCKET")]
    ssh: Vec<String>,
    /// Run every step, ignoring the cache.
    #[arg(long)]
    no_cache: bool,
    /// Run every step of these stages, ignoring the cache (repeatable).
    #[arg(long = "no-cache-filter", value_name = "STAGE")]
    no_cache_filter: Vec<String>,
    /// Never rebase: rebuild every step whose parent changed, even a COPY proven not to
    /// depend on it.
    #[arg(long)]
    no_rebase: bool,
    /// Say for every step why it was or was not taken from the cache.
    #[arg(long)]
    explain: bool,
    /// How to show progress: a live view on a terminal, or one line per event.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    progress: ProgressArg,
    /// Print only the image digest.
    #[arg(short, long)]
    quiet: bool,
    /// Push the result: every `-t` tag (which must name a registry), or for a family
    /// every image to `<family registry>/<image>:<tag>`.
    #[arg(long)]
    push: bool,
    /// Export the step cache of this build to a registry, as an OCI artifact at REF.
    #[arg(long, value_name = "REF")]
    cache_to: Option<String>,
    /// Import a step cache exported with --cache-to before building (repeatable).
    #[arg(long, value_name = "REF")]
    cache_from: Vec<String>,
    /// The platform of images pulled for FROM (`os/arch[/variant]`; default: this host).
    #[arg(long)]
    platform: Option<String>,
    /// Family: build only these images and what they need (repeatable, or comma separated).
    #[arg(long, value_name = "IMAGE", value_delimiter = ',')]
    only: Vec<String>,
    /// Family: with --only, also build every image below them.
    #[arg(long)]
    with_descendants: bool,
    /// Family: images built at once [default: the number of cores].
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// A build context with a Dockerfile, or a family folder with a strata.toml.
    #[arg(value_name = "DIR", default_value = ".")]
    context: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProgressArg {
    /// Live on a terminal (unless CI is set), plain otherwise.
    Auto,
    /// One line per event.
    Plain,
    /// The live view.
    Tty,
}

impl ProgressArg {
    fn style(self, quiet: bool) -> Style {
        let live = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        match self {
            _ if quiet => Style::Quiet,
            ProgressArg::Plain => Style::Plain,
            ProgressArg::Tty => Style::Live,
            ProgressArg::Auto if live => Style::Live,
            ProgressArg::Auto => Style::Plain,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CompressionArg {
    Gzip,
    Zstd,
}

/// `strata build`: one Dockerfile, or a family when the context holds a strata.toml.
pub(super) fn cmd_build(
    store: &Store,
    registry_flags: &registry::RegistryFlags,
    args: BuildArgs,
) -> CliResult {
    let mut build_args = BTreeMap::new();
    for pair in &args.build_args {
        match pair.split_once('=') {
            Some((k, v)) => build_args.insert(k.to_owned(), v.to_owned()),
            // `--build-arg K` takes K from the environment, as docker does; unset means no value.
            None => match std::env::var(pair) {
                Ok(v) => build_args.insert(pair.clone(), v),
                Err(_) => continue,
            },
        };
    }
    let mut labels = BTreeMap::new();
    for pair in &args.labels {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k.is_empty() {
            return Err(CliError::Usage(format!(
                "--label {pair:?}: expected KEY=VALUE"
            )));
        }
        labels.insert(k.to_owned(), v.to_owned());
    }
    let mut secrets = BTreeMap::new();
    for flag in &args.secrets {
        let (id, source) = mounts::parse_secret_flag(flag).map_err(CliError::Usage)?;
        secrets.insert(id, source);
    }
    let mut ssh = BTreeMap::new();
    for flag in &args.ssh {
        let (id, socket) = mounts::parse_ssh_flag(flag).map_err(CliError::Usage)?;
        ssh.insert(id, socket);
    }
    let opts = BuildOptions {
        no_cache: args.no_cache,
        no_cache_filter: args.no_cache_filter,
        no_rebase: args.no_rebase,
        secrets,
        ssh,
        context: args.context.clone(),
        dockerfile: args.file.clone(),
        tags: args.tags,
        labels,
        build_args,
        target: args.target,
        network: args.network.into(),
        compression: match args.compression {
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::Zstd => Compression::Zstd,
        },
        pinned: BTreeMap::new(),
        hints: BTreeMap::new(),
        registry: registry_flags.options(),
        platform: args.platform.clone(),
        // A family's images share one epoch: the commit of the folder holding strata.toml.
        epoch: crate::epoch::Epoch::for_build(&args.context)?,
    };
    if !args.cache_from.is_empty() {
        let client = registry::client(registry_flags)?;
        let cache = open_step_cache(store)?;
        for source in &args.cache_from {
            let added = crate::registry::cache::import(&client, store, &cache, source)?;
            if !args.quiet {
                eprintln!("imported {added} cache entries from {source}");
            }
        }
    }
    let mut progress = Progress::new(args.progress.style(args.quiet), args.explain);
    if args.file.is_none() && args.context.join(family::MANIFEST).is_file() {
        if args.iidfile.is_some() || args.output.is_some() {
            return Err(CliError::Usage(
                "--iidfile and --output take one image: build that image's folder instead".into(),
            ));
        }
        let family = Family::load(&args.context)?;
        let plan = Plan::new(&family, &args.only, args.with_descendants)?;
        let jobs = args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let bases = pin_bases(store, &family, &plan, &opts, args.quiet)?;
        let shared = std::sync::Mutex::new(progress);
        let result = build_family(
            store,
            &family,
            &plan,
            &FamilyOptions {
                jobs,
                bases,
                common: opts,
            },
            &|image, event| {
                if let Ok(mut p) = shared.lock() {
                    p.event(image, &event);
                }
            },
        );
        let progress = shared.into_inner().unwrap_or_else(|p| p.into_inner());
        let rollout = progress.finish(result.is_ok());
        let built = result?;
        for (name, result) in &built {
            println!("{name} {}", result.descriptor.digest);
        }
        let entries: Vec<_> = built
            .values()
            .flat_map(|r| r.cache_entries.iter().cloned())
            .collect();
        export_cache(store, registry_flags, args.cache_to.as_deref(), &entries)?;
        if args.push {
            let registry_host = family.registry.clone().ok_or_else(|| {
                CliError::Usage(format!(
                    "--push needs `registry` in the [family] table of {}",
                    family.manifest.path.display()
                ))
            })?;
            let mut pushes = Vec::new();
            for name in built.keys() {
                for tag in family.tags(&family.images[name]) {
                    pushes.push((
                        tag.clone(),
                        format!("{}/{tag}", registry_host.trim_end_matches('/')),
                    ));
                }
            }
            let pushed = registry::push_all(store, registry_flags, &pushes, jobs)?;
            if !args.quiet {
                eprint!(
                    "{}",
                    progress::rollout_summary(&family.name, &rollout, &pushed)
                );
            }
        }
        return Ok(0);
    }
    if !args.only.is_empty() || args.with_descendants {
        return Err(CliError::Usage(format!(
            "--only and --with-descendants need a family: no {} in {}",
            family::MANIFEST,
            args.context.display()
        )));
    }
    let output = args
        .output
        .as_deref()
        .map(builder::output::Output::parse)
        .transpose()
        .map_err(CliError::Usage)?;
    let result = builder::build(store, &opts, &mut |event| progress.event("", &event));
    progress.finish(result.is_ok());
    let result = result?;
    // With a tar on standard output, the digest goes to stderr instead.
    if output == Some(builder::output::Output::Tar("-".into())) {
        eprintln!("{}", result.descriptor.digest);
    } else {
        println!("{}", result.descriptor.digest);
    }
    if let Some(output) = &output {
        builder::output::write(store, &result.image, output)?;
    }
    if let Some(path) = &args.iidfile {
        std::fs::write(path, result.descriptor.digest.to_string()).map_err(CliError::io(
            format!("writing --iidfile {}", path.display()),
        ))?;
    }
    export_cache(
        store,
        registry_flags,
        args.cache_to.as_deref(),
        &result.cache_entries,
    )?;
    if args.push {
        let pushes: Vec<(String, String)> =
            opts.tags.iter().map(|t| (t.clone(), t.clone())).collect();
        if pushes.is_empty() {
            return Err(CliError::Usage(
                "--push needs a -t tag that names a registry (host/repo:tag)".into(),
            ));
        }
        registry::push_all(store, registry_flags, &pushes, 4)?;
    }
    Ok(0)
}

/// The store image each external base of the plan's images builds on, by the family's
/// strata.lock; bases it does not pin yet are resolved, pinned and the lock written.
fn pin_bases(
    store: &Store,
    family: &Family,
    plan: &Plan,
    opts: &BuildOptions,
    quiet: bool,
) -> Result<BTreeMap<String, crate::digest::Digest>, CliError> {
    let mut lock = family::Lock::load(&family.root)?;
    let platform = builder::pins::pin_platform(opts.platform.as_deref())?;
    let pinned = builder::pins::pin_bases(
        store,
        family,
        plan.waves.iter().flatten(),
        &mut lock,
        &platform,
        &opts.registry,
    )?;
    lock.save()
        .map_err(CliError::io(format!("writing {}", lock.path.display())))?;
    let mut bases = BTreeMap::new();
    for pin in pinned {
        if pin.new && !quiet {
            eprintln!(
                "pinned {} ({platform}) to {} in {}",
                pin.reference,
                pin.pin,
                lock.path.display()
            );
        }
        bases.insert(pin.reference, pin.image);
    }
    Ok(bases)
}

/// `--cache-to`: pushes the cache entries of the build, if asked.
fn export_cache(
    store: &Store,
    flags: &registry::RegistryFlags,
    destination: Option<&str>,
    entries: &[(crate::cache::CacheKey, crate::cache::CachedStep)],
) -> Result<(), CliError> {
    if let Some(destination) = destination {
        let client = registry::client(flags)?;
        let pushed = crate::registry::cache::export(&client, store, entries, destination)?;
        eprintln!(
            "exported {} cache entries to {destination} ({} blobs uploaded, {} already there)",
            entries.len(),
            pushed.uploaded,
            pushed.skipped
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Commands};
    use clap::Parser;

    #[test]
    fn cli_parses_docker_like_build() {
        let cli = Cli::try_parse_from([
            "strata",
            "build",
            "-t",
            "a:b",
            "--build-arg",
            "X=1",
            "-f",
            "D",
            ".",
        ])
        .unwrap();
        let Commands::Build(args) = cli.command else {
            panic!("not build")
        };
        assert_eq!(args.tags, ["a:b"]);
        assert_eq!(args.file, Some(PathBuf::from("D")));
    }
}
