//! [`Severity`]: how much a finding matters, one scale for `lint` (rules over
//! Dockerfiles) and `audit` (rules over built images).
//!
//! Both report findings that a `--fail-level` / `--fail-on` threshold compares against,
//! and both print the same three names, so the scale lives below them both instead of
//! in either (re-exported as `strata::lint::Severity` and `strata::audit::Severity`).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// How much a finding matters. Ordered: `Info < Warning < Error`; serialized as its
/// lower-case name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; never fails a default run.
    Info,
    /// Should be fixed; fails a default lint run.
    Warning,
    /// Must be fixed (secrets, exceeded budgets, parse errors).
    Error,
}

impl Severity {
    /// The lower-case name used in every output format and in `strata.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    /// Parses exactly `error`, `warning` or `info`, the names `strata.toml` accepts.
    pub fn parse(text: &str) -> Option<Severity> {
        match text {
            "error" => Some(Severity::Error),
            "warning" => Some(Severity::Warning),
            "info" => Some(Severity::Info),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The command-line form (`strata audit --fail-on`): the names [`Severity::parse`]
/// takes, and `warn` for `warning`.
impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "warn" => Ok(Severity::Warning),
            _ => Severity::parse(s)
                .ok_or_else(|| format!("unknown severity {s:?} (info, warning, error)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order_holds() {
        for s in [Severity::Info, Severity::Warning, Severity::Error] {
            assert_eq!(Severity::parse(s.as_str()), Some(s));
            assert_eq!(s.as_str().parse::<Severity>(), Ok(s));
            assert_eq!(s.to_string(), s.as_str());
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Error);
        assert_eq!(
            Severity::parse("warn"),
            None,
            "strata.toml takes full names"
        );
        assert_eq!("warn".parse::<Severity>(), Ok(Severity::Warning));
        assert!("fatal".parse::<Severity>().is_err());
    }
}
