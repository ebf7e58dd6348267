//! buildx's value grammar for the `build` flags that are the CLI's to act on:
//! `--cache-from`/`--cache-to` ([`CacheImport`], [`CacheExport`]), `--annotation`
//! ([`annotation`]) and what `--metadata-file` holds ([`metadata`]).
//!
//! Values are CSV records of `KEY=VALUE` fields, as buildx reads them; a bare value of
//! `--cache-from`/`--cache-to` is a registry reference. Every error names the flag and
//! the value it was given.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Value};

use crate::dockerfile::mount::split_csv;
use crate::image::Descriptor;
use crate::layer::Compression;
use crate::platform::Platform;

/// Where a step cache artifact lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum CacheLocation {
    /// An artifact at a registry reference (`REF`, `type=registry,ref=REF`).
    Registry(String),
    /// An artifact in an OCI layout directory, under a tag (`type=local`).
    Local {
        /// The layout directory.
        dir: PathBuf,
        /// Its tag in the layout's index (`tag=`, default `latest`).
        tag: String,
    },
}

impl std::fmt::Display for CacheLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CacheLocation::Registry(reference) => f.write_str(reference),
            CacheLocation::Local { dir, tag } => write!(f, "{}:{tag}", dir.display()),
        }
    }
}

/// One `--cache-from` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct CacheImport {
    /// Where to read the artifact.
    pub location: CacheLocation,
}

/// One `--cache-to` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct CacheExport {
    /// Where to write the artifact.
    pub location: CacheLocation,
    /// `mode=max`: every stage's steps; `min` (the default, as buildx): only the
    /// steps of the image's own stages.
    pub max: bool,
    /// `compression=`: must be the build's layer compression (the artifact holds the
    /// layers the build wrote).
    pub compression: Option<Compression>,
    /// `ignore-error=true`: a failed export is a warning.
    pub ignore_error: bool,
}

/// The cache types buildx knows that strata does not serve, with why.
fn unsupported_cache(kind: &str) -> Option<&'static str> {
    match kind {
        "inline" => Some(
            "strata writes no cache into the image config; export it beside the image with type=registry,ref=REF or type=local,dest=DIR",
        ),
        "gha" | "s3" | "azblob" => Some(
            "strata shares its cache through a registry or a directory: use type=registry,ref=REF or type=local,dest=DIR",
        ),
        _ => None,
    }
}

/// The `KEY=VALUE` fields of a typed value, with `type` taken out.
fn typed_fields(flag: &str, value: &str) -> Result<(String, BTreeMap<String, String>), String> {
    let fail = |why: String| format!("{flag} {value:?}: {why}");
    let mut kind = None;
    let mut fields = BTreeMap::new();
    for field in split_csv(value).map_err(fail)? {
        let (k, v) = field
            .split_once('=')
            .ok_or_else(|| fail(format!("{field:?} is not KEY=VALUE")))?;
        let k = k.trim().to_ascii_lowercase();
        if k == "type" {
            kind = Some(v.to_owned());
        } else if fields.insert(k.clone(), v.to_owned()).is_some() {
            return Err(fail(format!("{k}= is given twice")));
        }
    }
    let kind = kind.ok_or_else(|| fail("type= is missing".into()))?;
    Ok((kind, fields))
}

/// Takes the fields a cache type reads, refusing any other.
fn take<'f>(
    flag: &str,
    value: &str,
    kind: &str,
    fields: &'f BTreeMap<String, String>,
    known: &[&str],
) -> Result<impl Fn(&str) -> Option<&'f str>, String> {
    if let Some(unknown) = fields.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!(
            "{flag} {value:?}: type={kind} takes no {unknown}= (it reads {})",
            known.join(", ")
        ));
    }
    Ok(move |key: &str| fields.get(key).map(String::as_str))
}

/// Parses the `type=` fields both cache flags share; `dir_key` is `src` or `dest`.
fn cache_location(
    flag: &str,
    value: &str,
    kind: &str,
    get: &dyn Fn(&str) -> Option<String>,
    dir_key: &str,
) -> Result<CacheLocation, String> {
    let fail = |why: String| format!("{flag} {value:?}: {why}");
    match kind {
        "registry" => get("ref")
            .filter(|r| !r.is_empty())
            .map(CacheLocation::Registry)
            .ok_or_else(|| fail("type=registry needs ref=REF".into())),
        "local" => {
            let dir = get(dir_key)
                .filter(|d| !d.is_empty())
                .ok_or_else(|| fail(format!("type=local needs {dir_key}=DIR")))?;
            Ok(CacheLocation::Local {
                dir: PathBuf::from(dir),
                tag: get("tag").unwrap_or_else(|| "latest".into()),
            })
        }
        other => Err(unknown_type(flag, value, other)),
    }
}

/// The error for a cache type strata does not read.
fn unknown_type(flag: &str, value: &str, kind: &str) -> String {
    match unsupported_cache(kind) {
        Some(why) => format!("{flag} {value:?}: type={kind} is not supported: {why}"),
        None => format!(
            "{flag} {value:?}: unknown cache type {kind:?} (strata reads registry and local)"
        ),
    }
}

/// A buildx boolean field.
fn boolean(flag: &str, value: &str, key: &str, text: Option<&str>) -> Result<bool, String> {
    match text {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(format!(
            "{flag} {value:?}: {key}={other}: expected true or false"
        )),
    }
}

impl CacheImport {
    /// Parses a `--cache-from` value: `REF`, `type=registry,ref=REF`,
    /// `type=local,src=DIR[,tag=TAG]`.
    pub(super) fn parse(value: &str) -> Result<CacheImport, String> {
        const FLAG: &str = "--cache-from";
        if !value.contains('=') {
            return bare_reference(FLAG, value).map(|location| CacheImport { location });
        }
        let (kind, fields) = typed_fields(FLAG, value)?;
        let known: &[&str] = match kind.as_str() {
            "registry" => &["ref"],
            "local" => &["src", "tag"],
            other => return Err(unknown_type(FLAG, value, other)),
        };
        let get = take(FLAG, value, &kind, &fields, known)?;
        let location = cache_location(FLAG, value, &kind, &|k| get(k).map(str::to_owned), "src")?;
        Ok(CacheImport { location })
    }
}

impl CacheExport {
    /// Parses a `--cache-to` value: `REF`, `type=registry,ref=REF[,mode=min|max]
    /// [,compression=gzip|zstd][,ignore-error=true]`, `type=local,dest=DIR[,tag=TAG]...`.
    pub(super) fn parse(value: &str) -> Result<CacheExport, String> {
        const FLAG: &str = "--cache-to";
        if !value.contains('=') {
            return bare_reference(FLAG, value).map(|location| CacheExport {
                location,
                max: false,
                compression: None,
                ignore_error: false,
            });
        }
        let (kind, fields) = typed_fields(FLAG, value)?;
        let common = [
            "mode",
            "compression",
            "ignore-error",
            "oci-mediatypes",
            "image-manifest",
        ];
        let known: Vec<&str> = match kind.as_str() {
            "registry" => ["ref"].iter().chain(&common).copied().collect(),
            "local" => ["dest", "tag"].iter().chain(&common).copied().collect(),
            other => return Err(unknown_type(FLAG, value, other)),
        };
        let get = take(FLAG, value, &kind, &fields, &known)?;
        let location = cache_location(FLAG, value, &kind, &|k| get(k).map(str::to_owned), "dest")?;
        let fail = |why: String| format!("{FLAG} {value:?}: {why}");
        let max = match get("mode") {
            None | Some("min") => false,
            Some("max") => true,
            Some(other) => return Err(fail(format!("mode={other}: expected min or max"))),
        };
        let compression = match get("compression") {
            None => None,
            Some("gzip") => Some(Compression::Gzip),
            Some("zstd") => Some(Compression::Zstd),
            Some(other) => {
                return Err(fail(format!(
                    "compression={other}: the cache holds the build's gzip or zstd layers"
                )))
            }
        };
        // strata's artifact is an image manifest with OCI media types: these may only
        // say so.
        for key in ["oci-mediatypes", "image-manifest"] {
            if get(key).is_some_and(|v| v != "true") {
                return Err(fail(format!(
                    "{key}={}: strata's cache is always an OCI image manifest",
                    get(key).unwrap_or_default()
                )));
            }
        }
        Ok(CacheExport {
            location,
            max,
            compression,
            ignore_error: boolean(FLAG, value, "ignore-error", get("ignore-error"))?,
        })
    }
}

/// A bare cache value: a registry reference.
fn bare_reference(flag: &str, value: &str) -> Result<CacheLocation, String> {
    if value.is_empty() {
        return Err(format!("{flag} {value:?}: expected REF or type=TYPE,..."));
    }
    if unsupported_cache(value).is_some() || value == "registry" || value == "local" {
        return Err(format!("{flag} {value:?}: give the type as type={value}"));
    }
    crate::registry::Reference::parse(value)
        .map_err(|e| format!("{flag} {value:?}: not an image reference: {e}"))?;
    Ok(CacheLocation::Registry(value.to_owned()))
}

/// Parses one `--annotation` value: `KEY=VALUE` or `TYPES:KEY=VALUE` with TYPES a
/// comma-separated list of `manifest` (optionally `manifest[os/arch]`). Returns the
/// manifest annotation, or `None` when a platform qualifier names another platform than
/// `platform` (buildx then annotates no manifest). `index`, `index-descriptor` and
/// `manifest-descriptor` are refused: a single-platform image has no index.
pub(super) fn annotation(
    value: &str,
    platform: &Platform,
) -> Result<Option<(String, String)>, String> {
    let fail = |why: String| format!("--annotation {value:?}: {why}");
    let (key, text) = value
        .split_once('=')
        .ok_or_else(|| fail("expected KEY=VALUE".into()))?;
    let (types, key) = match key.split_once(':') {
        Some((types, key)) => (Some(types), key),
        None => (None, key),
    };
    if key.is_empty() {
        return Err(fail("the key is empty".into()));
    }
    let mut applies = types.is_none();
    for kind in types
        .unwrap_or_default()
        .split(',')
        .filter(|_| types.is_some())
    {
        let (name, qualifier) = match kind.split_once('[') {
            Some((name, rest)) => (
                name,
                Some(
                    rest.strip_suffix(']')
                        .ok_or_else(|| fail(format!("{kind:?}: expected TYPE[os/arch]")))?,
                ),
            ),
            None => (kind, None),
        };
        match name {
            "manifest" => {
                let matches = match qualifier {
                    None => true,
                    // A platform strata cannot build for names no manifest of this
                    // build: buildx then annotates none, which is no error.
                    Some(text) => match Platform::parse(text) {
                        Ok(wanted) => {
                            wanted.os == platform.os
                                && wanted.architecture == platform.architecture
                                && (wanted.variant.is_none()
                                    || wanted.variant == platform.variant)
                        }
                        Err(crate::platform::PlatformError::Syntax(_)) => {
                            return Err(fail(format!("{kind:?}: expected TYPE[os/arch]")))
                        }
                        Err(_) => false,
                    },
                };
                applies |= matches;
            }
            "index" | "index-descriptor" | "manifest-descriptor" => {
                return Err(fail(format!(
                    "{name} annotations need an image index, and strata builds one single-platform manifest: use manifest: (the default)"
                )))
            }
            other => {
                return Err(fail(format!(
                    "unknown annotation type {other:?} (expected manifest)"
                )))
            }
        }
    }
    Ok(applies.then(|| (key.to_owned(), text.to_owned())))
}

/// What buildx's `--metadata-file` holds for an image build (BuildKit's image exporter
/// response): the manifest digest, its config digest and descriptor, and the names it
/// was tagged with (comma-joined, when any).
pub(super) fn metadata(
    descriptor: &Descriptor,
    config: Option<&Descriptor>,
    names: &[String],
) -> Value {
    // Keys in Go's order (sorted), as buildx writes them.
    let mut object = serde_json::Map::new();
    if let Some(config) = config {
        object.insert(
            "containerimage.config.digest".into(),
            json!(config.digest.to_string()),
        );
    }
    object.insert(
        "containerimage.descriptor".into(),
        json!({
            "mediaType": descriptor.media_type,
            "digest": descriptor.digest.to_string(),
            "size": descriptor.size,
        }),
    );
    object.insert(
        "containerimage.digest".into(),
        json!(descriptor.digest.to_string()),
    );
    if !names.is_empty() {
        object.insert("image.name".into(), json!(names.join(",")));
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_forms_parse() {
        let to =
            CacheExport::parse("type=registry,ref=h:5000/c:1,mode=max,compression=zstd").unwrap();
        assert_eq!(to.location, CacheLocation::Registry("h:5000/c:1".into()));
        assert!(to.max);
        assert_eq!(to.compression, Some(Compression::Zstd));
        let bare = CacheExport::parse("h:5000/c:1").unwrap();
        assert_eq!(bare.location, to.location);
        assert!(!bare.max);
        let local = CacheExport::parse("type=local,dest=/tmp/c").unwrap();
        assert_eq!(
            local.location,
            CacheLocation::Local {
                dir: "/tmp/c".into(),
                tag: "latest".into()
            }
        );
        let from = CacheImport::parse("type=local,src=/tmp/c").unwrap();
        assert_eq!(from.location, local.location);
        for (bad, says) in [
            ("type=gha", "not supported"),
            ("type=s3,region=x", "not supported"),
            ("type=inline", "not supported"),
            ("type=nfs,dest=x", "unknown cache type"),
            ("type=registry", "needs ref="),
            ("type=local", "needs dest="),
            ("type=local,dest=x,ref=y", "takes no ref="),
            ("type=registry,ref=x,mode=most", "mode=most"),
            ("type=registry,ref=x,compression=lz4", "compression=lz4"),
            (
                "type=registry,ref=x,ignore-error=maybe",
                "ignore-error=maybe",
            ),
            ("mode=max", "type= is missing"),
            ("inline", "type=inline"),
            ("", "expected REF"),
        ] {
            let e = CacheExport::parse(bad).unwrap_err();
            assert!(e.starts_with(&format!("--cache-to {bad:?}")), "{e}");
            assert!(e.contains(says), "{bad}: {e}");
        }
        let e = CacheImport::parse("type=local,dest=x").unwrap_err();
        assert!(e.contains("--cache-from") && e.contains("dest"), "{e}");
        assert!(CacheImport::parse("type=gha")
            .unwrap_err()
            .contains("not supported"));
    }

    #[test]
    fn annotations_parse() {
        let amd64 = Platform::parse("linux/amd64").unwrap();
        let kv = |k: &str, v: &str| Some((k.to_owned(), v.to_owned()));
        assert_eq!(annotation("a=b", &amd64).unwrap(), kv("a", "b"));
        assert_eq!(
            annotation("manifest:a=b=c", &amd64).unwrap(),
            kv("a", "b=c")
        );
        assert_eq!(
            annotation("manifest[linux/amd64]:a=b", &amd64).unwrap(),
            kv("a", "b")
        );
        assert_eq!(
            annotation("manifest[linux/arm64]:a=b", &amd64).unwrap(),
            None
        );
        assert!(annotation("index:a=b", &amd64)
            .unwrap_err()
            .contains("single-platform"));
        assert!(annotation("manifest,index:a=b", &amd64).is_err());
        assert!(annotation("blob:a=b", &amd64)
            .unwrap_err()
            .contains("unknown annotation type"));
        assert!(annotation("a", &amd64)
            .unwrap_err()
            .starts_with("--annotation \"a\""));
        assert!(annotation("=b", &amd64).is_err());
    }
}
