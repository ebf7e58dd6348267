//! [`CliError`], what every subcommand fails with, and [`report`], which prints it.
//!
//! Each module's error stays typed up to here: the variants are transparent, so the
//! message, the cause chain and the miette diagnostic (source excerpt, help) are the
//! module's own. The printer then shows them uv's way, every cause once:
//!
//! ```text
//! error: Dockerfile:5:1: COPY no-such-file /x
//!    ╭─[Dockerfile:5:1]
//!  4 │ RUN true
//!  5 │ COPY no-such-file /x
//!    · ──────────┬─────────
//!    ·           ╰── here
//!    ╰────
//!   Caused by: ...
//!   hint: ...
//! ```

use std::fmt;
use std::io::{IsTerminal, Write};

use miette::Diagnostic;

use crate::audit::AuditError;
use crate::builder::BuildError;
use crate::container::RunError;
use crate::family::FamilyError;
use crate::image::load::LoadError;
use crate::image::StoreError;
use crate::lint::LintError;
use crate::platform::PlatformError;
use crate::registry::RegistryError;
use crate::sandbox::SandboxError;

/// Why a `strata` command failed (exit code 2).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CliError {
    /// A build failed (located Dockerfile errors keep their excerpt).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Build(#[from] BuildError),
    /// `strata lint` could not read what it was given.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lint(#[from] LintError),
    /// `strata audit` could not read an image.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// A family could not be loaded or planned (`strata.toml` errors keep their excerpt).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Family(#[from] FamilyError),
    /// A registry failed (pull, push, login, cache import and export), or
    /// registries.conf is bad (its excerpt kept).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Registry(#[from] RegistryError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `strata load` could not read an archive or store its images.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// `strata run` could not run its command.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Run(#[from] RunError),
    /// A `--platform` value is malformed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Platform(#[from] PlatformError),
    /// The private mount namespace of builds and runs could not be entered.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// `strata fsck` could not read the store.
    #[error(transparent)]
    Fsck(#[from] crate::fsck::FsckError),
    /// `SOURCE_DATE_EPOCH` is set to something that is not a time.
    #[error(transparent)]
    Epoch(#[from] crate::epoch::BadEpoch),
    /// I/O the command does itself (`--iidfile`, the step cache, a password on stdin).
    #[error("{what}")]
    Io {
        /// What was being done, naming the file.
        what: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// An image's JSON could not be written out (`strata inspect`).
    #[error("cannot write the image's JSON")]
    Json(#[source] serde_json::Error),
    /// Flags that do not go together or do not parse.
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    /// A [`CliError::Io`] saying what was being done (for `map_err`).
    pub fn io(what: impl fmt::Display) -> impl FnOnce(std::io::Error) -> CliError {
        move |source| CliError::Io {
            what: what.to_string(),
            source,
        }
    }
}

/// Prints `error` to stderr: `error: message`, the source excerpt of a located error,
/// a `Caused by:` line per cause and a `hint:` line when the diagnostic has help.
pub fn report(error: &CliError) {
    let color = std::io::stderr().is_terminal();
    let text = render(error, color);
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// The text [`report`] prints (without colours when `color` is false).
fn render(error: &CliError, color: bool) -> String {
    let mut out = String::new();
    let excerpt = Excerpt(error);
    let mut theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    // `error: file:line:col: message`, as compilers print it.
    theme.characters.error = "error:".into();
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_context_lines(1);
    if error.source_code().is_none() || handler.render_report(&mut out, &excerpt).is_err() {
        out = format!("error: {error}\n");
    }
    // miette indents its header and ends with an empty line: `error:` starts the line as
    // for every other error, and the chain follows the excerpt directly.
    let mut out = out.trim_start().to_owned();
    while out.ends_with("\n\n") {
        out.pop();
    }
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        out += &format!("  Caused by: {c}\n");
        cause = c.source();
    }
    if let Some(help) = error.help() {
        out += &format!("  hint: {help}\n");
    }
    out
}

/// The message and source excerpt of a diagnostic, without its causes and help: miette
/// draws those its own way, and [`render`] prints them as uv does.
struct Excerpt<'a>(&'a CliError);

impl fmt::Debug for Excerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl fmt::Display for Excerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.0, f)
    }
}

impl std::error::Error for Excerpt<'_> {}

impl Diagnostic for Excerpt<'_> {
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.0.source_code()
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.0.labels()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A located error with a cause chain: excerpt, then each cause once, then the hint.
    #[test]
    fn located_error_prints_excerpt_causes_and_hint() {
        let df =
            crate::dockerfile::parse(std::path::Path::new("Dockerfile"), "FROM a\nCOPY x /x\n")
                .unwrap();
        let span = df.stages[0].instructions[0].span;
        let cause = StoreError::Io {
            path: "/store/blobs".into(),
            source: std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied"),
        };
        let located = df
            .source
            .error_with(span, "COPY x", cause)
            .with_hint("check the store");
        let text = render(&CliError::Build(BuildError::from(located)), false);
        let expected = "\
error: Dockerfile:2:1: COPY x
   ╭─[Dockerfile:2:1]
 1 │ FROM a
 2 │ COPY x /x
   · ────┬────
   ·     ╰── here
   ╰────
  Caused by: /store/blobs
  Caused by: denied
  hint: check the store
";
        assert_eq!(text, expected);
    }

    /// An error without a location: the message and its chain.
    #[test]
    fn plain_error_prints_message_and_chain() {
        let error = CliError::io("writing --iidfile /x")(std::io::Error::other("disk full"));
        assert_eq!(
            render(&error, false),
            "error: writing --iidfile /x\n  Caused by: disk full\n"
        );
    }
}
