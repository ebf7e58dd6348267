//! USER resolution through the image's `/etc/passwd` and `/etc/group`, with docker's rules
//! (moby's `user.GetExecUser`): names must exist, numeric ids need not; a user without an
//! explicit group takes its passwd entry's gid (or 0) plus, as supplementary groups, every
//! group of `/etc/group` that lists the user's name. The primary group is always among the
//! supplementary ones, as BuildKit's executor makes sure (`ensureAdditionalGids`), so `id`
//! in a RUN prints `groups=0(root),10(wheel)` for busybox's root.

use std::io::{self, BufRead, BufReader};
use std::path::Path;

use crate::fsroot::Root;

/// A USER value resolved against an image root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedUser {
    /// uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// Supplementary gids: the primary gid first, then (when no group was given
    /// explicitly) every group of /etc/group that lists the user.
    pub groups: Vec<u32>,
    /// Home directory from /etc/passwd (`/` if unknown), for HOME.
    pub home: String,
}

/// Resolves `user[:group]` (names or numeric ids; empty = root) in `root` as docker does:
/// numeric ids need no passwd entry; names must exist; a uid without a group takes the
/// passwd entry's gid, or 0.
pub fn resolve_user(root: &Root, user: &str) -> Result<ResolvedUser, String> {
    let mut resolved = resolve_ids(root, user)?;
    if !resolved.groups.contains(&resolved.gid) {
        resolved.groups.insert(0, resolved.gid);
    }
    Ok(resolved)
}

/// [`resolve_user`] without the primary gid among the supplementary ones: moby's
/// `GetExecUser`.
fn resolve_ids(root: &Root, user: &str) -> Result<ResolvedUser, String> {
    let (user_arg, group_arg) = match user.split_once(':') {
        Some((u, g)) => (u, g),
        None => (user, ""),
    };
    let uid_arg = user_arg.parse::<u32>().ok();
    let passwd = read_entries(root, "etc/passwd")?;
    let entry = passwd.iter().find(|fields| {
        let uid = fields.get(2).and_then(|s| s.parse::<u32>().ok());
        match (user_arg, uid_arg) {
            ("", _) => uid == Some(0),
            (_, Some(wanted)) => uid == Some(wanted),
            (name, None) => fields[0] == name,
        }
    });
    let mut resolved = ResolvedUser {
        uid: 0,
        gid: 0,
        groups: Vec::new(),
        home: "/".to_owned(),
    };
    let mut name = "";
    match (entry, uid_arg) {
        (Some(fields), _) if fields.len() >= 4 => {
            resolved.uid = fields[2]
                .parse()
                .map_err(|_| format!("bad uid in /etc/passwd entry {:?}", fields[0]))?;
            resolved.gid = fields[3]
                .parse()
                .map_err(|_| format!("bad gid in /etc/passwd entry {:?}", fields[0]))?;
            if let Some(home) = fields.get(5).filter(|h| !h.is_empty()) {
                resolved.home.clone_from(home);
            }
            name = &fields[0];
        }
        (_, Some(uid)) => resolved.uid = uid,
        _ if user_arg.is_empty() => {}
        _ => {
            return Err(format!(
                "unable to find user {user_arg}: no matching entries in passwd file"
            ))
        }
    }
    if group_arg.is_empty() && name.is_empty() {
        return Ok(resolved);
    }
    let groups = read_entries(root, "etc/group")?;
    let gid_of = |fields: &Vec<String>| fields.get(2).and_then(|s| s.parse::<u32>().ok());
    if group_arg.is_empty() {
        // No explicit group: every group listing the user becomes a supplementary group.
        resolved.groups = groups
            .iter()
            .filter(|f| {
                f.get(3)
                    .is_some_and(|members| members.split(',').any(|m| m == name))
            })
            .filter_map(gid_of)
            .collect();
        return Ok(resolved);
    }
    let gid_arg = group_arg.parse::<u32>().ok();
    let group = groups.iter().find(|f| match gid_arg {
        Some(wanted) => gid_of(f) == Some(wanted),
        None => f[0] == group_arg,
    });
    resolved.gid = match (group.and_then(gid_of), gid_arg) {
        (Some(gid), _) | (None, Some(gid)) => gid,
        (None, None) => {
            return Err(format!(
                "unable to find group {group_arg}: no matching entries in group file"
            ))
        }
    };
    Ok(resolved)
}

/// The colon-separated entries of `rel` (comments and blank lines skipped); a missing file
/// has none.
fn read_entries(root: &Root, rel: &str) -> Result<Vec<Vec<String>>, String> {
    let describe = |e: io::Error| format!("reading /{rel} in {}: {e}", root.path().display());
    let file = match root.open_file(Path::new(rel)) {
        Ok(file) => file,
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)
            ) =>
        {
            return Ok(Vec::new())
        }
        Err(e) => return Err(describe(e)),
    };
    let mut entries = Vec::new();
    for line in BufReader::new(file).split(b'\n') {
        let line = line.map_err(describe)?;
        let line = String::from_utf8_lossy(&line);
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        entries.push(line.split(':').map(str::to_owned).collect());
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> (tempfile::TempDir, Root) {
        let tmp = tempfile::tempdir().unwrap();
        fs_err::create_dir(tmp.path().join("etc")).unwrap();
        fs_err::write(
            tmp.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\n# comment\nbob:x:1000:1000:Bob:/home/bob:/bin/sh\nnohome:x:1001:1001::\n",
        )
        .unwrap();
        fs_err::write(
            tmp.path().join("etc/group"),
            "root:x:0:\nwheel:x:10:root,bob\nbob:x:1000:\nstaff:x:50:alice,bob\nother:x:60:\n",
        )
        .unwrap();
        let root = Root::open(tmp.path()).unwrap();
        (tmp, root)
    }

    fn user(uid: u32, gid: u32, groups: &[u32], home: &str) -> ResolvedUser {
        ResolvedUser {
            uid,
            gid,
            groups: groups.to_vec(),
            home: home.to_owned(),
        }
    }

    #[test]
    fn root_by_default_and_by_name() {
        let (_tmp, root) = image();
        assert_eq!(
            resolve_user(&root, "").unwrap(),
            user(0, 0, &[0, 10], "/root")
        );
        assert_eq!(
            resolve_user(&root, "root").unwrap(),
            user(0, 0, &[0, 10], "/root")
        );
        assert_eq!(
            resolve_user(&root, "0").unwrap(),
            user(0, 0, &[0, 10], "/root")
        );
    }

    #[test]
    fn names_and_ids() {
        let (_tmp, root) = image();
        assert_eq!(
            resolve_user(&root, "bob").unwrap(),
            user(1000, 1000, &[1000, 10, 50], "/home/bob")
        );
        assert_eq!(
            resolve_user(&root, "1000").unwrap(),
            user(1000, 1000, &[1000, 10, 50], "/home/bob")
        );
        assert_eq!(
            resolve_user(&root, "bob:other").unwrap(),
            user(1000, 60, &[60], "/home/bob")
        );
        assert_eq!(
            resolve_user(&root, "bob:77").unwrap(),
            user(1000, 77, &[77], "/home/bob")
        );
        assert_eq!(
            resolve_user(&root, "nohome").unwrap(),
            user(1001, 1001, &[1001], "/")
        );
    }

    #[test]
    fn numeric_ids_need_no_entry() {
        let (_tmp, root) = image();
        assert_eq!(
            resolve_user(&root, "4242").unwrap(),
            user(4242, 0, &[0], "/")
        );
        assert_eq!(
            resolve_user(&root, "4242:4343").unwrap(),
            user(4242, 4343, &[4343], "/")
        );
        assert_eq!(
            resolve_user(&root, "4242:staff").unwrap(),
            user(4242, 50, &[50], "/")
        );
    }

    #[test]
    fn unknown_names_fail_like_docker() {
        let (_tmp, root) = image();
        assert_eq!(
            resolve_user(&root, "nobody").unwrap_err(),
            "unable to find user nobody: no matching entries in passwd file"
        );
        assert_eq!(
            resolve_user(&root, "bob:nogroup").unwrap_err(),
            "unable to find group nogroup: no matching entries in group file"
        );
    }

    #[test]
    fn image_without_etc() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::open(tmp.path()).unwrap();
        assert_eq!(resolve_user(&root, "").unwrap(), user(0, 0, &[0], "/"));
        assert_eq!(
            resolve_user(&root, "1000:1000").unwrap(),
            user(1000, 1000, &[1000], "/")
        );
        assert!(resolve_user(&root, "bob").is_err());
    }
}
