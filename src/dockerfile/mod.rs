//! Dockerfile frontend: text -> typed instructions with source spans.
//!
//! [`parse`] turns a Dockerfile into a [`Dockerfile`]: parser directives, global ARGs and
//! stages, each a list of [`Instruction`]s carrying the [`Span`] they came from. Words are
//! kept raw (quotes and `$VAR` as written): the builder expands them step by step with
//! [`expand`], because the values of ARG and ENV change as a stage runs.
//! [`ignore`] implements `.dockerignore`.
//!
//! Every error is a [`DockerfileError`] naming file, line and column and showing the line.

pub mod expand;
pub mod ignore;

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where in the Dockerfile something was written: 1-based line and column plus byte range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Span {
    /// 1-based line of the first byte.
    pub line: usize,
    /// 1-based column (in characters) of the first byte.
    pub column: usize,
    /// Byte offset of the first byte in the source.
    pub offset: usize,
    /// Length in bytes.
    pub len: usize,
}

/// The source text of a Dockerfile and its path, shared by every error that points into it.
#[derive(Clone, Debug)]
pub struct Source {
    /// Path as given by the user (for messages).
    pub path: PathBuf,
    /// The whole text.
    pub text: Arc<str>,
}

/// A parsed Dockerfile.
#[derive(Clone, Debug)]
pub struct Dockerfile {
    /// The text it was parsed from.
    pub source: Source,
    /// The escape character (`\` unless `# escape=` says otherwise).
    pub escape: char,
    /// The `# syntax=` directive, recorded but not acted upon.
    pub syntax: Option<String>,
    /// ARGs declared before the first FROM.
    pub global_args: Vec<Spanned<ArgDecl>>,
    /// The stages in file order.
    pub stages: Vec<Stage>,
}

/// A value with the span it was written at.
#[derive(Clone, Debug, PartialEq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

/// One `FROM` and the instructions up to the next one.
#[derive(Clone, Debug)]
pub struct Stage {
    /// Position among the stages, 0-based (`COPY --from=0` refers to it).
    pub index: usize,
    /// The `AS name`, lowercased as docker does.
    pub name: Option<String>,
    /// The image reference as written (raw: may contain `$ARG`), or `scratch`.
    pub base: String,
    /// `--platform` as written, if given.
    pub platform: Option<String>,
    /// Span of the FROM instruction.
    pub span: Span,
    /// The instructions of the stage, FROM excluded.
    pub instructions: Vec<Spanned<Instruction>>,
}

/// An ARG declaration: a name and an optional raw default.
#[derive(Clone, Debug, PartialEq)]
pub struct ArgDecl {
    /// The name.
    pub name: String,
    /// The default as written (raw, still to be expanded), if any.
    pub default: Option<String>,
}

/// The command of RUN, CMD, ENTRYPOINT and HEALTHCHECK: JSON array or shell form.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// `["exe", "arg"]`: run as given, no shell.
    Exec(Vec<String>),
    /// `exe arg`: run through the stage's SHELL. The text is as written, with line
    /// continuations removed.
    Shell(String),
}

/// A here-document attached to RUN or COPY.
#[derive(Clone, Debug, PartialEq)]
pub struct Heredoc {
    /// The delimiter word, without quotes or `-`.
    pub name: String,
    /// The body, without the closing delimiter line; leading tabs already stripped for `<<-`.
    pub content: String,
    /// Whether `$VAR` in the body is expanded (false when the delimiter was quoted).
    pub expand: bool,
}

/// A `--flag=value` as written on an instruction, kept for instructions whose flags the
/// builder interprets itself (RUN's `--mount`, `--network`, `--security`).
#[derive(Clone, Debug, PartialEq)]
pub struct Flag {
    /// Name without the dashes.
    pub name: String,
    /// Raw value.
    pub value: String,
    /// Where it was written.
    pub span: Span,
}

/// RUN.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// The command. With heredocs in shell form, the text of the first line (e.g. `<<EOF sh`)
    /// is kept as written; the builder feeds the heredocs as docker does.
    pub command: Command,
    /// Here-documents, in order.
    pub heredocs: Vec<Heredoc>,
    /// `--mount`, `--network` and `--security` flags, in order.
    pub flags: Vec<Flag>,
}

/// COPY and ADD.
#[derive(Clone, Debug, PartialEq)]
pub struct Copy {
    /// Source paths (raw), or heredoc names when sources are heredocs.
    pub sources: Vec<String>,
    /// Destination (raw).
    pub dest: String,
    /// `--from`: a stage name, stage index or image reference (raw).
    pub from: Option<String>,
    /// `--chown=user[:group]` (raw).
    pub chown: Option<String>,
    /// `--chmod=MODE` (raw).
    pub chmod: Option<String>,
    /// `--link` (accepted; the layer is the same).
    pub link: bool,
    /// Here-documents used as sources, in order.
    pub heredocs: Vec<Heredoc>,
}

/// HEALTHCHECK.
#[derive(Clone, Debug, PartialEq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`.
    None,
    /// `HEALTHCHECK [options] CMD ...`; durations raw (`30s`), as written.
    Check {
        /// The command.
        command: Command,
        /// `--interval`.
        interval: Option<String>,
        /// `--timeout`.
        timeout: Option<String>,
        /// `--start-period`.
        start_period: Option<String>,
        /// `--start-interval`.
        start_interval: Option<String>,
        /// `--retries`.
        retries: Option<String>,
    },
}

/// One instruction of a stage, typed. Strings are raw (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub enum Instruction {
    /// RUN.
    Run(Run),
    /// COPY.
    Copy(Copy),
    /// ADD (same shape as COPY).
    Add(Copy),
    /// ENV pairs (legacy `ENV k v` becomes one pair).
    Env(Vec<(String, String)>),
    /// ARG declarations.
    Arg(Vec<ArgDecl>),
    /// WORKDIR path.
    Workdir(String),
    /// USER `user[:group]`.
    User(String),
    /// LABEL pairs.
    Label(Vec<(String, String)>),
    /// EXPOSE ports (`80`, `53/udp`), one per word.
    Expose(Vec<String>),
    /// VOLUME paths (JSON or words).
    Volume(Vec<String>),
    /// ENTRYPOINT.
    Entrypoint(Command),
    /// CMD.
    Cmd(Command),
    /// SHELL (always JSON).
    Shell(Vec<String>),
    /// STOPSIGNAL.
    StopSignal(String),
    /// HEALTHCHECK.
    Healthcheck(Healthcheck),
    /// ONBUILD: the trigger instruction's text, recorded in the config.
    OnBuild(String),
    /// MAINTAINER (deprecated; becomes the `author` field).
    Maintainer(String),
}

impl Dockerfile {
    /// TEMP (dockerfile helper provides)
    pub fn stage_by_name(&self, name: &str) -> Option<&Stage> {
        let _ = name;
        todo!()
    }
}

impl Instruction {
    /// The keyword, upper case (`RUN`, `COPY`, ...), for messages and history.
    pub fn keyword(&self) -> &'static str {
        todo!("dockerfile helper")
    }
}

/// A Dockerfile error located at a span; `Display` is `file:line:col: message` and the
/// miette rendering shows the line with a marker.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{path}:{line}:{column}: {message}")]
pub struct DockerfileError {
    /// File path for the message.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// The source, for the annotated rendering.
    #[source_code]
    pub src: miette::NamedSource<Arc<str>>,
    /// The marked span.
    #[label("here")]
    pub at: miette::SourceSpan,
    /// How to fix it, if we know.
    #[help]
    pub hint: Option<String>,
}

impl Source {
    /// An error at `span` of this source. Used by the parser and by the builder for
    /// problems it finds later (missing COPY source, unknown stage, failing RUN).
    pub fn error(&self, span: Span, message: impl Into<String>) -> DockerfileError {
        let _ = (span, message.into());
        todo!("dockerfile helper")
    }
}

/// Parses `text`, read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<Dockerfile, DockerfileError> {
    let _ = (path, text);
    todo!("dockerfile helper")
}

/// Reads and parses the Dockerfile at `path`.
pub fn parse_file(path: &Path) -> Result<Dockerfile, DockerfileError> {
    let _ = path;
    todo!("dockerfile helper")
}
