//! What one Dockerfile needs from outside itself: every image named by a FROM,
//! `COPY --from` or `RUN --mount=...,from=` of the stages the build target needs.
//!
//! [`references`] expands those names as the builder will (global ARGs with the image's
//! build args for FROM; the stage's ARG and ENV values for `--from`), drops stage names
//! and `scratch`, and keeps where each was written. Whether a name is a family image or
//! an external one is the family's business ([`super::Family::load`]).

use std::collections::BTreeMap;

use crate::dockerfile::args::{target_stage_name, ArgScope};
use crate::dockerfile::{expand, Dockerfile, Instruction, Span, Stage};

use super::FamilyError;

/// How a Dockerfile refers to an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RefKind {
    /// `FROM image`: the image is a base layer of a stage.
    From,
    /// `COPY --from=image`: files are copied out of it.
    CopyFrom,
    /// `RUN --mount=...,from=image`: it is mounted during a RUN.
    MountFrom,
}

impl RefKind {
    /// The instruction as a user would write it, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            RefKind::From => "FROM",
            RefKind::CopyFrom => "COPY --from",
            RefKind::MountFrom => "RUN --mount from",
        }
    }
}

/// One image a Dockerfile refers to, expanded, and where.
#[derive(Clone, Debug, PartialEq)]
pub struct Reference {
    /// The image reference after ARG expansion (`jre`, `localhost:5000/tools/alpine:3.20`).
    pub name: String,
    /// How it is used.
    pub kind: RefKind,
    /// The instruction (or `--mount` flag) that names it.
    pub span: Span,
}

/// What the target stage is ultimately built on, following FROMs through earlier stages.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum RootBase {
    /// `FROM scratch`.
    Scratch,
    /// An image reference (expanded).
    Image(String),
}

/// The references of the stages needed to build `target` (a stage index; the last stage
/// when `None`), in file order, plus the root base of the target stage.
pub(super) fn references(
    dockerfile: &Dockerfile,
    build_args: &BTreeMap<String, String>,
    target: Option<usize>,
) -> Result<(Vec<Reference>, RootBase), FamilyError> {
    let target_name = target.map(|i| {
        let stage = &dockerfile.stages[i];
        stage.name.clone().unwrap_or_else(|| i.to_string())
    });
    let stage_name = target_stage_name(dockerfile, target_name.as_deref());
    // References are read as a build on this host for this host would expand them.
    let host = crate::platform::Platform::host();
    let predefined = crate::dockerfile::args::platform_args(&host, &host);
    let globals =
        ArgScope::global(dockerfile, build_args, &stage_name, predefined).map_err(located)?;
    let mut per_stage = Vec::with_capacity(dockerfile.stages.len());
    for stage in &dockerfile.stages {
        per_stage.push(stage_uses(dockerfile, stage, build_args, &globals)?);
    }
    let target = target.unwrap_or(dockerfile.stages.len() - 1);

    // Only the stages the target needs count, as BuildKit skips the others.
    let mut needed = vec![false; dockerfile.stages.len()];
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if !std::mem::replace(&mut needed[i], true) {
            todo.extend(per_stage[i].stages.iter().copied());
        }
    }
    let references = per_stage
        .iter()
        .zip(&needed)
        .filter(|(_, &n)| n)
        .flat_map(|(uses, _)| uses.images.iter().cloned())
        .collect();

    let mut stage = target;
    let base = loop {
        match &per_stage[stage].base {
            Use::Stage(i) => stage = *i,
            Use::Scratch => break RootBase::Scratch,
            Use::Image(name) => break RootBase::Image(name.clone()),
        }
    };
    Ok((references, base))
}

/// What a name used by a stage resolves to.
enum Use {
    /// A stage of the same Dockerfile, by index.
    Stage(usize),
    /// `scratch`.
    Scratch,
    /// An image reference.
    Image(String),
}

/// The stages and images one stage uses.
struct StageUses {
    base: Use,
    stages: Vec<usize>,
    images: Vec<Reference>,
}

fn stage_uses(
    dockerfile: &Dockerfile,
    stage: &Stage,
    build_args: &BTreeMap<String, String>,
    globals: &ArgScope,
) -> Result<StageUses, FamilyError> {
    let source = &dockerfile.source;
    let expand_in = |scope: &ArgScope, raw: &str, span: Span| {
        expand::word(raw, dockerfile.escape, &|n| scope.get(n).map(str::to_owned))
            .map_err(|e| located(source.error(span, e.0)))
    };
    let base_name = expand_in(globals, &stage.base, stage.span)?;
    if base_name.is_empty() {
        return Err(located(source
            .error(stage.span, format!("FROM {} expands to an empty image name", stage.base))
            .with_hint("declare the ARG with a default before the first FROM, or set it in the image's build_args")));
    }
    let mut uses = StageUses {
        base: Use::Scratch,
        stages: Vec::new(),
        images: Vec::new(),
    };
    uses.base = resolve(dockerfile, &base_name, Some(stage.index));
    match &uses.base {
        Use::Stage(i) => uses.stages.push(*i),
        Use::Scratch => {}
        Use::Image(name) => uses.images.push(Reference {
            name: name.clone(),
            kind: RefKind::From,
            span: stage.span,
        }),
    }

    // The names `--from` may use: the stage's ARGs (and ENVs it sets itself; the base
    // image's ENV is unknown before it is built).
    let mut scope = ArgScope::default();
    for instruction in &stage.instructions {
        let span = instruction.span;
        match &instruction.value {
            Instruction::Arg(decls) => {
                for decl in decls {
                    let default = decl
                        .default
                        .as_deref()
                        .map(|raw| expand_in(&scope, raw, span))
                        .transpose()?;
                    scope.declare(&decl.name, default, build_args, globals);
                }
            }
            Instruction::Env(pairs) => {
                for (key, value) in pairs {
                    let value = expand_in(&scope, value, span)?;
                    scope.set(&expand_in(&scope, key, span)?, value);
                }
            }
            Instruction::Copy(c) | Instruction::Add(c) => {
                if let Some(raw) = &c.from {
                    let name = expand_in(&scope, raw, span)?;
                    add(&mut uses, dockerfile, stage, RefKind::CopyFrom, name, span);
                }
            }
            Instruction::Run(run) => {
                for flag in run.flags.iter().filter(|f| f.name == "mount") {
                    let value = expand_in(&scope, &flag.value, flag.span)?;
                    if let Some(from) = mount_from(&value) {
                        add(
                            &mut uses,
                            dockerfile,
                            stage,
                            RefKind::MountFrom,
                            from,
                            flag.span,
                        );
                    }
                }
            }
            _ => {}
        }
    }
    Ok(uses)
}

/// A Dockerfile error as a family error.
fn located(err: crate::dockerfile::DockerfileError) -> FamilyError {
    FamilyError::Dockerfile(Box::new(err))
}

/// Records a `--from` name as a stage or image use.
fn add(
    uses: &mut StageUses,
    dockerfile: &Dockerfile,
    stage: &Stage,
    kind: RefKind,
    name: String,
    span: Span,
) {
    // A stage may not copy from itself; the builder reports that, here it is no edge.
    match resolve(dockerfile, &name, None) {
        Use::Stage(i) if i != stage.index => uses.stages.push(i),
        Use::Stage(_) | Use::Scratch => {}
        Use::Image(_) => uses.images.push(Reference { name, kind, span }),
    }
}

/// A name as the builder resolves it: a stage (for FROM, only one defined before
/// `before`), `scratch`, or an image reference.
fn resolve(dockerfile: &Dockerfile, name: &str, before: Option<usize>) -> Use {
    if let Some(stage) = dockerfile.stage_by_name(name) {
        if before.is_none_or(|b| stage.index < b) {
            return Use::Stage(stage.index);
        }
    }
    if name.eq_ignore_ascii_case("scratch") {
        Use::Scratch
    } else {
        Use::Image(name.to_owned())
    }
}

/// The `from=` of a `--mount` value (`type=cache,target=/x,from=base`), if any.
fn mount_from(value: &str) -> Option<String> {
    value
        .split(',')
        .filter_map(|field| field.split_once('='))
        .find(|(key, _)| key.trim().eq_ignore_ascii_case("from"))
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn refs(text: &str, args: &[(&str, &str)]) -> (Vec<(String, RefKind, usize)>, RootBase) {
        let df = crate::dockerfile::parse(Path::new("Dockerfile"), text).unwrap();
        let args = args
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let (refs, base) = references(&df, &args, None).unwrap();
        (
            refs.into_iter()
                .map(|r| (r.name, r.kind, r.span.line))
                .collect(),
            base,
        )
    }

    #[test]
    fn stages_and_scratch_are_not_references() {
        let (refs, base) = refs(
            "FROM scratch AS a\nFROM a AS b\nCOPY --from=0 / /\nFROM b\nCOPY --from=a / /\n",
            &[],
        );
        assert!(refs.is_empty(), "{refs:?}");
        assert_eq!(base, RootBase::Scratch);
    }

    #[test]
    fn args_and_mounts() {
        let text = "ARG BASE=jre\nARG TAG\nFROM $BASE${TAG:+:$TAG} AS build\n\
                    RUN --mount=type=cache,target=/c,from=tools true\n\
                    FROM base\nCOPY --from=build /a /a\nCOPY --from=alpine:3 /b /b\n";
        let (found, base) = refs(text, &[("TAG", "1")]);
        assert_eq!(
            found,
            [
                ("jre:1".to_owned(), RefKind::From, 3),
                ("tools".to_owned(), RefKind::MountFrom, 4),
                ("base".to_owned(), RefKind::From, 5),
                ("alpine:3".to_owned(), RefKind::CopyFrom, 7),
            ]
        );
        assert_eq!(base, RootBase::Image("base".into()));
    }

    #[test]
    fn unneeded_stages_are_skipped() {
        let df = crate::dockerfile::parse(
            Path::new("Dockerfile"),
            "FROM base AS one\nFROM jre AS two\nFROM two\n",
        )
        .unwrap();
        let (refs, base) = references(&df, &BTreeMap::new(), Some(0)).unwrap();
        assert_eq!(refs.len(), 1);
        assert_eq!(base, RootBase::Image("base".into()));
    }
}
