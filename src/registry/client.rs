//! [`Client`], the one entry point of the registry module: a [`Transport`] for the
//! requests, the registries.conf it was made with, and the push [`Session`] its clones
//! share. Its pull and push methods live
//! with their direction (`pull.rs`, `push.rs`); here are construction, options, and
//! login/logout.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::auth::{self, Credentials};
use super::conf::RegistriesConf;
use super::error::RegistryError;
use super::options::RegistryOptions;
use super::progress::Progress;
use super::reference::api_host;
use super::session::Session;
use super::transport::Transport;

/// A registry client: one HTTP agent, per-host auth state and the session's pushed
/// blobs. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Client {
    /// Requests with auth and retries.
    pub(super) transport: Transport,
    /// The blobs pushed so far, shared by every push of this client and its clones.
    pub(super) session: Arc<Session>,
    /// Where names are pulled from (registries.conf and `--registry-mirror`).
    pub(super) conf: Arc<RegistriesConf>,
}

impl Client {
    /// A client with `options`, reading the registries.conf they name. Fails on an
    /// unreadable CA file, a bad registries.conf or a bad mirror.
    pub fn new(options: RegistryOptions) -> Result<Client, RegistryError> {
        let conf = Arc::new(RegistriesConf::load(
            &options.registries_conf,
            &options.docker_mirrors,
        )?);
        Ok(Client {
            transport: Transport::new(options, Arc::clone(&conf))?,
            session: Arc::default(),
            conf,
        })
    }

    /// The registries configuration the client was made with.
    pub fn registries(&self) -> &RegistriesConf {
        &self.conf
    }

    /// The same client reporting transfers to `progress`.
    #[must_use]
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Client {
        self.transport.progress = progress;
        self
    }

    /// The options the client was made with.
    pub fn options(&self) -> &RegistryOptions {
        self.transport.options()
    }

    /// Checks `username`/`password` against `registry` (`GET /v2/` with them, through the
    /// token flow if the registry uses one), then stores them in `auth_file` (default: the
    /// first of `--authfile`, `$REGISTRY_AUTH_FILE`, the docker config). Returns the file
    /// written.
    pub fn login(
        &self,
        registry: &str,
        username: &str,
        password: &str,
        auth_file: Option<&Path>,
    ) -> Result<PathBuf, RegistryError> {
        let credentials = Credentials {
            username: username.into(),
            password: password.into(),
        };
        let host = api_host(registry);
        self.transport.check_credentials(host, &credentials)?;
        let file = auth::default_auth_file(auth_file.or(self.options().auth_file.as_deref()))?;
        auth::update_auth_file(&file, registry, Some(&credentials))?;
        self.transport.forget(host);
        Ok(file)
    }

    /// Removes the credentials of `registry` from `auth_file` (default as for
    /// [`Client::login`]). Returns whether there were any.
    pub fn logout(&self, registry: &str, auth_file: Option<&Path>) -> Result<bool, RegistryError> {
        let file = auth::default_auth_file(auth_file.or(self.options().auth_file.as_deref()))?;
        let existed = auth::update_auth_file(&file, registry, None)?;
        self.transport.forget(api_host(registry));
        Ok(existed)
    }
}
