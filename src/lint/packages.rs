//! Package managers as the rules see them: which command installs or removes which
//! packages ([`package_op`]), package names without versions, and the language runtimes
//! a package provides. Read by the RUN rules and, through the image facts, by the family
//! rules (siblings sharing packages, runtimes in the wrong tier).

use super::shell::{Cmd, Word};

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
