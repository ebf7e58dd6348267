//! Report -> text: annotated source lines (like a compiler), JSON (schema in the module
//! docs of `lint`), SARIF 2.1.0 and GitHub workflow annotations.

use std::fmt::Write;

use serde_json::{json, Value};

use super::{rules, Finding, Report, Severity};

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

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
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
