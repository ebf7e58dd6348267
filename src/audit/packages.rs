//! Installed packages, read from the package databases in the image, and the SBOM
//! documents written from them.
//!
//! Databases: dpkg's `/var/lib/dpkg/status` (and distroless' `/var/lib/dpkg/status.d/*`),
//! apk's `/lib/apk/db/installed`, and Python's `*.dist-info/METADATA`. Each is parsed as a
//! stream when its layer is read; a later copy replaces an earlier one and a deletion
//! removes it, so the list is that of the final filesystem.
//!
//! SBOMs are written by hand as `serde_json` values: SPDX 2.3 JSON (one package for the
//! image, one per installed package, `DESCRIBES`/`CONTAINS` relationships, a purl per
//! package) and CycloneDX 1.5 JSON (the image as `metadata.component`, one `library`
//! component per package). Purl namespaces are `debian` for dpkg and `alpine` for apk
//! packages, whatever the actual distribution. Both documents are deterministic: the
//! timestamp is the image's `created` and the ids derive from the image digest.

use std::io::{self, BufRead};

use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::Report;

/// Where a package was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Ecosystem {
    /// dpkg (Debian, Ubuntu).
    Deb,
    /// apk (Alpine).
    Apk,
    /// A Python distribution (`*.dist-info`).
    Pypi,
}

impl Ecosystem {
    /// `deb`, `apk` or `pypi`, as in purls and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Ecosystem::Deb => "deb",
            Ecosystem::Apk => "apk",
            Ecosystem::Pypi => "pypi",
        }
    }
}

/// One installed package.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Package {
    /// Its package manager.
    pub ecosystem: Ecosystem,
    /// Package name.
    pub name: String,
    /// Version, as the database writes it.
    pub version: String,
    /// Architecture, when the database records one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
}

impl Package {
    /// Its package URL (purl).
    pub fn purl(&self) -> String {
        let (kind, namespace, name) = match self.ecosystem {
            Ecosystem::Deb => ("deb", "debian/", self.name.clone()),
            Ecosystem::Apk => ("apk", "alpine/", self.name.clone()),
            // PEP 503 normalisation, as the purl spec asks for pypi names.
            Ecosystem::Pypi => (
                "pypi",
                "",
                self.name.to_lowercase().replace(['_', '.'], "-"),
            ),
        };
        let mut purl = format!(
            "pkg:{kind}/{namespace}{}@{}",
            encode(&name),
            encode(&self.version)
        );
        if let Some(arch) = &self.arch {
            purl.push_str("?arch=");
            purl.push_str(&encode(arch));
        }
        purl
    }
}

/// Percent-encodes everything but purl's unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~+".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A parser of one package database format.
pub(crate) type Parser = fn(&mut dyn BufRead) -> io::Result<Vec<Package>>;

/// The parser for `path` when it is a package database.
pub(crate) fn database(path: &str) -> Option<Parser> {
    if path == "/var/lib/dpkg/status"
        || path
            .strip_prefix("/var/lib/dpkg/status.d/")
            .is_some_and(|name| !name.contains('.'))
    {
        Some(parse_dpkg)
    } else if path == "/lib/apk/db/installed" {
        Some(parse_apk)
    } else if path.ends_with(".dist-info/METADATA") {
        Some(parse_python)
    } else {
        None
    }
}

/// Stanzas of `Key: value` lines separated by blank lines; `field` maps a line to
/// (name, version, arch, installed) updates.
fn parse_stanzas(
    reader: &mut dyn BufRead,
    ecosystem: Ecosystem,
    sep: char,
    keys: [&str; 3],
) -> io::Result<Vec<Package>> {
    let mut out = Vec::new();
    let mut current: [Option<String>; 3] = Default::default();
    let mut installed = true;
    let mut flush = |current: &mut [Option<String>; 3], installed: &mut bool| {
        if let (Some(name), Some(version), true) =
            (current[0].take(), current[1].take(), *installed)
        {
            out.push(Package {
                ecosystem,
                name,
                version,
                arch: current[2].take(),
            });
        }
        *current = Default::default();
        *installed = true;
    };
    for_each_line(reader, |line| {
        if line.trim().is_empty() {
            flush(&mut current, &mut installed);
        } else if let Some((key, value)) = line.split_once(sep) {
            let value = value.trim();
            if let Some(i) = keys.iter().position(|k| *k == key) {
                current[i] = Some(value.to_owned());
            } else if ecosystem == Ecosystem::Deb && key == "Status" {
                installed = value.ends_with(" installed");
            }
        }
        true
    })?;
    flush(&mut current, &mut installed);
    Ok(out)
}

fn parse_dpkg(reader: &mut dyn BufRead) -> io::Result<Vec<Package>> {
    parse_stanzas(
        reader,
        Ecosystem::Deb,
        ':',
        ["Package", "Version", "Architecture"],
    )
}

fn parse_apk(reader: &mut dyn BufRead) -> io::Result<Vec<Package>> {
    parse_stanzas(reader, Ecosystem::Apk, ':', ["P", "V", "A"])
}

/// The `Name` and `Version` headers of a core-metadata file; the body (after the first
/// blank line) is not read.
fn parse_python(reader: &mut dyn BufRead) -> io::Result<Vec<Package>> {
    let (mut name, mut version) = (None, None);
    for_each_line(reader, |line| {
        if line.is_empty() {
            return false;
        }
        if let Some(v) = line.strip_prefix("Name:") {
            name = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("Version:") {
            version = Some(v.trim().to_owned());
        }
        true
    })?;
    Ok(match (name, version) {
        (Some(name), Some(version)) => vec![Package {
            ecosystem: Ecosystem::Pypi,
            name,
            version,
            arch: None,
        }],
        _ => Vec::new(),
    })
}

/// SBOM formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SbomFormat {
    /// SPDX 2.3, JSON serialisation.
    SpdxJson,
    /// CycloneDX 1.5, JSON serialisation.
    CycloneDxJson,
}

/// The SBOM of `report`'s packages in `format`, pretty-printed.
pub fn render_sbom(report: &Report, format: SbomFormat) -> String {
    let value = match format {
        SbomFormat::SpdxJson => spdx(report),
        SbomFormat::CycloneDxJson => cyclonedx(report),
    };
    let mut text = serde_json::to_string_pretty(&value).expect("JSON values serialise");
    text.push('\n');
    text
}

fn created(report: &Report) -> String {
    report
        .created
        .clone()
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

fn tool() -> String {
    format!("strata-{}", env!("CARGO_PKG_VERSION"))
}

fn spdx(report: &Report) -> Value {
    let image_id = "SPDXRef-Image";
    let mut packages = vec![json!({
        "name": report.image,
        "SPDXID": image_id,
        "versionInfo": report.digest.to_string(),
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "checksums": [{"algorithm": "SHA256", "checksumValue": report.digest.hex()}],
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": image_id,
    })];
    for (i, p) in report.packages.iter().enumerate() {
        let id = format!("SPDXRef-Package-{i}");
        packages.push(json!({
            "name": p.name,
            "SPDXID": id,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "primaryPackagePurpose": "LIBRARY",
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": p.purl(),
            }],
        }));
        relationships.push(json!({
            "spdxElementId": image_id,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": report.image,
        "documentNamespace": format!("https://strata.invalid/spdx/{}/{}", encode(&report.image), report.digest.hex()),
        "creationInfo": {
            "created": created(report),
            "creators": [format!("Tool: {}", tool())],
        },
        "packages": packages,
        "relationships": relationships,
    })
}

/// A UUID (version 4 layout) derived from the image digest, so the same image always
/// gets the same serial number.
fn serial(report: &Report) -> String {
    let h = Sha256::digest(format!("{}\n{}", report.image, report.digest).as_bytes());
    let mut b: [u8; 16] = h[..16].try_into().expect("16 bytes");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

fn cyclonedx(report: &Report) -> Value {
    let components: Vec<Value> = report
        .packages
        .iter()
        .map(|p| {
            json!({
                "type": "library",
                "bom-ref": p.purl(),
                "name": p.name,
                "version": p.version,
                "purl": p.purl(),
            })
        })
        .collect();
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": serial(report),
        "version": 1,
        "metadata": {
            "timestamp": created(report),
            "tools": {"components": [{
                "type": "application",
                "name": "strata",
                "version": env!("CARGO_PKG_VERSION"),
            }]},
            "component": {
                "type": "container",
                "bom-ref": report.digest.to_string(),
                "name": report.image,
                "version": report.digest.to_string(),
            },
        },
        "components": components,
    })
}

/// Reads `reader` line by line, calling `f` on each line without its newline.
fn for_each_line(reader: &mut dyn BufRead, mut f: impl FnMut(&str) -> bool) -> io::Result<()> {
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        if !f(text.trim_end_matches(['\n', '\r'])) {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_status_keeps_installed_packages_only() {
        let status = "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u4\nDescription: x\n continued\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n\nPackage: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2024a-0+deb12u1\n";
        let pkgs = parse_dpkg(&mut status.as_bytes()).unwrap();
        assert_eq!(
            pkgs.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["libc6", "tzdata"]
        );
        assert_eq!(
            pkgs[0].purl(),
            "pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64"
        );
    }

    #[test]
    fn apk_and_python() {
        let apk = "C:Q1x\nP:musl\nV:1.2.4-r2\nA:x86_64\n\nP:busybox\nV:1.36.1-r5\n";
        let pkgs = parse_apk(&mut apk.as_bytes()).unwrap();
        assert_eq!(pkgs.len(), 2);
        assert_eq!(pkgs[1].arch, None);
        let meta = "Metadata-Version: 2.1\nName: Foo_Bar\nVersion: 1.0\n\nName: not-a-header\n";
        let pkgs = parse_python(&mut meta.as_bytes()).unwrap();
        assert_eq!(pkgs[0].name, "Foo_Bar");
        assert_eq!(pkgs[0].purl(), "pkg:pypi/foo-bar@1.0");
    }

    #[test]
    fn epochs_are_percent_encoded() {
        let p = Package {
            ecosystem: Ecosystem::Deb,
            name: "perl".into(),
            version: "1:5.36".into(),
            arch: None,
        };
        assert_eq!(p.purl(), "pkg:deb/debian/perl@1%3A5.36");
    }
}
