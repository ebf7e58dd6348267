//! Named build contexts (`build --build-context NAME=VALUE`, as buildx): what
//! `FROM NAME`, `COPY --from=NAME` and `RUN --mount=from=NAME` read instead of the stage
//! or image called NAME.
//!
//! - a local directory: its files are the root that `COPY --from` and `--mount=from` read
//!   (its cache key is the content digest of the files, as for the main context). It has
//!   no layers, so it cannot be a stage's FROM;
//! - `docker-image://REF`: the image REF (from the store, else pulled);
//! - `oci-layout://DIR[:TAG|@sha256:DIGEST]`: an image of an OCI layout directory,
//!   copied into the store.
//!
//! Git and HTTP contexts are refused: strata reads no remote context.

use std::path::PathBuf;

use crate::cache::KeyBuilder;
use crate::digest::Digest;
use crate::dockerfile::ignore::Ignore;
use crate::dockerfile::{Source, Span};
use crate::image::layout::{self, Selector};
use crate::platform::Platform;

use super::stage::BuiltStage;
use super::stages::StageBuilder;
use super::{io_err, BuildError};

/// What a `--build-context` name stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NamedContext {
    /// A local directory, read as a stage's root.
    Dir(PathBuf),
    /// `docker-image://REF`: the image REF instead.
    Image(String),
    /// `oci-layout://DIR[:TAG|@DIGEST]`: an image of an OCI layout directory.
    Layout {
        /// The layout directory.
        dir: PathBuf,
        /// Which of its images.
        selector: Selector,
    },
}

impl NamedContext {
    /// Parses one `--build-context NAME=VALUE`.
    pub fn parse(flag: &str) -> Result<(String, NamedContext), String> {
        let fail = |why: &str| format!("--build-context {flag:?}: {why}");
        let (name, value) = flag.split_once('=').ok_or_else(|| {
            fail("expected NAME=PATH, NAME=docker-image://REF or NAME=oci-layout://DIR")
        })?;
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(fail("the name is empty or holds spaces"));
        }
        if value.is_empty() {
            return Err(fail("the value is empty"));
        }
        let context = if let Some(reference) = value.strip_prefix("docker-image://") {
            if reference.is_empty() {
                return Err(fail("docker-image:// needs an image reference"));
            }
            NamedContext::Image(reference.to_owned())
        } else if let Some(rest) = value.strip_prefix("oci-layout://") {
            let (dir, selector) = match rest.split_once('@') {
                Some((dir, digest)) => (
                    dir,
                    Selector::Digest(
                        digest
                            .parse::<Digest>()
                            .map_err(|_| fail(&format!("{digest:?} is not a sha256 digest")))?,
                    ),
                ),
                None => match rest.rsplit_once(':') {
                    Some((dir, tag)) if !tag.contains('/') && !tag.is_empty() => {
                        (dir, Selector::Tag(tag.to_owned()))
                    }
                    _ => (rest, Selector::Only),
                },
            };
            let dir = PathBuf::from(dir);
            if !dir.join("index.json").is_file() {
                return Err(fail(&format!(
                    "{} is not an OCI layout (no index.json)",
                    dir.display()
                )));
            }
            NamedContext::Layout { dir, selector }
        } else if value.contains("://") || value.starts_with("git@") || value.ends_with(".git") {
            return Err(fail(
                "Git and URL contexts are not supported: give a local directory, docker-image://REF or oci-layout://DIR",
            ));
        } else {
            let dir = PathBuf::from(value);
            if !dir.is_dir() {
                return Err(fail(&format!("{value} is not a directory")));
            }
            NamedContext::Dir(dir)
        };
        Ok((name.to_owned(), context))
    }
}

impl StageBuilder<'_> {
    /// The `--build-context` called `name` (as FROM or `--from` write it; `NAME:latest`
    /// is NAME), as a stage for `platform`; `None` when no context has that name.
    pub(super) fn named_context(
        &mut self,
        name: &str,
        platform: &Platform,
        source: &Source,
        span: Span,
    ) -> Option<Result<BuiltStage, BuildError>> {
        let context = self
            .opts
            .contexts
            .get(name)
            .or_else(|| self.opts.contexts.get(name.strip_suffix(":latest")?))?
            .clone();
        Some(match context {
            NamedContext::Dir(dir) => self.dir_stage(&dir, platform, source, span),
            NamedContext::Image(reference) => self.image_stage(&reference, platform, source, span),
            NamedContext::Layout { dir, selector } => {
                layout::import(self.store, &dir, &selector, platform)
                    .map_err(|e| {
                        BuildError::from(source.error_with(
                            span,
                            format!("build context {name}: reading {}", dir.display()),
                            e,
                        ))
                    })
                    .and_then(|image| {
                        BuiltStage::from_image(
                            self.store,
                            image,
                            &format!("oci-layout://{}", dir.display()),
                        )
                    })
            }
        })
    }

    /// A local directory context as a stage: its files are the root, keyed by their
    /// content.
    fn dir_stage(
        &mut self,
        dir: &std::path::Path,
        platform: &Platform,
        source: &Source,
        span: Span,
    ) -> Result<BuiltStage, BuildError> {
        let located = |e| super::copy_error(source, span, e);
        let context = crate::copy::Context::new(dir, Ignore::default()).map_err(io_err(dir))?;
        let everything = Ignore::default();
        let set = context
            .select(&[".".into()], &everything, false)
            .map_err(located)?;
        let (digest, _) = self.exec.digest(&set).map_err(located)?;
        let key = KeyBuilder::new("context")
            .field("content", digest.as_str().as_bytes())
            .finish();
        Ok(BuiltStage::from_dir(dir.to_owned(), key, platform))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_parse() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().display().to_string();
        assert_eq!(
            NamedContext::parse(&format!("src={path}")).unwrap(),
            ("src".into(), NamedContext::Dir(dir.path().to_owned()))
        );
        assert_eq!(
            NamedContext::parse("alpine=docker-image://busybox:1")
                .unwrap()
                .1,
            NamedContext::Image("busybox:1".into())
        );
        std::fs::write(dir.path().join("index.json"), "{}").unwrap();
        assert_eq!(
            NamedContext::parse(&format!("base=oci-layout://{path}:v1"))
                .unwrap()
                .1,
            NamedContext::Layout {
                dir: dir.path().to_owned(),
                selector: Selector::Tag("v1".into())
            }
        );
        let digest = format!("sha256:{}", "a".repeat(64));
        assert!(matches!(
            NamedContext::parse(&format!("base=oci-layout://{path}@{digest}"))
                .unwrap()
                .1,
            NamedContext::Layout {
                selector: Selector::Digest(_),
                ..
            }
        ));
        for bad in [
            "x",
            "=dir",
            "x=",
            "x=https://example.invalid/r.git",
            "x=/no/such/dir",
            "x=oci-layout:///no/such",
        ] {
            let e = NamedContext::parse(bad).unwrap_err();
            assert!(e.contains("--build-context"), "{bad}: {e}");
        }
    }
}
