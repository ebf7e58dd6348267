//! Platforms as OCI image indexes name them: `os/architecture[/variant]`.
//!
//! [`Platform`] is shared vocabulary: the builder stamps it into configs and derives
//! BuildKit's predefined ARGs from it, and the registry client picks an index entry by it.
//! [`emulation`] says whether this host can run a platform's programs (natively, or
//! through QEMU user emulation registered with binfmt_misc).

pub mod emulation;

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

/// A platform value that strata cannot build for, or a host that cannot run it.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlatformError {
    /// Not `os/arch[/variant]`.
    #[error(
        "invalid platform {0:?}: expected os/arch[/variant], such as linux/amd64 or linux/arm64"
    )]
    Syntax(String),
    /// Well formed, but no Linux image can be built for it.
    #[error("unsupported platform {platform:?}: {why}")]
    Unsupported {
        /// The value as given.
        platform: String,
        /// Why, with what is supported.
        why: String,
    },
    /// The host cannot run the platform's programs (for RUN) and no emulator covers it.
    #[error("cannot run programs for {platform} on this {host} host: {why}")]
    #[diagnostic(help("{help}"))]
    NoEmulator {
        /// The platform.
        platform: String,
        /// This host's platform.
        host: String,
        /// What is missing.
        why: String,
        /// What to do about it.
        help: String,
    },
}

/// The architectures strata builds for (OCI names), each with its variants (the first is
/// the default) and the name QEMU and binfmt_misc use for it.
const ARCHITECTURES: &[(&str, &[&str], &str)] = &[
    ("amd64", &[], "x86_64"),
    ("arm64", &[], "aarch64"),
    ("arm", &["v7", "v6", "v5"], "arm"),
    ("386", &[], "i386"),
    ("ppc64le", &[], "ppc64le"),
    ("s390x", &[], "s390x"),
    ("riscv64", &[], "riscv64"),
    ("mips64le", &[], "mips64el"),
];

/// Other names of architectures, as uname, Debian and Go spell them, with the variant
/// they imply.
const ALIASES: &[(&str, &str, Option<&str>)] = &[
    ("x86_64", "amd64", None),
    ("x86-64", "amd64", None),
    ("aarch64", "arm64", None),
    ("armhf", "arm", Some("v7")),
    ("armel", "arm", Some("v6")),
    ("i386", "386", None),
    ("i686", "386", None),
];

impl Platform {
    /// The platform of this host (what a build runs on), in OCI's names for Rust's
    /// architectures.
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", None),
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

    /// Parses `os/arch[/variant]` (`--platform linux/arm64`) into its normal form, as
    /// containerd's `platforms.Normalize` writes it: lower case, architecture aliases
    /// resolved (`aarch64` is `arm64`, `x86_64` is `amd64`), arm64's default variant `v8`
    /// dropped, `arm` without a variant meaning `arm/v7`. Only Linux platforms whose
    /// architecture strata knows are accepted: anything else would be a silently wrong
    /// image.
    pub fn parse(platform: &str) -> Result<Platform, PlatformError> {
        let text = platform.trim().to_ascii_lowercase();
        let parts: Vec<&str> = text.split('/').collect();
        let (os, arch, variant) = match parts.as_slice() {
            [os, arch] => (*os, *arch, None),
            [os, arch, variant] => (*os, *arch, Some(*variant)),
            _ => return Err(PlatformError::Syntax(platform.into())),
        };
        if os.is_empty() || arch.is_empty() || variant == Some("") {
            return Err(PlatformError::Syntax(platform.into()));
        }
        let unsupported = |why: String| PlatformError::Unsupported {
            platform: platform.into(),
            why,
        };
        if os != "linux" {
            return Err(unsupported(format!(
                "strata builds Linux images only (os {os:?})"
            )));
        }
        let (arch, implied) = ALIASES
            .iter()
            .find(|(alias, ..)| *alias == arch)
            .map_or((arch, None), |(_, arch, variant)| (*arch, *variant));
        let Some((arch, variants, _)) = ARCHITECTURES.iter().find(|(a, ..)| *a == arch) else {
            let known: Vec<&str> = ARCHITECTURES.iter().map(|(a, ..)| *a).collect();
            return Err(unsupported(format!(
                "unknown architecture {arch:?} (known: {})",
                known.join(", ")
            )));
        };
        let variant = match (variant.or(implied), *arch) {
            (Some("v8" | "8"), "arm64") | (None, _) => variants.first().copied(),
            (Some(v), _) if variants.contains(&v) => Some(v),
            (Some(v), _) if variants.contains(&format!("v{v}").as_str()) => {
                variants.iter().find(|w| w[1..] == *v).copied()
            }
            (Some(v), _) => {
                return Err(unsupported(format!(
                    "{arch} has no variant {v:?}{}",
                    if variants.is_empty() {
                        String::new()
                    } else {
                        format!(" (known: {})", variants.join(", "))
                    }
                )))
            }
        };
        Ok(Platform {
            os: os.into(),
            architecture: (*arch).into(),
            variant: variant.map(Into::into),
        })
    }

    /// Parses a comma-separated `--platform` list (`linux/amd64,linux/arm64`), dropping
    /// repeats (`linux/arm64` and `linux/arm64/v8` are one platform).
    pub fn parse_list(list: &str) -> Result<Vec<Platform>, PlatformError> {
        let mut platforms: Vec<Platform> = Vec::new();
        for item in list.split(',') {
            let platform = Platform::parse(item)?;
            if !platforms.contains(&platform) {
                platforms.push(platform);
            }
        }
        Ok(platforms)
    }

    /// The name QEMU and binfmt_misc give this platform's architecture (`aarch64`).
    pub fn qemu_arch(&self) -> &'static str {
        ARCHITECTURES
            .iter()
            .find(|(a, ..)| *a == self.architecture)
            .map_or("", |(.., qemu)| qemu)
    }

    /// The `platform` object of an index entry for this platform.
    pub fn index_entry(&self) -> serde_json::Value {
        let mut entry = serde_json::json!({
            "architecture": self.architecture,
            "os": self.os,
        });
        if let Some(variant) = &self.variant {
            entry["variant"] = variant.clone().into();
        }
        entry
    }

    /// The platform an index entry's `platform` object names, if strata knows it.
    pub fn of_index_entry(platform: &serde_json::Value) -> Option<Platform> {
        let field = |name: &str| platform.get(name).and_then(|v| v.as_str());
        let mut text = format!("{}/{}", field("os")?, field("architecture")?);
        if let Some(variant) = field("variant").filter(|v| !v.is_empty()) {
            text = format!("{text}/{variant}");
        }
        Platform::parse(&text).ok()
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
    fn platforms_are_normalised_and_checked() {
        let norm = |text: &str| Platform::parse(text).map(|p| p.to_string());
        assert_eq!(norm("linux/arm64/v8").unwrap(), "linux/arm64");
        assert_eq!(norm("Linux/AArch64").unwrap(), "linux/arm64");
        assert_eq!(norm("linux/x86_64").unwrap(), "linux/amd64");
        assert_eq!(norm("linux/arm").unwrap(), "linux/arm/v7");
        assert_eq!(norm("linux/arm/6").unwrap(), "linux/arm/v6");
        assert!(matches!(
            Platform::parse("windows/amd64"),
            Err(PlatformError::Unsupported { .. })
        ));
        assert!(matches!(
            Platform::parse("linux/sparc"),
            Err(PlatformError::Unsupported { .. })
        ));
        assert!(matches!(
            Platform::parse("linux/amd64/v9"),
            Err(PlatformError::Unsupported { .. })
        ));
        assert!(matches!(
            Platform::parse("linux//"),
            Err(PlatformError::Syntax(_))
        ));
        let list = Platform::parse_list("linux/amd64,linux/arm64,linux/arm64/v8").unwrap();
        assert_eq!(list.len(), 2);
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
