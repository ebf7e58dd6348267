//! `RUN --mount`: a parsed [`MountRequest`] resolved into host paths the sandbox can
//! mount ([`crate::sandbox::Mount`]); and the `--secret` and `--ssh` build flags that feed
//! secret and ssh mounts.
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

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::dockerfile::mount::{split_csv, MountRequest, MountType, Sharing};
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
    /// For a step that may not come from the cache (`--no-cache`, `--no-cache-filter`):
    /// the cache ids this build already started fresh. The first such step of the build
    /// to use an id discards what the cache held, as BuildKit prunes the cache mounts of
    /// every exec op it must not take from the cache before it solves (`PruneCacheMounts`);
    /// what this build writes there stays for later builds.
    pub fresh: Option<&'a mut BTreeSet<String>>,
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
        &mut self,
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
        if self
            .fresh
            .as_mut()
            .is_some_and(|started| started.insert(req.id.clone()))
        {
            // Alone with it (other builds finish their steps first), the old content goes;
            // the lock below then turns into the one `sharing=` asks for.
            flock(&lock, libc::LOCK_EX).map_err(|e| format!("locking cache {:?}: {e}", req.id))?;
            if data.exists() {
                let old = base.join(format!("data.old-{}", std::process::id()));
                std::fs::rename(&data, &old)
                    .and_then(|()| std::fs::remove_dir_all(&old))
                    .map_err(|e| format!("starting cache {:?} fresh: {e}", req.id))?;
            }
        }
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
