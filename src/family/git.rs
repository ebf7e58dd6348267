//! [`changed_since`]: the images a set of git changes affects, for `plan --changed-since`.
//!
//! A changed file affects an image when it is inside the image's context and not excluded
//! by its `.dockerignore`, when it is the image's Dockerfile (or its `.dockerignore`), or
//! when it is `strata.toml` and the image's `[images.NAME]` entry differs from the one at
//! the git ref. Every descendant of an affected image is affected too.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use crate::dockerfile::ignore::Ignore;

use super::{Family, FamilyError, MANIFEST};

/// The images affected by what changed between `gitref` and the working tree (tracked
/// changes, staged or not, and untracked files that are not ignored), with their
/// descendants.
pub fn changed_since(family: &Family, gitref: &str) -> Result<BTreeSet<String>, FamilyError> {
    let root = canonical(&family.root);
    let top = PathBuf::from(git(&root, &["rev-parse", "--show-toplevel"])?.trim_end());
    let mut files: Vec<PathBuf> = Vec::new();
    for args in [
        // Without renames, a moved file counts at its old path and its new one.
        &["diff", "--name-only", "--no-renames", "-z", gitref, "--"][..],
        &["ls-files", "--others", "--exclude-standard", "-z"][..],
    ] {
        let out = git(&top, args)?;
        files.extend(
            out.split('\0')
                .filter(|p| !p.is_empty())
                .map(|p| top.join(p)),
        );
    }

    let manifest = root.join(MANIFEST);
    let mut affected = BTreeSet::new();
    if files.contains(&manifest) {
        affected.extend(entries_changed(family, &top, &manifest, gitref));
    }
    for image in family.images.values() {
        let context = canonical(&image.context);
        let dockerfile = canonical(&image.dockerfile);
        let mut ignore_file = dockerfile.clone().into_os_string();
        ignore_file.push(".dockerignore");
        let ignore_files = [PathBuf::from(ignore_file), context.join(".dockerignore")];
        // An unreadable .dockerignore counts as none: the file still changed.
        let ignore = Ignore::load(&context, Some(&dockerfile)).unwrap_or_default();
        let hit = files.iter().any(|file| {
            *file == dockerfile
                || ignore_files.contains(file)
                || file
                    .strip_prefix(&context)
                    .is_ok_and(|rel| !ignore.is_excluded(rel))
        });
        if hit {
            affected.insert(image.name.clone());
        }
    }
    Ok(family.descendants(affected.iter().map(String::as_str)))
}

/// The images whose `[images.NAME]` entry differs between `gitref` and now; all of them
/// when the old file is missing or unreadable.
fn entries_changed(family: &Family, top: &Path, manifest: &Path, gitref: &str) -> BTreeSet<String> {
    let all = || family.images.keys().cloned().collect();
    let rel = manifest.strip_prefix(top).unwrap_or(manifest);
    let spec = format!("{gitref}:{}", rel.display());
    let Ok(old) = git(top, &["show", &spec]) else {
        return all();
    };
    let images = |text: &str| -> Option<toml::Table> {
        let mut table: toml::Table = toml::from_str(text).ok()?;
        match table.remove("images") {
            Some(toml::Value::Table(images)) => Some(images),
            _ => Some(toml::Table::new()),
        }
    };
    let (Some(old), Some(new)) = (images(&old), images(&family.manifest.text)) else {
        return all();
    };
    family
        .images
        .keys()
        .filter(|name| old.get(name.as_str()) != new.get(name.as_str()))
        .cloned()
        .collect()
}

/// Runs git in `dir`; its stdout, or [`FamilyError::Git`] with its stderr.
fn git(dir: &Path, args: &[&str]) -> Result<String, FamilyError> {
    let fail = |message: String| FamilyError::Git {
        dir: dir.to_owned(),
        args: args.join(" "),
        message,
    };
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        return Err(fail(String::from_utf8_lossy(&out.stderr).trim().to_owned()));
    }
    String::from_utf8(out.stdout).map_err(|e| fail(e.to_string()))
}

/// `path` with symlinks resolved (git prints real paths), or cleaned of `.` and `..`
/// when it does not exist.
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| {
        let mut out = PathBuf::new();
        for component in path.components() {
            match component {
                Component::CurDir => {}
                Component::ParentDir => {
                    out.pop();
                }
                other => out.push(other),
            }
        }
        out
    })
}
