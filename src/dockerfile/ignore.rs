//! `.dockerignore` with docker's semantics: patterns anchored at the context root,
//! `**` across directories, `!` re-includes, last match wins, and a directory excluded
//! only by its own pattern still walked when a later `!` pattern may re-include below it.
//!
//! The rules are those of moby/patternmatcher, which differ from gitignore's: every pattern
//! is cleaned like Go's `filepath.Clean` and anchored at the root (`foo` does not match
//! `a/foo`), `*` and `?` never cross `/`, and a pattern that matches a directory matches
//! everything below it. [`Ignore`] holds the compiled patterns; matching is
//! [`Pattern::docker`] of [`crate::glob`], equivalent to the regular
//! expressions patternmatcher builds, and cleaning is [`crate::path::clean`].
//!
//! A line that is only `!` is an error, as patternmatcher refuses it ("illegal exclusion
//! pattern"); [`Ignore::load`] reports it at its line of the file.

use std::path::{Path, PathBuf};

use super::{DockerfileError, Source};
use crate::glob::Pattern;
use crate::path::clean;

/// The compiled patterns of one `.dockerignore`.
#[derive(Clone, Debug, Default)]
pub struct Ignore {
    patterns: Vec<IgnorePattern>,
}

/// One line of the file: a glob, and whether it re-includes (`!`).
#[derive(Clone, Debug)]
struct IgnorePattern {
    reinclude: bool,
    glob: Pattern,
}

/// A line [`Ignore::parse`] refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct BadPattern {
    /// 1-based line of the text.
    pub line: usize,
    /// Byte offset of the line's pattern in the text, and its length.
    pub offset: usize,
    /// Length of the pattern in bytes.
    pub len: usize,
    /// What is wrong, in patternmatcher's words.
    pub message: String,
}

/// Why a `.dockerignore` could not be read.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum IgnoreError {
    /// The file exists but cannot be read (the error names it).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A line is not a pattern; located in the file.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Pattern(Box<DockerfileError>),
}

impl Ignore {
    /// Reads `CONTEXT/.dockerignore` (or `<dockerfile>.dockerignore` if it exists, as
    /// BuildKit does); no file means nothing is ignored.
    pub fn load(context: &Path, dockerfile: Option<&Path>) -> Result<Ignore, IgnoreError> {
        let mut candidates = Vec::new();
        if let Some(dockerfile) = dockerfile {
            let mut name = dockerfile.as_os_str().to_owned();
            name.push(".dockerignore");
            candidates.push(PathBuf::from(name));
        }
        candidates.push(context.join(".dockerignore"));
        for path in candidates {
            match fs_err::read_to_string(&path) {
                Ok(text) => {
                    return Ignore::parse(&text).map_err(|bad| {
                        let source = Source::new(path, text.as_str());
                        let span = source.span_at(bad.offset, bad.len);
                        IgnoreError::Pattern(Box::new(source.error(span, bad.message)))
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Ignore::default())
    }

    /// Parses the text of a `.dockerignore` (or of `COPY --exclude` patterns, one a line).
    ///
    /// Lines starting with `#` are comments; blank lines are skipped; each pattern is
    /// trimmed, cleaned and stripped of a leading `/`. Malformed character classes are
    /// taken literally rather than failing the build; a `!` with no pattern after it is
    /// refused.
    pub fn parse(text: &str) -> Result<Ignore, BadPattern> {
        let mut patterns = Vec::new();
        let mut offset = 0;
        for (index, line) in text.split('\n').enumerate() {
            let start = offset;
            offset += line.len() + 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.starts_with('#') {
                continue;
            }
            let mut pattern = line.trim();
            if pattern.is_empty() {
                continue;
            }
            let reinclude = pattern.starts_with('!');
            if reinclude {
                let bang = pattern;
                pattern = pattern[1..].trim();
                if pattern.is_empty() {
                    return Err(BadPattern {
                        line: index + 1,
                        offset: start + (bang.as_ptr() as usize - line.as_ptr() as usize),
                        len: bang.len(),
                        message: "illegal exclusion pattern: \"!\"".into(),
                    });
                }
            }
            let mut cleaned = clean(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            if cleaned == "." {
                continue;
            }
            patterns.push(IgnorePattern {
                reinclude,
                glob: Pattern::docker(&cleaned),
            });
        }
        Ok(Ignore { patterns })
    }

    /// Whether `rel` (a path relative to the context root, `/`-separated) is excluded.
    pub fn is_excluded(&self, rel: &Path) -> bool {
        self.matches(rel)
    }

    /// Whether the patterns, read as an include list (`COPY --parents`), select `rel`:
    /// the same rule as [`Ignore::is_excluded`] (a pattern matching a directory
    /// matches everything below it; the last matching pattern decides).
    pub fn matches(&self, rel: &Path) -> bool {
        let rel = clean(&rel.to_string_lossy());
        let rel = rel.trim_start_matches('/');
        if rel.is_empty() || rel == "." {
            return false;
        }
        let chars: Vec<char> = rel.chars().collect();
        // Candidates: the path itself and each of its parent directories, since a
        // pattern matching a directory matches everything below it; one pass of a
        // pattern over the path checks them all.
        let ends: Vec<usize> = chars
            .iter()
            .enumerate()
            .filter(|&(_, &c)| c == '/')
            .map(|(i, _)| i)
            .chain(std::iter::once(chars.len()))
            .collect();
        let mut excluded = false;
        for pattern in &self.patterns {
            // Last match wins: a pattern that cannot change the outcome is skipped.
            if pattern.reinclude != excluded {
                continue;
            }
            if pattern.glob.matches_a_prefix(&chars, &ends) {
                excluded = !pattern.reinclude;
            }
        }
        excluded
    }

    /// Whether some `!` pattern could re-include a path below the directory `rel`, so a
    /// walk must descend into it even though it is excluded.
    pub fn may_reinclude_below(&self, rel: &Path) -> bool {
        self.may_match_below_by(rel, true)
    }

    /// Whether some pattern (not `!`) could match a path below the directory `rel`, so
    /// a walk selecting with [`Ignore::matches`] must descend into it.
    pub fn may_match_below(&self, rel: &Path) -> bool {
        self.may_match_below_by(rel, false)
    }

    /// Whether a pattern that is a re-include or not (`reinclude`) could match below `rel`.
    fn may_match_below_by(&self, rel: &Path, reinclude: bool) -> bool {
        let dir = clean(&rel.to_string_lossy());
        let dir = dir.trim_start_matches('/');
        let text: Vec<char> = if dir.is_empty() || dir == "." {
            Vec::new()
        } else {
            dir.chars().chain(std::iter::once('/')).collect()
        };
        // The directory and each of its parents: the text up to each `/`.
        let ancestors: Vec<usize> = text
            .iter()
            .enumerate()
            .filter(|&(_, &c)| c == '/')
            .map(|(i, _)| i)
            .collect();
        let kind = self.patterns.iter().filter(|p| p.reinclude == reinclude);
        for pattern in kind {
            if pattern.glob.could_match_prefix(&text) {
                return true;
            }
            // A pattern naming the directory or one of its parents covers everything below.
            if !ancestors.is_empty() && pattern.glob.matches_a_prefix(&text, &ancestors) {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excluded(patterns: &str, path: &str) -> bool {
        Ignore::parse(patterns)
            .unwrap()
            .is_excluded(Path::new(path))
    }

    #[test]
    fn a_bare_bang_is_refused_at_its_line() {
        let bad = Ignore::parse("a\n# c\n  !  \nb\n").unwrap_err();
        assert_eq!((bad.line, bad.offset, bad.len), (3, 8, 1));
        assert_eq!(bad.message, "illegal exclusion pattern: \"!\"");
        assert!(Ignore::parse("!a\n#!\n").is_ok());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".dockerignore"), "x\n!\n").unwrap();
        let err = Ignore::load(dir.path(), None).unwrap_err();
        assert!(
            err.to_string()
                .ends_with(".dockerignore:2:1: illegal exclusion pattern: \"!\""),
            "{err}"
        );
    }

    #[test]
    fn include_lists_select_paths_and_the_dirs_towards_them() {
        let include = Ignore::parse("a/*/c").unwrap();
        assert!(include.matches(Path::new("a/b/c")));
        assert!(include.matches(Path::new("a/b/c/d")));
        assert!(!include.matches(Path::new("a/b")));
        assert!(include.may_match_below(Path::new("a/b")));
        assert!(!include.may_match_below(Path::new("x")));
        let include = Ignore::parse("**/*.txt").unwrap();
        assert!(include.matches(Path::new("x/y/z.txt")));
        assert!(include.may_match_below(Path::new("x/y")));
    }

    #[test]
    fn anchored_at_root() {
        assert!(excluded("foo", "foo"));
        assert!(!excluded("foo", "a/foo"));
        assert!(excluded("/foo", "foo"));
        assert!(excluded("./foo/", "foo"));
        assert!(excluded("a/b", "a/b"));
        assert!(!excluded("a/b", "a"));
    }

    #[test]
    fn directories_exclude_their_contents() {
        assert!(excluded("node_modules", "node_modules/x/y.js"));
        assert!(excluded("a/*", "a/b/c/d"));
        assert!(!excluded("a/*", "a"));
    }

    #[test]
    fn stars() {
        assert!(excluded("*.md", "README.md"));
        assert!(!excluded("*.md", "docs/README.md"));
        assert!(excluded("*/*.md", "docs/README.md"));
        assert!(excluded("**/*.md", "README.md"));
        assert!(excluded("**/*.md", "a/b/c/README.md"));
        assert!(excluded("a/**/b", "a/b"));
        assert!(excluded("a/**/b", "a/x/y/b"));
        assert!(!excluded("a/**/b", "ab"));
        assert!(excluded("a/**", "a/x/y"));
        assert!(excluded("**", "anything/at/all"));
        assert!(excluded("f?o", "foo"));
        assert!(!excluded("f?o", "f/o"));
        assert!(!excluded("f*o", "f/o"));
        assert!(excluded("[a-c]x", "bx"));
        assert!(!excluded("[^a-c]x", "bx"));
        assert!(excluded("\\*x", "*x"));
        assert!(!excluded("\\*x", "ax"));
    }

    #[test]
    fn reinclusion_last_match_wins() {
        let rules = "*.md\n!README.md\n";
        assert!(excluded(rules, "CHANGES.md"));
        assert!(!excluded(rules, "README.md"));
        let rules = "!README.md\n*.md\n";
        assert!(excluded(rules, "README.md"));
        let rules = "docs\n!docs/keep\n";
        assert!(excluded(rules, "docs/a"));
        assert!(!excluded(rules, "docs/keep"));
        assert!(!excluded(rules, "docs/keep/deep"));
    }

    #[test]
    fn comments_and_blank_lines() {
        let rules = "# a comment\n\n   \n  spaced  \n #notacomment\n";
        assert!(excluded(rules, "spaced"));
        assert!(!excluded(rules, "# a comment"));
        assert!(excluded(rules, "#notacomment"));
        assert!(!excluded("", "x"));
        assert!(!excluded(".", "x"));
    }

    #[test]
    fn reinclude_below() {
        let ig = Ignore::parse("docs\n!docs/keep/*.md\n").unwrap();
        assert!(ig.may_reinclude_below(Path::new("docs")));
        assert!(ig.may_reinclude_below(Path::new("docs/keep")));
        assert!(!ig.may_reinclude_below(Path::new("docs/other")));
        assert!(!ig.may_reinclude_below(Path::new("src")));
        let ig = Ignore::parse("*\n!**/*.rs\n").unwrap();
        assert!(ig.may_reinclude_below(Path::new("any/dir")));
        let ig = Ignore::parse("vendor\n!vendor\n").unwrap();
        assert!(ig.may_reinclude_below(Path::new("vendor/x")));
        assert!(!Ignore::parse("vendor\n")
            .unwrap()
            .may_reinclude_below(Path::new("vendor")));
    }

    #[test]
    fn load_prefers_dockerfile_specific_file() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path();
        assert!(!Ignore::load(ctx, None).unwrap().is_excluded(Path::new("x")));
        std::fs::write(ctx.join(".dockerignore"), "x\n").unwrap();
        let df = ctx.join("app.Dockerfile");
        assert!(Ignore::load(ctx, Some(&df))
            .unwrap()
            .is_excluded(Path::new("x")));
        std::fs::write(ctx.join("app.Dockerfile.dockerignore"), "y\n").unwrap();
        let ig = Ignore::load(ctx, Some(&df)).unwrap();
        assert!(ig.is_excluded(Path::new("y")));
        assert!(!ig.is_excluded(Path::new("x")));
    }
}
