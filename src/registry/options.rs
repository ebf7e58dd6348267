//! [`RegistryOptions`]: how a client reaches registries (TLS, plain HTTP, auth file,
//! retries, chunk size, timeouts, which registries.conf and mirrors).

use std::path::PathBuf;
use std::time::Duration;

/// How the client reaches registries.
#[derive(Clone, Debug)]
pub struct RegistryOptions {
    /// Verify TLS certificates (default `true`; `--tls-verify=false` turns it off).
    pub tls_verify: bool,
    /// PEM file of CA certificates to trust instead of the built-in Mozilla roots
    /// (private registries with their own CA or a self-signed certificate).
    pub ca_file: Option<PathBuf>,
    /// Allow plain HTTP to any host (after HTTPS fails). Loopback hosts (`localhost`,
    /// `127.0.0.1`, `[::1]`) always may.
    pub insecure: bool,
    /// An auth file read before `$REGISTRY_AUTH_FILE` and the docker config
    /// (`--authfile`).
    pub auth_file: Option<PathBuf>,
    /// How many times a failed request (5xx, 429, broken connection, timeout) is retried.
    pub retries: u32,
    /// The first retry delay; each next one doubles, up to 8 s, with jitter.
    pub backoff: Duration,
    /// Seed of the retry jitter (fixed for reproducible tests).
    pub jitter_seed: u64,
    /// Bytes per `PATCH` of a chunked upload (default 8 MiB).
    pub chunk_size: u64,
    /// The longest wait for a connection, for a response's head, and for each read of
    /// a body (default 30 s; `--registry-timeout`, `STRATA_REGISTRY_TIMEOUT`). A body
    /// must also average 1 KiB/s over each such window, and a request that times out
    /// is tried once more only.
    pub timeout: Duration,
    /// Which registries.conf files say where names are pulled from.
    pub registries_conf: ConfFiles,
    /// Mirrors of docker.io tried before it (and before registries.conf's mirrors), as
    /// dockerd's `registry-mirrors`: `[http[s]://]host[:port][/path]` (`http://`: this
    /// mirror may be plain HTTP without TLS verification).
    pub docker_mirrors: Vec<String>,
}

/// Which registries.conf (containers-registries.conf(5)) a client reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ConfFiles {
    /// None: short names are docker.io's, no mirrors, nothing blocked. The library's
    /// default, so that a program embedding strata reads no machine configuration unless
    /// it asks to.
    #[default]
    Builtin,
    /// What podman reads without `CONTAINERS_REGISTRIES_CONF`: the user's
    /// `$XDG_CONFIG_HOME/containers/registries.conf` (default `~/.config/...`) if it
    /// exists, else `/etc/containers/registries.conf`, each with its drop-ins.
    System,
    /// This file (which must exist) and the `*.conf` drop-ins of `FILE.d/`.
    File(PathBuf),
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            tls_verify: true,
            ca_file: None,
            insecure: false,
            auth_file: None,
            retries: 6,
            backoff: Duration::from_millis(200),
            jitter_seed: 0x5eed,
            chunk_size: 8 << 20,
            timeout: Duration::from_secs(30),
            registries_conf: ConfFiles::Builtin,
            docker_mirrors: Vec::new(),
        }
    }
}
