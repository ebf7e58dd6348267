//! The `[lint]` tables of `strata.toml`: rules disabled and severities changed, for the
//! whole family and per image (`[images.NAME.lint]`).
//!
//! ```toml
//! [lint]
//! disable = ["STR023"]
//! severity = { STR031 = "error", STR012 = "off" }
//!
//! [images.shop.lint]
//! disable = ["STR072"]
//! ```
//! The family loader only accepts these keys; this module reads them (with their spans)
//! from the manifest text, and reports unknown rule ids or severities as `STR000`
//! findings pointing into `strata.toml`.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::context::finding;
use super::rules::RuleId;
use super::{Finding, Severity};
use crate::dockerfile::Source;

/// One layer of settings (the family's, an image's, or the command line's).
#[derive(Clone, Debug, Default)]
pub(super) struct Settings {
    /// Rule ids not reported.
    pub disable: Vec<String>,
    /// Severities by rule id.
    pub severity: BTreeMap<String, Severity>,
}

/// The family's settings and each image's.
#[derive(Debug, Default)]
pub(super) struct FamilySettings {
    /// `[lint]`.
    pub family: Settings,
    /// `[images.NAME.lint]`, by image name.
    pub images: BTreeMap<String, Settings>,
}

#[derive(Deserialize)]
struct File {
    lint: Option<Table>,
    #[serde(default)]
    images: BTreeMap<String, ImageEntry>,
}

#[derive(Deserialize)]
struct ImageEntry {
    lint: Option<Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    #[serde(default)]
    disable: Vec<Spanned<String>>,
    #[serde(default)]
    severity: BTreeMap<Spanned<String>, Spanned<String>>,
}

/// Reads the `[lint]` tables of a loaded family's `strata.toml`; problems are findings.
pub(super) fn parse(manifest: &Source) -> (FamilySettings, Vec<Finding>) {
    let mut problems = Vec::new();
    let mut error = |at: std::ops::Range<usize>, message: String| {
        problems.push(finding(
            manifest,
            RuleId::ParseError,
            at.start,
            at.len(),
            message,
        ));
    };
    let file: File = match toml::from_str(&manifest.text) {
        Ok(file) => file,
        Err(e) => {
            error(e.span().unwrap_or(0..0), e.message().trim().to_owned());
            return (FamilySettings::default(), problems);
        }
    };
    let mut read = |table: Option<Table>| {
        let mut settings = Settings::default();
        let Some(table) = table else { return settings };
        for id in table.disable {
            if RuleId::parse(id.get_ref()).is_some() {
                settings.disable.push(id.into_inner());
            } else {
                error(id.span(), format!("unknown rule id {:?}", id.get_ref()));
            }
        }
        for (id, level) in table.severity {
            if RuleId::parse(id.get_ref()).is_none() {
                error(id.span(), format!("unknown rule id {:?}", id.get_ref()));
            } else if level.get_ref() == "off" {
                settings.disable.push(id.into_inner());
            } else if let Some(severity) = Severity::parse(level.get_ref()) {
                settings.severity.insert(id.into_inner(), severity);
            } else {
                error(
                    level.span(),
                    format!(
                        "unknown severity {:?}: use error, warning, info or off",
                        level.get_ref()
                    ),
                );
            }
        }
        settings
    };
    let family = read(file.lint);
    let images = file
        .images
        .into_iter()
        .map(|(name, entry)| (name, read(entry.lint)))
        .collect();
    (FamilySettings { family, images }, problems)
}
