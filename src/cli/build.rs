//! `strata build`: its flags and the command that runs a build, of one Dockerfile or of a
//! family.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::ValueEnum;

use crate::builder::contexts::NamedContext;
use crate::builder::family::{build_family, FamilyOptions};
use crate::builder::output::Output;
use crate::builder::{self, mounts, BuildOptions, BuildResult};
use crate::cache::{CacheKey, CachedStep};
use crate::family::{self, Family, Plan};
use crate::image::Store;
use crate::layer::Compression;
use crate::platform::Platform;
use crate::sandbox::{HostEntry, Network, SandboxOptions, Ulimit};

use super::buildx::{self, CacheExport, CacheImport, CacheLocation};
use super::progress::{self, Progress, Style};
use super::{open_step_cache, registry, CliError, CliResult};

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
    /// Also send the result elsewhere (repeatable), in buildx's forms: `DIR` or
    /// `type=local,dest=DIR` (its filesystem), `type=tar,dest=FILE|-`,
    /// `type=oci,dest=FILE|-` (oci-archive), `type=docker[,dest=FILE|-]`
    /// (docker-archive; without dest, the store), `type=image[,name=A,B][,push=true]`,
    /// `type=registry[,name=...]` (pushed); `compression=gzip|zstd` on image outputs.
    #[arg(short = 'o', long, value_name = "SPEC")]
    output: Vec<String>,
    /// Shorthand for `--output type=docker`: the image goes into the store (as every
    /// build's does).
    #[arg(long)]
    load: bool,
    /// Resolve every FROM image that names a registry again, even when the store holds
    /// it (as `docker build --pull`).
    #[arg(long)]
    pull: bool,
    /// A named context for `FROM NAME`, `COPY --from=NAME` and `RUN --mount=from=NAME`
    /// (repeatable): `NAME=DIR`, `NAME=docker-image://REF`,
    /// `NAME=oci-layout://DIR[:TAG|@sha256:DIGEST]`.
    #[arg(long = "build-context", value_name = "NAME=VALUE")]
    build_contexts: Vec<String>,
    /// Add a line to /etc/hosts in RUN steps: `HOST:IP` or `HOST=IP` (repeatable).
    #[arg(long = "add-host", value_name = "HOST:IP", value_delimiter = ',')]
    add_hosts: Vec<String>,
    /// Size of /dev/shm in RUN steps (`128m`, `1g`; default 64m).
    #[arg(long, value_name = "SIZE")]
    shm_size: Option<String>,
    /// A resource limit of RUN steps, as docker's: `nofile=1024:2048`, `nproc=512`,
    /// `core=-1` (repeatable).
    #[arg(long = "ulimit", value_name = "NAME=SOFT[:HARD]")]
    ulimits: Vec<String>,
    /// Add an annotation to the image manifest: `KEY=VALUE` or
    /// `manifest[[os/arch]]:KEY=VALUE` (repeatable).
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    annotations: Vec<String>,
    /// Write buildx's build result metadata (`containerimage.digest`, ...) to FILE as JSON;
    /// for a family, one object per image.
    #[arg(long, value_name = "FILE")]
    metadata_file: Option<PathBuf>,
    /// Set a build argument (repeatable); `K` alone takes the value of the environment variable.
    #[arg(long = "build-arg", value_name = "K=V")]
    build_args: Vec<String>,
    /// Build up to this stage.
    #[arg(long, value_name = "STAGE")]
    target: Option<String>,
    /// Network of RUN steps (`default` is the host's, as BuildKit's default).
    #[arg(long, value_enum, default_value_t = BuildNetwork::Default)]
    network: BuildNetwork,
    /// Grant an entitlement, as buildx's --allow (repeatable, or comma-separated):
    /// `security.insecure` lets `RUN --security=insecure` run with every capability and
    /// no seccomp filter; `network.host` is accepted (RUN has the host's network anyway).
    #[arg(
        long = "allow",
        value_enum,
        value_name = "ENTITLEMENT",
        value_delimiter = ','
    )]
    allow: Vec<Entitlement>,
    /// Compression of new layers [default: gzip]. zstd layers need docker 23 or later
    /// (or containerd 1.5+): docker 20.10 cannot pull or load them ("invalid tar header").
    #[arg(long, value_enum)]
    compression: Option<CompressionArg>,
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
    /// How to show progress: a live view on a terminal, one line per event, nothing, or
    /// BuildKit's JSON lines.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    progress: ProgressArg,
    /// Print only the image digest.
    #[arg(short, long)]
    quiet: bool,
    /// Push the result: every `-t` tag (which must name a registry), or for a family
    /// every image to `<family registry>/<image>:<tag>`.
    #[arg(long)]
    push: bool,
    /// Export the step cache of this build (repeatable): `REF` or
    /// `type=registry,ref=REF` (an OCI artifact), `type=local,dest=DIR[,tag=TAG]` (the
    /// same in an OCI layout); `mode=max` for every stage's steps (default `min`: the
    /// image's own), `ignore-error=true`.
    #[arg(long, value_name = "SPEC")]
    cache_to: Vec<String>,
    /// Import a step cache exported with --cache-to before building (repeatable): `REF`,
    /// `type=registry,ref=REF`, `type=local,src=DIR[,tag=TAG]`.
    #[arg(long, value_name = "SPEC")]
    cache_from: Vec<String>,
    /// The platforms to build for, comma separated (`linux/amd64,linux/arm64`; default:
    /// this host's). Several give an image index with one image per platform; RUN steps
    /// of a foreign platform run under QEMU user emulation (Debian: qemu-user-static).
    #[arg(long, value_name = "PLATFORMS")]
    platform: Option<String>,
    /// Family: build only these images and what they need (repeatable, or comma separated).
    #[arg(long, value_name = "IMAGE", value_delimiter = ',')]
    only: Vec<String>,
    /// Family: with --only, also build every image below them.
    #[arg(long)]
    with_descendants: bool,
    /// Images (of a family) and platforms (of an image) built at once [default: the
    /// number of cores].
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
    /// Nothing but errors (as `-q`).
    Quiet,
    /// No progress (as `quiet`).
    None,
    /// BuildKit's solve status as JSON lines on stderr.
    #[value(name = "rawjson")]
    RawJson,
}

impl ProgressArg {
    /// The printer this choice (and `-q`) asks for.
    fn printer(self, quiet: bool, explain: bool) -> Progress {
        match self {
            ProgressArg::RawJson => Progress::raw_json(explain),
            _ => Progress::new(self.style(quiet), explain),
        }
    }

    /// Whether nothing but JSON or errors may reach stderr.
    fn silent(self, quiet: bool) -> bool {
        quiet
            || matches!(
                self,
                ProgressArg::Quiet | ProgressArg::None | ProgressArg::RawJson
            )
    }

    fn style(self, quiet: bool) -> Style {
        let live = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        match self {
            ProgressArg::Quiet | ProgressArg::None | ProgressArg::RawJson => Style::Quiet,
            _ if quiet => Style::Quiet,
            ProgressArg::Plain => Style::Plain,
            ProgressArg::Tty => Style::Live,
            ProgressArg::Auto if live => Style::Live,
            ProgressArg::Auto => Style::Plain,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum CompressionArg {
    Gzip,
    Zstd,
}

impl From<CompressionArg> for Compression {
    fn from(c: CompressionArg) -> Compression {
        match c {
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::Zstd => Compression::Zstd,
        }
    }
}

/// `build --allow`: BuildKit's entitlements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Entitlement {
    /// `RUN --security=insecure` may run.
    #[value(name = "security.insecure")]
    SecurityInsecure,
    /// `RUN --network=host` may run (always so in strata).
    #[value(name = "network.host")]
    NetworkHost,
}

/// `build --network`: buildx's `default` is the host's network, as BuildKit's default.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum BuildNetwork {
    Default,
    Host,
    None,
}

impl From<BuildNetwork> for Network {
    fn from(n: BuildNetwork) -> Network {
        match n {
            BuildNetwork::Default | BuildNetwork::Host => Network::Host,
            BuildNetwork::None => Network::None,
        }
    }
}

/// `strata build`: one Dockerfile, or a family when the context holds a strata.toml.
pub(super) fn cmd_build(
    store: &Store,
    registry_flags: &registry::RegistryFlags,
    args: BuildArgs,
) -> CliResult {
    let flags = Flags::parse(&args)?;
    let silent = args.progress.silent(args.quiet);
    let mut opts = BuildOptions {
        no_cache: args.no_cache,
        no_cache_filter: args.no_cache_filter.clone(),
        no_rebase: args.no_rebase,
        secrets: flags.secrets,
        ssh: flags.ssh,
        context: args.context.clone(),
        dockerfile: args.file.clone(),
        tags: args.tags.clone(),
        labels: flags.labels,
        build_args: flags.build_args,
        target: args.target.clone(),
        network: args.network.into(),
        compression: flags.compression,
        pinned: BTreeMap::new(),
        hints: BTreeMap::new(),
        registry: registry_flags.options(),
        platforms: flags.platforms.clone(),
        jobs: args.jobs.unwrap_or(0),
        // A family's images share one epoch: the commit of the folder holding strata.toml.
        epoch: crate::epoch::Epoch::for_build(&args.context)?,
        pull: args.pull,
        contexts: flags.contexts,
        annotations: flags.annotations,
        sandbox: flags.sandbox,
        allow_insecure: args.allow.contains(&Entitlement::SecurityInsecure),
    };
    import_caches(store, registry_flags, &flags.cache_from, silent)?;
    let mut progress = args.progress.printer(args.quiet, args.explain);
    if args.file.is_none() && args.context.join(family::MANIFEST).exists() {
        // (`--load` is every family image's fate already.)
        if args.iidfile.is_some() || !args.output.is_empty() {
            return Err(CliError::Usage(
                "--iidfile and --output take one image: build that image's folder instead".into(),
            ));
        }
        if args.pull {
            return Err(CliError::Usage(
                "--pull takes no family: its bases are pinned in strata.lock; `strata update` moves the pins".into(),
            ));
        }
        let family = Family::load(&args.context)?;
        let plan = Plan::new(&family, &args.only, args.with_descendants)?;
        let jobs = args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let bases = pin_bases(store, &family, &plan, &opts, silent)?;
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
        export_caches(store, registry_flags, &flags.cache_to, built.values())?;
        let mut pushed_names: BTreeMap<&str, Vec<String>> = BTreeMap::new();
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
                    let remote = format!("{}/{tag}", registry_host.trim_end_matches('/'));
                    pushed_names.entry(name).or_default().push(remote.clone());
                    pushes.push((tag.clone(), remote));
                }
            }
            let pushed = registry::push_all(store, registry_flags, &pushes, jobs)?;
            if !silent {
                eprint!(
                    "{}",
                    progress::rollout_summary(&family.name, &rollout, &pushed)
                );
            }
        }
        if let Some(path) = &args.metadata_file {
            let mut all = serde_json::Map::new();
            for (name, result) in &built {
                let mut names: Vec<String> = family.tags(&family.images[name]).to_vec();
                names.extend(pushed_names.remove(name.as_str()).unwrap_or_default());
                all.insert(name.clone(), metadata_of(result, &names));
            }
            write_metadata(path, &serde_json::Value::Object(all))?;
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
    // Image outputs name the image in the store (with -t); --push and push=true outputs
    // push their names.
    let mut pushes: Vec<String> = if args.push {
        opts.tags.clone()
    } else {
        Vec::new()
    };
    for output in &flags.outputs {
        if let Output::Image { names, push } = output {
            let names = if names.is_empty() { &args.tags } else { names };
            for name in names {
                if !opts.tags.contains(name) {
                    opts.tags.push(name.clone());
                }
                if *push && !pushes.contains(name) {
                    pushes.push(name.clone());
                }
            }
            if *push && names.is_empty() {
                return Err(CliError::Usage(
                    "--output type=registry (or push=true) needs name= or a -t tag that names a registry (host/repo:tag)".into(),
                ));
            }
        }
    }
    if args.push && pushes.is_empty() {
        return Err(CliError::Usage(
            "--push needs a -t tag that names a registry (host/repo:tag)".into(),
        ));
    }
    let result = builder::build(store, &opts, &mut |event| progress.event("", &event));
    progress.finish(result.is_ok());
    let result = result?;
    // With the result on standard output, the digest goes to stderr instead.
    if flags.outputs.iter().any(Output::to_stdout) {
        eprintln!("{}", result.descriptor.digest);
    } else {
        println!("{}", result.descriptor.digest);
    }
    for output in &flags.outputs {
        builder::output::write(store, &result, output, &args.tags)?;
    }
    if let Some(path) = &args.iidfile {
        std::fs::write(path, result.descriptor.digest.to_string()).map_err(CliError::io(
            format!("writing --iidfile {}", path.display()),
        ))?;
    }
    export_caches(
        store,
        registry_flags,
        &flags.cache_to,
        std::iter::once(&result),
    )?;
    if !pushes.is_empty() {
        let jobs: Vec<(String, String)> = pushes.iter().map(|t| (t.clone(), t.clone())).collect();
        registry::push_all(store, registry_flags, &jobs, 4)?;
    }
    if let Some(path) = &args.metadata_file {
        write_metadata(path, &metadata_of(&result, &opts.tags))?;
    }
    Ok(0)
}

/// The values of the flags that need parsing, each checked before anything runs.
struct Flags {
    build_args: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
    secrets: BTreeMap<String, mounts::SecretSource>,
    ssh: BTreeMap<String, PathBuf>,
    contexts: BTreeMap<String, NamedContext>,
    annotations: BTreeMap<String, String>,
    sandbox: SandboxOptions,
    platforms: Vec<Platform>,
    outputs: Vec<Output>,
    compression: Compression,
    cache_from: Vec<CacheImport>,
    cache_to: Vec<CacheExport>,
}

impl Flags {
    /// Parses every value; the first malformed one is a usage error naming its flag.
    fn parse(args: &BuildArgs) -> Result<Flags, CliError> {
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
        let mut contexts = BTreeMap::new();
        for flag in &args.build_contexts {
            let (name, context) = NamedContext::parse(flag).map_err(CliError::Usage)?;
            contexts.insert(name, context);
        }
        let platforms = match &args.platform {
            Some(text) => Platform::parse_list(text)
                .map_err(|e| CliError::Usage(format!("--platform: {e}")))?,
            None => Vec::new(),
        };
        // One set of manifest annotations serves every platform: a qualifier that picks
        // some platforms of several is refused rather than applied to all.
        let mut annotations = BTreeMap::new();
        for flag in &args.annotations {
            let mut per_platform = platforms
                .iter()
                .cloned()
                .chain(platforms.is_empty().then(Platform::host))
                .map(|platform| buildx::annotation(flag, &platform).map_err(CliError::Usage));
            let first = per_platform.next().transpose()?.flatten();
            for other in per_platform {
                if other? != first {
                    return Err(CliError::Usage(format!(
                        "--annotation {flag:?}: applies to some of the --platform values only, which strata does not support yet"
                    )));
                }
            }
            annotations.extend(first);
        }
        let sandbox = SandboxOptions {
            extra_hosts: parse_all(&args.add_hosts, HostEntry::parse)?,
            shm_size: args
                .shm_size
                .as_deref()
                .map(|size| {
                    crate::dockerfile::mount::size_in_bytes(size)
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| {
                            format!("--shm-size {size:?}: expected a size above 0 such as 128m")
                        })
                })
                .transpose()
                .map_err(CliError::Usage)?,
            ulimits: parse_all(&args.ulimits, Ulimit::parse)?,
        };
        let mut outputs = Vec::new();
        let mut compression = args.compression.map(Compression::from);
        for spec in &args.output {
            let parsed = Output::parse(spec).map_err(CliError::Usage)?;
            if let Some(wanted) = parsed.compression {
                if compression.is_some_and(|c| c != wanted) {
                    return Err(CliError::Usage(format!(
                        "--output {spec:?}: its compression differs from --compression or another output's"
                    )));
                }
                compression = Some(wanted);
            }
            outputs.push(parsed.output);
        }
        if args.load {
            outputs.push(Output::Image {
                names: Vec::new(),
                push: false,
            });
        }
        if outputs.iter().filter(|o| o.to_stdout()).count() > 1 {
            return Err(CliError::Usage(
                "--output: only one output can go to standard output (-)".into(),
            ));
        }
        if platforms.len() > 1 {
            let single = outputs.iter().find(|o| {
                matches!(
                    o,
                    Output::Tar(_)
                        | Output::Archive {
                            format: crate::image::archive::ArchiveFormat::Docker,
                            ..
                        }
                )
            });
            if let Some(output) = single {
                let kind = if matches!(output, Output::Tar(_)) {
                    "tar"
                } else {
                    "docker"
                };
                let names: Vec<String> = platforms.iter().map(ToString::to_string).collect();
                return Err(CliError::Usage(format!(
                    "--output type={kind} holds one image, and this build makes one per platform ({}): use type=oci or type=local, or build one --platform",
                    names.join(", ")
                )));
            }
        }
        let compression = compression.unwrap_or_default();
        let cache_from = parse_all(&args.cache_from, CacheImport::parse)?;
        let cache_to = parse_all(&args.cache_to, CacheExport::parse)?;
        for (spec, export) in args.cache_to.iter().zip(&cache_to) {
            if export.compression.is_some_and(|c| c != compression) {
                return Err(CliError::Usage(format!(
                    "--cache-to {spec:?}: the cache holds the layers this build writes, which are {}: give --compression to match",
                    compression_name(compression)
                )));
            }
        }
        Ok(Flags {
            build_args,
            labels,
            secrets,
            ssh,
            contexts,
            annotations,
            sandbox,
            platforms,
            outputs,
            compression,
            cache_from,
            cache_to,
        })
    }
}

/// Parses every value of a repeatable flag; the first bad one is a usage error.
fn parse_all<T>(
    values: &[String],
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, CliError> {
    values
        .iter()
        .map(|v| parse(v))
        .collect::<Result<_, _>>()
        .map_err(CliError::Usage)
}

fn compression_name(compression: Compression) -> &'static str {
    match compression {
        Compression::Gzip => "gzip",
        Compression::Zstd => "zstd",
        Compression::None => "uncompressed",
    }
}

/// `--cache-from`: adds the entries of every source to the store's step cache.
fn import_caches(
    store: &Store,
    flags: &registry::RegistryFlags,
    sources: &[CacheImport],
    silent: bool,
) -> Result<(), CliError> {
    if sources.is_empty() {
        return Ok(());
    }
    let cache = open_step_cache(store)?;
    for source in sources {
        let added = match &source.location {
            CacheLocation::Registry(reference) => {
                let client = registry::client(flags)?;
                crate::registry::cache::import(&client, store, &cache, reference)?
            }
            CacheLocation::Local { dir, tag } => {
                crate::registry::cache::import_local(store, &cache, dir, tag)?
            }
        };
        if !silent {
            eprintln!("imported {added} cache entries from {}", source.location);
        }
    }
    Ok(())
}

/// `--cache-to`: writes the cache entries of the built images to every destination,
/// all stages' steps with `mode=max`, the images' own with `min`.
fn export_caches<'r>(
    store: &Store,
    flags: &registry::RegistryFlags,
    destinations: &[CacheExport],
    results: impl Iterator<Item = &'r BuildResult> + Clone,
) -> Result<(), CliError> {
    for destination in destinations {
        let mut entries: Vec<(CacheKey, CachedStep)> = Vec::new();
        for result in results.clone() {
            let steps = if destination.max {
                &result.cache_entries
            } else {
                &result.image_entries
            };
            for entry in steps {
                if !entries.iter().any(|(key, _)| *key == entry.0) {
                    entries.push(entry.clone());
                }
            }
        }
        let exported = match &destination.location {
            CacheLocation::Registry(reference) => registry::client(flags).and_then(|client| {
                let pushed = crate::registry::cache::export(&client, store, &entries, reference)?;
                Ok(format!(
                    "{} blobs uploaded, {} already there",
                    pushed.uploaded, pushed.skipped
                ))
            }),
            CacheLocation::Local { dir, tag } => {
                crate::registry::cache::export_local(store, &entries, dir, tag)
                    .map(|manifest| format!("manifest {}", manifest.digest.short()))
                    .map_err(CliError::from)
            }
        };
        let mode = if destination.max { "max" } else { "min" };
        match exported {
            Ok(how) => eprintln!(
                "exported {} cache entries to {} (mode={mode}, {how})",
                entries.len(),
                destination.location
            ),
            Err(e) if destination.ignore_error => {
                eprintln!(
                    "warning: --cache-to {} failed (ignore-error=true): {e}",
                    destination.location
                );
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// buildx's metadata of one built image, named `names`.
fn metadata_of(result: &BuildResult, names: &[String]) -> serde_json::Value {
    // An index has no one config: buildx writes none for a multi-platform image.
    let config = (result.images.len() == 1).then_some(&result.image.manifest.config);
    buildx::metadata(&result.descriptor, config, names)
}

/// Writes `--metadata-file` (atomically: a temp file beside it, renamed).
fn write_metadata(path: &std::path::Path, value: &serde_json::Value) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).map_err(CliError::Json)?;
    let fail = CliError::io(format!("writing --metadata-file {}", path.display()));
    let temp = path.with_file_name(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    std::fs::write(&temp, text + "\n")
        .and_then(|()| std::fs::rename(&temp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            fail(e)
        })
}

/// The store image each external base of the plan's images builds on, by the family's
/// strata.lock; bases it does not pin yet are resolved, pinned and the lock written.
/// Each platform the plan's images build for has pins of its own; a base pinned for
/// several becomes a local index of its pinned images, from which each build takes its
/// platform's.
fn pin_bases(
    store: &Store,
    family: &Family,
    plan: &Plan,
    opts: &BuildOptions,
    quiet: bool,
) -> Result<BTreeMap<String, crate::digest::Digest>, CliError> {
    let mut lock = family::Lock::load(&family.root)?;
    // Which images build for each platform.
    let mut by_platform: BTreeMap<String, (Platform, Vec<&String>)> = BTreeMap::new();
    for name in plan.waves.iter().flatten() {
        let own = &family.images[name].platforms;
        let platforms = match (&opts.platforms, own) {
            (given, _) if !given.is_empty() => given.clone(),
            (_, own) if !own.is_empty() => own.clone(),
            _ => vec![Platform::host()],
        };
        for platform in platforms {
            by_platform
                .entry(platform.to_string())
                .or_insert_with(|| (platform, Vec::new()))
                .1
                .push(name);
        }
    }
    let mut per_reference: BTreeMap<String, Vec<(Platform, crate::digest::Digest)>> =
        BTreeMap::new();
    for (platform, names) in by_platform.into_values() {
        let pinned =
            builder::pins::pin_bases(store, family, names, &mut lock, &platform, &opts.registry)?;
        for pin in pinned {
            if pin.new && !quiet {
                eprintln!(
                    "pinned {} ({platform}) to {} in {}",
                    pin.reference,
                    pin.pin,
                    lock.path.display()
                );
            }
            per_reference
                .entry(pin.reference)
                .or_default()
                .push((platform.clone(), pin.image));
        }
    }
    lock.save()
        .map_err(CliError::io(format!("writing {}", lock.path.display())))?;
    let mut bases = BTreeMap::new();
    for (reference, images) in per_reference {
        let digest = match images.as_slice() {
            [(_, one)] => one.clone(),
            several => {
                let mut entries = Vec::new();
                for (platform, digest) in several {
                    let image = store.image_by_digest(digest)?;
                    entries.push((store.manifest_descriptor(&image)?, platform.clone()));
                }
                store.put_index(&entries)?.digest
            }
        };
        bases.insert(reference, digest);
    }
    Ok(bases)
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
