//! Where a check stands and where its findings go: the image's [`Role`] in its family,
//! the [`Ctx`] of one Dockerfile, and [`Out`], which turns a [`RuleId`] and a place in the
//! source into a [`Finding`] with the rule's default severity and hint.
//!
//! Every rule file (`check`, `run`, `caches`, `family`, `config`) emits through here, so
//! this file sits below all of them.

use std::path::Path;

use super::rules::RuleId;
use super::shell::Word;
use super::Finding;
use crate::dockerfile::{Source, Span};
use crate::family::{Family, Image};

/// The role an image plays, from its tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    /// The lowest tier of a family.
    Base,
    /// A tier between the lowest and the highest.
    Runtime,
    /// The highest tier.
    App,
    /// A Dockerfile outside any family (checked as an app, see docs/rules.md).
    Lone,
}

impl Role {
    /// The role of `tier` in `family`.
    pub fn of(family: &Family, tier: &str) -> Role {
        match family.tier_rank(tier) {
            Some(0) => Role::Base,
            Some(r) if r + 1 == family.tiers.len() => Role::App,
            _ => Role::Runtime,
        }
    }
}

/// What the checks of one Dockerfile know about where it stands.
pub(super) struct Ctx<'a> {
    /// Its role.
    pub role: Role,
    /// Its family, if any.
    pub family: Option<&'a Family>,
    /// Its image in the family, if any.
    pub image: Option<&'a Image>,
    /// The build context (for `.dockerignore`).
    pub context_dir: &'a Path,
}

/// A finding for `rule` at `len` bytes from `offset` of `source`, with the rule's
/// default severity and hint.
pub(super) fn finding(
    source: &Source,
    rule: RuleId,
    offset: usize,
    len: usize,
    message: String,
) -> Finding {
    let meta = rule.rule();
    let start = source.span_at(offset, len);
    let end = source.span_at(offset + len, 0);
    Finding {
        rule: meta.id,
        severity: meta.severity,
        path: source.path.clone(),
        line: start.line,
        column: start.column,
        end_line: end.line,
        end_column: end.column,
        message,
        hint: meta.hint.to_owned(),
    }
}

/// Collects the findings of one file.
pub(super) struct Out<'a> {
    /// The file the offsets point into.
    pub source: &'a Source,
    /// Where the findings go.
    pub findings: &'a mut Vec<Finding>,
}

impl Out<'_> {
    /// A finding at `len` bytes from `offset`, returned for a rule to adjust its hint or
    /// severity.
    pub(super) fn at(
        &mut self,
        rule: RuleId,
        offset: usize,
        len: usize,
        message: String,
    ) -> &mut Finding {
        self.findings
            .push(finding(self.source, rule, offset, len, message));
        self.findings.last_mut().expect("just pushed")
    }

    /// A finding on one shell word.
    pub(super) fn word(&mut self, rule: RuleId, word: &Word, message: String) -> &mut Finding {
        self.at(rule, word.offset, word.len, message)
    }

    /// A finding on the first line of an instruction.
    pub(super) fn span(&mut self, rule: RuleId, span: Span, message: String) -> &mut Finding {
        let len = first_line_len(&self.source.text, span);
        self.at(rule, span.offset, len, message)
    }

    /// The first occurrence of `needle` inside `span` (the span's start if absent).
    pub(super) fn find(&self, span: Span, needle: &str) -> (usize, usize) {
        let end = (span.offset + span.len).min(self.source.text.len());
        match self.source.text[span.offset..end].find(needle) {
            Some(i) if !needle.is_empty() => (span.offset + i, needle.len()),
            _ => (span.offset, first_line_len(&self.source.text, span)),
        }
    }
}

/// The length of the part of `span` on its first line.
fn first_line_len(text: &str, span: Span) -> usize {
    let end = (span.offset + span.len).min(text.len());
    text[span.offset..end]
        .find('\n')
        .unwrap_or(end - span.offset)
}
