//! Golden corpus for the Dockerfile frontend: every `tests/dockerfile/*.Dockerfile` is
//! parsed and a typed dump is compared with its insta snapshot; then each parse error is
//! checked for its exact `file:line:col: message` text.

use std::fmt::Write as _;
use std::path::Path;

use strata::dockerfile::{parse, parse_file, Dockerfile, Span};

/// `line:col` of a span, which is what a reader checks by eye (offsets are noise).
fn at(span: Span) -> String {
    format!("{}:{}", span.line, span.column)
}

/// A readable dump of everything the parser produced, spans as `line:col`.
fn dump(df: &Dockerfile) -> String {
    let mut out = String::new();
    writeln!(out, "escape: {:?}", df.escape).unwrap();
    writeln!(out, "syntax: {:?}", df.syntax).unwrap();
    for arg in &df.global_args {
        writeln!(out, "global ARG @{} {:?}", at(arg.span), arg.value).unwrap();
    }
    for stage in &df.stages {
        writeln!(
            out,
            "\nstage {} @{} name={:?} base={:?} platform={:?}",
            stage.index,
            at(stage.span),
            stage.name,
            stage.base,
            stage.platform
        )
        .unwrap();
        for instruction in &stage.instructions {
            let text = &df.source.text
                [instruction.span.offset..instruction.span.offset + instruction.span.len];
            writeln!(
                out,
                "  {} @{} len={} ends {:?}\n  {:#?}",
                instruction.value.keyword(),
                at(instruction.span),
                instruction.span.len,
                text.chars()
                    .rev()
                    .take(12)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<String>(),
                instruction.value
            )
            .unwrap();
        }
    }
    // Flag spans carry offsets; keep the dump about lines and columns.
    out.lines()
        .filter(|l| !l.trim_start().starts_with("offset:") && !l.trim_start().starts_with("len:"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn golden_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dockerfile");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "Dockerfile"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "corpus too small: {files:?}");
    for path in files {
        let df = parse_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        insta::with_settings!({ snapshot_path => "dockerfile/snapshots", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(name, dump(&df));
        });
    }
}

/// The `Display` of the error `text` gives when parsed as `Dockerfile`.
fn error(text: &str) -> String {
    match parse(Path::new("Dockerfile"), text) {
        Ok(df) => panic!("parsed, expected an error: {df:#?}"),
        Err(e) => e.to_string(),
    }
}

/// The hint of the error `text` gives.
fn hint(text: &str) -> Option<String> {
    parse(Path::new("Dockerfile"), text).unwrap_err().hint
}

#[test]
fn unknown_instruction_suggests_a_keyword() {
    let text = "FROM alpine\n  RUNN echo\n";
    assert_eq!(error(text), "Dockerfile:2:3: unknown instruction: RUNN");
    assert_eq!(hint(text).as_deref(), Some("did you mean RUN?"));
    assert_eq!(
        error("FROM a\nfrobnicate x\n"),
        "Dockerfile:2:1: unknown instruction: frobnicate"
    );
    assert_eq!(hint("FROM a\nfrobnicate x\n"), None);
    assert_eq!(
        hint("FROM a\nexpos 80\n").as_deref(),
        Some("did you mean EXPOSE?")
    );
}

#[test]
fn flag_errors() {
    assert_eq!(
        error("FROM a\nCOPY --form=x a b\n"),
        "Dockerfile:2:6: unknown flag --form for COPY"
    );
    assert_eq!(
        hint("FROM a\nCOPY --form=x a b\n").as_deref(),
        Some("COPY accepts --from, --chown, --chmod, --link, --parents, --exclude")
    );
    assert_eq!(
        error("FROM a\nWORKDIR --x /a\n"),
        "Dockerfile:2:9: unknown flag --x for WORKDIR"
    );
    assert_eq!(
        hint("FROM a\nWORKDIR --x /a\n").as_deref(),
        Some("WORKDIR takes no flags")
    );
    assert_eq!(
        error("FROM a\nADD --from=b x y\n"),
        "Dockerfile:2:5: unknown flag --from for ADD"
    );
    assert_eq!(
        error("FROM a\nRUN --device=/dev/fuse true\n"),
        "Dockerfile:2:5: RUN --device is not supported by strata"
    );
    assert_eq!(
        error("FROM a\nADD --keep-git-dir x y\n"),
        "Dockerfile:2:5: ADD --keep-git-dir is not supported by strata"
    );
    assert_eq!(
        error("FROM a\nCOPY --from a b\n"),
        "Dockerfile:2:6: flag --from needs a value: --from=<value>"
    );
    assert_eq!(
        error("FROM a\nCOPY --link=maybe a b\n"),
        "Dockerfile:2:6: flag --link expects true or false, not \"maybe\""
    );
    assert_eq!(
        error("FROM a\nRUN --network=none --network=host true\n"),
        "Dockerfile:2:20: flag --network given twice"
    );
    assert_eq!(
        error("FROM --plat=x a\n"),
        "Dockerfile:1:6: unknown flag --plat for FROM"
    );
}

#[test]
fn heredoc_errors() {
    assert_eq!(
        error("FROM a\nRUN <<EOF\necho\nEOFX\n"),
        "Dockerfile:2:5: unterminated heredoc <<EOF"
    );
    assert_eq!(
        error("FROM a\nCOPY <<one <<two /x\n1\none\n2\n"),
        "Dockerfile:2:12: unterminated heredoc <<two"
    );
    // Without `-`, a tab-indented delimiter does not close the heredoc.
    assert_eq!(
        error("FROM a\nRUN <<EOF\n\tEOF\n"),
        "Dockerfile:2:5: unterminated heredoc <<EOF"
    );
}

#[test]
fn stage_errors() {
    assert_eq!(
        error("RUN true\nFROM a\n"),
        "Dockerfile:1:1: RUN before the first FROM"
    );
    assert_eq!(
        hint("ENV A=1\nFROM a\n").as_deref(),
        Some("only ARG may come before the first FROM; start a stage with FROM <image>")
    );
    assert_eq!(
        error(""),
        "Dockerfile:1:1: no FROM instruction: nothing to build"
    );
    assert_eq!(
        error("# just a comment\n\n"),
        "Dockerfile:1:1: no FROM instruction: nothing to build"
    );
    assert_eq!(
        error("ARG X=1\n"),
        "Dockerfile:1:1: no FROM instruction: nothing to build"
    );
    assert_eq!(
        error("FROM\n"),
        "Dockerfile:1:1: FROM takes an image and optionally AS <name>"
    );
    assert_eq!(
        error("FROM a b\n"),
        "Dockerfile:1:1: FROM takes an image and optionally AS <name>"
    );
    assert_eq!(
        error("FROM a AS 1x\n"),
        "Dockerfile:1:11: invalid stage name \"1x\""
    );
    assert_eq!(
        error("FROM a AS x\nFROM b AS X\n"),
        "Dockerfile:2:1: duplicate stage name \"x\" (first defined on line 1)"
    );
    // An unknown --from is an image reference, not a parse error.
    let df = parse(Path::new("Dockerfile"), "FROM a\nCOPY --from=nope /a /b\n").unwrap();
    assert!(df.stage_by_name("nope").is_none());
}

#[test]
fn argument_errors() {
    assert_eq!(
        error("FROM a\nSHELL /bin/sh -c\n"),
        "Dockerfile:2:7: SHELL requires a JSON array of strings"
    );
    assert_eq!(
        hint("FROM a\nSHELL /bin/sh -c\n").as_deref(),
        Some("write it as SHELL [\"/bin/sh\", \"-c\"]")
    );
    assert_eq!(
        error("FROM a\nSHELL []\n"),
        "Dockerfile:2:7: SHELL requires a JSON array of strings"
    );
    assert_eq!(
        error("FROM a\nSHELL\n"),
        "Dockerfile:2:1: SHELL requires a JSON array of strings"
    );
    assert_eq!(
        error("FROM a\nRUN\n"),
        "Dockerfile:2:1: RUN requires a command"
    );
    assert_eq!(
        error("FROM a\nRUN []\n"),
        "Dockerfile:2:1: RUN requires a command"
    );
    assert_eq!(
        error("FROM a\nCOPY onlyone\n"),
        "Dockerfile:2:1: COPY requires at least two arguments: source(s) and destination"
    );
    assert_eq!(
        error("FROM a\nENV A=1 B\n"),
        "Dockerfile:2:9: ENV: can't find = in \"B\""
    );
    assert_eq!(
        error("FROM a\nENV ALONE\n"),
        "Dockerfile:2:5: ENV ALONE has no value"
    );
    assert_eq!(
        error("FROM a\nLABEL =x\n"),
        "Dockerfile:2:7: LABEL names can not be blank"
    );
    assert_eq!(
        error("FROM a\nARG =x\n"),
        "Dockerfile:2:5: ARG names can not be blank"
    );
    assert_eq!(
        error("FROM a\nWORKDIR\n"),
        "Dockerfile:2:1: WORKDIR requires an argument"
    );
    assert_eq!(
        error("FROM a\nEXPOSE\n"),
        "Dockerfile:2:1: EXPOSE requires at least one port"
    );
    assert_eq!(
        error("FROM a\nONBUILD ONBUILD RUN x\n"),
        "Dockerfile:2:9: chaining ONBUILD via ONBUILD ONBUILD is not allowed"
    );
    assert_eq!(
        error("FROM a\nONBUILD FROM b\n"),
        "Dockerfile:2:9: FROM is not allowed as an ONBUILD trigger"
    );
    assert_eq!(
        error("FROM a\nONBUILD RUNN x\n"),
        "Dockerfile:2:9: unknown instruction: RUNN"
    );
}

#[test]
fn healthcheck_errors() {
    assert_eq!(
        error("FROM a\nHEALTHCHECK --interval=5 CMD true\n"),
        "Dockerfile:2:13: --interval: invalid duration \"5\""
    );
    assert_eq!(
        error("FROM a\nHEALTHCHECK --timeout=10ns CMD true\n"),
        "Dockerfile:2:13: --timeout cannot be less than 1ms"
    );
    assert_eq!(
        error("FROM a\nHEALTHCHECK --retries=-1 CMD true\n"),
        "Dockerfile:2:13: --retries cannot be negative"
    );
    assert_eq!(
        error("FROM a\nHEALTHCHECK --retries=x CMD true\n"),
        "Dockerfile:2:13: --retries: \"x\" is not a number"
    );
    assert_eq!(
        error("FROM a\nHEALTHCHECK --interval=1s NONE\n"),
        "Dockerfile:2:1: HEALTHCHECK NONE takes no other arguments or flags"
    );
    assert_eq!(
        error("FROM a\nHEALTHCHECK RUN true\n"),
        "Dockerfile:2:13: unknown HEALTHCHECK type \"RUN\""
    );
    assert_eq!(
        error("FROM a\nHEALTHCHECK CMD\n"),
        "Dockerfile:2:13: HEALTHCHECK CMD requires a command"
    );
    assert_eq!(
        error("FROM a\nHEALTHCHECK --bogus=1 CMD x\n"),
        "Dockerfile:2:13: unknown flag --bogus for HEALTHCHECK"
    );
}

#[test]
fn directive_errors() {
    assert_eq!(
        error("# escape=x\nFROM a\n"),
        "Dockerfile:1:10: invalid escape character \"x\""
    );
    assert_eq!(
        error("# escape=\\\n# escape=`\nFROM a\n"),
        "Dockerfile:2:1: only one escape parser directive can be used"
    );
    // After the first non-directive line, `# escape=` is a plain comment.
    let df = parse(
        Path::new("Dockerfile"),
        "FROM a\n# escape=`\nRUN echo \\\n  x\n",
    )
    .unwrap();
    assert_eq!(df.escape, '\\');
    let df = parse(Path::new("Dockerfile"), "\n# escape=`\nFROM a\n").unwrap();
    assert_eq!(df.escape, '\\');
}

#[test]
fn miette_rendering_points_at_the_line() {
    let err = parse(Path::new("build/Dockerfile"), "FROM a\nCOPY --nope x y\n").unwrap_err();
    let report = miette::Report::new(err);
    let mut out = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .render_report(&mut out, report.as_ref())
        .unwrap();
    assert!(out.contains("build/Dockerfile:2:6"), "{out}");
    assert!(out.contains("COPY --nope x y"), "{out}");
    assert!(out.contains("here"), "{out}");
}
