//! `RUN --mount`: the flag's options parsed into a [`MountRequest`], then resolved into
//! host paths the sandbox can mount ([`crate::sandbox::Mount`]).
//!
//! - `type=cache`: a directory kept in the store under `cache-mounts/`, one per id
//!   (default: the target), surviving between builds and never part of a layer.
//!   `sharing=locked` serialises its users with an exclusive `flock`; `private` takes the
//!   lock without waiting and, if another build holds it, gets a fresh throw-away dir;
//!   `shared` takes no lock.
//! - `type=secret`: the bytes of a `--secret` given to the build, written to a file on a
//!   tmpfs private to this process (so they never touch a disk) and bind-mounted read-only,
//!   and/or put in the step's environment with `env=`.
//! - `type=bind`: a directory or file of the build context, another stage or an image,
//!   read-only; with `rw`, writes land in a throw-away overlay upper dir.
//! - `type=tmpfs` and `type=ssh` (the agent socket given with `--ssh`).
//!
//! Everything a resolved mount needs to stay valid (overlays, locks, temp dirs) lives in
//! [`MountGuards`], which the step holds until the command has exited.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::fsroot::Root;
use crate::image::Store;
use crate::sandbox::Mount;
use crate::snapshot::{Overlay, StepDirs};

/// What a mount reads from, for `type=bind` and `type=cache` with `from=`.
pub enum MountSource<'a> {
    /// The build context directory and the paths in it that `.dockerignore` hides
    /// ([`crate::copy::Context::excluded`]).
    Context(&'a Path, Vec<PathBuf>),
    /// The layers of a stage or image: overlay lower dirs, top-most first.
    Layers(Vec<PathBuf>),
}

/// The kind of a `--mount`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MountType {
    /// `type=bind` (the default).
    Bind,
    /// `type=cache`.
    Cache,
    /// `type=tmpfs`.
    Tmpfs,
    /// `type=secret`.
    Secret,
    /// `type=ssh`.
    Ssh,
}

/// `sharing=` of a cache mount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sharing {
    /// Concurrent builds use the same directory at once.
    Shared,
    /// A second concurrent user gets its own, temporary directory.
    Private,
    /// Concurrent users wait for each other.
    Locked,
}

/// One `--mount=...` value, parsed and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountRequest {
    /// `type=`.
    pub kind: MountType,
    /// `target=` (`dst`, `destination`); defaulted for secret and ssh.
    pub target: String,
    /// `source=` (`src`): a path in the `from` root (bind, cache).
    pub source: Option<String>,
    /// `from=`: a stage or image.
    pub from: Option<String>,
    /// `id=`: cache id, secret id or ssh id.
    pub id: String,
    /// Read-only (bind's default; `readonly`/`ro` for cache).
    pub readonly: bool,
    /// `sharing=` of a cache.
    pub sharing: Sharing,
    /// `mode=` (octal) for a new cache dir or a secret file.
    pub mode: Option<u32>,
    /// `uid=` for a new cache dir or a secret file.
    pub uid: Option<u32>,
    /// `gid=` for a new cache dir or a secret file.
    pub gid: Option<u32>,
    /// `size=` of a tmpfs, in bytes.
    pub size: Option<u64>,
    /// `env=`: a secret also (or only) exposed as this variable.
    pub env: Option<String>,
    /// `required`: a missing secret or ssh agent is an error instead of no mount.
    pub required: bool,
}

/// Parses the (already expanded) value of one `--mount` flag. Errors name the option.
pub fn parse(value: &str) -> Result<MountRequest, String> {
    let mut fields: Vec<(String, Option<String>)> = Vec::new();
    for field in split_csv(value)? {
        match field.split_once('=') {
            Some((k, v)) => fields.push((k.trim().to_ascii_lowercase(), Some(v.to_owned()))),
            None => fields.push((field.trim().to_ascii_lowercase(), None)),
        }
    }
    let kind = match fields
        .iter()
        .find(|(k, _)| k == "type")
        .map(|(_, v)| v.as_deref().unwrap_or(""))
    {
        None | Some("bind") => MountType::Bind,
        Some("cache") => MountType::Cache,
        Some("tmpfs") => MountType::Tmpfs,
        Some("secret") => MountType::Secret,
        Some("ssh") => MountType::Ssh,
        Some(other) => {
            return Err(format!(
                "unknown mount type {other:?} (expected bind, cache, tmpfs, secret or ssh)"
            ))
        }
    };
    let mut req = MountRequest {
        kind,
        target: String::new(),
        source: None,
        from: None,
        id: String::new(),
        readonly: kind == MountType::Bind,
        sharing: Sharing::Shared,
        mode: None,
        uid: None,
        gid: None,
        size: None,
        env: None,
        required: false,
    };
    for (key, value) in &fields {
        let need = |what: &str| -> Result<String, String> {
            value
                .clone()
                .ok_or_else(|| format!("mount option {key:?} needs a value ({key}={what})"))
        };
        let flag = |default: bool| -> Result<bool, String> {
            match value.as_deref() {
                None => Ok(default),
                Some("true" | "1") => Ok(true),
                Some("false" | "0") => Ok(false),
                Some(v) => Err(format!("mount option {key}={v}: expected true or false")),
            }
        };
        match key.as_str() {
            "type" => {}
            "target" | "dst" | "destination" => req.target = need("PATH")?,
            "source" | "src" => req.source = Some(need("PATH")?),
            "from" => req.from = Some(need("STAGE")?),
            "id" => req.id = need("ID")?,
            "readonly" | "ro" => req.readonly = flag(true)?,
            "rw" | "readwrite" => req.readonly = !flag(true)?,
            "sharing" => {
                req.sharing = match need("shared|private|locked")?.as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    other => {
                        return Err(format!(
                            "mount option sharing={other}: expected shared, private or locked"
                        ))
                    }
                }
            }
            "mode" => {
                let v = need("OCTAL")?;
                req.mode = Some(
                    u32::from_str_radix(&v, 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .ok_or_else(|| format!("mount option mode={v}: expected an octal mode"))?,
                );
            }
            "uid" | "gid" => {
                let v = need("NUMBER")?;
                let n = v
                    .parse::<u32>()
                    .map_err(|_| format!("mount option {key}={v}: expected a number"))?;
                if key == "uid" {
                    req.uid = Some(n);
                } else {
                    req.gid = Some(n);
                }
            }
            "size" | "tmpfs-size" => req.size = Some(parse_size(&need("BYTES")?)?),
            "env" => req.env = Some(need("VAR")?),
            "required" => req.required = flag(true)?,
            other => return Err(format!("unknown mount option {other:?}")),
        }
    }
    let allowed: &[&str] = match kind {
        MountType::Bind => &[
            "type",
            "target",
            "dst",
            "destination",
            "source",
            "src",
            "from",
            "readonly",
            "ro",
            "rw",
            "readwrite",
        ],
        MountType::Cache => &[
            "type",
            "target",
            "dst",
            "destination",
            "source",
            "src",
            "from",
            "id",
            "readonly",
            "ro",
            "rw",
            "readwrite",
            "sharing",
            "mode",
            "uid",
            "gid",
        ],
        MountType::Tmpfs => &["type", "target", "dst", "destination", "size", "tmpfs-size"],
        MountType::Secret => &[
            "type",
            "target",
            "dst",
            "destination",
            "id",
            "env",
            "required",
            "mode",
            "uid",
            "gid",
        ],
        MountType::Ssh => &[
            "type",
            "target",
            "dst",
            "destination",
            "id",
            "required",
            "mode",
            "uid",
            "gid",
        ],
    };
    if let Some((key, _)) = fields.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        return Err(format!(
            "mount option {key:?} does not apply to type={}",
            type_name(kind)
        ));
    }
    match kind {
        MountType::Secret => {
            if req.id.is_empty() {
                req.id = Path::new(&req.target)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .ok_or("a secret mount needs id= (or a target to take it from)")?;
            }
            if req.target.is_empty() && req.env.is_none() {
                req.target = format!("/run/secrets/{}", req.id);
            }
            req.readonly = true;
        }
        MountType::Ssh => {
            if req.id.is_empty() {
                req.id = "default".into();
            }
            if req.target.is_empty() {
                req.target = "/run/buildkit/ssh_agent.0".into();
            }
        }
        _ if req.target.is_empty() => {
            return Err(format!("a {} mount needs target=PATH", type_name(kind)));
        }
        MountType::Cache if req.id.is_empty() => req.id = req.target.clone(),
        _ => {}
    }
    Ok(req)
}

fn type_name(kind: MountType) -> &'static str {
    match kind {
        MountType::Bind => "bind",
        MountType::Cache => "cache",
        MountType::Tmpfs => "tmpfs",
        MountType::Secret => "secret",
        MountType::Ssh => "ssh",
    }
}

/// Splits a CSV record as BuildKit reads `--mount` values: commas separate fields,
/// double quotes protect commas and `""` is a literal quote.
fn split_csv(value: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = value.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    if quoted {
        return Err(format!("unterminated quote in mount options {value:?}"));
    }
    fields.push(field);
    Ok(fields.into_iter().filter(|f| !f.is_empty()).collect())
}

/// `64m`, `1g`, `4096`: a size in bytes (binary units, as docker's RAMInBytes).
fn parse_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let trimmed = lower.trim_end_matches('b').trim_end_matches('i');
    let (digits, scale) = match trimmed.chars().last() {
        Some('k') => (&trimmed[..trimmed.len() - 1], 1u64 << 10),
        Some('m') => (&trimmed[..trimmed.len() - 1], 1 << 20),
        Some('g') => (&trimmed[..trimmed.len() - 1], 1 << 30),
        Some('t') => (&trimmed[..trimmed.len() - 1], 1 << 40),
        _ => (trimmed, 1),
    };
    digits
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|n| *n >= 0.0)
        .map(|n| (n * scale as f64) as u64)
        .ok_or_else(|| format!("mount option size={text}: expected a size such as 64m"))
}

/// Where a `--secret` comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// A file's bytes.
    File(PathBuf),
    /// An environment variable of the strata process.
    Env(String),
}

/// Parses `--secret id=ID,src=FILE` / `id=ID,env=VAR` (docker's syntax; `source=`, and
/// `type=file|env` accepted). Without src/env, the id names an environment variable.
pub fn parse_secret_flag(value: &str) -> Result<(String, SecretSource), String> {
    let mut id = None;
    let mut src = None;
    let mut env = None;
    for field in split_csv(value)? {
        match field.split_once('=') {
            Some(("id", v)) => id = Some(v.to_owned()),
            Some(("src" | "source", v)) => src = Some(v.to_owned()),
            Some(("env", v)) => env = Some(v.to_owned()),
            Some(("type", "file" | "env")) => {}
            _ => return Err(format!("--secret {value:?}: unexpected {field:?} (expected id=ID,src=FILE or id=ID,env=VAR)")),
        }
    }
    let id = id.ok_or_else(|| format!("--secret {value:?}: id= is required"))?;
    let source = match (src, env) {
        (Some(path), None) => SecretSource::File(PathBuf::from(path)),
        (None, Some(var)) => SecretSource::Env(var),
        (None, None) => SecretSource::Env(id.clone()),
        (Some(_), Some(_)) => return Err(format!("--secret {id}: give src= or env=, not both")),
    };
    Ok((id, source))
}

/// Parses `--ssh default` / `--ssh ID=SOCKET`: `default` alone means `$SSH_AUTH_SOCK`.
pub fn parse_ssh_flag(value: &str) -> Result<(String, PathBuf), String> {
    match value.split_once('=') {
        Some((id, path)) => Ok((id.to_owned(), PathBuf::from(path))),
        None => std::env::var_os("SSH_AUTH_SOCK")
            .map(|sock| (value.to_owned(), PathBuf::from(sock)))
            .ok_or_else(|| format!("--ssh {value}: SSH_AUTH_SOCK is not set")),
    }
}

/// Resources that keep a step's mounts valid; released after the step.
#[derive(Default)]
pub struct MountGuards {
    overlays: Vec<Overlay>,
    locks: Vec<File>,
    dirs: Vec<StepDirs>,
    temps: Vec<tempfile::TempDir>,
}

/// The build-wide place secrets are written to: a tmpfs mounted in this process's private
/// mount namespace, so secret bytes never reach a disk and vanish with the process.
pub struct SecretDir {
    dir: tempfile::TempDir,
    mounted: bool,
    counter: usize,
}

impl SecretDir {
    /// An unmounted placeholder; the tmpfs is mounted on first use.
    pub fn new(store: &Store) -> Result<SecretDir, String> {
        let dir = store.temp_dir().map_err(|e| e.to_string())?;
        Ok(SecretDir {
            dir,
            mounted: false,
            counter: 0,
        })
    }

    fn write(&mut self, bytes: &[u8], mode: u32, uid: u32, gid: u32) -> Result<PathBuf, String> {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if !self.mounted {
            nix::mount::mount(
                Some("tmpfs"),
                self.dir.path(),
                Some("tmpfs"),
                nix::mount::MsFlags::MS_NOSUID
                    | nix::mount::MsFlags::MS_NODEV
                    | nix::mount::MsFlags::MS_NOEXEC,
                Some("mode=0700,size=16m"),
            )
            .map_err(|e| format!("mounting a tmpfs for secrets: {e}"))?;
            self.mounted = true;
        }
        self.counter += 1;
        let path = self.dir.path().join(format!("secret-{}", self.counter));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| format!("writing a secret file: {e}"))?;
        std::io::Write::write_all(&mut file, bytes)
            .map_err(|e| format!("writing a secret file: {e}"))?;
        std::os::unix::fs::chown(&path, Some(uid), Some(gid))
            .map_err(|e| format!("chown of a secret file: {e}"))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("chmod of a secret file: {e}"))?;
        Ok(path)
    }
}

impl Drop for SecretDir {
    fn drop(&mut self) {
        if self.mounted {
            let _ = nix::mount::umount2(self.dir.path(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// What the builder knows when resolving a step's mounts.
pub struct Resolver<'a> {
    /// The store (cache dirs, temp dirs).
    pub store: &'a Store,
    /// `--secret` sources by id.
    pub secrets: &'a BTreeMap<String, SecretSource>,
    /// `--ssh` sockets by id.
    pub ssh: &'a BTreeMap<String, PathBuf>,
    /// The build's secret tmpfs.
    pub secret_dir: &'a mut SecretDir,
}

/// Hides `rel` of the overlay lower dir `lower` with a whiteout (a 0:0 character device)
/// in `upper`. The directories on the way are created in `upper` with the owner and mode
/// of their twins in `lower`, which the overlay then shows.
fn hide(lower: &Path, upper: &Path, rel: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let mut dir = PathBuf::new();
    for part in rel.parent().into_iter().flat_map(Path::components) {
        dir.push(part);
        let made = upper.join(&dir);
        if !made.exists() {
            let meta = std::fs::symlink_metadata(lower.join(&dir))?;
            std::fs::DirBuilder::new().mode(0o700).create(&made)?;
            std::os::unix::fs::lchown(&made, Some(meta.uid()), Some(meta.gid()))?;
            std::fs::set_permissions(&made, std::fs::Permissions::from_mode(meta.mode()))?;
        }
    }
    rustix::fs::mknodat(
        rustix::fs::CWD,
        upper.join(rel),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::empty(),
        rustix::fs::makedev(0, 0),
    )?;
    Ok(())
}

/// A resolved mount: what the sandbox mounts, plus environment for `env=` secrets.
pub struct Resolved {
    /// Mounts, in the order requested.
    pub mounts: Vec<Mount>,
    /// `K=V` additions to the step's environment.
    pub env: Vec<String>,
}

impl Resolver<'_> {
    /// Resolves `req`, reading from `source` (the context, or the layers of `from=`).
    /// Returns `None` for an optional secret or agent that was not given.
    pub fn resolve(
        &mut self,
        req: &MountRequest,
        source: MountSource<'_>,
        guards: &mut MountGuards,
    ) -> Result<Resolved, String> {
        let mut out = Resolved {
            mounts: Vec::new(),
            env: Vec::new(),
        };
        match req.kind {
            MountType::Tmpfs => out.mounts.push(Mount::Tmpfs {
                target: req.target.clone(),
                size: req.size,
            }),
            MountType::Bind => {
                let root = self.root_of(source, !req.readonly, guards)?;
                let path = resolve_in(&root, req.source.as_deref().unwrap_or("/"))?;
                out.mounts.push(Mount::Bind {
                    source: path,
                    target: req.target.clone(),
                    readonly: req.readonly,
                });
            }
            MountType::Cache => {
                let dir = self.cache_dir(req, source, guards)?;
                out.mounts.push(Mount::Bind {
                    source: dir,
                    target: req.target.clone(),
                    readonly: req.readonly,
                });
            }
            MountType::Secret => {
                let Some(origin) = self.secrets.get(&req.id) else {
                    return absent(
                        req,
                        "secret",
                        &format!("--secret id={},src=FILE", req.id),
                        out,
                    );
                };
                let bytes = match origin {
                    SecretSource::File(path) => std::fs::read(path).map_err(|e| {
                        format!("secret {:?}: reading {}: {e}", req.id, path.display())
                    })?,
                    SecretSource::Env(var) => std::env::var_os(var)
                        .map(|v| v.into_encoded_bytes())
                        .ok_or_else(|| {
                            format!("secret {:?}: environment variable {var} is not set", req.id)
                        })?,
                };
                if let Some(var) = &req.env {
                    let text = String::from_utf8(bytes.clone()).map_err(|_| {
                        format!(
                            "secret {:?} is not UTF-8 and cannot go into env={var}",
                            req.id
                        )
                    })?;
                    out.env.push(format!("{var}={text}"));
                }
                if !req.target.is_empty() {
                    let file = self.secret_dir.write(
                        &bytes,
                        req.mode.unwrap_or(0o400),
                        req.uid.unwrap_or(0),
                        req.gid.unwrap_or(0),
                    )?;
                    out.mounts.push(Mount::Bind {
                        source: file,
                        target: req.target.clone(),
                        readonly: true,
                    });
                }
            }
            MountType::Ssh => {
                let Some(socket) = self.ssh.get(&req.id) else {
                    return absent(req, "ssh agent", &format!("--ssh {}", req.id), out);
                };
                out.mounts.push(Mount::Bind {
                    source: socket.clone(),
                    target: req.target.clone(),
                    readonly: false,
                });
                out.env.push(format!("SSH_AUTH_SOCK={}", req.target));
            }
        }
        Ok(out)
    }

    /// An open root of `source`; stage layers are mounted as an overlay whose upper dir
    /// is thrown away, so `rw` writes are discarded. A writable context, or one with
    /// ignored paths (hidden by whiteouts in the upper dir), gets the same.
    fn root_of(
        &self,
        source: MountSource<'_>,
        writable: bool,
        guards: &mut MountGuards,
    ) -> Result<Root, String> {
        let (lower, hidden) = match source {
            MountSource::Context(dir, hidden) if !writable && hidden.is_empty() => {
                return Root::open(dir).map_err(|e| format!("{}: {e}", dir.display()));
            }
            MountSource::Context(dir, hidden) => (vec![dir.to_owned()], hidden),
            MountSource::Layers(lower) => (lower, Vec::new()),
        };
        let dirs = StepDirs::new(self.store).map_err(|e| e.to_string())?;
        for rel in &hidden {
            hide(&lower[0], &dirs.upper, rel)
                .map_err(|e| format!("hiding {}: {e}", rel.display()))?;
        }
        let overlay = dirs.mount(&lower).map_err(|e| e.to_string())?;
        let root = Root::open(&dirs.mnt).map_err(|e| format!("{}: {e}", dirs.mnt.display()))?;
        // The overlay goes first: it is unmounted before its dirs are removed.
        guards.overlays.push(overlay);
        guards.dirs.push(dirs);
        Ok(root)
    }

    /// The cache dir for `req`, created (and seeded from `from=`) on first use, locked as
    /// its `sharing=` asks.
    fn cache_dir(
        &self,
        req: &MountRequest,
        source: MountSource<'_>,
        guards: &mut MountGuards,
    ) -> Result<PathBuf, String> {
        let base = cache_root(self.store).join(Digest::of(req.id.as_bytes()).hex());
        let data = base.join("data");
        std::fs::create_dir_all(&base).map_err(|e| format!("{}: {e}", base.display()))?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(base.join("lock"))
            .map_err(|e| format!("{}: {e}", base.display()))?;
        match req.sharing {
            Sharing::Locked => {
                flock(&lock, libc::LOCK_EX)
                    .map_err(|e| format!("locking cache {:?}: {e}", req.id))?;
            }
            Sharing::Private => {
                if flock(&lock, libc::LOCK_EX | libc::LOCK_NB).is_err() {
                    // In use: this step gets a cache of its own, dropped afterwards.
                    let tmp = self.store.temp_dir().map_err(|e| e.to_string())?;
                    let dir = tmp.path().join("data");
                    self.create_cache(req, source, &dir, guards)?;
                    guards.temps.push(tmp);
                    return Ok(dir);
                }
            }
            // Shared users only keep prune from removing the dir under them.
            Sharing::Shared => {
                flock(&lock, libc::LOCK_SH)
                    .map_err(|e| format!("locking cache {:?}: {e}", req.id))?;
            }
        }
        guards.locks.push(lock);
        if !data.exists() {
            let staging = base.join(format!("data.new-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&staging);
            self.create_cache(req, source, &staging, guards)?;
            match std::fs::rename(&staging, &data) {
                Ok(()) => {}
                // Another shared user created it first: theirs wins.
                Err(_) if data.exists() => {
                    let _ = std::fs::remove_dir_all(&staging);
                }
                Err(e) => return Err(format!("{}: {e}", data.display())),
            }
        }
        Ok(data)
    }

    /// Creates a cache dir with the requested owner and mode, seeded from `from=`/`source=`.
    fn create_cache(
        &self,
        req: &MountRequest,
        source: MountSource<'_>,
        dir: &Path,
        guards: &mut MountGuards,
    ) -> Result<(), String> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if req.from.is_some() {
            let root = self.root_of(source, false, guards)?;
            let seed = resolve_in(&root, req.source.as_deref().unwrap_or("/"))?;
            let status = std::process::Command::new("cp")
                .arg("-a")
                .arg(seed.join("."))
                .arg(dir)
                .status()
                .map_err(|e| format!("seeding cache {:?}: {e}", req.id))?;
            if !status.success() {
                return Err(format!(
                    "seeding cache {:?} from {}: cp failed",
                    req.id,
                    seed.display()
                ));
            }
        }
        std::os::unix::fs::chown(dir, Some(req.uid.unwrap_or(0)), Some(req.gid.unwrap_or(0)))
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        std::fs::set_permissions(
            dir,
            std::fs::Permissions::from_mode(req.mode.unwrap_or(0o755)),
        )
        .map_err(|e| format!("{}: {e}", dir.display()))
    }
}

/// A secret or agent the build was not given: no mount, or an error if `required`.
fn absent(req: &MountRequest, what: &str, flag: &str, out: Resolved) -> Result<Resolved, String> {
    if req.required {
        Err(format!(
            "{what} {:?} is required but was not given (strata build {flag})",
            req.id
        ))
    } else {
        Ok(out)
    }
}

/// The directory of the store holding cache mounts.
pub fn cache_root(store: &Store) -> PathBuf {
    store.root().join("cache-mounts")
}

/// Removes every cache mount that no build is using; returns the bytes freed.
pub fn prune_caches(store: &Store) -> std::io::Result<u64> {
    let root = cache_root(store);
    let mut freed = 0;
    let Ok(entries) = std::fs::read_dir(&root) else {
        return Ok(0);
    };
    for entry in entries {
        let base = entry?.path();
        let Ok(lock) = File::options().write(true).open(base.join("lock")) else {
            continue;
        };
        if flock(&lock, libc::LOCK_EX | libc::LOCK_NB).is_err() {
            continue; // in use by a running build
        }
        freed += crate::image::store::disk_usage(&base);
        std::fs::remove_dir_all(&base)?;
    }
    Ok(freed)
}

fn flock(file: &File, op: libc::c_int) -> std::io::Result<()> {
    // SAFETY: flock on an fd we own; no memory is passed.
    if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The host path of `rel` inside `root`, with symlinks resolved by the kernel inside the
/// root, so a bind source can never point outside it.
fn resolve_in(root: &Root, rel: &str) -> Result<PathBuf, String> {
    let fd = root
        .open_path(Path::new(rel))
        .map_err(|e| format!("mount source {rel:?}: {e}"))?;
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map_err(|e| format!("mount source {rel:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_mount_defaults_id_to_target() {
        let m = parse("type=cache,target=/var/cache/apt,sharing=locked").unwrap();
        assert_eq!(m.kind, MountType::Cache);
        assert_eq!(m.id, "/var/cache/apt");
        assert_eq!(m.sharing, Sharing::Locked);
        assert!(!m.readonly);
    }

    #[test]
    fn bind_is_read_only_unless_rw() {
        assert!(parse("target=/src").unwrap().readonly);
        assert!(!parse("type=bind,target=/src,rw").unwrap().readonly);
        assert!(
            !parse("type=bind,target=/src,readwrite=true")
                .unwrap()
                .readonly
        );
    }

    #[test]
    fn secret_defaults_target_from_id() {
        let m = parse("type=secret,id=token").unwrap();
        assert_eq!(m.target, "/run/secrets/token");
        let env_only = parse("type=secret,id=token,env=TOKEN").unwrap();
        assert_eq!(env_only.target, "");
        assert_eq!(env_only.env.as_deref(), Some("TOKEN"));
    }

    #[test]
    fn errors_name_the_option() {
        assert!(parse("type=nope,target=/x")
            .unwrap_err()
            .contains("\"nope\""));
        assert!(parse("type=cache,target=/x,colour=red")
            .unwrap_err()
            .contains("\"colour\""));
        assert!(parse("type=cache").unwrap_err().contains("target"));
        assert!(parse("type=tmpfs,target=/x,sharing=locked")
            .unwrap_err()
            .contains("\"sharing\""));
        assert!(parse("type=cache,target=/x,mode=999")
            .unwrap_err()
            .contains("mode=999"));
    }

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(
            parse("type=tmpfs,target=/t,size=64m").unwrap().size,
            Some(64 << 20)
        );
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn quoted_fields_keep_commas() {
        assert_eq!(
            split_csv(r#"type=bind,"source=a,b",target=/x"#).unwrap(),
            ["type=bind", "source=a,b", "target=/x"]
        );
    }

    #[test]
    fn secret_flags_parse_like_docker() {
        assert_eq!(
            parse_secret_flag("id=tok,src=/tmp/t").unwrap(),
            ("tok".to_string(), SecretSource::File("/tmp/t".into()))
        );
        assert_eq!(
            parse_secret_flag("id=tok,env=VAR").unwrap(),
            ("tok".to_string(), SecretSource::Env("VAR".into()))
        );
        assert!(parse_secret_flag("src=/x").is_err());
    }
}
