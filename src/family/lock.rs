//! `strata.lock`: the exact image each external base of a family resolved to.
//!
//! A family's Dockerfiles name their outside bases by tag (`FROM debian:bookworm`,
//! `FROM host/repo:1`), and a tag moves. The first build of a family records, beside
//! strata.toml, the manifest digest every such reference resolved to, per platform;
//! later builds use those pins whatever the tag says now, so a build is reproducible and
//! needs no registry once the pinned images are in the store. `strata outdated` compares
//! the pins with what the tags name today, and `strata update` moves them: a base fix
//! then rolls through the family as one deliberate change, never as a side effect.
//!
//! The file is TOML, one `[[pin]]` table per (reference, platform), sorted, written
//! atomically (a temp file renamed into place), so a reader never sees half of it.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::dockerfile::Source;

use super::names::same_reference;
use super::FamilyError;

/// The lock file's name, in the family folder.
pub const LOCK: &str = "strata.lock";

/// What the file says before its pins.
const HEADER: &str = "# The external images this family builds on, pinned by `strata build`.\n\
# `strata outdated` says which moved upstream; `strata update [REF...]` moves the pins.\n\n";

/// One external reference as resolved for one platform.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    /// The reference as the Dockerfiles write it (`debian:bookworm`, `host/repo:1`).
    pub reference: String,
    /// The platform it was resolved for (`linux/amd64`).
    pub platform: String,
    /// The digest of the platform's image manifest, as its registry serves it (or as
    /// the store holds it, for an image that exists only there).
    pub digest: Digest,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockFile {
    #[serde(default, rename = "pin")]
    pins: Vec<Pin>,
}

/// The pins of one family, as read from (and written back to) its `strata.lock`.
#[derive(Clone, Debug)]
pub struct Lock {
    /// The file (it may not exist yet).
    pub path: PathBuf,
    pins: Vec<Pin>,
    changed: bool,
}

impl Lock {
    /// The lock of the family in `dir`: empty when there is no `strata.lock`; a located
    /// error when there is one that does not parse.
    pub fn load(dir: &Path) -> Result<Lock, FamilyError> {
        let path = dir.join(LOCK);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Lock {
                    path,
                    pins: Vec::new(),
                    changed: false,
                })
            }
            Err(source) => return Err(FamilyError::Read { path, source }),
        };
        let file: LockFile = toml::from_str(&text).map_err(|e| {
            let source = Source::new(path.clone(), text.as_str());
            let at = e.span().unwrap_or(0..0);
            let span = source.span_at(at.start, at.len());
            FamilyError::Manifest(Box::new(source.error(
                span,
                format!(
                    "{}; delete the file to pin the bases anew",
                    e.message().trim()
                ),
            )))
        })?;
        Ok(Lock {
            path,
            pins: file.pins,
            changed: false,
        })
    }

    /// Every pin, sorted by reference and platform.
    pub fn pins(&self) -> &[Pin] {
        &self.pins
    }

    /// The digest `reference` is pinned to for `platform`, however the reference is
    /// spelt (`debian` and `docker.io/library/debian:latest` are one reference).
    pub fn get(&self, reference: &str, platform: &str) -> Option<&Digest> {
        self.pins
            .iter()
            .find(|p| p.platform == platform && same_reference(&p.reference, reference))
            .map(|p| &p.digest)
    }

    /// Pins `reference` for `platform` to `digest`; returns the digest it replaced.
    pub fn set(&mut self, reference: &str, platform: &str, digest: Digest) -> Option<Digest> {
        let found = self
            .pins
            .iter_mut()
            .find(|p| p.platform == platform && same_reference(&p.reference, reference));
        let old = match found {
            Some(pin) if pin.digest == digest => return Some(digest),
            Some(pin) => Some(std::mem::replace(&mut pin.digest, digest)),
            None => {
                self.pins.push(Pin {
                    reference: reference.to_owned(),
                    platform: platform.to_owned(),
                    digest,
                });
                self.pins.sort();
                None
            }
        };
        self.changed = true;
        old
    }

    /// Writes the file if a pin was added or moved since it was loaded.
    pub fn save(&mut self) -> std::io::Result<()> {
        if !self.changed {
            return Ok(());
        }
        let body = toml::to_string(&LockFile {
            pins: self.pins.clone(),
        })
        .map_err(std::io::Error::other)?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(HEADER.as_bytes())?;
        tmp.write_all(body.as_bytes())?;
        tmp.as_file().sync_all()?;
        tmp.persist(&self.path).map_err(|e| e.error)?;
        self.changed = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u8) -> Digest {
        format!("sha256:{}", format!("{n:02x}").repeat(32))
            .parse()
            .unwrap()
    }

    #[test]
    fn pins_round_trip_and_match_however_spelt() {
        let dir = tempfile::tempdir().unwrap();
        let mut lock = Lock::load(dir.path()).unwrap();
        assert!(lock.pins().is_empty());
        assert_eq!(lock.set("debian:bookworm", "linux/amd64", digest(1)), None);
        assert_eq!(lock.set("host:5000/base:1", "linux/amd64", digest(2)), None);
        lock.save().unwrap();
        let mut again = Lock::load(dir.path()).unwrap();
        assert_eq!(again.pins().len(), 2);
        assert_eq!(
            again.get("docker.io/library/debian:bookworm", "linux/amd64"),
            Some(&digest(1))
        );
        assert_eq!(again.get("debian:bookworm", "linux/arm64"), None);
        assert_eq!(
            again.set("host:5000/base:1", "linux/amd64", digest(3)),
            Some(digest(2))
        );
        again.save().unwrap();
        let text = std::fs::read_to_string(dir.path().join(LOCK)).unwrap();
        assert!(text.starts_with("# The external images"), "{text}");
        assert!(text.contains(&digest(3).to_string()), "{text}");
    }

    #[test]
    fn a_broken_lock_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(LOCK),
            "[[pin]]\nreference = \"a:1\"\nplatform = \"linux/amd64\"\ndigest = \"sha256:nothex\"\n",
        )
        .unwrap();
        let err = Lock::load(dir.path()).unwrap_err();
        let FamilyError::Manifest(located) = err else {
            panic!("not located: {err:?}")
        };
        assert_eq!(located.line, 4, "{located:?}");
    }
}
