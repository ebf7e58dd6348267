//! File operations of COPY and ADD: the sources (the build context, another stage's root,
//! inline bytes, downloads) -> a selected [`SourceSet`] -> its content digest (for the step
//! cache key) or its files written into an image root.
//!
//! - `context`: [`Context`] and [`SourceSet`]: source patterns resolved as BuildKit does,
//!   `.dockerignore` applied, and [`digest_sources`], which hashes what a COPY would read.
//! - `write`: [`copy`], BuildKit's rules for writing a source set into a root.
//! - `fetch`: `ADD <url>` downloads, streamed and hashed.
//! - `chmod`: [`Chmod`], the `--chmod` value (octal or symbolic) and what it does.
//! - `error`: [`CopyError`], shared by all three.

mod chmod;
mod context;
mod error;
pub mod fetch;
mod write;

pub use chmod::Chmod;
pub use context::{digest_sources, is_remote, Context, Exclusion, SourceSet};
pub use error::CopyError;
pub use write::{copy, CopyOptions, CopyStats};
