//! The package manager caches a RUN leaves in its layer (STR002 to STR007), as data
//! ([`CACHES`]: programs, subcommands, cache dirs, cleaning commands and flags), and a
//! later RUN removing a cache an earlier one left (STR020), which saves nothing.

use super::context::Out;
use super::plural;
use super::rules::RuleId;
use super::script::{History, Script};
use super::shell::{Cmd, Word};

/// One package manager's cache, and what keeps it out of the layer.
struct CacheRule {
    /// The rule a left cache is reported under.
    rule: RuleId,
    /// The programs that fill it.
    programs: &'static [&'static str],
    /// Their subcommands that do.
    subs: &'static [&'static str],
    /// The cache dirs; removing any of them in the same RUN (or a cache mount) cleans it,
    /// and the first is what a later RUN's removal is matched against.
    dirs: &'static [&'static str],
    /// Commands that clean it: (program, subcommand).
    cleaners: &'static [(&'static str, &'static str)],
    /// Flags that keep the cache from being written.
    flags: &'static [&'static str],
    /// An environment variable that does the same, if any.
    env: &'static str,
    /// What is left, for the message.
    what: &'static str,
}

/// The package manager caches, as data.
static CACHES: &[CacheRule] = &[
    CacheRule {
        rule: RuleId::AptListsLeft,
        programs: &["apt-get", "apt"],
        subs: &["update"],
        dirs: &["/var/lib/apt/lists"],
        cleaners: &[],
        flags: &[],
        env: "",
        what: "leaves the package index in /var/lib/apt/lists",
    },
    CacheRule {
        rule: RuleId::ApkCacheLeft,
        programs: &["apk"],
        subs: &["add", "update", "upgrade"],
        dirs: &["/var/cache/apk"],
        cleaners: &[("apk", "cache")],
        flags: &["--no-cache"],
        env: "",
        what: "leaves the index in /var/cache/apk",
    },
    CacheRule {
        rule: RuleId::PipCacheLeft,
        programs: &["pip", "pip3"],
        subs: &["install"],
        dirs: &["/root/.cache/pip", "/root/.cache"],
        cleaners: &[("pip", "cache"), ("pip3", "cache")],
        flags: &["--no-cache-dir"],
        env: "PIP_NO_CACHE_DIR",
        what: "leaves downloaded wheels in ~/.cache/pip",
    },
    CacheRule {
        rule: RuleId::LanguageCacheLeft,
        programs: &["npm"],
        subs: &["install", "i", "ci", "add"],
        dirs: &["/root/.npm"],
        cleaners: &[("npm", "cache")],
        flags: &[],
        env: "",
        what: "leaves its download cache in ~/.npm",
    },
    CacheRule {
        rule: RuleId::LanguageCacheLeft,
        programs: &["yarn"],
        subs: &["install", "add"],
        dirs: &["/usr/local/share/.cache/yarn", "/root/.cache/yarn"],
        cleaners: &[("yarn", "cache")],
        flags: &[],
        env: "",
        what: "leaves its download cache in the yarn cache folder",
    },
    CacheRule {
        rule: RuleId::LanguageCacheLeft,
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
        rule: RuleId::LanguageCacheLeft,
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
        rule: RuleId::RpmCacheLeft,
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
        rule: RuleId::ZypperCacheLeft,
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

/// STR002 to STR007 for the RUN of `line`, the `layer`-th layer of its stage: a cache
/// filled and not cleaned. Each is remembered in `history` for [`check_removed`].
pub(super) fn check_left(
    script: &Script,
    env_no_pip_cache: bool,
    history: &mut History,
    layer: usize,
    line: usize,
    out: &mut Out,
) {
    for rule in CACHES {
        let mut first: Option<(&Cmd, &Word)> = None;
        for cmd in &script.cmds {
            let program = cmd.program();
            let pip_module = program.starts_with("python")
                && cmd.args().first().is_some_and(|w| w.text == "-m")
                && cmd.args().get(1).is_some_and(|w| w.text.starts_with("pip"));
            let matches_program = rule.programs.contains(&program)
                || (rule.rule == RuleId::PipCacheLeft
                    && (program.starts_with("pip") || pip_module));
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
            || (rule.rule == RuleId::LanguageCacheLeft
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
}

/// STR020 for caches: this RUN (the `layer`-th) removes a cache an earlier RUN left,
/// which stays in that layer.
pub(super) fn check_removed(script: &Script, history: &mut History, layer: usize, out: &mut Out) {
    let caches = std::mem::take(&mut history.caches);
    let mut kept = Vec::new();
    for (dir, at, at_line) in caches {
        if at == layer {
            kept.push((dir, at, at_line));
            continue;
        }
        if let Some(w) = script.removes(dir) {
            out.word(RuleId::LaterLayerCleanup, w, format!("removes {dir}, left by the RUN on line {at_line} ({} layer{} earlier): that layer still ships it", layer - at, plural(layer - at)))
                .hint = format!("remove it at the end of the RUN on line {at_line} instead");
        } else {
            kept.push((dir, at, at_line));
        }
    }
    history.caches = kept;
}
