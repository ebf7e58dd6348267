//! The rules that look at one Dockerfile's structure: user, base references, ADD and
//! COPY, secrets, command forms, WORKDIR, HEALTHCHECK; the RUN rules are in `run`.
//!
//! [`dockerfile`] walks the stages once, handing each RUN to [`check_run`] with the
//! stage's [`History`]. [`Facts`] about the stages of the final image (packages
//! installed, COPY sources) are kept for the family-wide rules.

use super::context::{Ctx, Out, Role};
use super::packages::{package_name, package_op, Manager};
use super::rules::RuleId;
use super::run::check_run;
use super::script::{History, Script};
use super::shell::Word;
use super::{Finding, Severity};
use crate::dockerfile::{expand, Command, Copy, Dockerfile, Instruction, Span, Stage};
use crate::family::{Base, Family, Image};

/// What the family rules need from one image's final stages.
#[derive(Debug, Default)]
pub(super) struct Facts {
    /// OS and language packages installed: manager, name, word.
    pub installs: Vec<(Manager, String, Word)>,
    /// COPY/ADD from the context: sources (raw) and destination, with the instruction span.
    pub copies: Vec<(Vec<String>, String, Span)>,
}

/// Checks one Dockerfile; findings go to `out`, facts for the family rules are returned.
pub(super) fn dockerfile(df: &Dockerfile, ctx: &Ctx, findings: &mut Vec<Finding>) -> Facts {
    let mut out = Out {
        source: &df.source,
        findings,
    };
    let chain = final_chain(df, ctx.image.and_then(|i| i.target.as_deref()));
    let mut facts = Facts::default();
    for stage in &df.stages {
        let in_final = chain.contains(&stage.index);
        let is_last = chain.first() == Some(&stage.index);
        check_base(df, stage, ctx, &mut out);
        check_stage(df, stage, ctx, in_final, is_last, &mut out, &mut facts);
    }
    check_user(df, &chain, ctx, &mut out);
    facts
}

/// The stage indexes that make up the final image: the target and the stages it is
/// built FROM, target first.
fn final_chain(df: &Dockerfile, target: Option<&str>) -> Vec<usize> {
    let mut stage = match target {
        Some(t) => df.stage_by_name(t),
        None => df.stages.last(),
    };
    let mut chain = Vec::new();
    while let Some(s) = stage {
        if chain.contains(&s.index) {
            break;
        }
        chain.push(s.index);
        stage = df.stage_by_name(&s.base).filter(|p| p.index < s.index);
    }
    chain
}

/// The image a stage's FROM names after global ARG expansion, or None when it is a stage,
/// `scratch`, or cannot be expanded.
fn expanded_base(df: &Dockerfile, stage: &Stage, image: Option<&Image>) -> Option<String> {
    if df
        .stage_by_name(&stage.base)
        .is_some_and(|p| p.index < stage.index)
    {
        return None;
    }
    let lookup = |name: &str| -> Option<String> {
        if let Some(v) = image.and_then(|i| i.build_args.get(name)) {
            return Some(v.clone());
        }
        let decl = df.global_args.iter().rev().find(|a| a.value.name == name)?;
        let raw = decl.value.default.as_deref()?;
        expand::word(raw, df.escape, &|_| None).ok()
    };
    let name = expand::word(&stage.base, df.escape, &lookup).ok()?;
    (!name.is_empty() && !name.contains('$') && name != "scratch").then_some(name)
}

/// STR030, STR031: external bases without tag, with latest, without digest.
fn check_base(df: &Dockerfile, stage: &Stage, ctx: &Ctx, out: &mut Out) {
    let Some(name) = expanded_base(df, stage, ctx.image) else {
        return;
    };
    if ctx
        .family
        .is_some_and(|f| f.image_for_reference(&name).is_some())
    {
        return;
    }
    let (offset, len) = out.find(stage.span, &stage.base);
    if name.contains('@') {
        return;
    }
    let last = name.rsplit('/').next().unwrap_or(&name);
    match last.split_once(':') {
        None => {
            out.at(
                RuleId::BaseUntagged,
                offset,
                len,
                format!("base image `{name}` has no tag: it means `latest`, which moves"),
            );
        }
        Some((_, "latest")) => {
            out.at(
                RuleId::BaseUntagged,
                offset,
                len,
                format!("base image `{name}` uses the moving `latest` tag"),
            );
        }
        Some(_) => {
            out.at(
                RuleId::BaseNotPinned,
                offset,
                len,
                format!("base image `{name}` is not pinned to a digest"),
            );
        }
    }
}

/// The user the final image runs as: the last USER of the chain, else the family
/// parent's; None means root by default (or an external base's unknown default).
fn final_user(
    df: &Dockerfile,
    chain: &[usize],
    family: Option<&Family>,
    image: Option<&Image>,
    depth: usize,
) -> Option<(String, Option<Span>)> {
    for &index in chain {
        let stage = &df.stages[index];
        if let Some(user) = stage
            .instructions
            .iter()
            .rev()
            .find_map(|i| match &i.value {
                Instruction::User(u) => Some((u.clone(), i.span)),
                _ => None,
            })
        {
            return Some((user.0, Some(user.1)));
        }
    }
    let Base::Family(parent) = &image?.base else {
        return None;
    };
    let parent = family?.images.get(parent)?;
    if depth > 16 {
        return None;
    }
    let parent_chain = final_chain(&parent.parsed, parent.target.as_deref());
    final_user(
        &parent.parsed,
        &parent_chain,
        family,
        Some(parent),
        depth + 1,
    )
    .map(|(u, _)| (u, None))
}

/// Whether a USER value is root.
fn is_root(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or("");
    matches!(name, "root" | "0" | "")
}

/// STR001 and STR084.
fn check_user(df: &Dockerfile, chain: &[usize], ctx: &Ctx, out: &mut Out) {
    let Some(&last) = chain.first() else { return };
    let from = df.stages[last].span;
    let user = final_user(df, chain, ctx.family, ctx.image, 0);
    let (user_name, span) = match &user {
        Some((u, span)) => (Some(u.as_str()), *span),
        None => (None, None),
    };
    if let Some(policy) = ctx.image.and_then(|i| i.policy.user.as_deref()) {
        let actual = user_name.unwrap_or("root");
        let matches = actual == policy || actual.split(':').next() == Some(policy);
        if !matches {
            let at = span.unwrap_or(from);
            out.span(
                RuleId::PolicyUserMismatch,
                at,
                format!("the image runs as `{actual}` but its policy says user = \"{policy}\""),
            );
        }
    }
    if !matches!(ctx.role, Role::App | Role::Lone) {
        return;
    }
    let message = match user_name {
        Some(u) if u.starts_with('$') || !is_root(u) => return,
        Some(u) if span.is_some() => {
            format!("the final stage switches to `USER {u}`: the app runs as root")
        }
        Some(u) => format!("the image inherits `USER {u}` from its parent: the app runs as root"),
        None => "the final stage has no USER: the app runs as root".to_owned(),
    };
    let finding = match span {
        Some(s) => {
            let (o, l) = out.find(s, user_name.unwrap_or(""));
            out.at(RuleId::AppRunsAsRoot, o, l, message)
        }
        None => out.span(RuleId::AppRunsAsRoot, from, message),
    };
    if ctx.role == Role::Lone {
        finding.severity = Severity::Info;
    }
}

/// The per-instruction and per-RUN rules of one stage.
#[allow(clippy::too_many_lines)]
fn check_stage(
    df: &Dockerfile,
    stage: &Stage,
    ctx: &Ctx,
    in_final: bool,
    is_last: bool,
    out: &mut Out,
    facts: &mut Facts,
) {
    let mut history = History {
        workdir: "/".to_owned(),
        ..History::default()
    };
    let mut env_no_pip_cache = false;
    let mut pipefail_shell = false;
    let mut has_healthcheck = false;
    let mut previous_plain_run: Option<usize> = None;
    for ins in &stage.instructions {
        let span = ins.span;
        let mut plain_run = false;
        match &ins.value {
            Instruction::Run(run) => {
                history.layers += 1;
                let script = Script::of(run, span, &df.source, df.escape);
                plain_run = run.flags.is_empty()
                    && run.heredocs.is_empty()
                    && matches!(run.command, Command::Shell(_));
                if let (true, Some(previous)) = (plain_run, previous_plain_run) {
                    out.span(RuleId::ConsecutiveRuns, span, format!("this RUN follows the RUN on line {previous}: the two could be one layer"));
                }
                check_run(
                    &script,
                    ctx,
                    env_no_pip_cache,
                    pipefail_shell,
                    &mut history,
                    span,
                    out,
                );
                if in_final {
                    for cmd in &script.cmds {
                        if let Some(op) = package_op(cmd).filter(|op| op.install) {
                            for w in op.packages {
                                facts.installs.push((
                                    op.manager,
                                    package_name(&w.text).to_owned(),
                                    w.clone(),
                                ));
                            }
                        }
                    }
                }
            }
            Instruction::Copy(copy) | Instruction::Add(copy) => {
                history.layers += 1;
                let is_add = matches!(ins.value, Instruction::Add(_));
                if is_add {
                    check_add(copy, span, out);
                }
                check_copy_context(copy, span, ctx, out);
                let dest = history.resolve(&copy.dest);
                let is_dir = copy.dest.ends_with('/') || copy.sources.len() > 1;
                history.paths.push((
                    dest.clone(),
                    is_dir,
                    history.layers,
                    span.line,
                    if is_add { "ADD" } else { "COPY" },
                ));
                if in_final && copy.from.is_none() {
                    facts.copies.push((copy.sources.clone(), dest, span));
                }
            }
            Instruction::Workdir(dir) => {
                let windows_absolute = dir.as_bytes().get(1) == Some(&b':');
                if !dir.starts_with(['/', '$']) && !dir.starts_with("\"/") && !windows_absolute {
                    out.span(
                        RuleId::RelativeWorkdir,
                        span,
                        format!("WORKDIR `{dir}` is relative"),
                    );
                }
                history.workdir = history.resolve(dir);
            }
            Instruction::Env(pairs) => {
                for (k, v) in pairs {
                    if k == "PIP_NO_CACHE_DIR" {
                        env_no_pip_cache = true;
                    }
                    check_secret("ENV", k, Some(v), span, out);
                }
            }
            Instruction::Arg(decls) => {
                for d in decls {
                    check_secret("ARG", &d.name, d.default.as_deref(), span, out);
                }
            }
            Instruction::Shell(argv) => {
                pipefail_shell = argv.iter().any(|a| a.contains("pipefail"))
                    || !argv.first().is_some_and(|s| s.ends_with("sh"));
            }
            Instruction::Maintainer(_) => {
                out.span(
                    RuleId::MaintainerDeprecated,
                    span,
                    "MAINTAINER is deprecated".to_owned(),
                );
            }
            Instruction::Healthcheck(_) => has_healthcheck = true,
            Instruction::Entrypoint(Command::Shell(_)) | Instruction::Cmd(Command::Shell(_))
                if is_last =>
            {
                let keyword = ins.value.keyword();
                out.span(RuleId::ShellFormEntrypoint, span, format!("{keyword} in shell form: /bin/sh becomes PID 1 and signals do not reach the app"));
            }
            _ => {}
        }
        previous_plain_run = plain_run.then_some(span.line);
    }
    if is_last && ctx.role == Role::App && !has_healthcheck && !inherits_healthcheck(df, stage, ctx)
    {
        out.span(
            RuleId::AppWithoutHealthcheck,
            stage.span,
            "this app image has no HEALTHCHECK".to_owned(),
        );
    }
}

/// Whether an earlier stage of the chain or a family parent declares a HEALTHCHECK.
fn inherits_healthcheck(df: &Dockerfile, stage: &Stage, ctx: &Ctx) -> bool {
    let has = |s: &Stage| {
        s.instructions
            .iter()
            .any(|i| matches!(i.value, Instruction::Healthcheck(_)))
    };
    let chain = final_chain(df, Some(&stage.index.to_string()));
    if chain.iter().skip(1).any(|&i| has(&df.stages[i])) {
        return true;
    }
    let (Some(family), Some(image)) = (ctx.family, ctx.image) else {
        return false;
    };
    let mut base = image.base.clone();
    for _ in 0..16 {
        let Base::Family(name) = &base else {
            return false;
        };
        let Ok(parent) = family.image(name) else {
            return false;
        };
        if final_chain(&parent.parsed, parent.target.as_deref())
            .iter()
            .any(|&i| has(&parent.parsed.stages[i]))
        {
            return true;
        }
        base = parent.base.clone();
    }
    false
}

/// STR040, STR041.
fn check_add(copy: &Copy, span: Span, out: &mut Out) {
    const ARCHIVES: &[&str] = &[
        ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar.xz", ".txz", ".tar.zst",
        ".tzst",
    ];
    let mut plain = Vec::new();
    for src in &copy.sources {
        let s = src.trim_matches('"');
        if s.starts_with("http://") || s.starts_with("https://") || s.starts_with("git@") {
            let (o, l) = out.find(span, src);
            out.at(
                RuleId::AddUrl,
                o,
                l,
                format!("ADD downloads `{s}` unverified into its own layer"),
            );
        } else if !s.contains('$') && !ARCHIVES.iter().any(|a| s.to_ascii_lowercase().ends_with(a))
        {
            plain.push(src);
        }
    }
    if !plain.is_empty() && (copy.heredocs.is_empty() || plain.len() == copy.sources.len()) {
        let (o, l) = out.find(span, plain[0]);
        out.at(
            RuleId::AddInsteadOfCopy,
            o,
            l,
            format!(
                "ADD of `{}`, which is not an archive or URL: COPY does the job",
                plain[0].trim_matches('"')
            ),
        );
    }
}

/// STR073.
fn check_copy_context(copy: &Copy, span: Span, ctx: &Ctx, out: &mut Out) {
    if copy.from.is_some()
        || !copy
            .sources
            .iter()
            .any(|s| matches!(s.as_str(), "." | "./"))
    {
        return;
    }
    let ignore = ctx.context_dir.join(".dockerignore");
    if ignore.is_file() {
        return;
    }
    let (o, l) = out.find(span, " .");
    out.at(
        RuleId::CopyContextWithoutDockerignore,
        o + 1,
        l - 1,
        format!(
            "copies the whole context, but {} does not exist",
            ignore.display()
        ),
    );
}

/// STR050.
fn check_secret(keyword: &str, name: &str, value: Option<&str>, span: Span, out: &mut Out) {
    let upper = name.to_ascii_uppercase();
    let parts: Vec<&str> = upper.split(['_', '-', '.']).collect();
    let benign = parts.iter().any(|p| {
        matches!(
            *p,
            "FILE"
                | "PATH"
                | "DIR"
                | "URL"
                | "GPG"
                | "PUBLIC"
                | "PUB"
                | "ID"
                | "FINGERPRINT"
                | "KEYRING"
                | "NAME"
                | "USER"
                | "LENGTH"
                | "SIZE"
        )
    });
    let secret_name = !benign
        && (parts.iter().any(|p| {
            matches!(
                *p,
                "PASSWORD"
                    | "PASSWD"
                    | "PASS"
                    | "PWD"
                    | "TOKEN"
                    | "SECRET"
                    | "CREDENTIALS"
                    | "CREDENTIAL"
                    | "APIKEY"
                    | "KEY"
            )
        }) || upper.contains("PASSWORD")
            || upper.contains("SECRET")
            || upper.contains("TOKEN"));
    let value = value.map(|v| v.trim_matches(['"', '\'']));
    let looks_like_key = value.is_some_and(looks_like_credential);
    if !secret_name && !looks_like_key {
        return;
    }
    if secret_name && keyword == "ENV" && value.is_none_or(str::is_empty) {
        return;
    }
    let (o, l) = out.find(span, name);
    let message = if looks_like_key {
        format!("{keyword} {name} holds a value that looks like a credential: it is stored in the image")
    } else if keyword == "ARG" {
        format!("ARG {name} looks like a secret: build args are recorded in the image history")
    } else {
        format!("ENV {name} looks like a secret: it is stored in the image config")
    };
    out.at(RuleId::SecretInEnvOrArg, o, l, message);
}

/// Known credential shapes, and long random-looking strings.
fn looks_like_credential(v: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "AKIA",
        "ASIA",
        "ghp_",
        "gho_",
        "ghs_",
        "github_pat_",
        "glpat-",
        "xoxb-",
        "xoxp-",
        "xoxa-",
        "sk_live_",
        "rk_live_",
        "AIza",
        "-----BEGIN",
    ];
    if PREFIXES.iter().any(|p| v.starts_with(p)) && v.len() >= 16 {
        return true;
    }
    let long = v.len() >= 32 && !v.contains(['/', '.', '$', ' ', ':']);
    let hex = v.chars().all(|c| c.is_ascii_hexdigit());
    long && !hex
        && v.chars().any(|c| c.is_ascii_uppercase())
        && v.chars().any(|c| c.is_ascii_lowercase())
        && v.chars().any(|c| c.is_ascii_digit())
}
