//! The audit rules: what makes a path, a file's content or the config a finding.
//!
//! Secrets are judged on every copy while the layers stream (a key deleted by a later
//! layer is still readable in its blob); caches, junk, setuid bits and permissions on the
//! final filesystem only (a deleted cache costs bytes, which the wasted-space figure
//! already counts). Junk is reported once per rule, cache directory and layer, with its
//! file count and bytes, so a cache of ten thousand files is one finding.

use std::collections::BTreeMap;

use super::tree::{Kind, Live, Node};
use super::{human, Finding, Severity};

/// One rule of the catalogue: what SARIF lists under `tool.driver.rules`.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// Stable id, as in findings (`junk-apt-lists`).
    pub id: &'static str,
    /// Its severity.
    pub severity: Severity,
    /// One line on what it finds and why it matters.
    pub summary: &'static str,
}

const fn rule(id: &'static str, severity: Severity, summary: &'static str) -> Rule {
    Rule {
        id,
        severity,
        summary,
    }
}

/// Every rule the audit applies.
pub const RULES: &[Rule] = &[
    rule("junk-apt-lists", Severity::Warning, "apt package lists left in /var/lib/apt/lists (run `rm -rf /var/lib/apt/lists/*` in the same RUN)"),
    rule("junk-apt-archives", Severity::Warning, "downloaded .deb files left in /var/cache/apt/archives"),
    rule("junk-apk-cache", Severity::Warning, "apk cache left in /var/cache/apk (use `apk add --no-cache`)"),
    rule("junk-pip-cache", Severity::Warning, "pip cache left in ~/.cache/pip (use `pip install --no-cache-dir`)"),
    rule("junk-npm-cache", Severity::Warning, "npm cache left in ~/.npm/_cacache (run `npm cache clean --force`)"),
    rule("junk-yarn-cache", Severity::Warning, "yarn cache left in ~/.cache/yarn (run `yarn cache clean`)"),
    rule("junk-go-cache", Severity::Warning, "Go build cache left in ~/.cache/go-build"),
    rule("junk-maven-repo", Severity::Warning, "Maven repository left in ~/.m2/repository"),
    rule("junk-pycache", Severity::Info, "__pycache__ directories in site-packages"),
    rule("junk-tmp", Severity::Info, "files left in /tmp or /var/tmp"),
    rule("junk-core-dump", Severity::Warning, "a core dump"),
    rule("junk-git-dir", Severity::Info, "a .git directory (history, possibly credentials in .git/config)"),
    rule("user-root", Severity::Warning, "the image runs as root (set a non-root USER)"),
    rule("setuid-added", Severity::Warning, "a setuid/setgid file added above the base tier"),
    rule("world-writable", Severity::Warning, "a world-writable file or directory without the sticky bit"),
    rule("secret-private-key", Severity::Error, "a PEM private key"),
    rule("secret-env-file", Severity::Error, "a .env file (usually holds credentials)"),
    rule("secret-aws-key", Severity::Error, "an AWS access key id (AKIA...) in a text file"),
    rule("secret-registry-token", Severity::Error, "an .npmrc or .pypirc holding a token or password"),
    rule("secret-shell-history", Severity::Warning, "a shell history file"),
    rule("budget-size", Severity::Error, "the image is larger than its max_size budget"),
    rule("budget-efficiency", Severity::Error, "the image's efficiency is below its min_efficiency budget"),
    rule("budget-wasted", Severity::Error, "the image wastes more than its max_wasted budget"),
];

/// The severity of rule `id`.
fn severity(id: &str) -> Severity {
    RULES
        .iter()
        .find(|r| r.id == id)
        .map_or(Severity::Warning, |r| r.severity)
}

/// A finding of rule `id`.
pub(crate) fn finding(
    id: &str,
    message: String,
    layer: Option<usize>,
    path: Option<&str>,
) -> Finding {
    Finding {
        id: id.to_owned(),
        severity: severity(id),
        message,
        layer,
        path: path.map(str::to_owned),
        inherited: false,
    }
}

/// True for a root USER: empty, `root`, `0`, with or without a root group.
pub(crate) fn is_root_user(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or("");
    let group_ok = user
        .split_once(':')
        .is_none_or(|(_, g)| g.is_empty() || g == "root" || g == "0");
    matches!(name, "" | "root" | "0") && group_ok
}

/// True for a file named `core` or `core.<digits>` that is an ELF core dump.
pub(crate) fn is_core_dump(name: &str, head: &[u8]) -> bool {
    const ET_CORE: u8 = 4;
    let named = name == "core"
        || name
            .strip_prefix("core.")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    // e_type is at offset 16 (little-endian on every target strata builds for).
    named && head.starts_with(b"\x7fELF") && head.get(16) == Some(&ET_CORE)
}

/// Shell history file names.
const HISTORIES: &[&str] = &[
    ".bash_history",
    ".zsh_history",
    ".ash_history",
    ".sh_history",
    ".history",
    ".python_history",
    ".mysql_history",
    ".psql_history",
];

/// A `.env` file, not one of its documented templates.
fn is_env_file(name: &str) -> bool {
    name == ".env"
        || name.strip_prefix(".env.").is_some_and(|suffix| {
            !matches!(
                suffix,
                "example" | "sample" | "template" | "dist" | "defaults"
            )
        })
}

/// Secrets recognisable from the name alone (for files too big to sniff).
pub(crate) fn secret_by_name(path: &str, name: &str, size: u64, layer: usize) -> Option<Finding> {
    if size == 0 {
        return None;
    }
    if is_env_file(name) {
        return Some(finding(
            "secret-env-file",
            format!("{path}: a .env file of {}", human(size)),
            Some(layer),
            Some(path),
        ));
    }
    if HISTORIES.contains(&name) {
        return Some(finding(
            "secret-shell-history",
            format!("{path}: shell history of {}", human(size)),
            Some(layer),
            Some(path),
        ));
    }
    None
}

/// Secrets in a small file's whole `content`.
pub(crate) fn sniff_secret(
    path: &str,
    name: &str,
    content: &[u8],
    layer: usize,
) -> Option<Finding> {
    if let Some(f) = secret_by_name(path, name, content.len() as u64, layer) {
        return Some(f);
    }
    let found = |id: &str, what: String| {
        Some(finding(
            id,
            format!("{path}: {what}"),
            Some(layer),
            Some(path),
        ))
    };
    if let Some(kind) = pem_private_key(content) {
        return found("secret-private-key", format!("{kind} (PEM)"));
    }
    if name == ".npmrc"
        && ["_authToken", "_auth", "_password"]
            .iter()
            .any(|k| find(content, k.as_bytes()).is_some())
    {
        return found(
            "secret-registry-token",
            "an .npmrc with an auth token".into(),
        );
    }
    if name == ".pypirc" && find(content, b"password").is_some() {
        return found("secret-registry-token", "a .pypirc with a password".into());
    }
    if !content.contains(&0) {
        if let Some(key) = aws_key_id(content) {
            // Never print the key: its last four characters identify it well enough.
            let tail = String::from_utf8_lossy(&key[16..]);
            return found(
                "secret-aws-key",
                format!("an AWS access key id AKIA…{tail}"),
            );
        }
    }
    None
}

/// `RSA PRIVATE KEY`, `OPENSSH PRIVATE KEY`, `PRIVATE KEY`... when `content` has a PEM
/// header of a private key.
fn pem_private_key(content: &[u8]) -> Option<String> {
    let mut rest = content;
    while let Some(at) = find(rest, b"-----BEGIN ") {
        let after = &rest[at + 11..];
        let end = find(after, b"-----")?;
        let label = &after[..end];
        if label.ends_with(b"PRIVATE KEY") && !label.contains(&b'\n') {
            return Some(String::from_utf8_lossy(label).into_owned());
        }
        rest = after;
    }
    None
}

/// The first `AKIA[0-9A-Z]{16}` standing as a word of its own.
fn aws_key_id(content: &[u8]) -> Option<&[u8]> {
    let word = |b: u8| b.is_ascii_alphanumeric();
    let mut from = 0;
    while let Some(at) = find(&content[from..], b"AKIA").map(|a| a + from) {
        let key = content.get(at..at + 20);
        let bounded = at == 0 || !word(content[at - 1]);
        let after_ok = content.get(at + 20).is_none_or(|&b| !word(b));
        if let Some(key) = key {
            if bounded
                && after_ok
                && key[4..]
                    .iter()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
            {
                return Some(key);
            }
        }
        from = at + 4;
    }
    None
}

/// Position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut from = 0;
    while let Some(i) = haystack[from..].iter().position(|&b| b == first) {
        let at = from + i;
        if haystack[at..].starts_with(needle) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Which junk rule a live non-directory `path` falls under, and the directory to report
/// it at (the cache root).
fn junk(path: &str, live: &Live, pycache: bool) -> Option<(&'static str, String)> {
    let through = |marker: &str| -> Option<String> {
        path.find(marker)
            .map(|at| path[..at + marker.len() - 1].to_owned())
    };
    if let Some(rest) = path.strip_prefix("/var/lib/apt/lists/") {
        return (rest != "lock").then(|| ("junk-apt-lists", "/var/lib/apt/lists".into()));
    }
    if path.starts_with("/var/cache/apt/archives/") && path.ends_with(".deb") {
        return Some(("junk-apt-archives", "/var/cache/apt/archives".into()));
    }
    if path.starts_with("/var/cache/apk/") {
        return Some(("junk-apk-cache", "/var/cache/apk".into()));
    }
    let caches = [
        ("/.cache/pip/", "junk-pip-cache"),
        ("/.npm/_cacache/", "junk-npm-cache"),
        ("/.cache/yarn/", "junk-yarn-cache"),
        ("/.cache/go-build/", "junk-go-cache"),
        ("/.m2/repository/", "junk-maven-repo"),
        ("/.git/", "junk-git-dir"),
    ];
    for (marker, id) in caches {
        if let Some(root) = through(marker) {
            return Some((id, root));
        }
    }
    if pycache && path.contains("/__pycache__/") {
        if let Some(root) = through("/site-packages/").or_else(|| through("/dist-packages/")) {
            return Some(("junk-pycache", root));
        }
    }
    for tmp in ["/tmp/", "/var/tmp/"] {
        if path.starts_with(tmp) {
            return Some(("junk-tmp", tmp.trim_end_matches('/').into()));
        }
    }
    live.core.then(|| ("junk-core-dump", path.to_owned()))
}

/// The rules over the final filesystem: junk, setuid/setgid files in layers at or above
/// `setuid_from`, world-writable entries.
pub(crate) fn final_state(
    tree: &BTreeMap<Box<str>, Node>,
    setuid_from: Option<usize>,
    pycache: bool,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    // (rule, root, layer) -> (files, bytes)
    let mut junk_groups: BTreeMap<(&str, String, usize), (u64, u64)> = BTreeMap::new();
    for (path, node) in tree {
        let Some(live) = &node.live else { continue };
        if live.kind != Kind::Dir {
            if let Some((id, root)) = junk(path, live, pycache) {
                let group = junk_groups.entry((id, root, live.layer)).or_default();
                group.0 += 1;
                group.1 += live.size;
            }
        }
        let special = live.mode & 0o6000;
        if live.kind == Kind::File && special != 0 && setuid_from.is_some_and(|f| live.layer >= f) {
            let bits = match special {
                0o4000 => "setuid",
                0o2000 => "setgid",
                _ => "setuid and setgid",
            };
            findings.push(finding(
                "setuid-added",
                format!("{path}: {bits} (mode {:04o})", live.mode & 0o7777),
                Some(live.layer),
                Some(path),
            ));
        }
        let writable = live.mode & 0o002 != 0 && live.mode & 0o1000 == 0;
        if writable && matches!(live.kind, Kind::File | Kind::Dir) {
            let what = if live.kind == Kind::Dir {
                "directory"
            } else {
                "file"
            };
            findings.push(finding(
                "world-writable",
                format!(
                    "{path}: world-writable {what} without the sticky bit (mode {:04o})",
                    live.mode & 0o7777
                ),
                Some(live.layer),
                Some(path),
            ));
        }
    }
    for ((id, root, layer), (files, bytes)) in junk_groups {
        let message = match id {
            "junk-core-dump" => format!("{root}: a core dump of {}", human(bytes)),
            _ => format!("{root}: {files} file(s), {}", human(bytes)),
        };
        findings.push(finding(id, message, Some(layer), Some(&root)));
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_users() {
        for user in ["", "root", "0", "0:0", "root:root", "0:root"] {
            assert!(is_root_user(user), "{user:?}");
        }
        for user in ["app", "1000", "0:1000", "1000:0", "nobody:nogroup"] {
            assert!(!is_root_user(user), "{user:?}");
        }
    }

    #[test]
    fn aws_key_ids_need_word_boundaries() {
        assert!(aws_key_id(b"key=AKIAABCDEFGHIJKLMNOP\n").is_some());
        assert!(aws_key_id(b"xAKIAABCDEFGHIJKLMNOP").is_none());
        assert!(aws_key_id(b"AKIAABCDEFGHIJKLMNOPQ").is_none());
        assert!(aws_key_id(b"AKIAabcdefghijklmnop").is_none());
    }

    #[test]
    fn pem_headers() {
        assert_eq!(
            pem_private_key(
                b"x\n-----BEGIN CERTIFICATE-----\n..\n-----BEGIN EC PRIVATE KEY-----\n"
            )
            .as_deref(),
            Some("EC PRIVATE KEY")
        );
        assert_eq!(pem_private_key(b"-----BEGIN PUBLIC KEY-----\n"), None);
    }

    #[test]
    fn env_files_but_not_templates() {
        assert!(is_env_file(".env"));
        assert!(is_env_file(".env.production"));
        assert!(!is_env_file(".env.example"));
        assert!(!is_env_file("env"));
    }
}
