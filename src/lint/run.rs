//! The rules on RUN: package manager caches, apt usage, later-layer cleanup, package
//! lists, pipes to a shell, `cd`, `sudo`, pipefail.
//!
//! Each RUN becomes a [`Script`] (the commands the shell would run, from the shell form,
//! an exec form's `sh -c` or a heredoc body, each word located in the source). A
//! per-stage [`History`] remembers what earlier steps added (packages, COPY
//! destinations, downloads, caches) so a later RUN that removes it can say how many
//! layers apart the two are. The caches are data ([`CACHES`]): programs, subcommands,
//! cache dirs, cleaning commands and flags.

use super::check::{Ctx, Out, Role};
use super::shell::{self, Cmd, Join, Word};
use crate::dockerfile::{Command, Run, Source, Span};

/// The commands of one RUN.
pub(super) struct Script {
    /// The commands, in order.
    pub cmds: Vec<Cmd>,
    /// Targets of `--mount=type=cache` and `type=tmpfs`.
    pub cache_mounts: Vec<String>,
    /// Whether the text is run by a shell (shell form, `sh -c`, heredoc script).
    pub shell: bool,
    /// The RUN's text (for settings written as env assignments).
    pub text: String,
}

impl Script {
    /// Reads a RUN at `span` of `source`.
    pub(super) fn of(run: &Run, span: Span, source: &Source, escape: char) -> Script {
        let text: &str = &source.text;
        let end = (span.offset + span.len).min(text.len());
        let cache_mounts = run
            .flags
            .iter()
            .filter(|f| f.name == "mount")
            .filter_map(|f| {
                let fields: Vec<(&str, &str)> = f
                    .value
                    .trim_matches('"')
                    .split(',')
                    .filter_map(|kv| kv.split_once('='))
                    .collect();
                let kind = fields.iter().find(|(k, _)| *k == "type").map(|(_, v)| *v);
                let target = fields
                    .iter()
                    .find(|(k, _)| matches!(*k, "target" | "dst" | "destination"))
                    .map(|(_, v)| normalize(v));
                matches!(kind, Some("cache" | "tmpfs"))
                    .then_some(target)
                    .flatten()
            })
            .collect();
        let mut script = Script {
            cmds: Vec::new(),
            cache_mounts,
            shell: true,
            text: text[span.offset..end].to_owned(),
        };
        match &run.command {
            Command::Exec(argv) => {
                let at = |t: &str| Word {
                    text: t.to_owned(),
                    offset: span.offset,
                    len: 3,
                };
                let is_shell = argv.len() == 3
                    && matches!(
                        argv[0].rsplit('/').next(),
                        Some("sh" | "bash" | "ash" | "dash")
                    )
                    && argv[1] == "-c";
                if is_shell {
                    script.cmds = shell::split(&argv[2], 0, argv[2].len(), '\\');
                    for cmd in &mut script.cmds {
                        for w in &mut cmd.words {
                            *w = at(&w.text);
                        }
                    }
                } else {
                    script.shell = false;
                    script.cmds = vec![Cmd {
                        join: Join::Start,
                        subshell: false,
                        words: argv.iter().map(|a| at(a)).collect(),
                    }];
                }
            }
            Command::Shell(_) => {
                let mut cmds = shell::split(text, span.offset, end, escape);
                if let Some(first) = cmds.first_mut() {
                    let skip = first
                        .words
                        .iter()
                        .enumerate()
                        .take_while(|(i, w)| *i == 0 || w.text.starts_with("--"))
                        .count();
                    first.words.drain(..skip);
                    if first.words.is_empty() {
                        cmds.remove(0);
                    }
                }
                let runs_heredoc = cmds
                    .first()
                    .is_none_or(|c| matches!(c.program(), "sh" | "bash" | "ash" | "dash"));
                script.cmds = cmds;
                if runs_heredoc {
                    for heredoc in &run.heredocs {
                        let Some(at) = text[end..].find(&heredoc.content) else {
                            continue;
                        };
                        let start = end + at;
                        if heredoc.content.is_empty() {
                            continue;
                        }
                        let body = shell::split(text, start, start + heredoc.content.len(), escape);
                        script.cmds.extend(body);
                    }
                }
            }
        }
        script
    }

    /// Whether a command of the script removes `dir` (or a parent of it, or its contents).
    fn removes(&self, dir: &str) -> Option<&Word> {
        self.cmds
            .iter()
            .filter(|c| c.program() == "rm")
            .flat_map(|c| c.args())
            .find(|w| !w.text.starts_with('-') && covers(&normalize(&w.text), dir))
    }

    /// Whether a cache or tmpfs mount covers `dir`.
    fn mounted(&self, dir: &str) -> bool {
        self.cache_mounts
            .iter()
            .any(|t| dir.starts_with(t.as_str()) || t.starts_with(dir))
    }

    /// Whether `dir` is cleaned: removed in this RUN or on a cache mount.
    fn cleans(&self, dirs: &[&str]) -> bool {
        dirs.iter()
            .any(|d| self.removes(d).is_some() || self.mounted(d))
    }
}

/// `~` and `$HOME` become /root; trailing `/`, `*` and `/.` are dropped.
fn normalize(path: &str) -> String {
    let path = path
        .strip_prefix("~/")
        .or_else(|| path.strip_prefix("$HOME/"))
        .or_else(|| path.strip_prefix("${HOME}/"))
        .map_or_else(|| path.to_owned(), |rest| format!("/root/{rest}"));
    let trimmed = path.trim_end_matches(['*', '/', '.']);
    if trimmed.is_empty() {
        path
    } else {
        trimmed.to_owned()
    }
}

/// Whether removing `removed` (normalized) removes `dir`: the same path or a parent.
fn covers(removed: &str, dir: &str) -> bool {
    removed.len() > 1 && (dir == removed || dir.starts_with(&format!("{removed}/")))
}

/// A package manager, grouped by the files it manages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Manager {
    /// apt-get, apt.
    Apt,
    /// apk.
    Apk,
    /// yum, dnf, microdnf, tdnf.
    Rpm,
    /// zypper.
    Zypper,
    /// pip.
    Pip,
    /// npm, yarn.
    Npm,
    /// gem.
    Gem,
}

impl Manager {
    /// Whether it installs OS packages (the ones a family parent could share).
    pub fn is_os(self) -> bool {
        matches!(
            self,
            Manager::Apt | Manager::Apk | Manager::Rpm | Manager::Zypper
        )
    }
}

/// What a command does with packages.
pub(super) struct PackageOp<'c> {
    pub(super) manager: Manager,
    pub(super) install: bool,
    /// The package words (version suffixes kept; see [`package_name`]).
    pub(super) packages: Vec<&'c Word>,
}

/// Flags that take the next word as their value, per manager.
fn value_flags(manager: Manager) -> &'static [&'static str] {
    match manager {
        Manager::Apt => &["-o", "-t", "--target-release", "-c", "--config-file"],
        Manager::Apk => &["-X", "--repository", "--root", "-p"],
        Manager::Rpm => &[
            "--setopt",
            "--enablerepo",
            "--disablerepo",
            "--installroot",
            "--releasever",
        ],
        Manager::Zypper => &["-r", "--repo", "--from"],
        Manager::Pip => &[
            "-r",
            "--requirement",
            "-c",
            "--constraint",
            "-e",
            "--editable",
            "-i",
            "--index-url",
            "--extra-index-url",
            "-t",
            "--target",
            "--prefix",
            "--root",
            "-f",
            "--find-links",
        ],
        Manager::Npm => &["--prefix", "--registry", "--cache"],
        Manager::Gem => &["-v", "--version", "-i", "--install-dir", "--source"],
    }
}

/// The package operation a command performs, if any.
pub(super) fn package_op(cmd: &Cmd) -> Option<PackageOp<'_>> {
    let program = cmd.program();
    let args = cmd.args();
    let (manager, offset) = match program {
        "apt-get" | "apt" => (Manager::Apt, 0),
        "apk" => (Manager::Apk, 0),
        "yum" | "dnf" | "dnf5" | "microdnf" | "tdnf" => (Manager::Rpm, 0),
        "zypper" => (Manager::Zypper, 0),
        p if p.starts_with("pip") => (Manager::Pip, 0),
        p if p.starts_with("python")
            && args.first().is_some_and(|w| w.text == "-m")
            && args.get(1).is_some_and(|w| w.text.starts_with("pip")) =>
        {
            (Manager::Pip, 2)
        }
        "npm" | "yarn" => (Manager::Npm, 0),
        "gem" => (Manager::Gem, 0),
        _ => return None,
    };
    let args = args.get(offset..).unwrap_or_default();
    let (sub_at, sub) = args
        .iter()
        .enumerate()
        .find(|(_, w)| !w.text.starts_with('-'))?;
    let install = match (manager, sub.text.as_str()) {
        (Manager::Apt | Manager::Rpm | Manager::Pip | Manager::Gem, "install")
        | (Manager::Apk, "add")
        | (Manager::Zypper, "install" | "in")
        | (Manager::Npm, "install" | "i" | "add" | "ci") => true,
        (Manager::Apt, "remove" | "purge")
        | (Manager::Apk, "del")
        | (Manager::Rpm, "remove" | "erase")
        | (Manager::Zypper, "remove" | "rm")
        | (Manager::Pip | Manager::Gem, "uninstall")
        | (Manager::Npm, "uninstall" | "rm" | "remove" | "un") => false,
        _ => return None,
    };
    let takes_value = value_flags(manager);
    let mut packages = Vec::new();
    let mut skip = false;
    for w in &args[sub_at + 1..] {
        if skip {
            skip = false;
            continue;
        }
        if w.text.starts_with('-') {
            skip = takes_value.contains(&w.text.as_str());
            // apk's virtual package name is something later steps can remove.
            if manager == Manager::Apk && matches!(w.text.as_str(), "--virtual" | "-t") {
                skip = false;
            }
            continue;
        }
        if !w.text.starts_with('$') && !w.text.contains("$(") && !w.text.is_empty() {
            packages.push(w);
        }
    }
    Some(PackageOp {
        manager,
        install,
        packages,
    })
}

/// The name of a package word without its version (`curl=7.88*`, `flask==2.0`, `curl~8`).
pub(super) fn package_name(word: &str) -> &str {
    let end = word
        .char_indices()
        .skip(1)
        .find(|(_, c)| matches!(c, '=' | '<' | '>' | '~' | '!' | '[' | ';' | '@'))
        .map_or(word.len(), |(i, _)| i);
    &word[..end]
}

/// The language runtime a package name provides, if it is one.
pub(super) fn runtime_of(package: &str) -> Option<&'static str> {
    let p = package.to_ascii_lowercase();
    let digits_after = |prefix: &str| {
        p.strip_prefix(prefix).is_some_and(|rest| {
            rest.is_empty() || rest.chars().all(|c| c.is_ascii_digit() || c == '.')
        })
    };
    if digits_after("python") || p == "pypy3" {
        Some("python")
    } else if p.starts_with("openjdk")
        || p.starts_with("default-jre")
        || p.starts_with("default-jdk")
        || (p.starts_with("java-") && p.contains("openjdk"))
        || p.starts_with("temurin-")
    {
        Some("java")
    } else if matches!(p.as_str(), "nodejs" | "node" | "nodejs-current") {
        Some("node")
    } else if digits_after("ruby") || p == "ruby-full" {
        Some("ruby")
    } else if digits_after("php") || matches!(p.as_str(), "php-cli" | "php-fpm") {
        Some("php")
    } else if matches!(p.as_str(), "golang" | "golang-go" | "go") {
        Some("go")
    } else if p.starts_with("dotnet-runtime")
        || p.starts_with("dotnet-sdk")
        || p.starts_with("aspnetcore-runtime")
    {
        Some("dotnet")
    } else if matches!(p.as_str(), "rustc" | "rust" | "cargo") {
        Some("rust")
    } else if matches!(p.as_str(), "erlang" | "elixir") {
        Some("erlang")
    } else {
        None
    }
}

/// What earlier steps of a stage added, for STR020.
#[derive(Default)]
pub(super) struct History {
    /// Layer-making steps so far (RUN, COPY, ADD).
    pub(super) layers: usize,
    /// Packages installed: (manager, name, layer, line).
    pub(super) packages: Vec<(Manager, String, usize, usize)>,
    /// Paths added by COPY/ADD or downloaded by curl/wget: (path, is_dir, layer, line, what).
    pub(super) paths: Vec<(String, bool, usize, usize, &'static str)>,
    /// Caches left by a RUN: (dir, layer, line).
    pub(super) caches: Vec<(&'static str, usize, usize)>,
    /// The current WORKDIR.
    pub(super) workdir: String,
}

impl History {
    pub(super) fn resolve(&self, path: &str) -> String {
        if path.starts_with('/') || path.starts_with('$') {
            normalize(path)
        } else {
            normalize(&format!(
                "{}/{}",
                self.workdir.trim_end_matches('/'),
                path.trim_start_matches("./")
            ))
        }
    }
}

/// Cache rules: (rule, managers' programs, install subcommands, clean dirs, clean commands
/// (program, subcommand), flags that avoid the cache).
struct CacheRule {
    rule: &'static str,
    programs: &'static [&'static str],
    subs: &'static [&'static str],
    dirs: &'static [&'static str],
    cleaners: &'static [(&'static str, &'static str)],
    flags: &'static [&'static str],
    env: &'static str,
    what: &'static str,
}

/// The package manager caches, as data.
static CACHES: &[CacheRule] = &[
    CacheRule {
        rule: "STR002",
        programs: &["apt-get", "apt"],
        subs: &["update"],
        dirs: &["/var/lib/apt/lists"],
        cleaners: &[],
        flags: &[],
        env: "",
        what: "leaves the package index in /var/lib/apt/lists",
    },
    CacheRule {
        rule: "STR003",
        programs: &["apk"],
        subs: &["add", "update", "upgrade"],
        dirs: &["/var/cache/apk"],
        cleaners: &[("apk", "cache")],
        flags: &["--no-cache"],
        env: "",
        what: "leaves the index in /var/cache/apk",
    },
    CacheRule {
        rule: "STR004",
        programs: &["pip", "pip3"],
        subs: &["install"],
        dirs: &["/root/.cache/pip", "/root/.cache"],
        cleaners: &[("pip", "cache"), ("pip3", "cache")],
        flags: &["--no-cache-dir"],
        env: "PIP_NO_CACHE_DIR",
        what: "leaves downloaded wheels in ~/.cache/pip",
    },
    CacheRule {
        rule: "STR005",
        programs: &["npm"],
        subs: &["install", "i", "ci", "add"],
        dirs: &["/root/.npm"],
        cleaners: &[("npm", "cache")],
        flags: &[],
        env: "",
        what: "leaves its download cache in ~/.npm",
    },
    CacheRule {
        rule: "STR005",
        programs: &["yarn"],
        subs: &["install", "add"],
        dirs: &["/usr/local/share/.cache/yarn", "/root/.cache/yarn"],
        cleaners: &[("yarn", "cache")],
        flags: &[],
        env: "",
        what: "leaves its download cache in the yarn cache folder",
    },
    CacheRule {
        rule: "STR005",
        programs: &["gem"],
        subs: &["install"],
        dirs: &[
            "/root/.gem",
            "/usr/local/bundle/cache",
            "/root/.local/share/gem",
        ],
        cleaners: &[],
        flags: &[],
        env: "",
        what: "leaves the downloaded .gem files in the gem cache",
    },
    CacheRule {
        rule: "STR005",
        programs: &["composer"],
        subs: &["install", "require", "update"],
        dirs: &[
            "/root/.composer/cache",
            "/root/.cache/composer",
            "/tmp/cache",
        ],
        cleaners: &[("composer", "clear-cache"), ("composer", "clearcache")],
        flags: &["--no-cache"],
        env: "COMPOSER_CACHE_DIR",
        what: "leaves its download cache in ~/.composer/cache",
    },
    CacheRule {
        rule: "STR006",
        programs: &["yum", "dnf", "dnf5", "microdnf", "tdnf"],
        subs: &["install", "groupinstall", "reinstall", "update", "upgrade"],
        dirs: &["/var/cache/yum", "/var/cache/dnf", "/var/cache/tdnf"],
        cleaners: &[
            ("yum", "clean"),
            ("dnf", "clean"),
            ("dnf5", "clean"),
            ("microdnf", "clean"),
            ("tdnf", "clean"),
        ],
        flags: &[],
        env: "",
        what: "leaves metadata and packages in /var/cache",
    },
    CacheRule {
        rule: "STR007",
        programs: &["zypper"],
        subs: &[
            "install",
            "in",
            "update",
            "up",
            "dist-upgrade",
            "dup",
            "patch",
            "refresh",
            "ref",
        ],
        dirs: &["/var/cache/zypp"],
        cleaners: &[("zypper", "clean"), ("zypper", "cc")],
        flags: &[],
        env: "",
        what: "leaves metadata and packages in /var/cache/zypp",
    },
];

/// The rules on one RUN's commands.
#[allow(clippy::too_many_lines)]
pub(super) fn check_run(
    script: &Script,
    ctx: &Ctx,
    env_no_pip_cache: bool,
    pipefail_shell: bool,
    history: &mut History,
    span: Span,
    out: &mut Out,
) {
    let layer = history.layers;
    let line = span.line;
    // Caches (STR002-STR007) and their later-layer removal (STR020).
    for rule in CACHES {
        let mut first: Option<(&Cmd, &Word)> = None;
        for cmd in &script.cmds {
            let program = cmd.program();
            let pip_module = program.starts_with("python")
                && cmd.args().first().is_some_and(|w| w.text == "-m")
                && cmd.args().get(1).is_some_and(|w| w.text.starts_with("pip"));
            let matches_program = rule.programs.contains(&program)
                || (rule.rule == "STR004" && (program.starts_with("pip") || pip_module));
            if !matches_program {
                continue;
            }
            let args = if pip_module {
                &cmd.args()[2..]
            } else {
                cmd.args()
            };
            let sub = args.iter().find(|w| !w.text.starts_with('-'));
            let bare_yarn = program == "yarn" && sub.is_none();
            let Some(sub) = sub
                .filter(|w| rule.subs.contains(&w.text.as_str()))
                .or(if bare_yarn {
                    cmd.words.get(cmd.program_index())
                } else {
                    None
                })
            else {
                continue;
            };
            if rule.flags.iter().any(|f| args.iter().any(|w| w.text == *f)) {
                continue;
            }
            first.get_or_insert((cmd, sub));
        }
        let Some((cmd, sub)) = first else { continue };
        let env_set = !rule.env.is_empty()
            && (script.text.contains(rule.env)
                || (rule.env == "PIP_NO_CACHE_DIR" && env_no_pip_cache));
        let cleaned = script.cleans(rule.dirs)
            || script.cmds.iter().any(|c| {
                rule.cleaners.iter().any(|(p, s)| {
                    c.program() == *p && c.subcommand().is_some_and(|(_, w)| w.text == *s)
                })
            })
            || (rule.rule == "STR005"
                && cmd.program() == "gem"
                && script.cmds.iter().any(|c| {
                    c.program() == "rm" && c.args().iter().any(|w| w.text.contains("/cache"))
                }));
        if env_set || cleaned {
            continue;
        }
        let program_word = &cmd.words[cmd.program_index()];
        let len = sub.offset + sub.len - program_word.offset;
        let len = if len > 200 { program_word.len } else { len };
        let name = format!(
            "{} {}",
            program_word.text.rsplit('/').next().unwrap_or(""),
            sub.text
        );
        let name = if sub.offset == program_word.offset {
            program_word.text.clone()
        } else {
            name
        };
        out.at(
            rule.rule,
            program_word.offset,
            len,
            format!("`{name}` {} and nothing removes it in this RUN", rule.what),
        );
        history.caches.push((rule.dirs[0], layer, line));
    }
    // Removing a cache left by an earlier RUN.
    let caches = std::mem::take(&mut history.caches);
    let mut kept = Vec::new();
    for (dir, at, at_line) in caches {
        if at == layer {
            kept.push((dir, at, at_line));
            continue;
        }
        if let Some(w) = script.removes(dir) {
            out.word("STR020", w, format!("removes {dir}, left by the RUN on line {at_line} ({} layer{} earlier): that layer still ships it", layer - at, plural(layer - at)))
                .hint = format!("remove it at the end of the RUN on line {at_line} instead");
        } else {
            kept.push((dir, at, at_line));
        }
    }
    history.caches = kept;

    let mut seen_update = None::<&Cmd>;
    let mut installs_after_update = false;
    for (i, cmd) in script.cmds.iter().enumerate() {
        let program = cmd.program();
        let program_word = cmd.words.get(cmd.program_index());
        if cmd.words.first().is_some_and(|w| w.text == "sudo") {
            out.word("STR070", &cmd.words[0], "sudo in RUN".to_owned());
        }
        if program == "cd" && !cmd.subshell && script.shell {
            out.word(
                "STR062",
                &cmd.words[cmd.program_index()],
                "`cd` in RUN: the next instruction starts in the WORKDIR again".to_owned(),
            );
        }
        // apt rules.
        if matches!(program, "apt-get" | "apt") {
            if let Some((_, sub)) = cmd.subcommand() {
                let pw = program_word.expect("program exists");
                let whole = (pw.offset, sub.offset + sub.len - pw.offset);
                match sub.text.as_str() {
                    "update" => seen_update = Some(cmd),
                    "upgrade" | "dist-upgrade" | "full-upgrade" | "build-dep" | "source"
                    | "download" | "install"
                        if seen_update.is_some() =>
                    {
                        installs_after_update = true;
                    }
                    _ => {}
                }
                match sub.text.as_str() {
                    "install" => {
                        let yes = cmd.args().iter().any(|w| {
                            matches!(
                                w.text.as_str(),
                                "-y" | "--yes" | "--assume-yes" | "-qq" | "-q=2" | "--quiet=2"
                            ) || (w.text.starts_with('-')
                                && !w.text.starts_with("--")
                                && w.text.contains('y'))
                        });
                        if !yes {
                            out.at("STR011", whole.0, whole.1, format!("`{program} install` without -y waits for an answer that never comes"));
                        }
                        let no_rec = cmd.args().iter().any(|w| {
                            w.text == "--no-install-recommends"
                                || w.text.contains("Install-Recommends=false")
                                || w.text.contains("Install-Recommends=0")
                        });
                        if !no_rec {
                            out.at("STR012", whole.0, whole.1, format!("`{program} install` without --no-install-recommends also installs recommended packages"));
                        }
                    }
                    "upgrade" | "dist-upgrade" | "full-upgrade" if ctx.role != Role::Base => {
                        out.at(
                            "STR013",
                            whole.0,
                            whole.1,
                            format!("`{program} {}` outside the base tier", sub.text),
                        );
                    }
                    _ => {}
                }
            }
        } else if ctx.role != Role::Base {
            let upgrade = match (program, cmd.subcommand()) {
                ("apk", Some((_, s))) if s.text == "upgrade" => Some(s),
                ("yum" | "dnf" | "microdnf", Some((at, s)))
                    if matches!(s.text.as_str(), "upgrade" | "update")
                        && cmd.args()[at + 1..].iter().all(|w| w.text.starts_with('-')) =>
                {
                    Some(s)
                }
                _ => None,
            };
            if let (Some(sub), Some(pw)) = (upgrade, program_word) {
                out.at(
                    "STR013",
                    pw.offset,
                    sub.offset + sub.len - pw.offset,
                    format!("`{program} {}` outside the base tier", sub.text),
                );
            }
        }
        // Pipes: curl | sh, pipefail.
        if cmd.join == Join::Pipe {
            let prev = &script.cmds[i - 1];
            let shells = ["sh", "bash", "ash", "dash", "zsh", "ksh"];
            if matches!(prev.program(), "curl" | "wget") && shells.contains(&program) {
                let pw = program_word.expect("program exists");
                out.word(
                    "STR042",
                    pw,
                    format!(
                        "pipes a download from {} straight into {program}",
                        prev.program()
                    ),
                );
            }
        }
        if matches!(program, "sh" | "bash")
            && cmd
                .args()
                .iter()
                .any(|w| w.text.contains("$(curl") || w.text.contains("$(wget"))
        {
            let pw = program_word.expect("program exists");
            out.word(
                "STR042",
                pw,
                format!("runs a script downloaded by a command substitution with {program}"),
            );
        }
        // Packages: sorted, unique, later removal.
        if let Some(op) = package_op(cmd) {
            if op.install {
                check_package_list(&op, out);
                for w in &op.packages {
                    history.packages.push((
                        op.manager,
                        package_name(&w.text).to_owned(),
                        layer,
                        line,
                    ));
                }
                if op.manager == Manager::Apk {
                    if let Some(pos) = cmd
                        .args()
                        .iter()
                        .position(|w| w.text == "--virtual" || w.text == "-t")
                    {
                        if let Some(v) = cmd.args().get(pos + 1) {
                            history
                                .packages
                                .push((op.manager, v.text.clone(), layer, line));
                        }
                    }
                }
            } else {
                for w in &op.packages {
                    let name = package_name(&w.text);
                    if let Some((_, _, at, at_line)) = history
                        .packages
                        .iter()
                        .find(|(m, n, at, _)| *m == op.manager && n == name && *at < layer)
                    {
                        let apart = layer - at;
                        out.word("STR020", w, format!("removes `{name}`, installed by the RUN on line {at_line} ({apart} layer{} earlier): that layer still ships it", plural(apart)))
                            .hint = format!("install, use and remove it in one RUN (merge into line {at_line})");
                    }
                }
            }
        }
        // rm / chown -R / chmod -R over what earlier steps added.
        match program {
            "rm" => {
                for w in cmd.args().iter().filter(|w| !w.text.starts_with('-')) {
                    let target = history.resolve(&w.text);
                    let glob = w.text.ends_with('*');
                    if let Some((_, _, at, at_line, what)) =
                        history.paths.iter().find(|(p, is_dir, at, _, _)| {
                            *at < layer
                                && (covers(&target, p)
                                    || (glob && p.starts_with(&target))
                                    || (*is_dir && covers(p, &target)))
                        })
                    {
                        let apart = layer - at;
                        out.word("STR020", w, format!("removes {}, added by the {what} on line {at_line} ({apart} layer{} earlier): that layer still ships it", w.text, plural(apart)))
                            .hint = format!("do not add it (or use it and remove it in one RUN, merging with line {at_line})");
                    }
                }
            }
            "chown" | "chmod" if cmd.has_flag(&["-R", "--recursive"]) => {
                let targets = cmd
                    .args()
                    .iter()
                    .filter(|w| !w.text.starts_with('-'))
                    .skip(1);
                for w in targets {
                    let target = history.resolve(&w.text);
                    if let Some((path, _, at, at_line, what)) =
                        history.paths.iter().find(|(p, _, at, _, what)| {
                            *at < layer
                                && *what != "download"
                                && (covers(&target, p) || target == *p)
                        })
                    {
                        let apart = layer - at;
                        let flag = if program == "chown" {
                            "--chown"
                        } else {
                            "--chmod"
                        };
                        out.word("STR020", w, format!("`{program} -R` over {path}, added by the {what} on line {at_line} ({apart} layer{} earlier), copies every file into a new layer", plural(apart)))
                            .hint = format!("use {what} {flag}=... on line {at_line}");
                    }
                }
            }
            "curl" | "wget" => {
                let flag = if program == "curl" {
                    ["-o", "--output"]
                } else {
                    ["-O", "--output-document"]
                };
                if let Some(pos) = cmd
                    .args()
                    .iter()
                    .position(|w| flag.contains(&w.text.as_str()))
                {
                    if let Some(dest) = cmd.args().get(pos + 1).filter(|w| w.text != "-") {
                        history.paths.push((
                            history.resolve(&dest.text),
                            false,
                            layer,
                            line,
                            "download",
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(update) = seen_update {
        if !installs_after_update {
            let pw = &update.words[update.program_index()];
            let sub = update.subcommand().map_or(pw, |(_, w)| w);
            let alone = script.cmds.len() == 1;
            let message = if alone {
                "`apt-get update` in a RUN of its own: a later install runs against this cached, stale index"
            } else {
                "`apt-get update` not followed by an install in the same RUN"
            };
            out.at(
                "STR010",
                pw.offset,
                sub.offset + sub.len - pw.offset,
                message.to_owned(),
            );
        }
    }
    // pipefail.
    if script.shell && !pipefail_shell {
        let set_pipefail = script
            .cmds
            .iter()
            .any(|c| c.program() == "set" && c.args().iter().any(|w| w.text.contains("pipefail")));
        if let Some(pipe) = script.cmds.iter().find(|c| c.join == Join::Pipe) {
            if !set_pipefail {
                let w = &pipe.words[0];
                out.word(
                    "STR074",
                    w,
                    "a pipe without pipefail: only the last command's failure fails the RUN"
                        .to_owned(),
                );
            }
        }
    }
}

/// STR021, STR022 on one install's package list.
fn check_package_list(op: &PackageOp, out: &mut Out) {
    let names: Vec<(String, &Word)> = op
        .packages
        .iter()
        .map(|w| (package_name(&w.text).to_ascii_lowercase(), *w))
        .collect();
    for (i, (name, w)) in names.iter().enumerate() {
        if let Some((_, first)) = names[..i].iter().find(|(n, _)| n == name) {
            let line = out.source.span_at(first.offset, 0).line;
            out.word(
                "STR022",
                w,
                format!("`{name}` is already in this list (line {line})"),
            );
        }
    }
    if !op.manager.is_os() || names.len() < 2 {
        return;
    }
    let lines = |w: &Word| out.source.span_at(w.offset, 0).line;
    let multi_line = lines(names[0].1) != lines(names[names.len() - 1].1);
    if !multi_line {
        return;
    }
    if let Some(pair) = names.windows(2).find(|p| p[1].0 < p[0].0) {
        let message = format!(
            "`{}` comes after `{}`: the list is not sorted",
            pair[1].0, pair[0].0
        );
        out.word("STR021", pair[1].1, message);
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
