//! The work of COPY and ADD: their sources selected once (context, another stage or
//! image, heredocs, or downloads), digested into the step's key, and written into a fresh
//! upper dir over the stage's root by [`crate::copy::copy`].

use std::collections::BTreeMap;
use std::path::Path;

use crate::cache::KeyBuilder;
use crate::copy::{self, fetch, CopyError, SourceSet};
use crate::digest::Digest;
use crate::dockerfile::ignore::Ignore;
use crate::dockerfile::Span;
use crate::fsroot::Root;
use crate::sandbox;
use crate::snapshot::StepDirs;

use super::exec::{KeyInputs, ParentReads};
use super::lower::CopyStep;
use super::stage::{BuiltStage, StageLayer, State};
use super::stages::{FromFlag, StageBuilder};
use super::{copy_error, io_err, BuildError, Event};

/// Where one COPY's sources come from, selected before its key is computed.
enum Sources<'c> {
    /// Paths of the build context.
    Context(SourceSet<'c>),
    /// A stage of this Dockerfile or an image (`--from`), read through an overlay.
    Stage {
        /// Its layers and key (boxed: a stage's state is large).
        built: Box<BuiltStage>,
        /// The name `--from` gave.
        name: String,
    },
    /// Here-documents.
    Inline(Vec<(String, Vec<u8>)>),
    /// ADD's URLs, downloaded.
    Downloads(Downloads),
}

/// The URL sources of one ADD, downloaded.
struct Downloads {
    /// Holds `N/NAME` for the N-th URL.
    dir: tempfile::TempDir,
    /// The `N/NAME` paths in `dir`, in source order.
    files: Vec<String>,
    /// The content part of the step's cache key: every URL with its content digest.
    key: Digest,
}

impl StageBuilder<'_> {
    /// COPY and ADD.
    pub(super) fn copy(
        &mut self,
        state: &mut State<'_>,
        mut step: CopyStep,
        span: Span,
        number: usize,
        events: &mut dyn FnMut(Event<'_>),
    ) -> Result<Option<StageLayer>, BuildError> {
        let source = state.source;
        let fail = |e: CopyError| copy_error(source, span, e);
        let skip = Ignore::parse(&step.excludes.join("\n")).map_err(|e| {
            BuildError::from(
                source.error(span, format!("{} --exclude: {}", step.keyword, e.message)),
            )
        })?;
        let docs = std::mem::take(&mut step.docs);
        let sources = match (&step.urls, &step.from) {
            (Some(checksum), _) => {
                Sources::Downloads(self.download(&step.sources, checksum.as_ref(), source, span)?)
            }
            (None, _) if !docs.is_empty() => Sources::Inline(docs),
            (None, Some(name)) => Sources::Stage {
                built: Box::new(self.stage_or_image(state, name, FromFlag::Copy, span, events)?),
                name: name.clone(),
            },
            (None, None) => Sources::Context(
                self.context
                    .select(&step.sources, &skip, step.parents)
                    .map_err(fail)?,
            ),
        };
        // The key covers what is copied: the content of context sources, or the key of
        // the stage or image they come from, or the heredoc bodies, or the downloads.
        let (content, files) = match &sources {
            Sources::Downloads(downloads) => (downloads.key.clone(), BTreeMap::new()),
            Sources::Inline(docs) => (
                KeyBuilder::new("heredocs")
                    .field("docs", &serde_json::to_vec(docs).unwrap_or_default())
                    .finish()
                    .0,
                BTreeMap::new(),
            ),
            Sources::Stage { built, .. } => (built.key.0.clone(), BTreeMap::new()),
            Sources::Context(set) => self.exec.digest(set).map_err(fail)?,
        };
        let inputs = KeyInputs {
            kind: step.keyword,
            text: step.text.clone(),
            content: content.as_str().as_bytes().to_vec(),
            files,
            // A COPY reads its parent only to resolve `--chown` names (numeric ids need
            // no lookup) and its destination.
            rebasable: Some(ParentReads {
                users: step
                    .chown
                    .iter()
                    .filter(|owner| owner.split(':').any(|id| id.parse::<u32>().is_err()))
                    .cloned()
                    .collect(),
                path: step.dest.clone(),
            }),
        };
        let probe = self.exec.probe(state, number, inputs, events)?;
        let store = self.store;
        self.exec.execute(state, probe, |exec, state| {
            exec.mutate_rootfs(state, |root| {
                let chown = match &step.chown {
                    None => None,
                    Some(spec) => {
                        Some(resolve_chown(root, spec).map_err(|e| source.error(span, e))?)
                    }
                };
                let opts = copy::CopyOptions {
                    chown,
                    chmod: step.chmod.clone(),
                    unpack_archives: step.unpack,
                };
                let dest = Path::new(&step.dest);
                match sources {
                    Sources::Downloads(downloads) => {
                        let dir = downloads.dir.path();
                        let from_root = Root::open(dir).map_err(io_err(dir))?;
                        let set = SourceSet::from_root(
                            &from_root,
                            dir,
                            &downloads.files,
                            &skip,
                            false,
                            "downloads",
                        )
                        .map_err(fail)?;
                        copy::copy(&set, root, dest, &opts).map_err(fail)?;
                    }
                    Sources::Inline(docs) => {
                        copy::copy(&SourceSet::inline(docs), root, dest, &opts).map_err(fail)?;
                    }
                    Sources::Stage { built, name } => {
                        let dirs = StepDirs::new(store)?;
                        let overlay = dirs.mount(&built.lower_dirs())?;
                        let from_root = Root::open(overlay.target()).map_err(io_err(&dirs.mnt))?;
                        let place = format!("stage or image {name:?}");
                        let set = SourceSet::from_root(
                            &from_root,
                            &dirs.mnt,
                            &step.sources,
                            &skip,
                            step.parents,
                            &place,
                        )
                        .map_err(fail)?;
                        copy::copy(&set, root, dest, &opts).map_err(fail)?;
                    }
                    Sources::Context(set) => {
                        copy::copy(&set, root, dest, &opts).map_err(fail)?;
                    }
                }
                Ok(())
            })
        })
    }

    /// Downloads the URL `sources` of an ADD into a temp dir of the store, each checked
    /// against `--checksum` when given.
    fn download(
        &self,
        sources: &[String],
        expected: Option<&Digest>,
        source: &crate::dockerfile::Source,
        span: Span,
    ) -> Result<Downloads, BuildError> {
        let dir = self.store.temp_dir()?;
        let mut files = Vec::new();
        let mut key = KeyBuilder::new("urls");
        for (i, url) in sources.iter().enumerate() {
            let name = fetch::file_name(url);
            let sub = dir.path().join(i.to_string());
            std::fs::create_dir(&sub).map_err(io_err(&sub))?;
            let digest = fetch::download(url, &sub.join(&name), expected)
                .map_err(|e| BuildError::from(source.error(span, format!("ADD: {e}"))))?;
            key = key
                .field("url", url.as_bytes())
                .field("digest", digest.as_str().as_bytes());
            files.push(format!("{i}/{name}"));
        }
        Ok(Downloads {
            dir,
            files,
            key: key.finish().0,
        })
    }
}

/// Resolves `--chown=user[:group]` as docker does: names through the image's passwd and
/// group files; a user without a group gets the gid equal to its uid.
fn resolve_chown(root: &Root, spec: &str) -> Result<(u32, u32), String> {
    let resolved = sandbox::resolve_user(root, spec)?;
    if spec.contains(':') {
        Ok((resolved.uid, resolved.gid))
    } else {
        Ok((resolved.uid, resolved.uid))
    }
}
