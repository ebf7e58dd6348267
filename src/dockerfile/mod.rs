//! Dockerfile frontend: text -> typed instructions with source spans.
//!
//! [`parse`] turns a Dockerfile into a [`Dockerfile`]: parser directives, global ARGs and
//! stages, each a list of [`Instruction`]s carrying the [`Span`] they came from. Words are
//! kept raw (quotes and `$VAR` as written): the builder expands them step by step with
//! [`expand`], because the values of ARG and ENV change as a stage runs.
//! [`ignore`] implements `.dockerignore`.
//!
//! Every error is a [`DockerfileError`] naming file, line and column and showing the line.

// A `DockerfileError` carries the source for miette (~170 bytes). Errors end a parse, so
// the larger `Result` costs nothing measurable, and keeping the error unboxed keeps the
// interface the builder was written against.
#![allow(clippy::result_large_err)]

pub mod args;
pub mod expand;
pub mod ignore;
pub mod mount;

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
    /// Byte offset of the start of each line, for [`Source::span_at`]: a parser that
    /// located each of 300k instructions by counting newlines from the start of the
    /// text was quadratic (issue 14's 10 MB Dockerfile ran for minutes).
    line_starts: Arc<[usize]>,
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
    /// Raw value as written (quotes kept): expand it with [`expand::word`].
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
    /// Source paths, or heredoc names when sources are heredocs (see `heredocs`).
    /// Raw words with quotes kept (`"a b"`), each to be expanded with [`expand::word`];
    /// in JSON form the elements are already unquoted (docker still expands `$VAR` there).
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
    /// `COPY --parents`: keep the sources' parent directories (below a `/./` pivot).
    pub parents: bool,
    /// `ADD --unpack=true|false` when given: whether archives are extracted (by
    /// default local archives are and downloaded ones are not).
    pub unpack: Option<bool>,
    /// `ADD --checksum=sha256:...` (raw): the digest URL sources must have.
    pub checksum: Option<String>,
    /// `--exclude` patterns (raw), in order.
    pub excludes: Vec<String>,
    /// Here-documents used as sources, in order.
    pub heredocs: Vec<Heredoc>,
}

/// HEALTHCHECK.
#[derive(Clone, Debug, PartialEq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`.
    None,
    /// `HEALTHCHECK [options] CMD ...`. Durations are parsed here, once, as Go durations
    /// in nanoseconds (`30s` is 30_000_000_000; `0` means docker's default), so lint and
    /// build accept exactly the same values.
    Check {
        /// The command.
        command: Command,
        /// `--interval`, in nanoseconds.
        interval: Option<i64>,
        /// `--timeout`, in nanoseconds.
        timeout: Option<i64>,
        /// `--start-period`, in nanoseconds.
        start_period: Option<i64>,
        /// `--start-interval`, in nanoseconds.
        start_interval: Option<i64>,
        /// `--retries`.
        retries: Option<i64>,
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
    /// ENV pairs (legacy `ENV k v` becomes one pair, the value being the rest of the
    /// line). Keys and values are raw; docker expands both.
    Env(Vec<(String, String)>),
    /// ARG declarations.
    Arg(Vec<ArgDecl>),
    /// WORKDIR path.
    Workdir(String),
    /// USER `user[:group]`.
    User(String),
    /// LABEL pairs, raw like ENV's (a quoted key such as `"a b"=c` keeps its quotes).
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
    /// ONBUILD: the trigger instruction's text (continuations removed), recorded in the
    /// config; a trigger with heredocs carries their bodies and delimiters on the lines
    /// after it. The trigger is parsed once to reject bad ones early.
    OnBuild(String),
    /// MAINTAINER (deprecated; becomes the `author` field).
    Maintainer(String),
}

impl Instruction {
    /// The keyword, upper case (`RUN`, `COPY`, ...), for messages and history.
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::Run(_) => "RUN",
            Instruction::Copy(_) => "COPY",
            Instruction::Add(_) => "ADD",
            Instruction::Env(_) => "ENV",
            Instruction::Arg(_) => "ARG",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::User(_) => "USER",
            Instruction::Label(_) => "LABEL",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::Volume(_) => "VOLUME",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Cmd(_) => "CMD",
            Instruction::Shell(_) => "SHELL",
            Instruction::StopSignal(_) => "STOPSIGNAL",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::OnBuild(_) => "ONBUILD",
            Instruction::Maintainer(_) => "MAINTAINER",
        }
    }
}

impl Dockerfile {
    /// The stage `name` refers to, as `COPY --from` and `--target` resolve it: a stage
    /// name (case-insensitive), else a stage index. `None` means it is not a stage (for
    /// `--from`, it is then an image reference).
    pub fn stage_by_name(&self, name: &str) -> Option<&Stage> {
        let lower = name.to_ascii_lowercase();
        self.stages
            .iter()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
            .or_else(|| name.parse::<usize>().ok().and_then(|i| self.stages.get(i)))
    }
}

/// A Dockerfile error located at a span; `Display` is `file:line:col: message` and the
/// miette rendering shows the line with a marker. What caused it (a store, copy or
/// sandbox error) is kept as the `source`, so a printer shows the excerpt and then the
/// cause chain, each cause once (BuildKit's `WithLocation` wraps errors the same way).
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
    /// The error this one located, if it wraps one ([`Source::error_with`]).
    #[source]
    pub cause: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl DockerfileError {
    /// The same error with a hint (shown as `help:` by miette).
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl Source {
    /// The source `text` read from `path`, indexed by line.
    pub fn new(path: impl Into<PathBuf>, text: impl Into<Arc<str>>) -> Source {
        let text: Arc<str> = text.into();
        let line_starts = std::iter::once(0)
            .chain(newline_offsets(&text).map(|i| i + 1))
            .collect();
        Source {
            path: path.into(),
            text,
            line_starts,
        }
    }

    /// An error at `span` of this source. Used by the parser and by the builder for
    /// problems it finds later (missing COPY source, unknown stage, failing RUN).
    pub fn error(&self, span: Span, message: impl Into<String>) -> DockerfileError {
        self.located(span, message.into(), None)
    }

    /// An error at `span` caused by `cause`: `message` says what the instruction was
    /// doing (`pulling alpine:3`), the cause says why it failed, and stays a typed error
    /// with its own chain instead of being flattened into the message.
    pub fn error_with(
        &self,
        span: Span,
        message: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> DockerfileError {
        self.located(span, message.into(), Some(Box::new(cause)))
    }

    /// The one constructor behind [`Source::error`] and [`Source::error_with`].
    fn located(
        &self,
        span: Span,
        message: String,
        cause: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> DockerfileError {
        let offset = span.offset.min(self.text.len());
        let len = span.len.min(self.text.len() - offset);
        DockerfileError {
            path: self.path.display().to_string(),
            line: span.line,
            column: span.column,
            message,
            src: miette::NamedSource::new(self.path.display().to_string(), Arc::clone(&self.text)),
            at: (offset, len).into(),
            hint: None,
            cause,
        }
    }

    /// The [`Span`] of `len` bytes at byte `offset` (line and column computed from the
    /// text), for errors about a part of an instruction the parser did not single out.
    pub fn span_at(&self, offset: usize, len: usize) -> Span {
        let offset = offset.min(self.text.len());
        // The number of lines starting at or before `offset` is its 1-based line.
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let line_start = self.line_starts[line - 1];
        Span {
            line,
            column: self.text[line_start..offset].chars().count() + 1,
            offset,
            len,
        }
    }
}

/// The byte offsets of the newlines of `text`.
fn newline_offsets(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.bytes()
        .enumerate()
        .filter_map(|(i, b)| (b == b'\n').then_some(i))
}

/// The names a context's Dockerfile may have, in the order they are looked for:
/// BuildKit's `Dockerfile`, then its lowercase fallback `dockerfile`, then buildah's
/// `Containerfile`.
pub const DEFAULT_NAMES: [&str; 3] = ["Dockerfile", "dockerfile", "Containerfile"];

/// The first of [`DEFAULT_NAMES`] that is a file in `context`.
pub fn default_in(context: &std::path::Path) -> Option<std::path::PathBuf> {
    DEFAULT_NAMES
        .iter()
        .map(|name| context.join(name))
        .find(|p| p.is_file())
}

/// Parses `text`, read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<Dockerfile, DockerfileError> {
    let source = Source::new(path, text);
    Parser::new(&source).run()
}

/// Parses the bytes of a Dockerfile read from `path` (see [`decode`]).
pub fn parse_bytes(path: &Path, bytes: Vec<u8>) -> Result<Dockerfile, DockerfileError> {
    parse(path, &decode(path, bytes)?)
}

/// The bytes of a text file read from `path` (a Dockerfile, `strata.toml`) as text, or
/// an error at the line and byte offset of the first byte that is not UTF-8. BuildKit
/// reads a Dockerfile as bytes and lets invalid UTF-8 through to wherever it lands;
/// strata refuses it here, because every later step (ENV values, the config's JSON,
/// RUN's argv) needs text.
pub fn decode(path: &Path, bytes: Vec<u8>) -> Result<String, DockerfileError> {
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let bad = e.as_bytes()[offset];
        // The text up to the bad byte is exact, so the excerpt and position are too.
        let source = Source::new(path, String::from_utf8_lossy(e.as_bytes()).into_owned());
        let span = source.span_at(offset, 1);
        source
            .error(
                span,
                format!("invalid UTF-8 at byte offset {offset} (byte 0x{bad:02x})"),
            )
            .with_hint("the file must be UTF-8 text: convert it, e.g. with iconv")
    })
}

/// Reads and parses the Dockerfile at `path`.
pub fn parse_file(path: &Path) -> Result<Dockerfile, DockerfileError> {
    let bytes = std::fs::read(path).map_err(|e| {
        let source = Source::new(path, "");
        source.error(
            Span {
                line: 1,
                column: 1,
                ..Span::default()
            },
            format!("cannot read: {e}"),
        )
    })?;
    parse_bytes(path, bytes)
}

/// Every instruction keyword, for "did you mean" hints.
const KEYWORDS: &[&str] = &[
    "FROM",
    "RUN",
    "COPY",
    "ADD",
    "ENV",
    "ARG",
    "WORKDIR",
    "USER",
    "LABEL",
    "EXPOSE",
    "VOLUME",
    "ENTRYPOINT",
    "CMD",
    "SHELL",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "ONBUILD",
    "MAINTAINER",
];

/// How a flag takes its value.
#[derive(Clone, Copy, PartialEq)]
enum FlagKind {
    /// `--name=value`, at most once.
    Value,
    /// `--name` or `--name=true|false`.
    Bool,
    /// `--name=value`, any number of times.
    Repeat,
}

/// A flag an instruction knows: name, kind, and whether strata implements it.
type FlagSpec = (&'static str, FlagKind, bool);

/// The flags each instruction accepts (docker's, including the ones strata refuses, so
/// they get a clear "not supported" rather than "unknown").
fn flag_specs(keyword: &str) -> &'static [FlagSpec] {
    use FlagKind::{Bool, Repeat, Value};
    match keyword {
        "FROM" => &[("platform", Value, true)],
        "RUN" => &[
            ("mount", Repeat, true),
            ("network", Value, true),
            ("security", Value, true),
            ("device", Repeat, false),
        ],
        "COPY" => &[
            ("from", Value, true),
            ("chown", Value, true),
            ("chmod", Value, true),
            ("link", Bool, true),
            ("parents", Bool, true),
            ("exclude", Repeat, true),
        ],
        "ADD" => &[
            ("chown", Value, true),
            ("chmod", Value, true),
            ("link", Bool, true),
            ("keep-git-dir", Bool, false),
            ("checksum", Value, true),
            ("exclude", Repeat, true),
            ("unpack", Bool, true),
        ],
        "HEALTHCHECK" => &[
            ("interval", Value, true),
            ("timeout", Value, true),
            ("start-period", Value, true),
            ("start-interval", Value, true),
            ("retries", Value, true),
        ],
        _ => &[],
    }
}

/// One logical line: physical lines joined with continuations removed, plus the map back
/// to source offsets.
struct Line {
    /// The joined text, leading whitespace of the first line removed.
    text: String,
    /// `(offset in text, offset in source)` at the start of each joined piece.
    pieces: Vec<(usize, usize)>,
}

impl Line {
    /// Source offset of the byte at `at` in the joined text.
    fn source_offset(&self, at: usize) -> usize {
        let i = self.pieces.partition_point(|&(l, _)| l <= at).max(1) - 1;
        let (l, s) = self.pieces[i];
        s + at - l
    }

    /// Source offset just past the byte before `end` in the joined text.
    fn source_end(&self, end: usize) -> usize {
        let i = self.pieces.partition_point(|&(l, _)| l < end).max(1) - 1;
        let (l, s) = self.pieces[i];
        s + end.max(l) - l
    }
}

/// A flag as found on the line, before it is checked against the instruction.
struct RawFlag {
    name: String,
    value: Option<String>,
    span: Span,
}

/// The result of parsing one instruction line.
enum Parsed {
    /// A FROM: starts a new stage.
    From(Stage),
    /// Anything else.
    Instruction(Instruction),
}

/// What the instruction parsers share: the source, its physical lines and the position of
/// the next line to read (heredoc bodies are read from there).
struct Parser<'s> {
    source: &'s Source,
    text: &'s str,
    /// `(start, end)` of each physical line, end excluding `\n` and a `\r` before it.
    lines: Vec<(usize, usize)>,
    escape: char,
    syntax: Option<String>,
    /// Index of the next physical line to read.
    cursor: usize,
    /// The delimiter and body as written (tabs kept, lines ending in `\n`) of every
    /// heredoc read, in order, for an ONBUILD trigger to record.
    heredoc_bodies: Vec<(String, String)>,
}

impl<'s> Parser<'s> {
    fn new(source: &'s Source) -> Self {
        let text: &str = &source.text;
        let mut lines = Vec::new();
        let mut start = usize::from(text.starts_with('\u{feff}')) * 3;
        while start < text.len() {
            let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
            let trimmed = if text[..end].ends_with('\r') {
                end - 1
            } else {
                end
            };
            lines.push((start, trimmed));
            start = end + 1;
        }
        Parser {
            source,
            text,
            lines,
            escape: '\\',
            syntax: None,
            cursor: 0,
            heredoc_bodies: Vec::new(),
        }
    }

    fn line_text(&self, i: usize) -> &'s str {
        let (s, e) = self.lines[i];
        &self.text[s..e]
    }

    fn span(&self, start: usize, end: usize) -> Span {
        self.source.span_at(start, end.saturating_sub(start))
    }

    fn line_span(&self, line: &Line, from: usize, to: usize) -> Span {
        let start = line.source_offset(from);
        self.span(start, line.source_end(to).max(start))
    }

    fn err(&self, span: Span, message: impl Into<String>) -> DockerfileError {
        self.source.error(span, message)
    }

    fn run(mut self) -> Result<Dockerfile, DockerfileError> {
        self.directives()?;
        let mut global_args = Vec::new();
        let mut stages: Vec<Stage> = Vec::new();
        while let Some(line) = self.next_logical_line() {
            let span = self.line_span(&line, 0, line.text.trim_end().len());
            match self.instruction(&line, 0, true)? {
                Parsed::From(stage) => {
                    if let Some(name) = &stage.name {
                        if let Some(first) = stages
                            .iter()
                            .find(|s| s.name.as_deref() == Some(name.as_str()))
                        {
                            return Err(self.err(
                                stage.span,
                                format!(
                                    "duplicate stage name \"{name}\" (first defined on line {})",
                                    first.span.line
                                ),
                            ));
                        }
                    }
                    stages.push(Stage {
                        index: stages.len(),
                        ..stage
                    });
                }
                Parsed::Instruction(instruction) => match (stages.last_mut(), instruction) {
                    (Some(stage), instruction) => {
                        stage.instructions.push(Spanned {
                            value: instruction,
                            span,
                        });
                    }
                    (None, Instruction::Arg(decls)) => {
                        let words = split_words(&line.text, 0, self.escape);
                        let arg_spans = words
                            .iter()
                            .skip(1)
                            .map(|&(s, e)| self.line_span(&line, s, e));
                        global_args.extend(
                            decls
                                .into_iter()
                                .zip(arg_spans)
                                .map(|(value, span)| Spanned { value, span }),
                        );
                    }
                    (None, instruction) => {
                        let keyword = instruction.keyword();
                        let word = self.line_span(&line, 0, keyword.len());
                        return Err(self
                            .err(word, format!("{keyword} before the first FROM"))
                            .with_hint("only ARG may come before the first FROM; start a stage with FROM <image>"));
                    }
                },
            }
        }
        if stages.is_empty() {
            let span = Span {
                line: 1,
                column: 1,
                offset: 0,
                len: 0,
            };
            return Err(self
                .err(span, "no FROM instruction: nothing to build")
                .with_hint("a Dockerfile starts a stage with FROM <image> (or FROM scratch)"));
        }
        Ok(Dockerfile {
            source: self.source.clone(),
            escape: self.escape,
            syntax: self.syntax,
            global_args,
            stages,
        })
    }

    /// Reads the parser directives (`# syntax=`, `# escape=`, `# check=`) at the top of
    /// the file; the first line that is not one ends them. They stay in place as
    /// comments for the main loop.
    fn directives(&mut self) -> Result<(), DockerfileError> {
        let mut seen: Vec<String> = Vec::new();
        for i in 0..self.lines.len() {
            let text = self.line_text(i);
            let Some((name, value, value_start)) = directive(text) else {
                break;
            };
            let name = name.to_ascii_lowercase();
            if !matches!(name.as_str(), "syntax" | "escape" | "check") {
                break;
            }
            let span = self.span(self.lines[i].0, self.lines[i].1);
            if seen.contains(&name) {
                return Err(self.err(
                    span,
                    format!("only one {name} parser directive can be used"),
                ));
            }
            match name.as_str() {
                "escape" => {
                    self.escape = match value {
                        "\\" => '\\',
                        "`" => '`',
                        _ => {
                            let at = self.lines[i].0 + value_start;
                            return Err(self
                                .err(
                                    self.span(at, at + value.len()),
                                    format!("invalid escape character {value:?}"),
                                )
                                .with_hint("use # escape=\\ or # escape=`"));
                        }
                    };
                }
                "syntax" => self.syntax = Some(value.to_owned()),
                _ => {}
            }
            seen.push(name);
        }
        Ok(())
    }

    /// Strips a trailing escape character (and blanks after it); `Some` if the line
    /// continues on the next one.
    fn continuation<'t>(&self, text: &'t str) -> Option<&'t str> {
        let trimmed = text.trim_end_matches([' ', '\t']);
        trimmed.strip_suffix(self.escape)
    }

    /// The next instruction line, skipping blank and comment lines, with continuation
    /// lines joined (comment and empty lines inside a continuation are skipped).
    fn next_logical_line(&mut self) -> Option<Line> {
        while self.cursor < self.lines.len() {
            let i = self.cursor;
            self.cursor += 1;
            let raw = self.line_text(i);
            let text = raw.trim_start();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            let start = self.lines[i].0 + (raw.len() - text.len());
            let mut line = Line {
                text: String::new(),
                pieces: vec![(0, start)],
            };
            let Some(first) = self.continuation(text) else {
                line.text.push_str(text);
                return Some(line);
            };
            line.text.push_str(first);
            while self.cursor < self.lines.len() {
                let j = self.cursor;
                self.cursor += 1;
                let raw = self.line_text(j);
                let left = raw.trim_start();
                if left.is_empty() || left.starts_with('#') {
                    continue;
                }
                line.pieces.push((line.text.len(), self.lines[j].0));
                match self.continuation(raw) {
                    Some(piece) => line.text.push_str(piece),
                    None => {
                        line.text.push_str(raw);
                        break;
                    }
                }
            }
            return Some(line);
        }
        None
    }

    /// Parses the instruction starting at `start` in `line` (not 0 for ONBUILD triggers).
    /// With `read_heredocs`, the bodies of RUN/COPY/ADD heredocs are read from the lines
    /// that follow.
    fn instruction(
        &mut self,
        line: &Line,
        start: usize,
        read_heredocs: bool,
    ) -> Result<Parsed, DockerfileError> {
        let text = &line.text;
        let kw_end = text[start..]
            .find(char::is_whitespace)
            .map_or(text.len(), |i| start + i);
        let keyword = text[start..kw_end].to_ascii_uppercase();
        let kw_span = self.line_span(line, start, kw_end);
        let Some(&keyword) = KEYWORDS.iter().find(|&&k| k == keyword) else {
            let err = self.err(
                kw_span,
                format!("unknown instruction: {}", &text[start..kw_end]),
            );
            return Err(match did_you_mean(&keyword) {
                Some(k) => err.with_hint(format!("did you mean {k}?")),
                None => err,
            });
        };
        let words = split_words(text, kw_end, self.escape);
        let (flags, first_arg) = self.take_flags(line, keyword, &words)?;
        let args = &words[first_arg..];
        let rest_start = args.first().map_or(text.len(), |&(s, _)| s);
        let rest = text[rest_start..].trim_end();
        let word = |i: usize| -> &str { &text[args[i].0..args[i].1] };
        // The closures use `source`, not `self`, which heredoc reading borrows mutably.
        let source = self.source;
        let arg_span = |i: usize| {
            let from = line.source_offset(args[i].0);
            source.span_at(from, line.source_end(args[i].1).saturating_sub(from))
        };
        let require = |ok: bool, what: &str| -> Result<(), DockerfileError> {
            if ok {
                Ok(())
            } else {
                Err(source.error(kw_span, format!("{keyword} requires {what}")))
            }
        };
        let single = |flags: &[RawFlag], name: &str| {
            flags
                .iter()
                .find(|f| f.name == name)
                .and_then(|f| f.value.clone())
        };
        let instruction = match keyword {
            "FROM" => {
                let valid =
                    args.len() == 1 || (args.len() == 3 && word(1).eq_ignore_ascii_case("as"));
                if !valid {
                    return Err(self
                        .err(kw_span, "FROM takes an image and optionally AS <name>")
                        .with_hint("FROM [--platform=<platform>] <image> [AS <name>]"));
                }
                let name = if args.len() == 3 {
                    let name = word(2).to_ascii_lowercase();
                    if !valid_stage_name(&name) {
                        return Err(self
                            .err(arg_span(2), format!("invalid stage name \"{}\"", word(2)))
                            .with_hint("a stage name starts with a letter and contains only letters, digits, '-', '_' and '.'"));
                    }
                    Some(name)
                } else {
                    None
                };
                return Ok(Parsed::From(Stage {
                    index: 0,
                    name,
                    base: word(0).to_owned(),
                    platform: single(&flags, "platform"),
                    span: self.line_span(line, start, text.trim_end().len()),
                    instructions: Vec::new(),
                }));
            }
            "RUN" => {
                require(!rest.is_empty(), "a command")?;
                let command = command(rest);
                let heredocs = match command {
                    Command::Shell(_) if read_heredocs => self
                        .heredocs(line, args)?
                        .into_iter()
                        .map(|(_, h)| h)
                        .collect(),
                    _ => Vec::new(),
                };
                if matches!(&command, Command::Exec(v) if v.is_empty()) {
                    return Err(self.err(kw_span, "RUN requires a command"));
                }
                for flag in flags.iter().filter(|f| f.name == "mount") {
                    mount::check_raw(flag.value.as_deref().unwrap_or_default())
                        .map_err(|e| self.err(flag.span, e))?;
                }
                let flags = flags
                    .into_iter()
                    .map(|f| Flag {
                        name: f.name,
                        value: f.value.unwrap_or_default(),
                        span: f.span,
                    })
                    .collect();
                Instruction::Run(Run {
                    command,
                    heredocs,
                    flags,
                })
            }
            "COPY" | "ADD" => {
                let (mut list, heredocs) = match json_array(rest) {
                    Some(list) => (list, Vec::new()),
                    None => {
                        let found = if read_heredocs {
                            self.heredocs(line, args)?
                        } else {
                            Vec::new()
                        };
                        let mut list: Vec<String> =
                            (0..args.len()).map(|i| word(i).to_owned()).collect();
                        for (index, heredoc) in &found {
                            list[*index].clone_from(&heredoc.name);
                        }
                        (list, found.into_iter().map(|(_, h)| h).collect())
                    }
                };
                require(
                    list.len() >= 2,
                    "at least two arguments: source(s) and destination",
                )?;
                // BuildKit resolves `--from` to a stage or image before any ARG is known:
                // a value that expansion would change (a variable, quotes) is refused.
                if let Some(flag) = flags.iter().find(|f| f.name == "from") {
                    let raw = flag.value.as_deref().unwrap_or_default();
                    if expand::word(raw, self.escape, &|_| None).as_deref() != Ok(raw) {
                        return Err(self
                            .err(flag.span, "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround")
                            .with_hint("FROM ${IMAGE} AS source (with ARG IMAGE before the first FROM), then COPY --from=source"));
                    }
                }
                let dest = list.pop().unwrap_or_default();
                let copy = Copy {
                    sources: list,
                    dest,
                    from: single(&flags, "from"),
                    chown: single(&flags, "chown"),
                    chmod: single(&flags, "chmod"),
                    checksum: single(&flags, "checksum"),
                    excludes: flags
                        .iter()
                        .filter(|f| f.name == "exclude")
                        .filter_map(|f| f.value.clone())
                        .collect(),
                    link: single(&flags, "link").as_deref() == Some("true"),
                    parents: single(&flags, "parents").as_deref() == Some("true"),
                    unpack: single(&flags, "unpack").map(|v| v == "true"),
                    heredocs,
                };
                if keyword == "COPY" {
                    Instruction::Copy(copy)
                } else {
                    Instruction::Add(copy)
                }
            }
            "ENV" | "LABEL" => Instruction::pairs(
                keyword,
                self.name_values(line, keyword, kw_span, args, rest)?,
            ),
            "ARG" => {
                require(!args.is_empty(), "at least one argument")?;
                let mut decls = Vec::new();
                for i in 0..args.len() {
                    let (name, default) = match word(i).split_once('=') {
                        Some((n, d)) => (n, Some(d.to_owned())),
                        None => (word(i), None),
                    };
                    if name.is_empty() {
                        return Err(self.err(arg_span(i), "ARG names can not be blank"));
                    }
                    decls.push(ArgDecl {
                        name: name.to_owned(),
                        default,
                    });
                }
                Instruction::Arg(decls)
            }
            "WORKDIR" | "USER" | "STOPSIGNAL" | "MAINTAINER" => {
                require(!rest.is_empty(), "an argument")?;
                let value = rest.to_owned();
                match keyword {
                    "WORKDIR" => Instruction::Workdir(value),
                    "USER" => Instruction::User(value),
                    "STOPSIGNAL" => Instruction::StopSignal(value),
                    _ => Instruction::Maintainer(value),
                }
            }
            "EXPOSE" => {
                require(!args.is_empty(), "at least one port")?;
                Instruction::Expose((0..args.len()).map(|i| word(i).to_owned()).collect())
            }
            "VOLUME" => {
                let list = json_array(rest)
                    .unwrap_or_else(|| (0..args.len()).map(|i| word(i).to_owned()).collect());
                require(!list.is_empty(), "at least one path")?;
                Instruction::Volume(list)
            }
            "ENTRYPOINT" | "CMD" => {
                require(!rest.is_empty(), "a command (use [] for none)")?;
                if keyword == "CMD" {
                    Instruction::Cmd(command(rest))
                } else {
                    Instruction::Entrypoint(command(rest))
                }
            }
            "SHELL" => match json_array(rest) {
                Some(list) if !list.is_empty() => Instruction::Shell(list),
                _ => {
                    let span = if args.is_empty() {
                        kw_span
                    } else {
                        self.line_span(line, rest_start, rest_start + rest.len())
                    };
                    return Err(self
                        .err(span, "SHELL requires a JSON array of strings")
                        .with_hint("write it as SHELL [\"/bin/sh\", \"-c\"]"));
                }
            },
            "HEALTHCHECK" => self.healthcheck(line, kw_span, &flags, args, rest)?,
            "ONBUILD" => {
                require(!rest.is_empty(), "a trigger instruction")?;
                let trigger = text[rest_start..]
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_ascii_uppercase();
                if matches!(trigger.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                    let message = if trigger == "ONBUILD" {
                        "chaining ONBUILD via ONBUILD ONBUILD is not allowed".to_owned()
                    } else {
                        format!("{trigger} is not allowed as an ONBUILD trigger")
                    };
                    return Err(self.err(arg_span(0), message));
                }
                // The trigger's heredocs are read here and recorded with it, each body
                // followed by its delimiter, as BuildKit's `parseOnBuild` writes them: the
                // child build parses the trigger, bodies included, again.
                self.heredoc_bodies.clear();
                self.instruction(line, rest_start, true)?;
                let mut trigger = rest.to_owned();
                for (name, body) in std::mem::take(&mut self.heredoc_bodies) {
                    trigger.push('\n');
                    trigger.push_str(&body);
                    trigger.push_str(&name);
                }
                Instruction::OnBuild(trigger)
            }
            _ => unreachable!("every keyword of KEYWORDS has a branch"),
        };
        Ok(Parsed::Instruction(instruction))
    }

    /// Takes the leading `--name[=value]` words; checks them against the instruction.
    /// Returns the flags and the index of the first argument word.
    fn take_flags(
        &self,
        line: &Line,
        keyword: &str,
        words: &[(usize, usize)],
    ) -> Result<(Vec<RawFlag>, usize), DockerfileError> {
        let specs = flag_specs(keyword);
        let mut flags: Vec<RawFlag> = Vec::new();
        let mut next = 0;
        for &(s, e) in words {
            let word = &line.text[s..e];
            let Some(body) = word.strip_prefix("--") else {
                break;
            };
            next += 1;
            if body.is_empty() {
                break;
            }
            let span = self.line_span(line, s, e);
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (body, None),
            };
            let Some(&(_, kind, supported)) = specs.iter().find(|spec| spec.0 == name) else {
                let known: Vec<String> = specs
                    .iter()
                    .filter(|s| s.2)
                    .map(|s| format!("--{}", s.0))
                    .collect();
                let hint = if known.is_empty() {
                    format!("{keyword} takes no flags")
                } else {
                    format!("{keyword} accepts {}", known.join(", "))
                };
                return Err(self
                    .err(span, format!("unknown flag --{name} for {keyword}"))
                    .with_hint(hint));
            };
            if !supported {
                return Err(self.err(
                    span,
                    format!("{keyword} --{name} is not supported by strata"),
                ));
            }
            if kind != FlagKind::Repeat && flags.iter().any(|f| f.name == name) {
                return Err(self.err(span, format!("flag --{name} given twice")));
            }
            let value = match (kind, value) {
                (FlagKind::Bool, None) => Some("true".to_owned()),
                (FlagKind::Bool, Some(v)) => Some(
                    match v.as_str() {
                        "1" | "t" | "T" | "true" | "TRUE" | "True" => "true",
                        "0" | "f" | "F" | "false" | "FALSE" | "False" => "false",
                        _ => {
                            return Err(self.err(
                                span,
                                format!("flag --{name} expects true or false, not {v:?}"),
                            ));
                        }
                    }
                    .to_owned(),
                ),
                (_, None) => {
                    return Err(self.err(
                        span,
                        format!("flag --{name} needs a value: --{name}=<value>"),
                    ));
                }
                (_, value) => value,
            };
            flags.push(RawFlag {
                name: name.to_owned(),
                value,
                span,
            });
        }
        Ok((flags, next))
    }

    /// Finds the heredoc words among `args` and reads their bodies from the lines after
    /// the instruction. Returns each with the index of its word.
    fn heredocs(
        &mut self,
        line: &Line,
        args: &[(usize, usize)],
    ) -> Result<Vec<(usize, Heredoc)>, DockerfileError> {
        let mut found = Vec::new();
        for (index, &(s, e)) in args.iter().enumerate() {
            let Some((name, chomp, expand)) = heredoc_word(&line.text[s..e], self.escape) else {
                continue;
            };
            let mut content = String::new();
            let mut raw = String::new();
            let mut closed = false;
            while self.cursor < self.lines.len() {
                let written = self.line_text(self.cursor);
                self.cursor += 1;
                let body_line = if chomp {
                    written.trim_start_matches('\t')
                } else {
                    written
                };
                if body_line == name {
                    closed = true;
                    break;
                }
                content.push_str(body_line);
                content.push('\n');
                raw.push_str(written);
                raw.push('\n');
            }
            if !closed {
                return Err(self
                    .err(
                        self.line_span(line, s, e),
                        format!("unterminated heredoc {}", &line.text[s..e]),
                    )
                    .with_hint(format!(
                        "end the here-document with a line containing only {name}"
                    )));
            }
            self.heredoc_bodies.push((name.clone(), raw));
            found.push((
                index,
                Heredoc {
                    name,
                    content,
                    expand,
                },
            ));
        }
        Ok(found)
    }

    /// ENV and LABEL: `k=v ...`, or the legacy `k v` (one pair, value = rest of line).
    fn name_values(
        &self,
        line: &Line,
        keyword: &str,
        kw_span: Span,
        args: &[(usize, usize)],
        rest: &str,
    ) -> Result<Vec<(String, String)>, DockerfileError> {
        let Some(&(first_s, first_e)) = args.first() else {
            return Err(self.err(kw_span, format!("{keyword} requires at least one argument")));
        };
        let text = &line.text;
        if !text[first_s..first_e].contains('=') {
            let Some((key, value)) = rest.split_once(char::is_whitespace) else {
                return Err(self
                    .err(
                        self.line_span(line, first_s, first_e),
                        format!("{keyword} {rest} has no value"),
                    )
                    .with_hint(format!("write {keyword} {rest}=<value>")));
            };
            return Ok(vec![(key.to_owned(), value.trim_start().to_owned())]);
        }
        let mut pairs = Vec::new();
        for &(s, e) in args {
            let word = &text[s..e];
            let Some((key, value)) = word.split_once('=') else {
                return Err(self
                    .err(
                        self.line_span(line, s, e),
                        format!("{keyword}: can't find = in {word:?}"),
                    )
                    .with_hint("each argument must be of the form name=value"));
            };
            if key.is_empty() {
                return Err(self.err(
                    self.line_span(line, s, e),
                    format!("{keyword} names can not be blank"),
                ));
            }
            pairs.push((key.to_owned(), value.to_owned()));
        }
        Ok(pairs)
    }

    fn healthcheck(
        &self,
        line: &Line,
        kw_span: Span,
        flags: &[RawFlag],
        args: &[(usize, usize)],
        rest: &str,
    ) -> Result<Instruction, DockerfileError> {
        let Some(&(s, e)) = args.first() else {
            return Err(self.err(kw_span, "HEALTHCHECK requires CMD <command> or NONE"));
        };
        let kind = line.text[s..e].to_ascii_uppercase();
        match kind.as_str() {
            "NONE" => {
                if args.len() > 1 || !flags.is_empty() {
                    return Err(self.err(
                        kw_span,
                        "HEALTHCHECK NONE takes no other arguments or flags",
                    ));
                }
                Ok(Instruction::Healthcheck(Healthcheck::None))
            }
            "CMD" => {
                let command_text = rest[e - s..].trim_start();
                if command_text.is_empty() {
                    return Err(self.err(
                        self.line_span(line, s, e),
                        "HEALTHCHECK CMD requires a command",
                    ));
                }
                let flag = |name: &str| flags.iter().find(|f| f.name == name);
                let duration = |name: &str| -> Result<Option<i64>, DockerfileError> {
                    let Some(flag) = flag(name) else {
                        return Ok(None);
                    };
                    let v = flag.value.clone().unwrap_or_default();
                    match go_duration_nanos(&v).map(i64::try_from) {
                        Some(Ok(n)) if n == 0 || n >= 1_000_000 => Ok(Some(n)),
                        Some(Ok(_)) => {
                            Err(self.err(flag.span, format!("--{name} cannot be less than 1ms")))
                        }
                        Some(Err(_)) | None => Err(self
                            .err(flag.span, format!("--{name}: invalid duration {v:?}"))
                            .with_hint("durations are written like 30s, 1m30s or 500ms")),
                    }
                };
                let retries = || -> Result<Option<i64>, DockerfileError> {
                    let Some(f) = flag("retries") else {
                        return Ok(None);
                    };
                    let v = f.value.clone().unwrap_or_default();
                    match v.parse::<i64>() {
                        Ok(n) if n >= 0 => Ok(Some(n)),
                        Ok(_) => Err(self.err(f.span, "--retries cannot be negative")),
                        Err(_) => {
                            Err(self.err(f.span, format!("--retries: {v:?} is not a number")))
                        }
                    }
                };
                Ok(Instruction::Healthcheck(Healthcheck::Check {
                    interval: duration("interval")?,
                    timeout: duration("timeout")?,
                    start_period: duration("start-period")?,
                    start_interval: duration("start-interval")?,
                    retries: retries()?,
                    command: command(command_text),
                }))
            }
            _ => Err(self
                .err(
                    self.line_span(line, s, e),
                    format!("unknown HEALTHCHECK type {:?}", &line.text[s..e]),
                )
                .with_hint("use HEALTHCHECK [options] CMD <command> or HEALTHCHECK NONE")),
        }
    }
}

impl Instruction {
    /// ENV or LABEL from its pairs.
    fn pairs(keyword: &str, pairs: Vec<(String, String)>) -> Instruction {
        if keyword == "ENV" {
            Instruction::Env(pairs)
        } else {
            Instruction::Label(pairs)
        }
    }
}

/// A parser directive line `# name = value`: name, trimmed value and its byte offset.
fn directive(line: &str) -> Option<(&str, &str, usize)> {
    let body = line.strip_prefix('#')?;
    let after_hash = body.trim_start();
    let name_len = after_hash
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(after_hash.len());
    let name = &after_hash[..name_len];
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let value = after_hash[name_len..].trim_start().strip_prefix('=')?;
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return None;
    }
    let offset = line.len() - value.len() + (value.len() - value.trim_start().len());
    Some((name, trimmed, offset))
}

/// Splits at unquoted whitespace, keeping quotes and escapes (BuildKit's `parseWords`):
/// byte ranges of the words of `text[from..]`.
fn split_words(text: &str, from: usize, escape: char) -> Vec<(usize, usize)> {
    let mut words = Vec::new();
    let mut start: Option<usize> = None;
    let mut quote: Option<char> = None;
    let mut chars = text[from..].char_indices().map(|(i, c)| (from + i, c));
    while let Some((i, c)) = chars.next() {
        match quote {
            Some(q) => {
                if c == escape && q != '\'' {
                    chars.next();
                } else if c == q {
                    quote = None;
                }
            }
            None if c.is_whitespace() => {
                if let Some(s) = start.take() {
                    words.push((s, i));
                }
            }
            None => {
                start.get_or_insert(i);
                if c == '\'' || c == '"' {
                    quote = Some(c);
                } else if c == escape {
                    chars.next();
                }
            }
        }
    }
    if let Some(s) = start {
        words.push((s, text.len()));
    }
    words
}

/// A JSON array of strings (exec form), or `None` if `text` is not one.
fn json_array(text: &str) -> Option<Vec<String>> {
    if !text.starts_with('[') {
        return None;
    }
    let values: Vec<serde_json::Value> = serde_json::from_str(text).ok()?;
    values
        .into_iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// Exec form if `text` is a JSON array of strings, else shell form.
fn command(text: &str) -> Command {
    json_array(text).map_or_else(|| Command::Shell(text.to_owned()), Command::Exec)
}

/// A heredoc word `[n]<<[-]NAME`: the name with quotes removed, whether `-` strips tabs,
/// and whether the body is expanded (no quotes in the delimiter).
fn heredoc_word(word: &str, escape: char) -> Option<(String, bool, bool)> {
    let after_fd = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = after_fd.strip_prefix("<<")?;
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let mut name = String::new();
    let mut quoted = false;
    let mut quote: Option<char> = None;
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                quoted = true;
            }
            None if c == escape => name.extend(chars.next()),
            _ => name.push(c),
        }
    }
    (!name.is_empty()).then_some((name, chomp, !quoted))
}

/// Docker's rule for stage names (after lowercasing).
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// The closest keyword within two edits of `word`, for the "did you mean" hint.
fn did_you_mean(word: &str) -> Option<&'static str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1];
            for (j, &cb) in b.iter().enumerate() {
                cur.push(
                    (prev[j] + usize::from(ca != cb))
                        .min(prev[j + 1] + 1)
                        .min(cur[j] + 1),
                );
            }
            prev = cur;
        }
        prev[b.len()]
    }
    KEYWORDS
        .iter()
        .map(|&k| (distance(word, k), k))
        .filter(|&(d, _)| d <= 2)
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

/// Parses a Go duration (`1h2m3.5s`, `500ms`, `0`) into nanoseconds, as HEALTHCHECK's
/// options are read by docker.
fn go_duration_nanos(text: &str) -> Option<u128> {
    let text = text.strip_prefix('+').unwrap_or(text);
    if text == "0" {
        return Some(0);
    }
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    // Truncation is fine: durations are whole nanoseconds.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Some(total as u128)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Dockerfile, DockerfileError> {
        parse(Path::new("Dockerfile"), text)
    }

    #[test]
    fn words_keep_quotes_and_escapes() {
        let text = r#"a "b c" 'd e'\ f g\ h"#;
        let words: Vec<&str> = split_words(text, 0, '\\')
            .into_iter()
            .map(|(s, e)| &text[s..e])
            .collect();
        assert_eq!(words, ["a", "\"b c\"", "'d e'\\ f", "g\\ h"]);
    }

    #[test]
    fn heredoc_words() {
        assert_eq!(
            heredoc_word("<<EOF", '\\'),
            Some(("EOF".into(), false, true))
        );
        assert_eq!(
            heredoc_word("<<-EOF", '\\'),
            Some(("EOF".into(), true, true))
        );
        assert_eq!(
            heredoc_word("<<'EOF'", '\\'),
            Some(("EOF".into(), false, false))
        );
        assert_eq!(
            heredoc_word("2<<\"E\"OF", '\\'),
            Some(("EOF".into(), false, false))
        );
        assert_eq!(heredoc_word("<<", '\\'), None);
        assert_eq!(heredoc_word("<<<x", '\\'), None);
        assert_eq!(heredoc_word("a<<b", '\\'), None);
    }

    #[test]
    fn durations() {
        assert_eq!(go_duration_nanos("30s"), Some(30_000_000_000));
        assert_eq!(go_duration_nanos("1m30s"), Some(90_000_000_000));
        assert_eq!(go_duration_nanos("1.5ms"), Some(1_500_000));
        assert_eq!(go_duration_nanos("0"), Some(0));
        assert_eq!(go_duration_nanos("30"), None);
        assert_eq!(go_duration_nanos("abc"), None);
        assert_eq!(go_duration_nanos(""), None);
    }

    #[test]
    fn keyword_and_stage_lookup() {
        let df =
            parse_str("FROM alpine AS Build\nRUN true\nFROM scratch\nCOPY --from=build /a /b\n")
                .unwrap();
        assert_eq!(df.stages[0].instructions[0].value.keyword(), "RUN");
        assert_eq!(df.stages[1].instructions[0].value.keyword(), "COPY");
        assert_eq!(df.stage_by_name("BUILD").unwrap().index, 0);
        assert_eq!(df.stage_by_name("1").unwrap().index, 1);
        assert!(df.stage_by_name("2").is_none());
        assert!(df.stage_by_name("alpine").is_none());
    }

    #[test]
    fn spans_follow_continuations() {
        let df = parse_str("FROM a\nRUN echo \\\n  # note\n  --x \\\n\n  done\n").unwrap();
        let run = &df.stages[0].instructions[0];
        assert_eq!((run.span.line, run.span.column), (2, 1));
        assert_eq!(
            run.value,
            Instruction::Run(Run {
                command: Command::Shell("echo   --x   done".into()),
                heredocs: vec![],
                flags: vec![],
            })
        );
        let text = &df.source.text[run.span.offset..run.span.offset + run.span.len];
        assert!(
            text.starts_with("RUN echo") && text.ends_with("done"),
            "{text}"
        );
    }

    #[test]
    fn error_display_and_hint() {
        let err = parse_str("FROM a\nRUNN x\n").unwrap_err();
        assert_eq!(err.to_string(), "Dockerfile:2:1: unknown instruction: RUNN");
        assert_eq!(err.hint.as_deref(), Some("did you mean RUN?"));
        assert_eq!(err.at, (7, 4).into());
    }

    #[test]
    fn error_with_keeps_the_cause_out_of_the_message() {
        let df = parse_str("FROM a\nCOPY x /x\n").unwrap();
        let span = df.stages[0].instructions[0].span;
        let cause = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let err = df.source.error_with(span, "COPY x", cause);
        assert_eq!(err.to_string(), "Dockerfile:2:1: COPY x");
        let source = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("gone"));
    }
}
