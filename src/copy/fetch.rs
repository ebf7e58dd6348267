//! `ADD <url>`: HTTP(S) sources downloaded by strata itself (not by a RUN sandbox, so
//! `--network` does not apply), as docker does it: the file is named after the last
//! segment of the URL's path, written with mode 0600, never unpacked, and checked against
//! `--checksum=sha256:...` when one is given. Bodies stream to disk while they are hashed,
//! so a large download needs no memory; the content digest goes into the step's cache key.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::digest::{Digest, HashingWriter};

/// The file name an unnamed URL (`https://host/`) gets; only a destination that is a
/// directory needs a name, and that case is an error.
pub const UNNAMED: &str = "__unnamed__";

/// Whether an ADD source is a URL strata downloads (git repositories are not).
pub fn is_url(source: &str) -> bool {
    (source.starts_with("http://") || source.starts_with("https://")) && !is_git(source)
}

/// BuildKit treats `https://host/repo.git` (optionally `#ref`) as a git repository.
fn is_git(source: &str) -> bool {
    let without_fragment = source.split('#').next().unwrap_or(source);
    without_fragment.ends_with(".git")
}

/// The name a download of `url` gets: the last segment of its path, percent-decoded.
pub fn file_name(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .split_once('/')
        .map_or("", |(_, path)| path);
    let last = path.rsplit('/').next().unwrap_or_default();
    let decoded = percent_decode(last);
    if decoded.is_empty() || decoded == "." || decoded == ".." {
        UNNAMED.to_owned()
    } else {
        decoded
    }
}

/// `%XX` escapes decoded; anything malformed is kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Downloads `url` to `dest` (created with mode 0600) and returns the content's digest,
/// which must equal `expected` when given. The error says what failed, with the URL.
pub fn download(url: &str, dest: &Path, expected: Option<&Digest>) -> Result<Digest, String> {
    let agent = ureq::Agent::config_builder()
        .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent();
    let mut response = agent.get(url).call().map_err(|e| format!("{url}: {e}"))?;
    let file = File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dest)
        .map_err(|e| format!("{}: {e}", dest.display()))?;
    let mut writer = HashingWriter::new(BufWriter::new(file));
    io::copy(&mut response.body_mut().as_reader(), &mut writer)
        .map_err(|e| format!("{url}: {e}"))?;
    let (mut out, digest, _) = writer.finish();
    out.flush()
        .map_err(|e| format!("{}: {e}", dest.display()))?;
    match expected {
        Some(expected) if *expected != digest => Err(format!(
            "{url}: checksum mismatch: expected {expected}, got {digest}"
        )),
        _ => Ok(digest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_last_path_segment() {
        assert_eq!(
            file_name("https://h/a/b/tool-1.2.tar.gz"),
            "tool-1.2.tar.gz"
        );
        assert_eq!(file_name("https://h/a/b%20c.txt?x=1#f"), "b c.txt");
        assert_eq!(file_name("https://h:8080/"), UNNAMED);
        assert_eq!(file_name("https://h"), UNNAMED);
    }

    #[test]
    fn git_repositories_are_not_downloads() {
        assert!(is_url("https://h/file.txt"));
        assert!(!is_url("https://h/org/repo.git"));
        assert!(!is_url("https://h/org/repo.git#v1"));
        assert!(!is_url("git@h:org/repo.git"));
    }
}
