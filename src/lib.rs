//! strata builds, checks and ships families of layered OCI container images.
//!
//! The modules follow the data as it flows through a build, and form a stack: each uses
//! only modules listed above it (`tests/architecture.rs` checks this, and that no two
//! files import each other around a circle).
//!
//! ```text
//! digest      content addresses; hashing readers and writers
//! path        lexical path cleaning (Go's `path.Clean`)
//! glob        the glob matcher of COPY sources and `.dockerignore`
//! fsroot      file operations that cannot escape an image's root
//! platform    os/arch[/variant]: the host's, parsed, matched against index entries
//! severity    how much a lint or audit finding matters
//! epoch       the times written into images: SOURCE_DATE_EPOCH, else git's HEAD time
//! dockerfile  text -> typed instructions with spans; ARG scopes and expansion;
//!             RUN --mount grammar; .dockerignore
//! family      strata.toml + FROM lines -> Family (images, parents, tiers) -> Plan (waves)
//! layer       upper dir -> OCI tar (whiteouts) -> gzip/zstd -> Layer; tar -> snapshot dir
//! image       Config / Manifest values; the store (an OCI layout); archives, layout dirs
//! cache       step cache keys -> the layers they produced
//! fsck        the store's invariants checked from its files, and repaired
//! copy        COPY/ADD sources (context, stage root, heredocs, URLs) -> digest | files
//! snapshot    layer snapshots stacked as overlay lower dirs; a step's scratch dirs
//! sandbox     one RUN: namespaces, pivot_root, mounts, exec, wait
//! registry    distribution client: auth, pull, push with mounts, the shared step cache
//! builder     Dockerfile + context -> image: instructions lowered into steps, run
//!             through the step cache, stage by stage; families in waves
//! container   `strata run`: a stored image -> one command in the sandbox
//! lint        rules over Dockerfiles and families -> findings
//! audit       rules over built images -> findings, wasted bytes, SBOM, sharing
//! cli         clap types, one function per subcommand; the one place that prints
//! ```
//!
//! The first five are the small vocabularies everything shares.

#![warn(missing_docs)]

pub mod audit;
pub mod builder;
pub mod cache;
pub mod cli;
pub mod container;
pub mod copy;
pub mod digest;
pub mod dockerfile;
pub mod epoch;
pub mod family;
pub mod fsck;
pub mod fsroot;
pub mod glob;
pub mod image;
pub mod layer;
pub mod lint;
pub mod path;
pub mod platform;
pub mod registry;
pub mod sandbox;
pub mod severity;
pub mod snapshot;
