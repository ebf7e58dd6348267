//! What the RUN rules read: one RUN's commands ([`Script`]: from the shell form, an exec
//! form's `sh -c` or a heredoc body, each word located in the source), and what the
//! stage's earlier steps left ([`History`]: packages, COPY destinations, downloads,
//! caches), so that a RUN removing it can say how many layers apart the two are.

use super::packages::Manager;
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
    pub(super) fn removes(&self, dir: &str) -> Option<&Word> {
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
    pub(super) fn cleans(&self, dirs: &[&str]) -> bool {
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
pub(super) fn covers(removed: &str, dir: &str) -> bool {
    removed.len() > 1 && (dir == removed || dir.starts_with(&format!("{removed}/")))
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
    /// `path` made absolute against the current WORKDIR, and normalized.
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
