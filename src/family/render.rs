//! Drawings of a family and of a plan: pure functions from values to text, so the CLI
//! only prints them and tests compare them exactly.
//!
//! Staleness is decided elsewhere (it needs the store and the step cache); every renderer
//! takes it as [`Stale`]: image name -> why it must be rebuilt (absent = fresh).
//!
//! JSON schemas (paths relative to the family root, images parents-first):
//!
//! ```text
//! graph: { "family": str, "version": str|null, "tiers": [str],
//!          "images": [ { "name": str, "tier": str, "context": str, "dockerfile": str,
//!                        "parents": [str], "external_bases": [str],
//!                        "did_you_mean": { external: str }, "children": [str],
//!                        "stale": str|null } ] }
//! plan:  { "family": str, "waves": [[str]], "changed": [str],
//!          "images": [ { "name": str, "wave": int, "tier": str, "context": str,
//!                        "dockerfile": str, "parents": [str], "tags": [str] } ] }
//! ```
//! `stale` is the reason the image is stale, or null when it is fresh; `did_you_mean`
//! maps each external base that looks like a misspelt family name to that name; `changed` lists
//! the images affected by the changes the plan was asked about (empty without
//! `--changed-since`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::{json, Value};

use super::{Family, Image, Plan, RefKind};

/// Why each stale image must be rebuilt; images not listed are fresh.
pub type Stale = BTreeMap<String, String>;

/// The family as an indented tree: roots (images with no family parent) by tier then
/// name, children under their first FROM parent. An image with several family parents
/// notes the others; external bases and staleness are noted too.
///
/// ```text
/// acme 1.0 (tiers: base < runtime < app)
/// base [base]
/// └── jre [runtime]
///     ├── billing [app]
///     └── shop [app]  stale: parent rebuilt
/// ```
#[must_use]
pub fn tree(family: &Family, stale: &Stale) -> String {
    let mut out = family.name.clone();
    if let Some(version) = &family.version {
        let _ = write!(out, " {version}");
    }
    let _ = writeln!(out, " (tiers: {})", family.tiers.join(" < "));
    let mut roots: Vec<&Image> = family
        .images
        .values()
        .filter(|i| i.parents.is_empty())
        .collect();
    roots.sort_by_key(|i| (family.tier_rank(&i.tier), &i.name));
    for root in roots {
        tree_node(family, root, stale, "", None, &mut out);
    }
    out
}

/// The parent an image is drawn under: its first FROM parent, else its first parent.
fn primary_parent(image: &Image) -> Option<&str> {
    image.parents.first().map(String::as_str)
}

/// One line and, below it, the children drawn under it. `branch` is `None` for roots,
/// else whether this is the last child.
fn tree_node(
    family: &Family,
    image: &Image,
    stale: &Stale,
    prefix: &str,
    branch: Option<bool>,
    out: &mut String,
) {
    let (connector, child_prefix) = match branch {
        None => ("", String::new()),
        Some(true) => ("└── ", format!("{prefix}    ")),
        Some(false) => ("├── ", format!("{prefix}│   ")),
    };
    let _ = write!(out, "{prefix}{connector}{} [{}]", image.name, image.tier);
    let mut notes = Vec::new();
    let others: Vec<&str> = image.parents.iter().skip(1).map(String::as_str).collect();
    if !others.is_empty() {
        notes.push(format!("also needs {}", others.join(", ")));
    }
    if !image.external_bases.is_empty() {
        let externals: Vec<String> = image
            .external_bases
            .iter()
            .map(|e| match family.suggestion(e) {
                Some((name, _)) => format!("{e}, did you mean {name}?"),
                None => e.clone(),
            })
            .collect();
        notes.push(format!("external: {}", externals.join("; ")));
    }
    if !notes.is_empty() {
        let _ = write!(out, " ({})", notes.join("; "));
    }
    if let Some(reason) = stale.get(&image.name) {
        let _ = write!(out, "  stale: {reason}");
    }
    out.push('\n');
    let children: Vec<&Image> = image
        .children
        .iter()
        .map(|c| &family.images[c])
        .filter(|c| primary_parent(c) == Some(image.name.as_str()))
        .collect();
    for (i, child) in children.iter().enumerate() {
        let last = i + 1 == children.len();
        tree_node(family, child, stale, &child_prefix, Some(last), out);
    }
}

/// The family as a graphviz digraph: one cluster per tier, an edge from each parent to
/// each child (dashed for `COPY --from` and mounts), external bases as dashed ellipses,
/// stale images in red with the reason as tooltip.
#[must_use]
pub fn dot(family: &Family, stale: &Stale) -> String {
    let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut out = format!(
        "digraph {} {{\n  rankdir=TB;\n  node [shape=box];\n",
        q(&family.name)
    );
    for (i, tier) in family.tiers.iter().enumerate() {
        let members: Vec<&Image> = family
            .images
            .values()
            .filter(|im| &im.tier == tier)
            .collect();
        if members.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  subgraph cluster_{i} {{\n    label={};", q(tier));
        for image in members {
            let _ = write!(out, "    {}", q(&image.name));
            if let Some(reason) = stale.get(&image.name) {
                let _ = write!(
                    out,
                    " [color=red, fontcolor=red, tooltip={}]",
                    q(&format!("stale: {reason}"))
                );
            }
            out.push_str(";\n");
        }
        out.push_str("  }\n");
    }
    let externals: BTreeSet<&str> = family
        .images
        .values()
        .flat_map(|i| i.external_bases.iter().map(String::as_str))
        .collect();
    for external in &externals {
        let _ = writeln!(out, "  {} [shape=ellipse, style=dashed];", q(external));
    }
    for image in family.images.values() {
        let mut drawn = BTreeSet::new();
        for reference in &image.references {
            let from = family
                .image_for_reference(&reference.name)
                .unwrap_or(&reference.name);
            if !drawn.insert(from) {
                continue;
            }
            let style = if reference.kind == RefKind::From {
                ""
            } else {
                " [style=dashed]"
            };
            let _ = writeln!(out, "  {} -> {}{style};", q(from), q(&image.name));
        }
    }
    out.push_str("}\n");
    out
}

/// The family as JSON (schema in the module docs), pretty-printed.
#[must_use]
pub fn json(family: &Family, stale: &Stale) -> String {
    let order = Plan::of(family, &family.images.keys().cloned().collect());
    let images: Vec<Value> = order
        .images()
        .map(|name| {
            let image = &family.images[name];
            json!({
                "name": image.name,
                "tier": image.tier,
                "context": family.display_path(&image.context),
                "dockerfile": family.display_path(&image.dockerfile),
                "parents": image.parents,
                "external_bases": image.external_bases,
                "did_you_mean": image
                    .external_bases
                    .iter()
                    .filter_map(|e| family.suggestion(e).map(|(name, _)| (e.clone(), name)))
                    .collect::<BTreeMap<_, _>>(),
                "children": image.children,
                "stale": stale.get(name),
            })
        })
        .collect();
    pretty(&json!({
        "family": family.name,
        "version": family.version,
        "tiers": family.tiers,
        "images": images,
    }))
}

/// A plan as JSON (schema in the module docs), pretty-printed: the waves for a CI
/// matrix, what changed, and per image what a CI job needs to build it.
#[must_use]
pub fn plan_json(family: &Family, plan: &Plan, changed: &BTreeSet<String>) -> String {
    let images: Vec<Value> = plan
        .waves
        .iter()
        .enumerate()
        .flat_map(|(wave, names)| names.iter().map(move |n| (wave, n)))
        .map(|(wave, name)| {
            let image = &family.images[name];
            json!({
                "name": image.name,
                "wave": wave,
                "tier": image.tier,
                "context": family.display_path(&image.context),
                "dockerfile": family.display_path(&image.dockerfile),
                "parents": image.parents,
                "tags": family.tags(image),
            })
        })
        .collect();
    pretty(&json!({
        "family": family.name,
        "waves": plan.waves,
        "changed": changed,
        "images": images,
    }))
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values always serialize");
    text.push('\n');
    text
}
