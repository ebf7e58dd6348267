//! Registry references: `[host[:port]/]repo[:tag][@digest]`.
//!
//! Names are checked with the store's grammar ([`ImageName`]), so whatever can be pulled
//! can be tagged in the store under the same name. They are normalised as docker does:
//! a first path component with a `.` or a `:`, or `localhost`, is the registry host;
//! without one the name is a short name of docker.io (`alpine` is
//! `docker.io/library/alpine:latest`, `team/app:1` is `docker.io/team/app:1`), which a
//! pull may instead look up in registries.conf's `unqualified-search-registries`
//! ([`Reference::short`], [`Reference::qualified_in`]). docker.io's API lives at
//! `registry-1.docker.io`.

use std::fmt;

use crate::digest::Digest;
use crate::image::ImageName;

use super::error::RegistryError;

/// The registry of short names, as docker reads them.
pub const DOCKER_HUB: &str = "docker.io";
/// The registry host docker.io's API is served from.
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A parsed `host[:port]/repo[:tag][@digest]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `host[:port]` as written (`docker.io` stays `docker.io`).
    pub registry: String,
    /// The repository path inside the registry (`team/app`; `library/x` on docker.io).
    pub repository: String,
    /// The tag, when one was written.
    pub tag: Option<String>,
    /// The manifest digest, when one was written.
    pub digest: Option<Digest>,
    /// For a short name (no registry host written: `debian`, `team/app`), the
    /// repository as written: `registry` is then docker.io, as docker reads the name, and
    /// a pull may qualify it with each unqualified-search registry instead
    /// ([`Reference::qualified_in`]). `None` for a name that wrote its host.
    pub short: Option<String>,
}

impl Reference {
    /// Parses `[host[:port]/]repo[:tag][@digest]`. The first path component is the
    /// registry host when it contains a `.` or a `:`, or is `localhost`; otherwise the
    /// name is a short name of docker.io.
    pub fn parse(reference: &str) -> Result<Reference, RegistryError> {
        let bad = |reason: String| RegistryError::BadReference {
            reference: reference.to_owned(),
            reason,
        };
        let (name, digest) = match reference.split_once('@') {
            Some((name, digest)) => (
                name,
                Some(digest.parse::<Digest>().map_err(|e| bad(e.to_string()))?),
            ),
            None => (reference, None),
        };
        let image = ImageName::parse(name).map_err(|e| bad(e.reason))?;
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let tag = name[last_slash..].contains(':').then_some(image.tag);
        let reference = match image.repository.split_once('/') {
            Some((host, path)) if host.contains(['.', ':']) || host == "localhost" => {
                Reference::in_registry(host, path, tag, digest)
            }
            _ => Reference {
                short: Some(image.repository.clone()),
                ..Reference::in_registry(DOCKER_HUB, &image.repository, tag, digest)
            },
        };
        Ok(reference)
    }

    /// `path` of `registry` (`library/` added to a one-component docker.io path).
    fn in_registry(
        registry: &str,
        path: &str,
        tag: Option<String>,
        digest: Option<Digest>,
    ) -> Reference {
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_owned()
        };
        Reference {
            registry: registry.to_owned(),
            repository,
            tag,
            digest,
            short: None,
        }
    }

    /// This short name qualified with `registry` (`debian` in `search.example.com` is
    /// `search.example.com/debian`, in docker.io `docker.io/library/debian`): a candidate of the
    /// unqualified search. A qualified name is returned as it is.
    pub fn qualified_in(&self, registry: &str) -> Reference {
        match &self.short {
            Some(path) => {
                Reference::in_registry(registry, path, self.tag.clone(), self.digest.clone())
            }
            None => Reference {
                short: None,
                ..self.clone()
            },
        }
    }

    /// The name as written: the short form of a short name (`debian:bookworm`), else
    /// the qualified one, for messages.
    pub fn written(&self) -> String {
        let Some(path) = &self.short else {
            return self.to_string();
        };
        let mut name = path.clone();
        if let Some(tag) = &self.tag {
            name = format!("{name}:{tag}");
        }
        if let Some(digest) = &self.digest {
            name = format!("{name}@{digest}");
        }
        name
    }

    /// What goes after `/manifests/`: the digest when there is one, else the tag
    /// (`latest` when none was written).
    pub fn manifest_ref(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.clone(),
            (None, None) => "latest".into(),
        }
    }

    /// The host (and port) requests go to: the registry, except docker.io's API host.
    pub fn api_host(&self) -> &str {
        api_host(&self.registry)
    }

    /// The name a pull files the image under in the store (see
    /// [`crate::image::store_key`]): `registry/repository@digest` when a digest was
    /// written, else `registry/repository:tag` (`latest` when no tag was written).
    pub fn store_name(&self) -> String {
        let name = format!("{}/{}", self.registry, self.repository);
        match (&self.digest, &self.tag) {
            (Some(digest), _) => format!("{name}@{digest}"),
            (None, tag) => format!("{name}:{}", tag.as_deref().unwrap_or("latest")),
        }
    }
}

/// The host requests for `registry` go to (docker.io's API host for `docker.io`).
pub(crate) fn api_host(registry: &str) -> &str {
    if registry == DOCKER_HUB || registry == "index.docker.io" {
        DOCKER_HUB_API
    } else {
        registry
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_host_port_repo_tag_and_digest() {
        let r = Reference::parse("127.0.0.1:5000/team/app:1.2").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("127.0.0.1:5000", "team/app")
        );
        assert_eq!(r.tag.as_deref(), Some("1.2"));
        assert_eq!(r.manifest_ref(), "1.2");
        assert_eq!(r.store_name(), "127.0.0.1:5000/team/app:1.2");

        let r = Reference::parse(&format!("localhost:5000/app@{DIGEST}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.manifest_ref(), DIGEST);
        assert_eq!(r.store_name(), format!("localhost:5000/app@{DIGEST}"));
        let pinned = Reference::parse(&format!("localhost:5000/app:1@{DIGEST}")).unwrap();
        assert_eq!(pinned.store_name(), r.store_name());
        assert_eq!(r.to_string(), format!("localhost:5000/app@{DIGEST}"));

        let r = Reference::parse("registry.example.com/app").unwrap();
        assert_eq!(r.manifest_ref(), "latest");
        assert_eq!(r.store_name(), "registry.example.com/app:latest");
    }

    #[test]
    fn docker_hub_names_are_expanded() {
        let r = Reference::parse("docker.io/busybox:1").unwrap();
        assert_eq!(r.repository, "library/busybox");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        let r = Reference::parse("docker.io/library/busybox").unwrap();
        assert_eq!(r.repository, "library/busybox");
    }

    #[test]
    fn short_names_are_docker_hub_names_as_docker_reads_them() {
        let r = Reference::parse("alpine").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/alpine");
        assert_eq!(r.store_name(), "docker.io/library/alpine:latest");
        assert_eq!(r.short.as_deref(), Some("alpine"));
        let r = Reference::parse("team/app:1").unwrap();
        assert_eq!(r.store_name(), "docker.io/team/app:1");
        assert_eq!(
            r.qualified_in("search.example.com").store_name(),
            "search.example.com/team/app:1"
        );
        let r = Reference::parse("debian:bookworm").unwrap();
        assert_eq!(
            r.qualified_in("127.0.0.1:5000").to_string(),
            "127.0.0.1:5000/debian:bookworm"
        );
        assert_eq!(
            r.qualified_in(DOCKER_HUB).store_name(),
            "docker.io/library/debian:bookworm"
        );
        // A first component with '.', ':' or `localhost` is a host.
        for (name, registry) in [
            ("localhost/app", "localhost"),
            ("a.b/app", "a.b"),
            ("host:5000/app", "host:5000"),
        ] {
            let r = Reference::parse(name).unwrap();
            assert_eq!((r.registry.as_str(), r.short), (registry, None), "{name}");
        }
        assert_eq!(
            Reference::parse(&format!("alpine@{DIGEST}"))
                .unwrap()
                .store_name(),
            format!("docker.io/library/alpine@{DIGEST}")
        );
    }

    #[test]
    fn refuses_bad_names_and_digests() {
        for bad in ["127.0.0.1:5000/app@sha256:00", "a.b/App", "Alpine", "app:"] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
