//! strata builds, checks and ships families of layered OCI container images.
//!
//! The modules follow the data as it flows through a build:
//!
//! ```text
//! dockerfile  text -> typed instructions with spans; ARG/ENV expansion; .dockerignore
//! cache       step cache keys -> the layers they produced
//! build       Dockerfile + context -> image: per stage, per step
//! sandbox     one RUN: overlay mount, namespaces, pivot_root, exec, wait
//! layer       overlay upper dir -> OCI tar (whiteouts) -> gzip/zstd -> Layer value;
//!             layer tar -> snapshot dir
//! image       Config / Manifest values; the store (an OCI layout); archives
//! cli         clap types, one function per subcommand; the one place that prints
//! ```
//!
//! `digest` and `fsroot` are the two small vocabularies everything shares: content
//! addresses, and file operations that cannot escape an image's root.

pub mod audit;
pub mod build;
pub mod cache;
pub mod cli;
pub mod container;
pub mod digest;
pub mod dockerfile;
pub mod family;
pub mod fsroot;
pub mod image;
pub mod layer;
pub mod lint;
pub mod registry;
pub mod sandbox;
