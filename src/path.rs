//! Lexical path cleaning for `/`-separated paths: `.` and empty components dropped,
//! each `..` taking back the component before it, no file system consulted.
//!
//! Docker and BuildKit clean every path they take from a user or an archive the way Go's
//! `path.Clean` does: `.dockerignore` patterns and the paths they are matched against,
//! COPY sources (`filepath.Join("/", src)`), WORKDIR, mount targets, tar entry names.
//! Those all come down to one rule, applied here by [`clean`] (a path as Go cleans it,
//! relative paths keeping their leading `..`) and [`rooted_parts`] (the components of
//! the path taken from `/`, where `..` stops at the root); [`clean_abs`] and
//! [`rooted_parts_bytes`] are the same for an absolute result and for names that need
//! not be UTF-8.

/// Go's `path.Clean`: collapses `//`, `.` and `..` (a rooted path's `..` stops at `/`, a
/// relative one keeps the `..` it cannot take back), drops a trailing `/`; an empty
/// result is `.`.
#[must_use]
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let joined = resolve(path.split('/'), rooted).join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// `path` taken from the root and cleaned, as Go's `path.Clean("/" + path)`:
/// `/a/./b/../c/` and `a/b/../c` are `/a/c`, `/../..` and the empty path are `/`.
#[must_use]
pub fn clean_abs(path: &str) -> String {
    format!("/{}", rooted_parts(path).join("/"))
}

/// The components of [`clean_abs`]`(path)`: `../../x/./y/` is `["x", "y"]`, `/` and `..`
/// have none.
#[must_use]
pub fn rooted_parts(path: &str) -> Vec<&str> {
    resolve(path.split('/'), true)
}

/// [`rooted_parts`] of a name that need not be UTF-8 (a tar entry name, an `OsStr`).
#[must_use]
pub fn rooted_parts_bytes(path: &[u8]) -> Vec<&[u8]> {
    resolve(path.split(|&b| b == b'/'), true)
}

/// The rule itself, over the `/`-separated `parts` of a path: with `rooted`, a `..` with
/// nothing before it is dropped (it cannot climb above `/`); without, it is kept.
fn resolve<'a, T>(parts: impl Iterator<Item = &'a T>, rooted: bool) -> Vec<&'a T>
where
    T: AsRef<[u8]> + ?Sized + 'a,
{
    let mut out: Vec<&T> = Vec::new();
    for part in parts {
        match part.as_ref() {
            b"" | b"." => {}
            b".." => match out.last() {
                Some(last) if last.as_ref() != b".." => {
                    out.pop();
                }
                _ if rooted => {}
                _ => out.push(part),
            },
            _ => out.push(part),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_is_go_path_clean() {
        // The `.dockerignore` cases (dockerfile::ignore).
        assert_eq!(clean("a//b/./c/"), "a/b/c");
        assert_eq!(clean("a/../../b"), "../b");
        assert_eq!(clean("../.."), "../..");
        assert_eq!(clean("a/.."), ".");
        assert_eq!(clean("/../a"), "/a");
        assert_eq!(clean("./"), ".");
        assert_eq!(clean("."), ".");
        assert_eq!(clean(""), ".");
        assert_eq!(clean("/"), "/");
        assert_eq!(clean("//"), "/");
        assert_eq!(clean("/a/b/"), "/a/b");
    }

    #[test]
    fn clean_abs_is_the_workdir_rule() {
        // The WORKDIR cases (builder::stage::normalise gives the same).
        assert_eq!(clean_abs("/a/./b/../c/"), "/a/c");
        assert_eq!(clean_abs("/../.."), "/");
        assert_eq!(clean_abs("a/b"), "/a/b");
        assert_eq!(clean_abs("//a///b//"), "/a/b");
        assert_eq!(clean_abs(""), "/");
        assert_eq!(clean_abs("."), "/");
        // Mount targets (sandbox::mounts): only `/` itself is refused.
        assert_eq!(clean_abs("/tmp/.."), "/");
        assert_eq!(clean_abs("/x/../../y"), "/y");
    }

    #[test]
    fn rooted_parts_clamp_at_the_root() {
        // COPY source patterns (copy::context), as filepath.Join("/", p).
        assert_eq!(rooted_parts("../../x/./y/"), ["x", "y"]);
        assert_eq!(rooted_parts("/a/../b"), ["b"]);
        assert_eq!(rooted_parts("a/*/c"), ["a", "*", "c"]);
        assert!(rooted_parts("..").is_empty());
        assert!(rooted_parts("/").is_empty());
        assert!(rooted_parts("").is_empty());
        // `..` named after real components still takes them back.
        assert_eq!(rooted_parts("a/b/../../../c"), ["c"]);
    }

    #[test]
    fn rooted_parts_bytes_keep_non_utf8_names() {
        // Tar entry names (layer::extract).
        let parts: Vec<&[u8]> = vec![b"etc", b"passwd"];
        assert_eq!(rooted_parts_bytes(b"../../etc/passwd"), parts);
        let parts: Vec<&[u8]> = vec![b"abs", b"y"];
        assert_eq!(rooted_parts_bytes(b"/abs/./x/../y/"), parts);
        assert!(rooted_parts_bytes(b"./").is_empty());
        assert!(rooted_parts_bytes(b"..").is_empty());
        let parts: Vec<&[u8]> = vec![b"a", b"\xff\xfe"];
        assert_eq!(rooted_parts_bytes(b"a//\xff\xfe/"), parts);
    }
}
