//! The registry commands (`pull`, `push`, `login`, `logout`) and the flags every command
//! that talks to a registry shares.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::digest::Digest;
use crate::image::Store;
use crate::platform::Platform;
use crate::registry::{
    BlobOutcome, Client, ConfFiles, Direction, Progress, PushOptions, Reference, RegistryOptions,
};

use super::progress::{human_size, PushTotals};
use super::CliError;

/// How to reach registries; global, so every subcommand takes them.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryFlags {
    /// Verify registry TLS certificates.
    #[arg(long, global = true, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    tls_verify: bool,
    /// PEM file of CA certificates to trust for registries (private CAs, self-signed).
    #[arg(long, global = true, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Credentials file to read (and `login` to write) before $REGISTRY_AUTH_FILE and
    /// the docker config.
    #[arg(long, global = true, value_name = "FILE")]
    authfile: Option<PathBuf>,
    /// Allow plain HTTP to registries other than localhost.
    #[arg(long, global = true)]
    plain_http: bool,
    /// The registries.conf to read (with its FILE.d/*.conf drop-ins) instead of
    /// $XDG_CONFIG_HOME/containers/registries.conf or /etc/containers/registries.conf.
    #[arg(
        long,
        global = true,
        env = "CONTAINERS_REGISTRIES_CONF",
        value_name = "FILE"
    )]
    registries_conf: Option<PathBuf>,
    /// A mirror of docker.io, tried before it (and before registries.conf's mirrors), as
    /// dockerd's registry-mirrors; repeat for several (`http://HOST`: plain HTTP).
    #[arg(
        long = "registry-mirror",
        global = true,
        env = "STRATA_REGISTRY_MIRROR",
        value_delimiter = ',',
        value_name = "HOST[:PORT][/PATH]"
    )]
    registry_mirrors: Vec<String>,
    /// How long a registry may stay silent: to connect, to answer, and on each read of
    /// a body (which must also average 1 KiB/s); seconds, or with an `s`/`m` suffix.
    #[arg(
        long,
        global = true,
        env = "STRATA_REGISTRY_TIMEOUT",
        default_value = "30s",
        value_parser = parse_timeout,
        value_name = "DURATION"
    )]
    registry_timeout: Duration,
}

/// `30`, `30s`, `1.5s` or `2m` as a duration, more than zero.
fn parse_timeout(value: &str) -> Result<Duration, String> {
    let (number, unit) = match value.strip_suffix('m') {
        Some(minutes) => (minutes, 60.0),
        None => (value.strip_suffix('s').unwrap_or(value), 1.0),
    };
    match number
        .trim()
        .parse::<f64>()
        .map(|n| (n, Duration::try_from_secs_f64(n * unit)))
    {
        Ok((n, Ok(timeout))) if n > 0.0 => Ok(timeout),
        _ => Err(format!(
            "{value:?} is not a timeout: give seconds (`30`, `30s`) or minutes (`2m`)"
        )),
    }
}

impl RegistryFlags {
    /// The client options these flags ask for.
    pub fn options(&self) -> RegistryOptions {
        RegistryOptions {
            tls_verify: self.tls_verify,
            ca_file: self.ca_file.clone(),
            insecure: self.plain_http,
            auth_file: self.authfile.clone(),
            registries_conf: match &self.registries_conf {
                Some(file) if !file.as_os_str().is_empty() => ConfFiles::File(file.clone()),
                _ => ConfFiles::System,
            },
            docker_mirrors: self.registry_mirrors.clone(),
            timeout: self.registry_timeout,
            ..RegistryOptions::default()
        }
    }
}

/// `strata pull REF`.
#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// `[host[:port]/]repo[:tag][@digest]` (`debian` is `docker.io/library/debian`).
    reference: String,
    /// The platform to pick from a multi-platform image (`os/arch[/variant]`; default:
    /// this host's); several, comma separated, are stored as an index of those.
    #[arg(long, value_name = "PLATFORMS")]
    platform: Option<String>,
    /// Every platform of a multi-platform image, stored as the registry's index.
    #[arg(long, conflicts_with = "platform")]
    all_platforms: bool,
}

/// `strata push NAME:TAG DEST`.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// The image in the store.
    image: String,
    /// Where to push it: `[host[:port]/]repo[:tag]` [default: the image's name]; a name
    /// without a host goes to docker.io, as docker pushes it.
    destination: Option<String>,
}

/// `strata login HOST`.
#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// The registry, `host[:port]`.
    registry: String,
    /// User name.
    #[arg(short, long)]
    username: String,
    /// Password (prefer --password-stdin).
    #[arg(short, long)]
    password: Option<String>,
    /// Read the password from standard input.
    #[arg(long)]
    password_stdin: bool,
}

/// `strata logout HOST`.
#[derive(Debug, clap::Args)]
pub struct LogoutArgs {
    /// The registry, `host[:port]`.
    registry: String,
}

/// A client with transfer progress drawn on a terminal (plain lines per blob otherwise).
pub fn client(flags: &RegistryFlags) -> Result<Client, CliError> {
    Ok(Client::new(flags.options())?.with_progress(Arc::new(Transfers::new())))
}

pub fn pull(store: &Store, flags: &RegistryFlags, args: PullArgs) -> Result<i32, CliError> {
    let reference = Reference::parse(&args.reference)?;
    let platforms = args
        .platform
        .as_deref()
        .map(Platform::parse_list)
        .transpose()?;
    let client = client(flags)?;
    let pulled = match platforms.as_deref() {
        _ if args.all_platforms => client.pull_platforms(store, &reference, None)?,
        Some([one]) => client.pull(store, &reference, Some(one))?,
        Some(several) => client.pull_platforms(store, &reference, Some(several))?,
        None => client.pull(store, &reference, None)?,
    };
    let filed = if pulled.name == args.reference {
        String::new()
    } else {
        format!(" ({})", pulled.name)
    };
    let served = &pulled.source.reference.registry;
    let from = if pulled.source.mirror {
        format!(" from mirror {served}")
    } else if pulled.name.starts_with(&format!("{served}/")) {
        String::new()
    } else {
        format!(" from {served}")
    };
    eprintln!(
        "pulled {}{filed}{from}: {} blobs downloaded, {} already here",
        args.reference, pulled.downloaded, pulled.skipped
    );
    if pulled.registry_digest != pulled.digest {
        eprintln!(
            "the registry's Docker manifest {} is stored as the OCI manifest below",
            pulled.registry_digest
        );
    }
    println!("{}", pulled.digest);
    Ok(0)
}

pub fn push(store: &Store, flags: &RegistryFlags, args: PushArgs) -> Result<i32, CliError> {
    let target = args.destination.as_deref().unwrap_or(&args.image);
    let destination = Reference::parse(target)?;
    warn_if_zstd(store, &args.image);
    let pushed = client(flags)?.push(store, &args.image, &destination, &PushOptions::default())?;
    eprintln!(
        "pushed {target}: {} blobs uploaded ({}), {} mounted, {} already there",
        pushed.uploaded,
        human_size(pushed.bytes_uploaded),
        pushed.mounted,
        pushed.skipped
    );
    println!("{}", pushed.digest);
    Ok(0)
}

/// Warns when `image` has zstd layers: docker 20.10 and older fail on them
/// ("invalid tar header"), and a push is where that surprise starts.
fn warn_if_zstd(store: &Store, image: &str) {
    let zstd = store.image(image).is_ok_and(|i| {
        i.manifest
            .layers
            .iter()
            .any(|l| l.media_type.ends_with("+zstd"))
    });
    if zstd {
        eprintln!(
            "warning: {image} has zstd layers, which docker 20.10 and older cannot pull (docker 23+, containerd 1.5+ and skopeo can); build with --compression gzip for them"
        );
    }
}

/// Pushes `jobs` (store image, destination) with one shared client, `parallel` at once;
/// the first failure is the error.
pub fn push_all(
    store: &Store,
    flags: &RegistryFlags,
    jobs: &[(String, String)],
    parallel: usize,
) -> Result<PushTotals, CliError> {
    let jobs = jobs
        .iter()
        .map(|(image, dest)| Ok((image.clone(), Reference::parse(dest)?)))
        .collect::<Result<Vec<_>, CliError>>()?;
    for (image, _) in &jobs {
        warn_if_zstd(store, image);
    }
    let results = client(flags)?.push_many(store, &jobs, &PushOptions::default(), parallel.max(1));
    let mut totals = PushTotals::default();
    for ((image, dest), result) in jobs.iter().zip(results) {
        let pushed = result?;
        totals.tags += 1;
        totals.uploaded += pushed.uploaded;
        totals.mounted += pushed.mounted;
        totals.skipped += pushed.skipped;
        eprintln!(
            "pushed {image} to {}/{}:{} ({}): {} uploaded, {} mounted, {} already there",
            dest.registry,
            dest.repository,
            dest.tag.as_deref().unwrap_or("latest"),
            pushed.digest.short(),
            pushed.uploaded,
            pushed.mounted,
            pushed.skipped
        );
    }
    Ok(totals)
}

pub fn login(flags: &RegistryFlags, args: LoginArgs) -> Result<i32, CliError> {
    let password = match (args.password, args.password_stdin) {
        (Some(p), false) => p,
        (None, true) => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(CliError::io("reading the password from standard input"))?;
            text.trim_end_matches(['\n', '\r']).to_owned()
        }
        _ => {
            return Err(CliError::Usage(
                "give --password or --password-stdin (not both)".into(),
            ))
        }
    };
    let file = Client::new(flags.options())?.login(
        &args.registry,
        &args.username,
        &password,
        flags.authfile.as_deref(),
    )?;
    eprintln!("login succeeded; credentials saved in {}", file.display());
    Ok(0)
}

pub fn logout(flags: &RegistryFlags, args: LogoutArgs) -> Result<i32, CliError> {
    let removed =
        Client::new(flags.options())?.logout(&args.registry, flags.authfile.as_deref())?;
    if removed {
        eprintln!("removed the credentials of {}", args.registry);
    } else {
        eprintln!("no credentials were stored for {}", args.registry);
    }
    Ok(0)
}

/// Transfer progress: a bar per blob on a terminal, a line per finished blob otherwise.
struct Transfers {
    multi: MultiProgress,
    live: bool,
    bars: Mutex<std::collections::HashMap<Digest, ProgressBar>>,
}

impl Transfers {
    fn new() -> Transfers {
        let live = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        Transfers {
            multi: MultiProgress::with_draw_target(if live {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            }),
            live,
            bars: Mutex::new(std::collections::HashMap::new()),
        }
    }
}

impl Progress for Transfers {
    fn blob_started(&self, repository: &str, digest: &Digest, size: u64, direction: Direction) {
        if !self.live {
            return;
        }
        let bar = self.multi.add(ProgressBar::new(size));
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let verb = if direction == Direction::Upload {
            "push"
        } else {
            "pull"
        };
        bar.set_message(format!("{verb} {repository} {}", digest.short()));
        if let Ok(mut bars) = self.bars.lock() {
            bars.insert(digest.clone(), bar);
        }
    }

    fn blob_progress(&self, digest: &Digest, done: u64) {
        if let Some(bar) = self.bars.lock().ok().and_then(|b| b.get(digest).cloned()) {
            bar.set_position(done);
        }
    }

    fn blob_finished(&self, digest: &Digest, outcome: BlobOutcome) {
        let bar = self.bars.lock().ok().and_then(|mut b| b.remove(digest));
        match bar {
            Some(bar) => bar.finish_and_clear(),
            None if !self.live => eprintln!(
                "{} {}",
                digest.short(),
                match outcome {
                    BlobOutcome::Transferred => "transferred",
                    BlobOutcome::Skipped => "already there",
                    BlobOutcome::Mounted => "mounted",
                }
            ),
            None => {}
        }
    }

    fn retrying(&self, what: &str, attempt: u32, delay: std::time::Duration) {
        let line = format!(
            "retrying {what} (attempt {attempt}) in {:.1}s",
            delay.as_secs_f64()
        );
        if self.live {
            let _ = self.multi.println(line);
        } else {
            eprintln!("{line}");
        }
    }
}
