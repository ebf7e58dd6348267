//! Family-wide rules: what belongs in which tier.
//!
//! From the [`Facts`] of every image (packages its final stages install, files they copy
//! from the context) and the family's parents and tiers: OS packages installed by two or
//! more siblings belong in their common parent (STR080); runtime images do not carry
//! application code (STR081); base images do not carry language runtimes (STR082); an app
//! built on the base does not install a runtime a runtime image already provides (STR083);
//! a reference that looks like a family image but names none is probably misspelt (STR085).

use std::collections::BTreeMap;

use super::check::Facts;
use super::context::{finding, Role};
use super::packages::runtime_of;
use super::rules::RuleId;
use super::Finding;
use crate::family::{Base, Family};

/// Runs the family rules; findings go to the image they point into.
pub(super) fn check(
    family: &Family,
    facts: &BTreeMap<String, Facts>,
    out: &mut BTreeMap<String, Vec<Finding>>,
) {
    siblings(family, facts, out);
    unknown_parents(family, out);
    for (name, image) in &family.images {
        let Some(f) = facts.get(name) else { continue };
        let source = &image.parsed.source;
        let findings = out.entry(name.clone()).or_default();
        match Role::of(family, &image.tier) {
            Role::Runtime => {
                for (sources, dest, span) in &f.copies {
                    if let Some(what) = app_code(sources, dest) {
                        let len = source.text[span.offset..]
                            .find('\n')
                            .unwrap_or(span.len)
                            .min(span.len);
                        findings.push(finding(
                            source,
                            RuleId::RuntimeCopiesAppCode,
                            span.offset,
                            len,
                            format!("runtime-tier image `{name}` copies application code ({what})"),
                        ));
                    }
                }
            }
            Role::Base => {
                for (_, package, word) in &f.installs {
                    if let Some(runtime) = runtime_of(package) {
                        findings.push(finding(
                            source,
                            RuleId::BaseInstallsRuntime,
                            word.offset,
                            word.len,
                            format!("base-tier image `{name}` installs the {runtime} runtime `{package}`: every image of the family inherits it"),
                        ));
                    }
                }
            }
            Role::App => {
                let Base::Family(parent) = &image.base else {
                    continue;
                };
                let on_base = family
                    .images
                    .get(parent)
                    .is_some_and(|p| Role::of(family, &p.tier) == Role::Base);
                if !on_base {
                    continue;
                }
                for (_, package, word) in &f.installs {
                    let Some(runtime) = runtime_of(package) else {
                        continue;
                    };
                    let provider = family.images.iter().find(|(n, i)| {
                        Role::of(family, &i.tier) == Role::Runtime
                            && facts.get(*n).is_some_and(|rf| {
                                rf.installs
                                    .iter()
                                    .any(|(_, p, _)| runtime_of(p) == Some(runtime))
                            })
                    });
                    if let Some((provider, _)) = provider {
                        let mut f = finding(
                            source,
                            RuleId::AppSkipsRuntimeTier,
                            word.offset,
                            word.len,
                            format!("`{name}` builds FROM the base `{parent}` and installs its own {runtime} (`{package}`), which the runtime image `{provider}` provides"),
                        );
                        f.hint = format!("build FROM {provider} and drop the install");
                        findings.push(f);
                    }
                }
            }
            Role::Lone => {}
        }
    }
}

/// STR085: references that name no family image but look like one.
fn unknown_parents(family: &Family, out: &mut BTreeMap<String, Vec<Finding>>) {
    for (name, image) in &family.images {
        for reference in &image.references {
            if family.image_for_reference(&reference.name).is_some() {
                continue;
            }
            let Some(hint) = family.did_you_mean(&reference.name) else {
                continue;
            };
            let span = reference.span;
            let line = &image.parsed.source.text[span.offset..span.offset + span.len];
            let (offset, len) = line
                .find(&reference.name)
                .map_or((span.offset, line.find('\n').unwrap_or(span.len)), |at| {
                    (span.offset + at, reference.name.len())
                });
            let mut f = finding(
                &image.parsed.source,
                RuleId::UnknownFamilyParent,
                offset,
                len,
                format!(
                    "{} `{}` is not an image of family {}",
                    reference.kind.describe(),
                    reference.name,
                    family.name
                ),
            );
            f.hint = hint;
            out.entry(name.clone()).or_default().push(f);
        }
    }
}

/// STR080: OS packages installed by two or more images built FROM the same family image.
fn siblings(
    family: &Family,
    facts: &BTreeMap<String, Facts>,
    out: &mut BTreeMap<String, Vec<Finding>>,
) {
    let mut by_parent: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, image) in &family.images {
        if let Base::Family(parent) = &image.base {
            by_parent.entry(parent).or_default().push(name);
        }
    }
    for (parent, children) in by_parent {
        let mut users: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for child in &children {
            let Some(f) = facts.get(*child) else { continue };
            for (manager, package, _) in &f.installs {
                // A runtime's place is a runtime-tier image, not the parent (STR083).
                if manager.is_os() && runtime_of(package).is_none() {
                    let list = users.entry(package).or_default();
                    if !list.contains(child) {
                        list.push(child);
                    }
                }
            }
        }
        for (package, images) in users.into_iter().filter(|(_, i)| i.len() >= 2) {
            for &child in &images {
                let image = &family.images[child];
                let others: Vec<&str> = images.iter().copied().filter(|i| *i != child).collect();
                let Some((_, _, word)) = facts[child]
                    .installs
                    .iter()
                    .find(|(m, p, _)| m.is_os() && p == package)
                else {
                    continue;
                };
                let mut f = finding(
                    &image.parsed.source,
                    RuleId::PackageBelongsInParent,
                    word.offset,
                    word.len,
                    format!(
                        "`{package}` is also installed by {} ({}), built FROM the same parent `{parent}`: installed once in `{parent}`, {} images gain",
                        if others.len() == 1 { "a sibling".to_owned() } else { format!("{} siblings", others.len()) },
                        others.join(", "),
                        images.len()
                    ),
                );
                f.hint = format!("install `{package}` in `{parent}` and drop it here");
                out.entry(child.to_owned()).or_default().push(f);
            }
        }
    }
}

/// Why a COPY looks like application code, if it does.
fn app_code(sources: &[String], dest: &str) -> Option<String> {
    const EXTENSIONS: &[&str] = &[".py", ".js", ".ts", ".jar", ".war", ".rb", ".php", ".go"];
    const APP_DIRS: &[&str] = &["/app", "/srv", "/usr/src/app", "/var/www", "/opt/app"];
    if let Some(s) = sources.iter().find(|s| matches!(s.as_str(), "." | "./")) {
        return Some(format!("`{s}`, the whole context"));
    }
    if let Some(s) = sources
        .iter()
        .find(|s| EXTENSIONS.iter().any(|e| s.trim_matches('"').ends_with(e)))
    {
        return Some(format!("`{s}`"));
    }
    APP_DIRS
        .iter()
        .find(|d| dest == **d || dest.starts_with(&format!("{d}/")))
        .map(|d| format!("into {d}"))
}
