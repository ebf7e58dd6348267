//! Platforms as OCI image indexes name them: `os/architecture[/variant]`.
//!
//! [`Platform`] is shared vocabulary: the builder stamps it into configs and derives
//! BuildKit's predefined ARGs from it, and the registry client picks an index entry by it.

use std::fmt;

/// A platform: `linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`, ...
    pub architecture: String,
    /// `v7`, `v8`, ... when the architecture has variants.
    pub variant: Option<String>,
}

/// A `--platform` value that is not `os/arch[/variant]`.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("invalid platform {0:?}: expected os/arch[/variant]")]
pub struct PlatformError(pub String);

impl Platform {
    /// The platform of this host (what a build runs on), in OCI's names for Rust's
    /// architectures.
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "x86" => ("386", None),
            other => (other, None),
        };
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: variant.map(Into::into),
        }
    }

    /// Parses `os/arch[/variant]` (`--platform linux/arm64`).
    pub fn parse(platform: &str) -> Result<Platform, PlatformError> {
        let parts: Vec<&str> = platform.split('/').collect();
        match parts.as_slice() {
            [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: (*os).into(),
                architecture: (*arch).into(),
                variant: parts.get(2).filter(|v| !v.is_empty()).map(|v| (*v).into()),
            }),
            _ => Err(PlatformError(platform.into())),
        }
    }

    /// The variant as BuildKit's `TARGETVARIANT` shows it: empty for arm64's default `v8`.
    pub fn arg_variant(&self) -> &str {
        match (self.architecture.as_str(), self.variant.as_deref()) {
            ("arm64", Some("v8")) | (_, None) => "",
            (_, Some(v)) => v,
        }
    }

    /// The platform as BuildKit's `TARGETPLATFORM` shows it: `os/arch[/variant]`, without
    /// arm64's default variant.
    pub fn arg_platform(&self) -> String {
        match self.arg_variant() {
            "" => format!("{}/{}", self.os, self.architecture),
            v => format!("{}/{}/{v}", self.os, self.architecture),
        }
    }

    /// Whether an index entry's `platform` object describes this platform. A variant
    /// missing on either side matches, except that the default variants (`v8` for arm64)
    /// count as written.
    pub fn matches(&self, platform: &serde_json::Value) -> bool {
        let field = |name: &str| platform.get(name).and_then(|v| v.as_str());
        if field("os") != Some(self.os.as_str())
            || field("architecture") != Some(self.architecture.as_str())
        {
            return false;
        }
        let default_variant = |v: Option<&str>| match (self.architecture.as_str(), v) {
            ("arm64", None) => Some("v8".to_owned()),
            (_, v) => v.map(str::to_owned),
        };
        match (
            default_variant(self.variant.as_deref()),
            default_variant(field("variant")),
        ) {
            (Some(want), Some(have)) => want == have,
            _ => true,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_match_index_entries() {
        let arm64 = Platform::parse("linux/arm64").unwrap();
        assert!(arm64.matches(&serde_json::json!({"os": "linux", "architecture": "arm64"})));
        assert!(arm64.matches(
            &serde_json::json!({"os": "linux", "architecture": "arm64", "variant": "v8"})
        ));
        let v7 = Platform::parse("linux/arm/v7").unwrap();
        assert!(!v7
            .matches(&serde_json::json!({"os": "linux", "architecture": "arm", "variant": "v6"})));
        assert!(!arm64.matches(&serde_json::json!({"os": "linux", "architecture": "amd64"})));
        assert!(Platform::parse("linux").is_err());
    }

    #[test]
    fn build_args_drop_the_default_arm64_variant() {
        let arm64 = Platform::parse("linux/arm64/v8").unwrap();
        assert_eq!(
            (arm64.arg_platform().as_str(), arm64.arg_variant()),
            ("linux/arm64", "")
        );
        let v7 = Platform::parse("linux/arm/v7").unwrap();
        assert_eq!(
            (v7.arg_platform().as_str(), v7.arg_variant()),
            ("linux/arm/v7", "v7")
        );
    }
}
