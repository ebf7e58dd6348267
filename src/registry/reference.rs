//! Registry references: `host[:port]/repo[:tag][@digest]`.
//!
//! Names are checked with the store's grammar ([`ImageName`]), so whatever can be pulled
//! can be tagged in the store under the same name. A reference must name its registry
//! host: strata adds no default registry. `docker.io/x` means `docker.io/library/x`, and
//! docker.io's API lives at `registry-1.docker.io`, as docker does it.

use std::fmt;

use crate::digest::Digest;
use crate::image::ImageName;

use super::error::RegistryError;

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
}

impl Reference {
    /// Parses `host[:port]/repo[:tag][@digest]`. The host is required: the first path
    /// component must contain a `.` or a `:`, or be `localhost`.
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
        let Some((registry, repository)) = image.repository.split_once('/') else {
            return Err(bad(
                "no registry host: write host[:port]/repository[:tag]".into()
            ));
        };
        if !(registry.contains(['.', ':']) || registry == "localhost") {
            return Err(bad(format!(
                "{registry:?} is not a registry host (it has no '.' or ':' and is not localhost)"
            )));
        }
        let repository = if registry == "docker.io" && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.to_owned()
        };
        Ok(Reference {
            registry: registry.to_owned(),
            repository,
            tag,
            digest,
        })
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
    if registry == "docker.io" || registry == "index.docker.io" {
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
    fn refuses_names_without_a_host_and_bad_digests() {
        for bad in [
            "busybox",
            "team/app:1",
            "127.0.0.1:5000/app@sha256:00",
            "a.b/App",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
