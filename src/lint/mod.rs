//! `strata lint`: the practices of a well-structured image family, as rules over
//! Dockerfiles and the [`Family`] -> [`Finding`]s.
//!
//! [`lint_paths`] takes family folders (a `strata.toml` at their root), single
//! Dockerfiles, or folders searched for both, and returns a [`Report`]. Each Dockerfile is
//! checked on its own (`check`), each family as a whole (`family`: tier placement, sibling
//! packages, policies). Rules are data ([`rules()`], one [`RuleId`] each, which is how the
//! checks name them); a rule's severity can be changed or the rule disabled per family
//! and per image with a `[lint]` table in `strata.toml`, and one instruction can opt out
//! with `# strata:ignore=STR001[,STR002]` on the line (or the comment block) right above
//! it. A file that does not parse is a `STR000` finding at the place the parser stopped,
//! not an error: the run goes on with the other files.
//!
//! The renderers ([`render_text`], [`render_json`], [`render_sarif`], [`render_github`])
//! turn a report into text; [`Report::exit_code`] gives 0 (clean) or 1 (findings at or
//! above the fail level). An [`Err`] from [`lint_paths`] (a path that does not exist, an
//! unreadable folder) is exit code 2 for the caller.
//!
//! The JSON format (`render_json`), version 1:
//!
//! ```json
//! {
//!   "version": 1,
//!   "files": 3,
//!   "summary": { "error": 0, "warning": 2, "info": 1 },
//!   "findings": [
//!     { "rule": "STR002", "name": "apt-lists-left", "severity": "warning",
//!       "file": "app/Dockerfile", "line": 4, "column": 5, "end_line": 4, "end_column": 19,
//!       "message": "...", "hint": "...", "help_uri": "docs/rules.md#STR002" }
//!   ]
//! }
//! ```
//! Lines and columns are 1-based, columns count characters, `end_column` is exclusive.

mod caches;
mod check;
mod config;
mod context;
mod family;
mod packages;
mod render;
mod rules;
mod run;
mod script;
pub mod shell;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::dockerfile::ignore::{Ignore, IgnoreError};
use crate::dockerfile::{self, Dockerfile, DockerfileError, Source};
use crate::family::{Family, FamilyError, MANIFEST};

pub use crate::severity::Severity;
pub use render::{render_github, render_json, render_sarif, render_text, rules_markdown};
pub use rules::{rule, rules, Rule, RuleId};

/// The least severe finding that fails the run (`--fail-level`); `None` never fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FailLevel {
    /// Only errors fail.
    Error,
    /// Warnings and errors fail (the default).
    #[default]
    Warning,
    /// Every finding fails.
    Info,
    /// Nothing fails: exit 0 whatever was found.
    None,
}

impl std::str::FromStr for FailLevel {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "error" => Ok(FailLevel::Error),
            "warning" => Ok(FailLevel::Warning),
            "info" => Ok(FailLevel::Info),
            "none" => Ok(FailLevel::None),
            _ => Err(format!(
                "unknown fail level {text:?}: use error, warning, info or none"
            )),
        }
    }
}

/// One problem found, located in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The rule's stable id (`STR001`): [`RuleId::as_str`] of the rule that found it.
    pub rule: &'static str,
    /// Its severity after configuration.
    pub severity: Severity,
    /// The file, as the user named it (or joined from the family root).
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// 1-based line of the end of the marked text.
    pub end_line: usize,
    /// 1-based column just past the marked text.
    pub end_column: usize,
    /// What is wrong, with the specifics (package names, lines, layer counts).
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

/// Settings given on the command line, applied over the `[lint]` tables of `strata.toml`.
#[derive(Clone, Debug, Default)]
pub struct LintOptions {
    /// Rule ids not to report.
    pub disable: Vec<String>,
    /// Severity overrides by rule id.
    pub severity: BTreeMap<String, Severity>,
}

/// The result of a lint run: the findings, sorted by file, line and column, and the text
/// of each file they point into (for the annotated rendering).
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The findings.
    pub findings: Vec<Finding>,
    /// How many Dockerfiles (and strata.toml files) were checked.
    pub files: usize,
    /// The text of every file a finding points into.
    pub sources: BTreeMap<PathBuf, Arc<str>>,
}

impl Report {
    /// 1 when a finding is at or above `fail_level`, else 0.
    pub fn exit_code(&self, fail_level: FailLevel) -> i32 {
        let least = match fail_level {
            FailLevel::Error => Severity::Error,
            FailLevel::Warning => Severity::Warning,
            FailLevel::Info => Severity::Info,
            FailLevel::None => return 0,
        };
        i32::from(self.findings.iter().any(|f| f.severity >= least))
    }

    /// How many findings have `severity`.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }
}

/// Why a lint run could not proceed (exit code 2).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LintError {
    /// A path given does not exist.
    #[error("{}: no such file or directory", path.display())]
    #[diagnostic(help("give a family folder, a Dockerfile, or a folder holding Dockerfiles"))]
    NotFound {
        /// The path.
        path: PathBuf,
    },
    /// A folder could not be walked.
    #[error("cannot read {}", path.display())]
    Walk {
        /// The folder.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: walkdir::Error,
    },
    /// `strata.toml` exists but cannot be read.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Family(Box<FamilyError>),
}

/// Lints `paths` (the current folder when empty): a folder with a `strata.toml` is a
/// family; another folder is searched for Dockerfiles (`Dockerfile`, `Containerfile`,
/// `*.Dockerfile`, `Dockerfile.*`) and families, skipping hidden folders and `target`;
/// a file is one Dockerfile, linted alone (as an app image, STR001 at `info`) even inside
/// a family folder.
pub fn lint_paths(paths: &[PathBuf], options: &LintOptions) -> Result<Report, LintError> {
    let default = [PathBuf::from(".")];
    let paths = if paths.is_empty() {
        &default[..]
    } else {
        paths
    };
    let mut report = Report::default();
    for path in paths {
        if path.is_file() {
            lint_file(path, options, &mut report);
            continue;
        }
        if !path.is_dir() {
            return Err(LintError::NotFound { path: path.clone() });
        }
        let mut walk = walkdir::WalkDir::new(path).sort_by_file_name().into_iter();
        while let Some(entry) = walk.next() {
            let entry = entry.map_err(|source| LintError::Walk {
                path: path.clone(),
                source,
            })?;
            let name = entry.file_name().to_string_lossy();
            if entry.file_type().is_dir() {
                let hidden = entry.depth() > 0 && (name.starts_with('.') || name == "target");
                if hidden {
                    walk.skip_current_dir();
                } else if entry.path().join(MANIFEST).exists() {
                    lint_family(entry.path(), options, &mut report)?;
                    walk.skip_current_dir();
                }
            } else if is_dockerfile_name(&name) {
                lint_file(entry.path(), options, &mut report);
            }
        }
    }
    report.findings.sort_by(|a, b| {
        (&a.path, a.line, a.column, a.rule).cmp(&(&b.path, b.line, b.column, b.rule))
    });
    report.findings.dedup();
    Ok(report)
}

/// Whether a file name is one we lint when walking a folder.
fn is_dockerfile_name(name: &str) -> bool {
    crate::dockerfile::DEFAULT_NAMES.contains(&name)
        || name.ends_with(".Dockerfile")
        || name.ends_with(".dockerfile")
        || name.starts_with("Dockerfile.")
}

/// Lints one Dockerfile outside any family.
fn lint_file(path: &Path, options: &LintOptions, report: &mut Report) {
    report.files += 1;
    let parsed = match dockerfile::parse_file(path) {
        Ok(parsed) => parsed,
        Err(e) => return parse_error(&e, options, report),
    };
    let context_dir = path.parent().unwrap_or(Path::new("."));
    check_ignore_file(context_dir, path, options, report);
    let ctx = context::Ctx {
        role: context::Role::Lone,
        family: None,
        image: None,
        context_dir,
    };
    let mut findings = Vec::new();
    check::dockerfile(&parsed, &ctx, &mut findings);
    finish(&parsed, findings, &[&options_config(options)], report);
}

/// Lints a family: every image's Dockerfile, then the family-wide rules.
fn lint_family(dir: &Path, options: &LintOptions, report: &mut Report) -> Result<(), LintError> {
    let family = match Family::load(dir) {
        Ok(family) => family,
        Err(FamilyError::Manifest(e) | FamilyError::Dockerfile(e)) => {
            report.files += 1;
            parse_error(&e, options, report);
            return Ok(());
        }
        Err(e) => return Err(LintError::Family(Box::new(e))),
    };
    report.files += 1 + family.images.len();
    let (settings, problems) = config::parse(&family.manifest);
    report.add_source(&family.manifest);
    report.findings.extend(problems);
    let cli = options_config(options);
    let mut by_image: BTreeMap<String, Vec<Finding>> = BTreeMap::new();
    let mut facts = BTreeMap::new();
    for image in family.images.values() {
        check_ignore_file(&image.context, &image.dockerfile, options, report);
        let ctx = context::Ctx {
            role: context::Role::of(&family, &image.tier),
            family: Some(&family),
            image: Some(image),
            context_dir: &image.context,
        };
        let findings = by_image.entry(image.name.clone()).or_default();
        facts.insert(
            image.name.clone(),
            check::dockerfile(&image.parsed, &ctx, findings),
        );
    }
    family::check(&family, &facts, &mut by_image);
    for image in family.images.values() {
        let findings = by_image.remove(&image.name).unwrap_or_default();
        let image_config = settings.images.get(&image.name);
        let layers: Vec<&config::Settings> = [Some(&settings.family), image_config, Some(&cli)]
            .into_iter()
            .flatten()
            .collect();
        finish(&image.parsed, findings, &layers, report);
    }
    Ok(())
}

/// The command-line options as a settings layer.
fn options_config(options: &LintOptions) -> config::Settings {
    config::Settings {
        disable: options.disable.clone(),
        severity: options.severity.clone(),
    }
}

/// A `.dockerignore` that a build of `dockerfile` would refuse (a bare `!` line), as a
/// STR000 finding at its line. One that cannot be read is left to the build to report.
fn check_ignore_file(
    context: &Path,
    dockerfile: &Path,
    options: &LintOptions,
    report: &mut Report,
) {
    if let Err(IgnoreError::Pattern(e)) = Ignore::load(context, Some(dockerfile)) {
        parse_error(&e, options, report);
    }
}

/// A parse error as a STR000 finding.
fn parse_error(e: &DockerfileError, options: &LintOptions, report: &mut Report) {
    let cli = options_config(options);
    if cli.disable.iter().any(|d| d == RuleId::ParseError.as_str()) {
        return;
    }
    let text: Arc<str> = Arc::from(
        std::fs::read_to_string(&e.path)
            .unwrap_or_default()
            .as_str(),
    );
    let source = Source::new(&e.path, text);
    let span = source.span_at(e.at.offset(), e.at.len());
    let mut finding = context::finding(
        &source,
        RuleId::ParseError,
        span.offset,
        span.len,
        e.message.clone(),
    );
    if let Some(hint) = &e.hint {
        finding.hint.clone_from(hint);
    }
    finding.line = e.line;
    finding.column = e.column;
    finding.end_line = finding.end_line.max(e.line);
    finding.severity = cli
        .severity
        .get(RuleId::ParseError.as_str())
        .copied()
        .unwrap_or(Severity::Error);
    report.add_source(&source);
    report.findings.push(finding);
}

/// Applies suppression comments and settings layers (later ones win), then adds the
/// findings to the report.
fn finish(
    parsed: &Dockerfile,
    findings: Vec<Finding>,
    layers: &[&config::Settings],
    report: &mut Report,
) {
    let lines: Vec<&str> = parsed.source.text.lines().collect();
    let starts = instruction_lines(parsed);
    let mut any = false;
    for mut finding in findings {
        if finding.path == parsed.source.path && suppressed(&lines, &starts, &finding) {
            continue;
        }
        let mut disabled = false;
        for layer in layers {
            if layer.disable.iter().any(|d| d == finding.rule) {
                disabled = true;
            }
            if let Some(severity) = layer.severity.get(finding.rule) {
                finding.severity = *severity;
                disabled = false;
            }
        }
        if !disabled {
            any |= finding.path == parsed.source.path;
            report.findings.push(finding);
        }
    }
    if any {
        report.add_source(&parsed.source);
    }
}

impl Report {
    fn add_source(&mut self, source: &Source) {
        self.sources
            .entry(source.path.clone())
            .or_insert_with(|| Arc::clone(&source.text));
    }
}

/// `(first line, last line)` of every instruction, FROMs included.
fn instruction_lines(parsed: &Dockerfile) -> Vec<(usize, usize)> {
    let end_line = |offset: usize, len: usize| parsed.source.span_at(offset + len, 0).line;
    let mut out = Vec::new();
    for stage in &parsed.stages {
        out.push((stage.span.line, end_line(stage.span.offset, stage.span.len)));
        for i in &stage.instructions {
            out.push((i.span.line, end_line(i.span.offset, i.span.len)));
        }
    }
    out
}

/// Whether a `# strata:ignore=` comment right above the finding's instruction names its
/// rule (or `all`).
fn suppressed(lines: &[&str], instructions: &[(usize, usize)], finding: &Finding) -> bool {
    // Instructions are in file order and do not overlap: the last one starting at or
    // before the finding's line is the only candidate (a binary search, as a file of
    // 300k instructions with a finding each made a scan quadratic).
    let before = instructions.partition_point(|&(a, _)| a <= finding.line);
    let Some(&(first, _)) = before
        .checked_sub(1)
        .map(|i| &instructions[i])
        .filter(|&&(_, b)| finding.line <= b)
    else {
        return false;
    };
    let mut line = first - 1;
    while line >= 1 {
        let text = lines.get(line - 1).map_or("", |l| l.trim());
        let Some(comment) = text.strip_prefix('#') else {
            break;
        };
        if let Some(list) = comment.trim().strip_prefix("strata:ignore=") {
            if list
                .split(',')
                .map(str::trim)
                .any(|id| id == finding.rule || id == "all")
            {
                return true;
            }
        }
        line -= 1;
    }
    false
}

/// `"s"` unless `n` is 1, for counts in messages ("3 layers", "1 error").
fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
