//! Report -> text: annotated source lines (like a compiler), JSON (schema in the module
//! docs of `lint`), SARIF 2.1.0 and GitHub workflow annotations; and the rule table ->
//! docs/rules.md.

use std::fmt::Write;

use serde_json::{json, Value};

use super::{plural, rules, Finding, Report, Severity};

/// Compiler-like text: each finding with its source line, a marker under the word, and
/// the hint; then a summary line.
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        let _ = writeln!(out, "{}[{}]: {}", f.severity.as_str(), f.rule, f.message);
        let _ = writeln!(out, "  --> {}:{}:{}", f.path.display(), f.line, f.column);
        if let Some(line) = report
            .sources
            .get(&f.path)
            .and_then(|text| text.lines().nth(f.line - 1))
        {
            let number = f.line.to_string();
            let pad = " ".repeat(number.len());
            let line = line.replace('\t', " ");
            let width = line.chars().count();
            let start = f.column.min(width + 1);
            let end = if f.end_line == f.line {
                f.end_column.clamp(start + 1, width.max(start) + 1)
            } else {
                width + 1
            };
            let _ = writeln!(out, " {pad} |");
            let _ = writeln!(out, " {number} | {line}");
            let _ = writeln!(
                out,
                " {pad} | {}{}",
                " ".repeat(start - 1),
                "^".repeat(end.saturating_sub(start).max(1))
            );
            let _ = writeln!(out, " {pad} = hint: {}", f.hint);
        } else {
            let _ = writeln!(out, "  = hint: {}", f.hint);
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "{} problem{} ({} error{}, {} warning{}, {} info) in {} file{}",
        report.findings.len(),
        plural(report.findings.len()),
        report.count(Severity::Error),
        plural(report.count(Severity::Error)),
        report.count(Severity::Warning),
        plural(report.count(Severity::Warning)),
        report.count(Severity::Info),
        report.files,
        plural(report.files),
    );
    out
}

/// One finding as JSON.
fn finding_json(f: &Finding) -> Value {
    let rule = rules::rule(f.rule);
    json!({
        "rule": f.rule,
        "name": rule.map_or("", |r| r.name),
        "severity": f.severity.as_str(),
        "file": path_string(f),
        "line": f.line,
        "column": f.column,
        "end_line": f.end_line,
        "end_column": f.end_column,
        "message": f.message,
        "hint": f.hint,
        "help_uri": rule.map(rules::Rule::help_uri),
    })
}

fn path_string(f: &Finding) -> String {
    f.path.display().to_string()
}

/// The JSON format documented in the `lint` module.
pub fn render_json(report: &Report) -> String {
    let value = json!({
        "version": 1,
        "files": report.files,
        "summary": {
            "error": report.count(Severity::Error),
            "warning": report.count(Severity::Warning),
            "info": report.count(Severity::Info),
        },
        "findings": report.findings.iter().map(finding_json).collect::<Vec<_>>(),
    });
    let mut text = serde_json::to_string_pretty(&value).expect("JSON values serialize");
    text.push('\n');
    text
}

/// SARIF level of a severity.
fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// A path as a SARIF URI: relative paths stay relative references (GitHub resolves them
/// against the repository), absolute ones become `file://` URIs; forward slashes, and
/// characters outside the unreserved and path sets percent-encoded.
fn uri(path: &std::path::Path) -> String {
    let text = path.display().to_string();
    let mut out = String::with_capacity(text.len() + 7);
    if path.is_absolute() {
        out.push_str("file://");
    }
    for b in text.trim_start_matches("./").bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else if b == b'\\' {
            out.push('/');
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// SARIF 2.1.0: one run, the full rule registry as `tool.driver.rules`, one result per
/// finding.
pub fn render_sarif(report: &Report) -> String {
    let all = rules::rules();
    let rules_json: Vec<Value> = all
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.name,
                "shortDescription": { "text": r.summary },
                "fullDescription": { "text": r.description },
                "help": {
                    "text": format!("{}\n\nBad:\n{}\n\nGood:\n{}\n\nFix: {}", r.description, r.bad, r.good, r.hint),
                    "markdown": format!("{}\n\nBad:\n```dockerfile\n{}\n```\n\nGood:\n```dockerfile\n{}\n```\n\n**Fix:** {}", r.description, r.bad, r.good, r.hint),
                },
                "helpUri": r.help_uri(),
                "defaultConfiguration": { "level": level(r.severity) },
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            json!({
                "ruleId": f.rule,
                "ruleIndex": all.iter().position(|r| r.id == f.rule).unwrap_or(0),
                "level": level(f.severity),
                "message": { "text": format!("{} ({})", f.message, f.hint) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri(&f.path) },
                        "region": {
                            "startLine": f.line,
                            "startColumn": f.column,
                            "endLine": f.end_line,
                            "endColumn": f.end_column.max(1),
                        },
                    },
                }],
            })
        })
        .collect();
    let value = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "strata lint",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules_json,
                },
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    let mut text = serde_json::to_string_pretty(&value).expect("JSON values serialize");
    text.push('\n');
    text
}

/// GitHub workflow commands: `::warning file=F,line=L,col=C,title=ID::message`.
pub fn render_github(report: &Report) -> String {
    let data = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let property = |s: &str| data(s).replace(':', "%3A").replace(',', "%2C");
    let mut out = String::new();
    for f in &report.findings {
        let kind = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let _ = writeln!(
            out,
            "::{kind} file={},line={},col={},endLine={},endColumn={},title={}::{}",
            property(&path_string(f)),
            f.line,
            f.column,
            f.end_line,
            f.end_column,
            property(f.rule),
            data(&format!("{} (hint: {})", f.message, f.hint)),
        );
    }
    out
}

/// docs/rules.md, generated from the rule table and the hadolint mapping.
pub fn rules_markdown() -> String {
    let mut out = String::from(
        "# strata lint rules\n\n\
         <!-- Generated from src/lint/rules.rs by `UPDATE_DOCS=1 cargo test --test lint docs`; edit there. -->\n\n\
         `strata lint [PATHS...]` checks Dockerfiles, one by one and, for a family, as a whole.\n\
         Severities are `error`, `warning` and `info`; `--fail-level` (default `warning`) decides\n\
         which fail the run. Silence a rule for one instruction with\n\
         `# strata:ignore=STR001[,STR002]` on the line before it, or in `strata.toml`:\n\n\
         ```toml\n[lint]\ndisable = [\"STR023\"]\nseverity = { STR031 = \"error\" }\n\n\
         [images.shop.lint]\ndisable = [\"STR072\"]\n```\n\n\
         Tiers: the lowest tier of a family is its *base* tier, the highest its *app* tier, and\n\
         anything between is a *runtime* tier. A Dockerfile linted outside a family is treated\n\
         as an app image, except that STR001 is reported at `info` and STR072 is not checked;\n\
         a Dockerfile named directly on the command line is linted that way even inside a\n\
         family folder (name the folder to get the family rules).\n\n\
         ## Rules\n\n| id | name | severity | summary |\n|---|---|---|---|\n",
    );
    for r in rules::rules() {
        let _ = writeln!(
            out,
            "| [{}](#{}) | {} | {} | {} |",
            r.id,
            r.id,
            r.name,
            r.severity.as_str(),
            r.summary.replace('|', "\\|")
        );
    }
    out.push_str("\n## hadolint\n\nWhich of our rules cover which hadolint rules. hadolint's DL3008 (pin apt versions) and\nDL3018 (pin apk versions), and the other version-pinning rules (DL3013, DL3028, DL3037,\nDL3041), are deliberately not covered: Debian and Alpine mirrors drop old\nversions, so pins break builds; pin the base image digest (STR031) instead.\n\n| hadolint | strata |\n|---|---|\n");
    let mut pairs: Vec<(&str, &str)> = rules::rules()
        .iter()
        .flat_map(|r| r.hadolint.iter().map(move |h| (*h, r.id)))
        .collect();
    pairs.sort_unstable();
    for (h, id) in pairs {
        let _ = writeln!(out, "| {h} | [{id}](#{id}) |");
    }
    out.push_str("\nRules hadolint has no equivalent for: STR001 without an explicit `USER root` (hadolint only flags the explicit one), STR010, STR013 outside the base tier, STR020, STR021, STR022, STR030/STR031 with family parents exempt, STR041, STR042, STR072, STR073, and the family rules STR080 to STR084.\n\nWhere strata stays quiet on purpose although hadolint reports (tests/lint.rs lists these\ncases): a `GPG_KEY` fingerprint or a `*_PASSWORD_FILE` path (DL3064); a shell-form CMD in\na builder stage (DL3025); `cd` inside a subshell (DL3003); `apk add` followed by\n`rm -rf /var/cache/apk/*` in the same RUN (DL3019). hadolint 2.15 also cannot parse RUN\nheredocs (DL1000), which strata lints.\n");
    for r in rules::rules() {
        let _ = write!(
            out,
            "\n<a id=\"{id}\"></a>\n## {id} {name}\n\n**Default severity:** {sev}. {summary}.\n\n{desc}\n\nBad:\n\n```dockerfile\n{bad}\n```\n\nGood:\n\n```dockerfile\n{good}\n```\n\n**Fix:** {hint}.\n",
            id = r.id,
            name = r.name,
            sev = r.severity.as_str(),
            summary = r.summary,
            desc = r.description,
            bad = r.bad,
            good = r.good,
            hint = r.hint,
        );
    }
    out
}
