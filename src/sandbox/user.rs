//! USER resolution through the image's `/etc/passwd` and `/etc/group`.

use crate::fsroot::Root;

/// A USER value resolved against an image root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedUser {
    /// uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// Supplementary gids (from /etc/group, when no group was given explicitly).
    pub groups: Vec<u32>,
    /// Home directory from /etc/passwd (`/` if unknown), for HOME.
    pub home: String,
}

/// Resolves `user[:group]` (names or numeric ids; empty = root) in `root` as docker does:
/// numeric ids need no passwd entry; names must exist; a uid without a group takes the
/// passwd entry's gid, or 0.
pub fn resolve_user(root: &Root, user: &str) -> Result<ResolvedUser, String> {
    let _ = (root, user);
    todo!("sandbox helper")
}
