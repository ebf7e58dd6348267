//! Image families: `strata.toml` + FROM lines -> [`Family`] (images, tiers, parents) ->
//! [`Plan`] (ordered build waves).
//!
//! A family is a folder with a `strata.toml` naming its images, each with a tier and a
//! context folder holding its Dockerfile. [`Family::load`] reads the file, parses every
//! Dockerfile and infers parents: a FROM, `COPY --from` or `RUN --mount=...,from=` that
//! names another image of the family (after ARG expansion) makes that image a parent;
//! anything else that is not a stage or `scratch` is an external base. It refuses unknown
//! keys and tiers, images built on a higher tier, and cycles, each with the file, line and
//! column of the cause. A reference names a family image when its repository and tag are
//! one of the image's tags or `refs`, also under the family registry (`FROM jre`,
//! `FROM jre:1.4` with version 1.4, `FROM localhost:5000/acme/jre`,
//! `FROM buildpack-deps:bookworm-curl` with that ref; see [`names`]); a digest reference
//! never does, and a name two images claim is an error naming both.
//!
//! [`Plan`] orders images into waves that can be built in parallel, [`render`] draws the
//! family and the plan for people (tree), graphviz (dot) and machines (JSON), and
//! [`changed_since`] maps the files git sees changed to the images they affect.
//!
//! The file, in full:
//!
//! ```toml
//! tiers = ["base", "runtime", "middleware", "app"]   # optional, lowest first
//! # or: [tiers] order = [...]; the default is base < runtime < app
//!
//! [family]
//! name = "acme"
//! version = "1.4"                  # optional: images are also tagged NAME:1.4
//! registry = "localhost:5000/acme" # optional: FROM localhost:5000/acme/base is the family's base
//! build_args = { MIRROR = "..." }  # optional: every image gets them
//!
//! [images.jre]
//! tier = "runtime"
//! context = "runtimes/jre"         # default: the folder named like the image
//! dockerfile = "Dockerfile.jre"    # relative to the context; default Dockerfile, else Containerfile
//! tags = ["17", "localhost:5000/acme/jre:17"]  # extra tags: a bare tag is NAME:tag
//! refs = ["openjdk:17-jre"]        # what the family's Dockerfiles call it (tagged locally)
//! build_args = { JAVA = 17 }
//! target = "runtime"               # stage to build; default: the last
//! platform = "linux/amd64"
//! user = "app"                     # policy fields, checked by lint and audit;
//! max_size = "200MB"               # they override the tier's [policy.TIER]
//! min_efficiency = 0.95
//! max_wasted = "10MB"
//!
//! [policy.app]
//! user = "app"
//! max_size = "300MB"
//! ```

mod git;
mod infer;
pub mod lock;
mod manifest;
mod names;
pub mod plan;
pub mod render;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::dockerfile::{Dockerfile, DockerfileError, Source, Span};

pub use git::changed_since;
pub use infer::{RefKind, Reference};
pub use lock::{Lock, Pin, LOCK};
pub use manifest::{ByteSize, Efficiency, Policy};
pub use names::same_reference;
pub use plan::Plan;

use infer::RootBase;
use manifest::Manifest;
use names::Names;

/// The family file's name, at the family's root.
pub const MANIFEST: &str = "strata.toml";

/// The tiers when `strata.toml` declares none, lowest first.
pub const DEFAULT_TIERS: [&str; 3] = ["base", "runtime", "app"];

/// Why a family could not be loaded or planned.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum FamilyError {
    /// `strata.toml` could not be read.
    #[error("cannot read {}", path.display())]
    #[diagnostic(help("a family folder holds a strata.toml naming its images"))]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// A problem in `strata.toml`, with its line and column (the Dockerfile module's
    /// located error serves any text file).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Manifest(Box<DockerfileError>),
    /// A problem in one of the family's Dockerfiles, with its line and column.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Dockerfile(Box<DockerfileError>),
    /// `--only` (or a caller) named an image the family does not have.
    #[error("family {family} has no image named {name:?}")]
    #[diagnostic(help("its images are: {known}"))]
    UnknownImage {
        /// The name asked for.
        name: String,
        /// The family's name.
        family: String,
        /// The images it has, comma separated.
        known: String,
    },
    /// A git command failed (for `--changed-since`).
    #[error("git {args} (in {}) failed: {message}", dir.display())]
    Git {
        /// Where it ran.
        dir: PathBuf,
        /// Its arguments.
        args: String,
        /// Its error output.
        message: String,
    },
}

/// A loaded family: its settings and its images with their inferred parents.
#[derive(Clone, Debug)]
pub struct Family {
    /// The folder holding `strata.toml`, as given.
    pub root: PathBuf,
    /// The text of `strata.toml` (for errors that point into it, e.g. lint findings).
    pub manifest: Source,
    /// `[family] name`.
    pub name: String,
    /// `[family] version`: images are also tagged `NAME:VERSION`.
    pub version: Option<String>,
    /// `[family] registry`: where the images are pushed; `REGISTRY/NAME` also names a
    /// family image in a FROM.
    pub registry: Option<String>,
    /// Tier names, lowest first.
    pub tiers: Vec<String>,
    /// `[policy.TIER]` tables, by tier.
    pub tier_policies: BTreeMap<String, Policy>,
    /// The images, by name.
    pub images: BTreeMap<String, Image>,
    /// What each image answers to in a Dockerfile.
    names: Names,
}

/// One image of a family.
#[derive(Clone, Debug)]
pub struct Image {
    /// Its name (the `[images.NAME]` key); it is tagged `NAME:latest`.
    pub name: String,
    /// Its tier.
    pub tier: String,
    /// The build context folder (the family root joined with `context`).
    pub context: PathBuf,
    /// The Dockerfile (or Containerfile).
    pub dockerfile: PathBuf,
    /// Extra tags as written in `tags` (see [`Family::tags`]).
    pub tags: Vec<String>,
    /// The references that mean it in the family's Dockerfiles, as written in `refs`
    /// (besides its tags); they are tagged in the local store, not pushed.
    pub refs: Vec<String>,
    /// Build args: the family's, overridden by the image's.
    pub build_args: BTreeMap<String, String>,
    /// The stage to build, if not the last.
    pub target: Option<String>,
    /// The platforms to build for: its own `platform`/`platforms`, else the family's
    /// (none: the build's `--platform`, else this host's).
    pub platforms: Vec<crate::platform::Platform>,
    /// The policy: the image's own fields over its tier's `[policy.TIER]`.
    pub policy: Policy,
    /// Where `[images.NAME]` is in `strata.toml` (its key).
    pub entry: Span,
    /// The parsed Dockerfile.
    pub parsed: Dockerfile,
    /// Every image reference of the stages the target needs, in file order.
    pub references: Vec<Reference>,
    /// Family images this one needs (FROM ones first, then `--from` ones), unique.
    pub parents: Vec<String>,
    /// References to images outside the family (registry images), unique, in order.
    pub external_bases: Vec<String>,
    /// What the built image's root filesystem starts from (for the base annotations).
    pub base: Base,
    /// Family images that need this one, sorted.
    pub children: Vec<String>,
}

/// What an image's final stage is ultimately built FROM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Base {
    /// `FROM scratch`.
    Scratch,
    /// A family image, by name.
    Family(String),
    /// An image outside the family, as referenced (expanded).
    External(String),
}

impl Family {
    /// Reads `DIR/strata.toml`, parses every image's Dockerfile and infers parents.
    pub fn load(dir: &Path) -> Result<Family, FamilyError> {
        let path = dir.join(MANIFEST);
        let bytes = std::fs::read(&path).map_err(|source| FamilyError::Read {
            path: path.clone(),
            source,
        })?;
        let text = crate::dockerfile::decode(&path, bytes)
            .map_err(|e| FamilyError::Manifest(Box::new(e)))?;
        let source = Source::new(path, text);
        let manifest: Manifest = toml::from_str(&source.text).map_err(|e| {
            let at = e.span().unwrap_or(0..0);
            manifest_error(&source, &at, e.message().trim())
        })?;
        Loader {
            root: dir,
            source: &source,
        }
        .family(manifest)
    }

    /// The image called `name`, or [`FamilyError::UnknownImage`].
    pub fn image(&self, name: &str) -> Result<&Image, FamilyError> {
        self.images
            .get(name)
            .ok_or_else(|| FamilyError::UnknownImage {
                name: name.to_owned(),
                family: self.name.clone(),
                known: self.images.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }

    /// The position of `tier` in the tier order (0 = lowest), if it is a tier.
    pub fn tier_rank(&self, tier: &str) -> Option<usize> {
        self.tiers.iter().position(|t| t == tier)
    }

    /// The family image a reference written in a Dockerfile names, if any: one whose
    /// tags or refs have the reference's repository and tag (see [`names`]). Digest
    /// references pin an exact image, so they are never family images.
    pub fn image_for_reference(&self, reference: &str) -> Option<&str> {
        self.names.image(reference)
    }

    /// For a reference that names no family image but looks like one (`jer` for `jre`,
    /// a tag the image does not have): the family name it probably meant, and the image.
    pub fn suggestion(&self, reference: &str) -> Option<(String, &str)> {
        self.names.suggestion(reference)
    }

    /// [`Family::suggestion`] as the "did you mean" hint of an error or finding.
    pub fn did_you_mean(&self, reference: &str) -> Option<String> {
        let (name, image) = self.names.suggestion(reference)?;
        Some(format!(
            "did you mean {name}? image {image} of family {} answers to {}",
            self.name,
            self.names.of_image(image).join(", ")
        ))
    }

    /// The tags a build of `image` gets: `NAME:latest`, `NAME:VERSION` when the family
    /// has a version, then its extra `tags` (a bare tag is `NAME:TAG`).
    pub fn tags(&self, image: &Image) -> Vec<String> {
        let mut tags = vec![format!("{}:latest", image.name)];
        tags.extend(self.version.iter().map(|v| format!("{}:{v}", image.name)));
        for tag in &image.tags {
            let full = if tag.contains([':', '/']) {
                tag.clone()
            } else {
                format!("{}:{tag}", image.name)
            };
            if !tags.contains(&full) {
                tags.push(full);
            }
        }
        tags
    }

    /// The tags a build of `image` gets in the local store: [`Family::tags`] and its
    /// `refs` (a ref without a tag is `REF:latest`), so a build of one member alone, or a
    /// `strata run`, finds the image under the name the family's Dockerfiles use.
    pub fn local_tags(&self, image: &Image) -> Vec<String> {
        let mut tags = self.tags(image);
        for reference in &image.refs {
            let slash = reference.rfind('/').map_or(0, |i| i + 1);
            let full = if reference[slash..].contains(':') {
                reference.clone()
            } else {
                format!("{reference}:latest")
            };
            if !tags.contains(&full) {
                tags.push(full);
            }
        }
        tags
    }

    /// The images built on the external image `reference`: those whose Dockerfiles
    /// name it, and every image below them.
    pub fn images_on(&self, reference: &str) -> BTreeSet<String> {
        let direct: Vec<&str> = self
            .images
            .values()
            .filter(|i| {
                i.external_bases
                    .iter()
                    .any(|r| names::same_reference(r, reference))
            })
            .map(|i| i.name.as_str())
            .collect();
        self.descendants(direct)
    }

    /// `names` and every image they need, transitively.
    pub fn ancestors<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
        self.closure(names, |image| &image.parents)
    }

    /// `names` and every image that needs them, transitively.
    pub fn descendants<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
        self.closure(names, |image| &image.children)
    }

    fn closure<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
        next: impl Fn(&Image) -> &Vec<String>,
    ) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&str> = names.into_iter().collect();
        while let Some(name) = todo.pop() {
            if let Some(image) = self.images.get(name) {
                if seen.insert(name.to_owned()) {
                    todo.extend(next(image).iter().map(String::as_str));
                }
            }
        }
        seen
    }

    /// `path` relative to the family root when it is inside, for display.
    pub fn display_path(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }
}

/// An error at byte range `at` of `strata.toml`.
fn manifest_error(source: &Source, at: &Range<usize>, message: impl Into<String>) -> FamilyError {
    let span = source.span_at(at.start, at.len());
    FamilyError::Manifest(Box::new(source.error(span, message)))
}

/// Docker's rule for a repository path component, so that `NAME:latest` is a valid tag.
fn valid_image_name(name: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    name.starts_with(alnum)
        && name.ends_with(alnum)
        && name
            .chars()
            .all(|c| alnum(c) || matches!(c, '.' | '_' | '-'))
        && !name.contains("..")
}

/// The hint for an unknown tier name.
fn tiers_hint(tiers: &[String]) -> String {
    format!(
        "the tiers are {}; declare others with tiers = [...]",
        tiers.join(" < ")
    )
}

/// The state of one [`Family::load`].
struct Loader<'a> {
    root: &'a Path,
    source: &'a Source,
}

impl Loader<'_> {
    fn error(&self, at: &Range<usize>, message: impl Into<String>) -> FamilyError {
        manifest_error(self.source, at, message)
    }

    /// A platform list of strata.toml (`--platform`'s syntax), each checked; an error
    /// points at `at`.
    fn platforms(
        &self,
        at: &Range<usize>,
        text: &str,
    ) -> Result<Vec<crate::platform::Platform>, FamilyError> {
        let platforms = crate::platform::Platform::parse_list(text)
            .map_err(|e| self.error(at, e.to_string()))?;
        Ok(platforms)
    }

    fn family(&self, manifest: Manifest) -> Result<Family, FamilyError> {
        let tiers = self.tiers(&manifest)?;
        let mut tier_policies = BTreeMap::new();
        for (tier, policy) in manifest.policy {
            if !tiers.contains(tier.get_ref()) {
                return Err(self
                    .error(
                        &tier.span(),
                        format!("unknown tier {:?} in [policy.{tier}]", tier.get_ref()),
                    )
                    .hint(tiers_hint(&tiers)));
            }
            tier_policies.insert(tier.into_inner(), Policy::from(policy));
        }
        let family_args: BTreeMap<String, String> = manifest
            .family
            .build_args
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        let family_platforms = match &manifest.family.platforms {
            Some(list) => self.platforms(&list.span(), &list.get_ref().joined())?,
            None => Vec::new(),
        };
        let mut images = BTreeMap::new();
        // Where each image's tags and refs are written, for an ambiguous name.
        let mut written: BTreeMap<String, Vec<(String, Range<usize>)>> = BTreeMap::new();
        for (key, entry) in manifest.images {
            let section = entry.get_ref();
            written.insert(
                key.get_ref().clone(),
                section
                    .tags
                    .iter()
                    .chain(&section.refs)
                    .map(|t| (t.get_ref().clone(), t.span()))
                    .collect(),
            );
            let mut image = self.image(&key, entry, &tiers, &tier_policies, &family_args)?;
            if image.platforms.is_empty() {
                image.platforms.clone_from(&family_platforms);
            }
            images.insert(key.into_inner(), image);
        }

        let mut family = Family {
            root: self.root.to_owned(),
            manifest: self.source.clone(),
            name: manifest.family.name,
            version: manifest.family.version,
            registry: manifest.family.registry,
            tiers,
            tier_policies,
            images,
            names: Names::default(),
        };
        family.names = self.names(&family, &written)?;
        link(&mut family);
        check_tiers(&family)?;
        check_cycles(&family)?;
        Ok(family)
    }

    /// What every image answers to: its local tags (see [`Family::local_tags`]), each
    /// claimed where it is written (`written`: tags and refs by image, with their spans;
    /// the implicit `NAME:latest` and `NAME:VERSION` at the image's key). A name two
    /// images claim is an error naming both.
    fn names(
        &self,
        family: &Family,
        written: &BTreeMap<String, Vec<(String, Range<usize>)>>,
    ) -> Result<Names, FamilyError> {
        let mut names = Names::default();
        for image in family.images.values() {
            let spans = written.get(&image.name).map_or(&[][..], Vec::as_slice);
            for tag in family.local_tags(image) {
                let Err(clash) = names.claim(&image.name, &tag, family.registry.as_deref()) else {
                    continue;
                };
                let at = spans
                    .iter()
                    .find(|(w, _)| *w == tag || format!("{}:{w}", image.name) == tag)
                    .map_or_else(
                        || {
                            let entry = image.entry;
                            entry.offset..entry.offset + entry.len
                        },
                        |(_, span)| span.clone(),
                    );
                return Err(self
                    .error(
                        &at,
                        format!(
                            "{} names two images: {} and {}",
                            clash.name, clash.first, clash.second
                        ),
                    )
                    .hint("a reference must mean one image: keep it in the tags or refs of only one of them"));
            }
        }
        Ok(names)
    }

    /// One `[images.NAME]` entry: checked, its Dockerfile parsed, its references found
    /// (parents are sorted out once every image is known).
    fn image(
        &self,
        key: &toml::Spanned<String>,
        entry: toml::Spanned<manifest::ImageSection>,
        tiers: &[String],
        tier_policies: &BTreeMap<String, Policy>,
        family_args: &BTreeMap<String, String>,
    ) -> Result<Image, FamilyError> {
        let entry_span = entry.span();
        let entry = entry.into_inner();
        let name = key.get_ref().clone();
        if !valid_image_name(&name) {
            return Err(self
                .error(&key.span(), format!("invalid image name {name:?}"))
                .hint("image names use lowercase letters, digits and . _ - (as docker repository names do)"));
        }
        let tier = entry.tier.get_ref().clone();
        if !tiers.contains(&tier) {
            return Err(self
                .error(
                    &entry.tier.span(),
                    format!("unknown tier {tier:?} for image {name}"),
                )
                .hint(tiers_hint(tiers)));
        }
        let (context, dockerfile) = self.locate(&name, &entry, &entry_span)?;
        let mut refs = Vec::new();
        for reference in &entry.refs {
            let text = reference.get_ref().trim();
            if text.is_empty() || text.contains('@') || text.contains(char::is_whitespace) {
                return Err(self
                    .error(&reference.span(), format!("invalid ref {text:?} for image {name}"))
                    .hint("a ref is a repository with an optional tag, as a FROM names it (buildpack-deps:bookworm-curl); a digest already names one exact image"));
            }
            refs.push(text.to_owned());
        }
        let parsed = crate::dockerfile::parse_file(&dockerfile)
            .map_err(|e| FamilyError::Dockerfile(Box::new(e)))?;
        let target = match &entry.target {
            Some(t) => Some(
                parsed
                    .stage_by_name(t.get_ref())
                    .map(|s| s.index)
                    .ok_or_else(|| {
                        self.error(
                            &t.span(),
                            format!("no stage {:?} in {}", t.get_ref(), dockerfile.display()),
                        )
                    })?,
            ),
            None => None,
        };
        let mut build_args = family_args.clone();
        build_args.extend(
            entry
                .build_args
                .iter()
                .map(|(k, v)| (k.clone(), v.0.clone())),
        );
        let (references, root_base) = infer::references(&parsed, &build_args, target)?;
        let platforms = match (&entry.platform, &entry.platforms) {
            (Some(_), Some(list)) => {
                return Err(self.error(&list.span(), "give either platform or platforms, not both"))
            }
            (Some(one), None) => self.platforms(&one.span(), one.get_ref())?,
            (None, Some(list)) => self.platforms(&list.span(), &list.get_ref().joined())?,
            (None, None) => Vec::new(),
        };
        let policy = entry
            .policy()
            .or(tier_policies.get(&tier).unwrap_or(&Policy::default()));
        Ok(Image {
            name,
            tier,
            context,
            dockerfile,
            tags: entry.tags.iter().map(|t| t.get_ref().clone()).collect(),
            refs,
            build_args,
            target: entry.target.map(toml::Spanned::into_inner),
            platforms,
            policy,
            entry: self.source.span_at(key.span().start, key.span().len()),
            parsed,
            references,
            parents: Vec::new(),
            external_bases: Vec::new(),
            base: match root_base {
                RootBase::Scratch => Base::Scratch,
                RootBase::Image(reference) => Base::External(reference),
            },
            children: Vec::new(),
        })
    }

    /// The tier order: declared, or the default.
    fn tiers(&self, manifest: &Manifest) -> Result<Vec<String>, FamilyError> {
        let Some(declared) = &manifest.tiers else {
            return Ok(DEFAULT_TIERS.map(str::to_owned).to_vec());
        };
        if declared.get_ref().0.is_empty() {
            return Err(self.error(&declared.span(), "the tier list is empty"));
        }
        let mut tiers: Vec<String> = Vec::new();
        for tier in &declared.get_ref().0 {
            if tier.get_ref().trim().is_empty() {
                return Err(self.error(&tier.span(), "a tier name cannot be empty"));
            }
            if tiers.contains(tier.get_ref()) {
                return Err(self.error(
                    &tier.span(),
                    format!("tier {:?} is listed twice", tier.get_ref()),
                ));
            }
            tiers.push(tier.get_ref().clone());
        }
        Ok(tiers)
    }

    /// The context folder and Dockerfile of an image entry; both must exist.
    fn locate(
        &self,
        name: &str,
        entry: &manifest::ImageSection,
        entry_span: &Range<usize>,
    ) -> Result<(PathBuf, PathBuf), FamilyError> {
        let (context, context_span) = match &entry.context {
            Some(c) => (self.root.join(c.get_ref()), c.span()),
            None => (self.root.join(name), entry_span.clone()),
        };
        if !context.is_dir() {
            return Err(self
                .error(
                    &context_span,
                    format!(
                        "context folder {} of image {name} does not exist",
                        context.display()
                    ),
                )
                .hint("set context = \"path/to/folder\" (relative to strata.toml)"));
        }
        let dockerfile = match &entry.dockerfile {
            Some(d) => {
                let path = context.join(d.get_ref());
                if !path.is_file() {
                    return Err(self.error(
                        &d.span(),
                        format!(
                            "Dockerfile {} of image {name} does not exist",
                            path.display()
                        ),
                    ));
                }
                path
            }
            None => crate::dockerfile::default_in(&context).ok_or_else(|| {
                self.error(
                    entry_span,
                    format!("no Dockerfile or Containerfile in {}", context.display()),
                )
                .hint("add one, or set dockerfile = \"NAME\" (relative to the context)")
            })?,
        };
        Ok((context, dockerfile))
    }
}

impl FamilyError {
    /// The same error with a hint, for located errors (others are returned unchanged).
    #[must_use]
    fn hint(self, hint: impl Into<String>) -> Self {
        match self {
            FamilyError::Manifest(e) => FamilyError::Manifest(Box::new(e.with_hint(hint))),
            FamilyError::Dockerfile(e) => FamilyError::Dockerfile(Box::new(e.with_hint(hint))),
            other => other,
        }
    }
}

/// Sorts every image's references into family parents and external bases, and fills in
/// children and the family base.
fn link(family: &mut Family) {
    let mut edges = Vec::new();
    let mut updates = Vec::new();
    for image in family.images.values() {
        let mut from = Vec::new();
        let mut others = Vec::new();
        let mut external = Vec::new();
        for reference in &image.references {
            match family.image_for_reference(&reference.name) {
                Some(parent) => {
                    let list = if reference.kind == RefKind::From {
                        &mut from
                    } else {
                        &mut others
                    };
                    list.push(parent.to_owned());
                }
                None => external.push(reference.name.clone()),
            }
        }
        let mut parents: Vec<String> = Vec::new();
        for parent in from.into_iter().chain(others) {
            if !parents.contains(&parent) {
                edges.push((parent.clone(), image.name.clone()));
                parents.push(parent);
            }
        }
        let mut unique: Vec<String> = Vec::new();
        for name in external {
            if !unique.contains(&name) {
                unique.push(name);
            }
        }
        let base = match &image.base {
            Base::External(reference) => match family.image_for_reference(reference) {
                Some(parent) => Base::Family(parent.to_owned()),
                None => Base::External(reference.clone()),
            },
            other => other.clone(),
        };
        updates.push((image.name.clone(), parents, unique, base));
    }
    for (name, parents, external, base) in updates {
        let image = family.images.get_mut(&name).expect("image just listed");
        image.parents = parents;
        image.external_bases = external;
        image.base = base;
    }
    for (parent, child) in edges {
        if let Some(p) = family.images.get_mut(&parent) {
            p.children.push(child);
        }
    }
    for image in family.images.values_mut() {
        image.children.sort();
    }
}

/// The first reference of `image` that names family image `parent`.
fn reference_to<'a>(family: &Family, image: &'a Image, parent: &str) -> &'a Reference {
    image
        .references
        .iter()
        .find(|r| family.image_for_reference(&r.name) == Some(parent))
        .expect("every parent comes from a reference")
}

/// An image may only build on images of its own or a lower tier.
fn check_tiers(family: &Family) -> Result<(), FamilyError> {
    for image in family.images.values() {
        let rank = family.tier_rank(&image.tier);
        for parent in &image.parents {
            let parent_tier = &family.images[parent].tier;
            if family.tier_rank(parent_tier) > rank {
                let reference = reference_to(family, image, parent);
                let err = image.parsed.source.error(
                    reference.span,
                    format!(
                        "image {} (tier {}) is built {} {parent}, of the higher tier {parent_tier}",
                        image.name,
                        image.tier,
                        reference.kind.describe(),
                    ),
                );
                return Err(FamilyError::Dockerfile(Box::new(err)).hint(format!(
                    "tiers are ordered {}: an image builds only on images of its own or a lower tier",
                    family.tiers.join(" < ")
                )));
            }
        }
    }
    Ok(())
}

/// Refuses a cycle of parents, naming the chain at the reference that closes it.
fn check_cycles(family: &Family) -> Result<(), FamilyError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Active,
        Done,
    }
    fn visit<'a>(
        family: &'a Family,
        name: &'a str,
        marks: &mut BTreeMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
    ) -> Result<(), FamilyError> {
        match marks.get(name) {
            Some(Mark::Done) => return Ok(()),
            Some(Mark::Active) => unreachable!("callers check active parents"),
            None => {}
        }
        marks.insert(name, Mark::Active);
        stack.push(name);
        let image = &family.images[name];
        for parent in &image.parents {
            if marks.get(parent.as_str()) == Some(&Mark::Active) {
                let start = stack.iter().position(|n| n == parent).unwrap_or(0);
                let mut chain: Vec<&str> = stack[start..].to_vec();
                chain.push(parent);
                let reference = reference_to(family, image, parent);
                let err = image.parsed.source.error(
                    reference.span,
                    format!(
                        "cycle between family images: {} (each built from the next)",
                        chain.join(" -> ")
                    ),
                );
                return Err(FamilyError::Dockerfile(Box::new(err)));
            }
            visit(family, parent, marks, stack)?;
        }
        stack.pop();
        marks.insert(name, Mark::Done);
        Ok(())
    }
    let mut marks = BTreeMap::new();
    for name in family.images.keys() {
        visit(family, name, &mut marks, &mut Vec::new())?;
    }
    Ok(())
}
