//! Renderers: reports as text tables, JSON (schema in [`super`]) and SARIF 2.1.0, and the
//! sharing report as text or JSON. They return strings; the CLI prints them.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::rules::RULES;
use super::{human, Report, SharingReport};

/// The URL of the SARIF 2.1.0 JSON schema, written as `$schema`.
const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Instructions longer than this are cut in text tables.
const INSTRUCTION_WIDTH: usize = 60;

fn percent(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

fn cut(s: &str, width: usize) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() > width || line.len() < s.len() {
        let short: String = line.chars().take(width.saturating_sub(1)).collect();
        format!("{short}…")
    } else {
        line.to_owned()
    }
}

/// Human-readable reports: summary, layer table, wasted paths, findings, packages.
pub fn render_text(reports: &[Report]) -> String {
    let mut out = String::new();
    for (n, r) in reports.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "{}  {}", r.image, r.digest);
        if let Some(p) = &r.parent {
            let name = p.name.as_deref().unwrap_or("?");
            let missing = if p.found { "" } else { " (not in the store)" };
            let _ = writeln!(out, "  parent     {name}  {}{missing}", p.digest);
        }
        let _ = writeln!(
            out,
            "  size       {} ({} compressed): {} inherited, {} added",
            human(r.size),
            human(r.compressed_size),
            human(r.inherited_bytes),
            human(r.added_bytes)
        );
        let _ = writeln!(
            out,
            "  efficiency {}, wasted {}",
            percent(r.efficiency),
            human(r.wasted_bytes)
        );
        let user = if r.user.is_empty() {
            "(unset: root)"
        } else {
            &r.user
        };
        let _ = writeln!(out, "  user       {user}");
        let _ = writeln!(
            out,
            "\n  {:>5}  {:>10}  {:>10}  {:>7}  {:>6}  INSTRUCTION",
            "LAYER", "COMPRESSED", "SIZE", "FILES", "SHARE"
        );
        for l in &r.layers {
            let mark = if l.inherited { "^" } else { " " };
            let instruction = cut(l.instruction.as_deref().unwrap_or("?"), INSTRUCTION_WIDTH);
            let source = l
                .source
                .as_ref()
                .map(|s| format!("  ({}:{})", s.file, s.line))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:>4}{mark}  {:>10}  {:>10}  {:>7}  {:>6}  {instruction}{source}",
                l.index,
                human(l.compressed_size),
                human(l.size),
                l.files,
                percent(l.share)
            );
        }
        if r.layers.iter().any(|l| l.inherited) {
            let _ = writeln!(out, "  (^ inherited from the parent)");
        }
        if !r.wasted.is_empty() {
            let _ = writeln!(
                out,
                "\n  {:>10}  {:>6}  {:>5}  {:>12}  PATH",
                "WASTED", "COPIES", "ADDED", "LAST CHANGE"
            );
            for w in &r.wasted {
                let change = format!(
                    "{} {}",
                    if w.deleted { "deleted" } else { "written" },
                    w.last_changed_in
                );
                let _ = writeln!(
                    out,
                    "  {:>10}  {:>6}  {:>5}  {change:>12}  {}",
                    human(w.wasted_bytes),
                    w.copies,
                    w.added_in,
                    w.path
                );
            }
        }
        if r.findings.is_empty() {
            let _ = writeln!(out, "\n  no findings");
        } else {
            let _ = writeln!(
                out,
                "\n  {:<8}  {:>5}  {:<22}  MESSAGE",
                "SEVERITY", "LAYER", "RULE"
            );
            for f in &r.findings {
                let layer = f.layer.map_or_else(|| "-".to_owned(), |l| l.to_string());
                let inherited = if f.inherited { " (inherited)" } else { "" };
                let _ = writeln!(
                    out,
                    "  {:<8}  {layer:>5}  {:<22}  {}{inherited}",
                    f.severity, f.id, f.message
                );
            }
        }
        if !r.packages.is_empty() {
            let mut counts = std::collections::BTreeMap::new();
            for p in &r.packages {
                *counts.entry(p.ecosystem).or_insert(0) += 1;
            }
            let counts: Vec<String> = counts
                .iter()
                .map(|(e, n)| {
                    format!(
                        "{n} {}",
                        serde_json::to_value(e)
                            .unwrap_or_default()
                            .as_str()
                            .unwrap_or("")
                    )
                })
                .collect();
            let _ = writeln!(out, "\n  packages   {}", counts.join(", "));
        }
    }
    out
}

/// The reports as a pretty JSON array (schema in the module doc of [`super`]).
pub fn render_json(reports: &[Report]) -> String {
    let mut s = serde_json::to_string_pretty(reports).expect("reports serialise");
    s.push('\n');
    s
}

/// SARIF 2.1.0: one run, every rule of the catalogue, one result per finding. A result
/// is located at the Dockerfile line of its layer when the report knows it, and always
/// carries a logical location `IMAGE/layer N:PATH`.
pub fn render_sarif(reports: &[Report]) -> String {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "shortDescription": {"text": r.summary},
                "defaultConfiguration": {"level": level(r.severity)},
            })
        })
        .collect();
    let mut results = Vec::new();
    for r in reports {
        for f in &r.findings {
            let source = f
                .layer
                .and_then(|l| r.layers.get(l))
                .and_then(|l| l.source.as_ref());
            let logical = match (f.layer, &f.path) {
                (Some(l), Some(p)) => format!("{}/layer {l}:{p}", r.image),
                (Some(l), None) => format!("{}/layer {l}", r.image),
                (None, _) => r.image.clone(),
            };
            let mut location = json!({
                "logicalLocations": [{"fullyQualifiedName": logical, "kind": "resource"}],
            });
            if let Some(s) = source {
                location["physicalLocation"] = json!({
                    "artifactLocation": {"uri": s.file},
                    "region": {"startLine": s.line},
                });
            }
            let mut result = json!({
                "ruleId": f.id,
                "level": level(f.severity),
                "message": {"text": format!("{}: {}", r.image, f.message)},
                "locations": [location],
                "properties": {"image": r.image, "digest": r.digest.to_string(), "inherited": f.inherited},
            });
            if let Some(i) = RULES.iter().position(|rule| rule.id == f.id) {
                result["ruleIndex"] = json!(i);
            }
            results.push(result);
        }
    }
    let sarif = json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "strata",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/strata/strata",
                "rules": rules,
            }},
            "results": results,
        }],
    });
    let mut s = serde_json::to_string_pretty(&sarif).expect("JSON values serialise");
    s.push('\n');
    s
}

fn level(severity: super::Severity) -> &'static str {
    match severity {
        super::Severity::Info => "note",
        super::Severity::Warning => "warning",
        super::Severity::Error => "error",
    }
}

/// The sharing report as text: per parent, the siblings and the duplicated files.
pub fn render_sharing_text(report: &SharingReport) -> String {
    let mut out = String::new();
    if report.groups.is_empty() {
        out.push_str("no parent has two or more children\n");
    }
    for g in &report.groups {
        let _ = writeln!(out, "parent {}  {}", g.parent, g.parent_digest);
        let _ = writeln!(
            out,
            "  {:>12}  {:>12}  {:>12}  IMAGE",
            "SHARED", "OWN", "DUPLICATED"
        );
        for s in &g.siblings {
            let _ = writeln!(
                out,
                "  {:>12}  {:>12}  {:>12}  {}",
                human(s.shared_bytes),
                human(s.own_bytes),
                human(s.duplicated_bytes),
                s.name
            );
        }
        if g.duplicates.is_empty() {
            let _ = writeln!(out, "  no files duplicated among the siblings");
        } else {
            let _ = writeln!(
                out,
                "  {} file(s) duplicated; hoisting them into {} saves {} for a node pulling all:",
                g.duplicates.len(),
                g.parent,
                human(g.bytes_saved)
            );
            for d in &g.duplicates {
                let _ = writeln!(
                    out,
                    "  {:>12}  {}  ({})",
                    human(d.bytes_saved),
                    d.path,
                    d.images.join(", ")
                );
            }
        }
    }
    out
}

/// The sharing report as pretty JSON (`{groups: [{parent, parent_digest, siblings,
/// duplicates, bytes_saved}]}`).
pub fn render_sharing_json(report: &SharingReport) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("report serialises");
    s.push('\n');
    s
}

/// A family's audit as pretty JSON: `{"images": [REPORT...], "sharing": SHARING}`, the
/// image reports of [`render_json`] beside the report of [`render_sharing_json`].
pub fn render_family_json(reports: &[Report], sharing: &SharingReport) -> String {
    let mut s = serde_json::to_string_pretty(&json!({ "images": reports, "sharing": sharing }))
        .expect("reports serialise");
    s.push('\n');
    s
}
