//! Which reference written in a Dockerfile means which family image.
//!
//! Every image of a family answers to names: its tags (`NAME:latest`, `NAME:VERSION`,
//! its extra `tags`) and the `refs` strata.toml declares for it (the references that
//! unchanged Dockerfiles of a real family use, e.g. docker-library's
//! `buildpack-deps:bookworm-curl`), each also under the family `registry` prefix.
//! A reference names an image when its repository *and* tag both match one of those names
//! (no tag means `latest`, as docker reads it), after Docker Hub's implicit prefixes are
//! dropped (`docker.io/library/debian` is `debian`). So `FROM jre:9` is not the family's
//! `jre` unless `9` is one of its tags: a build on the wrong parent is never silently
//! made. A digest reference pins an exact image and never names a family image.
//!
//! [`Names::suggestion`] finds the member a reference that names none was probably meant
//! to be (`jer` for `jre`, a tag spelt wrong), for the "did you mean" of lint, graph and
//! build errors.

use std::collections::BTreeMap;

/// The repository and tag a reference is compared by: Docker Hub's implicit
/// `docker.io/` and `library/` prefixes dropped, the tag `latest` when none is written.
/// `None` for a digest reference.
fn key(reference: &str) -> Option<(String, String)> {
    if reference.contains('@') {
        return None;
    }
    let slash = reference.rfind('/').map_or(0, |i| i + 1);
    let (repository, tag) = match reference[slash..].rfind(':') {
        Some(colon) => (&reference[..slash + colon], &reference[slash + colon + 1..]),
        None => (reference, "latest"),
    };
    // As docker normalises names: no registry host written means docker.io, whose
    // one-component names live under `library/` (`library/debian` is `debian`).
    let first = repository.split('/').next().unwrap_or_default();
    let has_host = repository.contains('/') && (first.contains(['.', ':']) || first == "localhost");
    let mut repository = repository;
    if !has_host {
        repository = repository.strip_prefix("library/").unwrap_or(repository);
    }
    for hub in ["docker.io/", "index.docker.io/", "registry-1.docker.io/"] {
        if let Some(rest) = repository.strip_prefix(hub) {
            repository = rest.strip_prefix("library/").unwrap_or(rest);
            break;
        }
    }
    Some((repository.to_owned(), tag.to_owned()))
}

/// Whether two references name the same repository and tag once Docker Hub's implicit
/// prefixes and the default tag are filled in (digest references: only when equal).
pub fn same_reference(a: &str, b: &str) -> bool {
    a == b || key(a).is_some_and(|k| key(b) == Some(k))
}

/// `repository:tag` as people write it: `:latest` left out.
fn display((repository, tag): &(String, String)) -> String {
    if tag == "latest" {
        repository.clone()
    } else {
        format!("{repository}:{tag}")
    }
}

/// Two images of a family claim the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Ambiguous {
    /// The name, as written by the second claim.
    pub name: String,
    /// The image that claimed it first.
    pub first: String,
    /// The image whose claim clashes.
    pub second: String,
}

/// Every name of every image of a family.
#[derive(Clone, Debug, Default)]
pub(super) struct Names {
    by_key: BTreeMap<(String, String), String>,
}

impl Names {
    /// Records that `name` (a tag or ref as written) means `image`, and the same under the
    /// family `registry` when `name` has no registry or path of its own. A name that
    /// already means another image is [`Ambiguous`]; the same image twice is fine.
    pub fn claim(
        &mut self,
        image: &str,
        name: &str,
        registry: Option<&str>,
    ) -> Result<(), Ambiguous> {
        let Some(key) = key(name) else {
            return Ok(());
        };
        let prefixed = registry.filter(|_| !key.0.contains('/')).map(|r| {
            (
                format!("{}/{}", r.trim_end_matches('/'), key.0),
                key.1.clone(),
            )
        });
        for key in std::iter::once(key).chain(prefixed) {
            match self.by_key.get(&key) {
                Some(owner) if owner != image => {
                    return Err(Ambiguous {
                        name: name.to_owned(),
                        first: owner.clone(),
                        second: image.to_owned(),
                    })
                }
                Some(_) => {}
                None => {
                    self.by_key.insert(key, image.to_owned());
                }
            }
        }
        Ok(())
    }

    /// The image `reference` names, if any.
    pub fn image(&self, reference: &str) -> Option<&str> {
        self.by_key.get(&key(reference)?).map(String::as_str)
    }

    /// For a reference that names no image: the family name it most likely meant and the
    /// image that name belongs to. A name counts when it has the same repository (a tag
    /// not among the image's), or when the whole reference is within a small edit
    /// distance of it (`jer` for `jre`, `bookworm-crul` for `bookworm-curl`).
    pub fn suggestion(&self, reference: &str) -> Option<(String, &str)> {
        let wanted = key(reference)?;
        if self.by_key.contains_key(&wanted) {
            return None;
        }
        let written = display(&wanted);
        let budget = if written.chars().count() <= 4 { 1 } else { 2 };
        self.by_key
            .iter()
            .filter_map(|(name, image)| {
                let distance = strsim::osa_distance(&written, &display(name));
                let same_repository = name.0 == wanted.0;
                (distance <= budget || same_repository).then_some((
                    (!same_repository || distance > budget, distance),
                    name,
                    image,
                ))
            })
            .min_by_key(|(rank, ..)| *rank)
            .map(|(_, name, image)| (display(name), image.as_str()))
    }

    /// Every name of `image` as people write it (`jre`, `jre:1.4`), for hints.
    pub fn of_image(&self, image: &str) -> Vec<String> {
        self.by_key
            .iter()
            .filter(|(_, owner)| *owner == image)
            .map(|(k, _)| display(k))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        let mut names = Names::default();
        for (image, name) in [
            ("jre", "jre:latest"),
            ("jre", "jre:1.4"),
            ("curl", "curl:latest"),
            ("curl", "buildpack-deps:bookworm-curl"),
            ("scm", "scm:latest"),
            ("scm", "buildpack-deps:bookworm-scm"),
        ] {
            names
                .claim(image, name, Some("localhost:5000/acme"))
                .unwrap();
        }
        names
    }

    #[test]
    fn repository_and_tag_both_match() {
        let names = names();
        assert_eq!(names.image("jre"), Some("jre"));
        assert_eq!(names.image("jre:1.4"), Some("jre"));
        assert_eq!(names.image("jre:9"), None);
        assert_eq!(names.image("buildpack-deps:bookworm-curl"), Some("curl"));
        assert_eq!(
            names.image("docker.io/library/buildpack-deps:bookworm-scm"),
            Some("scm")
        );
        assert_eq!(
            names.image("library/buildpack-deps:bookworm-scm"),
            Some("scm")
        );
        assert_eq!(names.image("localhost:5000/acme/jre:1.4"), Some("jre"));
        assert_eq!(names.image("localhost:5000/other/jre:1.4"), None);
        assert_eq!(names.image("buildpack-deps"), None);
        assert_eq!(names.image("jre@sha256:abcd"), None);
    }

    #[test]
    fn a_name_of_two_images_is_ambiguous() {
        let mut names = names();
        let err = names
            .claim("full", "buildpack-deps:bookworm-curl", None)
            .unwrap_err();
        assert_eq!((err.first.as_str(), err.second.as_str()), ("curl", "full"));
        assert!(names
            .claim("curl", "buildpack-deps:bookworm-curl", None)
            .is_ok());
    }

    #[test]
    fn suggestions() {
        let names = names();
        assert_eq!(names.suggestion("jer"), Some(("jre".into(), "jre")));
        assert_eq!(names.suggestion("jre:9"), Some(("jre".into(), "jre")));
        assert_eq!(
            names.suggestion("buildpack-deps:bookworm-crul"),
            Some(("buildpack-deps:bookworm-curl".into(), "curl"))
        );
        assert_eq!(names.suggestion("debian:bookworm"), None);
        assert_eq!(names.suggestion("jre"), None);
    }
}
