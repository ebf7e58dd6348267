//! Lowering: one typed instruction + the stage's state -> a [`Step`].
//!
//! Lowering expands the instruction's words (ARG and ENV as they stand at that point),
//! applies what only changes metadata (ENV, ARG, LABEL, USER, CMD, ...) to the stage's
//! state, and returns the step's history line and, for instructions that change files,
//! the [`Work`] with every input of its cache key that the instruction itself determines.
//! It reads no files and runs nothing, so it is tested without root; what the work reads
//! (context files, other stages) is resolved by the executor (`super::stages`).

use std::collections::BTreeMap;
use std::path::Path;

use crate::copy::{fetch, Chmod};
use crate::digest::Digest;
use crate::dockerfile::args::{self, ArgScope};
use crate::dockerfile::mount::{self, MountRequest};
use crate::dockerfile::{expand, ArgDecl, Instruction, Source, Span, Spanned, Stage};
use crate::sandbox::{Network, Security};

use super::command::{command_args, health_config, run_command, run_history};
use super::stage::State;
use super::BuildError;

/// What lowering needs besides the stage: the Dockerfile's escape character and the
/// build's arguments.
pub(super) struct Lowering<'a> {
    /// The Dockerfile's escape character.
    pub escape: char,
    /// `--build-arg` values.
    pub build_args: &'a BTreeMap<String, String>,
    /// The global ARG scope (for re-declared global ARGs).
    pub globals: &'a ArgScope,
    /// The network RUN steps get unless `--network` says otherwise.
    pub network: Network,
    /// Whether `RUN --security=insecure` is allowed (`--allow security.insecure`).
    pub allow_insecure: bool,
}

/// One instruction, lowered.
#[derive(Debug, PartialEq)]
pub(super) struct Step {
    /// The history line (`created_by`), as BuildKit writes it without its ` # buildkit`.
    pub created_by: String,
    /// The file-system change, if the instruction makes one.
    pub work: Option<Work>,
}

/// The file-system change of a step. Each kind names the instruction text its cache key
/// starts from; the executor adds the parent key, config, ARGs and content digests.
#[derive(Debug, PartialEq)]
pub(super) enum Work {
    /// WORKDIR: the directory is created, owned by `user` (root when empty).
    Mkdir {
        /// The absolute, cleaned path.
        dir: String,
        /// USER at that point.
        user: String,
    },
    /// COPY or ADD.
    Copy(CopyStep),
    /// RUN.
    Run(RunStep),
}

/// A COPY or ADD with its words expanded and checked.
#[derive(Debug, PartialEq)]
pub(super) struct CopyStep {
    /// `COPY` or `ADD`.
    pub keyword: &'static str,
    /// The destination, absolute; a trailing `/` means a directory.
    pub dest: String,
    /// `--chmod`, parsed.
    pub chmod: Option<Chmod>,
    /// `--chown`, as written after expansion (resolved in the image when copying).
    pub chown: Option<String>,
    /// `--exclude` patterns.
    pub excludes: Vec<String>,
    /// `--from`: a stage or image name.
    pub from: Option<String>,
    /// `COPY --parents`.
    pub parents: bool,
    /// Whether archives are extracted: ADD's local sources unless `--unpack=false`,
    /// its downloads only with `--unpack=true` (BuildKit's `unpack` in dispatchCopy).
    pub unpack: bool,
    /// The sources after expansion (heredoc names when `docs` is not empty).
    pub sources: Vec<String>,
    /// Here-document sources: name and body (expanded unless quoted).
    pub docs: Vec<(String, Vec<u8>)>,
    /// ADD of URLs: the digest they must have (`--checksum`), when `sources` are URLs.
    pub urls: Option<Option<Digest>>,
    /// The instruction after expansion, for the cache key and `--explain`.
    pub text: String,
}

/// A RUN with its command, environment and flags resolved.
#[derive(Debug, PartialEq)]
pub(super) struct RunStep {
    /// argv.
    pub args: Vec<String>,
    /// Bytes fed to the command's stdin (a heredoc script run by its `#!` interpreter).
    pub stdin: Option<Vec<u8>>,
    /// The environment: the config's Env, then the ARGs in scope it does not set.
    pub env: Vec<String>,
    /// `--network`, or the build's.
    pub network: Network,
    /// `--mount` requests with the span of their flag.
    pub mounts: Vec<(MountRequest, Span)>,
    /// `--security`: [`Security::Insecure`] only when the build allows it.
    pub security: Security,
    /// The instruction after expansion, for the cache key and `--explain`.
    pub text: String,
}

/// Lowers `instruction`, step `number` of `state.stage`, applying its metadata changes to
/// `state`.
pub(super) fn lower(
    cx: &Lowering<'_>,
    state: &mut State<'_>,
    instruction: &Spanned<Instruction>,
    number: usize,
) -> Result<Step, BuildError> {
    let span = instruction.span;
    let escape = cx.escape;
    let mut created_by = format!(
        "{} {}",
        instruction.value.keyword(),
        instruction_args(state.source, span, escape)
    );
    let mut work = None;
    match &instruction.value {
        Instruction::Run(run) => {
            created_by = run_history(state, &run.command);
            let step = lower_run(cx, state, run)?;
            check_exec_size(state, &step, span)?;
            work = Some(Work::Run(step));
        }
        Instruction::Copy(c) | Instruction::Add(c) => {
            let keyword = instruction.value.keyword();
            work = Some(Work::Copy(lower_copy(cx, state, c, keyword, span)?));
        }
        Instruction::Env(pairs) => {
            // Every value sees the environment from before this instruction, as docker
            // documents (`ENV a=1 b=$a` does not give b the new a).
            let values: Vec<String> = pairs
                .iter()
                .map(|(_, raw)| state.expand(escape, raw, span))
                .collect::<Result<_, _>>()?;
            let mut parts = Vec::new();
            for ((key, _), value) in pairs.iter().zip(values) {
                state.set_env(key, &value);
                parts.push(format!("{key}={value}"));
            }
            created_by = format!("ENV {}", parts.join(" "));
            check_variable_bytes(state, span)?;
        }
        Instruction::Arg(decls) => {
            for ArgDecl { name, default } in decls {
                // A `--build-arg` value wins without the default being expanded, so a
                // default such as `${X:?required}` does not fail then (BuildKit's
                // `dispatchArg`).
                let default = default
                    .as_deref()
                    .filter(|_| !cx.build_args.contains_key(name))
                    .map(|raw| state.expand(escape, raw, span))
                    .transpose()?;
                state.args.declare(name, default, cx.build_args, cx.globals);
            }
            check_variable_bytes(state, span)?;
        }
        Instruction::Workdir(raw) => {
            let path = state.expand(escape, raw, span)?;
            // A relative WORKDIR is taken from the current one.
            let joined = Path::new(&state.workdir()).join(&path);
            let dir = crate::path::clean_abs(&joined.to_string_lossy());
            state.built.config.config.working_dir = Some(dir.clone());
            created_by = format!("WORKDIR {dir}");
            if dir != "/" {
                let user = state.built.config.config.user.clone().unwrap_or_default();
                work = Some(Work::Mkdir { dir, user });
            }
        }
        Instruction::User(raw) => {
            state.built.config.config.user = Some(state.expand(escape, raw, span)?);
            state.user_span = Some(span);
        }
        Instruction::Label(pairs) => {
            for (key, raw) in pairs {
                let key = state.expand(escape, key, span)?;
                let value = state.expand(escape, raw, span)?;
                state
                    .built
                    .config
                    .config
                    .labels
                    .get_or_insert_with(BTreeMap::new)
                    .insert(key, value);
            }
        }
        Instruction::Expose(ports) => expose(state, escape, ports, span)?,
        Instruction::Volume(paths) => {
            for raw in paths {
                let path = state.expand(escape, raw, span)?;
                state
                    .built
                    .config
                    .config
                    .volumes
                    .get_or_insert_with(BTreeMap::new)
                    .insert(path, serde_json::json!({}));
            }
        }
        Instruction::Entrypoint(command) => {
            let args = command_args(command, &state.shell());
            state.built.config.config.entrypoint = Some(args);
            // An ENTRYPOINT resets the CMD inherited from the base, as docker does.
            if !sets_cmd_before(state.stage, number) {
                state.built.config.config.cmd = None;
            }
        }
        Instruction::Cmd(command) => {
            state.built.config.config.cmd = Some(command_args(command, &state.shell()));
        }
        Instruction::Shell(args) => state.built.config.config.shell = Some(args.clone()),
        Instruction::StopSignal(raw) => {
            state.built.config.config.stop_signal = Some(state.expand(escape, raw, span)?);
        }
        Instruction::Healthcheck(check) => {
            state.built.config.config.healthcheck = Some(health_config(check))
        }
        Instruction::OnBuild(trigger) => state
            .built
            .config
            .config
            .on_build
            .get_or_insert_with(Vec::new)
            .push(trigger.clone()),
        Instruction::Maintainer(name) => state.built.config.author = Some(name.clone()),
    }
    Ok(Step { created_by, work })
}

/// EXPOSE: each word a port, `/tcp` unless a protocol is given.
fn expose(
    state: &mut State<'_>,
    escape: char,
    ports: &[String],
    span: Span,
) -> Result<(), BuildError> {
    for raw in ports {
        let words = expand::words(raw, escape, &|n| state.lookup(n))
            .map_err(|e| state.source.error(span, e.0))?;
        for port in words {
            let port = if port.contains('/') {
                port.to_lowercase()
            } else {
                format!("{port}/tcp")
            };
            state
                .built
                .config
                .config
                .exposed_ports
                .get_or_insert_with(BTreeMap::new)
                .insert(port, serde_json::json!({}));
        }
    }
    Ok(())
}

/// Fails at `span` when the stage's ENV and ARG values have grown past
/// [`args::MAX_VARIABLE_BYTES`].
fn check_variable_bytes(state: &State<'_>, span: Span) -> Result<(), BuildError> {
    let bytes = state.variable_bytes();
    if bytes <= args::MAX_VARIABLE_BYTES {
        return Ok(());
    }
    Err(state
        .source
        .error(
            span,
            format!(
                "the ENV and ARG values of this stage pass {} MiB ({bytes} bytes)",
                args::MAX_VARIABLE_BYTES >> 20
            ),
        )
        .with_hint("an image config holds its Env, and registries and skopeo refuse configs over 4 MiB: pass large data as a file")
        .into())
}

/// The longest single argument or environment string `execve` takes, NUL included:
/// Linux's `MAX_ARG_STRLEN` (32 pages), fixed whatever the stack limit.
const MAX_ARG_STRLEN: usize = 32 * 4096;

/// Fails at `span` when `execve` would refuse the RUN with E2BIG: one argument or
/// variable longer than [`MAX_ARG_STRLEN`], or all of them together over the system's
/// `ARG_MAX`. Found here, the error names the limit and the line instead of the
/// sandbox's bare "argument list too long".
fn check_exec_size(state: &State<'_>, run: &RunStep, span: Span) -> Result<(), BuildError> {
    let too_long = |what: &str, bytes: usize, limit: usize| {
        BuildError::from(
            state
                .source
                .error(
                    span,
                    format!("{what} is {bytes} bytes, over the {limit} bytes that Linux passes to a command"),
                )
                .with_hint("put a long script in a file (COPY it, or RUN <<EOF ... EOF, which is fed on stdin)"),
        )
    };
    if let Some(arg) = run.args.iter().find(|a| a.len() >= MAX_ARG_STRLEN) {
        return Err(too_long(
            "an argument of the command",
            arg.len(),
            MAX_ARG_STRLEN - 1,
        ));
    }
    if let Some(var) = run.env.iter().find(|v| v.len() >= MAX_ARG_STRLEN) {
        let name = var.split_once('=').map_or(var.as_str(), |(k, _)| k);
        return Err(too_long(
            &format!("the variable {name}"),
            var.len(),
            MAX_ARG_STRLEN - 1,
        ));
    }
    // SAFETY: sysconf has no preconditions.
    let arg_max = usize::try_from(unsafe { libc::sysconf(libc::_SC_ARG_MAX) }).unwrap_or(0);
    // Each string costs its bytes, its NUL and a pointer.
    let total: usize = run
        .args
        .iter()
        .chain(&run.env)
        .map(|s| s.len() + 1 + std::mem::size_of::<usize>())
        .sum();
    if arg_max > 0 && total > arg_max {
        return Err(too_long("the command with its environment", total, arg_max));
    }
    Ok(())
}

/// RUN: argv and stdin (heredocs included), environment, `--network` and `--mount`.
fn lower_run(
    cx: &Lowering<'_>,
    state: &State<'_>,
    run: &crate::dockerfile::Run,
) -> Result<RunStep, BuildError> {
    let (args, stdin) = run_command(run, &state.shell());
    let mut env: Vec<String> = state.built.config.config.env.clone().unwrap_or_default();
    for (k, v) in state.args.step_args() {
        if state.env_value(&k).is_none() {
            env.push(format!("{k}={v}"));
        }
    }
    // The proxies replace what ENV or ARG set under their names, as BuildKit appends its
    // `ProxyEnv` to the step's environment.
    for (k, v) in args::proxy_env(cx.build_args) {
        env.retain(|kv| kv.split_once('=').map(|(n, _)| n) != Some(k.as_str()));
        env.push(format!("{k}={v}"));
    }
    let mut network = cx.network;
    let mut security = Security::Sandbox;
    let mut mounts = Vec::new();
    let mut text = String::from("RUN");
    for flag in &run.flags {
        let value = state.expand(cx.escape, &flag.value, flag.span)?;
        let located = |message: String| BuildError::from(state.source.error(flag.span, message));
        match (flag.name.as_str(), value.as_str()) {
            ("network", "none") => network = Network::None,
            ("network", "host") => network = Network::Host,
            ("network", "default") => {}
            ("network", other) => {
                return Err(located(format!(
                    "RUN --network={other}: expected default, none or host"
                )))
            }
            ("mount", value) => mounts.push((mount::parse(value).map_err(located)?, flag.span)),
            ("security", "sandbox") => security = Security::Sandbox,
            // BuildKit's entitlement check and wording; the flag is part of `text`, and
            // so of the cache key, either way.
            ("security", "insecure") if !cx.allow_insecure => {
                return Err(BuildError::from(
                    state
                        .source
                        .error(flag.span, "RUN --security=insecure: security.insecure is not allowed")
                        .with_hint("to run this step with every capability and no seccomp filter, build with --allow security.insecure"),
                ))
            }
            ("security", "insecure") => security = Security::Insecure,
            ("security", other) => {
                return Err(located(format!(
                    "RUN --security={other}: expected sandbox or insecure"
                )))
            }
            (name, value) => return Err(located(format!("RUN --{name}={value} is not supported"))),
        }
        text.push_str(&format!(" --{}={value}", flag.name));
    }
    text.push(' ');
    text.push_str(&args.join(" "));
    Ok(RunStep {
        args,
        stdin,
        env,
        network,
        mounts,
        security,
        text,
    })
}

/// COPY and ADD: every word expanded, the destination made absolute, `--chmod` parsed,
/// heredoc bodies expanded, URL sources checked.
fn lower_copy(
    cx: &Lowering<'_>,
    state: &State<'_>,
    c: &crate::dockerfile::Copy,
    keyword: &'static str,
    span: Span,
) -> Result<CopyStep, BuildError> {
    let expand = |raw: &str| state.expand(cx.escape, raw, span);
    let located = |message: String| BuildError::from(state.source.error(span, message));
    let dest_raw = expand(&c.dest)?;
    let dest = if dest_raw.starts_with('/') {
        dest_raw.clone()
    } else {
        let joined = Path::new(&state.workdir())
            .join(&dest_raw)
            .to_string_lossy()
            .into_owned();
        // Keep a trailing slash: it means "a directory".
        if dest_raw.ends_with('/') || dest_raw == "." {
            format!("{}/", joined.trim_end_matches('/'))
        } else {
            joined
        }
    };
    let chmod = c
        .chmod
        .as_deref()
        .map(|raw| Chmod::parse(&expand(raw)?).map_err(|e| located(e.to_string())))
        .transpose()?;
    let chown = c.chown.as_deref().map(expand).transpose()?;
    let excludes: Vec<String> = c
        .excludes
        .iter()
        .map(|p| expand(p))
        .collect::<Result<_, _>>()?;
    let from = c.from.as_deref().map(expand).transpose()?;
    let sources: Vec<String> = c
        .sources
        .iter()
        .map(|s| expand(s))
        .collect::<Result<_, _>>()?;
    let docs: Vec<(String, Vec<u8>)> = c
        .heredocs
        .iter()
        .map(|doc| {
            let body = if doc.expand {
                expand::heredoc(&doc.content, &|n| state.lookup(n)).map_err(|e| located(e.0))?
            } else {
                doc.content.clone()
            };
            Ok((doc.name.clone(), body.into_bytes()))
        })
        .collect::<Result<_, BuildError>>()?;
    let urls = if keyword == "ADD" && sources.iter().any(|s| fetch::is_url(s)) {
        if !sources.iter().all(|s| fetch::is_url(s)) {
            return Err(located(
                "ADD mixes URLs with other sources: give the URLs an ADD of their own".into(),
            ));
        }
        for url in &sources {
            if fetch::file_name(url) == fetch::UNNAMED && (dest.ends_with('/') || sources.len() > 1)
            {
                return Err(located(format!(
                    "ADD {url}: the URL names no file; give a file path as the destination"
                )));
            }
        }
        let checksum = c
            .checksum
            .as_deref()
            .map(|raw| {
                expand(raw)?
                    .parse::<Digest>()
                    .map_err(|e| located(format!("ADD --checksum: {e}")))
            })
            .transpose()?;
        Some(checksum)
    } else if c.checksum.is_some() {
        return Err(located("ADD --checksum needs URL sources".into()));
    } else {
        None
    };
    let unpack = if urls.is_some() {
        c.unpack == Some(true)
    } else {
        c.unpack.unwrap_or(keyword == "ADD")
    };
    let text = format!(
        "{keyword} {}{}{}{}{}{}{} {dest}",
        from.as_deref()
            .map(|f| format!("--from={f} "))
            .unwrap_or_default(),
        if c.parents { "--parents " } else { "" },
        c.unpack
            .map(|u| format!("--unpack={u} "))
            .unwrap_or_default(),
        excludes
            .iter()
            .map(|e| format!("--exclude={e} "))
            .collect::<String>(),
        chown
            .as_deref()
            .map(|o| format!("--chown={o} "))
            .unwrap_or_default(),
        chmod
            .as_ref()
            .map(|m| format!("--chmod={m} "))
            .unwrap_or_default(),
        sources.join(" ")
    );
    Ok(CopyStep {
        keyword,
        dest,
        chmod,
        chown,
        excludes,
        from,
        parents: c.parents,
        unpack,
        sources,
        docs,
        urls,
        text,
    })
}

/// The instruction as written, on one line, for progress and history.
pub(super) fn instruction_text(source: &Source, span: Span) -> String {
    let text = &source.text[span.offset..span.offset + span.len];
    text.lines().next().unwrap_or("").trim().to_owned()
}

/// The instruction as the progress view shows it: its whole logical line, each
/// escape-newline removed and the text around it kept as written (as BuildKit shows a
/// multi-line RUN), comment lines inside it left out; a heredoc's body is not shown.
pub(super) fn instruction_display(source: &Source, span: Span, escape: char) -> String {
    let text = &source.text[span.offset..span.offset + span.len];
    let mut shown = String::new();
    for line in text.lines() {
        let trimmed = line.trim_end();
        if !shown.is_empty() && trimmed.trim_start().starts_with('#') {
            continue;
        }
        match trimmed.strip_suffix(escape) {
            Some(head) => shown.push_str(head),
            None => {
                shown.push_str(trimmed);
                break;
            }
        }
    }
    shown.trim().to_owned()
}

/// The instruction's arguments as written, its continuation lines joined (a history's
/// `COPY a \ b /dst` names every source, as BuildKit's does).
fn instruction_args(source: &Source, span: Span, escape: char) -> String {
    let text = instruction_display(source, span, escape);
    text.split_once(char::is_whitespace)
        .map(|(_, rest)| rest.trim().to_owned())
        .unwrap_or_default()
}

/// Whether a CMD comes before step `number` in `stage` (so a later ENTRYPOINT keeps it).
fn sets_cmd_before(stage: &Stage, number: usize) -> bool {
    stage.instructions[..number - 1]
        .iter()
        .any(|i| matches!(i.value, Instruction::Cmd(_)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::stage::BuiltStage;

    /// Lowers every instruction of the last stage of `text` from scratch, as the builder
    /// would, returning the steps and the final config.
    fn lower_all(text: &str) -> Result<(Vec<Step>, crate::image::ContainerConfig), BuildError> {
        lower_allowing(text, false)
    }

    /// [`lower_all`], with `--allow security.insecure` or without.
    fn lower_allowing(
        text: &str,
        allow_insecure: bool,
    ) -> Result<(Vec<Step>, crate::image::ContainerConfig), BuildError> {
        let file = crate::dockerfile::parse(Path::new("Dockerfile"), text)?;
        let build_args = BTreeMap::new();
        let host = crate::platform::Platform::host();
        let predefined = crate::dockerfile::args::platform_args(&host, &host);
        let globals = ArgScope::global(&file, &build_args, "default", predefined)?;
        let cx = Lowering {
            escape: file.escape,
            build_args: &build_args,
            globals: &globals,
            network: Network::Host,
            allow_insecure,
        };
        let stage = file.stages.last().expect("a stage");
        let mut state = State::new(
            stage,
            &file.source,
            "test".into(),
            BuiltStage::scratch(&crate::platform::Platform::host()),
        );
        let mut steps = Vec::new();
        for (i, instruction) in stage.instructions.iter().enumerate() {
            steps.push(lower(&cx, &mut state, instruction, i + 1)?);
        }
        Ok((steps, state.built.config.config))
    }

    #[test]
    fn metadata_steps_change_the_config_and_do_no_work() {
        let (steps, config) = lower_all(
            "FROM scratch\nARG V=1\nENV A=$V B=x\nLABEL l=$A\nUSER 1000\nEXPOSE 80 53/UDP\nCMD [\"a\"]\nENTRYPOINT [\"e\"]\n",
        )
        .unwrap();
        assert!(steps.iter().all(|s| s.work.is_none()));
        assert_eq!(steps[1].created_by, "ENV A=1 B=x");
        let env = config.env.unwrap();
        assert!(env.contains(&"A=1".to_owned()), "{env:?}");
        assert_eq!(config.labels.unwrap()["l"], "1");
        assert_eq!(config.user.as_deref(), Some("1000"));
        let ports: Vec<_> = config.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(ports, ["53/udp", "80/tcp"]);
        // A CMD before the ENTRYPOINT in the same stage survives it.
        assert_eq!(config.cmd, Some(vec!["a".to_owned()]));
    }

    #[test]
    fn workdir_is_cleaned_and_made_by_a_step() {
        let (steps, config) =
            lower_all("FROM scratch\nUSER app\nWORKDIR /a/./b/../c/\nWORKDIR /\n").unwrap();
        assert_eq!(
            steps[1].work,
            Some(Work::Mkdir {
                dir: "/a/c".into(),
                user: "app".into()
            })
        );
        assert_eq!(steps[1].created_by, "WORKDIR /a/c");
        assert_eq!(steps[2].work, None);
        assert_eq!(config.working_dir.as_deref(), Some("/"));
    }

    #[test]
    fn copy_words_are_expanded_and_the_destination_made_absolute() {
        let (steps, _) = lower_all(
            "FROM scratch\nARG S=src\nWORKDIR /app\nCOPY --chmod=644 --chown=1:2 --exclude=*.md $S/ ./\n",
        )
        .unwrap();
        let Some(Work::Copy(copy)) = &steps[2].work else {
            panic!("{:?}", steps[2]);
        };
        // As docker joins it: the trailing `/.` still means "a directory".
        assert_eq!(copy.dest, "/app/./");
        assert_eq!(copy.sources, ["src/"]);
        assert_eq!(copy.chmod, Some(Chmod::Octal(0o644)));
        assert_eq!(
            copy.text,
            "COPY --exclude=*.md --chown=1:2 --chmod=644 src/ /app/./"
        );
        assert!(!copy.unpack && !copy.parents);
    }

    #[test]
    fn add_unpacks_local_archives_unless_told_and_downloads_only_when_told() {
        let step = |line: &str| {
            let (steps, _) = lower_all(&format!("FROM scratch\n{line}\n")).unwrap();
            let Some(Work::Copy(copy)) = steps.into_iter().next().unwrap().work else {
                panic!("{line}");
            };
            copy
        };
        assert!(step("ADD a.tar /").unpack);
        assert!(!step("ADD --unpack=false a.tar /").unpack);
        assert!(!step("ADD https://h/a.tar /").unpack);
        assert!(step("ADD --unpack=true https://h/a.tar /").unpack);
        let parents = step("COPY --parents --chmod=go-w a/./b /d/");
        assert!(parents.parents && !parents.unpack);
        assert_eq!(parents.text, "COPY --parents --chmod=go-w a/./b /d/");
        assert_eq!(
            step("ADD --unpack=false a.tar /").text,
            "ADD --unpack=false a.tar /"
        );
    }

    #[test]
    fn a_bad_chmod_is_located_at_its_instruction() {
        let err = lower_all("FROM scratch\nCOPY --chmod=u+q a /b\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Dockerfile:2:1: invalid --chmod value \"u+q\""),
            "{err}"
        );
    }

    #[test]
    fn add_checks_url_sources_before_anything_runs() {
        let err = |text: &str| lower_all(text).unwrap_err().to_string();
        assert!(err("FROM scratch\nADD https://h/x.tgz local /d/\n").contains("ADD mixes URLs"));
        assert!(err("FROM scratch\nADD --checksum=sha256:00 f /d\n").contains("needs URL sources"));
        assert!(err("FROM scratch\nADD https://h/ /d/\n").contains("names no file"));
    }

    #[test]
    fn run_carries_its_flags_environment_and_history() {
        let (steps, _) = lower_all(
            "FROM scratch\nARG V=1\nENV E=2\nRUN --network=none --mount=type=cache,target=/c echo $V\n",
        )
        .unwrap();
        assert_eq!(steps[2].created_by, "RUN |1 V=1 /bin/sh -c echo $V");
        let Some(Work::Run(run)) = &steps[2].work else {
            panic!("{:?}", steps[2]);
        };
        assert_eq!(run.network, Network::None);
        assert_eq!(run.mounts.len(), 1);
        assert!(run.env.contains(&"E=2".to_owned()) && run.env.contains(&"V=1".to_owned()));
        assert_eq!(
            run.text,
            "RUN --network=none --mount=type=cache,target=/c /bin/sh -c echo $V"
        );
        let bad = lower_all("FROM scratch\nRUN --network=bridge true\n").unwrap_err();
        assert!(bad.to_string().contains("expected default, none or host"));
    }

    #[test]
    fn run_security_insecure_needs_the_entitlement() {
        let text = "FROM scratch\nRUN --security=insecure mount -t tmpfs t /mnt\n";
        let err = lower_all(text).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "Dockerfile:2:5: RUN --security=insecure: security.insecure is not allowed"
            ),
            "{err}"
        );
        let (steps, _) = lower_allowing(text, true).unwrap();
        let Some(Work::Run(run)) = &steps[0].work else {
            panic!("{:?}", steps[0]);
        };
        assert_eq!(run.security, Security::Insecure);
        // The flag is part of the step's text, and so of its cache key.
        assert!(
            run.text.starts_with("RUN --security=insecure "),
            "{}",
            run.text
        );
        let (steps, _) = lower_all("FROM scratch\nRUN --security=sandbox true\n").unwrap();
        let Some(Work::Run(run)) = &steps[0].work else {
            panic!("{:?}", steps[0]);
        };
        assert_eq!(run.security, Security::Sandbox);
        let bad = lower_all("FROM scratch\nRUN --security=root true\n").unwrap_err();
        assert!(bad.to_string().contains("expected sandbox or insecure"));
    }

    #[test]
    fn heredoc_scripts_run_through_their_interpreter() {
        let (steps, _) =
            lower_all("FROM scratch\nRUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\n").unwrap();
        let Some(Work::Run(run)) = &steps[0].work else {
            panic!();
        };
        assert_eq!(run.args, ["/usr/bin/env", "python3", "/dev/stdin"]);
        assert!(run.stdin.is_some());
    }

    #[test]
    fn healthcheck_durations_come_parsed_and_zero_means_the_default() {
        let (_, config) =
            lower_all("FROM scratch\nHEALTHCHECK --interval=0 --timeout=1m30s CMD true\n").unwrap();
        let check = config.healthcheck.unwrap();
        assert_eq!(check.interval, None);
        assert_eq!(check.timeout, Some(90_000_000_000));
        assert_eq!(
            check.test,
            Some(vec!["CMD-SHELL".to_owned(), "true".to_owned()])
        );
    }
}
