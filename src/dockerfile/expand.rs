//! Variable expansion and quote removal with docker's rules (BuildKit's shell lexer):
//! `$V`, `${V}`, `${V:-x}`, `${V-x}`, `${V:+x}`, `${V+x}`, `${V:?msg}`, escaped `\$`,
//! single quotes literal, double quotes expanding.

/// An expansion that failed (`${V:?msg}`, unterminated `${` or quote).
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct ExpandError(pub String);

/// Expands one raw word: variables substituted from `lookup`, quotes and escapes removed.
/// The result is one string even if it contains spaces (WORKDIR, USER, ENV values ...).
pub fn word(
    raw: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ExpandError> {
    let _ = (raw, escape, lookup);
    todo!("dockerfile helper")
}

/// Expands a raw string and splits it into words at unquoted whitespace (after expansion,
/// as docker does for EXPOSE, VOLUME and COPY sources written in one string).
pub fn words(
    raw: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, ExpandError> {
    let _ = (raw, escape, lookup);
    todo!("dockerfile helper")
}
