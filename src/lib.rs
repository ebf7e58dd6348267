//! strata builds, checks and ships families of layered OCI container images.
//!
//! The modules follow the data as it flows through a build:
//!
//! ```text
//! dockerfile  text -> typed instructions with spans; ARG/ENV expansion; .dockerignore
//! family      strata.toml + FROM lines -> Family (images, parents, tiers) -> Plan (waves)
//! cache       step cache keys -> the layers they produced
//! build       Dockerfile + context -> image: per stage, per step; families in waves
//! sandbox     one RUN: overlay mount, namespaces, pivot_root, mounts, exec, wait
//! layer       overlay upper dir -> OCI tar (whiteouts) -> gzip/zstd -> Layer value;
//!             layer tar -> snapshot dir
//! image       Config / Manifest values; the store (an OCI layout); archives
//! registry    distribution client: auth, pull, push with mounts, the shared step cache
//! lint        rules over Dockerfiles and families -> findings
//! audit       rules over built images -> findings, wasted bytes, SBOM, sharing
//! container   `strata run`: a stored image -> one command in the sandbox
//! cli         clap types, one function per subcommand; the one place that prints
//! ```
//!
//! `digest`, `fsroot`, `path` and `glob` are the small vocabularies everything shares:
//! content addresses, file operations that cannot escape an image's root, lexical path
//! cleaning (Go's `path.Clean`), and the glob matcher of COPY sources and `.dockerignore`.

pub mod audit;
pub mod builder;
pub mod cache;
pub mod cli;
pub mod container;
pub mod copy;
pub mod digest;
pub mod dockerfile;
pub mod family;
pub mod fsroot;
pub mod glob;
pub mod image;
pub mod layer;
pub mod lint;
pub mod path;
pub mod platform;
pub mod registry;
pub mod sandbox;
pub mod snapshot;
