//! `strata.toml` as written: the serde types of the family file and the typed policy values.
//!
//! [`Manifest`] mirrors the file one to one, with the spans (`toml::Spanned`) of every
//! value a later check may have to point at (tier names, image keys). Unknown keys are
//! refused (`deny_unknown_fields`), so a typo is an error naming the key, not a silently
//! ignored setting. [`Policy`], [`ByteSize`] and [`Efficiency`] are the typed policy
//! values the lint and audit passes read.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

/// The whole `strata.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Manifest {
    /// `[family]`.
    pub family: FamilySection,
    /// `tiers = [...]` or `[tiers] order = [...]`.
    pub tiers: Option<Spanned<Tiers>>,
    /// `[images.NAME]`.
    #[serde(default)]
    pub images: BTreeMap<Spanned<String>, Spanned<ImageSection>>,
    /// `[policy.TIER]`.
    #[serde(default)]
    pub policy: BTreeMap<Spanned<String>, PolicySection>,
    /// `[lint]`: accepted here, read with its spans by `crate::lint` from the text.
    #[serde(rename = "lint")]
    pub _lint: Option<de::IgnoredAny>,
}

/// `[family]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FamilySection {
    pub name: String,
    pub version: Option<String>,
    pub registry: Option<String>,
    /// Build args every image gets (an image's own `build_args` win).
    #[serde(default)]
    pub build_args: BTreeMap<String, ArgValue>,
    /// The platforms every image is built for (an image's own `platforms` win).
    pub platforms: Option<toml::Spanned<PlatformList>>,
}

/// Platforms as written: `"linux/amd64,linux/arm64"` or `["linux/amd64", "linux/arm64"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum PlatformList {
    /// One string, comma separated as `--platform` takes it.
    Text(String),
    /// An array of platforms.
    List(Vec<String>),
}

impl PlatformList {
    /// The platforms as one `--platform` value.
    pub fn joined(&self) -> String {
        match self {
            PlatformList::Text(text) => text.clone(),
            PlatformList::List(list) => list.join(","),
        }
    }
}

/// The tier order, lowest first: `tiers = ["base", "app"]` or `[tiers] order = [...]`.
#[derive(Debug)]
pub(super) struct Tiers(pub Vec<Spanned<String>>);

impl<'de> Deserialize<'de> for Tiers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TiersVisitor;
        impl<'de> Visitor<'de> for TiersVisitor {
            type Value = Tiers;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of tier names, lowest first, or a table with `order`")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tiers, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element()? {
                    names.push(name);
                }
                Ok(Tiers(names))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tiers, A::Error> {
                let mut order = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key != "order" {
                        return Err(de::Error::unknown_field(&key, &["order"]));
                    }
                    if order.is_some() {
                        return Err(de::Error::duplicate_field("order"));
                    }
                    order = Some(map.next_value()?);
                }
                order
                    .map(Tiers)
                    .ok_or_else(|| de::Error::missing_field("order"))
            }
        }
        deserializer.deserialize_any(TiersVisitor)
    }
}

/// `[images.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ImageSection {
    pub tier: Spanned<String>,
    pub context: Option<Spanned<String>>,
    pub dockerfile: Option<Spanned<String>>,
    #[serde(default)]
    pub tags: Vec<Spanned<String>>,
    /// References that mean this image in the family's Dockerfiles (besides its tags).
    #[serde(default)]
    pub refs: Vec<Spanned<String>>,
    #[serde(default)]
    pub build_args: BTreeMap<String, ArgValue>,
    pub target: Option<Spanned<String>>,
    pub platform: Option<Spanned<String>>,
    pub platforms: Option<Spanned<PlatformList>>,
    pub user: Option<String>,
    pub max_size: Option<ByteSize>,
    pub min_efficiency: Option<Efficiency>,
    pub max_wasted: Option<ByteSize>,
    /// `[images.NAME.lint]`: accepted here, read by `crate::lint` from the text.
    #[serde(rename = "lint")]
    pub _lint: Option<de::IgnoredAny>,
}

impl ImageSection {
    /// The policy fields written on the image.
    pub fn policy(&self) -> Policy {
        Policy {
            user: self.user.clone(),
            max_size: self.max_size,
            min_efficiency: self.min_efficiency,
            max_wasted: self.max_wasted,
        }
    }
}

/// `[policy.TIER]`: the same fields as [`Policy`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PolicySection {
    pub user: Option<String>,
    pub max_size: Option<ByteSize>,
    pub min_efficiency: Option<Efficiency>,
    pub max_wasted: Option<ByteSize>,
}

impl From<PolicySection> for Policy {
    fn from(p: PolicySection) -> Policy {
        Policy {
            user: p.user,
            max_size: p.max_size,
            min_efficiency: p.min_efficiency,
            max_wasted: p.max_wasted,
        }
    }
}

/// What an image must satisfy once built, from its own entry or its tier's `[policy.TIER]`.
/// The build does not act on it; lint and audit check it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Policy {
    /// The user the image must run as (its `USER`), kept as written for the checks.
    pub user: Option<String>,
    /// Largest allowed image size: the uncompressed layers, as `docker images` counts it.
    pub max_size: Option<ByteSize>,
    /// Smallest allowed share of layer bytes still visible in the final filesystem.
    pub min_efficiency: Option<Efficiency>,
    /// Most bytes that layers may write and later layers hide or delete.
    pub max_wasted: Option<ByteSize>,
}

impl Policy {
    /// Fields set here, else the ones of `fallback` (an image's entry over its tier's).
    #[must_use]
    pub fn or(self, fallback: &Policy) -> Policy {
        Policy {
            user: self.user.or_else(|| fallback.user.clone()),
            max_size: self.max_size.or(fallback.max_size),
            min_efficiency: self.min_efficiency.or(fallback.min_efficiency),
            max_wasted: self.max_wasted.or(fallback.max_wasted),
        }
    }
}

/// A size in bytes, written as an integer (`1048576`) or with a unit (`"200MB"`,
/// `"1.5GiB"`, `"512k"`); decimal units are powers of 1000, `Ki`/`Mi`/`Gi`/`Ti` of 1024.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses `"200MB"`-style text.
    pub fn parse(text: &str) -> Result<ByteSize, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(text.len());
        let (number, unit) = (&text[..split], text[split..].trim());
        let number: f64 = number.parse().map_err(|_| {
            format!("invalid size {text:?}: expected a number and a unit like 200MB")
        })?;
        let scale: f64 = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "k" | "kb" => 1e3,
            "m" | "mb" => 1e6,
            "g" | "gb" => 1e9,
            "t" | "tb" => 1e12,
            "ki" | "kib" => 1024.0,
            "mi" | "mib" => 1024.0 * 1024.0,
            "gi" | "gib" => 1024.0 * 1024.0 * 1024.0,
            "ti" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
            _ => {
                return Err(format!(
                "invalid size {text:?}: unknown unit {unit:?} (use B, kB, MB, GB, KiB, MiB, GiB)"
            ))
            }
        };
        // Sizes are far below 2^53 bytes; rounding to whole bytes is intended.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(ByteSize((number * scale).round() as u64))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl Visitor<'_> for SizeVisitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size in bytes or a string like \"200MB\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(SizeVisitor)
    }
}

/// A share between 0 and 1, written as a float (`0.95`) or a percentage (`"95%"`).
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Efficiency(pub f64);

impl<'de> Deserialize<'de> for Efficiency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ShareVisitor;
        impl ShareVisitor {
            fn check<E: de::Error>(v: f64) -> Result<Efficiency, E> {
                if (0.0..=1.0).contains(&v) {
                    Ok(Efficiency(v))
                } else {
                    Err(E::custom(format!(
                        "efficiency {v} is not between 0 and 1 (write 0.95 or \"95%\")"
                    )))
                }
            }
        }
        impl Visitor<'_> for ShareVisitor {
            type Value = Efficiency;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number between 0 and 1 or a percentage like \"95%\"")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Efficiency, E> {
                Self::check(v)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Efficiency, E> {
                // 0 and 1 only; anything else fails the range check.
                #[allow(clippy::cast_precision_loss)]
                Self::check(v as f64)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Efficiency, E> {
                let number = v
                    .trim()
                    .strip_suffix('%')
                    .and_then(|n| n.trim().parse::<f64>().ok())
                    .ok_or_else(|| E::custom(format!("invalid percentage {v:?}")))?;
                Self::check(number / 100.0)
            }
        }
        deserializer.deserialize_any(ShareVisitor)
    }
}

/// A build arg value: TOML strings, integers, floats and booleans all become the string
/// a `--build-arg` would carry (`JAVA = 17` is `JAVA=17`).
#[derive(Debug)]
pub(super) struct ArgValue(pub String);

impl<'de> Deserialize<'de> for ArgValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ArgVisitor;
        impl Visitor<'_> for ArgVisitor {
            type Value = ArgValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ArgValue, E> {
                Ok(ArgValue(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ArgValue, E> {
                Ok(ArgValue(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ArgValue, E> {
                Ok(ArgValue(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ArgValue, E> {
                Ok(ArgValue(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ArgValue, E> {
                Ok(ArgValue(v.to_string()))
            }
        }
        deserializer.deserialize_any(ArgVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(ByteSize::parse("200MB"), Ok(ByteSize(200_000_000)));
        assert_eq!(ByteSize::parse("1.5 GiB"), Ok(ByteSize(1_610_612_736)));
        assert_eq!(ByteSize::parse("512k"), Ok(ByteSize(512_000)));
        assert_eq!(ByteSize::parse("42"), Ok(ByteSize(42)));
        assert!(ByteSize::parse("12 parsecs").is_err());
        assert!(ByteSize::parse("MB").is_err());
    }

    #[test]
    fn policy_fallback() {
        let tier = Policy {
            user: Some("app".into()),
            max_size: Some(ByteSize(10)),
            ..Policy::default()
        };
        let image = Policy {
            max_size: Some(ByteSize(5)),
            ..Policy::default()
        };
        let merged = image.or(&tier);
        assert_eq!(merged.user.as_deref(), Some("app"));
        assert_eq!(merged.max_size, Some(ByteSize(5)));
    }
}
