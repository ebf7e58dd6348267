//! `.dockerignore` with docker's semantics: patterns anchored at the context root,
//! `**` across directories, `!` re-includes, last match wins, and a directory excluded
//! only by its own pattern still walked when a later `!` pattern may re-include below it.

use std::path::Path;

/// The compiled patterns of one `.dockerignore`.
#[derive(Clone, Debug, Default)]
pub struct Ignore {}

impl Ignore {
    /// Reads `CONTEXT/.dockerignore` (or `<dockerfile>.dockerignore` if it exists, as
    /// BuildKit does); no file means nothing is ignored.
    pub fn load(context: &Path, dockerfile: Option<&Path>) -> std::io::Result<Ignore> {
        let _ = (context, dockerfile);
        todo!("dockerfile helper")
    }

    /// Parses the text of a `.dockerignore`.
    pub fn parse(text: &str) -> Ignore {
        let _ = text;
        todo!("dockerfile helper")
    }

    /// Whether `rel` (a path relative to the context root, `/`-separated) is excluded.
    pub fn is_excluded(&self, rel: &Path) -> bool {
        let _ = rel;
        todo!("dockerfile helper")
    }

    /// Whether some `!` pattern could re-include a path below the directory `rel`, so a
    /// walk must descend into it even though it is excluded.
    pub fn may_reinclude_below(&self, rel: &Path) -> bool {
        let _ = rel;
        todo!("dockerfile helper")
    }
}
