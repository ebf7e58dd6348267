//! Image names: `NAME[:TAG]` checked against docker's reference grammar, so a tag strata
//! writes into its store can later be pushed or `docker load`ed under the same name.
//!
//! The grammar (distribution/reference): `[host[:port]/]component[/component...][:tag]`,
//! where a path component is lowercase alphanumerics joined by `.`, `_`, `__` or runs of
//! `-`, a host is dot-separated alphanumerics with inner `-` (or `localhost`, or anything
//! with a `.` or `:`, as docker decides), and a tag is `[\w][\w.-]{0,127}`. A missing tag
//! means `latest`.

use std::fmt;

use crate::digest::Digest;

/// The longest repository name docker accepts.
const MAX_NAME_LEN: usize = 255;
/// The longest tag docker accepts.
const MAX_TAG_LEN: usize = 128;

/// A validated image name with its tag, displayed as `NAME:TAG`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageName {
    /// `[host[:port]/]path`, as written (no `docker.io/library/` is added).
    pub repository: String,
    /// The tag (`latest` when none was written).
    pub tag: String,
}

/// A string that is not a valid `NAME[:TAG]`.
#[derive(Debug, thiserror::Error)]
#[error("invalid image name {name:?}: {reason}")]
pub struct BadName {
    /// The name as given.
    pub name: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ImageName {
    /// Parses `NAME[:TAG]`; `NAME` alone means `NAME:latest`. Digest references
    /// (`NAME@sha256:...`) are refused: they cannot name a tag.
    pub fn parse(name: &str) -> Result<ImageName, BadName> {
        let bad = |reason: &str| BadName {
            name: name.to_owned(),
            reason: reason.to_owned(),
        };
        if name.contains('@') {
            return Err(bad("digest references cannot be used as a tag name"));
        }
        // The tag is after a ':' that follows the last '/'; an earlier ':' is a port.
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match name[last_slash..].rfind(':') {
            Some(i) => (&name[..last_slash + i], &name[last_slash + i + 1..]),
            None => (name, "latest"),
        };
        if !valid_tag(tag) {
            return Err(bad(
                "a tag is 1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'",
            ));
        }
        if repository.is_empty() {
            return Err(bad("the repository name is empty"));
        }
        if repository.len() > MAX_NAME_LEN {
            return Err(bad("the repository name is longer than 255 characters"));
        }
        let mut components = repository.split('/').peekable();
        let first = components.next().unwrap_or_default();
        let first_is_host =
            components.peek().is_some() && (first.contains(['.', ':']) || first == "localhost");
        // As in the grammar's regex, a first component that fails as a host may still
        // pass as a path component (`a__b.c/d`).
        if !(first_is_host && valid_host(first) || valid_path_component(first)) {
            return Err(bad(&if first_is_host {
                format!("{first:?} is not a valid registry host[:port]")
            } else {
                path_reason(first)
            }));
        }
        for component in components {
            if !valid_path_component(component) {
                return Err(bad(&path_reason(component)));
            }
        }
        Ok(ImageName {
            repository: repository.to_owned(),
            tag: tag.to_owned(),
        })
    }
}

/// The name an image is filed under in the store's index: `NAME:TAG` (`NAME` alone means
/// `NAME:latest`), or `NAME@DIGEST` for an image pulled by digest. A tag written beside a
/// digest is dropped: the digest decides which image it is, as with docker.
pub fn store_key(name: &str) -> Result<String, BadName> {
    let Some((named, digest)) = name.split_once('@') else {
        return Ok(ImageName::parse(name)?.to_string());
    };
    let image = ImageName::parse(named)?;
    let digest: Digest = digest.parse().map_err(|e| BadName {
        name: name.to_owned(),
        reason: format!("{e}"),
    })?;
    Ok(format!("{}@{digest}", image.repository))
}

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.repository, self.tag)
    }
}

fn path_reason(component: &str) -> String {
    if component.bytes().any(|b| b.is_ascii_uppercase()) {
        "repository names must be lowercase".to_owned()
    } else {
        format!(
            "path component {component:?} must be [a-z0-9] runs joined by '.', '_', '__' or '-'"
        )
    }
}

fn valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_TAG_LEN
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-')
}

/// `[a-z0-9]+ (separator [a-z0-9]+)*` with separators `.`, `_`, `__`, `-+`.
fn valid_path_component(component: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = component.as_bytes();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        let sep_start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[sep_start..i];
        let dashes = separator.bytes().all(|b| b == b'-');
        if !(dashes || matches!(separator, "." | "_" | "__")) {
            return false;
        }
    }
}

/// `label(.label)*[:port]`, labels alphanumeric with inner `-`; or a bracketed IPv6 address.
fn valid_host(host: &str) -> bool {
    let (name, port) = match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => (&host[..i], Some(&host[i + 1..])),
        _ => (host, None),
    };
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if let Some(ipv6) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        return ipv6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !name.is_empty()
        && name.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(name: &str) -> String {
        ImageName::parse(name).unwrap().to_string()
    }

    #[test]
    fn missing_tag_means_latest() {
        assert_eq!(ok("alpine"), "alpine:latest");
        assert_eq!(
            ok("localhost:5000/team/app"),
            "localhost:5000/team/app:latest"
        );
        assert_eq!(
            ok("registry.example.com/a/b:1.2-rc_3"),
            "registry.example.com/a/b:1.2-rc_3"
        );
        assert_eq!(ok("[::1]:5000/x:y"), "[::1]:5000/x:y");
        assert_eq!(ok("a__b.c---d/e_f:T"), "a__b.c---d/e_f:T");
    }

    #[test]
    fn refuses_what_docker_refuses() {
        for bad in [
            "",
            ":tag",
            "Alpine",
            "alpine:",
            "alpine:.x",
            "alpine:-x",
            "a/B",
            "a//b",
            "a/",
            "-a",
            "a-",
            "a___b",
            "a..b",
            "a@sha256:00",
            "bad_host.:5000/x",
            "host.com:port/x",
            "a:b:c",
        ] {
            assert!(ImageName::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(ImageName::parse(&format!("a:{}", "t".repeat(129))).is_err());
        assert!(ImageName::parse(&"a".repeat(256)).is_err());
    }

    #[test]
    fn uppercase_gets_a_clear_reason() {
        let err = ImageName::parse("MyApp:1").unwrap_err();
        assert!(err.to_string().contains("lowercase"), "{err}");
    }
}
