//! The distribution client: pull images from and push images to any OCI
//! distribution-spec registry, with the credentials users already have.
//!
//! [`Client`] is the one entry point: cheap to clone, shared by threads. It owns the HTTP
//! agent (TLS verified by default, plain HTTP only for loopback hosts or when
//! [`RegistryOptions::insecure`] says so), the per-host auth state (challenge, bearer
//! tokens per scope), and the session's record of pushed blobs, so that a family pushed
//! with [`Client::push_many`] uploads a shared base layer once and cross-repository mounts
//! it everywhere else.
//!
//! - [`reference`]: `[host[:port]/]repo[:tag][@digest]`, short names normalised as docker
//!   does.
//! - `conf`: registries.conf and `--registry-mirror`: which endpoints a name is pulled
//!   from (mirrors, location rewrites), blocked and insecure registries, the search of
//!   short names.
//! - [`auth`]: docker config / `REGISTRY_AUTH_FILE` credentials, helpers, login files.
//! - `client`: [`Client`] itself, login and logout.
//! - `transport`: requests with auth, retries and backoff.
//! - `pull` and `push`: the two directions, both streaming blobs through files.
//! - `session`: the blobs a client's pushes share; `locations`: where earlier pushes put
//!   each blob, for cross-repository mounts.
//! - [`cache`]: the step cache as a registry artifact.
//! - `error`, `options`, `progress`: the small types every other file uses, each in its
//!   own file so that no file imports the module root and the files import one another
//!   in one direction only (error and options at the bottom, client above transport,
//!   pull and push above client).
//!
//! Progress is reported through the [`Progress`] trait; the CLI renders it.

pub mod auth;
pub mod cache;
mod client;
mod conf;
mod error;
mod locations;
mod options;
mod progress;
mod pull;
mod push;
pub mod reference;
mod session;
mod transport;

pub use auth::Credentials;
pub use client::Client;
pub use conf::{PullSource, RegistriesConf};
pub use error::{Failure, RegistryError};
pub use options::{ConfFiles, RegistryOptions};
pub use progress::{BlobOutcome, Direction, NoProgress, Progress};
pub use pull::{stored, Pulled};
pub use push::{PushOptions, Pushed};
pub use reference::Reference;
