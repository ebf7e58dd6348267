//! [`Epoch`]: the times a build writes into an image, chosen so that the same inputs give
//! the same digests and `docker images` still shows a meaningful age.
//!
//! - `SOURCE_DATE_EPOCH`, when set, is both the `created` time (of the config and of each
//!   new history entry) and the mtime of every file in new layers, as the reproducible
//!   builds convention (and BuildKit's `rewrite-timestamp`) has it.
//! - Otherwise `created` is the commit time of `HEAD` in the git repository that holds the
//!   build (the context of a lone Dockerfile, the folder of a family), the value docker's
//!   own guides suggest for `SOURCE_DATE_EPOCH`; outside a git repository it is 0. The
//!   files' mtimes stay 0: a new commit then changes only the configs, never a layer, so
//!   the step cache carries over from commit to commit.
//!
//! `HEAD`'s time rather than the last commit touching the context: a shallow CI clone
//! (depth 1) and a full clone of the same commit must give the same digests, and in a
//! shallow clone every file looks as if the grafted commit had touched it.

use std::path::Path;
use std::process::{Command, Stdio};

/// The variable that overrides the times written into images.
pub const VARIABLE: &str = "SOURCE_DATE_EPOCH";

/// The times a build writes into an image, in seconds since 1970-01-01 UTC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Epoch {
    /// `created` of the image config and of the history entries the build adds.
    pub created: u64,
    /// The mtime of every entry in the layers the build writes.
    pub files: u64,
}

/// `SOURCE_DATE_EPOCH` holds something that is not a number of seconds.
#[derive(Debug, thiserror::Error)]
#[error("{VARIABLE}={value:?} is not a number of seconds since 1970 (unset it, or set e.g. {VARIABLE}=$(git log -1 --format=%ct))")]
pub struct BadEpoch {
    /// The value as set.
    pub value: String,
}

impl Epoch {
    /// The epoch of a build of what `dir` holds: `SOURCE_DATE_EPOCH` if set (refusing a
    /// value that is not a number: it would silently give other digests), else `HEAD`'s
    /// commit time of the git repository around `dir` (see the module doc).
    pub fn for_build(dir: &Path) -> Result<Epoch, BadEpoch> {
        match Epoch::from_env()? {
            Some(seconds) => Ok(Epoch {
                created: seconds,
                files: seconds,
            }),
            None => Ok(Epoch {
                created: head_commit_time(dir).unwrap_or(0),
                files: 0,
            }),
        }
    }

    /// `SOURCE_DATE_EPOCH`, if it is set (an empty value counts as unset, as in the
    /// reproducible-builds specification).
    pub fn from_env() -> Result<Option<u64>, BadEpoch> {
        match std::env::var(VARIABLE) {
            Ok(value) if value.trim().is_empty() => Ok(None),
            Ok(value) => value
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| BadEpoch { value }),
            Err(_) => Ok(None),
        }
    }

    /// [`Epoch::created`] as RFC 3339, the form image configs and history carry.
    pub fn created_rfc3339(&self) -> String {
        rfc3339(self.created)
    }
}

/// `seconds` since 1970 as RFC 3339 (`1970-01-01T00:00:00Z` for what time cannot show).
pub fn rfc3339(seconds: u64) -> String {
    i64::try_from(seconds)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

/// The committer time of `HEAD` in the repository holding `dir`; `None` when git is
/// missing, `dir` is in no repository, or the repository has no commit yet.
fn head_commit_time(dir: &Path) -> Option<u64> {
    let out = Command::new("git")
        // Reading one commit's time is harmless in a repository owned by another user
        // (a CI checkout, a mounted volume); without this git refuses with "dubious
        // ownership" and the digests would depend on who builds.
        .args([
            "-c",
            "safe.directory=*",
            "log",
            "-1",
            "--format=%ct",
            "HEAD",
        ])
        .current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(u64::MAX), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn outside_a_repository_the_commit_time_is_unknown() {
        let dir = std::env::temp_dir().join(format!("strata-epoch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // /tmp is in no repository on any machine these tests run on.
        assert_eq!(head_commit_time(&dir), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
